//! Blobs from a registry: a small one (a config) read whole with a limit, a layer streamed
//! with its digest checked as it goes.
//!
//! [`BlobStream`] is what a layer is extracted from. It counts and hashes every byte, and when
//! the connection drops or stalls it asks again from where it stopped (`Range`), a bounded
//! number of times; a server that ignores the range resends the whole blob and the bytes
//! already seen are skipped. At the end, [`BlobStream::finish`] reads what the extractor left
//! (tar padding) and checks the size and digest: a blob that does not match is an error that
//! names it, and the caller drops the staged layer.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::client::{Client, Scope};
use super::error::{RegistryError, Result};
use crate::engine::id::digest::Digest;

/// How often a stream reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

impl Client {
    /// The whole of a small blob (a config) of `size` bytes if known, at most `limit` bytes,
    /// checked against its digest.
    pub fn blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>> {
        if let Some(size) = size.filter(|s| *s > limit) {
            return Err(self.error(
                format!("fetch blob {digest} of {repo}"),
                format!("the manifest says it has {size} bytes, more than the limit of {limit}"),
            ));
        }
        let mut stream = self.blob(repo, digest, size, None)?;
        stream.limit = Some(limit);
        let mut bytes = Vec::new();
        let read = stream.read_to_end(&mut bytes);
        if let Some(e) = stream.failure.take() {
            return Err(e);
        }
        read.map_err(|e| stream.fail(format!("{e}")))?;
        stream.finish()?;
        Ok(bytes)
    }

    /// A stream of blob `digest` of `repo`, `size` bytes if known. Nothing is requested until
    /// the first read. A set `cancel` makes the next read fail (another layer of the same pull
    /// failed).
    pub fn blob<'a>(
        &'a self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        cancel: Option<&'a AtomicBool>,
    ) -> Result<BlobStream<'a>> {
        Ok(BlobStream {
            client: self,
            repo: repo.to_string(),
            digest: digest.clone(),
            size,
            limit: None,
            hasher: Sha256::new(),
            done: 0,
            body: None,
            resumes_left: self.attempts() - 1,
            failure: None,
            cancel,
            progress: None,
            last_report: Instant::now(),
            ended: false,
        })
    }
}

/// A blob being read from a registry (see the module doc).
pub struct BlobStream<'a> {
    client: &'a Client,
    repo: String,
    digest: Digest,
    size: Option<u64>,
    limit: Option<u64>,
    hasher: Sha256,
    done: u64,
    body: Option<Box<dyn Read + Send + 'a>>,
    resumes_left: u32,
    /// Why the stream failed, for the caller: the extractor sees only an `io::Error`.
    failure: Option<RegistryError>,
    cancel: Option<&'a AtomicBool>,
    progress: Option<Box<dyn FnMut(u64) + Send + 'a>>,
    last_report: Instant,
    /// The whole blob was read and checked: further reads are at its end.
    ended: bool,
}

impl<'a> BlobStream<'a> {
    /// Calls `report` with the bytes read so far, at most every 200 ms and at the end.
    pub fn on_progress(&mut self, report: impl FnMut(u64) + Send + 'a) {
        self.progress = Some(Box::new(report));
    }

    /// The step, for messages.
    fn step(&self) -> String {
        format!("fetch blob {} of {}", self.digest, self.repo)
    }

    fn fail(&mut self, reason: String) -> RegistryError {
        let e = self.client.error(self.step(), reason);
        self.failure = Some(e.clone());
        e
    }

    /// Why the stream failed, if it did.
    pub fn failure(&mut self) -> Option<RegistryError> {
        self.failure.take()
    }

