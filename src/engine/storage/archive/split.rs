//! Tar splits: a layer's original tarball minus the contents of its regular files, which
//! are read back from the layer directory, so the tarball (and its digest, the DiffID) is
//! reproduced byte for byte without being stored twice.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::path::clean_path;

/// Split format: a magic line, then records. `R` u64 length, bytes: raw tarball bytes. `F` u64
/// size, u32 path length, path: `size` bytes of the layer file at `path`.
const SPLIT_MAGIC: &[u8] = b"podlink-tar-split-1\n";
const RECORD_RAW: u8 = b'R';
const RECORD_FILE: u8 = b'F';

/// Writes a split, coalescing raw bytes between file records.
pub(super) struct SplitWriter<W: Write> {
    out: W,
    pending: Vec<u8>,
    started: bool,
}

impl<W: Write> SplitWriter<W> {
    pub(super) fn new(out: W) -> Self {
        SplitWriter {
            out,
            pending: Vec::new(),
            started: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.out.write_all(SPLIT_MAGIC)?;
            self.started = true;
        }
        Ok(())
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= 1 << 20 {
            self.flush_raw()?;
        }
        Ok(())
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        self.start()?;
        if !self.pending.is_empty() {
            self.out.write_all(&[RECORD_RAW])?;
            self.out
                .write_all(&(self.pending.len() as u64).to_le_bytes())?;
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    pub(super) fn file(&mut self, size: u64, path: &[u8]) -> io::Result<()> {
        self.flush_raw()?;
        self.out.write_all(&[RECORD_FILE])?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&(path.len() as u32).to_le_bytes())?;
        self.out.write_all(path)
    }

    pub(super) fn finish(mut self) -> io::Result<W> {
        self.flush_raw()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads the original tarball of a layer back from its split and directory.
pub struct SplitReader {
    split: BufReader<File>,
    dir: PathBuf,
    /// What is being emitted now.
    current: Current,
}

enum Current {
    Idle,
    Raw(u64),
    File(io::Take<File>, u64, PathBuf),
    Done,
}

impl SplitReader {
    /// Opens the split of the layer whose files are under `dir`.
    pub fn open(split: &Path, dir: &Path) -> io::Result<Self> {
        let mut reader = BufReader::new(File::open(split)?);
        let mut magic = vec![0u8; SPLIT_MAGIC.len()];
        reader.read_exact(&mut magic)?;
        if magic != SPLIT_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a podlink tar split",
            ));
        }
        Ok(SplitReader {
            split: reader,
            dir: dir.to_path_buf(),
            current: Current::Idle,
        })
    }

    fn next_record(&mut self) -> io::Result<()> {
        let mut tag = [0u8; 1];
        if self.split.read(&mut tag)? == 0 {
            self.current = Current::Done;
            return Ok(());
        }
        let mut len = [0u8; 8];
        self.split.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        self.current = match tag[0] {
            RECORD_RAW => Current::Raw(len),
            RECORD_FILE => {
                let mut path_len = [0u8; 4];
                self.split.read_exact(&mut path_len)?;
                let mut path = vec![0u8; u32::from_le_bytes(path_len) as usize];
                self.split.read_exact(&mut path)?;
                let relative = clean_path(&String::from_utf8_lossy(&path))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let full = self.dir.join(&relative);
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)?;
                Current::File(file.take(len), len, full)
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt tar split",
                ));
            }
        };
        Ok(())
    }
}

impl Read for SplitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.current {
                Current::Done => return Ok(0),
                Current::Idle => self.next_record()?,
                Current::Raw(0) => self.current = Current::Idle,
                Current::Raw(left) => {
                    let want = buf.len().min(*left as usize);
                    let n = self.split.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short split"));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                Current::File(file, left, path) => {
                    if *left == 0 {
                        self.current = Current::Idle;
                        continue;
                    }
                    let n = file.read(buf)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("layer file {} is shorter than recorded", path.display()),
                        ));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_round_trip_without_files() {
        let mut out = Vec::new();
        let mut w = SplitWriter::new(&mut out);
        w.raw(b"hello ").unwrap();
        w.raw(b"world").unwrap();
        w.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let split = dir.path().join("split");
        std::fs::write(&split, &out).unwrap();
        let mut r = SplitReader::open(&split, dir.path()).unwrap();
        let mut back = String::new();
        r.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello world");
    }
}
