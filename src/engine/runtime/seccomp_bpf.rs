//! A container's final `linux.seccomp` compiled to a BPF program once, then kept: crun takes
//! the ready program in the annotation [`BPF_ANNOTATION`] instead of compiling the profile
//! in its parent while the container waits (25-35 ms for containers-common's profile).
//! runc ignores the annotation and compiles `linux.seccomp` itself, which stays in the spec.
//!
//! The program is what crun 1.8.1 would build from the same JSON
//! (`src/libcrun/seccomp.c`, `libcrun_generate_seccomp`): `seccomp_init` with the default
//! action and libseccomp's default filter attributes (crun sets none; the no-new-privileges
//! and thread-sync attributes only matter when libseccomp loads a filter, and crun loads the
//! exported program itself), the architectures in their order, then per rule and name a
//! `seccomp_rule_add_array` with up to six comparisons, or one rule per comparison when an
//! argument index repeats; rules whose action is the default one are skipped, as are names
//! this libseccomp does not know. `errnoRet` defaults to EPERM.
//!
//! Through the `libseccomp` crate (safe bindings; youki uses it too), so no `unsafe` here.
//! libseccomp 2.5 has no export to memory: the program goes through a memfd.
//!
//! The cache: `RUNROOT/seccomp/<sha256 hex of the key>`, the key being the final JSON (every
//! `errnoRet` in it), the libseccomp version and the architecture. An entry is the program
//! followed by the sha256 of the program; one whose length or digest is wrong is compiled
//! again and replaced. Entries are written aside and renamed into place, so concurrent starts
//! of the same profile at worst both compile it, and a reader never sees half an entry.
//!
//! How the sameness was checked: `tests/integration/seccomp.rs` reads the filter of a running
//! container back with `PTRACE_SECCOMP_GET_FILTER` (`sys::seccomp_filter`), once from a
//! container podlink started with the annotation and once from one crun started from the
//! same `config.json` without it (compiling the profile itself): byte for byte the same, for
//! the default profile as podlink converts it and with `SCMP_ARCH_X32` put back.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The annotation crun 1.x reads a ready seccomp program from (base64 of the raw BPF).
pub const BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";
/// The cache's directory under the run root.
pub const CACHE_DIR: &str = "seccomp";

/// Size of one BPF instruction (`struct sock_filter`).
const INSTRUCTION: usize = 8;
/// Size of the digest that ends a cache entry.
const DIGEST: usize = 32;
/// The errno of an `SCMP_ACT_ERRNO` without `errnoRet` (crun's and runc's default).
const EPERM: u32 = 1;

/// Why a profile could not be compiled (it is then left to the runtime).
#[derive(Debug, thiserror::Error)]
#[error("compile seccomp filter: {0}")]
pub struct BpfError(String);

fn fail(reason: impl std::fmt::Display) -> BpfError {
    BpfError(reason.to_string())
}

/// The program for `seccomp` (a spec's `linux.seccomp`), from the cache in `cache_dir` or
/// compiled and stored there; `Ok(None)` when crun must compile it itself (a profile with
/// `SCMP_ACT_NOTIFY`, whose listener crun sets up while it compiles).
pub fn program(cache_dir: &Path, seccomp: &Value) -> Result<Option<Vec<u8>>, BpfError> {
    if uses_notify(seccomp) {
        return Ok(None);
    }
    let path = cache_dir.join(cache_key(seccomp, &libseccomp_version()?));
    if let Ok(entry) = std::fs::read(&path) {
        match validate(&entry) {
            Some(program) => return Ok(Some(program.to_vec())),
            None => log::warn!("seccomp cache entry {} is damaged: rebuilt", path.display()),
        }
    }
    let program = compile(seccomp)?;
    if let Err(e) = store(cache_dir, &path, &program) {
        // The program is good; only the next start pays for it again.
        log::warn!("store seccomp cache entry {}: {e}", path.display());
    }
    Ok(Some(program))
}

