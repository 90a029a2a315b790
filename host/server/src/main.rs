//! The `sandflow` binary: the command line (`exec`, `validate`, `conformance`, `bench`,
//! `task`), the AWS-compatible server (`serve`) and the tenant admin commands.

mod api;
mod aws_json;
mod bench_endpoint;
mod cli;
mod conformance;
mod console;
mod demo;
mod mocks;
mod serve;
mod task_cli;
mod tenancy;

/// The interpreter and store allocate many small JSON values; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
