//! Parallel gzip: one gzip member whose deflate stream is compressed in fixed-size chunks on
//! several threads, as pigz does.
//!
//! Each chunk of the input is compressed on its own as raw deflate and ended with a sync
//! flush (an empty stored block, which leaves the stream byte aligned and every block before
//! it non-final); the last chunk is finished instead. Laid end to end, in order, the chunks
//! are one valid deflate stream, framed by a 10-byte gzip header and a trailer whose CRC-32
//! is the chunks' CRCs combined. Nothing in the output depends on the number of threads or
//! on timing: the header's mtime is 0 and its OS byte "unknown", so the same input, level
//! and chunk size always give the same bytes, and so the same blob digest. A chunk does not
//! see the previous chunk's last 32 KiB as a dictionary (the Rust deflate backend cannot
//! preset one), which costs well under 1% of size at 1 MiB chunks.
//!
//! This module compresses bytes; it knows nothing of layers or registries.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The default size of the chunks compressed independently.
pub const CHUNK_SIZE: usize = 1 << 20;
/// The most compressing threads used, however many cores there are: beyond this the
/// thread reading the input (and the one consuming the output) are the bottleneck.
const MAX_THREADS: usize = 8;

/// How to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipOptions {
    /// The deflate level, 0 (stored) to 9.
    pub level: u32,
    /// The size of the chunks compressed independently (the output depends on it).
    pub chunk_size: usize,
    /// How many threads compress (the output does not depend on it); at least 1.
    pub threads: usize,
}

impl GzipOptions {
    /// `level`, chunks of [`CHUNK_SIZE`], and a thread per core (at most 8).
    pub fn new(level: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        GzipOptions {
            level,
            chunk_size: CHUNK_SIZE,
            threads: cores.min(MAX_THREADS),
        }
    }
}

/// A compressed chunk and the CRC of its input, or why it could not be compressed.
type Compressed = io::Result<(Vec<u8>, Crc)>;

/// A chunk to compress, and where its result goes.
struct Job {
    data: Vec<u8>,
    last: bool,
    level: u32,
    result: SyncSender<Compressed>,
}

/// Gzips everything `input` yields into `output`; returns how many bytes were written.
pub fn gzip(input: &mut dyn Read, output: &mut dyn Write, options: GzipOptions) -> io::Result<u64> {
    let chunk_size = options.chunk_size.max(1);
    let threads = options.threads.max(1);
    // Chunks in flight (compressing or compressed and waiting for their turn): enough to
    // keep every thread busy while the oldest one is written out, and a bound on memory.
    let in_flight = 2 * threads;
    let (jobs, queue) = sync_channel::<Job>(in_flight);
    let queue = Mutex::new(queue);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| work(&queue));
        }
        // `jobs` is moved in: however the feeding ends, dropping it lets the workers stop.
        feed(input, output, jobs, chunk_size, in_flight, options.level)
    })
}

/// Reads chunks, hands them to the workers and writes their results in order.
fn feed(
    input: &mut dyn Read,
    output: &mut dyn Write,
    jobs: SyncSender<Job>,
    chunk_size: usize,
    in_flight: usize,
    level: u32,
) -> io::Result<u64> {
    output.write_all(&header(level))?;
    let mut out = Ordered {
        output,
        written: 10,
        crc: Crc::new(),
        pending: VecDeque::new(),
    };
    // One chunk is read ahead, to know whether the one before it is the last. An empty
    // input is one empty, last chunk: the stream still needs its final block.
    let mut current = read_chunk(input, chunk_size)?;
    loop {
        let next = read_chunk(input, chunk_size)?;
        let last = next.is_empty();
        let (result, receiver) = sync_channel(1);
        let job = Job {
            data: std::mem::replace(&mut current, next),
            last,
            level,
            result,
        };
        jobs.send(job)
            .map_err(|_| io::Error::other("the gzip threads stopped"))?;
        out.pending.push_back(receiver);
        if out.pending.len() >= in_flight {
            out.write_oldest()?;
        }
        if last {
            break;
        }
    }
    while !out.pending.is_empty() {
        out.write_oldest()?;
    }
    out.output.write_all(&out.crc.sum().to_le_bytes())?;
    out.output.write_all(&out.crc.amount().to_le_bytes())?;
    Ok(out.written + 8)
}

