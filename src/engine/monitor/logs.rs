//! The container log, in the k8s-file format conmon writes:
//! `<RFC3339Nano time> stdout|stderr F|P <text>` per line, `F` for a full line and `P` for a
//! partial one (a line longer than the buffer, or one cut off when the container exits).

use std::io::{self, Write};

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

/// Turns chunks of output into log lines.
pub struct LogWriter<W: Write> {
    out: W,
    pending: [Vec<u8>; 2],
}

impl<W: Write> LogWriter<W> {
    /// A writer appending to `out`.
    pub fn new(out: W) -> Self {
        LogWriter {
            out,
            pending: [Vec::new(), Vec::new()],
        }
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
        write!(self.out, "{time} {} {tag} ", stream.name())?;
        self.out.write_all(text)?;
        self.out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
