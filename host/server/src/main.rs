//! The `sandflow` binary: the command line (`exec`, `validate`, `conformance`, `task`); the
//! AWS-compatible server joins it later.

mod aws_json;
mod cli;
mod conformance;
mod mocks;
mod task_cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
