//! The `podlink` binary: parse the command line, then run the requested role.

use std::process::ExitCode;

use clap::Parser;
use podlink::config::{Cli, Command};

fn main() -> ExitCode {
    // Socket activation must be read, and its variables unset, before any thread exists.
    // The monitor launcher (started by the daemon) skips the command line parser: it is on
    // every container's start path.
    if std::env::args_os().nth(1).as_deref()
        == Some(podlink::engine::monitor::launcher::ROLE.as_ref())
    {
        podlink::engine::monitor::launcher::serve();
    }
    let activation = podlink::sys::take_socket_activation();
    podlink::sys::mark_inherited_fds_cloexec();
    let cli = Cli::parse();
    podlink::config::init_logging(&cli.global.log_level);
    let result: anyhow::Result<()> = match cli.command.unwrap_or_default() {
        Command::Serve(args) => podlink::config::Config::new(cli.global, args)
            .map_err(anyhow::Error::from)
            .and_then(|config| Ok(podlink::daemon::run(config, activation)?)),
        Command::Monitor(args) => {
            podlink::engine::monitor::run::run(args.into()).map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("podlink: {err:#}");
            ExitCode::FAILURE
        }
    }
}
