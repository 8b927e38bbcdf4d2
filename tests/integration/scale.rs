//! Costs that stay flat as the store grows (issue 13, item 5): generated names from a wide
//! space and an index of names kept with the store; a restarted service that answers before
//! it has reconciled its containers, where a call on one container waits for that container
//! only; the store found again whole after a restart. Needs root. (The figures are
//! `benches/scale.rs`'.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, inspect};
use crate::util::{TestDaemon, assert_nothing_left, fails, ok, over, privileged, wait_for};

fn names(raw: &mut crate::util::RawConnection) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = ok(raw, "ListContainers", json!({}))["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| (str_of(&c["names"]), str_of(&c["status"])))
        .collect();
    list.sort();
    list
}

/// The address container `id` holds on the bridge, as its record says.
fn address_of(dir: &std::path::Path, id: &str) -> Value {
    let path = dir.join("root/containers").join(id).join("container.json");
    let record: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    record["config"]["bridge"]["ip"].clone()
}

fn str_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

#[test]
fn names_are_generated_widely_and_freed_on_removal() {
    if !privileged("names_are_generated_widely_and_freed_on_removal") {
        return;
    }
    let daemon = daemon_with_busybox(Default::default());
    let mut raw = daemon.raw();
    let mut generated = HashSet::new();
    for _ in 0..40 {
        let id = create(&mut raw, "", &["true"], json!({}));
        let name = str_of(&inspect(&mut raw, &id)["Name"]);
        let parts: Vec<&str> = name.split('_').collect();
        assert!(
            parts.len() == 2
                && parts
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_lowercase())),
            "{name:?} is not adjective_noun"
        );
        assert!(generated.insert(name.clone()), "{name} generated twice");
        // Found by its generated name, and by a prefix of its ID.
        assert_eq!(
            str_of(&ok(&mut raw, "GetContainer", json!({"name": name}))["container"]["id"]),
            id
        );
        let prefix = &id[..16];
        assert_eq!(
            str_of(&ok(&mut raw, "GetContainer", json!({"name": prefix}))["container"]["id"]),
            id
        );
    }
    // Forty names from the old space of 676 would collide often enough to show here; from
    // some 27,000 they are (almost surely) spread over many adjectives and nouns.
    let adjectives: HashSet<&str> = generated
        .iter()
        .map(|n| n.split('_').next().unwrap())
        .collect();
    assert!(
        adjectives.len() >= 20,
        "names from few adjectives: {generated:?}"
    );

    // The name index follows creates and removals.
    let first = create(&mut raw, "taken", &["true"], json!({}));
    fails(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "busybox", "name": "taken", "command": ["true"]}}),
        "ErrorOccurred",
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "taken"}));
    fails(
        &mut raw,
        "GetContainer",
        json!({"name": "taken"}),
        "ContainerNotFound",
    );
    let second = create(&mut raw, "taken", &["true"], json!({}));
    assert_ne!(first, second);
    assert_eq!(
        str_of(&ok(&mut raw, "GetContainer", json!({"name": "taken"}))["container"]["id"]),
        second
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert!(names(&mut raw).is_empty());
    assert_nothing_left(&daemon);
}

