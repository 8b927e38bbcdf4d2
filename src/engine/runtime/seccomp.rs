//! Seccomp profiles in the format Docker and Podman ship (`containers-common`'s
//! `/usr/share/containers/seccomp.json`), turned into the runtime spec's `linux.seccomp` for
//! one container: rules are kept or dropped by the container's capabilities, the host's
//! architecture and kernel, as those tools do.
//!
//! Which profile a container gets is decided in one place, [`Seccomp::choose`]: at create,
//! to check a given profile and record the choice, and at every start, to load it.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Where the default profile is looked for, in order: the administrator's, then the packaged
/// one.
pub const DEFAULT_PROFILES: [&str; 2] = [
    "/etc/containers/seccomp.json",
    "/usr/share/containers/seccomp.json",
];

/// The default profile's path, if one is installed.
pub fn default_profile() -> Option<PathBuf> {
    DEFAULT_PROFILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A profile that could not be read or converted; the message names its path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct SeccompError {
    /// The profile's path.
    pub path: PathBuf,
    /// Why it could not be used.
    pub reason: String,
}

/// A profile that is not one this module can convert.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProfileError(String);

impl From<&str> for ProfileError {
    fn from(reason: &str) -> Self {
        ProfileError(reason.to_string())
    }
}

/// The seccomp filter a container gets, from its recorded setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// No filter.
    Unconfined,
    /// The installed default profile, at this path.
    Default(PathBuf),
    /// A profile on the server, as the client named it.
    Profile(PathBuf),
}

impl Seccomp {
    /// The choice for `setting` ("", "default", "unconfined" or a path): the default when
    /// one is installed (a warning, and no filter, when none is), else what was named.
    pub fn choose(setting: &str) -> Self {
        match setting {
            "" | "default" => match default_profile() {
                Some(path) => Seccomp::Default(path),
                None => {
                    log::warn!(
                        "no default seccomp profile installed ({}): the container runs \
                         without one",
                        DEFAULT_PROFILES.join(" or ")
                    );
                    Seccomp::Unconfined
                }
            },
            "unconfined" => Seccomp::Unconfined,
            path => Seccomp::Profile(PathBuf::from(path)),
        }
    }

    /// The setting to record, so that inspect and every later start see this choice:
    /// "default", "unconfined" (also when no default is installed, so that inspect does not
    /// claim a filter) or the profile's path as given.
    pub fn setting(&self) -> String {
        match self {
            Seccomp::Unconfined => "unconfined".into(),
            Seccomp::Default(_) => "default".into(),
            Seccomp::Profile(path) => path.display().to_string(),
        }
    }

    /// The spec's `linux.seccomp` for a container with `capabilities`, if any filter.
    pub fn filter(&self, capabilities: &[String]) -> Result<Option<Value>, SeccompError> {
        match self {
            Seccomp::Unconfined => Ok(None),
            Seccomp::Default(path) | Seccomp::Profile(path) => load(path, capabilities).map(Some),
        }
    }
}

/// Reads the profile at `path` and converts it for a container with `capabilities`.
///
/// Remembered (see [`Loaded`]): every container start used to read, parse and convert the
/// same 30 KB default profile again, about half a millisecond each time.
pub fn load(path: &Path, capabilities: &[String]) -> Result<Value, SeccompError> {
    let failed = |reason: String| SeccompError {
        path: path.to_path_buf(),
        reason,
    };
    let stamp = FileStamp::of(path).map_err(|e| failed(e.to_string()))?;
    let remembered = || LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hit) = remembered()
        .iter()
        .find(|l| l.path == path && l.stamp == stamp && l.capabilities == capabilities)
    {
        return Ok(hit.seccomp.clone());
    }
    let seccomp = read_and_convert(path, capabilities).map_err(failed)?;
    let mut loaded = remembered();
    if loaded.len() >= LOADED_MAX {
        loaded.remove(0);
    }
    loaded.push(Loaded {
        path: path.to_path_buf(),
        stamp,
        capabilities: capabilities.to_vec(),
        seccomp: seccomp.clone(),
    });
    Ok(seccomp)
}

