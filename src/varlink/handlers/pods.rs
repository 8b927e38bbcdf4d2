//! The pod methods (io.podman's `*Pod*`). WaitPod and TopPod are the contract's
//! `MethodNotImplemented` (see `pending`).

use crate::engine::Engine;
use crate::varlink::convert::containers::container_stats;
use crate::varlink::convert::pods as convert;
use crate::varlink::error;
use crate::varlink::generated::*;

/// io.podman.CreatePod
pub fn create_pod(
    engine: &Engine,
    call: &mut dyn Call_CreatePod,
    create: PodCreate,
) -> varlink::Result<()> {
    match engine
        .pods()
        .create_pod(convert::pod_create_options(create))
    {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "CreatePod", e),
    }
}

/// io.podman.ListPods
pub fn list_pods(engine: &Engine, call: &mut dyn Call_ListPods) -> varlink::Result<()> {
    call.reply(
        engine
            .pods()
            .list_pods()
            .into_iter()
            .map(convert::pod)
            .collect(),
    )
}

/// io.podman.GetPod
pub fn get_pod(engine: &Engine, call: &mut dyn Call_GetPod, name: String) -> varlink::Result<()> {
    match engine.pods().get_pod(&name) {
        Ok(p) => call.reply(convert::pod(p)),
        Err(e) => error::reply(call, "GetPod", e),
    }
}

/// io.podman.InspectPod: the `podman pod inspect` document as a JSON string.
pub fn inspect_pod(
    engine: &Engine,
    call: &mut dyn Call_InspectPod,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().inspect_pod(&name) {
        Ok(doc) => call.reply(doc.to_string()),
        Err(e) => error::reply(call, "InspectPod", e),
    }
}

/// io.podman.StartPod
pub fn start_pod(
    engine: &Engine,
    call: &mut dyn Call_StartPod,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().start_pod(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "StartPod", e),
    }
}

/// io.podman.StopPod: older clients send no `timeout`, which reads as 0 (kill at once, as
/// Podman 1.x did with 0).
pub fn stop_pod(
    engine: &Engine,
    call: &mut dyn Call_StopPod,
    name: String,
    timeout: i64,
) -> varlink::Result<()> {
    match engine.pods().stop_pod(&name, timeout) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "StopPod", e),
    }
}

/// io.podman.RestartPod
pub fn restart_pod(
    engine: &Engine,
    call: &mut dyn Call_RestartPod,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().restart_pod(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RestartPod", e),
    }
}

/// io.podman.KillPod: -1 (and 0) send SIGTERM.
pub fn kill_pod(
    engine: &Engine,
    call: &mut dyn Call_KillPod,
    name: String,
    signal: i64,
) -> varlink::Result<()> {
    match engine.pods().kill_pod(&name, signal) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "KillPod", e),
    }
}

/// io.podman.PausePod
pub fn pause_pod(
    engine: &Engine,
    call: &mut dyn Call_PausePod,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().pause_pod(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "PausePod", e),
    }
}

/// io.podman.UnpausePod
pub fn unpause_pod(
    engine: &Engine,
    call: &mut dyn Call_UnpausePod,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().unpause_pod(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "UnpausePod", e),
    }
}

/// io.podman.RemovePod
pub fn remove_pod(
    engine: &Engine,
    call: &mut dyn Call_RemovePod,
    name: String,
    force: bool,
) -> varlink::Result<()> {
    match engine.pods().remove_pod(&name, force) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RemovePod", e),
    }
}

/// io.podman.GetPodStats
pub fn get_pod_stats(
    engine: &Engine,
    call: &mut dyn Call_GetPodStats,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().get_pod_stats(&name) {
        Ok((id, stats)) => call.reply(id, stats.into_iter().map(container_stats).collect()),
        Err(e) => error::reply(call, "GetPodStats", e),
    }
}