    /// Requests the blob from `self.done` on.
    fn open(&mut self) -> Result<()> {
        let step = self.step();
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/{}", self.repo, self.digest));
        let from = self.done;
        let response = self
            .client
            .send(&step, &Scope::pull(&self.repo), &url, |auth| {
                let mut request = self.client.agent().get(&url);
                if from > 0 {
                    request = request.header("Range", format!("bytes={from}-"));
                }
                if let Some(auth) = auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            })?;
        let status = response.status().as_u16();
        let mut skip = 0;
        match status {
            200 => skip = from,
            206 if from > 0 => {
                let range = super::client::header(&response, "content-range");
                let start = range
                    .strip_prefix("bytes ")
                    .and_then(|r| r.split('-').next())
                    .and_then(|s| s.parse::<u64>().ok());
                if start != Some(from) {
                    return Err(self
                        .client
                        .error(&step, format!("asked for bytes {from}- and got {range:?}")));
                }
            }
            _ => return Err(self.client.status_error(&step, response)),
        }
        let mut body = response.into_body().into_reader();
        if skip > 0 {
            // The server ignored the range: skip what was already read.
            let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink())
                .map_err(|e| self.client.error(&step, format!("resuming: {e}")))?;
            if skipped < skip {
                return Err(self
                    .client
                    .error(&step, "the blob got shorter when asked again"));
            }
        }
        self.body = Some(Box::new(body));
        Ok(())
    }

    /// One read from the body, opening it first if needed.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            let e = self.fail("stopped: another layer of the same pull failed".into());
            return Err(e.into_io());
        }
        if self.body.is_none() {
            self.open().map_err(|e| {
                self.failure = Some(e.clone());
                e.into_io()
            })?;
        }
        self.body.as_mut().expect("opened above").read(buf)
    }

    /// What to say when the body ended or broke at `self.done` bytes.
    fn short(&self) -> String {
        match self.size {
            Some(size) => format!("the connection ended after {} of {size} bytes", self.done),
            None => format!("the connection ended after {} bytes", self.done),
        }
    }

    fn report(&mut self, force: bool) {
        if let Some(report) = &mut self.progress
            && (force || self.last_report.elapsed() >= PROGRESS_EVERY)
        {
            report(self.done);
            self.last_report = Instant::now();
        }
    }

    /// Reads what is left (tar padding after the end-of-archive, a compressor's trailer),
    /// then checks the size and the digest.
    pub fn finish(mut self) -> Result<()> {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    return Err(self
                        .failure
                        .take()
                        .unwrap_or_else(|| self.client.error(self.step(), format!("{e}"))));
                }
            }
        }
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        Ok(())
    }

    /// At the end of the body: the size and digest must be the ones asked for.
    fn check_end(&mut self) -> Result<()> {
        if let Some(size) = self.size
            && size != self.done
        {
            return Err(self.fail(format!(
                "the blob has {} bytes; the manifest says {size}",
                self.done
            )));
        }
        let actual = Digest::of_hasher(self.hasher.clone());
        if actual != self.digest {
            return Err(self.fail(format!("the blob's content has digest {actual}")));
        }
        Ok(())
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failure {
            return Err(e.clone().into_io());
        }
        if buf.is_empty() || self.ended {
            return Ok(0);
        }
        loop {
            let result = self.read_some(buf);
            match result {
                Ok(0) => {
                    if self.size.is_some_and(|s| self.done < s) && self.resumes_left > 0 {
                        // Ended early: ask for the rest.
                        self.resumes_left -= 1;
                        log::info!(
                            "registry {}: {}: {}; resuming",
                            self.client.registry(),
                            self.step(),
                            self.short()
                        );
                        self.body = None;
                        continue;
                    }
                    self.body = None;
                    self.report(true);
                    self.check_end().map_err(RegistryError::into_io)?;
                    self.ended = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.hasher.update(&buf[..n]);
                    self.done += n as u64;
                    if let Some(limit) = self.limit
                        && self.done > limit
                    {
                        let e =
                            self.fail(format!("the blob is more than the limit of {limit} bytes"));
                        return Err(e.into_io());
                    }
                    if let Some(size) = self.size
                        && self.done > size
                    {
                        let e = self.fail(format!(
                            "the blob is longer than the {size} bytes the manifest says"
                        ));
                        return Err(e.into_io());
                    }
                    self.report(false);
                    return Ok(n);
                }
                Err(e) if self.failure.is_some() => return Err(e),
                Err(e) => {
                    if self.resumes_left == 0 {
                        let reason = match is_timeout(&e) {
                            true => format!(
                                "no data for {} after {} bytes",
                                humantime::format_duration(self.client.read_timeout()),
                                self.done
                            ),
                            false => format!("{}: {e}", self.short()),
                        };
                        return Err(self.fail(reason).into_io());
                    }
                    self.resumes_left -= 1;
                    log::info!(
                        "registry {}: {}: {e} after {} bytes; resuming",
                        self.client.registry(),
                        self.step(),
                        self.done
                    );
                    self.body = None;
                }
            }
        }
    }
}

/// Whether a read failed because no data came in time.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}
