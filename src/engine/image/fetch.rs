//! http(s) import sources: the body of a URL, with connect and read timeouts.

use std::io::{self, Read};
use std::time::Duration;

use super::service::Images;
use crate::engine::error::{Error, Result};

impl Images {
    /// The body of an http(s) source, with the connect and read timeouts: a server that
    /// stalls makes the import fail with an error naming the URL and the timeout.
    pub(super) fn fetch(&self, url: &str) -> Result<impl Read + use<>> {
        let connect = self.settings.connect_timeout;
        let read = self.settings.read_timeout;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_resolve(Some(connect))
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(read))
            .build()
            .into();
        let response = agent.get(url).call().map_err(|e| Error::Network {
            what: "fetch",
            url: url.to_string(),
            reason: match &e {
                ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => format!(
                    "no connection within {} (--http-connect-timeout)",
                    humantime::format_duration(connect)
                ),
                ureq::Error::Timeout(_) => format!(
                    "no data for {} (--http-read-timeout)",
                    humantime::format_duration(read)
                ),
                _ => e.to_string(),
            },
        })?;
        Ok(TimedBody {
            inner: response.into_body().into_reader(),
            url: url.to_string(),
            read,
        })
    }
}

/// The body of an http(s) response; a read that times out says which URL and timeout.
struct TimedBody<R> {
    inner: R,
    url: String,
    read: Duration,
}

impl<R: Read> Read for TimedBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let timed_out = matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) || e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
            if timed_out {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "fetch {}: no data for {} (--http-read-timeout)",
                        self.url,
                        humantime::format_duration(self.read)
                    ),
                )
            } else {
                io::Error::new(e.kind(), format!("fetch {}: {e}", self.url))
            }
        })
    }
}
