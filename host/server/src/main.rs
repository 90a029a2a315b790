//! The `sandflow` binary: the command line (`exec`, `validate`, `conformance`); the
//! AWS-compatible server joins it later.

mod aws_json;
mod cli;
mod conformance;
mod mocks;

/// The interpreter and store allocate many small JSON values; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
