//! The container log, in the k8s-file format conmon writes:
//! `<RFC3339Nano time> stdout|stderr F|P <text>` per line, `F` for a full line and `P` for a
//! partial one (a line longer than the buffer, or one cut off when the container exits).
//!
//! Writing (the monitor's side) keeps the log bounded: with a size limit, the log file is
//! renamed to `<log>.1` (replacing the one before) when the next line would take it past half
//! the limit, so the two files never hold more than the limit together, and the newest half of
//! it at least is always kept. The container never notices: its output goes on flowing.
//! Reading (the service's side) goes through the rotated file then the current one a line at
//! a time, in bounded memory, each line decoded lossily: container output is bytes, and one
//! invalid byte must not make a log unreadable.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's stdout.
    Stdout,
    /// The container's stderr.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Longest line kept whole; longer ones are written in `P` pieces.
const MAX_LINE: usize = 16 * 1024;

/// The default log size limit of `podlink serve` (both files together).
pub const DEFAULT_LOG_SIZE_MAX: u64 = 64 * 1024 * 1024;
/// The smallest limit accepted: each half must hold the longest line the monitor writes
/// (`MAX_LINE` plus its prefix) with room to spare.
pub const MIN_LOG_SIZE_MAX: u64 = 64 * 1024;

/// Longest line handed out by [`LogReader`]: a longer one (only in a log podlink did not
/// write) comes in several pieces, so one line never holds more memory than this.
pub const MAX_READ_LINE: usize = 64 * 1024;
/// Read buffer of a [`LogReader`].
const READ_BUFFER: usize = 64 * 1024;

/// The rotated log kept beside `log`: `ctr.log` → `ctr.log.1`.
pub fn rotated_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Where [`LogWriter`] puts whole lines.
pub trait LineSink {
    /// Writes one whole line, its newline included.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    /// Pushes what is buffered to the file.
    fn flush(&mut self) -> io::Result<()>;
}

/// Turns chunks of output into log lines.
pub struct LogWriter<S: LineSink> {
    out: S,
    pending: [Vec<u8>; 2],
    /// The line being formatted, reused.
    line: Vec<u8>,
}

impl<S: LineSink> LogWriter<S> {
    /// A writer appending to `out`.
    pub fn new(out: S) -> Self {
        LogWriter {
            out,
            pending: [Vec::new(), Vec::new()],
            line: Vec::new(),
        }
    }

    /// Where the lines go.
    pub fn sink(&mut self) -> &mut S {
        &mut self.out
    }

    /// Adds a chunk of `stream`'s output; writes every complete line.
    pub fn write(&mut self, stream: Stream, mut chunk: &[u8]) -> io::Result<()> {
        let slot = stream as usize;
        while let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.pending[slot]);
            line.extend_from_slice(&chunk[..newline]);
            self.line(stream, true, &line)?;
            chunk = &chunk[newline + 1..];
        }
        self.pending[slot].extend_from_slice(chunk);
        while self.pending[slot].len() >= MAX_LINE {
            let rest = self.pending[slot].split_off(MAX_LINE);
            let piece = std::mem::replace(&mut self.pending[slot], rest);
            self.line(stream, false, &piece)?;
        }
        self.out.flush()
    }

    /// Writes what is left of unterminated lines as partial lines.
    pub fn finish(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let piece = std::mem::take(&mut self.pending[stream as usize]);
            if !piece.is_empty() {
                self.line(stream, false, &piece)?;
            }
        }
        self.out.flush()
    }

    fn line(&mut self, stream: Stream, full: bool, text: &[u8]) -> io::Result<()> {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
        let tag = if full { "F" } else { "P" };
        self.line.clear();
        write!(self.line, "{time} {} {tag} ", stream.name())?;
        self.line.extend_from_slice(text);
        self.line.push(b'\n');
        self.out.write_line(&self.line)
    }
}

/// The log file as the monitor writes it, rotated at its limit.
pub struct LogFile {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes in the current file.
    size: u64,
    /// Largest size of one file (half the limit); `None` for no limit.
    max_file: Option<u64>,
}

