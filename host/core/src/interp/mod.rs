//! The event-sourced interpreter: `Execution::apply(machine, event, now) -> Step`.
//!
//! An execution is a set of fibers, each walking one scope (the top level, a Parallel branch, a Map
//! iteration). Inputs arrive as [`Event`]s (start, task outcomes, timers, stop); the interpreter
//! answers with [`Action`]s (schedule a task, arm a timer, ...) and AWS history events. It does no
//! I/O and reads no clock: applying the same events at the same times gives the same state.

mod choice;
mod dataflow;
mod errors;
pub mod history;
mod jsonata;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Failure, names};
use crate::expr::{Env, JsonPath, Template, Vars};
use crate::model::{
    FailField, NumberSource, QueryLanguage, Scope, State, StateId, StateKind, StateMachine,
    Transition, WaitFor,
};
use crate::parse::MachineType;
use crate::resource::{Pattern, Resource};
use crate::rng::Rng;
use dataflow::{Context, OptPath, apply_result_path, error_output, json_size, select_path};
pub use history::HistoryEvent;

pub type TaskId = u64;
pub type TimerId = u64;
type FiberId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Fixed facts about one execution, known when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub execution_name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub region: String,
    /// Express executions cannot be redriven, so their context has no `RedriveCount`.
    pub machine_type: MachineType,
    pub start_time: DateTime<Utc>,
    pub input: Value,
    /// Seed of all randomness (UUIDs, MathRandom, jitter, task tokens).
    pub seed: u64,
    pub max_payload_bytes: usize,
    /// Build AWS history events (off for Express without logging: faster).
    pub record_history: bool,
}

/// Inputs to the interpreter. The engine stores these; replaying them rebuilds the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Start,
    /// An activity worker picked the task up.
    TaskStarted {
        task: TaskId,
        worker: Option<String>,
    },
    TaskSucceeded {
        task: TaskId,
        output: Value,
    },
    TaskFailed {
        task: TaskId,
        error: String,
        cause: Option<String>,
    },
    /// The worker reports a timeout (e.g. the function's own deadline).
    TaskTimedOut {
        task: TaskId,
    },
    TaskHeartbeat {
        task: TaskId,
    },
    /// The call of a `.waitForTaskToken` or `.sync` task was accepted (`output`: its answer);
    /// the task goes on waiting for its token or job.
    TaskSubmitted {
        task: TaskId,
        output: Value,
    },
    TimerFired {
        timer: TimerId,
    },
    Stop {
        error: String,
        cause: String,
    },
}

/// One Task invocation for the engine to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCall {
    pub task: TaskId,
    pub state_name: String,
    pub resource: String,
    pub input: Value,
    /// For `.waitForTaskToken` and activities: the token that completes the task.
    pub token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// The id of the task's `*Scheduled` history event, which its logs are filed under.
    #[serde(default)]
    pub scheduled_event_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    ScheduleTask(TaskCall),
    CancelTask {
        task: TaskId,
    },
    StartTimer {
        timer: TimerId,
        at: DateTime<Utc>,
    },
    CancelTimer {
        timer: TimerId,
    },
    /// The execution reached a final status; see [`Execution::status`].
    Finished,
}

/// What one `apply` produced: actions to run and history events to record, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    pub actions: Vec<Action>,
    pub history: Vec<HistoryEvent>,
}

/// Workflow variables of one scope; inner scopes read outer ones through `outer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct VarScope {
    own: BTreeMap<String, Value>,
    outer: Option<Arc<VarScope>>,
}

