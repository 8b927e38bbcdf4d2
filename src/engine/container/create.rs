//! CreateContainer: a record from the image config and the client's options, and the OCI
//! runtime spec written into the bundle when the container starts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, PosixRlimit, Root, Spec, User};
use serde_json::Value;

use super::{ContainerRecord, generate_name, new_id, new_record};
use crate::engine::{Engine, Error, Result};

/// The options of CreateContainer that podlink honours so far. The varlink layer refuses
/// any other field a client sets, naming it, rather than ignoring it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The image.
    pub image: String,
    /// The name; generated when empty.
    pub name: String,
    /// The command (replaces the image's CMD when not empty).
    pub command: Vec<String>,
    /// The entrypoint (replaces the image's; `[""]` clears it); `None` keeps the image's.
    pub entrypoint: Option<Vec<String>>,
    /// Environment added after the image's.
    pub env: BTreeMap<String, String>,
    /// Working directory; the image's when empty.
    pub work_dir: String,
    /// User (`uid`, `uid:gid`, names); the image's when empty.
    pub user: String,
    /// Host name; the short ID when empty.
    pub hostname: String,
    /// Labels (added to the image's).
    pub labels: HashMap<String, String>,
    /// Remove the container when it exits.
    pub rm: bool,
    /// Stop signal number; 0 for the image's or SIGTERM.
    pub stop_signal: i32,
    /// Stop timeout in seconds; 0 for the default (10).
    pub stop_timeout: u64,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Engine {
    /// io.podman.CreateContainer: records a new container; returns its ID.
    pub fn create_container(&self, options: CreateOptions) -> Result<String> {
        let image = self.images().resolve(&options.image)?;
        let config = &image.config["config"];
        let id = new_id();
        let name = if options.name.is_empty() {
            generate_name(&id, |n| self.containers().name_taken(n))
        } else {
            validate_name(&options.name)?;
            options.name.clone()
        };
        let mut record = new_record(id.clone(), name);
        record.image_id = image.record.id.clone();
        record.image_name = options.image.clone();
        record.layers = image.record.layers.clone();
        record.command = command(config, &options)?;
        record.env = environment(config, &options);
        record.work_dir = if options.work_dir.is_empty() {
            config["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .unwrap_or("/")
                .to_string()
        } else {
            options.work_dir.clone()
        };
        record.user = if options.user.is_empty() {
            config["User"].as_str().unwrap_or_default().to_string()
        } else {
            options.user.clone()
        };
        let lower: Vec<PathBuf> = record
            .layers
            .iter()
            .rev()
            .map(|l| self.images().layers().diff_dir(l))
            .collect();
        (record.uid, record.gid, record.additional_gids) = resolve_user(&record.user, &lower)?;
        record.hostname = if options.hostname.is_empty() {
            id[..12].to_string()
        } else {
            options.hostname.clone()
        };
        record.labels = config["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        record.labels.extend(options.labels.clone());
        record.rm = options.rm;
        record.stop_signal = match options.stop_signal {
            0 => config["StopSignal"]
                .as_str()
                .and_then(signal_number)
                .unwrap_or(15),
            n => n,
        };
        record.stop_timeout = if options.stop_timeout == 0 {
            10
        } else {
            options.stop_timeout
        };
        record.readonly_rootfs = options.readonly_rootfs;
        self.containers().insert(record)?;
        Ok(id)
    }
}

fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "container name {name:?}: names are letters, digits and _ . - and start with a letter or digit"
        )))
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The image's ENTRYPOINT (or the given one; `[""]` clears it), then the given command or the
/// image's CMD.
fn command(config: &Value, options: &CreateOptions) -> Result<Vec<String>> {
    let entrypoint = match &options.entrypoint {
        Some(e) if e.len() == 1 && e[0].is_empty() => Vec::new(),
        Some(e) if !e.is_empty() => e.clone(),
        _ => strings(&config["Entrypoint"]),
    };
    let cmd = if options.command.is_empty() {
        strings(&config["Cmd"])
    } else {
        options.command.clone()
    };
    let mut command = entrypoint;
    command.extend(cmd);
    if command.is_empty() {
        return Err(Error::InvalidArgument(
            "no command: the image has no ENTRYPOINT or CMD and none was given".into(),
        ));
    }
    Ok(command)
}

