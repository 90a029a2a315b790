//! Integration tests of the `sandflow` binary: the conformance cases, the example workflow's
//! branches through `exec`, `validate`, and the task runtime running the guest examples
//! (`guests.rs` builds them once per run; `sandbox.rs` is the attack suite). See `bin.rs`
//! for how the binary is found.

mod bin;
mod conformance;
mod exec;
mod guests;
mod polyglot;
mod sandbox;
mod task_cli;
mod tasks;
mod upstream;
mod validate;
