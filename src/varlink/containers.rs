//! The container methods.

use super::convert;
use super::error;
use super::generated::*;
use crate::engine::Engine;

/// io.podman.ListContainers
pub fn list_containers(engine: &Engine, call: &mut dyn Call_ListContainers) -> varlink::Result<()> {
    call.reply(
        engine
            .list_containers()
            .into_iter()
            .map(convert::container)
            .collect(),
    )
}

/// io.podman.GetContainer
pub fn get_container(
    engine: &Engine,
    call: &mut dyn Call_GetContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.get_container(&name) {
        Ok(c) => call.reply(convert::container(c)),
        Err(e) => error::reply(call, "GetContainer", e),
    }
}

/// io.podman.CreateContainer: a field podlink cannot honour yet is refused by name. As
/// later revisions did, an empty `image` with `args` takes the image from `args[0]`.
pub fn create_container(
    engine: &Engine,
    call: &mut dyn Call_CreateContainer,
    create: Create,
) -> varlink::Result<()> {
    match convert::create_options(create).and_then(|o| engine.create_container(o)) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "CreateContainer", e),
    }
}

/// io.podman.InspectContainer: the `podman inspect` document as a JSON string.
pub fn inspect_container(
    engine: &Engine,
    call: &mut dyn Call_InspectContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.inspect_container(&name) {
        Ok(data) => call.reply(data.to_string()),
        Err(e) => error::reply(call, "InspectContainer", e),
    }
}

/// io.podman.GetContainerLogs: every line of the log, as the monitor wrote it.
pub fn get_container_logs(
    engine: &Engine,
    call: &mut dyn Call_GetContainerLogs,
    name: String,
) -> varlink::Result<()> {
    match engine.container_logs(&name) {
        Ok(lines) => call.reply(lines),
        Err(e) => error::reply(call, "GetContainerLogs", e),
    }
}

/// io.podman.StartContainer
pub fn start_container(
    engine: &Engine,
    call: &mut dyn Call_StartContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.start_container(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "StartContainer", e),
    }
}

/// io.podman.StopContainer
pub fn stop_container(
    engine: &Engine,
    call: &mut dyn Call_StopContainer,
    name: String,
    timeout: i64,
) -> varlink::Result<()> {
    match engine.stop_container(&name, timeout) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "StopContainer", e),
    }
}

/// io.podman.RestartContainer
pub fn restart_container(
    engine: &Engine,
    call: &mut dyn Call_RestartContainer,
    name: String,
    timeout: i64,
) -> varlink::Result<()> {
    match engine.restart_container(&name, timeout) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RestartContainer", e),
    }
}

/// io.podman.KillContainer
pub fn kill_container(
    engine: &Engine,
    call: &mut dyn Call_KillContainer,
    name: String,
    signal: i64,
) -> varlink::Result<()> {
    let signal = i32::try_from(signal).unwrap_or(-1);
    match engine.kill_container(&name, signal) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "KillContainer", e),
    }
}

/// io.podman.WaitContainer: blocks this connection only.
pub fn wait_container(
    engine: &Engine,
    call: &mut dyn Call_WaitContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.wait_container(&name) {
        Ok(code) => call.reply(code.into()),
        Err(e) => error::reply(call, "WaitContainer", e),
    }
}

/// io.podman.RemoveContainer
pub fn remove_container(
    engine: &Engine,
    call: &mut dyn Call_RemoveContainer,
    name: String,
    force: bool,
) -> varlink::Result<()> {
    match engine.remove_container(&name, force) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RemoveContainer", e),
    }
}

/// io.podman.DeleteStoppedContainers
pub fn delete_stopped_containers(
    engine: &Engine,
    call: &mut dyn Call_DeleteStoppedContainers,
) -> varlink::Result<()> {
    match engine.delete_stopped_containers() {
        Ok(ids) => call.reply(ids),
        Err(e) => error::reply(call, "DeleteStoppedContainers", e),
    }
}

/// io.podman.ContainerExists: 0 when it exists, 1 when it does not.
pub fn container_exists(
    engine: &Engine,
    call: &mut dyn Call_ContainerExists,
    name: String,
) -> varlink::Result<()> {
    call.reply(if engine.container_exists(&name) { 0 } else { 1 })
}
