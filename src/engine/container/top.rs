//! ListContainerProcesses: a `ps`-style table of a container's processes, read from /proc
//! for the pids in its cgroup. Columns are chosen with the format descriptors of Podman's
//! `top` (psgo's: `user`, `pid`, `pcpu`, `args`..., or their `%U`-style codes); rows are the
//! header then one line per process, fields joined by tabs as Podman 1.x joined them.
//!
//! `/proc/PID/stat` and `status`, `/proc/stat`'s boot time and `/proc/uptime` are read with
//! the `procfs` crate. Read here by hand, each for the reason given where it is read: a
//! process's `cmdline` (non-UTF-8 arguments), `attr/current` (not in procfs), `uid_map` and
//! `gid_map` (not in procfs), and the container's `/etc/passwd` and `/etc/group` (files in the
//! container's root, not the host's user database).

use std::collections::HashMap;
use std::path::Path;

use procfs::Current;

use super::service::Containers;
use crate::engine::error::{Error, Result};

/// Columns when the client names none (Podman 1.x's varlink default).
const DEFAULT_DESCRIPTORS: [&str; 8] = [
    "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "comm",
];

/// Every descriptor: name, AIX-style code, header.
const DESCRIPTORS: [(&str, &str, &str); 28] = [
    ("args", "%a", "COMMAND"),
    ("capamb", "", "AMBIENT CAPS"),
    ("capbnd", "", "BOUNDING CAPS"),
    ("capeff", "", "EFFECTIVE CAPS"),
    ("capinh", "", "INHERITED CAPS"),
    ("capprm", "", "PERMITTED CAPS"),
    ("comm", "%c", "COMMAND"),
    ("etime", "%t", "ELAPSED"),
    ("group", "%G", "GROUP"),
    ("hgroup", "", "HGROUP"),
    ("hpid", "", "HPID"),
    ("huser", "", "HUSER"),
    ("label", "", "LABEL"),
    ("nice", "%n", "NI"),
    ("pcpu", "%C", "%CPU"),
    ("pgid", "%r", "PGID"),
    ("pid", "%p", "PID"),
    ("ppid", "%P", "PPID"),
    ("rgroup", "%g", "RGROUP"),
    ("rss", "", "RSS"),
    ("ruser", "%u", "RUSER"),
    ("seccomp", "", "SECCOMP"),
    ("state", "", "STATE"),
    ("stime", "", "STIME"),
    ("time", "%x", "TIME"),
    ("tty", "%y", "TTY"),
    ("user", "%U", "USER"),
    ("vsz", "%z", "VSZ"),
];

/// The descriptor names to show, from the client's options (each may hold several,
/// separated by commas or spaces).
fn descriptors(opts: &[String]) -> Result<Vec<&'static str>> {
    let mut wanted = Vec::new();
    for word in opts.iter().flat_map(|o| o.split([',', ' '])) {
        let word = word.trim();
        if word.is_empty() {
            continue;
        }
        let found = DESCRIPTORS
            .iter()
            .find(|(name, code, _)| *name == word || (!code.is_empty() && *code == word))
            .ok_or_else(|| Error::invalid("opts", format!("'{word}': unknown descriptor")))?;
        wanted.push(found.0);
    }
    if wanted.is_empty() {
        wanted.extend(DEFAULT_DESCRIPTORS);
    }
    Ok(wanted)
}

/// What is read about one process.
struct Process {
    host_pid: i32,
    pid: i32,
    ppid: i32,
    pgid: i32,
    comm: String,
    args: String,
    state: String,
    nice: i64,
    /// The controlling terminal's (major, minor), (0, 0) for none.
    tty: (i32, i32),
    cpu_ticks: u64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
    /// Real then effective, as ps shows "ruser" (real) and "user" (effective).
    uids: [u32; 2],
    gids: [u32; 2],
    caps: HashMap<String, u64>,
    seccomp: String,
    label: String,
}