/// The image's environment, then the client's; PATH set if neither has it.
fn environment(config: &Value, options: &CreateOptions) -> Vec<String> {
    let mut env: Vec<String> = strings(&config["Env"]);
    for (key, value) in &options.env {
        let prefix = format!("{key}=");
        env.retain(|e| !e.starts_with(&prefix));
        env.push(format!("{key}={value}"));
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    env
}

/// A signal name (`SIGTERM`, `TERM`) or number as a number.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return Some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// Resolves `uid[:gid]` or user and group names against the image's /etc/passwd and
/// /etc/group (found in its layers, topmost first). Returns uid, gid and the user's
/// supplementary groups.
pub fn resolve_user(user: &str, layers_top_first: &[PathBuf]) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_image_file(layers_top_first, "etc/passwd");
    let group = read_image_file(layers_top_first, "etc/group");
    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => {
            let entry = passwd_lookup(&passwd, |fields| fields[2] == user_part);
            (uid, entry.as_ref().map_or(uid, |e| e.1), entry.map(|e| e.2))
        }
        Err(_) => {
            let (uid, gid, name) = passwd_lookup(&passwd, |fields| fields[0] == user_part)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "user: no user {user_part:?} in the image's /etc/passwd"
                    ))
                })?;
            (uid, gid, Some(name))
        }
    };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "user: no group {g:?} in the image's /etc/group"
                    ))
                })?,
        };
    }
    let additional = match name {
        Some(name) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect(),
        None => Vec::new(),
    };
    Ok((uid, gid, additional))
}

fn passwd_lookup(passwd: &str, matches: impl Fn(&[&str]) -> bool) -> Option<(u32, u32, String)> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .find(|f| matches(f))
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[0].to_string())))
}

/// A file of the image: from the topmost layer that has it as a regular file.
fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    for layer in layers_top_first {
        let candidate = layer.join(path);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.is_file() => return std::fs::read_to_string(&candidate).unwrap_or_default(),
            // A whiteout (or anything else) hides lower layers' copies.
            Ok(_) => return String::new(),
            Err(_) => continue,
        }
    }
    String::new()
}

/// The OCI runtime spec of a container whose root filesystem is mounted at `rootfs` and whose
/// generated /etc files are in `run_dir`.
pub fn spec(
    record: &ContainerRecord,
    rootfs: &Path,
    run_dir: &Path,
    cgroup_parent: &str,
) -> Result<Spec> {
    let mut spec = Spec::default();
    spec.set_hostname(Some(record.hostname.clone()));
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(record.command.clone()));
    let mut env = record.env.clone();
    env.push(format!("HOSTNAME={}", record.hostname));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(&record.work_dir));
    process.set_terminal(Some(false));
    let mut user = User::default();
    user.set_uid(record.uid);
    user.set_gid(record.gid);
    if !record.additional_gids.is_empty() {
        user.set_additional_gids(Some(record.additional_gids.clone()));
    }
    process.set_user(user);
    let rlimits: Vec<PosixRlimit> = process
        .rlimits()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(clamp_rlimit)
        .collect();
    process.set_rlimits(Some(rlimits));
    spec.set_process(Some(process));

    let mut root = Root::default();
    root.set_path(rootfs.to_path_buf());
    root.set_readonly(Some(record.readonly_rootfs));
    spec.set_root(Some(root));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (file, destination) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        let mut m = Mount::default();
        m.set_destination(PathBuf::from(destination));
        m.set_typ(Some("bind".into()));
        m.set_source(Some(run_dir.join(file)));
        m.set_options(Some(vec!["rbind".into(), "rprivate".into(), "rw".into()]));
        mounts.push(m);
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    // Absolute: a relative cgroupsPath makes runc place the memory controller elsewhere.
    linux.set_cgroups_path(Some(PathBuf::from(format!(
        "{cgroup_parent}/{}",
        record.id
    ))));
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    namespaces.retain(|n| n.typ() != LinuxNamespaceType::Cgroup || cgroup_ns_supported());
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    Ok(spec)
}

