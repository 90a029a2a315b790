//! The Lambda functions a conformance case declares (`function_stubs`), played in-process:
//! each stub behaves like the Python function it stands for, and `sandflow_core::lambda` shapes
//! its answer the way Step Functions does.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::lambda::{
    self, CallContext, FunctionResult, InvokeMeta, LambdaCall, parse_response_body, python_json,
};
use sandflow_core::resource::Resource;
use sandflow_core::rng::Rng;
use sandflow_core::run::{TaskHandler, TaskOutcome, TaskRequest};
use sandflow_core::services::Integration;
use serde_json::Value;

use super::services::Fixture;

#[derive(Debug, Clone, PartialEq)]
pub enum Stub {
    /// Returns its input event.
    Identity,
    /// Returns this value.
    Return(Value),
    /// Returns this raw body text, which need not be JSON.
    ReturnRaw(String),
    /// Raises: a function error with this `errorType` and `errorMessage`.
    Raise {
        error_type: String,
        error_message: String,
    },
    /// Sleeps this long, then returns its input event.
    SleepThenIdentity { seconds: f64 },
}

impl Stub {
    pub fn from_json(spec: &Value) -> Result<Stub, String> {
        let str_field = |k: &str| {
            spec.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing string field '{k}'"))
        };
        match spec.get("kind").and_then(Value::as_str) {
            Some("identity") => Ok(Stub::Identity),
            Some("return") => spec
                .get("value")
                .cloned()
                .map(Stub::Return)
                .ok_or_else(|| "missing field 'value'".into()),
            Some("return_raw") => match (spec.get("body"), spec.get("repeat"), spec.get("count")) {
                (Some(Value::String(body)), _, _) => Ok(Stub::ReturnRaw(body.clone())),
                (None, Some(Value::String(unit)), Some(count)) => {
                    let count = count.as_u64().ok_or("'count' must be a whole number")?;
                    Ok(Stub::ReturnRaw(unit.repeat(count as usize)))
                }
                _ => Err("return_raw needs 'body', or 'repeat' and 'count'".into()),
            },
            Some("raise") => Ok(Stub::Raise {
                error_type: str_field("errorType")?,
                error_message: str_field("errorMessage")?,
            }),
            Some("sleep_then_identity") => spec
                .get("seconds")
                .and_then(Value::as_f64)
                .map(|seconds| Stub::SleepThenIdentity { seconds })
                .ok_or_else(|| "missing number field 'seconds'".into()),
            Some(other) => Err(format!("unknown kind '{other}'")),
            None => Err("missing 'kind'".into()),
        }
    }

    /// What the function does with `event` (the exact event text); `None` when the task's
    /// timeout ends the call first. Sleeps are computed, not slept.
    fn call(&self, event: &str, request_id: &str, timeout: Option<u64>) -> Option<FunctionResult> {
        // The Python runtime parses the event and serialises the handler's return value.
        let echo = || python_json(&parse_response_body(event));
        Some(match self {
            Stub::Identity => FunctionResult::Returned(echo()),
            Stub::Return(v) => FunctionResult::Returned(python_json(v)),
            Stub::ReturnRaw(body) => FunctionResult::Returned(body.clone()),
            Stub::Raise {
                error_type,
                error_message,
            } => FunctionResult::Raised(lambda::error_payload(
                error_type,
                error_message,
                request_id,
                &[],
            )),
            Stub::SleepThenIdentity { seconds } => {
                if timeout.is_some_and(|t| *seconds >= t as f64) {
                    return None;
                }
                FunctionResult::Returned(echo())
            }
        })
    }
}

/// Answers the Lambda tasks of one case execution from its stubs.
#[derive(Debug)]
pub struct StubHandler<'a> {
    pub stubs: &'a HashMap<String, Stub>,
    /// The built-in services, for cases that call SQS or DynamoDB.
    pub services: Option<&'a Fixture>,
    pub region: &'a str,
    pub account: &'a str,
    pub max_payload_bytes: usize,
    pub now: DateTime<Utc>,
    pub rng: Rng,
}