/// The annotation's value: base64 of the raw program.
pub fn annotation(program: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(program)
}

/// The cache entry's path for `seccomp` (for tests and tools that inspect the cache).
pub fn entry_path(cache_dir: &Path, seccomp: &Value) -> Result<PathBuf, BpfError> {
    Ok(cache_dir.join(cache_key(seccomp, &libseccomp_version()?)))
}

/// The version of the libseccomp this process runs with (`2.5.4`).
pub fn libseccomp_version() -> Result<String, BpfError> {
    let v = ScmpVersion::current().map_err(fail)?;
    Ok(format!("{}.{}.{}", v.major, v.minor, v.micro))
}

/// The hex sha256 naming the cache entry of `seccomp` compiled by libseccomp `version` on this
/// architecture. serde_json writes an object's keys in one order (sorted), so equal JSON gives
/// equal bytes.
pub fn cache_key(seccomp: &Value, version: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"podlink seccomp bpf 1\0");
    hash.update(version.as_bytes());
    hash.update(b"\0");
    hash.update(std::env::consts::ARCH.as_bytes());
    hash.update(b"\0");
    hash.update(seccomp.to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The program of a cache entry, if the entry is whole: a non-empty program of whole
/// instructions followed by its own sha256.
pub fn validate(entry: &[u8]) -> Option<&[u8]> {
    let len = entry.len().checked_sub(DIGEST)?;
    if len == 0 || len % INSTRUCTION != 0 {
        return None;
    }
    let (program, digest) = entry.split_at(len);
    (Sha256::digest(program).as_slice() == digest).then_some(program)
}

fn store(cache_dir: &Path, path: &Path, program: &[u8]) -> crate::engine::storage::Result<()> {
    crate::engine::storage::dirs::create_private_dir(cache_dir)?;
    let mut entry = program.to_vec();
    entry.extend_from_slice(&Sha256::digest(program));
    // The cache lives under the run root, which does not outlive the machine: no fsync.
    crate::engine::storage::replace_file(path, &entry)
}

fn uses_notify(seccomp: &Value) -> bool {
    seccomp["defaultAction"] == "SCMP_ACT_NOTIFY"
        || seccomp["syscalls"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|r| r["action"] == "SCMP_ACT_NOTIFY"))
}

/// crun's mapping of an action name, with `errno` for `ERRNO` and `TRACE`.
fn action(name: &str, errno: u32) -> Result<ScmpAction, BpfError> {
    // SCMP_ACT_ERRNO keeps the low 16 bits, so actions are compared as the kernel sees them.
    let errno = errno as u16;
    Ok(match name.strip_prefix("SCMP_ACT_").unwrap_or("") {
        "ALLOW" => ScmpAction::Allow,
        "ERRNO" => ScmpAction::Errno(i32::from(errno)),
        "KILL" | "KILL_THREAD" => ScmpAction::KillThread,
        "LOG" => ScmpAction::Log,
        "TRAP" => ScmpAction::Trap,
        "TRACE" => ScmpAction::Trace(errno),
        "KILL_PROCESS" => ScmpAction::KillProcess,
        "NOTIFY" => ScmpAction::Notify,
        _ => return Err(fail(format!("unknown action {name:?}"))),
    })
}

/// The action of a rule or of the default, with its errno (`errno_field` in `obj`) checked
/// as crun does: only `ERRNO` and `TRACE` take one.
fn action_of(obj: &Value, field: &str, errno_field: &str) -> Result<ScmpAction, BpfError> {
    let name = obj[field]
        .as_str()
        .ok_or_else(|| fail(format!("no {field}")))?;
    let errno = match &obj[errno_field] {
        Value::Null => EPERM,
        v => {
            if !matches!(name, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") {
                return Err(fail(format!("errno value specified for action {name:?}")));
            }
            v.as_u64()
                .and_then(|e| u32::try_from(e).ok())
                .ok_or_else(|| fail(format!("bad {errno_field} {v}")))?
        }
    };
    action(name, errno)
}

