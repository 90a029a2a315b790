//! Lambda as Step Functions sees it: how a Task state's call becomes a Lambda event, and how the
//! function's answer becomes the task result or an ASL error. Pure functions, shared by the
//! conformance stubs, `sandflow exec` and the engine.
//!
//! Two ways to call a function, shaped differently by AWS:
//! * [`Integration::Function`]: `Resource` is the function ARN. The effective input is the event;
//!   the function's result is the task result; a function error's cause is the error payload
//!   exactly as the runtime wrote it.
//! * [`Integration::Invoke`]: `arn:aws:states:::lambda:invoke` with `FunctionName`/`Payload`
//!   parameters. The result is the Invoke API response (`Payload`, `StatusCode`, SDK metadata);
//!   a function error's cause is the payload re-serialised compactly.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Failure, names};
pub use crate::expr::render::python_json;
use crate::resource::Resource;
use crate::rng::Rng;
use crate::run::TaskOutcome;

/// How a Task state calls Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
    Function,
    /// `arn:aws:states:::lambda:invoke`
    Invoke,
}

/// One Lambda call, resolved from a Task state's resource and effective input.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaCall {
    pub integration: Integration,
    /// The function as named by the state: a name, `name:qualifier`, a partial or a full ARN.
    pub function: String,
    /// The exact event text the function receives.
    pub payload: String,
    /// The Task's `Resource`, which names the task in `States.DataLimitExceeded` causes.
    resource: String,
}

impl LambdaCall {
    /// `None` when `resource` is not a Lambda call (other integrations, activities), or when it is
    /// `lambda:invoke` with a wait pattern, whose completion comes from a task token instead.
    /// `Some(Err)` when the `lambda:invoke` parameters do not name a function.
    pub fn from_task(resource: &str, input: &Value) -> Option<Result<LambdaCall, Failure>> {
        use crate::resource::Pattern;
        match Resource::parse(resource) {
            Resource::LambdaFunction { .. } => Some(Ok(LambdaCall {
                integration: Integration::Function,
                function: resource.to_string(),
                payload: serde_json::to_string(input).unwrap_or_default(),
                resource: resource.to_string(),
            })),
            Resource::Service {
                service: "lambda",
                action: "invoke",
                pattern: Pattern::RequestResponse,
            } => Some(match input.get("FunctionName").and_then(Value::as_str) {
                Some(function) => Ok(LambdaCall {
                    integration: Integration::Invoke,
                    function: function.to_string(),
                    payload: request_payload(input.get("Payload")),
                    resource: resource.to_string(),
                }),
                None => Err(Failure::new(
                    names::TASK_FAILED,
                    "The field 'FunctionName' is required but was missing",
                )),
            }),
            _ => None,
        }
    }

    /// The function's name, without account, region or qualifier: what it was created as.
    pub fn function_name(&self) -> &str {
        split_function_ref(&self.function).0
    }

    /// The qualified ARN Lambda resolves the call to, as it appears in Lambda's error messages.
    pub fn function_arn(&self, region: &str, account: &str) -> String {
        qualified_function_arn(&self.function, region, account)
    }

    /// How `States.DataLimitExceeded` names this task: the function ARN for a plain Lambda
    /// resource, the resource type (`lambda`) for the service integration.
    pub fn task_label(&self) -> &str {
        match self.integration {
            Integration::Function => &self.resource,
            Integration::Invoke => "lambda",
        }
    }
}

/// What the function did.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionResult {
    /// Returned normally with this raw response body (not necessarily JSON).
    Returned(String),
    /// Failed with a function error; the error payload text as the runtime wrote it.
    Raised(String),
    /// Lambda has no such function.
    NotFound,
}

/// Values AWS generates per Invoke call, in the response headers.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeMeta {
    pub request_id: String,
    /// RFC 7231 date of the response, e.g. `Tue, 01 Dec 2026 08:00:00 GMT`.
    pub date: String,
    pub trace_id: String,
}

impl InvokeMeta {
    /// Fresh ids drawn from `rng`, dated `now`.
    pub fn generate(rng: &mut Rng, now: DateTime<Utc>) -> InvokeMeta {
        let trace_tail = format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() as u32);
        InvokeMeta {
            request_id: rng.uuid_v4(),
            date: http_date(now),
            trace_id: format!(
                "Root=1-{:08x}-{trace_tail};Sampled=0",
                now.timestamp().max(0)
            ),
        }
    }
}

