//! The container methods (io.podman's `*Container*`, `Commit`, `GetAttachSockets`, ...).

use crate::engine::Engine;
use crate::engine::caller::Caller;
use crate::engine::container::checkpoint::CheckpointOptions;
use crate::varlink::caller::{self, Client};
use crate::varlink::convert::containers as convert;
use crate::varlink::error;
use crate::varlink::generated::*;

/// io.podman.ListContainers. The dispatcher answers it with [`list_containers_reply`]
/// instead (the same reply, serialized without the varlink crate's JSON tree); this one
/// serves the generated interface all the same.
pub fn list_containers(engine: &Engine, call: &mut dyn Call_ListContainers) -> varlink::Result<()> {
    call.reply(containers(engine))
}

/// Appends ListContainers' reply parameters as JSON to `out`, straight from the wire
/// structs (see `Dispatcher::with_direct`).
pub(crate) fn list_containers_reply(engine: &Engine, out: &mut Vec<u8>) {
    let reply = ListContainers_Reply {
        containers: containers(engine),
    };
    // About 500 bytes an entry: one allocation rather than a dozen doublings and copies.
    out.reserve(512 * reply.containers.len());
    serde_json::to_writer(out, &reply)
        .expect("wire structs have string keys and a Vec takes every byte: they serialize");
}

fn containers(engine: &Engine) -> Vec<ListContainerData> {
    engine
        .containers()
        .list_containers()
        .into_iter()
        .map(convert::container)
        .collect()
}

/// io.podman.GetContainer
pub fn get_container(
    engine: &Engine,
    call: &mut dyn Call_GetContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().get_container(&name) {
        Ok(c) => call.reply(convert::container(c)),
        Err(e) => error::reply(call, "GetContainer", e),
    }
}

/// io.podman.CreateContainer: a field podlink cannot honour is refused by name. As later
/// revisions did, an empty `image` with `args` takes the image from `args[0]`.
pub fn create_container(
    engine: &Engine,
    call: &mut dyn Call_CreateContainer,
    create: Create,
) -> varlink::Result<()> {
    match engine
        .pods()
        .create_container(convert::create_options(create))
    {
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
    match engine.containers().inspect_container(&name) {
        Ok(data) => call.reply(data.to_string()),
        Err(e) => error::reply(call, "InspectContainer", e),
    }
}

/// io.podman.GetContainerLogs: every line of the log, as the monitor wrote it (invalid
/// UTF-8 as U+FFFD). Called with `more`, the lines come in batches, new lines follow as they
/// are written, and a final empty reply ends the stream when the container exits; a client
/// that hangs up ends the call.
///
/// Without `more`, the one reply is written onto the connection a line at a time rather
/// than built in memory (the generated `reply` would hold the log several times over): the
/// log size limit bounds a log, but one written with no limit or by an older podlink can be
/// of any size, and memory stays bounded all the same.
pub fn get_container_logs(
    engine: &Engine,
    call: &mut dyn Call_GetContainerLogs,
    name: String,
) -> varlink::Result<()> {
    let client = Client::current();
    if !call.wants_more() {
        let lines = match engine.containers().get_container_logs(&name) {
            Ok(lines) => lines,
            Err(e) => return error::reply(call, "GetContainerLogs", e),
        };
        if call.is_oneway() {
            return Ok(());
        }
        let Ok(mut out) = client.writer() else {
            // No descriptor left to reach the connection with: the usual way, in memory.
            return match lines.collect() {
                Ok(lines) => call.reply(lines),
                Err(e) => error::reply(call, "GetContainerLogs", e),
            };
        };
        let written = caller::write_string_array_reply(&mut out, "container", lines, |e| {
            log::error!("GetContainerLogs {name}: {e}")
        });
        if let Err(e) = written {
            // The client is gone (or its connection broke): the connection ends with it.
            log::debug!("GetContainerLogs {name}: {e}");
        }
        return Ok(());
    }
    let mut failed = None;
    let result = engine
        .containers()
        .get_container_logs_follow(&name, &client, &mut |lines| {
            call.set_continues(true);
            match call.reply(lines) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        });
    if let Some(e) = failed {
        return Err(e);
    }
    if client.has_gone() {
        return Ok(());
    }
    call.set_continues(false);
    match result {
        Ok(()) => call.reply(Vec::new()),
        Err(e) => error::reply(call, "GetContainerLogs", e),
    }
}

/// io.podman.StartContainer
pub fn start_container(
    engine: &Engine,
    call: &mut dyn Call_StartContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.pods().start_container(&name) {
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
    match engine.containers().stop_container(&name, timeout) {
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
    match engine.pods().restart_container(&name, timeout) {
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
    match engine.containers().kill_container(&name, signal) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "KillContainer", e),
    }
}

/// io.podman.WaitContainer: blocks this connection only; a client that hangs up ends the
/// wait (with no reply: nobody is left to read it).
pub fn wait_container(
    engine: &Engine,
    call: &mut dyn Call_WaitContainer,
    name: String,
) -> varlink::Result<()> {
    match engine
        .containers()
        .wait_container(&name, &Client::current())
    {
        Ok(Some(code)) => call.reply(code.into()),
        Ok(None) => Ok(()),
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
    match engine.pods().remove_container(&name, force) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RemoveContainer", e),
    }
}

/// io.podman.DeleteStoppedContainers
pub fn delete_stopped_containers(
    engine: &Engine,
    call: &mut dyn Call_DeleteStoppedContainers,
) -> varlink::Result<()> {
    match engine.containers().delete_stopped_containers() {
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
    call.reply(if engine.containers().container_exists(&name) {
        0
    } else {
        1
    })
}

/// io.podman.PauseContainer
pub fn pause_container(
    engine: &Engine,
    call: &mut dyn Call_PauseContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().pause_container(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "PauseContainer", e),
    }
}

/// io.podman.UnpauseContainer
pub fn unpause_container(
    engine: &Engine,
    call: &mut dyn Call_UnpauseContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().unpause_container(&name) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "UnpauseContainer", e),
    }
}

