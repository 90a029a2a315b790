//! sandflow-runtime: runs Sandflow tasks, uploaded WebAssembly, in wasmtime.
//!
//! Two ABIs, told apart at upload ([`Abi`]): a component of world `sandflow:task/task`
//! (`sdk/wit`), and a WASI command (JSON on stdin, JSON on stdout, exit code). Each
//! invocation gets a fresh `Store` with a fuel budget, an epoch deadline, a memory cap and an
//! output cap ([`Limits`]), and only the capabilities its function was granted
//! ([`Grants`]): HTTP to allowlisted endpoints, the tenant's own KV tables and queues
//! ([`services`]), and a log. Its end is an [`Outcome`] that names the ASL error:
//! `States.Timeout` for fuel or deadline, `States.TaskFailed` for traps and broken limits,
//! or the guest's own error.
//!
//! Code is compiled once at [`Runtime::upload`] into an artifact cache keyed by sha256 and
//! the engine's compatibility hash, loaded by mmap, and kept prepared (`InstancePre`) in an
//! LRU. This crate knows nothing of ASL or SQL.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), sandflow_runtime::Error> {
//! use std::sync::Arc;
//! use sandflow_runtime::{Grants, Invocation, Runtime, RuntimeConfig};
//! use sandflow_runtime::services::{MemoryKv, MemoryQueues};
//!
//! let rt = Runtime::new(RuntimeConfig::default(), Arc::new(MemoryKv::default()),
//!                       Arc::new(MemoryQueues::default()))?;
//! let f = rt.upload(wasm).await?;
//! let report = rt.invoke(&f.sha256, Invocation {
//!     tenant: "acme".into(),
//!     input: r#"{"orderId":"ORD-1"}"#.into(),
//!     limits: rt.config().defaults,
//!     grants: Arc::new(Grants::default()),
//! }).await?;
//! println!("{:?} after {} fuel", report.outcome, report.fuel_used);
//! # Ok(()) }
//! ```

mod artifact;
mod bindings;
mod config;
pub mod dns;
mod grants;
mod host;
mod http;
mod outcome;
mod pipe;
mod runtime;
pub mod services;

pub use config::{HttpConfig, Limits, RuntimeConfig};
pub use grants::{Grant, GrantError, Grants, HttpGrant};
pub use outcome::{LogLine, MemoryLimitExceeded, Outcome, Report, TASK_FAILED, TIMEOUT};
pub use pipe::OutputTooLarge;
pub use runtime::{Abi, Artifact, Error, Invocation, Runtime};

#[cfg(test)]
mod tests;
