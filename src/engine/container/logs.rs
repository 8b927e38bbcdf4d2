//! GetContainerLogs: a container's log read a line at a time, in bounded memory, as it is
//! now or followed until the container exits.
//!
//! Nothing here holds the whole log: lines come one at a time (each at most
//! [`MAX_READ_LINE`](crate::engine::monitor::logs::MAX_READ_LINE) bytes) from the rotated
//! file then the current one, and a followed log goes out in batches of at most
//! [`FOLLOW_BATCH`] bytes.

use super::service::Containers;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::caller::{self, Caller, Wake};
use crate::engine::error::{Error, Result};
use crate::engine::monitor::logs::LogReader;

/// Most bytes of lines in one batch of a followed log.
pub const FOLLOW_BATCH: usize = 512 * 1024;
/// How often a followed log is looked at for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// The lines of a container's log as it was when opened, oldest first.
pub struct LogLines {
    path: PathBuf,
    reader: LogReader,
}

impl Iterator for LogLines {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        self.reader
            .next_line()
            .map_err(|e| Error::io("read", &self.path, e))
            .transpose()
    }
}

impl Containers {
    /// io.podman.GetContainerLogs: the log's lines as the monitor wrote them (invalid UTF-8
    /// replaced by U+FFFD), up to where the log was when the call came.
    pub fn get_container_logs(&self, name: &str) -> Result<LogLines> {
        let (_, record) = self.view_container(name)?;
        let path = PathBuf::from(&record.config.log_path);
        let reader = LogReader::open(&path, false).map_err(|e| Error::io("read", &path, e))?;
        Ok(LogLines { path, reader })
    }

    /// GetContainerLogs with `more`: hands `send` the lines there are, in batches, then new
    /// lines as the monitor writes them, until the container exits, `send` returns false
    /// (the client is gone) or `caller` goes. Returns after the last lines.
    pub fn get_container_logs_follow(
        &self,
        name: &str,
        caller: &dyn Caller,
        send: &mut dyn FnMut(Vec<String>) -> bool,
    ) -> Result<()> {
        let (handle, record) = self.view_container(name)?;
        let path = PathBuf::from(&record.config.log_path);
        let read_err = |e| Error::io("read", &path, e);
        // Opened once and kept: a container removed when it exits (`rm`) takes its log
        // along, and its last lines must still reach the client.
        let mut reader = LogReader::open(&path, true).map_err(read_err)?;
        loop {
            // Whether it still runs is read before the log, so nothing written before the
            // exit is missed.
            let active = self.view(&handle).is_some_and(|r| r.status().is_active());
            loop {
                let mut batch = Vec::new();
                let mut bytes = 0;
                while bytes < FOLLOW_BATCH {
                    match reader.next_line().map_err(read_err)? {
                        Some(line) => {
                            bytes += line.len();
                            batch.push(line);
                        }
                        None => break,
                    }
                }
                if !batch.is_empty() && !send(batch) {
                    return Ok(());
                }
                if bytes < FOLLOW_BATCH {
                    break;
                }
            }
            if !active {
                return Ok(());
            }
            if caller::wait(None, caller, Some(FOLLOW_INTERVAL)) == Wake::Gone {
                return Ok(());
            }
        }
    }
}
