//! The `faultline` command. Subcommands live one per file; this only parses
//! the command line, installs logging and maps results to the exit codes
//! (docs/design.md, "Exit codes").

mod check_cmd;
mod cli;
mod gen_cmd;
mod logging;
mod report_cmd;
mod run;
mod serve_cmd;
mod suite;
mod target;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for a harness, target or usage error (docs/design.md, "Exit codes").
const EXIT_ERROR: u8 = 3;

fn main() -> ExitCode {
    // faultline started again as the watcher of its lazy disks (run/cluster.rs).
    if let Some(code) = lazyfs::watcher::serve_if_asked() {
        return code;
    }
    // Rust ignores SIGPIPE, which turns a closed stdout (`| head`) into a
    // panic in println!; die of the signal instead, as Unix tools do.
    // No safe API exists: installing a signal disposition is unsafe in libc
    // and in nix alike (a handler could break async-signal safety).
    // SAFETY: called before any thread starts; SIG_DFL installs no handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `faultline raftkv ARGS...` runs a reference node, so a fresh checkout
    // needs no second binary. Its flags pass through untouched.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|sub| sub == "raftkv") {
        return raftkv::main_from_args(std::iter::once("faultline raftkv".into()).chain(args));
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are not errors; every usage error exits 3
            // (docs/design.md, "Exit codes"), not clap's default 2.
            let code = if err.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    if let cli::Command::Raftkv { args } = cli.command {
        // Reached when an option came first (`faultline -v raftkv ...`):
        // the node sets up its own logging.
        return raftkv::main_from_args(std::iter::once("faultline raftkv".into()).chain(args));
    }
    logging::init(cli.verbose);
    let result = match cli.command {
        cli::Command::Run(args) => run::run(*args),
        cli::Command::Suite(args) => suite::run(args),
        cli::Command::Check(args) => check_cmd::run(args),
        cli::Command::Gen(args) => gen_cmd::run(args),
        cli::Command::Report(args) => report_cmd::run(args),
        cli::Command::Serve(args) => serve_cmd::run(args),
        cli::Command::Raftkv { .. } => unreachable!("handled above"),
    };
    logging::finish();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("faultline: error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
