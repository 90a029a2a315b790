//! What a Task state's resource means at run time: a tenant's function (plain Lambda ARN or
//! `lambda:invoke`, shaped as AWS does), a built-in service, a nested workflow, a callback
//! that waits on its token, or an activity that waits for a worker. Functions are run by a
//! [`Functions`] implementation (the WASM runtime).

use std::future::Future;
use std::pin::Pin;

use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::interp::TaskCall;
use sandflow_core::lambda::{self, CallContext, FunctionResult, InvokeMeta, LambdaCall};
use sandflow_core::resource::{Pattern, Resource};
use sandflow_core::rng::Rng;
use sandflow_core::run::TaskOutcome;
use sandflow_core::services::Integration;

use crate::{Engine, services};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Whose function, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: i64,
    pub account: String,
    pub region: String,
}

/// The execution and task a function call is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub execution_arn: String,
    pub task: u64,
    pub state_name: String,
    /// The task's `*Scheduled` history event.
    pub event_id: u64,
}

/// Runs tenants' functions. `function`: the name as the state gave it, without account,
/// region or qualifier; `timeout_seconds`: the Task's `TimeoutSeconds`, if any.
pub trait Functions: Send + Sync + 'static {
    fn invoke(
        &self,
        caller: &Caller,
        function: &str,
        payload: String,
        timeout_seconds: Option<u64>,
        origin: Option<Origin>,
    ) -> BoxFuture<FunctionInvocation>;
}

/// A function's answer, or a failure the host decided (timeout, trap, a guest's own error).
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionInvocation {
    Done(FunctionResult),
    /// Fails the task with exactly this error and cause.
    Failed(Failure),
}

/// Records AWS's `TaskSubmitted` for a `.waitForTaskToken` or `.sync` task, with its call's
/// answer; the task's future awaits it before it goes on, so the event precedes the outcome.
pub type Submit = Box<dyn FnOnce(serde_json::Value) -> BoxFuture<()> + Send>;

/// How a scheduled task completes.
pub enum Completion {
    /// Its outcome is known now (or once this future resolves).
    Now(BoxFuture<TaskOutcome>),
    /// It completes through SendTask* with its token (callbacks, activities).
    Token,
}