impl LogFile {
    /// Opens (creating) the log at `path` for appending; `limit` bounds the current and the
    /// rotated file together. A log already larger (written with no limit, or by an older
    /// podlink) is rotated at the first line written.
    pub fn open(path: &Path, limit: Option<u64>) -> io::Result<Self> {
        let file = open_log(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            size,
            max_file: limit.map(|l| l / 2),
        })
    }

    /// Opens the file at the log's path again (after something outside moved it away).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let file = open_log(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = BufWriter::new(file);
        Ok(())
    }

    /// Moves the current file to the rotated name and starts a new one. Lines are whole in
    /// each file: the buffer is flushed first, and a reader that still holds the old file
    /// reads its end before it turns to the new one.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Err(e) = std::fs::rename(&self.path, rotated_path(&self.path)) {
            // The bound holds even so: start the file again from empty.
            log::warn!("rotate {}: {e}; truncating it", self.path.display());
            self.file.get_ref().set_len(0)?;
        }
        self.reopen()
    }
}

impl LineSink for LogFile {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if self
            .max_file
            .is_some_and(|max| self.size > 0 && self.size + len > max)
        {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += len;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Opens the log for appending: readable by root alone, and never through a symlink (the
/// path may be the client's).
pub fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// A file's identity, to tell that the name now points at another file.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

type Source = BufReader<io::Take<File>>;

/// Reads a container's log a line at a time: the rotated file, then the current one.
pub struct LogReader {
    path: PathBuf,
    /// Follow the log as it grows and rotates; otherwise stop at the end of what the current
    /// file held when it was opened (a container writing faster than the reader must not
    /// make a read endless).
    follow: bool,
    /// Read to its end before the current file: the rotated file, or a current file that was
    /// rotated while being followed.
    older: Option<Source>,
    current: Option<(Source, (u64, u64))>,
    line: Vec<u8>,
}

impl LogReader {
    /// Opens the log at `path` (and its rotated file); a log not written yet reads as empty
    /// (and, followed, is looked for again at each read).
    pub fn open(path: &Path, follow: bool) -> io::Result<Self> {
        let mut reader = LogReader {
            path: path.to_path_buf(),
            follow,
            older: None,
            current: None,
            line: Vec::new(),
        };
        // The current file first: if it is rotated between the two opens, the rotated file
        // is that same file, read once.
        reader.current = reader.open_current()?;
        if let Some(file) = open_no_follow(&rotated_path(path))? {
            let id = identity(&file.metadata()?);
            if reader.current.as_ref().map(|(_, c)| *c) != Some(id) {
                reader.older = Some(BufReader::with_capacity(READ_BUFFER, file.take(u64::MAX)));
            }
        }
        Ok(reader)
    }

    fn open_current(&self) -> io::Result<Option<(Source, (u64, u64))>> {
        let Some(file) = open_no_follow(&self.path)? else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        let limit = if self.follow { u64::MAX } else { meta.len() };
        Ok(Some((
            BufReader::with_capacity(READ_BUFFER, file.take(limit)),
            identity(&meta),
        )))
    }

    /// The next line, without its newline; `None` at the end of what is written so far.
    /// A line being written is held back until it is whole (except at the end of a file
    /// that will not grow again).
    pub fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(older) = &mut self.older {
                if read_line(older, &mut self.line)? {
                    return Ok(Some(self.take_line()));
                }
                self.older = None;
                if !self.line.is_empty() {
                    return Ok(Some(self.take_line()));
                }
                continue;
            }
            if self.current.is_none() && self.follow {
                self.current = self.open_current()?;
            }
            let Some((current, id)) = &mut self.current else {
                return Ok(None);
            };
            if read_line(current, &mut self.line)? {
                return Ok(Some(self.take_line()));
            }
            if !self.follow {
                if self.line.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take_line()));
            }
            // At its end. If the monitor rotated it meanwhile (it writes the old file's last
            // line before the rename), its rest is read as the older file, then the new one.
            match std::fs::symlink_metadata(&self.path) {
                Ok(meta) if identity(&meta) != *id => {
                    let (old, _) = self.current.take().expect("matched above");
                    self.older = Some(old);
                    self.current = self.open_current()?;
                }
                _ => return Ok(None),
            }
        }
    }

    fn take_line(&mut self) -> String {
        let bytes = std::mem::take(&mut self.line);
        match String::from_utf8(bytes) {
            Ok(line) => line,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

/// Opens `path` for reading, not through a symlink; `None` if it does not exist.
fn open_no_follow(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Appends to `line` up to the next newline (dropped), or until it holds
/// [`MAX_READ_LINE`] bytes; `true` then, `false` at the end of the input.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<bool> {
    let room = MAX_READ_LINE.saturating_sub(line.len()) as u64;
    // `read_until` finds the newline with the C library's memchr: a loop over the bytes here
    // would be many times slower in unoptimized builds.
    let n = reader.take(room).read_until(b'\n', line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(true);
    }
    Ok(n > 0 && line.len() >= MAX_READ_LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LineSink for Vec<u8> {
        fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
            self.extend_from_slice(line);
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(chunks: &[(Stream, &str)], finish: bool) -> Vec<String> {
        let mut w = LogWriter::new(Vec::new());
        for (s, c) in chunks {
            w.write(*s, c.as_bytes()).unwrap();
        }
        if finish {
            w.finish().unwrap();
        }
        String::from_utf8(w.out)
            .unwrap()
            .lines()
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect()
    }

    #[test]
    fn full_and_partial_lines() {
        assert_eq!(
            lines(
                &[
                    (Stream::Stdout, "a\nb"),
                    (Stream::Stderr, "err\n"),
                    (Stream::Stdout, "c\n")
                ],
                false
            ),
            ["stdout F a", "stderr F err", "stdout F bc"]
        );
        assert_eq!(
            lines(&[(Stream::Stdout, "no newline")], true),
            ["stdout P no newline"]
        );
    }

    #[test]
    fn timestamps_are_rfc3339_nano() {
        let mut w = LogWriter::new(Vec::new());
        w.write(Stream::Stdout, b"x\n").unwrap();
        let text = String::from_utf8(w.out).unwrap();
        let time = text.split(' ').next().unwrap();
        assert!(
            time.ends_with('Z') && time.contains('T') && time.len() == 30,
            "{time}"
        );
    }

    fn read_all(path: &Path, follow: bool) -> Vec<String> {
        let mut reader = LogReader::open(path, follow).unwrap();
        std::iter::from_fn(|| reader.next_line().unwrap()).collect()
    }

    #[test]
    fn rotates_at_half_the_limit_and_reads_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let limit = MIN_LOG_SIZE_MAX;
        let mut w = LogWriter::new(LogFile::open(&path, Some(limit)).unwrap());
        let mut follower = LogReader::open(&path, true).unwrap();
        let mut followed = Vec::new();
        let text = "x".repeat(100);
        for i in 0..2000 {
            w.write(Stream::Stdout, format!("{i} {text}\n").as_bytes())
                .unwrap();
            let current = std::fs::metadata(&path).unwrap().len();
            let rotated = std::fs::metadata(rotated_path(&path)).map_or(0, |m| m.len());
            assert!(current <= limit / 2 && current + rotated <= limit);
            while let Some(line) = follower.next_line().unwrap() {
                followed.push(line);
            }
        }
        // Everything was followed, across every rotation.
        assert_eq!(followed.len(), 2000);
        assert!(followed[1999].ends_with(&format!("stdout F 1999 {text}")));
        // A read from scratch gets the newest lines, in order, from both files.
        let kept = read_all(&path, false);
        assert!(kept.len() > 200 && kept.len() < 2000, "{}", kept.len());
        let numbers: Vec<usize> = kept
            .iter()
            .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers.last(), Some(&1999));
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    }

    #[test]
    fn reads_invalid_utf8_long_lines_and_unterminated_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut bytes = b"a \xff b\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'y', MAX_READ_LINE + 10));
        bytes.extend_from_slice(b"\nlast");
        std::fs::write(&path, &bytes).unwrap();
        let got = read_all(&path, false);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], "a \u{FFFD} b");
        assert_eq!(got[1].len(), MAX_READ_LINE);
        assert_eq!(got[2], "y".repeat(10));
        assert_eq!(got[3], "last");
        // Followed, the unterminated line waits for the rest.
        let mut follower = LogReader::open(&path, true).unwrap();
        for _ in 0..3 {
            assert!(follower.next_line().unwrap().is_some());
        }
        assert_eq!(follower.next_line().unwrap(), None);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b" line\n").unwrap();
        assert_eq!(follower.next_line().unwrap().as_deref(), Some("last line"));
        // No log yet: empty.
        assert!(read_all(&dir.path().join("none"), false).is_empty());
    }
}
