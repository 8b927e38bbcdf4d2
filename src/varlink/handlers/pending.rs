//! The io.podman methods podlink answers without the engine, each with the error it answers
//! today. Every method here goes when it is implemented (its handler moves to the file of its
//! area), so this file is the list of what is missing.
//!
//! - Declared by the contract but not implemented by it (Podman's own server answered
//!   `MethodNotImplemented`), answered the same: AttachToContainer, CreateImage, GenerateKube,
//!   GenerateKubeService, ListContainerPorts, RenameContainer, ReplayKube, ResizeContainerTty,
//!   TopPod, UpdateContainer, WaitPod.
//! - Not implemented by podlink yet: none (every method of the contract that Podman's own
//!   server implemented is).
//!
//! Arguments keep their IDL names, `_`-prefixed: nothing reads them.

use crate::engine::Engine;
use crate::varlink::generated::*;

// Declared but not implemented by the contract.

/// io.podman.AttachToContainer: declared but not implemented by the contract.
pub fn attach_to_container(
    _engine: &Engine,
    call: &mut dyn Call_AttachToContainer,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.AttachToContainer".into())
}

/// io.podman.CreateImage: declared but not implemented by the contract.
pub fn create_image(_engine: &Engine, call: &mut dyn Call_CreateImage) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.CreateImage".into())
}

/// io.podman.GenerateKube: declared but not implemented by the contract.
pub fn generate_kube(_engine: &Engine, call: &mut dyn Call_GenerateKube) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.GenerateKube".into())
}

/// io.podman.GenerateKubeService: declared but not implemented by the contract.
pub fn generate_kube_service(
    _engine: &Engine,
    call: &mut dyn Call_GenerateKubeService,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.GenerateKubeService".into())
}

/// io.podman.ListContainerPorts: declared but not implemented by the contract.
pub fn list_container_ports(
    _engine: &Engine,
    call: &mut dyn Call_ListContainerPorts,
    _name: String,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.ListContainerPorts".into())
}

/// io.podman.RenameContainer: declared but not implemented by the contract.
pub fn rename_container(
    _engine: &Engine,
    call: &mut dyn Call_RenameContainer,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.RenameContainer".into())
}

/// io.podman.ReplayKube: declared but not implemented by the contract.
pub fn replay_kube(_engine: &Engine, call: &mut dyn Call_ReplayKube) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.ReplayKube".into())
}

/// io.podman.ResizeContainerTty: declared but not implemented by the contract.
pub fn resize_container_tty(
    _engine: &Engine,
    call: &mut dyn Call_ResizeContainerTty,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.ResizeContainerTty".into())
}

/// io.podman.TopPod: declared but not implemented by the contract.
pub fn top_pod(_engine: &Engine, call: &mut dyn Call_TopPod) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.TopPod".into())
}

/// io.podman.UpdateContainer: declared but not implemented by the contract.
pub fn update_container(
    _engine: &Engine,
    call: &mut dyn Call_UpdateContainer,
) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.UpdateContainer".into())
}

/// io.podman.WaitPod: declared but not implemented by the contract.
pub fn wait_pod(_engine: &Engine, call: &mut dyn Call_WaitPod) -> varlink::Result<()> {
    call.reply_method_not_implemented("io.podman.WaitPod".into())
}