impl Vars for VarScope {
    fn get(&self, name: &str) -> Option<&Value> {
        self.own
            .get(name)
            .or_else(|| self.outer.as_ref().and_then(|o| o.get(name)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum TimerKind {
    Wait,
    Retry,
    TaskTimeout(TaskId),
    Heartbeat(TaskId),
    ExecutionTimeout,
}

/// How history names a task's resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum TaskFamily {
    Lambda,
    Activity,
    Service {
        resource_type: String,
        resource: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TaskWait {
    task: TaskId,
    family: TaskFamily,
    timeout_timer: Option<TimerId>,
    heartbeat: Option<(u64, TimerId)>,
    /// TaskSubmitted was recorded (once per task).
    #[serde(default)]
    submitted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Children {
    is_map: bool,
    /// The Parallel/Map state's name, for iteration events.
    name: String,
    results: Vec<Value>,
    /// Map items not started yet (inputs after ItemSelector are computed at start).
    items: Vec<Value>,
    next_index: usize,
    running: BTreeMap<usize, FiberId>,
    remaining: usize,
    max_concurrency: usize,
    failures: usize,
    tolerated_count: Option<u64>,
    tolerated_percentage: Option<f64>,
    /// The effective input the branches/ItemSelector see.
    effective_input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Wait {
    Ready,
    Task(TaskWait),
    Timer(TimerId),
    Children(Box<Children>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Fiber {
    /// Path from the top scope: (Parallel/Map state, branch index) pairs.
    scope: Arc<[(StateId, usize)]>,
    state: StateId,
    /// The current state's raw input.
    input: Value,
    parent: Option<(FiberId, usize)>,
    entered_event: u64,
    /// The event the `StateEntered` event followed (AWS chains some evaluation failures to it).
    #[serde(default)]
    entered_prev: u64,
    prev_event: u64,
    entered_time: DateTime<Utc>,
    retry_counts: Vec<u32>,
    retry_total: u32,
    vars: Arc<VarScope>,
    /// Variables the current state assigned, for its `StateExited` event.
    assigned: Option<Map<String, Value>>,
    wait: Wait,
}

/// What a state's work ended in.
#[derive(Debug, Clone, PartialEq)]
enum Flow {
    Next(StateId, Value),
    End(Value),
    Blocked,
    Failed(Failure),
}

/// The whole state of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    info: ExecutionInfo,
    status: ExecutionStatus,
    output: Option<Value>,
    failure: Option<Failure>,
    fibers: Vec<Option<Fiber>>,
    tasks: BTreeMap<TaskId, FiberId>,
    timers: BTreeMap<TimerId, (FiberId, TimerKind)>,
    next_event_id: u64,
    /// States entered so far (billed transitions).
    #[serde(default)]
    transitions: u64,
    next_task: TaskId,
    next_timer: TimerId,
    rng: Rng,
    /// Transient: empty between `apply` calls.
    #[serde(skip)]
    ready: VecDeque<(FiberId, Option<Flow>)>,
    #[serde(skip)]
    out: Step,
    now: DateTime<Utc>,
    /// The machine's JSONata evaluation bounds, copied at start.
    #[serde(default)]
    jsonata_limits: crate::jsonata::Limits,
}

fn scope_at<'m>(m: &'m StateMachine, path: &[(StateId, usize)]) -> &'m Scope {
    let mut scope = &m.root;
    for &(sid, idx) in path {
        scope = match &scope.states[sid].kind {
            StateKind::Parallel(p) => &p.branches[idx],
            StateKind::Map(map) => &map.processor,
            _ => unreachable!("scope path through a non-container state"),
        };
    }
    scope
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn next_of(t: &Transition, output: Value) -> Flow {
    match t {
        Transition::Next(n) => Flow::Next(*n, output),
        Transition::End => Flow::End(output),
    }
}

impl Execution {
    pub fn new(info: ExecutionInfo) -> Execution {
        let rng = Rng::new(info.seed);
        let now = info.start_time;
        Execution {
            info,
            status: ExecutionStatus::Running,
            output: None,
            failure: None,
            fibers: Vec::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_event_id: 1,
            transitions: 0,
            next_task: 1,
            next_timer: 1,
            rng,
            ready: VecDeque::new(),
            out: Step::default(),
            now,
            jsonata_limits: Default::default(),
        }
    }

    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    pub fn status(&self) -> ExecutionStatus {
        self.status
    }

    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// States entered so far: the state transitions AWS bills.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Tasks currently outstanding.
    pub fn open_tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks.keys().copied()
    }

    /// Applies one event at time `now`.
    pub fn apply(&mut self, m: &StateMachine, event: Event, now: DateTime<Utc>) -> Step {
        self.now = now;
        if self.status == ExecutionStatus::Running {
            self.handle(m, event);
            self.run_ready(m);
        }
        std::mem::take(&mut self.out)
    }

    fn handle(&mut self, m: &StateMachine, event: Event) {
        match event {
            Event::Start => self.start(m),
            Event::TaskStarted { task, worker } => self.task_started(task, worker),
            Event::TaskSucceeded { task, output } => self.task_outcome(m, task, Ok(output)),
            Event::TaskFailed { task, error, cause } => {
                self.task_outcome(m, task, Err(Failure { error, cause }))
            }
            Event::TaskTimedOut { task } => {
                self.task_outcome(m, task, Err(Failure::new(names::TIMEOUT, "")));
            }
            Event::TaskHeartbeat { task } => self.heartbeat(task),
            Event::TaskSubmitted { task, output } => self.task_submitted(task, output),
            Event::TimerFired { timer } => self.timer_fired(m, timer),
            Event::Stop { error, cause } => {
                let failure = Failure {
                    error,
                    cause: (!cause.is_empty()).then_some(cause),
                };
                let details = history::failure_details(&failure);
                self.emit(None, "ExecutionAborted", || {
                    Some(("executionAbortedEventDetails", details))
                });
                self.abort_all();
                self.finish(ExecutionStatus::Aborted, None, Some(failure));
            }
        }
    }

    // ---- history -------------------------------------------------------------------------

    fn emit(
        &mut self,
        fiber: Option<FiberId>,
        event_type: &'static str,
        details: impl FnOnce() -> Option<(&'static str, Value)>,
    ) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        let prev = match fiber.and_then(|f| self.fibers[f].as_mut()) {
            Some(f) => std::mem::replace(&mut f.prev_event, id),
            None => match self.fibers.first_mut().and_then(|f| f.as_mut()) {
                Some(root) => std::mem::replace(&mut root.prev_event, id),
                None => id - 1,
            },
        };
        if self.info.record_history {
            self.out.history.push(HistoryEvent {
                id,
                previous_event_id: prev,
                timestamp: self.now,
                event_type,
                details: details(),
            });
        }
        id
    }

    fn recording(&self) -> bool {
        self.info.record_history
    }

    // ---- lifecycle -------------------------------------------------------------------------

    fn start(&mut self, m: &StateMachine) {
        if !self.fibers.is_empty() {
            return;
        }
        self.jsonata_limits = m.jsonata_limits;
        let input = self.info.input.clone();
        if self.recording() {
            let details = json!({
                "input": history::json_text(&input),
                "inputDetails": {"truncated": false},
                "roleArn": self.info.role_arn,
            });
            self.emit(None, "ExecutionStarted", || {
                Some(("executionStartedEventDetails", details))
            });
        } else {
            self.emit(None, "ExecutionStarted", || None);
        }
        self.fibers.push(Some(Fiber {
            scope: Arc::from(Vec::new()),
            state: m.root.start_at,
            input,
            parent: None,
            entered_event: 0,
            entered_prev: 0,
            prev_event: 0,
            entered_time: self.now,
            retry_counts: Vec::new(),
            retry_total: 0,
            vars: Arc::new(VarScope::default()),
            assigned: None,
            wait: Wait::Ready,
        }));
        if let Some(t) = m.timeout_seconds {
            self.start_timer(0, TimerKind::ExecutionTimeout, t as f64);
        }
        self.ready.push_back((0, None));
    }

    fn finish(&mut self, status: ExecutionStatus, output: Option<Value>, failure: Option<Failure>) {
        self.status = status;
        self.output = output;
        self.failure = failure;
        for (timer, _) in std::mem::take(&mut self.timers) {
            self.out.actions.push(Action::CancelTimer { timer });
        }
        self.ready.clear();
        self.out.actions.push(Action::Finished);
    }

    fn run_ready(&mut self, m: &StateMachine) {
        while let Some((fid, flow)) = self.ready.pop_front() {
            if self.status != ExecutionStatus::Running {
                return;
            }
            if self.fibers.get(fid).is_none_or(|f| f.is_none()) {
                continue;
            }
            let flow = match flow {
                None => self.enter(m, fid),
                Some(f) => f,
            };
            self.drive(m, fid, flow);
        }
    }

    /// Follows transitions until the fiber blocks or ends.
    fn drive(&mut self, m: &StateMachine, fid: FiberId, mut flow: Flow) {
        loop {
            match flow {
                Flow::Blocked => return,
                Flow::Next(next, output) => {
                    let f = self.fiber(fid);
                    f.state = next;
                    f.input = output;
                    flow = self.enter(m, fid);
                }
                Flow::End(output) => return self.fiber_succeeded(m, fid, output),
                Flow::Failed(failure) => return self.fiber_failed(m, fid, failure),
            }
            if self.status != ExecutionStatus::Running {
                return;
            }
        }
    }

    fn fiber(&mut self, fid: FiberId) -> &mut Fiber {
        self.fibers[fid].as_mut().expect("live fiber")
    }

    fn fiber_ref(&self, fid: FiberId) -> &Fiber {
        self.fibers[fid].as_ref().expect("live fiber")
    }

    fn state<'m>(&self, m: &'m StateMachine, fid: FiberId) -> &'m State {
        let f = self.fiber_ref(fid);
        &scope_at(m, &f.scope).states[f.state]
    }

    // ---- entering and running states -------------------------------------------------------

    fn enter(&mut self, m: &StateMachine, fid: FiberId) -> Flow {
        let st = self.state(m, fid);
        let now = self.now;
        self.transitions += 1;
        let entered_prev = self.fiber_ref(fid).prev_event;
        let entered = if self.recording() {
            let details = history::state_entered(&st.name, &self.fiber_ref(fid).input);
            self.emit(
                Some(fid),
                history::entered_type(st.kind.type_name()),
                || Some(("stateEnteredEventDetails", details)),
            )
        } else {
            self.emit(Some(fid), "", || None)
        };
        let f = self.fiber(fid);
        f.entered_event = entered;
        f.entered_prev = entered_prev;
        f.entered_time = now;
        f.retry_counts.clear();
        f.retry_total = 0;
        self.execute(m, fid)
    }

    /// The work of the current state, after `StateEntered` (and again on each retry).
    fn execute(&mut self, m: &StateMachine, fid: FiberId) -> Flow {
        let st = self.state(m, fid);
        let jsonata = st.query_language == QueryLanguage::Jsonata;
        let result = match &st.kind {
            StateKind::Pass(_) | StateKind::Succeed | StateKind::Fail(_) | StateKind::Choice(_)
                if jsonata =>
            {
                self.run_jsonata_state(st, fid)
            }
            StateKind::Pass(p) => self
                .run_pass(st, fid, p.result.as_ref())
                .map(|out| next_of(&p.transition, out)),
            StateKind::Succeed => self.take_effective_input(st, fid).and_then(|eff| {
                let out = self.output_path(st, fid, eff)?;
                self.exited(st, fid, &out);
                Ok(Flow::End(out))
            }),
            StateKind::Fail(fail) => self.run_fail(st, fid, fail),
            StateKind::Choice(_) => self.run_choice(st, fid),
            StateKind::Wait(w) => self.run_wait(st, fid, &w.wait),
            StateKind::Task(_) => self.run_task(st, fid),
            StateKind::Parallel(_) | StateKind::Map(_) => {
                let r = self.run_children(m, st, fid);
                // AWS closes a Map/Parallel whose JSONata fields failed before it started.
                if jsonata && matches!(&r, Err(f) if f.error == names::QUERY_EVALUATION_ERROR) {
                    let ty = match st.kind {
                        StateKind::Map(_) => "MapStateFailed",
                        _ => "ParallelStateFailed",
                    };
                    self.emit(Some(fid), ty, || None);
                }
                r
            }
        };
        self.flow_or_fail(st, fid, result)
    }

    /// A state's error goes through Retry/Catch (with the location prefix for runtime errors).
    fn flow_or_fail(&mut self, st: &State, fid: FiberId, result: Result<Flow, Failure>) -> Flow {
        match result {
            Ok(flow) => flow,
            Err(failure) => {
                let failure = self.state_error(st, fid, failure);
                self.handle_failure(st, fid, failure)
            }
        }
    }

    /// Runtime errors raised by a state's own processing get AWS's location prefix.
    fn state_error(&self, st: &State, fid: FiberId, f: Failure) -> Failure {
        let prefixed = matches!(
            f.error.as_str(),
            names::RUNTIME | names::QUERY_EVALUATION_ERROR | names::INTRINSIC_FAILURE
        );
        if prefixed
            && !f
                .cause_str()
                .starts_with("An error occurred while executing the state")
        {
            let entered = self.fiber_ref(fid).entered_event;
            Failure::new(
                f.error.clone(),
                format!(
                    "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                    st.name,
                    entered,
                    f.cause_str()
                ),
            )
        } else {
            f
        }
    }

    fn exited(&mut self, st: &State, fid: FiberId, output: &Value) {
        if self.recording() {
            let assigned = self.fiber(fid).assigned.take();
            let details = history::state_exited(&st.name, output, assigned);
            self.emit(Some(fid), history::exited_type(st.kind.type_name()), || {
                Some(("stateExitedEventDetails", details))
            });
        } else {
            self.emit(Some(fid), "", || None);
        }
    }

    fn context_builder<'s>(&'s self, st: &'s State, fid: FiberId) -> impl Fn() -> Value + 's {
        move || self.context_object(st, fid, None, None)
    }

    /// The context object `$$` for the current state of `fid`.
    fn context_object(
        &self,
        st: &State,
        fid: FiberId,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        let f = self.fiber_ref(fid);
        let info = &self.info;
        // As AWS records them: states that can retry show State.RetryCount and no
        // Execution.RedriveCount; the others the reverse.
        let retryable = matches!(
            st.kind,
            StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
        );
        let mut state = Map::new();
        state.insert("Name".into(), Value::String(st.name.clone()));
        state.insert("EnteredTime".into(), Value::String(ts(f.entered_time)));
        let mut execution = Map::new();
        execution.insert("Id".into(), info.execution_arn.as_str().into());
        execution.insert("Input".into(), info.input.clone());
        execution.insert("StartTime".into(), ts(info.start_time).into());
        execution.insert("Name".into(), info.execution_name.as_str().into());
        execution.insert("RoleArn".into(), info.role_arn.as_str().into());
        if retryable {
            state.insert("RetryCount".into(), f.retry_total.into());
        } else if info.machine_type == MachineType::Standard {
            execution.insert("RedriveCount".into(), 0.into());
        }
        let mut ctx = Map::new();
        ctx.insert("Execution".into(), Value::Object(execution));
        ctx.insert(
            "StateMachine".into(),
            json!({"Id": info.state_machine_arn, "Name": info.state_machine_name}),
        );
        ctx.insert("State".into(), Value::Object(state));
        if let Some(t) = token {
            ctx.insert("Task".into(), json!({"Token": t}));
        }
        if let Some((index, value)) = item {
            ctx.insert(
                "Map".into(),
                json!({"Item": {"Index": index, "Value": value}}),
            );
        }
        Value::Object(ctx)
    }

    /// Evaluates a template against `input` with the state's context and variables.
    fn eval_template(
        &mut self,
        st: &State,
        fid: FiberId,
        t: &Template,
        input: &Value,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Result<Value, Failure> {
        let context = self.context_object(st, fid, token, item);
        let vars = self.fiber_ref(fid).vars.clone();
        let mut rng = self.rng.clone();
        let r = t.eval(&mut Env {
            input,
            context: &context,
            vars: &*vars,
            rng: &mut rng,
        });
        self.rng = rng;
        r
    }

    fn effective_input(&mut self, st: &State, fid: FiberId) -> Result<Value, Failure> {
        let f = self.fiber_ref(fid);
        self.select(st, fid, &st.input_path, &f.input)
    }

    /// `InputPath`/`OutputPath` semantics: absent = whole document, `null` = `{}`.
    fn select(
        &self,
        st: &State,
        fid: FiberId,
        path: &OptPath,
        doc: &Value,
    ) -> Result<Value, Failure> {
        match path {
            None => Ok(doc.clone()),
            Some(None) => Ok(Value::Object(Map::new())),
            Some(Some(p)) => self.read_path(st, fid, p, doc),
        }
    }

    /// Like `effective_input`, but moves the raw input out when nothing needs it afterwards
    /// (no `ResultPath`): saves a deep copy per transition.
    fn take_effective_input(&mut self, st: &State, fid: FiberId) -> Result<Value, Failure> {
        if st.input_path.is_none() && st.result_path.is_none() {
            return Ok(std::mem::take(&mut self.fiber(fid).input));
        }
        self.effective_input(st, fid)
    }

    fn output_path(&mut self, st: &State, fid: FiberId, doc: Value) -> Result<Value, Failure> {
        match st.output_path {
            None => Ok(doc),
            _ => self.select(st, fid, &st.output_path, &doc),
        }
    }

    /// Evaluates the state's `Assign` against `input` and stores the variables.
    fn assign(
        &mut self,
        st: &State,
        fid: FiberId,
        t: Option<&Template>,
        input: &Value,
    ) -> Result<(), Failure> {
        let Some(t) = t else { return Ok(()) };
        if let Value::Object(vals) = self.eval_template(st, fid, t, input, None, None)? {
            self.store_vars(fid, vals);
        }
        Ok(())
    }

    /// Sets the variables a state assigned (visible from the next state on) and records them
    /// for its `StateExited` event.
    fn store_vars(&mut self, fid: FiberId, vals: Map<String, Value>) {
        let recording = self.recording();
        let f = self.fiber(fid);
        if recording && !vals.is_empty() {
            let shown = vals
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(history::json_text(v))))
                .collect();
            f.assigned = Some(shown);
        }
        let vars = Arc::make_mut(&mut f.vars);
        for (k, v) in vals {
            vars.own.insert(k, v);
        }
    }

    /// ResultSelector → ResultPath → OutputPath, then `StateExited`.
    fn finish_result(
        &mut self,
        st: &State,
        fid: FiberId,
        result: Value,
        transition: &Transition,
    ) -> Result<Flow, Failure> {
        if st.query_language == QueryLanguage::Jsonata {
            return self.jsonata_finish(st, fid, result, transition);
        }
        let result = match &st.result_selector {
            Some(t) => self.eval_template(st, fid, t, &result, None, None)?,
            None => result,
        };
        self.assign(st, fid, st.assign.as_ref(), &result)?;
        let raw = &self.fiber_ref(fid).input;
        let merged = apply_result_path(&st.result_path, raw, result)?;
        let out = self.output_path(st, fid, merged)?;
        self.check_size(&out, &st.name)?;
        self.exited(st, fid, &out);
        Ok(next_of(transition, out))
    }

    fn check_size(&self, v: &Value, who: &str) -> Result<(), Failure> {
        if json_size(v) > self.info.max_payload_bytes {
            return Err(Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The state/task '{who}' returned a result with a size exceeding the maximum number of bytes service limit."
                ),
            ));
        }
        Ok(())
    }

    fn run_pass(
        &mut self,
        st: &State,
        fid: FiberId,
        result: Option<&Value>,
    ) -> Result<Value, Failure> {
        let transformed = st.parameters.is_some() || result.is_some();
        let eff = self.take_effective_input(st, fid)?;
        let value = match (&st.parameters, result) {
            (Some(t), _) => self.eval_template(st, fid, t, &eff, None, None)?,
            (None, Some(r)) => r.clone(),
            (None, None) => eff,
        };
        if transformed {
            self.check_size(&value, &st.name)?;
        }
        self.assign(st, fid, st.assign.as_ref(), &value)?;
        let merged = if st.result_path.is_none() {
            value
        } else {
            apply_result_path(&st.result_path, &self.fiber_ref(fid).input, value)?
        };
        let out = self.output_path(st, fid, merged)?;
        self.exited(st, fid, &out);
        Ok(out)
    }

    fn eval_fail_field(
        &mut self,
        st: &State,
        fid: FiberId,
        field: &Option<FailField>,
        name: &str,
        eff: &Value,
    ) -> Result<Option<String>, Failure> {
        Ok(Some(match field {
            None => return Ok(None),
            Some(FailField::Literal(s)) => s.clone(),
            Some(FailField::Expr(e)) => {
                let context = self.context_object(st, fid, None, None);
                let vars = self.fiber_ref(fid).vars.clone();
                let mut rng = self.rng.clone();
                let v = e.eval(
                    &mut Env {
                        input: eff,
                        context: &context,
                        vars: &*vars,
                        rng: &mut rng,
                    },
                    name,
                )?;
                self.rng = rng;
                match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            Some(FailField::Jsonata(_)) => {
                return Err(Failure::new(
                    names::QUERY_EVALUATION_ERROR,
                    "JSONata is not supported yet",
                ));
            }
        }))
    }

    fn run_fail(
        &mut self,
        st: &State,
        fid: FiberId,
        fail: &crate::model::Fail,
    ) -> Result<Flow, Failure> {
        let eff = self.fiber_ref(fid).input.clone();
        let error = self.eval_fail_field(st, fid, &fail.error, "ErrorPath", &eff)?;
        let cause = self.eval_fail_field(st, fid, &fail.cause, "CausePath", &eff)?;
        Ok(Flow::Failed(Failure {
            error: error.unwrap_or_default(),
            cause,
        }))
    }

    fn run_choice(&mut self, st: &State, fid: FiberId) -> Result<Flow, Failure> {
        let StateKind::Choice(c) = &st.kind else {
            unreachable!()
        };
        let eff = self.effective_input(st, fid)?;
        let mut chosen = None;
        {
            let f = self.fiber_ref(fid);
            let build = self.context_builder(st, fid);
            let context = if choice_needs_context(c) {
                build()
            } else {
                Value::Null
            };
            let vars = f.vars.clone();
            let mut rng = self.rng.clone();
            let mut env = Env {
                input: &eff,
                context: &context,
                vars: &*vars,
                rng: &mut rng,
            };
            for (i, rule) in c.choices.iter().enumerate() {
                if choice::evaluate(&rule.condition, &mut env)? {
                    chosen = Some(i);
                    break;
                }
            }
        }
        // A matching rule's Assign replaces the state's; the state's applies on Default.
        let (next, assign) = match chosen {
            Some(i) => (c.choices[i].next, c.choices[i].assign.as_ref()),
            None => match c.default {
                Some(d) => (d, st.assign.as_ref()),
                None => return Err(no_choice_matched(st)),
            },
        };
        self.assign(st, fid, assign, &eff)?;
        let out = self.output_path(st, fid, eff)?;
        self.exited(st, fid, &out);
        Ok(Flow::Next(next, out))
    }

    fn run_wait(&mut self, st: &State, fid: FiberId, w: &WaitFor) -> Result<Flow, Failure> {
        let eff = self.effective_input(st, fid)?;
        let seconds = match w {
            WaitFor::Seconds(s) => *s as f64,
            WaitFor::Timestamp(t) => self.seconds_until(t).ok_or_else(|| {
                Failure::runtime(format!(
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {t}"
                ))
            })?,
            WaitFor::SecondsPath(p) => {
                let v = self.read_path(st, fid, p, &eff)?;
                match v.as_f64() {
                    Some(n) if n < 0.0 => {
                        return Err(Failure::runtime(format!(
                            "The SecondsPath parameter references a negative value: {} == {}",
                            p.as_str(),
                            v
                        )));
                    }
                    Some(n) if v.is_i64() || v.is_u64() => n,
                    _ => {
                        return Err(Failure::runtime(format!(
                            "The SecondsPath parameter does not reference a valid integer: {} == {}",
                            p.as_str(),
                            v
                        )));
                    }
                }
            }
            WaitFor::TimestampPath(p) => {
                let v = self.read_path(st, fid, p, &eff)?;
                let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                self.seconds_until(&text).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                        p.as_str(),
                        text
                    ))
                })?
            }
            WaitFor::JsonataSeconds(e) => self.jsonata_wait_seconds(st, fid, e)?,
            WaitFor::JsonataTimestamp(e) => self.jsonata_wait_timestamp(st, fid, e)?,
        };
        // JSONata's Output is computed now, with the variables of state entry, and shown when the
        // wait ends.
        let eff = if st.query_language == QueryLanguage::Jsonata {
            self.jsonata_output_assign(st, fid, &jsonata::Phase::default(), None, eff)?
        } else {
            self.assign(st, fid, st.assign.as_ref(), &eff)?;
            eff
        };
        let timer = self.start_timer(fid, TimerKind::Wait, seconds);
        let f = self.fiber(fid);
        f.input = eff;
        f.wait = Wait::Timer(timer);
        Ok(Flow::Blocked)
    }

    fn seconds_until(&self, t: &str) -> Option<f64> {
        let at = choice::parse_timestamp(t)?;
        let d = at.with_timezone(&Utc) - self.now;
        Some((d.num_milliseconds() as f64 / 1000.0).max(0.0))
    }

    fn read_path(
        &self,
        st: &State,
        fid: FiberId,
        p: &JsonPath,
        doc: &Value,
    ) -> Result<Value, Failure> {
        let f = self.fiber_ref(fid);
        let build = self.context_builder(st, fid);
        let mut ctx = Context::new(&build);
        select_path(p, doc, &mut ctx, &*f.vars).map(|c| c.into_owned())
    }

    fn number(
        &mut self,
        st: &State,
        fid: FiberId,
        n: &NumberSource,
        eff: &Value,
        field: &str,
    ) -> Result<f64, Failure> {
        match n {
            NumberSource::Literal(x) => Ok(*x),
            NumberSource::Path(p) => {
                let v = self.read_path(st, fid, p, eff)?;
                // AWS accepts integers and strings holding one.
                let int = match &v {
                    Value::Number(n) if n.is_i64() || n.is_u64() => n.as_f64(),
                    Value::String(s) => s.trim().parse::<i64>().ok().map(|i| i as f64),
                    _ => None,
                };
                match int {
                    Some(x) => Ok(x),
                    None => Err(Failure::runtime(format!(
                        "The {field}Path field refers to value \"{v}\" which is not a valid integer: {}",
                        p.as_str()
                    ))),
                }
            }
            NumberSource::Jsonata(e) => self.jsonata_number(st, fid, e, field),
        }
    }

    // ---- tasks ---------------------------------------------------------------------------

    fn run_task(&mut self, st: &State, fid: FiberId) -> Result<Flow, Failure> {
        let StateKind::Task(t) = &st.kind else {
            unreachable!()
        };
        let eff = self.effective_input(st, fid)?;
        let parsed = Resource::parse(&t.resource);
        let needs_token = matches!(
            parsed,
            Resource::Service {
                pattern: Pattern::WaitForTaskToken,
                ..
            }
        ) || matches!(parsed, Resource::Activity { .. });
        let token = needs_token.then(|| self.rng.uuid_v4());
        let input = match (&st.parameters, &st.jsonata.arguments) {
            (Some(p), _) => self.eval_template(st, fid, p, &eff, token.as_deref(), None)?,
            (None, Some(a)) => self.jsonata_arguments(st, fid, a, token.as_deref())?,
            (None, None) => eff.clone(),
        };
        let timeout = match &t.timeout {
            Some(n) => Some(self.number(st, fid, n, &eff, "TimeoutSeconds")?.max(0.0) as u64),
            None => None,
        };
        let heartbeat = match &t.heartbeat {
            Some(n) => Some(self.number(st, fid, n, &eff, "HeartbeatSeconds")?.max(0.0) as u64),
            None => None,
        };
        let family = match parsed {
            Resource::LambdaFunction { .. } => TaskFamily::Lambda,
            Resource::Activity { .. } => TaskFamily::Activity,
            Resource::Service { .. } => {
                let (rt, r) = parsed.history_names(&t.resource);
                TaskFamily::Service {
                    resource_type: rt.to_string(),
                    resource: r.to_string(),
                }
            }
            Resource::Unknown(_) => {
                return Err(Failure::runtime(format!(
                    "The resource '{}' is not supported.",
                    t.resource
                )));
            }
        };
        let task = self.next_task;
        self.next_task += 1;
        let scheduled_event_id = if self.recording() {
            let (ty, details) =
                self.scheduled_details(&family, &t.resource, &input, timeout, heartbeat);
            let id = self.emit(Some(fid), ty, || Some(details));
            match &family {
                TaskFamily::Lambda => {
                    self.emit(Some(fid), "LambdaFunctionStarted", || None);
                }
                TaskFamily::Service {
                    resource_type,
                    resource,
                } => {
                    let d = json!({"resourceType": resource_type, "resource": resource});
                    self.emit(Some(fid), "TaskStarted", || {
                        Some(("taskStartedEventDetails", d))
                    });
                }
                TaskFamily::Activity => {}
            }
            id
        } else {
            self.emit(Some(fid), "", || None)
        };
        let timeout_timer =
            timeout.map(|s| self.start_timer(fid, TimerKind::TaskTimeout(task), s as f64));
        let hb = heartbeat.map(|s| {
            (
                s,
                self.start_timer(fid, TimerKind::Heartbeat(task), s as f64),
            )
        });
        self.tasks.insert(task, fid);
        self.out.actions.push(Action::ScheduleTask(TaskCall {
            task,
            state_name: st.name.clone(),
            resource: t.resource.clone(),
            input,
            token,
            timeout_seconds: timeout,
            heartbeat_seconds: heartbeat,
            scheduled_event_id,
        }));
        self.fiber(fid).wait = Wait::Task(TaskWait {
            task,
            family,
            timeout_timer,
            heartbeat: hb,
            submitted: false,
        });
        Ok(Flow::Blocked)
    }

    fn scheduled_details(
        &self,
        family: &TaskFamily,
        resource: &str,
        input: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> (&'static str, (&'static str, Value)) {
        let mut d = Map::new();
        let (ty, key) = match family {
            TaskFamily::Lambda => {
                d.insert("resource".into(), resource.into());
                d.insert("input".into(), history::json_text(input).into());
                d.insert("inputDetails".into(), json!({"truncated": false}));
                (
                    "LambdaFunctionScheduled",
                    "lambdaFunctionScheduledEventDetails",
                )
            }
            TaskFamily::Activity => {
                d.insert("resource".into(), resource.into());
                d.insert("input".into(), history::json_text(input).into());
                d.insert("inputDetails".into(), json!({"truncated": false}));
                ("ActivityScheduled", "activityScheduledEventDetails")
            }
            TaskFamily::Service {
                resource_type,
                resource,
            } => {
                d.insert("resourceType".into(), resource_type.as_str().into());
                d.insert("resource".into(), resource.as_str().into());
                d.insert("region".into(), self.info.region.as_str().into());
                d.insert("parameters".into(), history::json_text(input).into());
                ("TaskScheduled", "taskScheduledEventDetails")
            }
        };
        if let Some(t) = timeout {
            d.insert("timeoutInSeconds".into(), t.into());
        }
        if let Some(h) = heartbeat {
            d.insert("heartbeatInSeconds".into(), h.into());
        }
        (ty, (key, Value::Object(d)))
    }

    fn task_started(&mut self, task: TaskId, worker: Option<String>) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        if let Wait::Task(TaskWait {
            family: TaskFamily::Activity,
            ..
        }) = &self.fiber_ref(fid).wait
        {
            let mut d = Map::new();
            if let Some(w) = worker {
                d.insert("workerName".into(), w.into());
            }
            self.emit(Some(fid), "ActivityStarted", || {
                Some(("activityStartedEventDetails", Value::Object(d)))
            });
        }
    }

    fn task_submitted(&mut self, task: TaskId, output: Value) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        let Wait::Task(TaskWait {
            family:
                TaskFamily::Service {
                    resource_type,
                    resource,
                },
            submitted,
            ..
        }) = &mut self.fiber(fid).wait
        else {
            return;
        };
        if std::mem::replace(submitted, true) {
            return;
        }
        let d = json!({
            "resourceType": resource_type,
            "resource": resource,
            "output": history::json_text(&output),
            "outputDetails": {"truncated": false},
        });
        self.emit(Some(fid), "TaskSubmitted", || {
            Some(("taskSubmittedEventDetails", d))
        });
    }

    fn heartbeat(&mut self, task: TaskId) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        let Wait::Task(TaskWait {
            heartbeat: Some((secs, timer)),
            ..
        }) = self.fiber_ref(fid).wait.clone()
        else {
            return;
        };
        self.cancel_timer(timer);
        let new_timer = self.start_timer(fid, TimerKind::Heartbeat(task), secs as f64);
        if let Wait::Task(tw) = &mut self.fiber(fid).wait {
            tw.heartbeat = Some((secs, new_timer));
        }
    }

    fn task_outcome(&mut self, m: &StateMachine, task: TaskId, outcome: Result<Value, Failure>) {
        let Some(fid) = self.tasks.remove(&task) else {
            return;
        };
        let Wait::Task(tw) = std::mem::replace(&mut self.fiber(fid).wait, Wait::Ready) else {
            return;
        };
        if let Some(t) = tw.timeout_timer {
            self.cancel_timer(t);
        }
        if let Some((_, t)) = tw.heartbeat {
            self.cancel_timer(t);
        }
        let st = self.state(m, fid);
        let StateKind::Task(t) = &st.kind else { return };
        let outcome = outcome.and_then(|v| {
            let who = match tw.family {
                TaskFamily::Lambda => t.resource.as_str(),
                _ => st.name.as_str(),
            };
            self.check_size(&v, who).map(|_| v)
        });
        self.record_task_outcome(fid, &tw.family, &outcome);
        let flow = match outcome {
            Ok(result) => {
                let r = self.finish_result(st, fid, result, &t.transition);
                self.flow_or_fail(st, fid, r)
            }
            Err(failure) => self.handle_failure(st, fid, failure),
        };
        self.queue(fid, flow);
    }

    fn record_task_outcome(
        &mut self,
        fid: FiberId,
        family: &TaskFamily,
        outcome: &Result<Value, Failure>,
    ) {
        if !self.recording() {
            self.emit(Some(fid), "", || None);
            return;
        }
        // [family][outcome]: event type and details key.
        const NAMES: [[(&str, &str); 3]; 3] = [
            [
                (
                    "LambdaFunctionSucceeded",
                    "lambdaFunctionSucceededEventDetails",
                ),
                ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
                (
                    "LambdaFunctionTimedOut",
                    "lambdaFunctionTimedOutEventDetails",
                ),
            ],
            [
                ("ActivitySucceeded", "activitySucceededEventDetails"),
                ("ActivityFailed", "activityFailedEventDetails"),
                ("ActivityTimedOut", "activityTimedOutEventDetails"),
            ],
            [
                ("TaskSucceeded", "taskSucceededEventDetails"),
                ("TaskFailed", "taskFailedEventDetails"),
                ("TaskTimedOut", "taskTimedOutEventDetails"),
            ],
        ];
        let row = match family {
            TaskFamily::Lambda => 0,
            TaskFamily::Activity => 1,
            TaskFamily::Service { .. } => 2,
        };
        let (col, mut d) = match outcome {
            Ok(v) => (
                0,
                json!({"output": history::json_text(v), "outputDetails": {"truncated": false}}),
            ),
            Err(f) if f.error == names::TIMEOUT || f.error == names::HEARTBEAT_TIMEOUT => {
                (2, history::failure_details(f))
            }
            Err(f) => (1, history::failure_details(f)),
        };
        let (ty, key) = NAMES[row][col];
        if let (
            TaskFamily::Service {
                resource_type,
                resource,
            },
            Value::Object(o),
        ) = (family, &mut d)
        {
            o.insert("resourceType".into(), resource_type.as_str().into());
            o.insert("resource".into(), resource.as_str().into());
        }
        self.emit(Some(fid), ty, || Some((key, d)));
    }

    // ---- Parallel and Map ----------------------------------------------------------------

    fn run_children(
        &mut self,
        m: &StateMachine,
        st: &State,
        fid: FiberId,
    ) -> Result<Flow, Failure> {
        let eff = self.effective_input(st, fid)?;
        let fiber = self.fiber_ref(fid);
        let sid = fiber.state;
        let mut scope: Vec<(StateId, usize)> = fiber.scope.to_vec();
        let children = match &st.kind {
            StateKind::Parallel(p) => {
                let input = match (&st.parameters, &st.jsonata.arguments) {
                    (Some(t), _) => self.eval_template(st, fid, t, &eff, None, None)?,
                    (None, Some(a)) => self.jsonata_arguments(st, fid, a, None)?,
                    (None, None) => eff.clone(),
                };
                self.emit(Some(fid), "ParallelStateStarted", || None);
                let n = p.branches.len();
                let mut running = BTreeMap::new();
                for i in 0..n {
                    scope.push((sid, i));
                    let start = p.branches[i].start_at;
                    let child = self.spawn(fid, i, Arc::from(scope.clone()), start, input.clone());
                    scope.pop();
                    running.insert(i, child);
                }
                Children {
                    is_map: false,
                    name: st.name.clone(),
                    results: vec![Value::Null; n],
                    items: Vec::new(),
                    next_index: n,
                    running,
                    remaining: n,
                    max_concurrency: 0,
                    failures: 0,
                    tolerated_count: None,
                    tolerated_percentage: None,
                    effective_input: input,
                }
            }
            StateKind::Map(map) => {
                if map.item_reader.is_some()
                    || map.item_batcher.is_some()
                    || map.result_writer.is_some()
                {
                    return Err(Failure::runtime(
                        "ItemReader, ItemBatcher and ResultWriter (Distributed Map) are not supported yet.",
                    ));
                }
                let items_value = match (&map.items_path, &map.jsonata_items) {
                    (Some(p), _) => self.read_path(st, fid, p, &eff)?,
                    (None, Some(t)) => self.jsonata_items(st, fid, t)?,
                    (None, None) => eff.clone(),
                };
                let Value::Array(items) = items_value else {
                    let cause = format!(
                        "Map state input must be an array but was: {}",
                        history::json_text(&items_value)
                    );
                    return Err(match st.query_language {
                        QueryLanguage::JsonPath => Failure::runtime(cause),
                        QueryLanguage::Jsonata => self.query_failed(
                            st,
                            fid,
                            crate::jsonata::QueryError {
                                location: None,
                                cause,
                            },
                        ),
                    });
                };
                let max_concurrency = match &map.max_concurrency {
                    Some(n) => self.number(st, fid, n, &eff, "MaxConcurrency")?,
                    None => 0.0,
                };
                if max_concurrency < 0.0 {
                    return Err(Failure::runtime("MaxConcurrency cannot be negative."));
                }
                let tolerated_count = match &map.tolerated_failure_count {
                    Some(n) => {
                        let c = self.number(st, fid, n, &eff, "ToleratedFailureCount")?;
                        if c < 0.0 {
                            return Err(Failure::runtime(
                                "ToleratedFailureCount cannot be negative.",
                            ));
                        }
                        Some(c as u64)
                    }
                    None => None,
                };
                let tolerated_percentage = match &map.tolerated_failure_percentage {
                    Some(n) => {
                        let p = self.number(st, fid, n, &eff, "ToleratedFailurePercentage")?;
                        if !(0.0..=100.0).contains(&p) {
                            return Err(Failure::runtime(
                                "ToleratedFailurePercentage must be between 0 and 100.",
                            ));
                        }
                        Some(p)
                    }
                    None => None,
                };
                let n = items.len();
                self.emit(Some(fid), "MapStateStarted", || {
                    Some(("mapStateStartedEventDetails", json!({"length": n})))
                });
                Children {
                    is_map: true,
                    name: st.name.clone(),
                    results: vec![Value::Null; n],
                    items,
                    next_index: 0,
                    running: BTreeMap::new(),
                    remaining: n,
                    max_concurrency: max_concurrency as usize,
                    failures: 0,
                    tolerated_count,
                    tolerated_percentage,
                    effective_input: eff,
                }
            }
            _ => unreachable!(),
        };
        let empty = children.remaining == 0;
        self.fiber(fid).wait = Wait::Children(Box::new(children));
        if empty {
            return self.children_done(m, fid);
        }
        self.start_map_iterations(m, fid)?;
        Ok(Flow::Blocked)
    }

    fn spawn(
        &mut self,
        parent: FiberId,
        index: usize,
        scope: Arc<[(StateId, usize)]>,
        start: StateId,
        input: Value,
    ) -> FiberId {
        let p = self.fiber_ref(parent);
        let vars = Arc::new(VarScope {
            own: BTreeMap::new(),
            outer: Some(p.vars.clone()),
        });
        let prev = p.prev_event;
        let id = self.fibers.len();
        self.fibers.push(Some(Fiber {
            scope,
            state: start,
            input,
            parent: Some((parent, index)),
            entered_event: 0,
            entered_prev: prev,
            prev_event: prev,
            entered_time: self.now,
            retry_counts: Vec::new(),
            retry_total: 0,
            vars,
            assigned: None,
            wait: Wait::Ready,
        }));
        self.ready.push_back((id, None));
        id
    }

    /// Starts Map iterations up to MaxConcurrency.
    fn start_map_iterations(&mut self, m: &StateMachine, fid: FiberId) -> Result<(), Failure> {
        let st = self.state(m, fid);
        let StateKind::Map(map) = &st.kind else {
            return Ok(());
        };
        let mut scope = self.fiber_ref(fid).scope.to_vec();
        scope.push((self.fiber_ref(fid).state, 0));
        let scope: Arc<[(StateId, usize)]> = Arc::from(scope);
        loop {
            let Wait::Children(c) = &mut self.fiber(fid).wait else {
                return Ok(());
            };
            let full = c.max_concurrency > 0 && c.running.len() >= c.max_concurrency;
            if !c.is_map || c.next_index >= c.items.len() || full {
                return Ok(());
            }
            let index = c.next_index;
            c.next_index += 1;
            // Items are moved out as they start: copying them (or the whole input) per
            // iteration would make a large Map quadratic.
            let item = std::mem::take(&mut c.items[index]);
            let input = match (&map.item_selector, &map.jsonata_item_selector) {
                (Some(t), _) => {
                    let eff = std::mem::take(&mut c.effective_input);
                    let r = self.eval_template(st, fid, t, &eff, None, Some((index, &item)));
                    if let Wait::Children(c) = &mut self.fiber(fid).wait {
                        c.effective_input = eff;
                    }
                    r?
                }
                // JSONata reads the Map's raw input from the fiber, not `effective_input`.
                (None, Some(t)) => self.jsonata_item_selector(st, fid, t, index, &item)?,
                (None, None) => item,
            };
            self.emit(Some(fid), "MapIterationStarted", || {
                Some((
                    "mapIterationStartedEventDetails",
                    json!({"index": index, "name": st.name}),
                ))
            });
            let child = self.spawn(fid, index, scope.clone(), map.processor.start_at, input);
            if let Wait::Children(c) = &mut self.fiber(fid).wait {
                c.running.insert(index, child);
            }
        }
    }

    fn fiber_succeeded(&mut self, m: &StateMachine, fid: FiberId, output: Value) {
        let Some((parent, index)) = self.fiber_ref(fid).parent else {
            if self.recording() {
                let d = json!({"output": history::json_text(&output), "outputDetails": {"truncated": false}});
                self.emit(Some(fid), "ExecutionSucceeded", || {
                    Some(("executionSucceededEventDetails", d))
                });
            }
            self.finish(ExecutionStatus::Succeeded, Some(output), None);
            return;
        };
        let last = self.fiber_ref(fid).prev_event;
        self.fibers[fid] = None;
        self.fiber(parent).prev_event = last;
        let st = self.state(m, parent);
        let is_map = if let Wait::Children(c) = &mut self.fiber(parent).wait {
            c.running.remove(&index);
            c.results[index] = output;
            c.remaining -= 1;
            c.is_map
        } else {
            return;
        };
        if is_map {
            self.emit(Some(parent), "MapIterationSucceeded", || {
                Some((
                    "mapIterationSucceededEventDetails",
                    json!({"index": index, "name": st.name}),
                ))
            });
        }
        self.child_progress(m, parent);
    }

    fn child_progress(&mut self, m: &StateMachine, parent: FiberId) {
        let done = matches!(&self.fiber_ref(parent).wait, Wait::Children(c) if c.remaining == 0);
        let st = self.state(m, parent);
        let result = if done {
            self.children_done(m, parent)
        } else {
            match self.start_map_iterations(m, parent) {
                Ok(()) => return,
                Err(f) => {
                    self.abort_children(parent);
                    self.fiber(parent).wait = Wait::Ready;
                    Err(f)
                }
            }
        };
        let flow = self.flow_or_fail(st, parent, result);
        self.queue(parent, flow);
    }

    fn children_done(&mut self, m: &StateMachine, fid: FiberId) -> Result<Flow, Failure> {
        let st = self.state(m, fid);
        let Wait::Children(c) = std::mem::replace(&mut self.fiber(fid).wait, Wait::Ready) else {
            return Ok(Flow::Blocked);
        };
        let (ty, transition) = match &st.kind {
            StateKind::Parallel(p) => ("ParallelStateSucceeded", &p.transition),
            StateKind::Map(map) => ("MapStateSucceeded", &map.transition),
            _ => unreachable!(),
        };
        self.emit(Some(fid), ty, || None);
        self.finish_result(st, fid, Value::Array(c.results), transition)
    }

    fn fiber_failed(&mut self, m: &StateMachine, fid: FiberId, failure: Failure) {
        let Some((parent, index)) = self.fiber_ref(fid).parent else {
            let d = history::failure_details(&failure);
            self.emit(Some(fid), "ExecutionFailed", || {
                Some(("executionFailedEventDetails", d))
            });
            self.abort_all();
            self.finish(ExecutionStatus::Failed, None, Some(failure));
            return;
        };
        let last = self.fiber_ref(fid).prev_event;
        self.fibers[fid] = None;
        self.fiber(parent).prev_event = last;
        let st = self.state(m, parent);
        let Wait::Children(c) = &mut self.fiber(parent).wait else {
            return;
        };
        c.running.remove(&index);
        c.remaining -= 1;
        let is_map = c.is_map;
        if is_map {
            c.failures += 1;
            c.results[index] = error_output(&failure);
            let total = c.items.len().max(1) as f64;
            let tolerance_set = c.tolerated_count.is_some() || c.tolerated_percentage.is_some();
            let within_count = c.tolerated_count.is_some_and(|n| c.failures as u64 <= n);
            let within_pct = c
                .tolerated_percentage
                .is_some_and(|p| (c.failures as f64) * 100.0 / total <= p);
            let tolerated = within_count || within_pct;
            self.emit(Some(parent), "MapIterationFailed", || {
                Some((
                    "mapIterationFailedEventDetails",
                    json!({"index": index, "name": st.name}),
                ))
            });
            if tolerated {
                self.child_progress(m, parent);
                return;
            }
            let failure = if tolerance_set {
                Failure::new(
                    names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                )
            } else {
                failure
            };
            self.abort_children(parent);
            self.fiber(parent).wait = Wait::Ready;
            self.emit(Some(parent), "MapStateFailed", || None);
            let flow = self.handle_failure(st, parent, failure);
            self.queue(parent, flow);
        } else {
            self.abort_children(parent);
            self.fiber(parent).wait = Wait::Ready;
            self.emit(Some(parent), "ParallelStateFailed", || None);
            let flow = self.handle_failure(st, parent, failure);
            self.queue(parent, flow);
        }
    }

    fn queue(&mut self, fid: FiberId, flow: Flow) {
        if flow != Flow::Blocked {
            self.ready.push_back((fid, Some(flow)));
        }
    }

    // ---- errors ----------------------------------------------------------------------------

    /// Retry, then Catch, else the fiber fails. `States.Runtime` is never retried or caught: it
    /// always fails the execution, as AWS documents.
    fn handle_failure(&mut self, st: &State, fid: FiberId, failure: Failure) -> Flow {
        if failure.error == names::RUNTIME {
            return Flow::Failed(failure);
        }
        let (retry, catch) = match &st.kind {
            StateKind::Task(t) => (&t.retry, &t.catch),
            StateKind::Parallel(p) => (&p.retry, &p.catch),
            StateKind::Map(m) => (&m.retry, &m.catch),
            _ => return Flow::Failed(failure),
        };
        if let Some(i) = retry
            .iter()
            .position(|r| errors::matches(&r.error_equals, &failure.error))
        {
            let r = &retry[i];
            let f = self.fiber(fid);
            if f.retry_counts.len() < retry.len() {
                f.retry_counts.resize(retry.len(), 0);
            }
            if (f.retry_counts[i] as u64) < r.max_attempts {
                f.retry_counts[i] += 1;
                f.retry_total += 1;
                let attempt = f.retry_counts[i];
                let delay = errors::retry_delay(r, attempt, &mut self.rng);
                let timer = self.start_timer(fid, TimerKind::Retry, delay);
                self.fiber(fid).wait = Wait::Timer(timer);
                return Flow::Blocked;
            }
        }
        if let Some(i) = catch
            .iter()
            .position(|c| errors::matches(&c.error_equals, &failure.error))
        {
            let c = &catch[i];
            let err = error_output(&failure);
            if st.query_language == QueryLanguage::Jsonata {
                return match self.jsonata_catch(st, fid, c, i, err) {
                    Ok(out) => {
                        self.exited(st, fid, &out);
                        Flow::Next(c.next, out)
                    }
                    Err(f) => Flow::Failed(f),
                };
            }
            if let Err(f) = self.assign(st, fid, c.assign.as_ref(), &err) {
                return Flow::Failed(self.state_error(st, fid, f));
            }
            let raw = &self.fiber_ref(fid).input;
            return match apply_result_path(&c.result_path, raw, err) {
                Ok(out) => {
                    self.exited(st, fid, &out);
                    Flow::Next(c.next, out)
                }
                Err(f) => Flow::Failed(self.state_error(st, fid, f)),
            };
        }
        Flow::Failed(failure)
    }

    // ---- timers ----------------------------------------------------------------------------

    fn start_timer(&mut self, fid: FiberId, kind: TimerKind, seconds: f64) -> TimerId {
        let timer = self.next_timer;
        self.next_timer += 1;
        let ms = (seconds * 1000.0).clamp(0.0, 4.0e12) as i64;
        let at = self.now + TimeDelta::milliseconds(ms);
        self.timers.insert(timer, (fid, kind));
        self.out.actions.push(Action::StartTimer { timer, at });
        timer
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        if self.timers.remove(&timer).is_some() {
            self.out.actions.push(Action::CancelTimer { timer });
        }
    }

    fn timer_fired(&mut self, m: &StateMachine, timer: TimerId) {
        let Some((fid, kind)) = self.timers.remove(&timer) else {
            return;
        };
        match kind {
            TimerKind::ExecutionTimeout => {
                // AWS reports an execution timeout with no error or cause.
                self.emit(None, "ExecutionTimedOut", || None);
                self.abort_all();
                self.finish(ExecutionStatus::TimedOut, None, None);
            }
            TimerKind::TaskTimeout(task) => {
                self.cancel_task(task);
                self.task_outcome(m, task, Err(Failure::new(names::TIMEOUT, "")));
            }
            TimerKind::Heartbeat(task) => {
                self.cancel_task(task);
                self.task_outcome(m, task, Err(Failure::new(names::HEARTBEAT_TIMEOUT, "")));
            }
            TimerKind::Wait => {
                let st = self.state(m, fid);
                self.fiber(fid).wait = Wait::Ready;
                let eff = self.fiber_ref(fid).input.clone();
                let StateKind::Wait(w) = &st.kind else { return };
                let flow = match self.output_path(st, fid, eff) {
                    Ok(out) => {
                        self.exited(st, fid, &out);
                        next_of(&w.transition, out)
                    }
                    Err(f) => Flow::Failed(self.state_error(st, fid, f)),
                };
                self.queue(fid, flow);
            }
            TimerKind::Retry => {
                self.fiber(fid).wait = Wait::Ready;
                let flow = self.execute(m, fid);
                self.queue(fid, flow);
            }
        }
    }

    fn cancel_task(&mut self, task: TaskId) {
        if self.tasks.contains_key(&task) {
            self.out.actions.push(Action::CancelTask { task });
        }
    }

    // ---- aborting ----------------------------------------------------------------------------

    /// Stops every descendant of `fid`: their tasks and timers are cancelled.
    fn abort_children(&mut self, fid: FiberId) {
        let Some(Fiber {
            wait: Wait::Children(c),
            ..
        }) = self.fibers[fid].as_ref()
        else {
            return;
        };
        let running: Vec<(usize, FiberId)> = c.running.iter().map(|(i, f)| (*i, *f)).collect();
        let map_name = c.is_map.then(|| c.name.clone());
        for (index, child) in running {
            self.abort_fiber(child);
            if let Some(name) = &map_name {
                self.emit(Some(fid), "MapIterationAborted", || {
                    Some((
                        "mapIterationAbortedEventDetails",
                        json!({"index": index, "name": name}),
                    ))
                });
            }
        }
        if let Some(Fiber {
            wait: Wait::Children(c),
            ..
        }) = self.fibers[fid].as_mut()
        {
            c.running.clear();
        }
    }

    fn abort_fiber(&mut self, fid: FiberId) {
        self.abort_children(fid);
        let Some(f) = self.fibers[fid].take() else {
            return;
        };
        if let Wait::Task(tw) = &f.wait {
            self.tasks.remove(&tw.task);
            self.out.actions.push(Action::CancelTask { task: tw.task });
        }
        let timers: Vec<TimerId> = self
            .timers
            .iter()
            .filter(|(_, (owner, _))| *owner == fid)
            .map(|(t, _)| *t)
            .collect();
        for t in timers {
            self.cancel_timer(t);
        }
    }

    fn abort_all(&mut self) {
        for task in std::mem::take(&mut self.tasks).into_keys() {
            self.out.actions.push(Action::CancelTask { task });
        }
    }
}

fn no_choice_matched(st: &State) -> Failure {
    Failure::runtime(format!(
        "No Choice rule matched and no Default was set in the state '{}'.",
        st.name
    ))
}

fn choice_needs_context(c: &crate::model::Choice) -> bool {
    fn walk(cond: &crate::model::Condition) -> bool {
        use crate::expr::Root;
        use crate::model::{Condition, Operand};
        match cond {
            Condition::And(v) | Condition::Or(v) => v.iter().any(walk),
            Condition::Not(c) => walk(c),
            Condition::Compare {
                variable, operand, ..
            } => {
                *variable.root() == Root::Context
                    || matches!(operand, Operand::Path(p) if *p.root() == Root::Context)
            }
            Condition::Jsonata(_) => false,
        }
    }
    c.choices.iter().any(|r| walk(&r.condition))
}

#[cfg(test)]
mod tests;
