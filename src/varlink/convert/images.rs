//! Image views → wire structs (`ListImages`, `GetImage`, `HistoryImage`).

use crate::varlink::generated as wire;

/// `ListImages` / `GetImage` entry.
pub fn image(image: crate::engine::image::ImageSummary) -> wire::ImageInList {
    wire::ImageInList {
        id: image.id,
        parentId: String::new(),
        repoTags: image.repo_tags,
        repoDigests: image.repo_digests,
        created: image.created,
        size: image.size,
        virtualSize: image.size,
        containers: image.containers,
        labels: image.labels,
        isParent: false,
    }
}

/// `HistoryImage` entry.
pub fn history(entry: crate::engine::image::HistoryEntry) -> wire::ImageHistory {
    wire::ImageHistory {
        id: entry.id,
        created: entry.created,
        createdBy: entry.created_by,
        tags: entry.tags,
        size: entry.size,
        comment: entry.comment,
    }
}

/// `BuildImage`'s arguments → the engine's build options (the RUN containers' resource and
/// security fields among them).
pub fn build_options(
    b: wire::BuildInfo,
) -> Result<crate::engine::build::BuildOptions, crate::engine::Error> {
    use crate::engine::container::create::options::{CreateOptions, ResourceOptions};
    use crate::engine::container::create::parse_size;
    let size = |field: &'static str, text: &str| -> Result<i64, crate::engine::Error> {
        if text.trim().is_empty() {
            return Ok(0);
        }
        parse_size(text)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| crate::engine::Error::invalid(field, format!("bad size {text:?}")))
    };
    let format = match b.image_format.as_str() {
        "" | "oci" => false,
        "docker" => true,
        other => {
            return Err(crate::engine::Error::invalid(
                "build.image_format",
                format!("unknown image format {other:?} (oci or docker)"),
            ));
        }
    };
    let run = CreateOptions {
        host_add: b.add_hosts,
        cgroup_parent: b.cgroup_parent,
        security_opts: b.security_opts,
        volumes: b.volume,
        resources: ResourceOptions {
            cpu_period: b.cpu_period,
            cpu_quota: b.cpu_quota,
            cpu_shares: b.cpu_shares,
            cpuset_cpus: b.cpuset_cpus,
            cpuset_mems: b.cpuset_mems,
            memory: size("build.memory", &b.memory)?,
            memory_swap: size("build.memory_swap", &b.memory_swap)?,
            shm_size: size("build.shm_size", &b.shm_size)?,
            ulimit: b.ulimit,
            ..ResourceOptions::default()
        },
        ..CreateOptions::default()
    };
    Ok(crate::engine::build::BuildOptions {
        dockerfiles: b.dockerfile.into_iter().map(Into::into).collect(),
        tags: b.tags,
        build_args: b.build_args.into_iter().collect(),
        labels: b.label,
        annotations: b.annotations,
        pull: b.pull,
        pull_always: b.pull_always,
        rm: b.rm,
        force_rm: b.force_rm,
        squash: b.squash,
        docker_format: format,
        run,
    })
}
