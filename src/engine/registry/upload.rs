//! Pushing: blob existence checks (`HEAD`), cross-repository mounts, blob uploads and
//! manifest uploads.
//!
//! A blob is uploaded in one of two ways: a small one (a config) monolithically, its bytes in
//! the `PUT` that ends the upload session; a layer as a chunked upload, its bytes streamed in
//! a `PATCH` and the session closed by an empty `PUT` naming the digest. A blob made while it
//! is sent (a layer gzipped on the fly) goes the second way, its `PATCH` body chunked and
//! hashed as it passes, so its digest and size are known in time for the `PUT`. A failure
//! part way starts a new session, a bounded number of times. The session's `Location` may
//! name another host (storage behind the registry): credentials go only to the registry's
//! own origin.

use std::cell::RefCell;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};
use ureq::SendBody;

use super::client::{Client, Scope, header};
use super::error::Result;
use crate::engine::id::digest::Digest;

/// Blobs up to this size go up in one request.
const MONOLITHIC_MAX: u64 = 8 * 1024 * 1024;

impl Client {
    /// Whether `repo` has blob `digest` (`HEAD`).
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let step = format!("check blob {digest} in {repo}");
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self.send(&step, &Scope::push(repo, None), &url, |auth| {
            let mut request = self.small(self.agent().head(&url));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(&step, response)),
        }
    }

    /// Asks the registry to mount blob `digest` of repository `from` into `repo`; `false`
    /// when it would not (it then opened an upload session, which is cancelled).
    pub fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool> {
        let step = format!("mount blob {digest} from {from} into {repo}");
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let response = self.send(&step, &Scope::push(repo, Some(from)), &url, |auth| {
            let mut request = self
                .small(self.agent().post(&url))
                .query("mount", digest.as_str())
                .query("from", from);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send_empty()
        })?;
        match response.status().as_u16() {
            201 => Ok(true),
            202 => {
                let location = header(&response, "location");
                self.cancel_upload(repo, &location);
                Ok(false)
            }
            _ => Err(self.status_error(&step, response)),
        }
    }

    /// Uploads blob `digest` of `size` bytes to `repo`; `open` gives its bytes from the start
    /// (again for each attempt).
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        open: &dyn Fn() -> io::Result<Box<dyn Read + Send>>,
    ) -> Result<()> {
        let step = format!("upload blob {digest} to {repo}");
        self.in_new_sessions(|| self.upload_once(repo, digest, size, open, &step))
    }

    /// Uploads a blob whose digest and size are known only once its bytes are read (made
    /// while they are sent); `open` gives its bytes from the start (again for each attempt).
    /// Returns the digest and size the registry accepted.
    pub fn upload_streamed(
        &self,
        repo: &str,
        open: &dyn Fn() -> io::Result<Box<dyn Read + Send>>,
    ) -> Result<(Digest, u64)> {
        let step = format!("upload a blob to {repo}");
        self.in_new_sessions(|| self.upload_streamed_once(repo, open, &step))
    }

    /// Runs `upload` (one whole upload session) until it succeeds, fails for a reason a new
    /// session cannot mend (credentials, a missing repository), or the attempts run out;
    /// waits 200 ms more before each new try.
    fn in_new_sessions<T>(&self, upload: impl Fn() -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match upload() {
                Err(e) if attempt < self.attempts() && e.kind == super::Kind::Other => {
                    log::info!(
                        "{e}; starting the upload again ({attempt}/{})",
                        self.attempts()
                    );
                    std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
                }
                done => return done,
            }
        }
    }

    fn upload_streamed_once(
        &self,
        repo: &str,
        open: &dyn Fn() -> io::Result<Box<dyn Read + Send>>,
        step: &str,
    ) -> Result<(Digest, u64)> {
        let scope = Scope::push(repo, None);
        let location = self.start_upload(repo, &scope, step)?;
        // What the last PATCH sent: (digest, size), once its body was read to the end. Each
        // try of the request (a new token, a retry) opens the blob again.
        let sent = RefCell::new(None);
        let response = self.send(step, &scope, &location, |auth| {
            let mut reader = HashingReader::new(open().map_err(ureq::Error::Io)?);
            let mut request = self
                .agent()
                .patch(&location)
                .header("Content-Type", "application/octet-stream");
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            // No length: the body goes with chunked transfer encoding.
            let response = request.send(SendBody::from_reader(&mut reader));
            *sent.borrow_mut() = reader.finish();
            response
        })?;
        if response.status() != 202 {
            return Err(self.status_error(step, response));
        }
        let Some((digest, size)) = sent.into_inner() else {
            return Err(self.error(step, "the registry answered before the blob was sent"));
        };
        let location = self.absolute(&header(&response, "location"));
        let step = format!("upload blob {digest} to {repo}");
        self.close_upload(&location, &digest, &scope, &step)?;
        Ok((digest, size))
    }

    /// Opens an upload session in `repo`; returns its location.
    fn start_upload(&self, repo: &str, scope: &Scope, step: &str) -> Result<String> {
        let start = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let response = self.send(step, scope, &start, |auth| {
            let mut request = self.small(self.agent().post(&start));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send_empty()
        })?;
        if response.status() != 202 {
            return Err(self.status_error(step, response));
        }
        Ok(self.absolute(&header(&response, "location")))
    }

    /// Ends the upload session at `location`, whose bytes are all sent, as blob `digest`.
    fn close_upload(
        &self,
        location: &str,
        digest: &Digest,
        scope: &Scope,
        step: &str,
    ) -> Result<()> {
        let response = self.send(step, scope, location, |auth| {
            let mut request = self
                .small(self.agent().put(location))
                .query("digest", digest.as_str());
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send_empty()
        })?;
        if response.status() != 201 {
            return Err(self.status_error(step, response));
        }
        Ok(())
    }

    fn upload_once(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        open: &dyn Fn() -> io::Result<Box<dyn Read + Send>>,
        step: &str,
    ) -> Result<()> {
        let scope = Scope::push(repo, None);
        let location = self.start_upload(repo, &scope, step)?;
        let body = |e: io::Error| self.error(step, format!("reading the blob: {e}"));
        if size > MONOLITHIC_MAX {
            let response = self.send(step, &scope, &location, |auth| {
                let mut reader = open().map_err(ureq::Error::Io)?;
                let mut request = self
                    .agent()
                    .patch(&location)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", size.to_string());
                if let Some(auth) = auth {
                    request = request.header("Authorization", auth);
                }
                request.send(SendBody::from_reader(&mut reader))
            })?;
            if response.status() != 202 {
                return Err(self.status_error(step, response));
            }
            let location = self.absolute(&header(&response, "location"));
            return self.close_upload(&location, digest, &scope, step);
        }
        let mut bytes = Vec::new();
        open()
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(body)?;
        let response = self.send(step, &scope, &location, |auth| {
            let mut request = self
                .agent()
                .put(&location)
                .query("digest", digest.as_str())
                .header("Content-Type", "application/octet-stream");
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send(&bytes[..])
        })?;
        if response.status() != 201 {
            return Err(self.status_error(step, response));
        }
        Ok(())
    }

    /// Uploads a manifest as `repo:reference`; returns its digest as the registry computed it.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let step = format!("upload manifest {repo}:{reference}");
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self.send(&step, &Scope::push(repo, None), &url, |auth| {
            let mut request = self
                .small(self.agent().put(&url))
                .header("Content-Type", media_type);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send(bytes)
        })?;
        if response.status() != 201 {
            return Err(self.status_error(&step, response));
        }
        let digest = header(&response, "docker-content-digest");
        Ok(if digest.is_empty() {
            Digest::of(bytes).to_string()
        } else {
            digest
        })
    }

    /// Ends an upload session nobody will finish (best effort: the registry expires it
    /// anyway).
    fn cancel_upload(&self, repo: &str, location: &str) {
        if location.is_empty() {
            return;
        }
        let url = self.absolute(location);
        let result = self.send("cancel upload", &Scope::push(repo, None), &url, |auth| {
            let mut request = self.small(self.agent().delete(&url));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        });
        if let Err(e) = result {
            log::debug!("{e}");
        }
    }

    /// An upload `Location` as an absolute URL (registries may send a path).
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            self.url(location)
        }
    }
}

/// Hashes and counts what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    ended: bool,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
            ended: false,
        }
    }

    /// The digest and size of everything read, if it was read to the end.
    fn finish(self) -> Option<(Digest, u64)> {
        let digest = Digest::of_hasher(self.hasher);
        self.ended.then_some((digest, self.size))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        self.ended |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_gives_a_digest_only_at_the_end() {
        let bytes = b"a layer, gzipped while it uploads".to_vec();
        let mut reader = HashingReader::new(&bytes[..]);
        let mut half = vec![0u8; 10];
        reader.read_exact(&mut half).unwrap();
        assert_eq!(reader.finish(), None, "read part way");
        let mut reader = HashingReader::new(&bytes[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(
            reader.finish(),
            Some((Digest::of(&bytes), bytes.len() as u64))
        );
    }
}
