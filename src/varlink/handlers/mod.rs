//! The io.podman handlers: one `pub fn` per IDL method, named after it (`images_prune` serves
//! `ImagesPrune`), taking the engine, the call and the IDL's arguments in order. A handler
//! converts its arguments (`convert`), makes one engine call, converts the result and
//! replies (errors through `error`); it decides nothing and keeps no state.
//!
//! build.rs reads these files and generates `impl VarlinkInterface for Service`, each method
//! calling its handler here; so a `pub fn` in these files must be an io.podman method, and
//! every method must have one (the build fails otherwise, naming it). Helpers stay private.
//!
//! - `system`: Ping, GetVersion, GetInfo;
//! - `images`: the local image methods (list, inspect, tag, remove, prune, import, export);
//! - `containers`: the container methods;
//! - `pods`: the pod methods;
//! - `registries`: PullImage, PushImage and SearchImage;
//! - `pending`: the methods answered without the engine: not implemented by the contract
//!   (`MethodNotImplemented`) or not by podlink yet (`ErrorOccurred` naming the method).

pub(super) mod containers;
pub(super) mod images;
pub(super) mod pending;
pub(super) mod pods;
pub(super) mod registries;
pub(super) mod system;
