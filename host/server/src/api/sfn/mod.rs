//! Step Functions over AWS JSON 1.0: `POST /` with `X-Amz-Target: AWSStepFunctions.<Action>`.
//! Dispatch, and what the actions share: ARNs (always the caller's account and region; another
//! tenant's ARN is simply not found, because every lookup is keyed by the caller's tenant),
//! resource names, timestamps and page tokens. The actions live in the submodules.

mod activities;
mod aliases;
mod executions;
mod machines;
mod tags;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sandflow_engine::Caller;
use serde_json::Value;

use super::AppState;
use super::errors::{AMZ_JSON, ApiError, ApiResult};
use super::params::Params;

pub const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// Actions of the API that come in a later issue: AWS's shape, answered as unsupported.
const UNSUPPORTED: &[&str] = &[
    "DescribeMapRun",
    "ListMapRuns",
    "RedriveExecution",
    "TestState",
    "UpdateMapRun",
];

/// One request's caller and shared state.
pub struct Ctx {
    pub state: AppState,
    pub caller: Caller,
}

impl Ctx {
    /// `arn:aws:states:REGION:ACCOUNT:KIND:NAME` for the caller.
    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:{kind}:{name}",
            self.caller.region, self.caller.account
        )
    }

    pub fn tenant(&self) -> i64 {
        self.caller.tenant_id
    }
}

pub async fn handle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Step Functions actions are POST requests",
        )
        .into_response();
    }
    let action = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("")
        .to_string();
    let ctx = Ctx { state, caller };
    let result = match Params::parse(&body) {
        Ok(p) => dispatch(&ctx, &action, p).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
            r
        }
        Err(e) => e.into_response(),
    }
}

/// Runs one action as `ctx`'s caller (the AWS endpoint, the console and the demo come here).
pub(crate) async fn dispatch(ctx: &Ctx, action: &str, mut p: Params) -> ApiResult<Value> {
    let p = &mut p;
    match action {
        "CreateStateMachine" => machines::create(ctx, p).await,
        "DescribeStateMachine" => machines::describe(ctx, p).await,
        "UpdateStateMachine" => machines::update(ctx, p).await,
        "DeleteStateMachine" => machines::delete(ctx, p).await,
        "ListStateMachines" => machines::list(ctx, p).await,
        "PublishStateMachineVersion" => machines::publish(ctx, p).await,
        "ListStateMachineVersions" => machines::list_versions(ctx, p).await,
        "DeleteStateMachineVersion" => machines::delete_version(ctx, p).await,
        "CreateStateMachineAlias" => aliases::create(ctx, p).await,
        "DescribeStateMachineAlias" => aliases::describe(ctx, p).await,
        "UpdateStateMachineAlias" => aliases::update(ctx, p).await,
        "DeleteStateMachineAlias" => aliases::delete(ctx, p).await,
        "ListStateMachineAliases" => aliases::list(ctx, p).await,
        "ValidateStateMachineDefinition" => machines::validate(p),
        "DescribeStateMachineForExecution" => executions::describe_machine(ctx, p).await,
        "StartExecution" => executions::start(ctx, p).await,
        "StartSyncExecution" => executions::start_sync(ctx, p).await,
        "DescribeExecution" => executions::describe(ctx, p).await,
        "ListExecutions" => executions::list(ctx, p).await,
        "GetExecutionHistory" => executions::history(ctx, p).await,
        "StopExecution" => executions::stop(ctx, p).await,
        "SendTaskSuccess" => executions::send_success(ctx, p).await,
        "SendTaskFailure" => executions::send_failure(ctx, p).await,
        "SendTaskHeartbeat" => executions::send_heartbeat(ctx, p).await,
        "CreateActivity" => activities::create(ctx, p).await,
        "DescribeActivity" => activities::describe(ctx, p).await,
        "DeleteActivity" => activities::delete(ctx, p).await,
        "ListActivities" => activities::list(ctx, p).await,
        "GetActivityTask" => activities::get_task(ctx, p).await,
        "TagResource" => tags::tag(ctx, p).await,
        "UntagResource" => tags::untag(ctx, p).await,
        "ListTagsForResource" => tags::list(ctx, p).await,
        a if UNSUPPORTED.contains(&a) => Err(ApiError::client(
            "UnsupportedOperation",
            format!("{a} is not supported by this server yet"),
        )),
        "" => Err(ApiError::client(
            "UnknownOperationException",
            format!("The request needs an X-Amz-Target header of the form {TARGET_PREFIX}<Action>"),
        )),
        a => Err(ApiError::client(
            "UnknownOperationException",
            format!("Unknown operation {a}"),
        )),
    }
}