/// The output side: compressed chunks are written in the order they were read.
struct Ordered<'a> {
    output: &'a mut dyn Write,
    written: u64,
    /// The CRC of the input written so far.
    crc: Crc,
    /// The results of the chunks handed out, oldest first.
    pending: VecDeque<Receiver<Compressed>>,
}

impl Ordered<'_> {
    /// Waits for the oldest chunk and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(result) = self.pending.pop_front() else {
            return Ok(());
        };
        let (bytes, crc) = result
            .recv()
            .map_err(|_| io::Error::other("a gzip thread stopped"))??;
        self.output.write_all(&bytes)?;
        self.written += bytes.len() as u64;
        self.crc.combine(&crc);
        Ok(())
    }
}

/// A worker: compresses jobs until the queue closes.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only to take a job, not while compressing it.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let mut crc = Crc::new();
        crc.update(&job.data);
        let result = deflate_chunk(&job.data, job.level, job.last).map(|bytes| (bytes, crc));
        // The feeder has gone (it failed) if this fails: nothing to tell.
        let _ = job.result.send(result);
    }
}

/// `data` as raw deflate, ended by a sync flush or, when it is the `last` chunk, finished.
///
/// The whole chunk is compressed in one call, into a buffer with room to spare; should it
/// fill up, the chunk is compressed again from the start into a larger one. A compression
/// is never continued after its output filled up: asked to sync-flush again, miniz_oxide
/// (flate2's Rust backend) corrupts the stream (seen with 1 MiB of random bytes, which
/// level 1 makes 0.1% larger, into a buffer 0.02% larger than the input; flate2's own
/// writer continues a flush with `FlushCompress::None` instead). One call also keeps the
/// bytes independent of buffer sizes.
fn deflate_chunk(data: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    // Incompressible input grows by about 0.1% at level 1; 1/16 more covers it with room.
    deflate_with_room(data, level, last, data.len() + data.len() / 16 + 1024)
}

/// [`deflate_chunk`], into a buffer of `room` bytes at first.
fn deflate_with_room(data: &[u8], level: u32, last: bool, mut room: usize) -> io::Result<Vec<u8>> {
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let mut compress = Compress::new(Compression::new(level), false);
        let mut out = Vec::with_capacity(room);
        let status = compress
            .compress_vec(data, &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let complete = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is taken and the output did not fill
            // up (a full buffer may hold back the rest of the flush).
            Status::Ok | Status::BufError => {
                !last && compress.total_in() as usize == data.len() && out.len() < out.capacity()
            }
        };
        if complete {
            return Ok(out);
        }
        room = out.capacity() * 2;
    }
}

/// Reads up to `size` bytes: fewer only at the end of the input.
fn read_chunk(input: &mut dyn Read, size: usize) -> io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(size);
    input.take(size as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// The gzip member header: deflate, no flags, mtime 0, the level hint, OS unknown.
fn header(level: u32) -> [u8; 10] {
    let extra_flags = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 0xff]
}

/// A reader of gzipped bytes compressed on other threads as they are read, so whoever
/// consumes them (an upload) works while the next chunks compress. Dropping it early stops
/// the compression.
pub struct GzipReader {
    /// Compressed pieces, in order; an error ends them. Held only here: dropping it makes
    /// the compressing thread's next send fail, and the thread stop.
    pieces: Option<Receiver<io::Result<Vec<u8>>>>,
    piece: Vec<u8>,
    offset: usize,
    done: bool,
    thread: Option<JoinHandle<()>>,
}

