//! Nested workflows: `arn:aws:states:::states:startExecution` starts another of the tenant's
//! state machines. Request-response answers once it started; `.sync` and `.sync:2` wait for it
//! to end and answer with its description (`.sync:2` with Input and Output as JSON);
//! `.waitForTaskToken` waits for the token the child was given.
//!
//! A child started without a `Name` gets one derived from the parent task, so a task run again
//! after a restart finds its child instead of starting a second one.

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};
use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::interp::TaskCall;
use sandflow_core::lambda::{InvokeMeta, with_sdk_metadata};
use sandflow_core::parse::MachineType;
use sandflow_core::resource::Pattern;
use sandflow_core::rng::{Rng, uuid_v4_from};
use sandflow_core::run::TaskOutcome;
use serde_json::{Value, json};

use crate::tasks::{BoxFuture, Caller, Submit};
use crate::{Engine, Error, Finished, StartRequest};

/// What the task asks to start.
#[derive(Debug, Clone, PartialEq)]
struct Child {
    state_machine_arn: String,
    name: Option<String>,
    input: String,
}

fn sfn_error(shape: &str, message: &str, request_id: &str) -> Failure {
    let code = shape.strip_suffix("Exception").unwrap_or(shape);
    Failure::new(
        format!("StepFunctions.{shape}"),
        format!(
            "{message} (Service: AWSStepFunctions; Status Code: 400; Error Code: {code}; Request ID: {request_id}; Proxy: null)"
        ),
    )
}

impl Child {
    fn from_task(params: &Value, request_id: &str) -> Result<Child, Failure> {
        let invalid = |m: &str| sfn_error("InvalidArnException", m, request_id);
        let state_machine_arn = match params.get("StateMachineArn") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(invalid(
                    "Invalid Arn: 'Resource type not valid in this context: null'",
                ));
            }
        };
        let input = match params.get("Input") {
            None | Some(Value::Null) => "{}".to_string(),
            // A string is the input's JSON text; anything else is sent as JSON.
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        if let Err(e) = serde_json::from_str::<Value>(&input) {
            return Err(sfn_error(
                "InvalidExecutionInputException",
                &format!("Invalid State Machine Execution Input: '{e}'"),
                request_id,
            ));
        }
        let name = params
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Child {
            state_machine_arn,
            name,
            input,
        })
    }
}

