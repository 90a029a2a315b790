//! In-process, synchronous driver: runs a definition to completion with a caller-supplied task
//! handler and an instant clock. Used by `sandflow exec`, `sandflow conformance`, tests and benches.
//!
//! STUB: filled in by the interpreter work; signatures here are the contract.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Failure;
use crate::model::StateMachine;
use crate::parse::MachineType;

/// One Task state's call, after `InputPath`/`Parameters` (the effective payload).
#[derive(Debug)]
pub struct TaskRequest<'a> {
    pub state_name: &'a str,
    pub resource: &'a str,
    pub input: &'a Value,
    /// Set for `.waitForTaskToken` resources: the token placed in `$$.Task.Token`.
    pub task_token: Option<&'a str>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
}

/// What a task produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed(Failure),
    /// The task's `TimeoutSeconds` elapsed (`States.Timeout`).
    TimedOut,
}

pub trait TaskHandler {
    fn invoke(&mut self, req: &TaskRequest<'_>) -> TaskOutcome;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// The AWS spelling (`SUCCEEDED`, `TIMED_OUT` ...).
    pub fn as_aws(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub account: String,
    pub region: String,
    pub state_machine_name: String,
    pub execution_name: String,
    pub machine_type: MachineType,
    pub start_time: DateTime<Utc>,
    /// Seed for `States.UUID`, `States.MathRandom`, jitter.
    pub seed: u64,
    /// Max bytes of any state input/output (AWS: 262,144).
    pub max_payload_bytes: usize,
    /// Record AWS history events (off = faster; Express without logging).
    pub record_history: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            state_machine_name: "StateMachine".into(),
            execution_name: "execution".into(),
            machine_type: MachineType::Standard,
            start_time: DateTime::<Utc>::UNIX_EPOCH,
            seed: 0,
            max_payload_bytes: 262_144,
            record_history: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// AWS `GetExecutionHistory` events as JSON objects
    /// (`{"id","previousEventId","timestamp","type","<kind>EventDetails":{...}}`).
    pub history: Vec<Value>,
}

/// Runs `machine` to completion. Waits and retry backoffs pass instantly (virtual clock).
pub fn run(
    machine: &StateMachine,
    input: Value,
    opts: &RunOptions,
    tasks: &mut dyn TaskHandler,
) -> RunResult {
    let _ = (machine, opts, tasks);
    RunResult {
        status: ExecutionStatus::Failed,
        output: Some(input),
        error: None,
        cause: None,
        history: vec![],
    }
}
