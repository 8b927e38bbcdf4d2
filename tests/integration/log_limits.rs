//! Container logs and waiters (issue 8, items 6, 7 and 11): the log size limit and its
//! rotation, GetContainerLogs of a 1 GB log in bounded memory, invalid UTF-8 in a log, and
//! callers of WaitContainer and GetContainerLogs(`more`) that hang up. Needs root.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::containers::{
    assert_nothing_left, create, daemon_with_busybox, inspect, ok, wait_for_log,
};
use crate::util::{DaemonOptions, RawConnection, TestDaemon, privileged};

/// The daemon's resident memory, in bytes.
fn rss(pid: u32) -> u64 {
    crate::util::status_kib(pid, "VmRSS:") * 1024
}

/// The CPU time the daemon has used.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat").1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The daemon's threads.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task")
        .count()
}

/// The ids of the daemon's threads.
fn tids(pid: u32) -> HashSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Where a thread of the daemon sleeps in the kernel.
fn wchan(pid: u32, tid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).unwrap_or_default()
}

/// Waits up to `limit` for `condition`; whether it came true.
fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn log_path(raw: &mut RawConnection, name: &str) -> PathBuf {
    PathBuf::from(inspect(raw, name)["LogPath"].as_str().expect("LogPath"))
}

fn rotated(log: &Path) -> PathBuf {
    PathBuf::from(format!("{}.1", log.display()))
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn lines_of(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value["container"].clone()).expect("lines")
}

fn stop_and_remove(raw: &mut RawConnection, name: &str) {
    ok(raw, "StopContainer", json!({"name": name, "timeout": 0}));
    ok(raw, "RemoveContainer", json!({"name": name}));
}

#[test]
fn the_log_is_capped_and_rotated_while_the_container_runs() {
    if !privileged("the_log_is_capped_and_rotated_while_the_container_runs") {
        return;
    }
    const LIMIT: u64 = 1024 * 1024;
    let daemon = daemon_with_busybox(DaemonOptions {
        args: vec!["--log-size-max".into(), LIMIT.to_string()],
        ..Default::default()
    });
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "chatty",
        &["sh", "-c", "while :; do seq 1 2000; sleep 0.01; done"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "chatty"}));
    let log = log_path(&mut raw, "chatty");
    // Several rotations (each a new rotated file), the bound holding at every look.
    let mut rotations = HashSet::new();
    let rotated_a_few_times = within(Duration::from_secs(60), || {
        let current = size(&log);
        let old = size(&rotated(&log));
        assert!(current <= LIMIT / 2, "the log holds {current} bytes");
        assert!(
            current + old <= LIMIT,
            "the logs hold {current} + {old} bytes"
        );
        if let Ok(meta) = std::fs::metadata(rotated(&log)) {
            rotations.insert(meta.ino());
        }
        rotations.len() >= 4
    });
    assert!(rotated_a_few_times, "rotated {} times", rotations.len());
    // The container runs on and its output keeps flowing.
    assert_eq!(inspect(&mut raw, "chatty")["State"]["Running"], true);
    let before = std::fs::metadata(rotated(&log)).unwrap().ino();
    assert!(within(Duration::from_secs(20), || {
        std::fs::metadata(rotated(&log)).is_ok_and(|m| m.ino() != before)
    }));
    // The logs read: whole lines, the newest half of the limit at least, the bound at most.
    let lines = lines_of(&ok(&mut raw, "GetContainerLogs", json!({"name": "chatty"})));
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(
        bytes as u64 <= LIMIT && bytes as u64 >= LIMIT / 4,
        "{bytes} bytes"
    );
    let numbers = lines
        .iter()
        .map(|l| l.rsplit_once(" stdout F ").expect(l).1.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>();
    assert!(numbers.is_ok(), "a line is not whole");
    stop_and_remove(&mut raw, "chatty");
    // A removed container's files go on the daemon's reclaim thread, after the reply.
    crate::util::wait_for(
        "the log and its rotation deleted",
        Duration::from_secs(30),
        || !log.exists() && !rotated(&log).exists(),
    );
    assert_nothing_left(&daemon);
}

