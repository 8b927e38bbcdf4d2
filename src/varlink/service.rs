//! The io.podman service object and the dispatcher that serves it.
//!
//! `Service` holds the engine; its `VarlinkInterface` implementation is generated (build.rs)
//! and calls the handler of each method in `handlers/`, so this file holds no method table.

use std::sync::Arc;

use super::connection::Dispatcher;
use super::generated;
use crate::engine::Engine;

/// Vendor and URL reported by `org.varlink.service.GetInfo`.
const VENDOR: &str = "podlink";
const PRODUCT: &str = "podlink";
const URL: &str = env!("CARGO_PKG_REPOSITORY");

/// The io.podman implementation: each method forwards to its handler with the engine.
pub struct Service {
    engine: Arc<Engine>,
}

impl Service {
    /// The engine, for the generated forwarding.
    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Builds the dispatcher that serves io.podman (and org.varlink.service) over `engine`.
pub fn dispatcher(engine: Arc<Engine>) -> Dispatcher {
    // Two proxies over the same engine: the varlink crate keeps the one it is given private
    // (it only answers GetInterfaceDescription from it), and our dispatcher calls the other.
    let described = generated::new(Box::new(Service {
        engine: Arc::clone(&engine),
    }));
    let service = varlink::VarlinkService::new(
        VENDOR,
        PRODUCT,
        crate::VERSION,
        URL,
        vec![Box::new(described)],
    );
    let podman = generated::new(Box::new(Service {
        engine: Arc::clone(&engine),
    }));
    // Replies of thousands of entries skip the varlink crate's JSON tree (see
    // `Dispatcher::with_direct`).
    let direct = move |method: &str, out: &mut Vec<u8>| match method {
        "io.podman.ListContainers" => {
            super::handlers::containers::list_containers_reply(&engine, out);
            true
        }
        _ => false,
    };
    Dispatcher::new(service, Box::new(podman)).with_direct(Box::new(direct))
}
