//! The io.podman method table: one forwarding line per method of the interface.
//!
//! Each method either forwards to the handler in its resource module (`system`, and later
//! `containers`, `images`, `pods`), answers `MethodNotImplemented` for the methods the
//! contract itself leaves unimplemented, or answers `ErrorOccurred` naming a method whose
//! issue has not landed yet. Nothing here decides anything.

use super::generated::*;
use super::{Service, containers, error, images, system};
use crate::engine::container::checkpoint::CheckpointOptions;

impl VarlinkInterface for Service {
    /// io.podman.AttachToContainer: declared but not implemented by the contract.
    fn attach_to_container(&self, call: &mut dyn Call_AttachToContainer) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.AttachToContainer".into())
    }

    /// io.podman.BuildImage: not implemented yet; answers ErrorOccurred naming the method.
    fn build_image(
        &self,
        call: &mut dyn Call_BuildImage,
        _build: BuildInfo,
    ) -> varlink::Result<()> {
        error::pending(call, "BuildImage")
    }

    /// io.podman.Commit
    fn commit(
        &self,
        call: &mut dyn Call_Commit,
        name: String,
        image_name: String,
        changes: Vec<String>,
        author: String,
        message: String,
        pause: bool,
        _manifest_type: String,
    ) -> varlink::Result<()> {
        containers::commit(
            &self.engine,
            call,
            name,
            image_name,
            changes,
            author,
            message,
            pause,
        )
    }

    /// io.podman.ContainerArtifacts
    fn container_artifacts(
        &self,
        call: &mut dyn Call_ContainerArtifacts,
        name: String,
        artifact_name: String,
    ) -> varlink::Result<()> {
        containers::container_artifacts(&self.engine, call, name, artifact_name)
    }

    /// io.podman.ContainerCheckpoint
    fn container_checkpoint(
        &self,
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
        containers::container_checkpoint(&self.engine, call, name, options)
    }

    /// io.podman.ContainerConfig
    fn container_config(
        &self,
        call: &mut dyn Call_ContainerConfig,
        name: String,
    ) -> varlink::Result<()> {
        containers::container_config(&self.engine, call, name)
    }

    /// io.podman.ContainerExists
    fn container_exists(
        &self,
        call: &mut dyn Call_ContainerExists,
        name: String,
    ) -> varlink::Result<()> {
        containers::container_exists(&self.engine, call, name)
    }

    /// io.podman.ContainerInspectData
    fn container_inspect_data(
        &self,
        call: &mut dyn Call_ContainerInspectData,
        name: String,
    ) -> varlink::Result<()> {
        containers::container_inspect_data(&self.engine, call, name)
    }

    /// io.podman.ContainerRestore
    fn container_restore(
        &self,
        call: &mut dyn Call_ContainerRestore,
        name: String,
        keep: bool,
        tcp_established: bool,
    ) -> varlink::Result<()> {
        containers::container_restore(&self.engine, call, name, keep, tcp_established)
    }

    /// io.podman.ContainerRunlabel
    fn container_runlabel(
        &self,
        call: &mut dyn Call_ContainerRunlabel,
        runlabel: Runlabel,
    ) -> varlink::Result<()> {
        containers::container_runlabel(&self.engine, call, runlabel)
    }

    /// io.podman.ContainerStateData
    fn container_state_data(
        &self,
        call: &mut dyn Call_ContainerStateData,
        name: String,
    ) -> varlink::Result<()> {
        containers::container_state_data(&self.engine, call, name)
    }

    /// io.podman.CreateContainer
    fn create_container(
        &self,
        call: &mut dyn Call_CreateContainer,
        create: Create,
    ) -> varlink::Result<()> {
        containers::create_container(&self.engine, call, create)
    }

    /// io.podman.CreateImage: declared but not implemented by the contract.
    fn create_image(&self, call: &mut dyn Call_CreateImage) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.CreateImage".into())
    }

    /// io.podman.CreatePod: not implemented yet; answers ErrorOccurred naming the method.
    fn create_pod(&self, call: &mut dyn Call_CreatePod, _create: PodCreate) -> varlink::Result<()> {
        error::pending(call, "CreatePod")
    }

    /// io.podman.DeleteStoppedContainers
    fn delete_stopped_containers(
        &self,
        call: &mut dyn Call_DeleteStoppedContainers,
    ) -> varlink::Result<()> {
        containers::delete_stopped_containers(&self.engine, call)
    }

    /// io.podman.DeleteUnusedImages
    fn delete_unused_images(&self, call: &mut dyn Call_DeleteUnusedImages) -> varlink::Result<()> {
        images::delete_unused_images(&self.engine, call)
    }

    /// io.podman.ExportContainer
    fn export_container(
        &self,
        call: &mut dyn Call_ExportContainer,
        name: String,
        path: String,
    ) -> varlink::Result<()> {
        containers::export_container(&self.engine, call, name, path)
    }

    /// io.podman.ExportImage
    fn export_image(
        &self,
        call: &mut dyn Call_ExportImage,
        name: String,
        destination: String,
        compress: bool,
        tags: Vec<String>,
    ) -> varlink::Result<()> {
        images::export_image(&self.engine, call, name, destination, compress, tags)
    }

    /// io.podman.GenerateKube: declared but not implemented by the contract.
    fn generate_kube(&self, call: &mut dyn Call_GenerateKube) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.GenerateKube".into())
    }

    /// io.podman.GenerateKubeService: declared but not implemented by the contract.
    fn generate_kube_service(
        &self,
        call: &mut dyn Call_GenerateKubeService,
    ) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.GenerateKubeService".into())
    }

    /// io.podman.GetAttachSockets
    fn get_attach_sockets(
        &self,
        call: &mut dyn Call_GetAttachSockets,
        name: String,
    ) -> varlink::Result<()> {
        containers::get_attach_sockets(&self.engine, call, name)
    }

    /// io.podman.GetContainer
    fn get_container(&self, call: &mut dyn Call_GetContainer, name: String) -> varlink::Result<()> {
        containers::get_container(&self.engine, call, name)
    }

    /// io.podman.GetContainerLogs
    fn get_container_logs(
        &self,
        call: &mut dyn Call_GetContainerLogs,
        name: String,
    ) -> varlink::Result<()> {
        containers::get_container_logs(&self.engine, call, name)
    }

    /// io.podman.GetContainerStats
    fn get_container_stats(
        &self,
        call: &mut dyn Call_GetContainerStats,
        name: String,
    ) -> varlink::Result<()> {
        containers::get_container_stats(&self.engine, call, name)
    }

    /// io.podman.GetImage
    fn get_image(&self, call: &mut dyn Call_GetImage, name: String) -> varlink::Result<()> {
        images::get_image(&self.engine, call, name)
    }

    /// io.podman.GetInfo
    fn get_info(&self, call: &mut dyn Call_GetInfo) -> varlink::Result<()> {
        system::get_info(&self.engine, call)
    }

    /// io.podman.GetPod: not implemented yet; answers ErrorOccurred naming the method.
    fn get_pod(&self, call: &mut dyn Call_GetPod, _name: String) -> varlink::Result<()> {
        error::pending(call, "GetPod")
    }

    /// io.podman.GetPodStats: not implemented yet; answers ErrorOccurred naming the method.
    fn get_pod_stats(&self, call: &mut dyn Call_GetPodStats, _name: String) -> varlink::Result<()> {
        error::pending(call, "GetPodStats")
    }

    /// io.podman.GetVersion
    fn get_version(&self, call: &mut dyn Call_GetVersion) -> varlink::Result<()> {
        system::get_version(&self.engine, call)
    }

    /// io.podman.HistoryImage
    fn history_image(&self, call: &mut dyn Call_HistoryImage, name: String) -> varlink::Result<()> {
        images::history_image(&self.engine, call, name)
    }

    /// io.podman.ImageExists
    fn image_exists(&self, call: &mut dyn Call_ImageExists, name: String) -> varlink::Result<()> {
        images::image_exists(&self.engine, call, name)
    }

    /// io.podman.ImagesPrune
    fn images_prune(&self, call: &mut dyn Call_ImagesPrune, all: bool) -> varlink::Result<()> {
        images::images_prune(&self.engine, call, all)
    }

    /// io.podman.ImportImage
    fn import_image(
        &self,
        call: &mut dyn Call_ImportImage,
        source: String,
        reference: String,
        message: String,
        changes: Vec<String>,
    ) -> varlink::Result<()> {
        images::import_image(&self.engine, call, source, reference, message, changes)
    }

    /// io.podman.InspectContainer
    fn inspect_container(
        &self,
        call: &mut dyn Call_InspectContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::inspect_container(&self.engine, call, name)
    }

    /// io.podman.InspectImage
    fn inspect_image(&self, call: &mut dyn Call_InspectImage, name: String) -> varlink::Result<()> {
        images::inspect_image(&self.engine, call, name)
    }

    /// io.podman.InspectPod: not implemented yet; answers ErrorOccurred naming the method.
    fn inspect_pod(&self, call: &mut dyn Call_InspectPod, _name: String) -> varlink::Result<()> {
        error::pending(call, "InspectPod")
    }

    /// io.podman.KillContainer
    fn kill_container(
        &self,
        call: &mut dyn Call_KillContainer,
        name: String,
        signal: i64,
    ) -> varlink::Result<()> {
        containers::kill_container(&self.engine, call, name, signal)
    }

    /// io.podman.KillPod: not implemented yet; answers ErrorOccurred naming the method.
    fn kill_pod(
        &self,
        call: &mut dyn Call_KillPod,
        _name: String,
        _signal: i64,
    ) -> varlink::Result<()> {
        error::pending(call, "KillPod")
    }

    /// io.podman.ListContainerChanges
    fn list_container_changes(
        &self,
        call: &mut dyn Call_ListContainerChanges,
        name: String,
    ) -> varlink::Result<()> {
        containers::list_container_changes(&self.engine, call, name)
    }

    /// io.podman.ListContainerMounts
    fn list_container_mounts(
        &self,
        call: &mut dyn Call_ListContainerMounts,
    ) -> varlink::Result<()> {
        containers::list_container_mounts(&self.engine, call)
    }

    /// io.podman.ListContainerPorts: declared but not implemented by the contract.
    fn list_container_ports(
        &self,
        call: &mut dyn Call_ListContainerPorts,
        _name: String,
    ) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.ListContainerPorts".into())
    }

    /// io.podman.ListContainerProcesses
    fn list_container_processes(
        &self,
        call: &mut dyn Call_ListContainerProcesses,
        name: String,
        opts: Vec<String>,
    ) -> varlink::Result<()> {
        containers::list_container_processes(&self.engine, call, name, opts)
    }

    /// io.podman.ListContainers
    fn list_containers(&self, call: &mut dyn Call_ListContainers) -> varlink::Result<()> {
        containers::list_containers(&self.engine, call)
    }

    /// io.podman.ListImages
    fn list_images(&self, call: &mut dyn Call_ListImages) -> varlink::Result<()> {
        images::list_images(&self.engine, call)
    }

    /// io.podman.ListPods: not implemented yet; answers ErrorOccurred naming the method.
    fn list_pods(&self, call: &mut dyn Call_ListPods) -> varlink::Result<()> {
        error::pending(call, "ListPods")
    }

    /// io.podman.MountContainer
    fn mount_container(
        &self,
        call: &mut dyn Call_MountContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::mount_container(&self.engine, call, name)
    }

    /// io.podman.PauseContainer
    fn pause_container(
        &self,
        call: &mut dyn Call_PauseContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::pause_container(&self.engine, call, name)
    }

    /// io.podman.PausePod: not implemented yet; answers ErrorOccurred naming the method.
    fn pause_pod(&self, call: &mut dyn Call_PausePod, _name: String) -> varlink::Result<()> {
        error::pending(call, "PausePod")
    }

    /// io.podman.Ping
    fn ping(&self, call: &mut dyn Call_Ping) -> varlink::Result<()> {
        system::ping(&self.engine, call)
    }

    /// io.podman.PullImage: not implemented yet; answers ErrorOccurred naming the method.
    fn pull_image(
        &self,
        call: &mut dyn Call_PullImage,
        _name: String,
        _cert_dir: String,
        _creds: String,
        _signature_policy: String,
        _tls_verify: bool,
    ) -> varlink::Result<()> {
        error::pending(call, "PullImage")
    }

    /// io.podman.PushImage: not implemented yet; answers ErrorOccurred naming the method.
    fn push_image(
        &self,
        call: &mut dyn Call_PushImage,
        _name: String,
        _tag: String,
        _tlsverify: bool,
        _signature_policy: String,
        _creds: String,
        _cert_dir: String,
        _compress: bool,
        _format: String,
        _remove_signatures: bool,
        _sign_by: String,
    ) -> varlink::Result<()> {
        error::pending(call, "PushImage")
    }

    /// io.podman.RemoveContainer
    fn remove_container(
        &self,
        call: &mut dyn Call_RemoveContainer,
        name: String,
        force: bool,
    ) -> varlink::Result<()> {
        containers::remove_container(&self.engine, call, name, force)
    }

    /// io.podman.RemoveImage
    fn remove_image(
        &self,
        call: &mut dyn Call_RemoveImage,
        name: String,
        force: bool,
    ) -> varlink::Result<()> {
        images::remove_image(&self.engine, call, name, force)
    }

    /// io.podman.RemovePod: not implemented yet; answers ErrorOccurred naming the method.
    fn remove_pod(
        &self,
        call: &mut dyn Call_RemovePod,
        _name: String,
        _force: bool,
    ) -> varlink::Result<()> {
        error::pending(call, "RemovePod")
    }

    /// io.podman.RenameContainer: declared but not implemented by the contract.
    fn rename_container(&self, call: &mut dyn Call_RenameContainer) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.RenameContainer".into())
    }

    /// io.podman.ReplayKube: declared but not implemented by the contract.
    fn replay_kube(&self, call: &mut dyn Call_ReplayKube) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.ReplayKube".into())
    }

    /// io.podman.ResizeContainerTty: declared but not implemented by the contract.
    fn resize_container_tty(&self, call: &mut dyn Call_ResizeContainerTty) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.ResizeContainerTty".into())
    }

    /// io.podman.RestartContainer
    fn restart_container(
        &self,
        call: &mut dyn Call_RestartContainer,
        name: String,
        timeout: i64,
    ) -> varlink::Result<()> {
        containers::restart_container(&self.engine, call, name, timeout)
    }

    /// io.podman.RestartPod: not implemented yet; answers ErrorOccurred naming the method.
    fn restart_pod(&self, call: &mut dyn Call_RestartPod, _name: String) -> varlink::Result<()> {
        error::pending(call, "RestartPod")
    }

    /// io.podman.SearchImage: not implemented yet; answers ErrorOccurred naming the method.
    fn search_image(
        &self,
        call: &mut dyn Call_SearchImage,
        _name: String,
        _limit: i64,
    ) -> varlink::Result<()> {
        error::pending(call, "SearchImage")
    }

    /// io.podman.StartContainer
    fn start_container(
        &self,
        call: &mut dyn Call_StartContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::start_container(&self.engine, call, name)
    }

    /// io.podman.StartPod: not implemented yet; answers ErrorOccurred naming the method.
    fn start_pod(&self, call: &mut dyn Call_StartPod, _name: String) -> varlink::Result<()> {
        error::pending(call, "StartPod")
    }

    /// io.podman.StopContainer
    fn stop_container(
        &self,
        call: &mut dyn Call_StopContainer,
        name: String,
        timeout: i64,
    ) -> varlink::Result<()> {
        containers::stop_container(&self.engine, call, name, timeout)
    }

    /// io.podman.StopPod: not implemented yet; answers ErrorOccurred naming the method.
    fn stop_pod(
        &self,
        call: &mut dyn Call_StopPod,
        _name: String,
        _timeout: i64,
    ) -> varlink::Result<()> {
        error::pending(call, "StopPod")
    }

    /// io.podman.TagImage
    fn tag_image(
        &self,
        call: &mut dyn Call_TagImage,
        name: String,
        tagged: String,
    ) -> varlink::Result<()> {
        images::tag_image(&self.engine, call, name, tagged)
    }

    /// io.podman.TopPod: declared but not implemented by the contract.
    fn top_pod(&self, call: &mut dyn Call_TopPod) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.TopPod".into())
    }

    /// io.podman.UnmountContainer
    fn unmount_container(
        &self,
        call: &mut dyn Call_UnmountContainer,
        name: String,
        force: bool,
    ) -> varlink::Result<()> {
        containers::unmount_container(&self.engine, call, name, force)
    }

    /// io.podman.UnpauseContainer
    fn unpause_container(
        &self,
        call: &mut dyn Call_UnpauseContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::unpause_container(&self.engine, call, name)
    }

    /// io.podman.UnpausePod: not implemented yet; answers ErrorOccurred naming the method.
    fn unpause_pod(&self, call: &mut dyn Call_UnpausePod, _name: String) -> varlink::Result<()> {
        error::pending(call, "UnpausePod")
    }

    /// io.podman.UpdateContainer: declared but not implemented by the contract.
    fn update_container(&self, call: &mut dyn Call_UpdateContainer) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.UpdateContainer".into())
    }

    /// io.podman.WaitContainer
    fn wait_container(
        &self,
        call: &mut dyn Call_WaitContainer,
        name: String,
    ) -> varlink::Result<()> {
        containers::wait_container(&self.engine, call, name)
    }

    /// io.podman.WaitPod: declared but not implemented by the contract.
    fn wait_pod(&self, call: &mut dyn Call_WaitPod) -> varlink::Result<()> {
        call.reply_method_not_implemented("io.podman.WaitPod".into())
    }
}