/// A restarted service answers Ping while it still reads its records and reconciles (slowed
/// by a test hook: 1.5 s for the reading, 1.5 s before each container); a create waits for
/// the records (and takes no address they hold), not for the pass, nor does a listing (which shows the truth from the
/// records and exit files); a call on a container waits for that container's reconciliation
/// only (done at once when the pass has not got to it) and gets the truth (it exited while
/// no service ran).
#[test]
fn a_restarted_service_answers_while_it_reconciles() {
    if !privileged("a_restarted_service_answers_while_it_reconciles") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    let short = create(&mut raw, "short", &["sleep", "1"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "short"}));
    let mut ids = vec![short.clone()];
    for name in ["idle1", "idle2"] {
        ids.push(create(&mut raw, name, &["true"], json!({})));
    }
    // Bridged (the default): each holds an address from its create on (recorded; inspect
    // shows it only while the container runs).
    let held: Vec<Value> = ids.iter().map(|id| address_of(dir.path(), id)).collect();
    daemon.stop_with(Signal::SIGTERM);
    // It exits while no service runs: only its exit file says so.
    let exit_file = dir
        .path()
        .join("run/containers")
        .join(&short)
        .join("exit.json");
    wait_for("the container's exit", Duration::from_secs(20), || {
        exit_file.exists()
    });

    const DELAY_MS: u64 = 1500;
    let mut options = over(dir.path());
    options.env.push((
        "PODLINK_TEST_RECONCILE_DELAY_MS".into(),
        DELAY_MS.to_string(),
    ));
    let start = Instant::now();
    let daemon = TestDaemon::start_with(options);
    let mut raw = daemon.raw();
    ok(&mut raw, "Ping", json!({}));
    let ping = start.elapsed();
    assert!(
        ping < Duration::from_millis(DELAY_MS),
        "Ping answered after {ping:?}"
    );

    // A create waits for the records to be read and their addresses claimed (one delay),
    // not for the pass (one more delay a container), and never gets an address a record
    // holds.
    let newcomer = create(&mut raw, "newcomer", &["true"], json!({}));
    let address = address_of(dir.path(), &newcomer);
    let created = start.elapsed();
    assert!(
        created >= Duration::from_millis(DELAY_MS) && created < Duration::from_millis(2 * DELAY_MS),
        "created after {created:?}"
    );
    assert!(address.as_str().is_some_and(|a| !a.is_empty()), "{address}");
    assert!(
        !held.contains(&address),
        "{address} is held already: {held:?}"
    );

    // A listing needs every record, not every container reconciled: it answers before the
    // first one is, and shows the truth all the same.
    let listed = names(&mut raw);
    let at = start.elapsed();
    assert!(
        at < Duration::from_millis(2 * DELAY_MS),
        "listed after {at:?}"
    );
    let expected = [
        ("idle1".to_string(), "configured".to_string()),
        ("idle2".to_string(), "configured".to_string()),
        ("newcomer".to_string(), "configured".to_string()),
        ("short".to_string(), "exited".to_string()),
    ];
    assert_eq!(listed, expected);

    // The pass goes in ID order, a delay before each; a call on the last one does not wait
    // for the pass to get there: it has its container reconciled at once.
    ids.sort();
    let last = &ids[ids.len() - 1];
    let mut other = daemon.raw();
    let summary = ok(&mut other, "GetContainer", json!({"name": last}))["container"].clone();
    let waited = start.elapsed();
    eprintln!("Ping after {ping:?}; the last container's answer after {waited:?}");
    assert!(
        waited < Duration::from_millis(2 * DELAY_MS),
        "a call on the last container waited {waited:?}, as for the pass"
    );
    let expected_last = if *last == short {
        "exited"
    } else {
        "configured"
    };
    assert_eq!(summary["status"], expected_last);

    let state = inspect(&mut raw, "short")["State"].clone();
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 0);
    // Once every container is reconciled, the listing is the same.
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert!(names(&mut raw).is_empty());
    assert_nothing_left(&daemon);
}

/// After a restart the store is found whole: the list, names (generated ones too) and ID
/// prefixes find the same containers, and a name in use is still refused.
#[test]
fn a_restarted_store_finds_what_it_had() {
    if !privileged("a_restarted_store_finds_what_it_had") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    let mut made = Vec::new();
    for n in 0..10 {
        let name = if n % 2 == 0 {
            format!("named{n}")
        } else {
            String::new()
        };
        let id = create(&mut raw, &name, &["true"], json!({}));
        made.push((id.clone(), str_of(&inspect(&mut raw, &id)["Name"])));
    }
    ok(&mut raw, "StartContainer", json!({"name": "named0"}));
    ok(&mut raw, "WaitContainer", json!({"name": "named0"}));
    let before = names(&mut raw);
    daemon.stop_with(Signal::SIGTERM);

    let daemon = TestDaemon::start_with(over(dir.path()));
    let mut raw = daemon.raw();
    assert_eq!(names(&mut raw), before);
    for (id, name) in &made {
        for key in [name.as_str(), &id[..12]] {
            let found = ok(&mut raw, "GetContainer", json!({"name": key}))["container"].clone();
            assert_eq!(str_of(&found["id"]), *id, "{key}");
        }
        fails(
            &mut raw,
            "CreateContainer",
            json!({"create": {"image": "busybox", "name": name, "command": ["true"]}}),
            "ErrorOccurred",
        );
    }
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert!(names(&mut raw).is_empty());
    assert_nothing_left(&daemon);
}

/// A container whose monitor was killed while no service ran (so no exit file says how it
/// ended) is listed as exited at once after a restart, before reconciliation gets to it; a
/// call on it then has it reconciled: exit code -1, what its run held released.
#[test]
fn a_container_whose_monitor_died_is_listed_exited_before_reconciliation() {
    if !privileged("a_container_whose_monitor_died_is_listed_exited_before_reconciliation") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "orphan",
        &["sleep", "1000"],
        json!({"net_mode": "none"}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "orphan"}));
    let monitor = inspect(&mut raw, "orphan")["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    assert!(monitor > 1);
    daemon.stop_with(Signal::SIGTERM);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor as i32), Signal::SIGKILL).unwrap();
    wait_for("the monitor gone", Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{monitor}")).exists()
    });

    const DELAY_MS: u64 = 1500;
    let mut options = over(dir.path());
    options.env.push((
        "PODLINK_TEST_RECONCILE_DELAY_MS".into(),
        DELAY_MS.to_string(),
    ));
    let start = Instant::now();
    let daemon = TestDaemon::start_with(options);
    let mut raw = daemon.raw();
    let listed = names(&mut raw);
    let at = start.elapsed();
    assert!(
        at < Duration::from_millis(2 * DELAY_MS),
        "listed after {at:?}"
    );
    assert_eq!(listed, [("orphan".to_string(), "exited".to_string())]);
    let state = inspect(&mut raw, "orphan")["State"].clone();
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], -1);
    ok(&mut raw, "RemoveContainer", json!({"name": "orphan"}));
    assert_nothing_left(&daemon);
}
