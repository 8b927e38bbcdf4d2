//! Pushing: blob existence checks, cross-repository mounts, blob and manifest uploads.
