//! Tests of the command line and its validation.

use super::*;

#[test]
fn parses_unix_addresses() {
    assert_eq!(
        ListenAddress::parse("unix:/run/podman/io.podman").unwrap(),
        ListenAddress::Path {
            path: "/run/podman/io.podman".into(),
            mode: 0o600
        }
    );
    assert_eq!(
        ListenAddress::parse("unix:/tmp/x;mode=0660").unwrap(),
        ListenAddress::Path {
            path: "/tmp/x".into(),
            mode: 0o660
        }
    );
    assert_eq!(
        ListenAddress::parse("unix:@podlink").unwrap(),
        ListenAddress::Abstract("podlink".into())
    );
}

#[test]
fn refuses_bad_addresses() {
    for bad in [
        "tcp:127.0.0.1:1234",
        "unix:relative",
        "unix:/x;mode=999",
        "unix:/x;owner=1",
        "unix:@",
    ] {
        assert!(
            ListenAddress::parse(bad).is_err(),
            "{bad} should be refused"
        );
    }
}

#[test]
fn monitor_options_survive_the_command_line() {
    let options = crate::engine::monitor::MonitorOptions {
        id: "ab".repeat(32).parse().unwrap(),
        bundle: "/b".into(),
        runtime: "/usr/bin/runc".into(),
        runtime_root: "/r".into(),
        dir: "/d".into(),
        log_path: "/d/ctr.log".into(),
        log_size_max: Some(1 << 20),
        tty: true,
        stdin: false,
        pid_file: Some("/p".into()),
        restore_from: Some("/c".into()),
        tcp_established: true,
    };
    let argv = std::iter::once("podlink".into()).chain(options.to_args());
    let Some(Command::Monitor(args)) = Cli::parse_from(argv).command else {
        panic!("monitor role expected")
    };
    assert_eq!(crate::engine::monitor::MonitorOptions::from(args), options);
}

#[test]
fn serve_is_the_default_role() {
    let cli = Cli::parse_from(["podlink"]);
    let Command::Serve(args) = cli.command.unwrap_or_default() else {
        panic!("serve is the default")
    };
    assert_eq!(args.address, DEFAULT_ADDRESS);
    assert_eq!(args.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
    assert_eq!(args.max_buffered, DEFAULT_MAX_BUFFERED);
    assert_eq!(args.message_timeout, DEFAULT_MESSAGE_TIMEOUT_MS);
    assert_eq!(args.log_size_max, DEFAULT_LOG_SIZE_MAX as i64);
}

#[test]
fn log_size_max_takes_no_limit_and_refuses_tiny_ones() {
    let config = |value: &str| {
        let cli = Cli::parse_from(["podlink", "serve", "--log-size-max", value]);
        let Some(Command::Serve(serve)) = cli.command else {
            panic!("serve expected")
        };
        Config::new(cli.global, serve).map(|c| c.log_size_max)
    };
    assert_eq!(config("-1").unwrap(), None);
    assert_eq!(config("0").unwrap(), None);
    assert_eq!(config("1048576").unwrap(), Some(1 << 20));
    assert!(config("1000").is_err());
}

#[test]
fn log_size_max_refuses_negative_values_but_minus_one() {
    let config = |value: &str| {
        let cli = Cli::parse_from(["podlink", "serve", "--log-size-max", value]);
        let Some(Command::Serve(serve)) = cli.command else {
            panic!("serve expected")
        };
        Config::new(cli.global, serve).map(|c| c.log_size_max)
    };
    for bad in ["-2", "-1048576", &i64::MIN.to_string()] {
        let error = config(bad).expect_err(bad).to_string();
        assert!(error.contains("0 or -1") && error.contains(bad), "{error}");
    }
    assert_eq!(config("-1").unwrap(), None);
}

#[test]
fn engine_options_carry_what_the_engine_is_opened_with() {
    let cli = Cli::parse_from([
        "podlink",
        "--root=/r",
        "--runroot=/rr",
        "--runtime=crun",
        "--registries-conf=/etc/reg.conf",
        "--cgroup-parent=/cg/",
        "serve",
        "--log-size-max=1048576",
        "--import-max-entries=7",
        "--http-read-timeout=9",
    ]);
    let Some(Command::Serve(serve)) = cli.command else {
        panic!("serve expected")
    };
    let options = Config::new(cli.global, serve).unwrap().engine_options();
    assert_eq!(options.root, Path::new("/r"));
    assert_eq!(options.runroot, Path::new("/rr"));
    assert_eq!(options.runtime.as_deref(), Some(Path::new("crun")));
    assert_eq!(options.registry.registries_conf, Path::new("/etc/reg.conf"));
    assert_eq!(options.cgroup_parent, "/cg/");
    assert_eq!(options.log_size_max, Some(1 << 20));
    assert_eq!(options.imports.limits.max_entries, 7);
    assert_eq!(
        options.imports.read_timeout,
        std::time::Duration::from_secs(9)
    );
}

/// The panic hook's flag exists in debug builds (the tests use it) and nowhere else.
#[test]
fn the_test_panic_flag_exists_only_in_debug_builds() {
    let parsed = Cli::try_parse_from(["podlink", "serve", "--test-panic-method", "Ping"]);
    assert_eq!(parsed.is_ok(), cfg!(debug_assertions));
}
