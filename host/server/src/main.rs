//! The `sandflow` binary: the command line (`exec`, `validate`, `conformance`); the
//! AWS-compatible server joins it later.

mod aws_json;
mod cli;
mod conformance;
mod mocks;

fn main() -> std::process::ExitCode {
    cli::main()
}
