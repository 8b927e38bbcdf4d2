//! Capabilities: the kernel's table, the default set, what this host can grant, and the
//! client's `cap_add`/`cap_drop` resolved against them.

use super::options::invalid;
use crate::engine::error::Result;

/// The capabilities a container gets by default (Podman's).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, by number.
const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities a container can have here: those in the service's own bounding set (a
/// runtime cannot grant more; this host's, for one, lacks CAP_SYS_RESOURCE), which the
/// kernel knows.
pub fn host_capabilities() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .take(last + 1)
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// A capability name as the kernel spells it: upper case, `CAP_` prefix.
fn normalize_capability(field: &'static str, name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(invalid(field, format!("{name:?} is not a capability")))
    }
}

/// The added and dropped capabilities, normalized, and the resulting set. As in Podman,
/// `ALL` adds every capability this host has, dropping `ALL` leaves only the added ones, and
/// adding and dropping the same one is an error.
pub(super) fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let host = host_capabilities();
    if privileged {
        return Ok((Vec::new(), Vec::new(), host));
    }
    let normalize = |field: &'static str, names: &[String]| -> Result<(bool, Vec<String>)> {
        let mut all = false;
        let mut caps = Vec::new();
        for name in names {
            if name.eq_ignore_ascii_case("all") {
                all = true;
            } else {
                let cap = normalize_capability(field, name)?;
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
        Ok((all, caps))
    };
    let (add_all, added) = normalize("create.cap_add", add)?;
    let (drop_all, dropped) = normalize("create.cap_drop", drop)?;
    if let Some(both) = added.iter().find(|c| dropped.contains(c)) {
        return Err(invalid(
            "create.cap_drop",
            format!("{both} is both added and dropped"),
        ));
    }
    let mut set: Vec<String> = if add_all {
        host.clone()
    } else if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    for cap in &added {
        if !host.contains(cap) {
            return Err(invalid(
                "create.cap_add",
                format!("{cap} is not in the service's bounding set on this host"),
            ));
        }
        if !set.contains(cap) {
            set.push(cap.clone());
        }
    }
    if !add_all {
        set.retain(|c| !dropped.contains(c));
    }
    let mut added = added;
    if add_all {
        added.insert(0, "ALL".into());
    }
    let mut dropped = dropped;
    if drop_all {
        dropped.insert(0, "ALL".into());
    }
    Ok((added, dropped, set))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::create::options::strs;

    #[test]
    fn capabilities_are_normalized_added_and_dropped() {
        let (add, drop, set) = capabilities(
            &strs(&["net_admin", "CAP_SYS_TIME"]),
            &strs(&["kill"]),
            false,
        )
        .unwrap();
        assert_eq!(add, ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
        assert_eq!(drop, ["CAP_KILL"]);
        assert!(set.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(set.contains(&"CAP_CHOWN".to_string()));
        assert!(!set.contains(&"CAP_KILL".to_string()));
        let (_, _, only) = capabilities(&strs(&["chown"]), &strs(&["all"]), false).unwrap();
        assert_eq!(only, ["CAP_CHOWN"]);
        let (_, _, all) = capabilities(&strs(&["ALL"]), &[], false).unwrap();
        assert_eq!(all, host_capabilities());
        assert!(capabilities(&strs(&["bogus"]), &[], false).is_err());
        assert!(capabilities(&strs(&["kill"]), &strs(&["KILL"]), false).is_err());
        let (_, _, privileged) = capabilities(&[], &[], true).unwrap();
        assert_eq!(privileged, host_capabilities());
    }
}
