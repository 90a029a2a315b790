//! sandflow-core: the Amazon States Language, pure. Model, parser and validator with AWS-shaped
//! diagnostics, JSONPath and intrinsics, and an event-sourced interpreter
//! (`apply(state, event, now) -> actions`). No I/O, clock or entropy: time and seeds come in.

pub mod bench;
pub mod error;
pub mod expr;
pub mod http_task;
pub mod interp;
pub mod jsonata;
pub mod lambda;
pub mod model;
pub mod parse;
pub mod resource;
pub mod rng;
pub mod run;
pub mod services;
pub mod sns;
pub mod sns_filter;

pub use error::Failure;