/// The resource an ARN names, after `arn:aws:states:REGION:ACCOUNT:`.
#[derive(Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub kind: &'a str,
    /// The `:`-separated parts after the kind.
    pub rest: Vec<&'a str>,
}

/// Parses a Step Functions ARN and checks its resource type is one of `kinds`.
pub fn parse_arn<'a>(arn: &'a str, kinds: &[&str]) -> ApiResult<Arn<'a>> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
        return Err(ApiError::invalid_arn(arn, "Invalid ARN prefix"));
    }
    let kind = parts[5];
    if !kinds.contains(&kind) {
        return Err(ApiError::invalid_arn(
            arn,
            &format!("Resource type not valid in this context: {kind}"),
        ));
    }
    Ok(Arn {
        kind,
        rest: parts[6..].to_vec(),
    })
}

/// A state machine ARN (unqualified: versions and aliases come later).
pub fn machine_arn(arn: &str) -> ApiResult<()> {
    match machine_or_version(arn)? {
        (_, None) => Ok(()),
        (_, Some(_)) => Err(ApiError::invalid_arn(
            arn,
            "a state machine ARN without a version is needed here",
        )),
    }
}

/// What follows a state machine's name in its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    None,
    /// `…:stateMachine:NAME:N`
    Version(i64),
    /// `…:stateMachine:NAME:ALIAS`
    Alias(String),
}

/// A state machine ARN, a version's or an alias's: the machine's ARN and the qualifier.
pub fn qualified_machine(arn: &str) -> ApiResult<(String, Qualifier)> {
    let a = parse_arn(arn, &["stateMachine"])?;
    match a.rest.as_slice() {
        [name] if !name.is_empty() => Ok((arn.to_string(), Qualifier::None)),
        [name, q] if !name.is_empty() && !q.is_empty() => {
            let base = arn[..arn.len() - q.len() - 1].to_string();
            match q.parse::<i64>() {
                Ok(n) if n > 0 => Ok((base, Qualifier::Version(n))),
                Ok(_) => Err(ApiError::invalid_arn(arn, "Invalid version")),
                Err(_) => Ok((base, Qualifier::Alias(q.to_string()))),
            }
        }
        _ => Err(ApiError::invalid_arn(arn, "Invalid ARN")),
    }
}

/// A state machine ARN or a version's: the machine's ARN and the version number.
pub fn machine_or_version(arn: &str) -> ApiResult<(String, Option<i64>)> {
    match qualified_machine(arn)? {
        (base, Qualifier::None) => Ok((base, None)),
        (base, Qualifier::Version(n)) => Ok((base, Some(n))),
        (_, Qualifier::Alias(_)) => Err(ApiError::invalid_arn(
            arn,
            "an alias ARN is not accepted here",
        )),
    }
}

/// AWS's rule for names of state machines, executions and activities (the length, 1-80, is
/// checked as a constraint first).
pub fn check_name(name: &str) -> ApiResult<()> {
    let bad = name.chars().any(|c| {
        c.is_whitespace()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || matches!(c as u32, 0..=0x1f | 0x7f..=0x9f | 0xfffe | 0xffff)
    });
    if bad {
        Err(ApiError::client(
            "InvalidName",
            format!("Invalid Name: '{name}'"),
        ))
    } else {
        Ok(())
    }
}

/// AWS JSON timestamps are epoch seconds.
pub fn epoch(ms: i64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}

/// Page size: 0 or absent means the default, 100.
pub fn page_size(p: &mut Params, max: i64) -> ApiResult<usize> {
    Ok(match p.opt_int("maxResults", 0, max)? {
        None | Some(0) => 100,
        Some(n) => n.clamp(1, max) as usize,
    })
}