impl GzipReader {
    /// Starts gzipping `input` on a thread of its own (and its workers).
    pub fn new(input: impl Read + Send + 'static, options: GzipOptions) -> io::Result<Self> {
        let (sender, pieces) = sync_channel(2 * options.threads.max(1));
        let thread = std::thread::Builder::new()
            .name("gzip".into())
            .spawn(move || {
                let mut input = input;
                let mut out = PieceWriter(sender.clone());
                let result = gzip(&mut input, &mut out, options).map(|_| Vec::new());
                // An empty piece is the end; a closed channel means nobody reads any more.
                let _ = sender.send(result);
            })?;
        Ok(GzipReader {
            pieces: Some(pieces),
            piece: Vec::new(),
            offset: 0,
            done: false,
            thread: Some(thread),
        })
    }
}

impl Read for GzipReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.piece.len() {
            if self.done {
                return Ok(0);
            }
            let piece = self
                .pieces
                .as_ref()
                .and_then(|pieces| pieces.recv().ok())
                .ok_or_else(|| io::Error::other("the gzip thread stopped"))??;
            self.done = piece.is_empty();
            self.piece = piece;
            self.offset = 0;
        }
        let n = buf.len().min(self.piece.len() - self.offset);
        buf[..n].copy_from_slice(&self.piece[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

impl Drop for GzipReader {
    fn drop(&mut self) {
        // Close the channel first, so a thread blocked sending to it wakes up and stops.
        drop(self.pieces.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends every non-empty write as a piece.
struct PieceWriter(SyncSender<io::Result<Vec<u8>>>);

impl Write for PieceWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() {
            self.0
                .send(Ok(buf.to_vec()))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "gzip reader dropped"))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    const SMALL: usize = 64 * 1024;

    fn options(chunk_size: usize, threads: usize) -> GzipOptions {
        GzipOptions {
            level: 1,
            chunk_size,
            threads,
        }
    }

    /// `len` bytes: random (xorshift), or a random third then repeated text.
    fn input(len: usize, compressible: bool) -> Vec<u8> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
        let random = if compressible { len / 3 } else { len };
        let mut data: Vec<u8> = (0..random)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // The top byte: deflate finds more (useless) short matches in the bottom
                // one's pattern, and that random data did not show miniz_oxide's bug.
                (seed >> 56) as u8
            })
            .collect();
        let line = b"etc/passwd root:x:0:0:root:/root:/bin/sh\n";
        data.extend((random..len).map(|i| line[i % line.len()]));
        data
    }

    fn compress(data: &[u8], options: GzipOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let written = gzip(&mut &data[..], &mut out, options).unwrap();
        assert_eq!(written, out.len() as u64);
        out
    }

    fn gunzip_flate2(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        // One member: a single-member decoder reads it all too.
        let mut single = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut single)
            .unwrap();
        assert_eq!(single, out);
        out
    }

    /// `gzip -dc` (GNU gzip checks the CRC and length), or `None` without gzip.
    fn gunzip_gnu(gz: &[u8]) -> Option<Vec<u8>> {
        let mut child = match Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => panic!("gzip: {e}"),
        };
        let mut stdin = child.stdin.take().unwrap();
        let gz = gz.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&gz).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(
            out.status.success(),
            "gzip -d: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out.stdout)
    }

    #[test]
    fn round_trips_around_chunk_boundaries() {
        let mut gnu_checked = false;
        for len in [0, 1, SMALL - 1, SMALL, SMALL + 1, 5 * SMALL + 7] {
            for compressible in [false, true] {
                let data = input(len, compressible);
                let gz = compress(&data, options(SMALL, 3));
                assert_eq!(gz[..10], header(1), "len {len}");
                assert_eq!(gunzip_flate2(&gz), data, "len {len}");
                if let Some(out) = gunzip_gnu(&gz) {
                    assert_eq!(out, data, "gzip -d, len {len}");
                    gnu_checked = true;
                }
            }
        }
        if !gnu_checked {
            eprintln!("gzip not installed: GNU gzip not checked");
        }
    }

    #[test]
    fn several_default_chunks_compress_and_round_trip() {
        let data = input(3 * CHUNK_SIZE + 100, true);
        let gz = compress(&data, GzipOptions::new(1));
        assert!(gz.len() < data.len() / 2, "{} of {}", gz.len(), data.len());
        assert_eq!(gunzip_flate2(&gz), data);
        if let Some(out) = gunzip_gnu(&gz) {
            assert_eq!(out, data);
        }
        // Incompressible chunks of the default size (whose deflate is larger than they are).
        let data = input(3 * CHUNK_SIZE + 100, false);
        let gz = compress(&data, GzipOptions::new(1));
        assert_eq!(gunzip_flate2(&gz), data);
        if let Some(out) = gunzip_gnu(&gz) {
            assert_eq!(out, data);
        }
    }

    #[test]
    fn a_chunk_that_fills_its_buffer_is_compressed_again() {
        // Random bytes: at level 1 their sync-flushed deflate is larger than they are, and
        // miniz_oxide, continued after filling a buffer, corrupted it (the stream inflated
        // to other bytes).
        let data = input(CHUNK_SIZE, false);
        for last in [false, true] {
            let roomy = deflate_chunk(&data, 1, last).unwrap();
            for room in [1, 4096, CHUNK_SIZE, CHUNK_SIZE + 200] {
                assert_eq!(deflate_with_room(&data, 1, last, room).unwrap(), roomy);
            }
            let mut back = Vec::with_capacity(2 * CHUNK_SIZE);
            flate2::Decompress::new(false)
                .decompress_vec(&roomy, &mut back, flate2::FlushDecompress::Sync)
                .unwrap();
            assert_eq!(back, data, "last: {last}");
        }
    }

    #[test]
    fn output_depends_only_on_input_level_and_chunk_size() {
        let data = input(7 * SMALL + 3, true);
        let one = compress(&data, options(SMALL, 1));
        for threads in [1, 2, 5] {
            for _ in 0..3 {
                assert_eq!(compress(&data, options(SMALL, threads)), one);
            }
        }
        // A different chunk size is a different (equally valid) stream.
        let other = compress(&data, options(SMALL * 2, 2));
        assert_ne!(other, one);
        assert_eq!(gunzip_flate2(&other), data);
    }

    #[test]
    fn every_level_round_trips() {
        let data = input(3 * SMALL + 11, true);
        for level in 0..=9 {
            let gz = compress(
                &data,
                GzipOptions {
                    level,
                    ..options(SMALL, 2)
                },
            );
            assert_eq!(gz[8], header(level)[8]);
            assert_eq!(gunzip_flate2(&gz), data, "level {level}");
        }
    }

    #[test]
    fn reader_gives_the_same_bytes() {
        for len in [0, 1, 4 * SMALL + 9] {
            let data = input(len, true);
            let expected = compress(&data, options(SMALL, 2));
            let mut reader = GzipReader::new(io::Cursor::new(data), options(SMALL, 2)).unwrap();
            let mut got = Vec::new();
            // Small reads, to cross piece boundaries.
            let mut buf = [0u8; 1000];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, expected, "len {len}");
            assert_eq!(reader.read(&mut buf).unwrap(), 0);
        }
    }

    #[test]
    fn dropping_the_reader_early_stops_the_compression() {
        let data = input(64 * SMALL, false);
        let mut reader = GzipReader::new(io::Cursor::new(data), options(SMALL, 2)).unwrap();
        let mut buf = [0u8; 100];
        reader.read_exact(&mut buf).unwrap();
        // Returns once the threads are gone, long before 4 MiB would have compressed through
        // a reader nobody reads.
        drop(reader);
    }

    /// Yields `left` bytes, then fails.
    struct Failing {
        left: usize,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.left);
            buf[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn read_errors_are_returned() {
        let mut out = Vec::new();
        let err = gzip(
            &mut Failing { left: 3 * SMALL },
            &mut out,
            options(SMALL, 2),
        );
        assert_eq!(err.unwrap_err().to_string(), "disk on fire");
        let mut reader = GzipReader::new(Failing { left: SMALL + 1 }, options(SMALL, 2)).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn write_errors_are_returned() {
        let data = input(4 * SMALL, false);
        let mut full = [0u8; 1000];
        let err = gzip(&mut &data[..], &mut &mut full[..], options(SMALL, 2)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }
}
