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
//! The cache of programs is `seccomp_cache.rs`.
//!
//! How the sameness was checked: `tests/integration/seccomp.rs` reads the filter of a running
//! container back with `PTRACE_SECCOMP_GET_FILTER` (`sys::seccomp_filter`), once from a
//! container podlink started with the annotation and once from one crun started from the
//! same `config.json` without it (compiling the profile itself): byte for byte the same, for
//! the default profile as podlink converts it and with `SCMP_ARCH_X32` put back.

use std::io::{Read, Seek};

use base64::Engine as _;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use serde_json::Value;

/// The annotation crun 1.x reads a ready seccomp program from (base64 of the raw BPF).
pub const BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";

/// Size of one BPF instruction (`struct sock_filter`).
const INSTRUCTION: usize = 8;
/// The errno of an `SCMP_ACT_ERRNO` without `errnoRet` (crun's and runc's default).
const EPERM: u32 = 1;

/// Why a profile could not be compiled (it is then left to the runtime).
#[derive(Debug, thiserror::Error)]
#[error("compile seccomp filter: {0}")]
pub struct BpfError(String);

fn fail(reason: impl std::fmt::Display) -> BpfError {
    BpfError(reason.to_string())
}

/// The annotation's value: base64 of the raw program.
pub fn annotation(program: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(program)
}

/// The version of the libseccomp this process runs with (`2.5.4`).
pub fn libseccomp_version() -> Result<String, BpfError> {
    let v = ScmpVersion::current().map_err(fail)?;
    Ok(format!("{}.{}.{}", v.major, v.minor, v.micro))
}

/// Whether `seccomp` has crun set up a notification listener (crun must compile it).
pub(crate) fn uses_notify(seccomp: &Value) -> bool {
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
/// `SCMP_ARCH_NATIVE`, which crun 1.8.1 refuses, is refused too.
fn arch(name: &str) -> Result<ScmpArch, BpfError> {
    let bare = name.strip_prefix("SCMP_ARCH_").unwrap_or(name);
    if bare.eq_ignore_ascii_case("NATIVE") {
        return Err(fail(format!("architecture {name:?}, which crun refuses")));
    }
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
            let name = name
                .as_str()
                .ok_or_else(|| fail(format!("a syscall name not a string: {name}")))?;
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
        // Refused rather than read as 0: the runtime then compiles it, and says what is wrong.
        let number = |field: &str| {
            arg[field]
                .as_u64()
                .ok_or_else(|| fail(format!("argument {field} missing or not a number: {arg}")))
        };
        let index = number("index")?;
        let slot = seen
            .get_mut(index as usize)
            .ok_or_else(|| fail(format!("invalid argument index {index}")))?;
        repeated |= *slot;
        *slot = true;
        let value = number("value")?;
        // The one optional field (the spec's `omitempty`; `seccomp::convert` leaves out a 0).
        let value_two = match arg.get("valueTwo") {
            None => 0,
            Some(_) => number("valueTwo")?,
        };
        let op = arg["op"]
            .as_str()
            .ok_or_else(|| fail(format!("argument op missing or not a string: {arg}")))?;
        let op = compare_op(op, value)?;
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
    fn what_crun_refuses_is_refused() {
        let mut bad = profile(1);
        bad["syscalls"][0]["errnoRet"] = json!(5);
        assert!(compile(&bad).is_err());
        let mut bad = profile(1);
        bad["syscalls"][2]["args"][0]["index"] = json!(6);
        assert!(compile(&bad).is_err());
        assert!(compile(&json!({"defaultAction": "SCMP_ACT_NOPE"})).is_err());
        assert!(uses_notify(
            &json!({"defaultAction": "SCMP_ACT_NOTIFY", "syscalls": []})
        ));
        assert_eq!(arch("x86_64").unwrap(), ScmpArch::X8664);
        assert_eq!(arch("SCMP_ARCH_X32").unwrap(), ScmpArch::X32);
        assert!(arch("SCMP_ARCH_NATIVE").is_err());
        assert!(arch("native").is_err());
    }

    #[test]
    fn what_crun_would_not_read_as_zero_is_refused() {
        let arg = |change: &dyn Fn(&mut Value)| {
            let mut p = profile(1);
            change(&mut p["syscalls"][3]["args"][0]);
            compile(&p)
        };
        assert!(arg(&|_| ()).is_ok());
        // valueTwo is optional (0), as in the spec.
        assert!(arg(&|a| drop(a.as_object_mut().unwrap().remove("valueTwo"))).is_ok());
        for field in ["index", "value", "valueTwo", "op"] {
            let removed = arg(&|a| drop(a.as_object_mut().unwrap().remove(field)));
            assert_eq!(removed.is_err(), field != "valueTwo", "{field} missing");
            assert!(arg(&|a| a[field] = json!("1")).is_err(), "{field} a string");
            assert!(arg(&|a| a[field] = json!(-1)).is_err(), "{field} negative");
        }
        assert!(arg(&|a| a["op"] = json!(3)).is_err());
        let mut bad = profile(1);
        bad["syscalls"][0]["names"][1] = json!(7);
        assert!(compile(&bad).is_err());
        let mut native = profile(1);
        native["architectures"] = json!(["SCMP_ARCH_NATIVE"]);
        assert!(compile(&native).is_err());
    }
}
