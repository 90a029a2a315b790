//! What an invocation ends in, and how wasmtime's errors map onto ASL error names.

use std::time::Duration;

use serde::Serialize;
use wasmtime::Trap;

use crate::pipe::OutputTooLarge;

/// The ASL error for a task that ran out of fuel or time.
pub const TIMEOUT: &str = "States.Timeout";
/// The ASL error for a task that trapped, broke a limit or returned garbage.
pub const TASK_FAILED: &str = "States.TaskFailed";

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    /// The task's result (JSON text).
    Succeeded { output: String },
    /// The guest reported a failure: its own error name and cause.
    Failed { error: String, cause: String },
    /// Fuel or the deadline ran out (`States.Timeout`).
    Timeout { cause: String },
    /// The host stopped the guest: trap, panic, stack overflow, memory cap, output cap, bad
    /// output (`States.TaskFailed`).
    Trap { cause: String },
}

impl Outcome {
    /// The ASL error name and cause, unless the task succeeded.
    pub fn error(&self) -> Option<(&str, &str)> {
        match self {
            Outcome::Succeeded { .. } => None,
            Outcome::Failed { error, cause } => Some((error, cause)),
            Outcome::Timeout { cause } => Some((TIMEOUT, cause)),
            Outcome::Trap { cause } => Some((TASK_FAILED, cause)),
        }
    }

    /// The result, if the task succeeded.
    pub fn output(&self) -> Option<&str> {
        match self {
            Outcome::Succeeded { output } => Some(output),
            _ => None,
        }
    }
}

/// One `log.write` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// An invocation's outcome and what it cost.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub fuel_used: u64,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    /// Lines the guest logged (if granted `log`).
    pub logs: Vec<LogLine>,
    /// The guest's stderr (bounded), e.g. a panic message or traceback.
    pub stderr: String,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros().try_into().unwrap_or(u64::MAX))
}

/// The guest tried to grow its memories past the cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {} MiB exceeded (the guest asked for {} MiB)", cap >> 20, requested.div_ceil(1 << 20))]
pub struct MemoryLimitExceeded {
    pub cap: usize,
    pub requested: usize,
}

/// What the limits were, to say which one a guest hit.
pub(crate) struct Context<'a> {
    pub fuel: u64,
    pub timeout: Duration,
    pub max_wasm_stack: usize,
    pub stderr: &'a str,
}

/// Maps an error out of instantiation or a call onto an outcome.
pub(crate) fn classify(err: &wasmtime::Error, cx: &Context<'_>) -> Outcome {
    if let Some(m) = err.downcast_ref::<MemoryLimitExceeded>() {
        return Outcome::Trap {
            cause: m.to_string(),
        };
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Outcome::Timeout {
                cause: format!("CPU budget of {} fuel exhausted", cx.fuel),
            },
            Trap::Interrupt => Outcome::Timeout {
                cause: format!("wall-clock deadline of {:?} exceeded", cx.timeout),
            },
            Trap::StackOverflow => Outcome::Trap {
                cause: format!(
                    "stack overflow (wasm stack limit {} KiB)",
                    cx.max_wasm_stack >> 10
                ),
            },
            Trap::UnreachableCodeReached => Outcome::Trap {
                cause: with_stderr(
                    "guest trapped: wasm `unreachable` executed (a panic or abort)".into(),
                    cx.stderr,
                ),
            },
            other => Outcome::Trap {
                cause: with_stderr(format!("guest trapped: {other}"), cx.stderr),
            },
        };
    }
    if let Some(o) = err.downcast_ref::<OutputTooLarge>() {
        return Outcome::Trap {
            cause: o.to_string(),
        };
    }
    Outcome::Trap {
        cause: with_stderr(format!("guest failed: {}", chain(err)), cx.stderr),
    }
}

/// The error and its sources on one line.
pub(crate) fn chain(err: &wasmtime::Error) -> String {
    let parts: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    parts.join(": ")
}

/// Appends the tail of the guest's stderr, which usually says why it died.
pub(crate) fn with_stderr(mut cause: String, stderr: &str) -> String {
    const TAIL: usize = 2048;
    let s = stderr.trim();
    if !s.is_empty() {
        let mut start = s.len().saturating_sub(TAIL);
        while !s.is_char_boundary(start) {
            start += 1;
        }
        cause.push_str("; stderr: ");
        cause.push_str(&s[start..]);
    }
    cause
}