fn read_process(pid: i32) -> Option<Process> {
    // procfs opens /proc/PID once and reads its files from there, so they are all of one
    // process even if the pid is reused meanwhile.
    let proc = procfs::process::Process::new(pid).ok()?;
    let stat = proc.stat().ok()?;
    let status = proc.status().ok()?;
    let dir = Path::new("/proc").join(pid.to_string());
    let innermost = |ids: &Option<Vec<i32>>| ids.as_ref().and_then(|ids| ids.last().copied());
    let seccomp = match status.seccomp {
        Some(0) => "disabled",
        Some(1) => "strict",
        Some(2) => "filter",
        _ => "?",
    };
    // By hand: procfs's `cmdline()` fails on an argument that is not UTF-8, which a
    // container's process may well have; ps shows such arguments lossily, and so does this.
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let mut args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if args.is_empty() {
        args = format!("[{}]", stat.comm);
    }
    Some(Process {
        host_pid: pid,
        pid: innermost(&status.nspid).unwrap_or(pid),
        ppid: stat.ppid,
        pgid: innermost(&status.nspgid).unwrap_or(stat.pgrp),
        args,
        state: stat.state.to_string(),
        nice: stat.nice,
        tty: stat.tty_nr(),
        cpu_ticks: stat.utime + stat.stime,
        start_ticks: stat.starttime,
        vsize: stat.vsize,
        rss_pages: stat.rss,
        uids: [status.ruid, status.euid],
        gids: [status.rgid, status.egid],
        caps: HashMap::from([
            ("CapInh".to_string(), status.capinh),
            ("CapPrm".to_string(), status.capprm),
            ("CapEff".to_string(), status.capeff),
            ("CapBnd".to_string(), status.capbnd.unwrap_or(0)),
            ("CapAmb".to_string(), status.capamb.unwrap_or(0)),
        ]),
        seccomp: seccomp.into(),
        // By hand: procfs has no reader for the LSM label, one line of text.
        label: std::fs::read_to_string(dir.join("attr/current"))
            .map(|l| l.trim_end_matches(['\n', '\0']).to_string())
            .unwrap_or_else(|_| "?".into()),
        comm: stat.comm,
    })
}

/// A small regular file of the container whose init is `pid`, its path (and any symlink on
/// the way) resolved inside the container's root: a container's /etc/passwd may be a
/// symlink to the host's files, a fifo or /dev/zero.
fn read_in_root(pid: i32, path: &str) -> Option<String> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    use std::io::Read;
    const LIMIT: u64 = 1 << 20;
    let root = std::fs::File::open(format!("/proc/{pid}/root")).ok()?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let file = std::fs::File::from(openat2(&root, path, how).ok()?);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(LIMIT).read_to_string(&mut text).ok()?;
    Some(text)
}

/// `name:x:id:...` files as an id → name map. By hand: the files are the container's (read
/// through its root), while crates for users and groups ask the host's user database.
fn names(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

/// The ID inside a user namespace of host ID `id`, per a `/proc/PID/[ug]id_map` file. By
/// hand: procfs has no reader for these maps.
fn to_container_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let n: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let (inside, outside, size) = (*n.first()?, *n.get(1)?, *n.get(2)?);
        let id = u64::from(id);
        (id >= outside && id < outside + size).then(|| (inside + id - outside) as u32)
    })
}

/// Go's `time.Duration` text for whole seconds (`1h2m3s`, `45s`).
fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

fn capability_names(mask: u64, host: &[String]) -> String {
    if mask == 0 {
        return "none".into();
    }
    let all: u64 = if host.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << host.len()) - 1
    };
    if mask & all == all {
        return "full".into();
    }
    let mut names: Vec<String> = host
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| name.trim_start_matches("CAP_").to_string())
        .collect();
    names.sort();
    names.join(",")
}

