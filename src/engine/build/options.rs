//! BuildImage's input, as the engine takes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::engine::container::create::options::CreateOptions;

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfiles, concatenated in order; the first one's directory is the context.
    pub dockerfiles: Vec<PathBuf>,
    /// Names given to the result.
    pub tags: Vec<String>,
    /// Values of the Dockerfile's ARGs.
    pub build_args: BTreeMap<String, String>,
    /// `KEY=VALUE` labels added to the result's config.
    pub labels: Vec<String>,
    /// `KEY=VALUE` annotations of the result's manifest.
    pub annotations: Vec<String>,
    /// Pull a missing base image (without it, or `pull_always`, a missing base fails the
    /// build, as Podman 1.x's PullNever did).
    pub pull: bool,
    /// Pull every base image even when present.
    pub pull_always: bool,
    /// Remove the intermediate containers after a successful RUN.
    pub rm: bool,
    /// Remove the intermediate containers even after a failed RUN.
    pub force_rm: bool,
    /// Squash the new layers into one (what every stage does already).
    pub squash: bool,
    /// A Docker schema 2 image instead of an OCI one.
    pub docker_format: bool,
    /// The options every RUN container is created with (resources, security, hosts,
    /// volumes, cgroup parent); image, command, environment, user and working directory are
    /// the build's.
    pub run: CreateOptions,
}
