//! `GetVersion` and `GetInfo`: engine host facts → wire structs.

use std::time::Duration;

use crate::engine::system::{SystemInfo, VersionInfo};
use crate::varlink::generated as wire;

/// The interface revision: 1 for the io.podman varlink API.
const REMOTE_API_VERSION: i64 = 1;

/// `GetVersion`'s reply.
pub fn version(v: VersionInfo) -> wire::Version {
    wire::Version {
        version: v.version,
        go_version: v.compiler,
        git_commit: v.git_commit,
        built: v.built,
        os_arch: v.os_arch,
        remote_api_version: REMOTE_API_VERSION,
    }
}

/// `GetInfo`'s reply.
pub fn info(info: SystemInfo, version: VersionInfo) -> wire::PodmanInfo {
    let SystemInfo {
        host,
        store,
        registries,
        insecure_registries,
    } = info;
    wire::PodmanInfo {
        host: wire::InfoHost {
            buildah_version: String::new(),
            distribution: wire::InfoDistribution {
                distribution: host.distribution,
                version: host.distribution_version,
            },
            mem_free: host.mem_free,
            mem_total: host.mem_total,
            swap_free: host.swap_free,
            swap_total: host.swap_total,
            arch: host.arch,
            cpus: host.cpus,
            hostname: host.hostname,
            kernel: host.kernel,
            os: host.os,
            uptime: uptime(host.uptime),
            oci_runtime: host.oci_runtime.map(|r| wire::InfoOCIRuntime {
                name: r.name,
                path: r.path,
                version: r.version,
            }),
        },
        registries,
        insecure_registries,
        store: wire::InfoStore {
            containers: store.containers,
            images: store.images,
            graph_driver_name: store.driver,
            graph_driver_options: String::new(),
            graph_root: store.graph_root,
            graph_status: wire::InfoGraphStatus {
                backing_filesystem: store.backing_filesystem,
                native_overlay_diff: store.native_overlay_diff.to_string(),
                supports_d_type: store.supports_d_type.to_string(),
            },
            run_root: store.run_root,
        },
        podman: wire::InfoPodmanBinary {
            compiler: version.compiler.clone(),
            go_version: version.compiler,
            podman_version: version.version,
            git_commit: version.git_commit,
        },
    }
}

/// Uptime as Podman printed it: `1h 2m 3.45s (Approximately 0.04 days)`.
fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = (secs % 60) as f64 + f64::from(d.subsec_millis()) / 1000.0;
    let days = d.as_secs_f64() / 86400.0;
    format!("{h}h {m}m {s:.2}s (Approximately {days:.2} days)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_podman() {
        assert_eq!(
            uptime(Duration::from_millis(3_723_450)),
            "1h 2m 3.45s (Approximately 0.04 days)"
        );
        assert_eq!(
            uptime(Duration::ZERO),
            "0h 0m 0.00s (Approximately 0.00 days)"
        );
    }
}
