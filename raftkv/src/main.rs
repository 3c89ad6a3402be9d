//! The `raftkv` binary: a thin wrapper over [`raftkv::main_from_args`].
use std::process::ExitCode;

fn main() -> ExitCode {
    raftkv::main_from_args(std::env::args_os())
}