/// A profile converted earlier, for containers with `capabilities`, from the file as it was
/// then (`stamp`): a file replaced or changed since (new inode, size, mtime or ctime) is read
/// again. The kernel's version and x32 support, the conversion's other inputs, do not change
/// while the daemon runs.
struct Loaded {
    path: PathBuf,
    stamp: FileStamp,
    capabilities: Vec<String>,
    seccomp: Value,
}

/// Profiles remembered at most: a host has the default and a few of its own; the oldest goes
/// first.
const LOADED_MAX: usize = 16;

static LOADED: std::sync::Mutex<Vec<Loaded>> = std::sync::Mutex::new(Vec::new());

/// What tells one version of a file from another without reading it.
#[derive(Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// [`load`] without remembering.
fn read_and_convert(path: &Path, capabilities: &[String]) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let profile: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let mut seccomp = convert(&profile, capabilities, host_arch(), &kernel_version())
        .map_err(|e| e.to_string())?;
    if !x32_abi() {
        drop_arch(&mut seccomp, "SCMP_ARCH_X32");
    }
    Ok(seccomp)
}

/// Removes `arch` from a converted profile's architectures.
///
/// x32 goes when the kernel has no x32 ABI: its calls fail there whatever the filter says,
/// the verdicts for x86_64 and i386 programs are the same without it, and its branch costs
/// runc or crun about 12 ms of compiling per container. (Without it, an x32 call meets the
/// filter's bad-architecture action instead of ENOSYS.) Dropped from `linux.seccomp` itself,
/// not only from the program crun gets, so that runc's filter and the compiled one stay the
/// same policy, compiled from the same JSON.
fn drop_arch(seccomp: &mut Value, arch: &str) {
    if let Some(arches) = seccomp["architectures"].as_array_mut() {
        arches.retain(|a| a != arch);
    }
}

/// Whether the kernel runs x32 programs, from its build configuration (`/proc/config.gz`, else
/// `/boot/config-RELEASE`); assumed when neither says, and on other architectures irrelevant.
fn x32_abi() -> bool {
    static X32: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *X32.get_or_init(|| {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let gz = std::fs::File::open("/proc/config.gz").and_then(|f| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut text)?;
            Ok(text)
        });
        let config = gz.or_else(|_| std::fs::read_to_string(format!("/boot/config-{release}")));
        config.map_or(true, |config| x32_in(&config))
    })
}

/// The x32 ABI's option, as kernels from 5.18 name it and as older ones did.
const X32_OPTIONS: [&str; 2] = ["CONFIG_X86_X32_ABI", "CONFIG_X86_X32"];

/// Whether a kernel configuration has the x32 ABI: off only when it says so (`# ... is not
/// set` under either name, and neither `=y`); a configuration naming neither keeps it, as
/// x32 is dropped only when that is sure.
fn x32_in(config: &str) -> bool {
    if X32_OPTIONS.iter().any(|o| kernel_option(config, o)) {
        return true;
    }
    !X32_OPTIONS.iter().any(|o| {
        let unset = format!("# {o} is not set");
        config.lines().any(|l| l.trim_end() == unset)
    })
}

/// Whether a kernel configuration turns `option` on: built in (`=y`) or, for a tristate
/// option, as a module (`=m`; x32 is a bool option, so only ever `=y`). Absent or `is not
/// set` is off.
fn kernel_option(config: &str, option: &str) -> bool {
    config.lines().any(|l| {
        l.strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|v| v == "y" || v == "m")
    })
}

/// The host's architecture as the profile's `includes.arches` names it (Go's names).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The libseccomp name of a Go architecture name.
fn scmp_arch(go_arch: &str) -> &'static str {
    match go_arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "",
    }
}

fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_kernel_version(&release).unwrap_or((0, 0))
}

