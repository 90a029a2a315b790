//! Standard executions: durable, exactly-once transitions. Each delivered event is applied to the
//! execution's stored snapshot; the new snapshot, the step's history and the rows for its actions
//! (task outbox, timers) commit in one write; only then do the actions run.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sandflow_core::interp::{
    Action, Event, Execution, ExecutionInfo, ExecutionStatus, Step, TaskCall,
};
use sandflow_core::parse::MachineType;
use sandflow_core::resource::Resource;
use sandflow_store::executions::{self, NewExecution};
use sandflow_store::usage::{self, Usage};
use sandflow_store::{Connection, tasks as task_rows, timers};
use serde_json::Value;

use crate::tasks::{self, BoxFuture, Caller, Completion};
use crate::{Engine, Error, Finished, Result, StartRequest, Started};

/// Everything one step writes, serialized before it reaches the writer thread.
struct StepCommit {
    seq: i64,
    event: String,
    history: String,
    first_event_id: i64,
    event_count: i64,
    snapshot: Option<Vec<u8>>,
    status: &'static str,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    stop_ms: Option<i64>,
    /// The event is stale unless this task/timer is still outstanding (it is consumed here).
    guard: Guard,
    tasks: Vec<task_rows::Task>,
    cancelled_tasks: Vec<i64>,
    timers: Vec<(i64, i64)>,
    cancelled_timers: Vec<i64>,
    finished: bool,
    tenant_id: i64,
    usage: Usage,
}

enum Guard {
    None,
    Task(i64),
    Timer(i64),
}

/// What StartExecution's write found.
enum Admission {
    Inserted(i64),
    /// Running under this name with the same input: the original start time.
    Existing(i64),
    NameTaken,
    OverLimit,
}

/// Why a write was skipped: the event had been applied already.
const STALE: &str = "stale event";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

impl StepCommit {
    /// `transitions_before`: the execution's transition count before this step.
    fn new(
        tenant_id: i64,
        seq: i64,
        event: &Event,
        exec: &Execution,
        transitions_before: u64,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<StepCommit> {
        let status = exec.status();
        let done = status != ExecutionStatus::Running;
        let failure = exec.failure();
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut c = StepCommit {
            seq,
            event: json(event)?,
            history: json(&step.history)?,
            first_event_id: step.history.first().map_or(0, |e| e.id as i64),
            event_count: step.history.len() as i64,
            // An ended execution is never resumed: no snapshot to write.
            snapshot: if done {
                None
            } else {
                Some(serde_json::to_vec(exec).map_err(|e| Error::Corrupt(e.to_string()))?)
            },
            status: status.as_aws(),
            output: match exec.output() {
                Some(v) => Some(json(v)?),
                None => None,
            },
            error: failure.and_then(|f| non_empty(&f.error)),
            cause: failure.and_then(|f| non_empty(f.cause_str())),
            stop_ms: done.then(|| ms(now)),
            guard: match event {
                Event::TaskSucceeded { task, .. }
                | Event::TaskFailed { task, .. }
                | Event::TaskTimedOut { task } => Guard::Task(*task as i64),
                Event::TimerFired { timer } => Guard::Timer(*timer as i64),
                _ => Guard::None,
            },
            tasks: Vec::new(),
            cancelled_tasks: Vec::new(),
            timers: Vec::new(),
            cancelled_timers: Vec::new(),
            finished: done,
            tenant_id,
            usage: Usage {
                day: usage::day_of(ms(now)),
                transitions: (exec.transitions() - transitions_before) as i64,
                task_invocations: step
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::ScheduleTask(_)))
                    .count() as i64,
                ..Usage::default()
            },
        };
        for a in &step.actions {
            match a {
                Action::ScheduleTask(call) => c.tasks.push(task_rows::Task {
                    execution_id: 0,
                    task_id: call.task as i64,
                    call: json(call)?,
                    token: call.token.clone(),
                    activity_arn: matches!(
                        Resource::parse(&call.resource),
                        Resource::Activity { .. }
                    )
                    .then(|| call.resource.clone()),
                    started: false,
                }),
                Action::CancelTask { task } => c.cancelled_tasks.push(*task as i64),
                Action::StartTimer { timer, at } => c.timers.push((*timer as i64, ms(*at))),
                Action::CancelTimer { timer } => c.cancelled_timers.push(*timer as i64),
                Action::Finished => {}
            }
        }
        Ok(c)
    }

    /// Runs inside the writer's transaction.
    fn apply(self, c: &Connection, id: i64) -> sandflow_store::Result<()> {
        let consumed = match self.guard {
            Guard::None => true,
            Guard::Task(t) => task_rows::delete(c, id, t)?,
            Guard::Timer(t) => timers::delete(c, id, t)?,
        };
        if !consumed {
            return Err(sandflow_store::Error::Conflict(STALE.into()));
        }
        executions::commit_step(
            c,
            id,
            &executions::Step {
                seq: self.seq,
                event: &self.event,
                first_event_id: self.first_event_id,
                event_count: self.event_count,
                history: &self.history,
                snapshot: self.snapshot.as_deref(),
                status: self.status,
                output: self.output.as_deref(),
                error: self.error.as_deref(),
                cause: self.cause.as_deref(),
                stop_ms: self.stop_ms,
            },
        )?;
        if self.usage.transitions > 0 || self.usage.task_invocations > 0 {
            usage::add(c, self.tenant_id, &self.usage)?;
        }
        if self.finished {
            task_rows::delete_all(c, id)?;
            timers::delete_all(c, id)?;
            return Ok(());
        }
        for t in self.cancelled_tasks {
            task_rows::delete(c, id, t)?;
        }
        for t in self.cancelled_timers {
            timers::delete(c, id, t)?;
        }
        for mut t in self.tasks {
            t.execution_id = id;
            task_rows::insert(c, &t)?;
        }
        for (timer_id, fire_ms) in self.timers {
            timers::insert(
                c,
                timers::Timer {
                    execution_id: id,
                    timer_id,
                    fire_ms,
                },
            )?;
        }
        Ok(())
    }
}