/// io.podman.MountContainer
pub fn mount_container(
    engine: &Engine,
    call: &mut dyn Call_MountContainer,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().mount_container(&name) {
        Ok(path) => call.reply(path.display().to_string()),
        Err(e) => error::reply(call, "MountContainer", e),
    }
}

/// io.podman.ContainerCheckpoint: the runtime's checkpoint (CRIU); where CRIU cannot work,
/// an error quoting CRIU's reason, and the container runs on.
pub fn container_checkpoint(
    engine: &Engine,
    call: &mut dyn Call_ContainerCheckpoint,
    name: String,
    keep: bool,
    leave_running: bool,
    tcp_established: bool,
) -> varlink::Result<()> {
    let options = CheckpointOptions {
        keep,
        leave_running,
        tcp_established,
    };
    match engine.containers().container_checkpoint(&name, options) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "ContainerCheckpoint", e),
    }
}

/// io.podman.ContainerRestore: the runtime's restore (CRIU) of a checkpointed container.
pub fn container_restore(
    engine: &Engine,
    call: &mut dyn Call_ContainerRestore,
    name: String,
    keep: bool,
    tcp_established: bool,
) -> varlink::Result<()> {
    match engine
        .containers()
        .container_restore(&name, keep, tcp_established)
    {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "ContainerRestore", e),
    }
}

/// io.podman.UnmountContainer
pub fn unmount_container(
    engine: &Engine,
    call: &mut dyn Call_UnmountContainer,
    name: String,
    force: bool,
) -> varlink::Result<()> {
    match engine.containers().unmount_container(&name, force) {
        Ok(()) => call.reply(),
        Err(e) => error::reply(call, "UnmountContainer", e),
    }
}

/// io.podman.ListContainerMounts: container ID → mount point.
pub fn list_container_mounts(
    engine: &Engine,
    call: &mut dyn Call_ListContainerMounts,
) -> varlink::Result<()> {
    call.reply(
        engine
            .containers()
            .list_container_mounts()
            .into_iter()
            .collect(),
    )
}

/// io.podman.ListContainerChanges
pub fn list_container_changes(
    engine: &Engine,
    call: &mut dyn Call_ListContainerChanges,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().list_container_changes(&name) {
        Ok(c) => call.reply(ContainerChanges {
            changed: c.changed,
            added: c.added,
            deleted: c.deleted,
        }),
        Err(e) => error::reply(call, "ListContainerChanges", e),
    }
}

/// io.podman.ExportContainer: writes the tarball at `path` on the server.
pub fn export_container(
    engine: &Engine,
    call: &mut dyn Call_ExportContainer,
    name: String,
    path: String,
) -> varlink::Result<()> {
    match engine
        .containers()
        .export_container(&name, std::path::Path::new(&path))
    {
        Ok(path) => call.reply(path),
        Err(e) => error::reply(call, "ExportContainer", e),
    }
}

