//! Integration tests of the `sandflow` binary: the conformance cases, the example workflow's
//! branches through `exec`, and `validate` (see `bin.rs` for how the binary is found); and the
//! engine killed with SIGKILL mid-flight (`crash.rs`).

mod bin;
mod conformance;
mod crash;
mod exec;
mod validate;