/// `arn:aws:states:REGION:ACCOUNT:...` -> (region, account).
fn region_account(arn: &str) -> (String, String) {
    let p: Vec<&str> = arn.split(':').collect();
    (
        p.get(3).unwrap_or(&"").to_string(),
        p.get(4).unwrap_or(&"").to_string(),
    )
}

impl Engine {
    pub(crate) async fn start_standard(&self, req: StartRequest) -> Result<Started> {
        let machine = self.machine(&req.definition, MachineType::Standard)?;
        let input: Value =
            serde_json::from_str(&req.input).map_err(|e| Error::InvalidOutput(e.to_string()))?;
        let now = self.inner.clock.now();
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            req.caller.region, req.caller.account, req.state_machine_name, req.name
        );
        let mut exec = Execution::new(ExecutionInfo {
            execution_arn: arn.clone(),
            execution_name: req.name.clone(),
            state_machine_arn: req.state_machine_arn.clone(),
            state_machine_name: req.state_machine_name.clone(),
            role_arn: req.role_arn.clone(),
            region: req.caller.region.clone(),
            machine_type: MachineType::Standard,
            start_time: now,
            input,
            seed: self.seed(),
            max_payload_bytes: self.inner.config.max_payload_bytes,
            record_history: true,
        });
        let step = exec.apply(&machine, Event::Start, now);
        let commit = StepCommit::new(req.caller.tenant_id, 0, &Event::Start, &exec, 0, &step, now)?;
        let max_open = self
            .inner
            .overrides
            .get(req.caller.tenant_id)
            .open_executions
            .unwrap_or(self.inner.config.quotas.max_open_executions);
        let (tenant_id, sm_arn, name, definition, input_text) = (
            req.caller.tenant_id,
            req.state_machine_arn.clone(),
            req.name.clone(),
            req.definition.clone(),
            req.input.clone(),
        );
        let row_arn = arn.clone();
        let inserted = self
            .write(move |c| {
                let new = NewExecution {
                    tenant_id,
                    arn: &row_arn,
                    state_machine_arn: &sm_arn,
                    name: &name,
                    machine_type: "STANDARD",
                    definition: &definition,
                    input: &input_text,
                    start_ms: ms(now),
                };
                if let Some(e) = executions::get(c, tenant_id, &row_arn)? {
                    // Same name: idempotent while running with the same input, as AWS.
                    return if e.status == "RUNNING" && e.input == input_text {
                        Ok(Admission::Existing(e.start_ms))
                    } else {
                        Ok(Admission::NameTaken)
                    };
                }
                if executions::count_open(c, tenant_id)? >= max_open {
                    return Ok(Admission::OverLimit);
                }
                let id = executions::insert(c, &new)?;
                commit.apply(c, id)?;
                Ok(Admission::Inserted(id))
            })
            .await?;
        match inserted {
            Admission::Inserted(id) => {
                self.after_commit(id, &req.caller, &exec, step.actions);
                let ended = exec.status() != ExecutionStatus::Running;
                Ok(Started {
                    execution_arn: arn,
                    start_ms: ms(now),
                    finished: ended.then(|| Finished::of(&exec, now)),
                })
            }
            Admission::Existing(start_ms) => Ok(Started {
                execution_arn: arn,
                start_ms,
                finished: None,
            }),
            Admission::NameTaken => Err(Error::ExecutionAlreadyExists(arn)),
            Admission::OverLimit => Err(Error::ExecutionLimitExceeded(format!(
                "Maximum number of running executions ({max_open}) reached"
            ))),
        }
    }

    /// Applies `event` to execution `id` and commits the step; a stale event is dropped.
    pub(crate) async fn deliver(&self, id: i64, event: Event) -> Result<()> {
        let lock = self.lock(&self.inner.locks).entry(id).or_default().clone();
        let _serial = lock.lock().await;
        let loaded = self
            .read(move |c| Ok(executions::by_id(c, id)?.zip(executions::snapshot(c, id)?)))
            .await?;
        let Some((row, (snapshot, seq))) = loaded else {
            return Ok(());
        };
        if row.status != "RUNNING" {
            return Ok(());
        }
        let machine = self.machine(&row.definition, MachineType::Standard)?;
        let snapshot = snapshot
            .ok_or_else(|| Error::Corrupt(format!("execution {} has no snapshot", row.arn)))?;
        let mut exec: Execution =
            serde_json::from_slice(&snapshot).map_err(|e| Error::Corrupt(e.to_string()))?;
        let now = self.inner.clock.now();
        let before = exec.transitions();
        let step = exec.apply(&machine, event.clone(), now);
        let commit = StepCommit::new(row.tenant_id, seq, &event, &exec, before, &step, now)?;
        match self.write(move |c| commit.apply(c, id)).await {
            Ok(()) => {}
            Err(Error::Store(sandflow_store::Error::Conflict(_))) => return Ok(()),
            Err(e) => return Err(e),
        }
        let (region, account) = region_account(&row.arn);
        let caller = Caller {
            tenant_id: row.tenant_id,
            account,
            region,
        };
        self.after_commit(id, &caller, &exec, step.actions);
        if exec.status() != ExecutionStatus::Running {
            self.lock(&self.inner.locks).remove(&id);
        }
        Ok(())
    }

    fn deliver_boxed(&self, id: i64, event: Event) -> BoxFuture<Result<()>> {
        let engine = self.clone();
        Box::pin(async move { engine.deliver(id, event).await })
    }

    /// Carries out a committed step's actions.
    fn after_commit(&self, id: i64, caller: &Caller, exec: &Execution, actions: Vec<Action>) {
        // No receivers is the common case and not an error.
        let _ = self.inner.committed.send(id);
        for a in actions {
            match a {
                Action::ScheduleTask(call) => {
                    self.dispatch(id, caller, &exec.info().execution_arn, call)
                }
                Action::StartTimer { .. } | Action::CancelTimer { .. } => {
                    self.inner.timers_changed.notify_one()
                }
                Action::CancelTask { task } => {
                    self.stop_sync_child(&exec.info().execution_arn, task)
                }
                Action::Finished => self.notify_finished(id, exec),
            }
        }
    }

    fn dispatch(&self, id: i64, caller: &Caller, execution_arn: &str, call: TaskCall) {
        let (engine, task) = (self.clone(), call.task);
        let submit: tasks::Submit = Box::new(move |output| {
            Box::pin(async move {
                let event = Event::TaskSubmitted { task, output };
                if let Err(e) = engine.deliver(id, event).await {
                    tracing::error!(execution = id, error = %e, "recording a task submission failed");
                }
            })
        });
        match self.start_task(caller, execution_arn, &call, submit) {
            Completion::Now(outcome) => {
                let engine = self.clone();
                tokio::spawn(async move {
                    let event = tasks::outcome_event(call.task, outcome.await);
                    if let Err(e) = engine.deliver_boxed(id, event).await {
                        tracing::error!(execution = id, error = %e, "recording a task outcome failed");
                    }
                });
            }
            Completion::Token => self.inner.activity_work.notify_waiters(),
        }
    }

    fn notify_finished(&self, id: i64, exec: &Execution) {
        let waiters = self
            .lock(&self.inner.waiters)
            .remove(&id)
            .unwrap_or_default();
        if waiters.is_empty() {
            return;
        }
        let done = Finished::of(exec, self.inner.clock.now());
        for w in waiters {
            let _ = w.send(done.clone());
        }
    }

    /// On start: every outstanding request-response task runs again (its outcome was not
    /// committed); callback and activity tasks keep waiting on their tokens.
    pub(crate) async fn recover(&self) -> Result<()> {
        let outstanding = self.read(task_rows::all).await?;
        for t in outstanding.into_iter().filter(|t| t.token.is_none()) {
            let call: TaskCall =
                serde_json::from_str(&t.call).map_err(|e| Error::Corrupt(e.to_string()))?;
            let id = t.execution_id;
            let Some(row) = self.read(move |c| executions::by_id(c, id)).await? else {
                continue;
            };
            let (region, account) = region_account(&row.arn);
            self.dispatch(
                id,
                &Caller {
                    tenant_id: row.tenant_id,
                    account,
                    region,
                },
                &row.arn,
                call,
            );
        }
        Ok(())
    }

    async fn task_by_token(&self, tenant_id: i64, token: &str) -> Result<task_rows::Task> {
        let token = token.to_string();
        let found = self
            .read(move |c| {
                let Some(t) = task_rows::by_token(c, &token)? else {
                    return Ok(None);
                };
                let owner = executions::by_id(c, t.execution_id)?.map(|e| e.tenant_id);
                Ok((owner == Some(tenant_id)).then_some(t))
            })
            .await?;
        found.ok_or(Error::TaskDoesNotExist)
    }

    /// SendTaskSuccess. `output` is JSON text.
    pub async fn send_task_success(&self, tenant_id: i64, token: &str, output: &str) -> Result<()> {
        let output: Value =
            serde_json::from_str(output).map_err(|e| Error::InvalidOutput(e.to_string()))?;
        let t = self.task_by_token(tenant_id, token).await?;
        self.deliver(
            t.execution_id,
            Event::TaskSucceeded {
                task: t.task_id as u64,
                output,
            },
        )
        .await
    }

    pub async fn send_task_failure(
        &self,
        tenant_id: i64,
        token: &str,
        error: &str,
        cause: Option<&str>,
    ) -> Result<()> {
        let t = self.task_by_token(tenant_id, token).await?;
        let event = Event::TaskFailed {
            task: t.task_id as u64,
            error: error.into(),
            cause: cause.map(str::to_string),
        };
        self.deliver(t.execution_id, event).await
    }

    pub async fn send_task_heartbeat(&self, tenant_id: i64, token: &str) -> Result<()> {
        let t = self.task_by_token(tenant_id, token).await?;
        self.deliver(
            t.execution_id,
            Event::TaskHeartbeat {
                task: t.task_id as u64,
            },
        )
        .await
    }

    /// StopExecution. Stopping a finished execution changes nothing.
    pub async fn stop_execution(
        &self,
        tenant_id: i64,
        arn: &str,
        error: &str,
        cause: &str,
    ) -> Result<()> {
        let key = arn.to_string();
        let row = self
            .read(move |c| executions::get(c, tenant_id, &key))
            .await?
            .ok_or_else(|| Error::ExecutionDoesNotExist(arn.to_string()))?;
        self.deliver(
            row.id,
            Event::Stop {
                error: error.into(),
                cause: cause.into(),
            },
        )
        .await
    }

    /// GetActivityTask: the oldest waiting task of the activity, as (token, input JSON text), or
    /// `None` after `wait` (AWS long-polls up to 60 s).
    pub async fn get_activity_task(
        &self,
        tenant_id: i64,
        activity_arn: &str,
        worker: Option<&str>,
        wait: std::time::Duration,
    ) -> Result<Option<(String, String)>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.activity_work.notified();
            let arn = activity_arn.to_string();
            let claimed = self
                .write(move |c| {
                    let Some(t) = task_rows::claim_activity(c, &arn)? else {
                        return Ok(None);
                    };
                    let owner = executions::by_id(c, t.execution_id)?.map(|e| e.tenant_id);
                    if owner != Some(tenant_id) {
                        return Err(sandflow_store::Error::NotFound(arn));
                    }
                    Ok(Some(t))
                })
                .await;
            let claimed = match claimed {
                Err(Error::Store(sandflow_store::Error::NotFound(_))) => None,
                other => other?,
            };
            if let Some(t) = claimed {
                let call: TaskCall =
                    serde_json::from_str(&t.call).map_err(|e| Error::Corrupt(e.to_string()))?;
                let started = Event::TaskStarted {
                    task: t.task_id as u64,
                    worker: worker.map(str::to_string),
                };
                self.deliver(t.execution_id, started).await?;
                let input = json(&call.input)?;
                return Ok(Some((t.token.unwrap_or_default(), input)));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }
}