impl Engine {
    /// Routes one task call of execution `execution_arn`.
    pub(crate) fn start_task(
        &self,
        caller: &Caller,
        execution_arn: &str,
        call: &TaskCall,
        submit: Submit,
    ) -> Completion {
        let origin = || {
            Some(Origin {
                execution_arn: execution_arn.to_string(),
                task: call.task,
                state_name: call.state_name.clone(),
                event_id: call.scheduled_event_id,
            })
        };
        let resource = Resource::parse(&call.resource);
        if let Resource::Service {
            service: "states",
            action: "startExecution",
            pattern,
        } = resource
        {
            return match pattern {
                Pattern::WaitForTaskToken => {
                    let child = self.start_child(caller, execution_arn, call, pattern, None);
                    self.await_token(caller, call, child, submit)
                }
                _ => Completion::Now(self.start_child(
                    caller,
                    execution_arn,
                    call,
                    pattern,
                    Some(submit),
                )),
            };
        }
        if let Resource::Service {
            service: "http",
            action: "invoke",
            pattern: Pattern::RequestResponse,
        } = resource
        {
            return Completion::Now(self.inner.services.http_invoke(caller, call.input.clone()));
        }
        if let Some(integration) = Integration::from_resource(&resource) {
            return self.call_service(caller, call, integration, submit);
        }
        match resource {
            Resource::Activity { .. } => Completion::Token,
            Resource::Service {
                service: "sns",
                action: "publish",
                pattern,
            } => {
                let published = self.publish(caller, call);
                match pattern {
                    Pattern::WaitForTaskToken => self.await_token(caller, call, published, submit),
                    _ => Completion::Now(published),
                }
            }
            Resource::Service {
                service: "aws-sdk:sns",
                action: "publish",
                pattern: Pattern::RequestResponse,
            } => {
                let published = self.publish(caller, call);
                Completion::Now(Box::pin(async move {
                    sandflow_core::sns::as_sdk_v2(published.await)
                }))
            }
            Resource::Service {
                service: "lambda",
                action: "invoke",
                pattern: Pattern::WaitForTaskToken,
            } => {
                // The function gets the payload (holding the token); its answer submits the
                // task, which then waits for SendTaskSuccess/Failure. A failed call fails it.
                let invoked =
                    match LambdaCall::from_task("arn:aws:states:::lambda:invoke", &call.input) {
                        Some(Ok(lc)) => self.invoke_function(caller, call, lc, origin()),
                        Some(Err(f)) => return ready(TaskOutcome::Failed(f)),
                        None => {
                            return ready(TaskOutcome::Failed(Failure::new(names::RUNTIME, "")));
                        }
                    };
                self.await_token(caller, call, invoked, submit)
            }
            _ => match LambdaCall::from_task(&call.resource, &call.input) {
                Some(Ok(lc)) => Completion::Now(self.invoke_function(caller, call, lc, origin())),
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
}

impl Engine {
    /// Runs a Lambda call on the tenant's function and shapes its answer as AWS does.
    fn invoke_function(
        &self,
        caller: &Caller,
        call: &TaskCall,
        lc: LambdaCall,
        origin: Option<Origin>,
    ) -> BoxFuture<TaskOutcome> {
        let f: BoxFuture<FunctionInvocation> = if owned_by(&lc.function, caller) {
            self.inner.functions.invoke(
                caller,
                lc.function_name(),
                lc.payload.clone(),
                call.timeout_seconds,
                origin,
            )
        } else {
            // Another account's function: it does not exist for this tenant.
            Box::pin(async { FunctionInvocation::Done(FunctionResult::NotFound) })
        };
        let (caller, clock, seed) = (caller.clone(), self.inner.clock.clone(), call.task);
        let max_payload_bytes = self.inner.config.max_payload_bytes;
        Box::pin(async move {
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
                FunctionInvocation::Failed(f) => TaskOutcome::Failed(f),
            }
        })
    }

    /// An SQS or DynamoDB integration.
    fn call_service(
        &self,
        caller: &Caller,
        call: &TaskCall,
        integration: Integration,
        submit: Submit,
    ) -> Completion {
        let now = self.inner.clock.now();
        let mut rng = Rng::new(self.seed() ^ call.task);
        let meta = InvokeMeta::generate(&mut rng, now);
        let answer = services::call(
            &self.inner.services,
            caller,
            integration.clone(),
            &call.input,
            meta,
        );
        match integration.pattern {
            Pattern::RequestResponse => Completion::Now(answer),
            Pattern::WaitForTaskToken => self.await_token(caller, call, answer, submit),
            Pattern::Sync => ready(TaskOutcome::Failed(Failure::new(
                names::RUNTIME,
                format!("The resource '{}' has no .sync form.", call.resource),
            ))),
        }
    }
}

impl Engine {
    /// A `.waitForTaskToken` task whose call (`send`) hands the token out: once the call is
    /// accepted the task is submitted and waits for the token; a failed call fails it at once.
    fn await_token(
        &self,
        caller: &Caller,
        call: &TaskCall,
        send: BoxFuture<TaskOutcome>,
        submit: Submit,
    ) -> Completion {
        let (engine, tenant, token) = (self.clone(), caller.tenant_id, call.token.clone());
        tokio::spawn(async move {
            match (send.await, token) {
                (TaskOutcome::Succeeded(answer), _) => submit(answer).await,
                (TaskOutcome::Failed(f), Some(token)) => {
                    // The task may have ended meanwhile (timeout, stop): nothing to fail.
                    let _ = engine
                        .send_task_failure(tenant, &token, &f.error, f.cause.as_deref())
                        .await;
                }
                _ => {}
            }
        });
        Completion::Token
    }
}

/// Whether a function reference (name, partial or full ARN) is in the caller's account.
fn owned_by(reference: &str, caller: &Caller) -> bool {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, account, "function", ..] => *account == caller.account,
        [account, "function", ..] => *account == caller.account,
        _ => true,
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
