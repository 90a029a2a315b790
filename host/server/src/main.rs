//! The `sandflow` binary: the command line (`exec`, `validate`, `conformance`, `bench`), the
//! AWS-compatible server (`serve`) and the tenant admin commands.

mod api;
mod aws_json;
mod cli;
mod conformance;
mod mocks;
mod serve;
mod tenancy;

fn main() -> std::process::ExitCode {
    cli::main()
}