fn parse_kernel_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Converts a Docker-format profile (an OCI-format one passes through the same way).
pub fn convert(
    profile: &Value,
    capabilities: &[String],
    go_arch: &str,
    kernel: &(u32, u32),
) -> Result<Value, ProfileError> {
    let default_action = profile["defaultAction"]
        .as_str()
        .ok_or("no defaultAction")?
        .to_string();
    let arch = scmp_arch(go_arch);
    let mut architectures = json_strings(&profile["architectures"]);
    if let Some(map) = profile["archMap"].as_array()
        && let Some(entry) = map.iter().find(|e| e["architecture"] == arch)
    {
        architectures = std::iter::once(arch.to_string())
            .chain(json_strings(&entry["subArchitectures"]))
            .collect();
    }
    let has_cap = |c: &String| capabilities.contains(c);
    let mut syscalls = Vec::new();
    for rule in profile["syscalls"].as_array().ok_or("no syscalls")? {
        let includes = &rule["includes"];
        let excludes = &rule["excludes"];
        let included_caps = json_strings(&includes["caps"]);
        if !included_caps.iter().all(has_cap) {
            continue;
        }
        if json_strings(&excludes["caps"]).iter().any(has_cap) {
            continue;
        }
        let arches = json_strings(&includes["arches"]);
        if !arches.is_empty() && !arches.iter().any(|a| a == go_arch) {
            continue;
        }
        if json_strings(&excludes["arches"])
            .iter()
            .any(|a| a == go_arch)
        {
            continue;
        }
        if let Some(min) = includes["minKernel"]
            .as_str()
            .and_then(parse_kernel_version)
            && *kernel < min
        {
            continue;
        }
        let mut names = json_strings(&rule["names"]);
        if let Some(name) = rule["name"].as_str() {
            names.push(name.to_string());
        }
        if names.is_empty() {
            continue;
        }
        let mut out = json!({
            "names": names,
            "action": rule["action"].as_str().ok_or("a rule without an action")?,
        });
        if let Some(errno) = rule["errnoRet"].as_u64() {
            out["errnoRet"] = errno.into();
        }
        if let Some(args) = rule["args"].as_array().filter(|a| !a.is_empty()) {
            out["args"] = args
                .iter()
                .map(|a| {
                    let mut arg = json!({
                        "index": a["index"],
                        "value": a["value"],
                        "op": a["op"],
                    });
                    if a["valueTwo"].as_u64().is_some_and(|v| v != 0) {
                        arg["valueTwo"] = a["valueTwo"].clone();
                    }
                    arg
                })
                .collect();
        }
        syscalls.push(out);
    }
    let mut seccomp = json!({
        "defaultAction": default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(errno) = profile["defaultErrnoRet"].as_u64() {
        seccomp["defaultErrnoRet"] = errno.into();
    }
    // Checked against the spec's own types now, so a bad profile fails the create.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(seccomp.clone())
        .map_err(|e| ProfileError(format!("not a seccomp profile: {e}")))?;
    Ok(seccomp)
}

/// The strings of a JSON array (other elements, or a value that is not an array, give none):
/// image configs and seccomp profiles list names this way.
pub(crate) fn json_strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [],
                 "includes": {}, "excludes": {}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}},
                {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "excludes": {"caps": ["CAP_SYS_BOOT"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": ["amd64"]}},
                {"names": ["newer"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"minKernel": "7.1"}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        })
    }

    fn names(seccomp: &Value) -> Vec<String> {
        seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| json_strings(&r["names"]))
            .collect()
    }

    #[test]
    fn rules_follow_capabilities_arch_and_kernel() {
        let caps = vec!["CAP_CHOWN".to_string()];
        let s = convert(&profile(), &caps, "amd64", &(6, 1)).unwrap();
        assert_eq!(
            s["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        assert_eq!(s["defaultErrnoRet"], 38);
        assert_eq!(
            names(&s),
            ["read", "write", "kexec_load", "arch_prctl", "personality"]
        );
        assert_eq!(s["syscalls"][3]["args"][0]["value"], 8);
        assert!(s["syscalls"][3]["args"][0].get("valueTwo").is_none());

        let admin = vec!["CAP_SYS_ADMIN".to_string(), "CAP_SYS_BOOT".to_string()];
        let s = convert(&profile(), &admin, "arm64", &(7, 2)).unwrap();
        assert_eq!(s["architectures"], json!(["SCMP_ARCH_AARCH64"]));
        assert_eq!(
            names(&s),
            ["read", "write", "mount", "newer", "personality"]
        );
    }

    #[test]
    fn the_installed_default_converts_when_present() {
        if let Some(path) = default_profile() {
            let s = load(&path, &["CAP_CHOWN".to_string()]).unwrap();
            assert!(names(&s).contains(&"read".to_string()));
        }
        assert!(convert(&json!({"syscalls": []}), &[], "amd64", &(6, 1)).is_err());
    }

    #[test]
    fn x32_is_dropped_only_when_named() {
        let config = "CONFIG_X86_64=y\n# CONFIG_X86_X32_ABI is not set\n";
        assert!(!kernel_option(config, "CONFIG_X86_X32_ABI"));
        assert!(kernel_option(config, "CONFIG_X86_64"));
        assert!(kernel_option("CONFIG_X86_X32_ABI=y", "CONFIG_X86_X32_ABI"));
        // Both names, off only when one says so.
        assert!(!x32_in(config));
        assert!(!x32_in("CONFIG_X86_64=y\n# CONFIG_X86_X32 is not set\n"));
        assert!(x32_in("CONFIG_X86_64=y\nCONFIG_X86_X32=y\n"));
        assert!(x32_in("CONFIG_X86_64=y\nCONFIG_X86_X32_ABI=y\n"));
        assert!(x32_in("CONFIG_X86_64=y\n"), "unsure: kept");
        // The prefix of the new name is the old one: the new name unset is not the old set.
        assert!(!x32_in(
            "# CONFIG_X86_X32_ABI is not set\nCONFIG_X86_X32_DISABLED=y\n"
        ));
        let mut s =
            json!({"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]});
        drop_arch(&mut s, "SCMP_ARCH_X32");
        assert_eq!(
            s["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
    }

    #[test]
    fn a_changed_profile_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        let write = |errno: u32| {
            let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]});
            std::fs::write(&path, profile.to_string()).unwrap();
        };
        let errno = |v: &Value| v["syscalls"][0]["errnoRet"].as_u64();
        write(1);
        assert_eq!(errno(&load(&path, &[]).unwrap()), Some(1));
        assert_eq!(errno(&load(&path, &[]).unwrap()), Some(1));
        // Same size, rewritten in place: the times tell.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(2);
        assert_eq!(errno(&load(&path, &[]).unwrap()), Some(2));
        // Gone: an error, not what was remembered.
        std::fs::remove_file(&path).unwrap();
        assert!(load(&path, &[]).is_err());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("x"), None);
    }

    #[test]
    fn one_choice_for_create_and_start() {
        assert_eq!(Seccomp::choose("unconfined"), Seccomp::Unconfined);
        assert_eq!(Seccomp::choose("unconfined").setting(), "unconfined");
        assert_eq!(Seccomp::Unconfined.filter(&[]).unwrap(), None);
        let given = Seccomp::choose("/no/such/profile.json");
        assert_eq!(given.setting(), "/no/such/profile.json");
        let err = given.filter(&[]).unwrap_err().to_string();
        assert!(err.starts_with("/no/such/profile.json: "), "{err}");
        // The default is recorded as "default" only when one is installed, so that inspect
        // never claims a filter the container does not get.
        let default = Seccomp::choose("");
        assert_eq!(Seccomp::choose("default"), default);
        match default_profile() {
            Some(path) => {
                assert_eq!(default, Seccomp::Default(path));
                assert_eq!(default.setting(), "default");
                assert!(default.filter(&["CAP_CHOWN".into()]).unwrap().is_some());
            }
            None => assert_eq!(default.setting(), "unconfined"),
        }
    }
}
