//! Cgroup limits, ulimits, sysctls and sizes.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::options::{ResourceOptions, invalid};
use crate::engine::error::Result;
use crate::engine::runtime::spec::input::{
    BlockDeviceLimit, NamespaceMode, Namespaces, Resources, Ulimit,
};

/// The process limit of a container whose Create leaves `pids_limit` out (Podman 2+'s).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;
/// /dev/shm's size when none is asked for (Podman's).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// A size such as `1024`, `64k`, `64m`, `1.5g`, `2GB` in bytes (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    if number < 0.0 {
        return None;
    }
    Some((number * multiplier as f64) as u64)
}

/// Sysctls that are namespaced, and so may be set per container, in a namespace the
/// container owns.
pub(super) fn sysctls(
    given: &BTreeMap<String, String>,
    ns: &Namespaces,
) -> Result<BTreeMap<String, String>> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for key in given.keys() {
        let (namespace, mode) = if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            ("ipc", &ns.ipc)
        } else if key.starts_with("net.") {
            ("net", &ns.net)
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            ("uts", &ns.uts)
        } else {
            return Err(invalid(
                "create.sys_ctl",
                format!("{key} is not a namespaced kernel parameter"),
            ));
        };
        if *mode != NamespaceMode::Private {
            return Err(invalid(
                "create.sys_ctl",
                format!("{key} needs a private {namespace} namespace"),
            ));
        }
    }
    Ok(given.clone())
}

/// `name=soft[:hard]` limits, no higher than this process's own hard limits (raising them is
/// not permitted); without a nofile or nproc limit, those are set to the highest allowed.
pub(super) fn ulimits(given: &[String]) -> Result<Vec<Ulimit>> {
    const NAMES: [&str; 15] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let mut limits: Vec<Ulimit> = Vec::new();
    for spec in given {
        let (name, values) = spec.split_once('=').ok_or_else(|| {
            invalid(
                "create.resources.ulimit",
                format!("{spec:?}: use NAME=SOFT[:HARD]"),
            )
        })?;
        if !NAMES.contains(&name) {
            return Err(invalid(
                "create.resources.ulimit",
                format!("{name:?} is not a limit"),
            ));
        }
        let parse = |v: &str| -> Result<u64> {
            if v == "-1" || v == "unlimited" {
                return Ok(u64::MAX);
            }
            v.parse::<u64>().map_err(|_| {
                invalid(
                    "create.resources.ulimit",
                    format!("{spec:?}: {v:?} is not a number"),
                )
            })
        };
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (parse(s)?, parse(h)?),
            None => (parse(values)?, parse(values)?),
        };
        if soft > hard {
            return Err(invalid(
                "create.resources.ulimit",
                format!("{spec:?}: soft limit above hard limit"),
            ));
        }
        let full = format!("RLIMIT_{}", name.to_ascii_uppercase());
        limits.retain(|l| l.name != full);
        limits.push(Ulimit {
            name: full,
            soft,
            hard,
        });
    }
    for name in ["RLIMIT_NOFILE", "RLIMIT_NPROC"] {
        if !limits.iter().any(|l| l.name == name) {
            // Podman's default, 1048576, clamped below.
            limits.push(Ulimit {
                name: name.into(),
                soft: 1 << 20,
                hard: 1 << 20,
            });
        }
    }
    for limit in &mut limits {
        if let Some((_, own_hard)) = own_limit(&limit.name) {
            limit.hard = limit.hard.min(own_hard);
            limit.soft = limit.soft.min(limit.hard);
        }
    }
    Ok(limits)
}

/// This process's (soft, hard) limit of `name` (`RLIMIT_NOFILE`).
fn own_limit(name: &str) -> Option<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit};
    let resource = match name {
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    };
    getrlimit(resource).ok()
}

