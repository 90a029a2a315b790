//! In-process, synchronous driver: runs a definition to completion with a caller-supplied task
//! handler and an instant clock. Used by `sandflow exec`, `sandflow conformance`, tests and benches.
//!

use chrono::{DateTime, Utc};

use serde_json::Value;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::Failure;
pub use crate::interp::ExecutionStatus;
use crate::interp::{Action, Event, Execution, ExecutionInfo};
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

impl RunOptions {
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account, self.state_machine_name
        )
    }

    /// Standard: `…:execution:MACHINE:NAME`; Express: `…:express:MACHINE:NAME:UUID`, as AWS.
    pub fn execution_arn(&self) -> String {
        let prefix = format!("arn:aws:states:{}:{}", self.region, self.account);
        match self.machine_type {
            MachineType::Standard => {
                format!(
                    "{prefix}:execution:{}:{}",
                    self.state_machine_name, self.execution_name
                )
            }
            MachineType::Express => {
                let id = crate::rng::Rng::new(self.seed ^ 0x5eed_e4e5).uuid_v4();
                format!(
                    "{prefix}:express:{}:{}:{id}",
                    self.state_machine_name, self.execution_name
                )
            }
        }
    }

    pub fn execution_info(&self, input: Value) -> ExecutionInfo {
        ExecutionInfo {
            execution_arn: self.execution_arn(),
            execution_name: self.execution_name.clone(),
            state_machine_arn: self.state_machine_arn(),
            state_machine_name: self.state_machine_name.clone(),
            role_arn: format!("arn:aws:iam::{}:role/sandflow-execution", self.account),
            region: self.region.clone(),
            machine_type: self.machine_type,
            start_time: self.start_time,
            input,
            seed: self.seed,
            max_payload_bytes: self.max_payload_bytes,
            record_history: self.record_history,
        }
    }
}

/// Runs `machine` to completion. Tasks are answered synchronously by `tasks`; waits, retry
/// backoffs and timeouts pass instantly on a virtual clock. An execution that can make no progress
/// (e.g. waiting on an activity nobody serves) is returned as `Running`.
pub fn run(
    machine: &StateMachine,
    input: Value,
    opts: &RunOptions,
    tasks: &mut dyn TaskHandler,
) -> RunResult {
    if let Some(size) = Some(crate::interp::history::json_text(&input).len())
        && size > opts.max_payload_bytes
    {
        return RunResult {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(crate::error::names::DATA_LIMIT_EXCEEDED.into()),
            cause: Some(format!(
                "The execution input size exceeds the maximum of {} bytes.",
                opts.max_payload_bytes
            )),
            history: vec![],
        };
    }
    let mut exec = Execution::new(opts.execution_info(input));
    let mut now = opts.start_time;
    let mut events = VecDeque::from([Event::Start]);
    let mut timers: BTreeSet<(chrono::DateTime<Utc>, u64)> = BTreeSet::new();
    let mut timer_at: BTreeMap<u64, chrono::DateTime<Utc>> = BTreeMap::new();
    let mut history = Vec::new();
    loop {
        let event = match events.pop_front() {
            Some(e) => e,
            None => match timers.pop_first() {
                Some((at, timer)) => {
                    timer_at.remove(&timer);
                    now = now.max(at);
                    Event::TimerFired { timer }
                }
                None => break,
            },
        };
        let step = exec.apply(machine, event, now);
        history.extend(step.history.iter().map(|e| e.to_json()));
        for action in step.actions {
            match action {
                Action::ScheduleTask(call) => {
                    let req = TaskRequest {
                        state_name: &call.state_name,
                        resource: &call.resource,
                        input: &call.input,
                        task_token: call.token.as_deref(),
                        timeout_seconds: call.timeout_seconds,
                        heartbeat_seconds: call.heartbeat_seconds,
                    };
                    events.push_back(match tasks.invoke(&req) {
                        TaskOutcome::Succeeded(output) => Event::TaskSucceeded {
                            task: call.task,
                            output,
                        },
                        TaskOutcome::Failed(f) => Event::TaskFailed {
                            task: call.task,
                            error: f.error,
                            cause: f.cause,
                        },
                        TaskOutcome::TimedOut => Event::TaskTimedOut { task: call.task },
                    });
                }
                Action::StartTimer { timer, at } => {
                    timers.insert((at, timer));
                    timer_at.insert(timer, at);
                }
                Action::CancelTimer { timer } => {
                    if let Some(at) = timer_at.remove(&timer) {
                        timers.remove(&(at, timer));
                    }
                }
                Action::CancelTask { .. } | Action::Finished => {}
            }
        }
        if exec.status() != ExecutionStatus::Running {
            break;
        }
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    RunResult {
        status: exec.status(),
        output: exec.output().cloned(),
        error: exec.failure().and_then(|f| non_empty(&f.error)),
        cause: exec.failure().and_then(|f| non_empty(f.cause_str())),
        history,
    }
}