/// Reads one reply from `stream`, a chunk at a time, without keeping it; how many strings
/// its array holds (the lines hold no quotes), and whether more replies follow.
fn count_reply_lines(reader: &mut impl BufRead) -> (usize, bool, Vec<u8>) {
    let mut quotes = 0;
    let mut head = Vec::new();
    loop {
        let buf = reader.fill_buf().expect("read");
        assert!(!buf.is_empty(), "the connection closed mid-reply");
        let (chunk, end) = match buf.iter().position(|&b| b == 0) {
            Some(end) => (&buf[..end], true),
            None => (buf, false),
        };
        // Through `str` (whose search is the standard library's optimized memchr): a byte
        // loop compiled without optimizations would take longer than the daemon's reading.
        quotes += std::str::from_utf8(chunk)
            .expect("the lines are ASCII: a chunk never splits a character")
            .matches('"')
            .count();
        if head.len() < 4096 {
            head.extend_from_slice(&chunk[..chunk.len().min(4096)]);
        }
        let used = chunk.len() + usize::from(end);
        reader.consume(used);
        if end {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    assert!(!text.contains("\"error\""), "{text}");
    let continues = text.contains("\"continues\":true");
    // The keys: "parameters", "container" and maybe "continues".
    let keys = if continues { 3 } else { 2 };
    ((quotes - 2 * keys) / 2, continues, head)
}

/// Samples the daemon's resident memory until stopped; the largest seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(rss(pid)));
        let thread = {
            let (stop, max) = (Arc::clone(&stop), Arc::clone(&max));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max.fetch_max(rss(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        RssSampler {
            stop,
            max,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.max.load(Ordering::Relaxed)
    }
}

#[test]
fn a_1gb_log_is_read_in_bounded_memory() {
    if !privileged("a_1gb_log_is_read_in_bounded_memory") {
        return;
    }
    const BOUND: u64 = 32 * 1024 * 1024;
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(&mut raw, "big", &["true"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "big"}));
    ok(&mut raw, "WaitContainer", json!({"name": "big"}));
    // 1 GiB of log, written as an older podlink (or one with no limit) would have left it.
    let log = log_path(&mut raw, "big");
    let filler = "x".repeat(1000);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).unwrap());
    let mut count = 0usize;
    let mut written = 0u64;
    while written < 1 << 30 {
        // Lines of one length, so that the log can be cut at a line's end below.
        let line = format!("2026-12-01T00:00:00.000000000Z stdout F {count:09} {filler}\n");
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        count += 1;
    }
    out.flush().unwrap();
    drop(out);

    let pid = daemon.pid();
    assert_eq!(
        raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
    let idle = rss(pid);

    // With `more`: batches of lines.
    let sampler = RssSampler::start(pid);
    let start = Instant::now();
    let cpu_before = cpu(pid);
    let stream = UnixStream::connect(&daemon.socket).unwrap();
    (&stream)
        .write_all(b"{\"method\":\"io.podman.GetContainerLogs\",\"parameters\":{\"name\":\"big\"},\"more\":true}\0")
        .unwrap();
    let mut reader = BufReader::with_capacity(1 << 20, &stream);
    let mut got = 0;
    let mut replies = 0;
    let mut first = Vec::new();
    loop {
        let (lines, continues, head) = count_reply_lines(&mut reader);
        if replies == 0 {
            first = head;
        }
        got += lines;
        replies += 1;
        if !continues {
            break;
        }
    }
    let peak = sampler.finish();
    eprintln!(
        "1 GiB log with more: {got} lines in {replies} replies, {:?} (daemon CPU {:?}), rss idle {} MiB, peak {} MiB",
        start.elapsed(),
        cpu(pid) - cpu_before,
        idle >> 20,
        peak >> 20
    );
    assert_eq!(got, count, "every line arrived");
    assert!(
        String::from_utf8_lossy(&first).contains(&format!("stdout F 000000000 {}", &filler[..10])),
        "the first line comes first"
    );
    assert!(peak < idle + BOUND, "idle {idle}, peak {peak}");

    // Without `more`: one reply, written as it is read. On 128 MiB of the log (the same
    // lines, cut at a line's end): holding it in memory would take several times the bound,
    // and an unoptimized build escapes JSON slowly enough that 1 GiB twice is too long a test.
    let line_len = written / count as u64;
    let kept = (128 << 20) / line_len as usize;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(kept as u64 * line_len)
        .unwrap();
    let sampler = RssSampler::start(pid);
    let start = Instant::now();
    let cpu_before = cpu(pid);
    (&stream)
        .write_all(
            b"{\"method\":\"io.podman.GetContainerLogs\",\"parameters\":{\"name\":\"big\"}}\0",
        )
        .unwrap();
    let (lines, continues, _) = count_reply_lines(&mut reader);
    let peak = sampler.finish();
    eprintln!(
        "128 MiB log in one reply: {lines} lines, {:?} (daemon CPU {:?}), peak {} MiB",
        start.elapsed(),
        cpu(pid) - cpu_before,
        peak >> 20
    );
    assert!(!continues);
    assert_eq!(lines, kept, "every line arrived");
    assert!(peak < idle + BOUND, "idle {idle}, peak {peak}");

    drop(reader);
    drop(stream);
    ok(&mut raw, "RemoveContainer", json!({"name": "big"}));
    assert_nothing_left(&daemon);
}

#[test]
fn an_invalid_utf8_byte_reads_as_a_replacement_character() {
    if !privileged("an_invalid_utf8_byte_reads_as_a_replacement_character") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "bytes",
        &["sh", "-c", r"printf 'ok \377 bad\n'; echo fine"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "bytes"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "bytes"}))["exitcode"],
        0
    );
    let lines = lines_of(&ok(&mut raw, "GetContainerLogs", json!({"name": "bytes"})));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(" stdout F ok \u{FFFD} bad"), "{lines:?}");
    assert!(lines[1].ends_with(" stdout F fine"), "{lines:?}");
    // Streamed (the container exited: the stream ends after the lines), the same.
    raw.send(&json!({"method": "io.podman.GetContainerLogs", "parameters": {"name": "bytes"}, "more": true}));
    let mut streamed = Vec::new();
    loop {
        let reply = raw.recv().expect("a reply");
        assert!(reply.get("error").is_none(), "{reply}");
        streamed.extend(lines_of(&reply["parameters"]));
        if reply.get("continues") != Some(&json!(true)) {
            break;
        }
    }
    assert_eq!(streamed, lines);
    ok(&mut raw, "RemoveContainer", json!({"name": "bytes"}));
    assert_nothing_left(&daemon);
}

