//! sandflow-sdk: write Sandflow tasks in Rust.
//!
//! A task is a WebAssembly component of world `sandflow:task/task` (the WIT in `sdk/wit`).
//! This crate holds its bindings and makes a task a plain function over serde types:
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use sandflow_sdk::{TaskError, export_task, kv};
//!
//! #[derive(Deserialize)]
//! struct Input { sku: String }
//! #[derive(Serialize)]
//! struct Output { stock: u32 }
//!
//! fn run(input: Input) -> Result<Output, TaskError> {
//!     let stock = kv::get::<u32>("inventory", &input.sku)?.unwrap_or(0);
//!     if stock == 0 {
//!         return Err(TaskError::new("OutOfStock", format!("{} is sold out", input.sku)));
//!     }
//!     Ok(Output { stock })
//! }
//!
//! export_task!(run);
//! # fn main() {}
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` (crate type `cdylib`); the
//! `.wasm` is the component to upload. `Err(TaskError)` fails the Task state with that ASL
//! error name and cause; the capability helpers ([`kv`], [`queue`], [`http`], [`log`])
//! return `TaskError`s too, so `?` works throughout. Every capability is denied unless the
//! function was granted it: a denied call is an `Err`, named `Sandflow.Denied`.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bindings generated from `sdk/wit` (use the helper modules instead where they suffice).
#[doc(hidden)]
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "task",
        pub_export_macro: true,
        export_macro_name: "__export_task_world",
        default_bindings_module: "::sandflow_sdk::bindings",
    });
}

/// An ASL failure: `error` is what `Retry` and `Catch` match, `cause` the detail.
pub use bindings::TaskError;

/// Error names the SDK's helpers use.
pub mod errors {
    /// A capability the function was not granted.
    pub const DENIED: &str = "Sandflow.Denied";
    /// A value, message or response over the host's size cap.
    pub const TOO_LARGE: &str = "Sandflow.TooLarge";
    /// The host's KV or queue backend failed.
    pub const BACKEND: &str = "Sandflow.Backend";
    /// An HTTP request could not be made or completed.
    pub const HTTP: &str = "Sandflow.HttpError";
    /// An HTTP request ran out of time.
    pub const HTTP_TIMEOUT: &str = "Sandflow.HttpTimeout";
    /// Input, or data read back, did not match the expected type.
    pub const INVALID_JSON: &str = "Sandflow.InvalidJson";
}

impl TaskError {
    /// A failure named `error` (matched by `Retry`/`Catch`) with a `cause`.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

impl From<serde_json::Error> for TaskError {
    fn from(e: serde_json::Error) -> Self {
        TaskError::new(errors::INVALID_JSON, e.to_string())
    }
}

/// Makes `fn(Input) -> Result<Output, TaskError>` the task's `run` export; `Input` is
/// deserialized from the state's input and `Output` serialized as its result.
#[macro_export]
macro_rules! export_task {
    ($run:path) => {
        #[doc(hidden)]
        pub struct __SandflowTask;

        impl $crate::bindings::Guest for __SandflowTask {
            fn run(
                input: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::TaskError> {
                $crate::run_json(&input, $run)
            }
        }

        $crate::bindings::__export_task_world!(__SandflowTask with_types_in $crate::bindings);
    };
}

/// What [`export_task!`] runs: JSON in, `f`, JSON out.
pub fn run_json<I, O>(
    input: &str,
    f: impl FnOnce(I) -> Result<O, TaskError>,
) -> Result<String, TaskError>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let input = serde_json::from_str(input).map_err(|e| {
        TaskError::new(
            errors::INVALID_JSON,
            format!("the input does not match the task's input type: {e}"),
        )
    })?;
    Ok(serde_json::to_string(&f(input)?)?)
}

/// The function's KV tables (its tenant's own; the host adds the tenant).
pub mod kv {
    use super::*;
    use crate::bindings::sandflow::task::kv as raw;
    pub use crate::bindings::sandflow::task::kv::KvError;

    impl From<KvError> for TaskError {
        fn from(e: KvError) -> Self {
            match e {
                KvError::Denied(m) => TaskError::new(errors::DENIED, m),
                KvError::TooLarge => TaskError::new(errors::TOO_LARGE, "KV key or value too large"),
                KvError::Backend(m) => TaskError::new(errors::BACKEND, m),
            }
        }
    }

    /// The value at `key` in `table`, deserialized from JSON.
    pub fn get<T: DeserializeOwned>(table: &str, key: &str) -> Result<Option<T>, TaskError> {
        match raw::get(table, key)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores `value` as JSON at `key` in `table`.
    pub fn set<T: Serialize + ?Sized>(table: &str, key: &str, value: &T) -> Result<(), TaskError> {
        Ok(raw::set(table, key, &serde_json::to_vec(value)?)?)
    }

    /// Removes `key`; true if it existed.
    pub fn delete(table: &str, key: &str) -> Result<bool, TaskError> {
        Ok(raw::delete(table, key)?)
    }

    /// Up to `limit` keys starting with `prefix`, in order.
    pub fn list(table: &str, prefix: &str, limit: u32) -> Result<Vec<String>, TaskError> {
        Ok(raw::list_keys(table, prefix, limit)?)
    }

    /// The raw bytes at `key`.
    pub fn get_bytes(table: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        raw::get(table, key)
    }
}

/// The function's queues (its tenant's own).
pub mod queue {
    use super::*;
    use crate::bindings::sandflow::task::queue as raw;
    pub use crate::bindings::sandflow::task::queue::{Message, QueueError};

    impl From<QueueError> for TaskError {
        fn from(e: QueueError) -> Self {
            match e {
                QueueError::Denied(m) => TaskError::new(errors::DENIED, m),
                QueueError::TooLarge => {
                    TaskError::new(errors::TOO_LARGE, "queue message too large")
                }
                QueueError::Backend(m) => TaskError::new(errors::BACKEND, m),
            }
        }
    }

    /// Sends `body` serialized as JSON; returns the message id.
    pub fn send<T: Serialize + ?Sized>(queue: &str, body: &T) -> Result<u64, TaskError> {
        Ok(raw::send(queue, &serde_json::to_string(body)?)?)
    }

    /// Takes up to `max` messages, oldest first.
    pub fn receive(queue: &str, max: u32) -> Result<Vec<Message>, TaskError> {
        Ok(raw::receive(queue, max)?)
    }
}

/// Buffered HTTP to the endpoints the function was granted.
pub mod http {
    use super::*;
    use crate::bindings::sandflow::task::http as raw;
    pub use crate::bindings::sandflow::task::http::{HttpError, Request, Response};

    impl From<HttpError> for TaskError {
        fn from(e: HttpError) -> Self {
            match e {
                HttpError::Denied(m) => TaskError::new(errors::DENIED, m),
                HttpError::InvalidRequest(m) => {
                    TaskError::new(errors::HTTP, format!("invalid request: {m}"))
                }
                HttpError::Transport(m) => TaskError::new(errors::HTTP, m),
                HttpError::Timeout => {
                    TaskError::new(errors::HTTP_TIMEOUT, "the HTTP request timed out")
                }
                HttpError::TooLarge => {
                    TaskError::new(errors::TOO_LARGE, "the HTTP response is too large")
                }
            }
        }
    }

    /// Sends `req` as is.
    pub fn fetch(req: &Request) -> Result<Response, HttpError> {
        raw::fetch(req)
    }

    /// `GET url`.
    pub fn get(url: &str) -> Result<Response, TaskError> {
        Ok(raw::fetch(&Request {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: None,
        })?)
    }

    /// `POST url` with `body` as JSON.
    pub fn post_json<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response, TaskError> {
        Ok(raw::fetch(&Request {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(serde_json::to_vec(body)?),
        })?)
    }

    impl Response {
        /// The body deserialized from JSON.
        pub fn json<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
            Ok(serde_json::from_slice(&self.body)?)
        }

        /// The body as text (invalid UTF-8 replaced).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }
}

/// The task log (kept only if the function was granted `log`).
pub mod log {
    use crate::bindings::sandflow::task::log::{Level, write};

    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }
    pub fn info(message: &str) {
        write(Level::Info, message)
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }
    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}