/// Fires due timers; sleeps until the next one or until timers change.
pub(crate) async fn timer_loop(e: Engine) {
    // Timers handed to a delivery that has not finished yet: not fired twice meanwhile.
    let in_flight: Arc<std::sync::Mutex<HashSet<(i64, i64)>>> = Arc::default();
    loop {
        let now = e.inner.clock.now();
        let due = match e.read(move |c| timers::due(c, ms(now), 256)).await {
            Ok(d) => d,
            Err(err) => {
                tracing::error!(error = %err, "reading due timers failed");
                Vec::new()
            }
        };
        let mut fired = 0;
        for t in &due {
            let key = (t.execution_id, t.timer_id);
            if !e.lock(&in_flight).insert(key) {
                continue;
            }
            fired += 1;
            let fut = e.deliver_boxed(
                t.execution_id,
                Event::TimerFired {
                    timer: t.timer_id as u64,
                },
            );
            let (in_flight, wake) = (in_flight.clone(), e.clone());
            tokio::spawn(async move {
                if let Err(err) = fut.await {
                    tracing::error!(error = %err, "firing a timer failed");
                }
                wake.lock(&in_flight).remove(&key);
                wake.inner.timers_changed.notify_one();
            });
        }
        if fired == 256 {
            tokio::task::yield_now().await;
            continue;
        }
        let next = e.read(timers::next_fire).await.ok().flatten();
        let changed = e.inner.timers_changed.notified();
        let sleep: BoxFuture<()> = match next.and_then(DateTime::<Utc>::from_timestamp_millis) {
            Some(at) if at > now => e.inner.clock.sleep_until(at),
            // Due, and being delivered: its delivery wakes us.
            _ => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = sleep => {}
            _ = changed => {}
        }
    }
}
