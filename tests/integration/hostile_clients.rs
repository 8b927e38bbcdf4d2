//! Hostile or broken clients (issue 8, item 10): senders that stall mid-message cannot hold
//! the daemon's memory or a thread for good; idle clients between messages are kept.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{DaemonOptions, TestDaemon, ok};

const MIB: usize = 1024 * 1024;

/// The daemon's resident memory, in bytes.
fn rss(pid: u32) -> usize {
    crate::util::status_kib(pid, "VmRSS:") as usize * 1024
}

/// Whether the server closed `stream` (EOF or an error) within `limit`; what it said before.
fn closed_within(stream: &mut UnixStream, limit: Duration) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + limit;
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (false, said);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (true, said),
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (false, said);
            }
            Err(_) => return (true, said),
        }
    }
}

fn ping_within(daemon: &TestDaemon, limit: Duration) {
    let start = Instant::now();
    let mut raw = daemon.raw();
    ok(&mut raw, "Ping", json!({}));
    assert!(start.elapsed() < limit, "Ping took {:?}", start.elapsed());
}

#[test]
fn stalled_senders_are_bounded_oldest_first() {
    let budget = 8 * MIB;
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: vec![
            "--max-buffered".into(),
            budget.to_string(),
            // Long enough that only the budget closes anything here.
            "--message-timeout".into(),
            "120000".into(),
        ],
        ..Default::default()
    });
    ping_within(&daemon, Duration::from_secs(5));
    let pid = daemon.pid();
    let idle = rss(pid);

    // 30 clients each send 4 MiB of a message and stall: 120 MiB if all were held.
    let senders = 30;
    let part = 4 * MIB;
    let mut peak = idle;
    let mut streams = Vec::new();
    for _ in 0..senders {
        let mut stream = UnixStream::connect(&daemon.socket).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut data = br#"{"method":"io.podman.Ping","parameters":{"pad":""#.to_vec();
        data.resize(part, b'x');
        // An evicted sender's writes fail (the server stopped reading): that is the point.
        let _ = stream.write_all(&data);
        peak = peak.max(rss(pid));
        streams.push(stream);
    }
    // Let the server take in what is in flight, sampling its memory meanwhile.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        peak = peak.max(rss(pid));
        std::thread::yield_now();
    }
    let growth = peak.saturating_sub(idle);
    eprintln!(
        "idle RSS {} KiB, peak {} KiB, growth {} KiB (budget {} KiB, {} MiB sent)",
        idle / 1024,
        peak / 1024,
        growth / 1024,
        budget / 1024,
        senders * part / MIB
    );
    // The budget, plus the 64 KiB every message may hold outside it, plus allocator slack.
    assert!(
        growth < budget + senders * 64 * 1024 + 24 * MIB,
        "the daemon grew by {} MiB for stalled senders",
        growth / MIB
    );

    // The oldest were closed to make room, with a reason; at most the budget's worth stay.
    let mut closed = 0;
    for (i, stream) in streams.iter_mut().enumerate() {
        let (gone, said) = closed_within(stream, Duration::from_millis(300));
        if gone {
            closed += 1;
            let said = String::from_utf8_lossy(&said);
            assert!(
                said.is_empty() || said.contains("max-buffered"),
                "sender {i}: {said}"
            );
        }
    }
    let may_stay = budget / part + 1;
    assert!(
        closed >= senders - may_stay,
        "only {closed} of {senders} stalled senders were closed"
    );
    // A new client is answered at once.
    ping_within(&daemon, Duration::from_secs(1));
}

#[test]
fn a_stalled_message_times_out_an_idle_connection_stays() {
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: vec!["--message-timeout".into(), "2000".into()],
        ..Default::default()
    });
    // Idle between messages: one that was used, one that never sent anything.
    let mut used = daemon.raw();
    ok(&mut used, "Ping", json!({}));
    let mut silent = UnixStream::connect(&daemon.socket).unwrap();

    let mut stalled = UnixStream::connect(&daemon.socket).unwrap();
    let start = Instant::now();
    stalled
        .write_all(br#"{"method":"io.podman.Ping","param"#)
        .unwrap();
    let (gone, said) = closed_within(&mut stalled, Duration::from_secs(15));
    let took = start.elapsed();
    assert!(gone, "the stalled sender was not closed");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "closed after {took:?}"
    );
    assert!(
        String::from_utf8_lossy(&said).contains("timeout"),
        "{}",
        String::from_utf8_lossy(&said)
    );

    // Both idle connections outlived the timeout and still work.
    ok(&mut used, "Ping", json!({}));
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    silent
        .write_all(b"{\"method\":\"io.podman.Ping\"}\0")
        .unwrap();
    let mut reply = [0u8; 256];
    let n = silent.read(&mut reply).unwrap();
    assert!(
        String::from_utf8_lossy(&reply[..n]).contains("\"OK\""),
        "{}",
        String::from_utf8_lossy(&reply[..n])
    );
}