/// Sends `call` on a new connection, lets `ready` see the connection, hangs up, and checks
/// that the daemon's thread for it is gone within a second.
fn hang_up_frees_the_thread(
    daemon: &TestDaemon,
    call: serde_json::Value,
    ready: impl FnOnce(&mut RawConnection),
) {
    let pid = daemon.pid();
    let before = threads(pid);
    let old = tids(pid);
    let mut client = daemon.raw();
    client.send(&call);
    // The call is under way: the connection's new thread sleeps in poll (on the monitor's
    // pidfd, or between looks at the log).
    assert!(
        within(Duration::from_secs(10), || tids(pid)
            .difference(&old)
            .any(|tid| wchan(pid, tid).contains("poll"))),
        "{call}: no thread waits for it"
    );
    ready(&mut client);
    drop(client);
    let start = Instant::now();
    assert!(
        within(Duration::from_secs(1), || threads(pid) == before),
        "{call}: {} threads a second after the hang-up, {before} before",
        threads(pid)
    );
    eprintln!(
        "{call}: thread gone {:?} after the hang-up",
        start.elapsed()
    );
}

#[test]
fn callers_that_hang_up_are_let_go() {
    if !privileged("callers_that_hang_up_are_let_go") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "sleeper",
        &["sh", "-c", "echo hi; exec sleep 1000"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "sleeper"}));
    wait_for_log(&mut raw, "sleeper", "hi");

    hang_up_frees_the_thread(
        &daemon,
        json!({"method": "io.podman.WaitContainer", "parameters": {"name": "sleeper"}}),
        |_| {},
    );
    hang_up_frees_the_thread(
        &daemon,
        json!({"method": "io.podman.GetContainerLogs", "parameters": {"name": "sleeper"}, "more": true}),
        // The first batch arrived: the call is following the log.
        |client| {
            let reply = client.recv().expect("a reply");
            assert_eq!(reply["continues"], true, "{reply}");
        },
    );
    assert_eq!(inspect(&mut raw, "sleeper")["State"]["Running"], true);

    // A client that only ends its writing side still reads its answer.
    let mut half = daemon.raw();
    half.send(&json!({"method": "io.podman.WaitContainer", "parameters": {"name": "sleeper"}}));
    half.stream.shutdown(std::net::Shutdown::Write).unwrap();
    ok(
        &mut raw,
        "KillContainer",
        json!({"name": "sleeper", "signal": 9}),
    );
    let reply = half.recv().expect("the wait's answer");
    assert_eq!(reply["parameters"]["exitcode"], 137, "{reply}");
    let mut rest = Vec::new();
    half.stream.read_to_end(&mut rest).unwrap();

    ok(&mut raw, "RemoveContainer", json!({"name": "sleeper"}));
    assert_nothing_left(&daemon);
}
