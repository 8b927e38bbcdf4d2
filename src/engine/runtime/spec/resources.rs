//! The spec's `linux.resources`: cgroup limits, each only when set, and the device rules.

use serde_json::{Value, json};

use super::input::{BlockDeviceLimit, SpecInput};

/// A JSON object of the fields that have a value.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?)))
            .collect(),
    )
}

/// The resources object of the spec.
pub(super) fn resources(input: &SpecInput) -> Value {
    let c = &input.config;
    let r = &c.resources;
    // Each limit only when set: an absent one leaves the kernel's default.
    let given = |set: bool, value: Value| set.then_some(value);
    let memory = object([
        ("limit", given(r.memory > 0, json!(r.memory))),
        (
            "reservation",
            given(r.memory_reservation > 0, json!(r.memory_reservation)),
        ),
        ("swap", given(r.memory_swap != 0, json!(r.memory_swap))),
        ("kernel", given(r.kernel_memory > 0, json!(r.kernel_memory))),
        ("swappiness", r.memory_swappiness.map(|s| json!(s))),
        ("disableOOMKiller", given(r.disable_oom_killer, json!(true))),
    ]);
    let cpu = object([
        ("shares", given(r.cpu_shares > 0, json!(r.cpu_shares))),
        ("quota", given(r.cpu_quota != 0, json!(r.cpu_quota))),
        ("period", given(r.cpu_period > 0, json!(r.cpu_period))),
        (
            "realtimePeriod",
            given(r.cpu_rt_period > 0, json!(r.cpu_rt_period)),
        ),
        (
            "realtimeRuntime",
            given(r.cpu_rt_runtime != 0, json!(r.cpu_rt_runtime)),
        ),
        (
            "cpus",
            given(!r.cpuset_cpus.is_empty(), json!(r.cpuset_cpus)),
        ),
        (
            "mems",
            given(!r.cpuset_mems.is_empty(), json!(r.cpuset_mems)),
        ),
    ]);
    let devices_with = |limits: &[BlockDeviceLimit], key: &str| -> Option<Value> {
        (!limits.is_empty()).then(|| {
            limits
                .iter()
                .map(|l| json!({"major": l.major, "minor": l.minor, key: l.value}))
                .collect()
        })
    };
    let block_io = object([
        ("weight", given(r.blkio_weight > 0, json!(r.blkio_weight))),
        (
            "weightDevice",
            devices_with(&r.blkio_weight_device, "weight"),
        ),
        (
            "throttleReadBpsDevice",
            devices_with(&r.device_read_bps, "rate"),
        ),
        (
            "throttleWriteBpsDevice",
            devices_with(&r.device_write_bps, "rate"),
        ),
        (
            "throttleReadIOPSDevice",
            devices_with(&r.device_read_iops, "rate"),
        ),
        (
            "throttleWriteIOPSDevice",
            devices_with(&r.device_write_iops, "rate"),
        ),
    ]);
    let mut device_rules = vec![json!({"allow": c.privileged, "access": "rwm"})];
    if !c.privileged {
        device_rules.extend(input.devices.iter().map(|d| {
            json!({
                "allow": true,
                "type": d.kind.to_string(),
                "major": d.major,
                "minor": d.minor,
                "access": d.access,
            })
        }));
    }
    let mut resources = json!({"devices": device_rules});
    for (key, value) in [("memory", memory), ("cpu", cpu), ("blockIO", block_io)] {
        if value.as_object().is_some_and(|o| !o.is_empty()) {
            resources[key] = value;
        }
    }
    // -1 is no limit, and so is 0 in records made before the default limit: both leave the
    // new cgroup's own `max`. Not written as -1: runc turns it into `max`, but crun 1.8
    // writes "-1" to cgroup v1's pids.max, which the kernel refuses.
    if r.pids_limit > 0 {
        resources["pids"] = json!({"limit": r.pids_limit});
    }
    resources
}
