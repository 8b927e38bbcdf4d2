//! The io.podman methods podlink answers without the engine, each with the error it answers
//! today. Every method here goes when it is implemented (its handler moves to the file of its
//! area), so this file is the list of what is missing.
//!
//! - Declared by the contract but not implemented by it (Podman's own server answered
//!   `MethodNotImplemented`), answered the same: AttachToContainer, CreateImage, GenerateKube,
//!   GenerateKubeService, ListContainerPorts, RenameContainer, ReplayKube, ResizeContainerTty,
//!   TopPod, UpdateContainer, WaitPod.
//! - Not implemented by podlink yet (pods, registries, builds: their issues have not landed):
//!   `ErrorOccurred` naming the method: CreatePod, GetPod, GetPodStats, InspectPod,
//!   KillPod, ListPods, PausePod, RemovePod, RestartPod, StartPod, StopPod, UnpausePod.
//!
//! Arguments keep their IDL names, `_`-prefixed: nothing reads them.

use crate::engine::Engine;
use crate::varlink::error;
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

// Not implemented by podlink yet.

/// io.podman.CreatePod: not implemented yet; answers ErrorOccurred naming the method.
pub fn create_pod(
    _engine: &Engine,
    call: &mut dyn Call_CreatePod,
    _create: PodCreate,
) -> varlink::Result<()> {
    error::pending(call, "CreatePod")
}

/// io.podman.GetPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn get_pod(_engine: &Engine, call: &mut dyn Call_GetPod, _name: String) -> varlink::Result<()> {
    error::pending(call, "GetPod")
}

/// io.podman.GetPodStats: not implemented yet; answers ErrorOccurred naming the method.
pub fn get_pod_stats(
    _engine: &Engine,
    call: &mut dyn Call_GetPodStats,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "GetPodStats")
}

/// io.podman.InspectPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn inspect_pod(
    _engine: &Engine,
    call: &mut dyn Call_InspectPod,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "InspectPod")
}

/// io.podman.KillPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn kill_pod(
    _engine: &Engine,
    call: &mut dyn Call_KillPod,
    _name: String,
    _signal: i64,
) -> varlink::Result<()> {
    error::pending(call, "KillPod")
}

/// io.podman.ListPods: not implemented yet; answers ErrorOccurred naming the method.
pub fn list_pods(_engine: &Engine, call: &mut dyn Call_ListPods) -> varlink::Result<()> {
    error::pending(call, "ListPods")
}

/// io.podman.PausePod: not implemented yet; answers ErrorOccurred naming the method.
pub fn pause_pod(
    _engine: &Engine,
    call: &mut dyn Call_PausePod,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "PausePod")
}

/// io.podman.RemovePod: not implemented yet; answers ErrorOccurred naming the method.
pub fn remove_pod(
    _engine: &Engine,
    call: &mut dyn Call_RemovePod,
    _name: String,
    _force: bool,
) -> varlink::Result<()> {
    error::pending(call, "RemovePod")
}

/// io.podman.RestartPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn restart_pod(
    _engine: &Engine,
    call: &mut dyn Call_RestartPod,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "RestartPod")
}

/// io.podman.StartPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn start_pod(
    _engine: &Engine,
    call: &mut dyn Call_StartPod,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "StartPod")
}

/// io.podman.StopPod: not implemented yet; answers ErrorOccurred naming the method.
pub fn stop_pod(
    _engine: &Engine,
    call: &mut dyn Call_StopPod,
    _name: String,
    _timeout: i64,
) -> varlink::Result<()> {
    error::pending(call, "StopPod")
}

/// io.podman.UnpausePod: not implemented yet; answers ErrorOccurred naming the method.
pub fn unpause_pod(
    _engine: &Engine,
    call: &mut dyn Call_UnpausePod,
    _name: String,
) -> varlink::Result<()> {
    error::pending(call, "UnpausePod")
}