/// io.podman.Commit: `manifestType` is accepted; podlink writes OCI manifests.
#[allow(clippy::too_many_arguments)] // the generated trait's signature
pub fn commit(
    engine: &Engine,
    call: &mut dyn Call_Commit,
    name: String,
    image_name: String,
    changes: Vec<String>,
    author: String,
    message: String,
    pause: bool,
    _manifest_type: String,
) -> varlink::Result<()> {
    let options = crate::engine::image::commit::CommitOptions {
        image_name,
        changes,
        author,
        message,
        pause,
    };
    match engine.containers().commit(&name, options) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "Commit", e),
    }
}

/// io.podman.ContainerConfig: podlink's record of the container, as JSON.
pub fn container_config(
    engine: &Engine,
    call: &mut dyn Call_ContainerConfig,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().container_config(&name) {
        Ok(v) => call.reply(v.to_string()),
        Err(e) => error::reply(call, "ContainerConfig", e),
    }
}

/// io.podman.ContainerArtifacts: one file of the container's bundle or run directory.
pub fn container_artifacts(
    engine: &Engine,
    call: &mut dyn Call_ContainerArtifacts,
    name: String,
    artifact_name: String,
) -> varlink::Result<()> {
    match engine
        .containers()
        .container_artifacts(&name, &artifact_name)
    {
        Ok(v) => call.reply(v.to_string()),
        Err(e) => error::reply(call, "ContainerArtifacts", e),
    }
}

/// io.podman.ContainerInspectData: the inspect document, as JSON.
pub fn container_inspect_data(
    engine: &Engine,
    call: &mut dyn Call_ContainerInspectData,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().inspect_container(&name) {
        Ok(v) => call.reply(v.to_string()),
        Err(e) => error::reply(call, "ContainerInspectData", e),
    }
}

/// io.podman.ContainerStateData: the runtime state, as JSON.
pub fn container_state_data(
    engine: &Engine,
    call: &mut dyn Call_ContainerStateData,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().container_state_data(&name) {
        Ok(v) => call.reply(v.to_string()),
        Err(e) => error::reply(call, "ContainerStateData", e),
    }
}

/// io.podman.GetAttachSockets: a container never started (or exited) is initialized first,
/// so that the sockets exist; StartContainer then starts it.
pub fn get_attach_sockets(
    engine: &Engine,
    call: &mut dyn Call_GetAttachSockets,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().get_attach_sockets(&name) {
        Ok((id, io, control)) => call.reply(Sockets {
            container_id: id,
            io_socket: io.display().to_string(),
            control_socket: control.display().to_string(),
        }),
        Err(e) => error::reply(call, "GetAttachSockets", e),
    }
}

/// io.podman.ListContainerProcesses: `opts` are format descriptors (`pid`, `user`, `args`,
/// `%C`...), several per string allowed; the rows are tab-separated, header first.
pub fn list_container_processes(
    engine: &Engine,
    call: &mut dyn Call_ListContainerProcesses,
    name: String,
    opts: Vec<String>,
) -> varlink::Result<()> {
    match engine.containers().list_container_processes(&name, &opts) {
        Ok(rows) => call.reply(rows),
        Err(e) => error::reply(call, "ListContainerProcesses", e),
    }
}

/// io.podman.GetContainerStats: `cpu` is percent of one CPU since the previous call (see the
/// engine); `net_input` is what the container received, `net_output` what it sent.
pub fn get_container_stats(
    engine: &Engine,
    call: &mut dyn Call_GetContainerStats,
    name: String,
) -> varlink::Result<()> {
    match engine.containers().get_container_stats(&name) {
        Ok(s) => call.reply(convert::container_stats(s)),
        Err(e) => error::reply(call, "GetContainerStats", e),
    }
}

/// io.podman.ContainerRunlabel: runs the label's command on the server; the reply is empty.
pub fn container_runlabel(
    engine: &Engine,
    call: &mut dyn Call_ContainerRunlabel,
    runlabel: Runlabel,
) -> varlink::Result<()> {
    let tls_verify =
        crate::varlink::convert::registries::sent_bool(call, &["runlabel", "tlsVerify"]);
    let options = match convert::runlabel_options(runlabel, tls_verify) {
        Ok(options) => options,
        Err(e) => return error::reply(call, "ContainerRunlabel", e),
    };
    match engine.containers().container_runlabel(&options) {
        Ok(_) => call.reply(),
        Err(e) => error::reply(call, "ContainerRunlabel", e),
    }
}
