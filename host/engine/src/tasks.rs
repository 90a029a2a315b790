//! What a Task state's resource means at run time: a tenant's function (plain Lambda ARN or
//! `lambda:invoke`, shaped as AWS does), a callback that waits on its token, or an activity that
//! waits for a worker. Functions are run by a [`Functions`] implementation (the WASM runtime).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::interp::TaskCall;
use sandflow_core::lambda::{self, CallContext, FunctionResult, InvokeMeta, LambdaCall};
use sandflow_core::resource::{Pattern, Resource};
use sandflow_core::rng::Rng;
use sandflow_core::run::TaskOutcome;

use crate::clock::Clock;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Whose function, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: i64,
    pub account: String,
    pub region: String,
}

/// Runs tenants' functions. `timeout`: the Task's `TimeoutSeconds`, if any.
pub trait Functions: Send + Sync + 'static {
    fn invoke(
        &self,
        caller: &Caller,
        function: &str,
        payload: String,
        timeout_seconds: Option<u64>,
    ) -> BoxFuture<FunctionInvocation>;
}

/// A function's answer, or a timeout.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionInvocation {
    Done(FunctionResult),
    TimedOut,
}

/// How a scheduled task completes.
pub enum Completion {
    /// Its outcome is known now (or once this future resolves).
    Now(BoxFuture<TaskOutcome>),
    /// It completes through SendTask* with its token (callbacks, activities).
    Token,
}

/// Routes one task call.
pub fn start(
    functions: &Arc<dyn Functions>,
    clock: &Arc<dyn Clock>,
    caller: &Caller,
    call: &TaskCall,
    max_payload_bytes: usize,
) -> Completion {
    let resource = Resource::parse(&call.resource);
    match resource {
        Resource::Activity { .. } => Completion::Token,
        Resource::Service {
            service: "lambda",
            action: "invoke",
            pattern: Pattern::WaitForTaskToken,
        } => {
            // The function is invoked with the payload (holding the token); its own result is
            // not the task's: the task waits for SendTaskSuccess/Failure.
            if let Some(Ok(invoke)) =
                lambda::LambdaCall::from_task("arn:aws:states:::lambda:invoke", &call.input)
            {
                let f = functions.invoke(
                    caller,
                    invoke.function_name(),
                    invoke.payload.clone(),
                    call.timeout_seconds,
                );
                tokio::spawn(f);
            }
            Completion::Token
        }
        _ => match LambdaCall::from_task(&call.resource, &call.input) {
            Some(Ok(lc)) => {
                let f = functions.invoke(
                    caller,
                    lc.function_name(),
                    lc.payload.clone(),
                    call.timeout_seconds,
                );
                let (caller, clock, seed) = (caller.clone(), clock.clone(), call.task);
                Completion::Now(Box::pin(async move {
                    let invocation = f.await;
                    let mut rng = Rng::new(seed ^ clock.now().timestamp_micros() as u64);
                    let meta = InvokeMeta::generate(&mut rng, clock.now());
                    let ctx = CallContext {
                        region: &caller.region,
                        account: &caller.account,
                        max_payload_bytes,
                        meta: &meta,
                    };
                    match invocation {
                        FunctionInvocation::Done(result) => lambda::task_outcome(&lc, result, &ctx),
                        FunctionInvocation::TimedOut => TaskOutcome::TimedOut,
                    }
                }))
            }
            Some(Err(f)) => ready(TaskOutcome::Failed(f)),
            None => ready(TaskOutcome::Failed(Failure::new(
                names::RUNTIME,
                format!(
                    "The resource '{}' is not supported by this server yet.",
                    call.resource
                ),
            ))),
        },
    }
}

fn ready(o: TaskOutcome) -> Completion {
    Completion::Now(Box::pin(async move { o }))
}

/// The interpreter event that reports a task's outcome.
pub(crate) fn outcome_event(task: u64, outcome: TaskOutcome) -> sandflow_core::interp::Event {
    use sandflow_core::interp::Event;
    match outcome {
        TaskOutcome::Succeeded(output) => Event::TaskSucceeded { task, output },
        TaskOutcome::Failed(f) => Event::TaskFailed {
            task,
            error: f.error,
            cause: f.cause,
        },
        TaskOutcome::TimedOut => Event::TaskTimedOut { task },
    }
}