/// The child's name when the task gives none: a UUID fixed by the parent task.
fn derived_name(parent_execution_arn: &str, task: u64) -> String {
    let mut bytes = [0u8; 16];
    for (i, half) in bytes.chunks_mut(8).enumerate() {
        let mut h = DefaultHasher::new();
        (parent_execution_arn, task, i).hash(&mut h);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    uuid_v4_from(bytes)
}

fn epoch_ms(ms: i64) -> Value {
    json!(ms)
}

/// The answer of `.sync` (`parsed`: `.sync:2`), DescribeExecution's fields as the Java SDK
/// names them.
fn description(done: &Finished, child: &Child, name: &str, parsed: bool) -> Value {
    let data = |text: &str| {
        if parsed {
            serde_json::from_str(text).unwrap_or_else(|_| json!(text))
        } else {
            json!(text)
        }
    };
    let mut out = json!({
        "ExecutionArn": done.execution_arn,
        "Input": data(&child.input),
        "InputDetails": {"Included": true},
        "Name": name,
        "StartDate": epoch_ms(done.start_ms),
        "StateMachineArn": child.state_machine_arn,
        "Status": done.status,
        "StopDate": epoch_ms(done.stop_ms),
    });
    if let Some(o) = &done.output {
        out["Output"] = data(o);
        out["OutputDetails"] = json!({"Included": true});
    }
    if let Some(e) = &done.error {
        out["Error"] = json!(e);
    }
    if let Some(c) = &done.cause {
        out["Cause"] = json!(c);
    }
    out
}

/// How `.sync` ends for a child that ended this way: its description, or a task failure
/// carrying it.
fn sync_outcome(done: &Finished, child: &Child, name: &str, parsed: bool) -> TaskOutcome {
    let described = description(done, child, name, parsed);
    if done.status == "SUCCEEDED" {
        TaskOutcome::Succeeded(described)
    } else {
        TaskOutcome::Failed(Failure::new(names::TASK_FAILED, described.to_string()))
    }
}

impl Engine {
    pub(crate) fn start_child(
        &self,
        caller: &Caller,
        parent_execution_arn: &str,
        call: &TaskCall,
        pattern: Pattern,
        submit: Option<Submit>,
    ) -> BoxFuture<TaskOutcome> {
        let now = self.inner.clock.now();
        let mut rng = Rng::new(self.seed() ^ call.task);
        let meta = InvokeMeta::generate(&mut rng, now);
        let engine = self.clone();
        let caller = caller.clone();
        let derived = derived_name(parent_execution_arn, call.task);
        let parent = (parent_execution_arn.to_string(), call.task);
        let parsed = call.resource.ends_with(".sync:2");
        let params = call.input.clone();
        Box::pin(async move {
            let child = match Child::from_task(&params, &meta.request_id) {
                Ok(c) => c,
                Err(f) => return TaskOutcome::Failed(f),
            };
            let name = child.name.clone().unwrap_or(derived);
            match pattern {
                Pattern::Sync => match engine
                    .run_child(&caller, &child, &name, &meta, submit, parent)
                    .await
                {
                    Ok(done) => sync_outcome(&done, &child, &name, parsed),
                    Err(f) => TaskOutcome::Failed(f),
                },
                _ => match engine.launch_child(&caller, &child, &name, &meta).await {
                    Ok((arn, start_ms, _)) => {
                        TaskOutcome::Succeeded(started_output(&arn, start_ms, &meta, now))
                    }
                    Err(f) => TaskOutcome::Failed(f),
                },
            }
        })
    }

    /// Starts the child (or finds the one this task started before); returns its ARN, start
    /// time and type.
    async fn launch_child(
        &self,
        caller: &Caller,
        child: &Child,
        name: &str,
        meta: &InvokeMeta,
    ) -> Result<(String, i64, MachineType), Failure> {
        let rid = &meta.request_id;
        let (tenant, arn) = (caller.tenant_id, child.state_machine_arn.clone());
        let machine = self
            .read(move |c| sandflow_store::machines::get(c, tenant, &arn))
            .await
            .map_err(|e| Failure::new(names::TASK_FAILED, e.to_string()))?
            .ok_or_else(|| {
                sfn_error(
                    "StateMachineDoesNotExistException",
                    &format!(
                        "State Machine Does Not Exist: '{}'",
                        child.state_machine_arn
                    ),
                    rid,
                )
            })?;
        let machine_type = if machine.machine_type == "EXPRESS" {
            MachineType::Express
        } else {
            MachineType::Standard
        };
        let req = StartRequest {
            caller: caller.clone(),
            state_machine_arn: machine.arn,
            state_machine_name: machine.name,
            machine_type,
            definition: machine.definition,
            role_arn: machine.role_arn,
            name: name.to_string(),
            input: child.input.clone(),
        };
        match self.start_execution(req).await {
            Ok(s) => Ok((s.execution_arn, s.start_ms, machine_type)),
            // Started by this task before a restart, and finished since.
            Err(Error::ExecutionAlreadyExists(arn)) if child.name.is_none() => {
                Ok((arn, 0, machine_type))
            }
            Err(Error::ExecutionAlreadyExists(arn)) => Err(sfn_error(
                "ExecutionAlreadyExistsException",
                &format!("Execution Already Exists: '{arn}'"),
                rid,
            )),
            Err(Error::ExecutionLimitExceeded(m)) => {
                Err(sfn_error("ExecutionLimitExceededException", &m, rid))
            }
            Err(Error::Throttled) => Err(sfn_error("ThrottlingException", "Rate exceeded", rid)),
            Err(e) => Err(Failure::new(names::TASK_FAILED, e.to_string())),
        }
    }

    /// `.sync`: starts the child and waits until it ends.
    async fn run_child(
        &self,
        caller: &Caller,
        child: &Child,
        name: &str,
        meta: &InvokeMeta,
        submit: Option<Submit>,
        parent: (String, u64),
    ) -> Result<Finished, Failure> {
        if let Some(express) = self.express_child(caller, child, name).await {
            return express;
        }
        let (arn, start_ms, _) = self.launch_child(caller, child, name, meta).await?;
        if let Some(submit) = submit {
            submit(started_output(&arn, start_ms, meta, self.inner.clock.now())).await;
        }
        // While the parent's task waits, cancelling it (Stop, a timeout, a failed branch)
        // stops the child, as AWS does for `.sync`.
        self.lock(&self.inner.sync_children)
            .insert(parent.clone(), (caller.tenant_id, arn.clone()));
        let done = self.wait(caller.tenant_id, &arn).await;
        self.lock(&self.inner.sync_children).remove(&parent);
        done.map_err(|e| Failure::new(names::TASK_FAILED, e.to_string()))
    }

    /// Stops the `.sync` child that task `task` of `parent_arn` waits on, if any.
    pub(crate) fn stop_sync_child(&self, parent_arn: &str, task: u64) {
        let key = (parent_arn.to_string(), task);
        let Some((tenant, child)) = self.lock(&self.inner.sync_children).remove(&key) else {
            return;
        };
        let (engine, cause) = (
            self.clone(),
            format!("Stopped with its parent {parent_arn}"),
        );
        tokio::spawn(async move {
            if let Err(e) = engine.stop_execution(tenant, &child, "", &cause).await {
                tracing::warn!(child = %child, error = %e, "stopping a .sync child failed");
            }
        });
    }

    /// An Express child runs to its end in memory; `None` when the child is not Express.
    async fn express_child(
        &self,
        caller: &Caller,
        child: &Child,
        name: &str,
    ) -> Option<Result<Finished, Failure>> {
        let (tenant, arn) = (caller.tenant_id, child.state_machine_arn.clone());
        let machine = self
            .read(move |c| sandflow_store::machines::get(c, tenant, &arn))
            .await
            .ok()
            .flatten()
            .filter(|m| m.machine_type == "EXPRESS")?;
        let req = StartRequest {
            caller: caller.clone(),
            state_machine_arn: machine.arn,
            state_machine_name: machine.name,
            machine_type: MachineType::Express,
            definition: machine.definition,
            role_arn: machine.role_arn,
            name: name.to_string(),
            input: child.input.clone(),
        };
        Some(
            self.start_sync_execution(req)
                .await
                .map_err(|e| Failure::new(names::TASK_FAILED, e.to_string())),
        )
    }
}

/// The request-response answer: the new execution and when it started.
fn started_output(arn: &str, start_ms: i64, meta: &InvokeMeta, now: DateTime<Utc>) -> Value {
    let start = if start_ms > 0 {
        start_ms
    } else {
        now.timestamp_millis()
    };
    let body = json!({"executionArn": arn, "startDate": start as f64 / 1000.0}).to_string();
    let length = body.len().to_string();
    with_sdk_metadata(
        json!({"ExecutionArn": arn, "StartDate": epoch_ms(start)}),
        &[
            ("x-amzn-RequestId", &meta.request_id),
            ("Content-Length", &length),
            ("Date", &meta.date),
            ("Content-Type", "application/x-amz-json-1.0"),
        ],
        &meta.request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_the_child_request() {
        let c = Child::from_task(
            &json!({"StateMachineArn": "arn:sm", "Input": {"a": 1}, "Name": "n"}),
            "r",
        )
        .unwrap();
        assert_eq!(
            (c.input.as_str(), c.name.as_deref()),
            (r#"{"a":1}"#, Some("n"))
        );
        let c =
            Child::from_task(&json!({"StateMachineArn": "arn:sm", "Input": "[1]"}), "r").unwrap();
        assert_eq!(c.input, "[1]");
        let bad = Child::from_task(&json!({"StateMachineArn": "arn:sm", "Input": "{"}), "r");
        assert_eq!(
            bad.unwrap_err().error,
            "StepFunctions.InvalidExecutionInputException"
        );
        let missing = Child::from_task(&json!({}), "r").unwrap_err();
        assert_eq!(missing.error, "StepFunctions.InvalidArnException");
    }

    #[test]
    fn derived_names_are_stable_uuids_per_task() {
        let a = derived_name("arn:e", 3);
        assert_eq!(a, derived_name("arn:e", 3));
        assert_ne!(a, derived_name("arn:e", 4));
        assert_eq!((a.len(), &a[14..15]), (36, "4"));
    }

    #[test]
    fn sync_two_parses_the_data_and_failures_carry_the_description() {
        let child = Child {
            state_machine_arn: "arn:sm".into(),
            name: None,
            input: r#"{"x":1}"#.into(),
        };
        let mut done = Finished {
            execution_arn: "arn:e".into(),
            status: "SUCCEEDED".into(),
            output: Some(r#"{"y":2}"#.into()),
            error: None,
            cause: None,
            start_ms: 1000,
            stop_ms: 2000,
        };
        let TaskOutcome::Succeeded(v) = sync_outcome(&done, &child, "n", true) else {
            panic!()
        };
        assert_eq!(
            (v["Input"]["x"].clone(), v["Output"]["y"].clone()),
            (json!(1), json!(2))
        );
        let TaskOutcome::Succeeded(v) = sync_outcome(&done, &child, "n", false) else {
            panic!()
        };
        assert_eq!(v["Output"], r#"{"y":2}"#);
        done.status = "FAILED".into();
        done.output = None;
        done.error = Some("Boom".into());
        let TaskOutcome::Failed(f) = sync_outcome(&done, &child, "n", false) else {
            panic!()
        };
        assert_eq!(f.error, names::TASK_FAILED);
        let cause: Value = serde_json::from_str(f.cause.as_deref().unwrap()).unwrap();
        assert_eq!(
            (cause["Status"].clone(), cause["Error"].clone()),
            (json!("FAILED"), json!("Boom"))
        );
    }
}