/// An opaque page token: which list it continues and where.
pub fn token(kind: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}\n{position}"))
}

/// The position in a token of `kind`; anything else is `InvalidToken`.
pub fn read_token(p: &mut Params, kind: &str, max_len: usize) -> ApiResult<Option<String>> {
    let Some(t) = p.opt_str("nextToken", 1, max_len, false)? else {
        return Ok(None);
    };
    let invalid = || ApiError::client("InvalidToken", format!("Invalid Token: '{t}'"));
    let text = URL_SAFE_NO_PAD
        .decode(&t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    match text.split_once('\n') {
        Some((k, pos)) if k == kind => Ok(Some(pos.to_string())),
        _ => Err(invalid()),
    }
}

/// Maps an engine error to its AWS error.
pub fn engine_error(e: sandflow_engine::Error) -> ApiError {
    use sandflow_engine::Error as E;
    match e {
        E::ExecutionAlreadyExists(arn) => ApiError::client(
            "ExecutionAlreadyExists",
            format!("Execution Already Exists: '{arn}'"),
        ),
        E::ExecutionDoesNotExist(arn) => ApiError::client(
            "ExecutionDoesNotExist",
            format!("Execution Does Not Exist: '{arn}'"),
        ),
        E::InvalidDefinition(m) => ApiError::client("InvalidDefinition", m),
        E::TaskDoesNotExist => ApiError::client("TaskDoesNotExist", "Task Does Not Exist"),
        E::InvalidOutput(m) => ApiError::client("InvalidOutput", format!("Invalid Output: '{m}'")),
        E::ExecutionLimitExceeded(m) => ApiError::client("ExecutionLimitExceeded", m),
        E::Throttled => ApiError::client("ThrottlingException", "Rate exceeded"),
        E::ShuttingDown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The server is shutting down",
        ),
        e @ (E::Store(_) | E::Corrupt(_)) => ApiError::internal(e),
    }
}

/// A fresh random UUID (v4), for execution names and revision ids.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    crate::tenancy::random(&mut b);
    sandflow_core::rng::uuid_v4_from(b)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_names_and_tokens() {
        assert!(machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:m").is_ok());
        assert_eq!(machine_arn("nope").unwrap_err().kind, "InvalidArn");
        assert_eq!(
            machine_arn("arn:aws:states:us-east-1:0:activity:a")
                .unwrap_err()
                .message,
            "Invalid Arn: 'Resource type not valid in this context: activity: arn:aws:states:us-east-1:0:activity:a'"
        );
        assert_eq!(
            machine_arn("arn:aws:states:us-east-1:0:stateMachine:m:1")
                .unwrap_err()
                .kind,
            "InvalidArn"
        );
        assert_eq!(
            machine_or_version("arn:aws:states:us-east-1:0:stateMachine:m:12").unwrap(),
            (
                "arn:aws:states:us-east-1:0:stateMachine:m".to_string(),
                Some(12)
            )
        );
        assert_eq!(
            qualified_machine("arn:aws:states:us-east-1:0:stateMachine:m:prod").unwrap(),
            (
                "arn:aws:states:us-east-1:0:stateMachine:m".to_string(),
                Qualifier::Alias("prod".into())
            )
        );
        assert_eq!(
            machine_or_version("arn:aws:states:us-east-1:0:stateMachine:m:prod")
                .unwrap_err()
                .kind,
            "InvalidArn"
        );
        assert!(check_name("order-42_x").is_ok());
        for bad in ["a b", "a:b", "a/b", "a*", "a\u{1}", "{x}"] {
            assert_eq!(check_name(bad).unwrap_err().kind, "InvalidName", "{bad}");
        }
        let t = token("sm", "name");
        let mut p = Params::from_map(
            serde_json::json!({ "nextToken": t })
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(
            read_token(&mut p, "sm", 1024).unwrap().as_deref(),
            Some("name")
        );
        let mut p = Params::from_map(
            serde_json::json!({ "nextToken": t })
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(
            read_token(&mut p, "ex", 1024).unwrap_err().kind,
            "InvalidToken"
        );
        let u = uuid();
        assert_eq!((u.len(), &u[14..15]), (36, "4"));
    }
}
