//! Integration tests of the `sandflow` binary: the conformance cases, the example workflow's
//! branches through `exec`, and `validate`. See `bin.rs` for how the binary is found.

mod bin;
mod conformance;
mod exec;
mod validate;