/// Where a call runs and what it may return.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub max_payload_bytes: usize,
    pub meta: &'a InvokeMeta,
}

/// The task outcome for `call` given what the function did.
pub fn task_outcome(
    call: &LambdaCall,
    result: FunctionResult,
    ctx: &CallContext<'_>,
) -> TaskOutcome {
    match result {
        FunctionResult::Returned(body) => {
            if body.len() > ctx.max_payload_bytes {
                return TaskOutcome::Failed(data_limit_exceeded(call.task_label()));
            }
            TaskOutcome::Succeeded(match call.integration {
                Integration::Function => parse_response_body(&body),
                Integration::Invoke => invoke_response(&body, executed_version(call), ctx.meta),
            })
        }
        FunctionResult::Raised(payload) => {
            TaskOutcome::Failed(function_error(call.integration, &payload))
        }
        FunctionResult::NotFound => TaskOutcome::Failed(function_not_found(
            &call.function_arn(ctx.region, ctx.account),
            &ctx.meta.request_id,
        )),
    }
}

/// The event text `lambda:invoke` sends for its `Payload` parameter: absent or `null` sends `{}`;
/// a string that is JSON text is sent as that text (AWS does not re-encode it); any other string
/// is sent JSON-encoded; other values as JSON.
pub fn request_payload(payload: Option<&Value>) -> String {
    match payload {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) if serde_json::from_str::<Value>(s).is_ok() => s.clone(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// A response body as Step Functions reads it: JSON when it parses, else the text as a string.
pub fn parse_response_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
}

/// `body` (an object) with the `SdkHttpMetadata` and `SdkResponseMetadata` the Java SDK v1
/// reports for an HTTP 200 answer with `headers` (each a one-item list in `AllHttpHeaders`).
pub fn with_sdk_metadata(body: Value, headers: &[(&str, &str)], request_id: &str) -> Value {
    let mut all = serde_json::Map::new();
    let mut plain = serde_json::Map::new();
    for (name, value) in headers {
        all.insert(name.to_string(), json!([value]));
        plain.insert(name.to_string(), json!(value));
    }
    let mut out = match body {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    out.insert(
        "SdkHttpMetadata".into(),
        json!({"AllHttpHeaders": all, "HttpHeaders": plain, "HttpStatusCode": 200}),
    );
    out.insert(
        "SdkResponseMetadata".into(),
        json!({"RequestId": request_id}),
    );
    Value::Object(out)
}

/// The `lambda:invoke` task result for a successful call returning `body`.
pub fn invoke_response(body: &str, executed_version: &str, meta: &InvokeMeta) -> Value {
    let length = body.len().to_string();
    with_sdk_metadata(
        json!({
            "ExecutedVersion": executed_version,
            "Payload": parse_response_body(body),
            "StatusCode": 200,
        }),
        &[
            ("X-Amz-Executed-Version", executed_version),
            ("x-amzn-Remapped-Content-Length", "0"),
            ("Connection", "keep-alive"),
            ("x-amzn-RequestId", &meta.request_id),
            ("Content-Length", &length),
            ("Date", &meta.date),
            ("X-Amzn-Trace-Id", &meta.trace_id),
            ("Content-Type", "application/json"),
        ],
        &meta.request_id,
    )
}

/// `$LATEST` unless the call names a published version.
fn executed_version(call: &LambdaCall) -> &str {
    match split_function_ref(&call.function).1 {
        Some(q) if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) => q,
        _ => "$LATEST",
    }
}

/// A function error as an ASL error: the name is the payload's `errorType` (`Lambda.Unknown`
/// when it has none), the cause the payload text (see the module docs for the two shapes).
pub fn function_error(integration: Integration, payload: &str) -> Failure {
    let parsed: Option<Value> = serde_json::from_str(payload).ok();
    let error = parsed
        .as_ref()
        .and_then(|v| v.get("errorType"))
        .and_then(Value::as_str)
        .unwrap_or("Lambda.Unknown")
        .to_string();
    let cause = match (integration, parsed) {
        (Integration::Invoke, Some(v)) => serde_json::to_string(&v).unwrap_or_default(),
        _ => payload.to_string(),
    };
    Failure::new(error, cause)
}

/// Lambda's 404 for a function that does not exist, as Step Functions reports it.
pub fn function_not_found(function_arn: &str, request_id: &str) -> Failure {
    Failure::new(
        "Lambda.ResourceNotFoundException",
        format!(
            "Function not found: {function_arn} (Service: AWSLambda; Status Code: 404; \
             Error Code: ResourceNotFoundException; Request ID: {request_id}; Proxy: null)"
        ),
    )
}

/// The error for a result larger than the payload quota; `label` as [`LambdaCall::task_label`].
pub fn data_limit_exceeded(label: &str) -> Failure {
    Failure::new(
        names::DATA_LIMIT_EXCEEDED,
        format!(
            "The state/task '{label}' returned a result with a size exceeding the maximum number \
             of bytes service limit."
        ),
    )
}

/// The error payload a Lambda runtime writes for an unhandled exception, in the Python runtime's
/// JSON style (`{"errorMessage": ..., "errorType": ..., "requestId": ..., "stackTrace": [...]}`).
pub fn error_payload(
    error_type: &str,
    error_message: &str,
    request_id: &str,
    stack_trace: &[String],
) -> String {
    let mut m = Map::new();
    m.insert("errorMessage".into(), error_message.into());
    m.insert("errorType".into(), error_type.into());
    m.insert("requestId".into(), request_id.into());
    m.insert("stackTrace".into(), stack_trace.into());
    python_json(&Value::Object(m))
}

/// `(name, qualifier)` from any form Lambda accepts for a function: `name`, `name:qualifier`,
/// `ACCOUNT:function:name[:qualifier]`, or the full ARN.
pub fn split_function_ref(reference: &str) -> (&str, Option<&str>) {
    let rest = match reference.find(":function:") {
        Some(i) => &reference[i + ":function:".len()..],
        None => reference,
    };
    match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    }
}

