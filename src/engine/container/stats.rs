//! GetContainerStats: CPU, memory, network, block IO and process counts of a running
//! container, from its cgroup (v1 or v2) and its network namespace.
//!
//! `cpu` is the container's CPU use in percent of one CPU since the previous call for the
//! same container (since its start on the first call). Podman 1.x compared against an
//! all-zero baseline, which made the figure meaningless (its own example shows 2.6e-08);
//! this is what `podman stats` shows instead.
//!
//! The host's memory and the container's network counters are read with the `procfs` crate.

use std::time::Instant;

use procfs::Current;

use super::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::runtime::cgroups;

/// A container's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerStats {
    /// Full ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// CPU use in percent of one CPU since the previous sample.
    pub cpu_percent: f64,
    /// CPU time used, in nanoseconds.
    pub cpu_nanos: u64,
    /// CPU time spent in the kernel, in nanoseconds.
    pub system_nanos: u64,
    /// Memory in use, in bytes.
    pub mem_usage: u64,
    /// Memory limit (the host's memory when there is none), in bytes.
    pub mem_limit: u64,
    /// `mem_usage` in percent of `mem_limit`.
    pub mem_percent: f64,
    /// Bytes received on the container's network interfaces (loopback aside).
    pub net_input: u64,
    /// Bytes sent.
    pub net_output: u64,
    /// Bytes read from block devices.
    pub block_input: u64,
    /// Bytes written to block devices.
    pub block_output: u64,
    /// Processes.
    pub pids: u64,
}

/// Bytes received and sent on the interfaces of `pid`'s network namespace, loopback aside
/// (`/proc/PID/net/dev`, read through the container's process so it is the container's
/// namespace).
fn network(pid: i32) -> (u64, u64) {
    let devices = procfs::process::Process::new(pid).and_then(|p| p.dev_status());
    devices
        .map(|devices| {
            devices
                .values()
                .filter(|d| d.name != "lo")
                .fold((0, 0), |(rx, tx), d| (rx + d.recv_bytes, tx + d.sent_bytes))
        })
        .unwrap_or((0, 0))
}

/// The host's memory in bytes (unlimited if /proc/meminfo cannot be read).
fn host_memory() -> u64 {
    procfs::Meminfo::current().map_or(u64::MAX, |m| m.mem_total)
}

impl Containers {
    /// io.podman.GetContainerStats: `NoContainerRunning` unless it runs (or is paused).
    pub fn get_container_stats(&self, name: &str) -> Result<ContainerStats> {
        let (_, record) = self.view_container(name)?;
        if !record.status().can_read_processes() {
            return Err(Error::NoContainerRunning {
                id: record.id.to_string(),
            });
        }
        let counters = cgroups::stats(&Self::cgroup_path(&record));
        let now = Instant::now();
        let previous = {
            let mut samples = self
                .cpu_samples()
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            samples.retain(|id, (_, at)| {
                id.as_str() == record.id.as_str() || at.elapsed().as_secs() < 600
            });
            samples.insert(record.id.to_string(), (counters.cpu_nanos, now))
        };
        let (base_cpu, since) = match previous {
            Some((cpu, at)) if cpu <= counters.cpu_nanos => (cpu, now.duration_since(at)),
            _ => {
                let started = humantime::parse_rfc3339_weak(&record.state.started_at)
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                (0, started)
            }
        };
        let cpu_percent = if since.as_nanos() > 0 {
            (counters.cpu_nanos - base_cpu) as f64 * 100.0 / since.as_nanos() as f64
        } else {
            0.0
        };
        let mem_limit = counters.memory_limit.min(host_memory());
        let (net_input, net_output) = network(record.state.pid);
        Ok(ContainerStats {
            id: record.id.to_string(),
            name: record.name.clone(),
            cpu_percent,
            cpu_nanos: counters.cpu_nanos,
            system_nanos: counters.cpu_system_nanos,
            mem_usage: counters.memory_usage,
            mem_limit,
            mem_percent: if mem_limit > 0 {
                counters.memory_usage as f64 * 100.0 / mem_limit as f64
            } else {
                0.0
            },
            net_input,
            net_output,
            block_input: counters.block_read,
            block_output: counters.block_write,
            pids: counters.pids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_figures_read() {
        assert!(host_memory() > 0 && host_memory() < u64::MAX);
        // This process's namespace: whatever it has, loopback excluded, it parses.
        let _ = network(std::process::id() as i32);
    }
}