fn compare_op(name: &str, value: u64) -> Result<ScmpCompareOp, BpfError> {
    Ok(match name {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // crun passes `value` as libseccomp's first datum, which for MASKED_EQ is the mask.
        "SCMP_CMP_MASKED_EQ" => ScmpCompareOp::MaskedEqual(value),
        _ => return Err(fail(format!("unknown comparison {name:?}"))),
    })
}

/// An architecture as crun resolves it: `SCMP_ARCH_` prefix optional, any case.
fn arch(name: &str) -> Result<ScmpArch, BpfError> {
    let bare = name.strip_prefix("SCMP_ARCH_").unwrap_or(name);
    format!("SCMP_ARCH_{}", bare.to_ascii_uppercase())
        .parse()
        .map_err(|_| fail(format!("unknown architecture {name:?}")))
}

/// Compiles `seccomp` (a spec's `linux.seccomp`) as crun 1.8.1 does.
pub fn compile(seccomp: &Value) -> Result<Vec<u8>, BpfError> {
    let default = action_of(seccomp, "defaultAction", "defaultErrnoRet")?;
    let mut ctx = ScmpFilterContext::new(default).map_err(fail)?;
    for name in seccomp["architectures"].as_array().into_iter().flatten() {
        let name = name
            .as_str()
            .ok_or_else(|| fail("an architecture not a string"))?;
        ctx.add_arch(arch(name)?).map_err(fail)?;
    }
    for rule in seccomp["syscalls"].as_array().into_iter().flatten() {
        let action = action_of(rule, "action", "errnoRet")?;
        if action == default {
            continue;
        }
        let comparisons = match rule["args"].as_array() {
            None => None,
            Some(args) => Some(comparisons(args)?),
        };
        for name in rule["names"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                log::debug!("unknown seccomp syscall {name:?} ignored");
                continue;
            };
            let added = match &comparisons {
                None => ctx.add_rule(action, syscall).map(drop),
                Some((cmps, false)) => ctx.add_rule_conditional(action, syscall, cmps).map(drop),
                // An index compared twice: one rule per comparison, as crun does.
                Some((cmps, true)) => cmps.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(action, syscall, std::slice::from_ref(c))
                        .map(drop)
                }),
            };
            added.map_err(|e| fail(format!("rule for {name}: {e}")))?;
        }
    }
    export(&ctx)
}

/// A rule's comparisons (at most six, as crun reads), and whether an index repeats.
fn comparisons(args: &[Value]) -> Result<(Vec<ScmpArgCompare>, bool), BpfError> {
    let mut seen = [false; 6];
    let mut repeated = false;
    let mut out = Vec::new();
    for arg in args.iter().take(6) {
        let index = arg["index"].as_u64().unwrap_or(0);
        let slot = seen
            .get_mut(index as usize)
            .ok_or_else(|| fail(format!("invalid argument index {index}")))?;
        repeated |= *slot;
        *slot = true;
        let value = arg["value"].as_u64().unwrap_or(0);
        let value_two = arg["valueTwo"].as_u64().unwrap_or(0);
        let op = compare_op(arg["op"].as_str().unwrap_or_default(), value)?;
        let datum = match op {
            ScmpCompareOp::MaskedEqual(_) => value_two,
            _ => value,
        };
        out.push(ScmpArgCompare::new(index as u32, op, datum));
    }
    Ok((out, repeated))
}

fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, BpfError> {
    let fd =
        nix::sys::memfd::memfd_create(c"podlink-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(fail)?;
    ctx.export_bpf(&fd).map_err(fail)?;
    let mut file = std::fs::File::from(fd);
    file.rewind().map_err(fail)?;
    let mut program = Vec::new();
    file.read_to_end(&mut program).map_err(fail)?;
    if program.is_empty() || program.len() % INSTRUCTION != 0 {
        return Err(fail(format!("libseccomp exported {} bytes", program.len())));
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(errno: u32) -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"},
                          {"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]}
            ]
        })
    }

    #[test]
    fn the_key_covers_every_errno_ret_the_version_and_nothing_else() {
        let one = cache_key(&profile(1), "2.5.4");
        assert_eq!(one.len(), 64);
        assert_eq!(one, cache_key(&profile(1), "2.5.4"));
        assert_ne!(one, cache_key(&profile(13), "2.5.4"));
        assert_ne!(one, cache_key(&profile(1), "2.5.5"));
        let mut other_default = profile(1);
        other_default["defaultErrnoRet"] = json!(1);
        assert_ne!(one, cache_key(&other_default, "2.5.4"));
        // Key order in the document does not matter: equal JSON, equal key.
        let reordered: Value = serde_json::from_str(
            r#"{"syscalls": [], "architectures": ["SCMP_ARCH_X86_64"], "defaultAction": "SCMP_ACT_ALLOW"}"#,
        )
        .unwrap();
        let ordered = json!({"defaultAction": "SCMP_ACT_ALLOW",
                             "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []});
        assert_eq!(cache_key(&reordered, "2.5.4"), cache_key(&ordered, "2.5.4"));
    }

    #[test]
    fn entries_are_checked_before_use() {
        let program = compile(&profile(1)).unwrap();
        assert_eq!(program.len() % INSTRUCTION, 0);
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        assert_eq!(program_of(&cache, &profile(1)), program);
        let path = entry_path(&cache, &profile(1)).unwrap();
        let mut entry = std::fs::read(&path).unwrap();
        assert_eq!(validate(&entry), Some(program.as_slice()));
        for flip in [0, program.len() - 1, entry.len() - 1] {
            let mut bad = entry.clone();
            bad[flip] ^= 0x40;
            assert_eq!(validate(&bad), None, "byte {flip} flipped");
        }
        assert_eq!(validate(&entry[1..]), None);
        assert_eq!(validate(&entry[..DIGEST]), None);
        // A damaged entry is compiled again and replaced.
        entry[3] ^= 1;
        std::fs::write(&path, &entry).unwrap();
        assert_eq!(program_of(&cache, &profile(1)), program);
        assert_eq!(
            validate(&std::fs::read(&path).unwrap()),
            Some(program.as_slice())
        );
        // Another errnoRet, another program and another entry.
        assert_ne!(compile(&profile(13)).unwrap(), program);
        assert_ne!(entry_path(&cache, &profile(13)).unwrap(), path);
    }

    #[test]
    fn concurrent_compiles_leave_one_whole_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        let programs: Vec<Vec<u8>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| program_of(&cache, &profile(1))))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(programs.windows(2).all(|w| w[0] == w[1]));
        let names: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "temporary files left");
        let entry = std::fs::read(names[0].path()).unwrap();
        assert_eq!(validate(&entry), Some(programs[0].as_slice()));
    }

    fn program_of(cache: &Path, seccomp: &Value) -> Vec<u8> {
        program(cache, seccomp).unwrap().unwrap()
    }

    #[test]
    fn what_crun_refuses_is_refused() {
        let mut bad = profile(1);
        bad["syscalls"][0]["errnoRet"] = json!(5);
        assert!(compile(&bad).is_err());
        let mut bad = profile(1);
        bad["syscalls"][2]["args"][0]["index"] = json!(6);
        assert!(compile(&bad).is_err());
        assert!(compile(&json!({"defaultAction": "SCMP_ACT_NOPE"})).is_err());
        let notify = json!({"defaultAction": "SCMP_ACT_NOTIFY", "syscalls": []});
        assert!(
            program(Path::new("/nonexistent"), &notify)
                .unwrap()
                .is_none()
        );
        assert_eq!(arch("x86_64").unwrap(), ScmpArch::X8664);
        assert_eq!(arch("SCMP_ARCH_X32").unwrap(), ScmpArch::X32);
    }
}