/// The qualified ARN (`...:function:NAME:$LATEST` when unqualified); region and account come
/// from the reference when it is a full ARN.
pub fn qualified_function_arn(reference: &str, region: &str, account: &str) -> String {
    let (name, qualifier) = split_function_ref(reference);
    let qualifier = qualifier.unwrap_or("$LATEST");
    let parts: Vec<&str> = reference.split(':').collect();
    if parts.len() >= 7 && parts[0] == "arn" {
        format!(
            "arn:{}:lambda:{}:{}:function:{name}:{qualifier}",
            parts[1], parts[3], parts[4]
        )
    } else if parts.len() >= 3 && parts[1] == "function" {
        format!(
            "arn:aws:lambda:{region}:{}:function:{name}:{qualifier}",
            parts[0]
        )
    } else {
        format!("arn:aws:lambda:{region}:{account}:function:{name}:{qualifier}")
    }
}

/// The HTTP `Date` header form (RFC 7231 IMF-fixdate).
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "arn:aws:lambda:us-east-1:111111111111:function:f";
    const INVOKE: &str = "arn:aws:states:::lambda:invoke";

    fn meta() -> InvokeMeta {
        InvokeMeta {
            request_id: "rid".into(),
            date: "Tue, 01 Dec 2026 08:00:00 GMT".into(),
            trace_id: "Root=1-0-0".into(),
        }
    }

    fn ctx(meta: &InvokeMeta) -> CallContext<'_> {
        CallContext {
            region: "us-east-1",
            account: "111111111111",
            max_payload_bytes: 262_144,
            meta,
        }
    }

    fn call(resource: &str, input: Value) -> LambdaCall {
        LambdaCall::from_task(resource, &input).unwrap().unwrap()
    }

    #[test]
    fn plain_arn_sends_the_effective_input_and_names_the_arn_function() {
        let c = call(PLAIN, json!({"FunctionName": "other", "a": 1}));
        assert_eq!(c.integration, Integration::Function);
        assert_eq!(c.function_name(), "f");
        assert_eq!(c.payload, r#"{"FunctionName":"other","a":1}"#);
        assert_eq!(c.task_label(), PLAIN);
    }

    #[test]
    fn invoke_takes_function_name_and_payload_parameters() {
        let c = call(INVOKE, json!({"FunctionName": "g", "Payload": {"x": 1}}));
        assert_eq!(c.integration, Integration::Invoke);
        assert_eq!(c.function_name(), "g");
        assert_eq!(c.payload, r#"{"x":1}"#);
        assert_eq!(c.task_label(), "lambda");
        let missing = LambdaCall::from_task(INVOKE, &json!({"Payload": 1})).unwrap();
        assert_eq!(missing.unwrap_err().error, names::TASK_FAILED);
    }

    #[test]
    fn non_lambda_resources_are_not_calls() {
        for r in [
            "arn:aws:states:::sns:publish",
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "arn:aws:states:us-east-1:1:activity:a",
        ] {
            assert!(
                LambdaCall::from_task(r, &json!({"FunctionName": "f"})).is_none(),
                "{r}"
            );
        }
    }

    #[test]
    fn payload_encoding_follows_aws() {
        assert_eq!(request_payload(None), "{}");
        assert_eq!(request_payload(Some(&Value::Null)), "{}");
        // JSON text in a string goes as-is: "0.0" arrives as the number 0.0.
        assert_eq!(request_payload(Some(&json!("0.0"))), "0.0");
        assert_eq!(request_payload(Some(&json!("\"Hi\""))), "\"Hi\"");
        assert_eq!(request_payload(Some(&json!("not json"))), "\"not json\"");
        assert_eq!(request_payload(Some(&json!([1, 2]))), "[1,2]");
    }

    #[test]
    fn function_refs() {
        assert_eq!(split_function_ref("f"), ("f", None));
        assert_eq!(split_function_ref("f:prod"), ("f", Some("prod")));
        assert_eq!(split_function_ref("1:function:f:3"), ("f", Some("3")));
        assert_eq!(split_function_ref(PLAIN), ("f", None));
        assert_eq!(
            qualified_function_arn("f", "eu-west-1", "2"),
            "arn:aws:lambda:eu-west-1:2:function:f:$LATEST"
        );
        assert_eq!(
            qualified_function_arn("arn:aws:lambda:us-west-2:3:function:f:7", "eu-west-1", "2"),
            "arn:aws:lambda:us-west-2:3:function:f:7"
        );
        assert_eq!(
            qualified_function_arn("4:function:f", "eu-west-1", "2"),
            "arn:aws:lambda:eu-west-1:4:function:f:$LATEST"
        );
    }

    #[test]
    fn invoke_wraps_the_payload_with_sdk_metadata() {
        let m = meta();
        let c = call(INVOKE, json!({"FunctionName": "g"}));
        let TaskOutcome::Succeeded(out) = task_outcome(
            &c,
            FunctionResult::Returned("\"HelloWorld!\"".into()),
            &ctx(&m),
        ) else {
            panic!("expected success");
        };
        assert_eq!(out["Payload"], "HelloWorld!");
        assert_eq!(out["StatusCode"], 200);
        assert_eq!(out["ExecutedVersion"], "$LATEST");
        let http = &out["SdkHttpMetadata"];
        assert_eq!(http["HttpStatusCode"], 200);
        assert_eq!(http["HttpHeaders"]["Content-Length"], "13");
        assert_eq!(http["AllHttpHeaders"]["Content-Length"], json!(["13"]));
        assert_eq!(http["HttpHeaders"]["x-amzn-RequestId"], "rid");
        assert_eq!(http["AllHttpHeaders"]["x-amzn-RequestId"], json!(["rid"]));
        assert_eq!(http["HttpHeaders"]["Date"], m.date);
        assert_eq!(out["SdkResponseMetadata"]["RequestId"], "rid");
    }

    #[test]
    fn raw_bodies_that_are_not_json_come_back_as_strings() {
        assert_eq!(parse_response_body("0.0"), json!(0.0));
        assert_eq!(parse_response_body("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_response_body("plain text"), json!("plain text"));
    }

    #[test]
    fn executed_version_is_the_numeric_qualifier() {
        let m = meta();
        let c = call(INVOKE, json!({"FunctionName": "g:5"}));
        let TaskOutcome::Succeeded(out) =
            task_outcome(&c, FunctionResult::Returned("1".into()), &ctx(&m))
        else {
            panic!("expected success");
        };
        assert_eq!(out["ExecutedVersion"], "5");
        let c = call(INVOKE, json!({"FunctionName": "g:live"}));
        let TaskOutcome::Succeeded(out) =
            task_outcome(&c, FunctionResult::Returned("1".into()), &ctx(&m))
        else {
            panic!("expected success");
        };
        assert_eq!(out["ExecutedVersion"], "$LATEST");
    }

    #[test]
    fn plain_arn_result_is_the_body() {
        let m = meta();
        let c = call(PLAIN, json!({}));
        let out = task_outcome(&c, FunctionResult::Returned("[1, 2]".into()), &ctx(&m));
        assert_eq!(out, TaskOutcome::Succeeded(json!([1, 2])));
    }

    #[test]
    fn function_errors_keep_the_runtime_payload_for_plain_arns_and_compact_it_for_invoke() {
        let payload = error_payload("Exception", "boom", "rid", &["  File x\n".to_string()]);
        assert_eq!(
            payload,
            r#"{"errorMessage": "boom", "errorType": "Exception", "requestId": "rid", "stackTrace": ["  File x\n"]}"#
        );
        let plain = function_error(Integration::Function, &payload);
        assert_eq!(plain.error, "Exception");
        assert_eq!(plain.cause_str(), payload);
        let invoke = function_error(Integration::Invoke, &payload);
        assert_eq!(invoke.error, "Exception");
        assert_eq!(
            invoke.cause_str(),
            r#"{"errorMessage":"boom","errorType":"Exception","requestId":"rid","stackTrace":["  File x\n"]}"#
        );
        let unknown = function_error(Integration::Invoke, "not json");
        assert_eq!(unknown, Failure::new("Lambda.Unknown", "not json"));
    }

    #[test]
    fn unknown_function_is_a_404_naming_the_qualified_arn() {
        let m = meta();
        let c = call(INVOKE, json!({"FunctionName": "nope"}));
        let out = task_outcome(&c, FunctionResult::NotFound, &ctx(&m));
        assert_eq!(
            out,
            TaskOutcome::Failed(Failure::new(
                "Lambda.ResourceNotFoundException",
                "Function not found: arn:aws:lambda:us-east-1:111111111111:function:nope:$LATEST \
                 (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; \
                 Request ID: rid; Proxy: null)"
            ))
        );
    }

    #[test]
    fn oversized_results_exceed_the_data_limit_named_per_integration() {
        let m = meta();
        let big = "a".repeat(262_145);
        let fits = "a".repeat(262_144);
        let c = call(INVOKE, json!({"FunctionName": "g"}));
        let TaskOutcome::Failed(f) =
            task_outcome(&c, FunctionResult::Returned(big.clone()), &ctx(&m))
        else {
            panic!("expected failure");
        };
        assert_eq!(f.error, names::DATA_LIMIT_EXCEEDED);
        assert!(
            f.cause_str()
                .starts_with("The state/task 'lambda' returned"),
            "{}",
            f.cause_str()
        );
        assert!(matches!(
            task_outcome(&c, FunctionResult::Returned(fits), &ctx(&m)),
            TaskOutcome::Succeeded(_)
        ));
        let c = call(PLAIN, json!({}));
        let TaskOutcome::Failed(f) = task_outcome(&c, FunctionResult::Returned(big), &ctx(&m))
        else {
            panic!("expected failure");
        };
        assert!(
            f.cause_str()
                .starts_with(&format!("The state/task '{PLAIN}' returned"))
        );
    }

    #[test]
    fn python_json_matches_json_dumps() {
        let v: Value = serde_json::from_str(
            r#"{"a": [1, 2.5, 0.0, 1e16, 1e-5, 0.0001, -0.0], "b": "é\u0001\"", "c": {}, "d": []}"#,
        )
        .unwrap();
        assert_eq!(
            python_json(&v),
            r#"{"a": [1, 2.5, 0.0, 1e+16, 1e-05, 0.0001, -0.0], "b": "\u00e9\u0001\"", "c": {}, "d": []}"#
        );
        assert_eq!(python_json(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(python_json(&json!(123456789012u64)), "123456789012");
    }

    #[test]
    fn meta_is_deterministic_per_seed() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let a = InvokeMeta::generate(&mut Rng::new(1), now);
        assert_eq!(a, InvokeMeta::generate(&mut Rng::new(1), now));
        assert_ne!(
            a.request_id,
            InvokeMeta::generate(&mut Rng::new(2), now).request_id
        );
        assert_eq!(a.date, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(a.trace_id.starts_with("Root=1-00000000-"));
    }
}
