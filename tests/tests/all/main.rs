//! Integration tests of the `sandflow` binary: the conformance cases, the example workflow's
//! branches through `exec`, and `validate` (see `bin.rs` for how the binary is found); the
//! engine killed with SIGKILL mid-flight (`crash.rs`); and the task runtime running the guest
//! examples (`guests.rs` builds them once per run; `sandbox.rs` is the attack suite); and the
//! HTTP load generator `bench --endpoint` against a running `serve` (`bench_endpoint.rs`).

mod bench_endpoint;
mod bin;
mod conformance;
mod crash;
mod exec;
mod guests;
mod polyglot;
mod sandbox;
mod task_cli;
mod tasks;
mod upstream;
mod validate;