impl TaskHandler for StubHandler<'_> {
    fn invoke(&mut self, req: &TaskRequest<'_>) -> TaskOutcome {
        if let (Some(fixture), Some(integration)) = (
            self.services,
            Integration::from_resource(&Resource::parse(req.resource)),
        ) {
            let meta = InvokeMeta::generate(&mut self.rng, self.now);
            return fixture.call(integration, req.input, meta);
        }
        if let Some(fixture) = self.services
            && super::skip::is_sns_publish(&Resource::parse(req.resource))
        {
            let meta = InvokeMeta::generate(&mut self.rng, self.now);
            let message_id = self.rng.uuid_v4();
            return fixture.publish(req.input, meta, &message_id, self.now.timestamp_millis());
        }
        let call = match LambdaCall::from_task(req.resource, req.input) {
            Some(Ok(call)) => call,
            Some(Err(failure)) => return TaskOutcome::Failed(failure),
            None => {
                return TaskOutcome::Failed(Failure::new(
                    names::TASK_FAILED,
                    format!(
                        "The conformance harness only answers Lambda tasks; state '{}' calls {}",
                        req.state_name, req.resource
                    ),
                ));
            }
        };
        let meta = InvokeMeta::generate(&mut self.rng, self.now);
        let result = match self.stubs.get(call.function_name()) {
            None => FunctionResult::NotFound,
            Some(stub) => match stub.call(&call.payload, &meta.request_id, req.timeout_seconds) {
                Some(result) => result,
                None => return TaskOutcome::TimedOut,
            },
        };
        let ctx = CallContext {
            region: self.region,
            account: self.account,
            max_payload_bytes: self.max_payload_bytes,
            meta: &meta,
        };
        lambda::task_outcome(&call, result, &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAIN: &str = "arn:aws:lambda:us-east-1:111111111111:function:f";
    const INVOKE: &str = "arn:aws:states:::lambda:invoke";

    fn run(stub: Stub, resource: &str, input: Value, timeout: Option<u64>) -> TaskOutcome {
        let stubs = HashMap::from([("f".to_string(), stub)]);
        let mut h = StubHandler {
            stubs: &stubs,
            services: None,
            region: "us-east-1",
            account: "111111111111",
            max_payload_bytes: 262_144,
            now: DateTime::<Utc>::UNIX_EPOCH,
            rng: Rng::new(9),
        };
        h.invoke(&TaskRequest {
            state_name: "S",
            resource,
            input: &input,
            task_token: None,
            timeout_seconds: timeout,
            heartbeat_seconds: None,
        })
    }

    fn succeeded(o: TaskOutcome) -> Value {
        match o {
            TaskOutcome::Succeeded(v) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    fn failed(o: TaskOutcome) -> Failure {
        match o {
            TaskOutcome::Failed(f) => f,
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_kind() {
        let k = |v: Value| Stub::from_json(&v);
        assert_eq!(k(json!({"kind": "identity"})), Ok(Stub::Identity));
        assert_eq!(
            k(json!({"kind": "return", "value": {"a": 1}})),
            Ok(Stub::Return(json!({"a": 1})))
        );
        assert_eq!(
            k(json!({"kind": "return_raw", "repeat": "ab", "count": 2})),
            Ok(Stub::ReturnRaw("abab".into()))
        );
        assert_eq!(
            k(json!({"kind": "return_raw", "body": "x"})),
            Ok(Stub::ReturnRaw("x".into()))
        );
        assert!(matches!(
            k(json!({"kind": "raise", "errorType": "E", "errorMessage": ""})),
            Ok(Stub::Raise { .. })
        ));
        assert_eq!(
            k(json!({"kind": "sleep_then_identity", "seconds": 60})),
            Ok(Stub::SleepThenIdentity { seconds: 60.0 })
        );
        assert!(k(json!({"kind": "raise", "errorType": "E"})).is_err());
        assert!(k(json!({"kind": "teleport"})).is_err());
        assert!(k(json!({})).is_err());
    }

    #[test]
    fn identity_on_a_plain_arn_returns_the_input() {
        let out = succeeded(run(Stub::Identity, PLAIN, json!({"a": [1, "é"]}), None));
        assert_eq!(out, json!({"a": [1, "é"]}));
    }

    #[test]
    fn identity_through_invoke_sees_the_payload_parameter() {
        let out = succeeded(run(
            Stub::Identity,
            INVOKE,
            json!({"FunctionName": "f", "Payload": "0.0"}),
            None,
        ));
        assert_eq!(out["Payload"], json!(0.0));
        assert_eq!(out["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"], "3");
        let out = succeeded(run(
            Stub::Identity,
            INVOKE,
            json!({"FunctionName": "f", "Payload": null}),
            None,
        ));
        assert_eq!(out["Payload"], json!({}));
    }

    #[test]
    fn return_and_return_raw() {
        let out = succeeded(run(Stub::Return(json!({"R": 1})), PLAIN, json!(null), None));
        assert_eq!(out, json!({"R": 1}));
        let out = succeeded(run(
            Stub::ReturnRaw("\"HelloWorld!\"".into()),
            INVOKE,
            json!({"FunctionName": "arn:aws:lambda:us-east-1:111111111111:function:f"}),
            None,
        ));
        assert_eq!(out["Payload"], "HelloWorld!");
        let f = failed(run(
            Stub::ReturnRaw("a".repeat(263_168)),
            INVOKE,
            json!({"FunctionName": "f"}),
            None,
        ));
        assert_eq!(f.error, names::DATA_LIMIT_EXCEEDED);
    }

    #[test]
    fn raise_is_a_function_error_with_a_fresh_request_id() {
        let raise = Stub::Raise {
            error_type: "CustomException".into(),
            error_message: "".into(),
        };
        let f = failed(run(raise.clone(), PLAIN, json!({}), None));
        assert_eq!(f.error, "CustomException");
        let payload: Value = serde_json::from_str(f.cause_str()).unwrap();
        assert_eq!(payload["errorMessage"], "");
        assert_eq!(payload["requestId"].as_str().unwrap().len(), 36);
        assert!(
            f.cause_str().contains("\", \""),
            "plain ARN keeps the runtime's spacing"
        );
        let f = failed(run(raise, INVOKE, json!({"FunctionName": "f"}), None));
        assert!(
            f.cause_str()
                .starts_with("{\"errorMessage\":\"\",\"errorType\":"),
            "{}",
            f.cause_str()
        );
    }

    #[test]
    fn unknown_functions_are_not_found() {
        let f = failed(run(
            Stub::Identity,
            INVOKE,
            json!({"FunctionName": "no_such_f"}),
            None,
        ));
        assert_eq!(f.error, "Lambda.ResourceNotFoundException");
        assert!(
            f.cause_str().contains(":function:no_such_f:$LATEST"),
            "{}",
            f.cause_str()
        );
    }

    #[test]
    fn sleeping_past_the_task_timeout_times_out() {
        let sleepy = Stub::SleepThenIdentity { seconds: 60.0 };
        let args = json!({"FunctionName": "f", "Payload": {"x": 1}});
        assert_eq!(
            run(sleepy.clone(), INVOKE, args.clone(), Some(5)),
            TaskOutcome::TimedOut
        );
        let out = succeeded(run(sleepy.clone(), INVOKE, args, Some(61)));
        assert_eq!(out["Payload"], json!({"x": 1}));
        assert!(matches!(
            run(sleepy, PLAIN, json!({}), None),
            TaskOutcome::Succeeded(_)
        ));
    }

    #[test]
    fn other_integrations_are_refused() {
        let f = failed(run(
            Stub::Identity,
            "arn:aws:states:::ecs:runTask",
            json!({}),
            None,
        ));
        assert!(f.cause_str().contains("ecs:runTask"));
    }
}