fn cgroup_ns_supported() -> bool {
    Path::new("/proc/self/ns/cgroup").exists()
}

/// An rlimit no higher than this process's own hard limit: raising limits is not permitted
/// here, and a runtime asked for more fails.
fn clamp_rlimit(limit: PosixRlimit) -> PosixRlimit {
    use nix::sys::resource::{Resource, getrlimit};
    use oci_spec::runtime::PosixRlimitType as T;
    let resource = match limit.typ() {
        T::RlimitNofile => Some(Resource::RLIMIT_NOFILE),
        T::RlimitNproc => Some(Resource::RLIMIT_NPROC),
        T::RlimitCore => Some(Resource::RLIMIT_CORE),
        T::RlimitStack => Some(Resource::RLIMIT_STACK),
        T::RlimitMemlock => Some(Resource::RLIMIT_MEMLOCK),
        _ => None,
    };
    let Some(Ok((_, own_hard))) = resource.map(getrlimit) else {
        return limit;
    };
    let hard = limit.hard().min(own_hard);
    oci_spec::runtime::PosixRlimitBuilder::default()
        .typ(limit.typ())
        .hard(hard)
        .soft(limit.soft().min(hard))
        .build()
        .unwrap_or(limit)
}

/// The files bind-mounted over /etc/hostname, /etc/hosts and /etc/resolv.conf.
pub fn write_etc_files(record: &ContainerRecord, run_dir: &Path) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))
    };
    write("hostname", format!("{}\n", record.hostname))?;
    write(
        "hosts",
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
            record.hostname
        ),
    )?;
    write(
        "resolv.conf",
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_follows_podman() {
        let config = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]});
        let opts = |command: Vec<&str>, entrypoint: Option<Vec<&str>>| CreateOptions {
            command: command.into_iter().map(String::from).collect(),
            entrypoint: entrypoint.map(|e| e.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        assert_eq!(
            command(&config, &opts(vec![], None)).unwrap(),
            ["/ep", "a", "b"]
        );
        assert_eq!(
            command(&config, &opts(vec!["x"], None)).unwrap(),
            ["/ep", "x"]
        );
        assert_eq!(
            command(&config, &opts(vec!["x"], Some(vec![""]))).unwrap(),
            ["x"]
        );
        assert_eq!(
            command(&config, &opts(vec![], Some(vec!["/other"]))).unwrap(),
            ["/other", "a", "b"]
        );
        assert!(command(&json!({}), &opts(vec![], None)).is_err());
    }

    #[test]
    fn environment_layers_client_over_image() {
        let config = json!({"Env": ["A=1", "PATH=/bin"]});
        let mut o = CreateOptions::default();
        o.env.insert("A".into(), "2".into());
        o.env.insert("B".into(), "3".into());
        assert_eq!(environment(&config, &o), ["PATH=/bin", "A=2", "B=3"]);
        assert!(environment(&json!({}), &CreateOptions::default())[0].starts_with("PATH="));
    }

    #[test]
    fn users_resolve_against_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        let layers = vec![dir.path().to_path_buf()];
        assert_eq!(
            resolve_user("app", &layers).unwrap(),
            (1000, 1000, vec![2000])
        );
        assert_eq!(
            resolve_user("1000:extra", &layers).unwrap(),
            (1000, 2000, vec![2000])
        );
        assert_eq!(resolve_user("4242", &layers).unwrap(), (4242, 4242, vec![]));
        assert_eq!(resolve_user("4242:7", &layers).unwrap(), (4242, 7, vec![]));
        assert!(resolve_user("nobody-here", &layers).is_err());
        assert!(resolve_user("app:nogroup", &layers).is_err());
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(signal_number("SIGINT"), Some(2));
        assert_eq!(signal_number("term"), Some(15));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGBOGUS"), None);
    }
}