/// `/dev/X:VALUE` for per-device block IO settings.
fn block_device_limits(
    field: &'static str,
    given: &[String],
    value: impl Fn(&str) -> Option<u64>,
) -> Result<Vec<BlockDeviceLimit>> {
    given
        .iter()
        .map(|spec| {
            let (path, v) = spec
                .rsplit_once(':')
                .ok_or_else(|| invalid(field, format!("{spec:?}: use /dev/DEVICE:VALUE")))?;
            if !path.starts_with("/dev/") {
                return Err(invalid(field, format!("{path:?} is not under /dev")));
            }
            let meta =
                std::fs::metadata(path).map_err(|e| invalid(field, format!("{path}: {e}")))?;
            if !meta.file_type().is_block_device() {
                return Err(invalid(field, format!("{path} is not a block device")));
            }
            let value = value(v).ok_or_else(|| invalid(field, format!("{spec:?}: bad value")))?;
            let rdev = meta.rdev();
            Ok(BlockDeviceLimit {
                path: path.to_string(),
                major: nix::sys::stat::major(rdev) as i64,
                minor: nix::sys::stat::minor(rdev) as i64,
                value,
            })
        })
        .collect()
}

/// CreateResourceConfig, checked as Podman checks it; `cfq_only`: the runtime sets block IO
/// weights on cgroup v1 only through CFQ's `blkio.weight` (crun 1.8).
pub(super) fn resources(
    r: &ResourceOptions,
    cgroup_parent: &str,
    cfq_only: bool,
) -> Result<Resources> {
    let non_negative = |field: &'static str, v: i64| -> Result<i64> {
        if v < 0 {
            Err(invalid(field, format!("{v} is negative")))
        } else {
            Ok(v)
        }
    };
    let mut out = Resources {
        memory: non_negative("create.resources.memory", r.memory)?,
        memory_reservation: non_negative(
            "create.resources.memory_reservation",
            r.memory_reservation,
        )?,
        kernel_memory: non_negative("create.resources.kernel_memory", r.kernel_memory)?,
        disable_oom_killer: r.disable_oomkiller,
        cpu_shares: non_negative("create.resources.cpu_shares", r.cpu_shares)? as u64,
        cpu_rt_period: non_negative("create.resources.cpu_rt_period", r.cpu_rt_period)? as u64,
        cpu_rt_runtime: r.cpu_rt_runtime,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        ..Default::default()
    };
    if out.memory > 0 && out.memory < 6 * 1024 * 1024 {
        return Err(invalid("create.resources.memory", "the minimum is 6 MiB"));
    }
    if out.memory_reservation > 0 && out.memory > 0 && out.memory_reservation > out.memory {
        return Err(invalid(
            "create.resources.memory_reservation",
            "must not be above memory",
        ));
    }
    out.memory_swap = match r.memory_swap {
        0 if out.memory > 0 => 2 * out.memory,
        0 => 0,
        -1 => -1,
        n if n < 0 => {
            return Err(invalid(
                "create.resources.memory_swap",
                format!("{n}: use -1 for unlimited"),
            ));
        }
        _ if out.memory == 0 => {
            return Err(invalid(
                "create.resources.memory_swap",
                "needs memory to be set too",
            ));
        }
        n if n < out.memory => {
            return Err(invalid(
                "create.resources.memory_swap",
                "must be at least memory",
            ));
        }
        n => n,
    };
    // 0 and -1 both leave the kernel's setting: a missing field reads as 0.
    out.memory_swappiness = match r.memory_swappiness {
        0 | -1 => None,
        n @ 1..=100 => Some(n as u64),
        n => {
            return Err(invalid(
                "create.resources.memory_swappiness",
                format!("{n} is not in 0..100"),
            ));
        }
    };
    if r.cpus != 0.0 {
        if r.cpu_period != 0 || r.cpu_quota != 0 {
            return Err(invalid(
                "create.resources.cpus",
                "cannot be combined with cpu_period or cpu_quota",
            ));
        }
        if !(r.cpus > 0.0 && r.cpus.is_finite()) {
            return Err(invalid(
                "create.resources.cpus",
                format!("{} is not a CPU count", r.cpus),
            ));
        }
        out.cpu_period = 100_000;
        out.cpu_quota = (r.cpus * 100_000.0).round() as i64;
    } else {
        if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
            return Err(invalid(
                "create.resources.cpu_period",
                "must be between 1000 and 1000000",
            ));
        }
        if r.cpu_quota != 0 && r.cpu_quota != -1 && r.cpu_quota < 1000 {
            return Err(invalid(
                "create.resources.cpu_quota",
                "must be at least 1000",
            ));
        }
        out.cpu_period = r.cpu_period as u64;
        out.cpu_quota = r.cpu_quota;
    }
    // A missing field reads as 0: the default limit, as Podman 2+ sets it, so a fork bomb
    // stops there. -1 asks for no limit.
    out.pids_limit = match r.pids_limit {
        n if n > 0 => n,
        0 => DEFAULT_PIDS_LIMIT,
        -1 => -1,
        n => {
            return Err(invalid(
                "create.resources.pids_limit",
                format!("{n}: use -1 for unlimited"),
            ));
        }
    };
    if r.blkio_weight != 0 || !r.blkio_weight_device.is_empty() {
        use crate::engine::runtime::cgroups::{BlkioWeight, blkio_weight};
        match blkio_weight(cgroup_parent) {
            BlkioWeight::Unsupported => {
                let field = if r.blkio_weight != 0 {
                    "create.resources.blkio_weight"
                } else {
                    "create.resources.blkio_weight_device"
                };
                return Err(invalid(
                    field,
                    "this host's block IO controller has no weights (no blkio.weight or \
                     blkio.bfq.weight: its IO scheduler is neither CFQ nor BFQ)",
                ));
            }
            BlkioWeight::BfqOnly if cfq_only => {
                return Err(invalid(
                    "create.resources.blkio_weight",
                    "crun sets block IO weights on cgroup v1 only with the CFQ scheduler \
                     (blkio.weight), which this host lacks: use runc (--runtime runc)",
                ));
            }
            BlkioWeight::Unified | BlkioWeight::Cfq | BlkioWeight::BfqOnly => {}
        }
    }
    out.blkio_weight = match r.blkio_weight {
        0 => 0,
        n @ 10..=1000 => n as u16,
        n => {
            return Err(invalid(
                "create.resources.blkio_weight",
                format!("{n} is not in 10..1000"),
            ));
        }
    };
    out.blkio_weight_device = block_device_limits(
        "create.resources.blkio_weight_device",
        &r.blkio_weight_device,
        |v| {
            v.parse::<u64>()
                .ok()
                .filter(|w| *w == 0 || (10..=1000).contains(w))
        },
    )?;
    out.device_read_bps = block_device_limits(
        "create.resources.device_read_bps",
        &r.device_read_bps,
        parse_size,
    )?;
    out.device_write_bps = block_device_limits(
        "create.resources.device_write_bps",
        &r.device_write_bps,
        parse_size,
    )?;
    out.device_read_iops = block_device_limits(
        "create.resources.device_read_iops",
        &r.device_read_iops,
        |v| v.parse().ok(),
    )?;
    out.device_write_iops = block_device_limits(
        "create.resources.device_write_iops",
        &r.device_write_iops,
        |v| v.parse().ok(),
    )?;
    for (field, set) in [
        ("create.resources.cpuset_cpus", &out.cpuset_cpus),
        ("create.resources.cpuset_mems", &out.cpuset_mems),
    ] {
        let valid = set
            .split(',')
            .filter(|p| !p.is_empty())
            .all(|p| p.split('-').all(|n| n.parse::<u32>().is_ok()));
        if !valid {
            return Err(invalid(field, format!("{set:?} is not a list like 0-2,4")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::create::options::strs;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("2MB"), Some(2 << 20));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("1q"), None);
    }

    #[test]
    fn ulimits_parse_and_clamp() {
        let limits = ulimits(&strs(&["nofile=10:20", "core=0"])).unwrap();
        assert_eq!(
            limits[0],
            Ulimit {
                name: "RLIMIT_NOFILE".into(),
                soft: 10,
                hard: 20
            }
        );
        assert_eq!(limits[1].name, "RLIMIT_CORE");
        let nproc = limits.iter().find(|l| l.name == "RLIMIT_NPROC").unwrap();
        let (_, own) = own_limit("RLIMIT_NPROC").unwrap();
        assert_eq!(nproc.hard, own.min(1 << 20));
        let defaults = ulimits(&[]).unwrap();
        let (_, own) = own_limit("RLIMIT_NOFILE").unwrap();
        for limit in &defaults {
            let (_, own_hard) = own_limit(&limit.name).unwrap();
            assert!(
                limit.hard <= own_hard && limit.soft <= limit.hard,
                "{limit:?}"
            );
        }
        assert_eq!(defaults[0].hard, own.min(1 << 20));
        assert!(ulimits(&strs(&["nofile=20:10"])).is_err());
        assert!(ulimits(&strs(&["bogus=1"])).is_err());
        assert!(ulimits(&strs(&["nofile"])).is_err());
    }

    #[test]
    fn resources_are_checked() {
        let r = resources(
            &ResourceOptions {
                memory: 64 << 20,
                cpus: 1.5,
                pids_limit: 100,
                memory_swappiness: 10,
                ..Default::default()
            },
            "/podlink-unit",
            false,
        )
        .unwrap();
        assert_eq!(r.memory_swap, 128 << 20);
        assert_eq!((r.cpu_quota, r.cpu_period), (150_000, 100_000));
        assert_eq!(r.pids_limit, 100);
        assert_eq!(r.memory_swappiness, Some(10));
        let pids = |n| {
            let o = ResourceOptions {
                pids_limit: n,
                ..Default::default()
            };
            resources(&o, "/podlink-unit", false).map(|r| r.pids_limit)
        };
        assert_eq!(
            pids(0).unwrap(),
            DEFAULT_PIDS_LIMIT,
            "unset is the default limit"
        );
        assert_eq!(pids(-1).unwrap(), -1, "-1 is unlimited");
        assert!(pids(-2).is_err());
        for bad in [
            ResourceOptions {
                memory: 1024,
                ..Default::default()
            },
            ResourceOptions {
                memory_swap: 1 << 30,
                ..Default::default()
            },
            ResourceOptions {
                memory: 64 << 20,
                memory_swap: 32 << 20,
                ..Default::default()
            },
            ResourceOptions {
                cpus: 1.0,
                cpu_quota: 5000,
                ..Default::default()
            },
            ResourceOptions {
                cpu_period: 10,
                ..Default::default()
            },
            ResourceOptions {
                blkio_weight: 5,
                ..Default::default()
            },
            ResourceOptions {
                memory_swappiness: 101,
                ..Default::default()
            },
            ResourceOptions {
                cpuset_cpus: "0-x".into(),
                ..Default::default()
            },
            ResourceOptions {
                device_read_bps: strs(&["/dev/null:1mb"]),
                ..Default::default()
            },
        ] {
            assert!(
                resources(&bad, "/podlink-unit", false).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn sysctls_must_be_namespaced_and_owned() {
        let ns = Namespaces::default();
        let set = |k: &str| BTreeMap::from([(k.to_string(), "1".to_string())]);
        assert!(sysctls(&set("net.ipv4.ip_forward"), &ns).is_ok());
        assert!(sysctls(&set("kernel.shmmax"), &ns).is_ok());
        assert!(sysctls(&set("vm.swappiness"), &ns).is_err());
        let host_net = Namespaces {
            net: NamespaceMode::Host,
            ..Default::default()
        };
        assert!(sysctls(&set("net.ipv4.ip_forward"), &host_net).is_err());
    }

    #[test]
    fn a_bad_limit_names_its_field() {
        let bad = ResourceOptions {
            memory: -1,
            ..Default::default()
        };
        match resources(&bad, "/podlink", false) {
            Err(crate::engine::error::Error::Invalid { field, reason }) => {
                assert_eq!(field, "create.resources.memory");
                assert_eq!(reason, "CreateContainer: memory: -1 is negative");
            }
            other => panic!("{other:?}"),
        }
    }
}