/// The terminal of a `tty_nr`'s (major, minor) (`pts/3`), or `?`.
fn tty_name((major, minor): (i32, i32)) -> String {
    if (major, minor) == (0, 0) {
        return "?".into();
    }
    match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

impl Containers {
    /// io.podman.ListContainerProcesses: the header then a row per process, tab-separated.
    pub fn list_container_processes(&self, name: &str, opts: &[String]) -> Result<Vec<String>> {
        let (_, record) = self.view_container(name)?;
        if !record.status().can_read_processes() {
            return Err(record.refuse("list the processes of"));
        }
        let wanted = descriptors(opts)?;
        let mut pids = crate::engine::runtime::cgroups::processes(&Self::cgroup_path(&record));
        if pids.is_empty() {
            pids.push(record.state.pid);
        }
        let processes: Vec<Process> = pids.into_iter().filter_map(read_process).collect();
        // Parents outside the container (the monitor) show as 0, as inside the namespace.
        let container_pids: HashMap<i32, i32> =
            processes.iter().map(|p| (p.host_pid, p.pid)).collect();
        let init = record.state.pid;
        let read_root = |path: &str| read_in_root(init, path).unwrap_or_default();

        let users = names(&read_root("etc/passwd"));
        let groups = names(&read_root("etc/group"));
        let host_users = names(&std::fs::read_to_string("/etc/passwd").unwrap_or_default());
        let host_groups = names(&std::fs::read_to_string("/etc/group").unwrap_or_default());
        let uid_map = std::fs::read_to_string(format!("/proc/{init}/uid_map")).unwrap_or_default();
        let gid_map = std::fs::read_to_string(format!("/proc/{init}/gid_map")).unwrap_or_default();
        let host_caps = super::create::caps::host_capabilities();
        let ticks = procfs::ticks_per_second().max(1);
        let page_kib = procfs::page_size() / 1024;
        let boot = procfs::boot_time_secs().unwrap_or(0);
        let uptime_ticks = procfs::Uptime::current()
            .map(|u| (u.uptime * ticks as f64) as u64)
            .unwrap_or(0);
        let name_of = |map: &HashMap<u32, String>, id: Option<u32>| match id {
            Some(id) => map.get(&id).cloned().unwrap_or_else(|| id.to_string()),
            None => "?".into(),
        };
        let mut rows = vec![
            wanted
                .iter()
                .map(|d| DESCRIPTORS.iter().find(|x| x.0 == *d).map_or("", |x| x.2))
                .collect::<Vec<_>>()
                .join("\t"),
        ];
        for p in &processes {
            let elapsed_ticks = uptime_ticks.saturating_sub(p.start_ticks);
            let cell = |d: &str| -> String {
                match d {
                    "args" => p.args.clone(),
                    "comm" => p.comm.clone(),
                    "pid" => p.pid.to_string(),
                    "hpid" => p.host_pid.to_string(),
                    "ppid" => container_pids
                        .get(&p.ppid)
                        .copied()
                        .unwrap_or(0)
                        .to_string(),
                    "pgid" => p.pgid.to_string(),
                    "user" => name_of(&users, to_container_id(&uid_map, p.uids[1])),
                    "ruser" => name_of(&users, to_container_id(&uid_map, p.uids[0])),
                    "group" => name_of(&groups, to_container_id(&gid_map, p.gids[1])),
                    "rgroup" => name_of(&groups, to_container_id(&gid_map, p.gids[0])),
                    "huser" => name_of(&host_users, Some(p.uids[1])),
                    "hgroup" => name_of(&host_groups, Some(p.gids[1])),
                    "pcpu" => {
                        let percent = if elapsed_ticks > 0 {
                            p.cpu_ticks as f64 * 100.0 / elapsed_ticks as f64
                        } else {
                            0.0
                        };
                        format!("{percent:.3}")
                    }
                    "etime" => go_duration(elapsed_ticks / ticks),
                    "time" => go_duration(p.cpu_ticks / ticks),
                    "stime" => humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(boot + p.start_ticks / ticks),
                    )
                    .to_string(),
                    "tty" => tty_name(p.tty),
                    "nice" => p.nice.to_string(),
                    "vsz" => (p.vsize / 1024).to_string(),
                    "rss" => (p.rss_pages * page_kib).to_string(),
                    "state" => p.state.clone(),
                    "seccomp" => p.seccomp.clone(),
                    "label" => p.label.clone(),
                    "capamb" | "capbnd" | "capeff" | "capinh" | "capprm" => {
                        let key = match d {
                            "capamb" => "CapAmb",
                            "capbnd" => "CapBnd",
                            "capeff" => "CapEff",
                            "capinh" => "CapInh",
                            _ => "CapPrm",
                        };
                        capability_names(p.caps.get(key).copied().unwrap_or(0), &host_caps)
                    }
                    _ => String::new(),
                }
            };
            rows.push(
                wanted
                    .iter()
                    .map(|d| cell(d))
                    .collect::<Vec<_>>()
                    .join("\t"),
            );
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_by_name_code_and_list() {
        assert_eq!(descriptors(&[]).unwrap(), DEFAULT_DESCRIPTORS);
        assert_eq!(
            descriptors(&["pid,args".into(), "%U".into()]).unwrap(),
            ["pid", "args", "user"]
        );
        let err = descriptors(&["bogus".into()]).unwrap_err();
        assert!(
            err.to_string().contains("'bogus': unknown descriptor"),
            "{err}"
        );
    }

    #[test]
    fn this_process_reads() {
        let me = read_process(std::process::id() as i32).unwrap();
        assert_eq!(me.host_pid, std::process::id() as i32);
        assert!(!me.comm.is_empty() && !me.args.is_empty());
        assert!(!me.seccomp.is_empty());
    }

    #[test]
    fn container_files_resolve_inside_its_root() {
        // This process's own root is the host's: an absolute path resolves as usual there.
        let me = std::process::id() as i32;
        assert!(read_in_root(me, "/etc/passwd").unwrap().contains("root:"));
        assert_eq!(read_in_root(me, "/dev/zero"), None, "not a regular file");
        assert_eq!(read_in_root(me, "/no/such/file"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(go_duration(5), "5s");
        assert_eq!(go_duration(62), "1m2s");
        assert_eq!(go_duration(3723), "1h2m3s");
        assert_eq!(tty_name((0, 0)), "?");
        assert_eq!(tty_name((136, 3)), "pts/3");
        assert_eq!(tty_name((4, 65)), "ttyS1");
        let host: Vec<String> = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(capability_names(0, &host), "none");
        assert_eq!(capability_names(0b111, &host), "full");
        assert_eq!(capability_names(0b101, &host), "CHOWN,DAC_READ_SEARCH");
        assert_eq!(to_container_id("0 100000 65536\n", 100_005), Some(5));
        assert_eq!(to_container_id("0 100000 65536\n", 5), None);
        assert_eq!(to_container_id("0 0 4294967295\n", 5), Some(5));
        let n = names("root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n");
        assert_eq!(n.get(&1000).map(String::as_str), Some("app"));
    }
}
