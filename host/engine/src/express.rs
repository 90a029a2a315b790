//! Express executions: the same interpreter, in memory, no history kept. Tasks run concurrently;
//! timers sleep on the engine's clock; past the Express limit (5 minutes) the run times out.

use std::collections::{BTreeSet, VecDeque};

use sandflow_core::interp::{Action, Event, Execution, ExecutionInfo, ExecutionStatus};
use sandflow_core::parse::MachineType;
use sandflow_core::rng::Rng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::tasks::{self, BoxFuture, Completion};
use std::sync::Weak;

use sandflow_store::usage::{self, Usage};

use crate::{Engine, Error, Finished, Inner, Result, StartRequest, Started};

impl Engine {
    /// Starts an Express run; with `sync`, also returns a receiver for how it ends.
    pub(crate) async fn start_express(
        &self,
        req: StartRequest,
        sync: bool,
    ) -> Result<(Started, Option<oneshot::Receiver<Finished>>)> {
        let machine = self.machine(&req.definition, MachineType::Express)?;
        let input: Value =
            serde_json::from_str(&req.input).map_err(|e| Error::InvalidOutput(e.to_string()))?;
        let now = self.inner.clock.now();
        let seed = self.seed();
        let arn = format!(
            "arn:aws:states:{}:{}:express:{}:{}:{}",
            req.caller.region,
            req.caller.account,
            req.state_machine_name,
            req.name,
            Rng::new(seed).uuid_v4()
        );
        let info = ExecutionInfo {
            execution_arn: arn.clone(),
            execution_name: req.name.clone(),
            state_machine_arn: req.state_machine_arn.clone(),
            state_machine_name: req.state_machine_name.clone(),
            role_arn: req.role_arn.clone(),
            region: req.caller.region.clone(),
            machine_type: MachineType::Express,
            start_time: now,
            input,
            seed,
            max_payload_bytes: self.inner.config.max_payload_bytes,
            record_history: false,
        };
        let (tx, rx) = oneshot::channel();
        let engine = self.clone();
        let caller = req.caller.clone();
        tokio::spawn(async move {
            let done = engine.run_express(&machine, info, &caller).await;
            let _ = tx.send(done);
        });
        let started = Started {
            execution_arn: arn,
            start_ms: now.timestamp_millis(),
            finished: None,
        };
        Ok((started, sync.then_some(rx)))
    }

    async fn run_express(
        &self,
        machine: &sandflow_core::model::StateMachine,
        info: ExecutionInfo,
        caller: &tasks::Caller,
    ) -> Finished {
        let clock = self.inner.clock.clone();
        let start = info.start_time;
        let deadline = start + chrono::TimeDelta::seconds(self.inner.config.express_max_seconds);
        let mut exec = Execution::new(info);
        let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel::<Event>();
        let mut timers = BTreeSet::new();
        let mut pending = VecDeque::from([Event::Start]);
        let mut invocations = 0i64;
        let timed_out = loop {
            while let Some(event) = pending.pop_front() {
                for action in exec.apply(machine, event, clock.now()).actions {
                    match action {
                        Action::ScheduleTask(call) => {
                            invocations += 1;
                            let arn = &exec.info().execution_arn;
                            let (tx, task) = (outcomes_tx.clone(), call.task);
                            let submit: tasks::Submit = Box::new(move |output| {
                                let _ = tx.send(Event::TaskSubmitted { task, output });
                                Box::pin(async {})
                            });
                            match self.start_task(caller, arn, &call, submit) {
                                Completion::Now(outcome) => {
                                    let tx = outcomes_tx.clone();
                                    tokio::spawn(async move {
                                        let _ =
                                            tx.send(tasks::outcome_event(call.task, outcome.await));
                                    });
                                }
                                // Express refuses callbacks at creation; fail rather than hang.
                                Completion::Token => pending.push_back(Event::TaskFailed {
                                    task: call.task,
                                    error: "States.Runtime".into(),
                                    cause: Some(
                                        "Express executions cannot wait for task tokens".into(),
                                    ),
                                }),
                            }
                        }
                        Action::StartTimer { timer, at } => {
                            timers.insert((at, timer));
                        }
                        Action::CancelTimer { timer } => timers.retain(|(_, t)| *t != timer),
                        Action::CancelTask { .. } | Action::Finished => {}
                    }
                }
            }
            if exec.status() != ExecutionStatus::Running {
                break false;
            }
            let next_timer = timers.first().copied();
            let timer_sleep: BoxFuture<()> = match next_timer {
                Some((at, _)) => clock.sleep_until(at),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                Some(event) = outcomes.recv() => pending.push_back(event),
                _ = timer_sleep => {
                    if let Some((at, timer)) = next_timer {
                        timers.remove(&(at, timer));
                        pending.push_back(Event::TimerFired { timer });
                    }
                }
                _ = clock.sleep_until(deadline) => break true,
            }
        };
        self.meter_express(caller.tenant_id, exec.transitions(), invocations);
        let mut done = Finished::of(&exec, clock.now());
        if timed_out {
            // Past the Express limit: AWS reports TIMED_OUT with States.Timeout.
            done.status = "TIMED_OUT".into();
            done.error = Some("States.Timeout".into());
        }
        done
    }
}

impl Engine {
    /// Express runs are not stored; their usage is summed in memory and flushed every second.
    fn meter_express(&self, tenant_id: i64, transitions: u64, invocations: i64) {
        let day = usage::day_of(self.inner.clock.now().timestamp_millis());
        let mut pending = self.lock(&self.inner.express_usage);
        let u = pending.entry((tenant_id, day)).or_insert(Usage {
            day,
            ..Usage::default()
        });
        u.transitions += transitions as i64;
        u.task_invocations += invocations;
    }

    /// Writes the summed Express usage.
    pub(crate) async fn flush_express_usage(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.lock(&self.inner.express_usage));
        if pending.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            for ((tenant_id, _), u) in &pending {
                usage::add(c, *tenant_id, u)?;
            }
            Ok(())
        })
        .await
    }
}

/// Flushes Express usage every second while the engine lives.
pub(crate) async fn usage_flusher(engine: Weak<Inner>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(inner) = engine.upgrade() else {
            return;
        };
        if let Err(e) = (Engine { inner }).flush_express_usage().await {
            tracing::error!(error = %e, "writing Express usage failed");
        }
    }
}
