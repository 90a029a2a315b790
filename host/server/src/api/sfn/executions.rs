//! Execution actions: Start, StartSync, Describe, List, GetExecutionHistory, Stop,
//! DescribeStateMachineForExecution, and the task-token callbacks (SendTask*).

use sandflow_core::parse::MachineType;
use sandflow_engine::{Finished, StartRequest};
use sandflow_store::executions::{self, Execution, ListFilter};
use sandflow_store::machines;
use serde_json::{Value, json};

use super::{
    Ctx, check_name, engine_error, epoch, now_ms, page_size, parse_arn, read_token, token, uuid,
};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;

/// AWS's limit on execution input and task output (bytes of UTF-8).
const MAX_PAYLOAD: usize = 262_144;
const STATUSES: &[&str] = &[
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

fn type_not_supported() -> ApiError {
    ApiError::client(
        "StateMachineTypeNotSupported",
        "This operation is not supported by this type of state machine",
    )
}

fn no_execution(arn: &str) -> ApiError {
    ApiError::client(
        "ExecutionDoesNotExist",
        format!("Execution Does Not Exist: '{arn}'"),
    )
}

/// Input as given (or `{}`), which must be JSON within the size limit.
fn input(p: &mut Params) -> ApiResult<String> {
    let text = p
        .opt_str("input", 0, usize::MAX, true)?
        .unwrap_or_else(|| "{}".into());
    if text.len() > MAX_PAYLOAD {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD}"
        )));
    }
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        return Err(ApiError::client(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        ));
    }
    Ok(text)
}

/// Validates a start request and resolves its machine.
async fn start_request(ctx: &Ctx, p: &mut Params) -> ApiResult<StartRequest> {
    let arn = p.arn("stateMachineArn")?;
    let name = p.opt_str("name", 1, 80, false)?;
    p.opt_str("traceHeader", 0, 256, false)?;
    let input = input(p)?;
    p.finish()?;
    let name = match name {
        Some(n) => {
            check_name(&n)?;
            n
        }
        None => uuid(),
    };
    // A version's ARN runs the definition that version holds; an alias's, one of its versions.
    let (m, version) = super::machines::resolve_for_start(ctx, &arn).await?;
    let (definition, role_arn) = match version {
        Some(v) => (v.definition, v.role_arn),
        None => (m.definition, m.role_arn),
    };
    Ok(StartRequest {
        caller: ctx.caller.clone(),
        state_machine_arn: m.arn,
        state_machine_name: m.name,
        machine_type: if m.machine_type == "EXPRESS" {
            MachineType::Express
        } else {
            MachineType::Standard
        },
        definition,
        role_arn,
        name,
        input,
    })
}

pub async fn start(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let req = start_request(ctx, p).await?;
    let started = ctx
        .state
        .engine()
        .start_execution(req)
        .await
        .map_err(engine_error)?;
    ctx.state.metrics().started(false);
    Ok(json!({"executionArn": started.execution_arn, "startDate": epoch(started.start_ms)}))
}

pub async fn start_sync(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let req = start_request(ctx, p).await?;
    if req.machine_type != MachineType::Express {
        return Err(type_not_supported());
    }
    let (sm_arn, name, input) = (
        req.state_machine_arn.clone(),
        req.name.clone(),
        req.input.clone(),
    );
    let done: Finished = ctx
        .state
        .engine()
        .start_sync_execution(req)
        .await
        .map_err(engine_error)?;
    ctx.state.metrics().started(true);
    let duration = (done.stop_ms - done.start_ms).max(0);
    let mut out = json!({
        "executionArn": done.execution_arn,
        "stateMachineArn": sm_arn,
        "name": name,
        "startDate": epoch(done.start_ms),
        "stopDate": epoch(done.stop_ms),
        "status": done.status,
        "input": input,
        "inputDetails": {"included": true},
        "billingDetails": {
            "billedMemoryUsedInMB": 64,
            // Billed in 100 ms steps, at least one.
            "billedDurationInMilliseconds": ((duration + 99) / 100).max(1) * 100,
        },
    });
    if let Some(o) = done.output {
        out["output"] = json!(o);
        out["outputDetails"] = json!({"included": true});
    }
    if let Some(e) = done.error {
        out["error"] = json!(e);
    }
    if let Some(c) = done.cause {
        out["cause"] = json!(c);
    }
    Ok(out)
}

/// The tenant's stored execution by ARN. Express executions are not stored, so their ARNs
/// are not found (as AWS: Describe/History/Stop are Standard-only).
async fn get(ctx: &Ctx, arn: &str) -> ApiResult<Execution> {
    let a = parse_arn(arn, &["execution", "express"])?;
    if a.kind == "execution" && a.rest.len() != 2 {
        return Err(ApiError::invalid_arn(arn, "Invalid ARN"));
    }
    let (t, key) = (ctx.tenant(), arn.to_string());
    ctx.state
        .read(move |c| executions::get(c, t, &key))
        .await?
        .ok_or_else(|| no_execution(arn))
}

pub async fn describe(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("executionArn")?;
    p.opt_bool("includedData")?;
    p.finish()?;
    let e = get(ctx, &arn).await?;
    let mut out = json!({
        "executionArn": e.arn,
        "stateMachineArn": e.state_machine_arn,
        "name": e.name,
        "status": e.status,
        "startDate": epoch(e.start_ms),
        "input": e.input,
        "inputDetails": {"included": true},
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
    });
    if let Some(ms) = e.stop_ms {
        out["stopDate"] = epoch(ms);
    }
    if let Some(o) = e.output {
        out["output"] = json!(o);
        out["outputDetails"] = json!({"included": true});
    }
    if let Some(err) = e.error {
        out["error"] = json!(err);
    }
    if let Some(c) = e.cause {
        out["cause"] = json!(c);
    }
    Ok(out)
}

pub async fn list(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.opt_str("stateMachineArn", 1, 256, false)?;
    let status = p.opt_enum("statusFilter", STATUSES)?;
    let limit = page_size(p, 1000)?;
    let map_run = p.opt_str("mapRunArn", 1, 2000, false)?;
    let redrive = p.opt_enum("redriveFilter", &["REDRIVEN", "NOT_REDRIVEN"])?;
    let before = read_token(p, "ex", 3096)?;
    p.finish()?;
    if map_run.is_some() {
        return Err(ApiError::client(
            "UnsupportedOperation",
            "Map runs are not supported yet",
        ));
    }
    let Some(arn) = arn else {
        return Err(ApiError::validation(
            "Must provide a StateMachine ARN or MapRun ARN",
        ));
    };
    let m = super::machines::get(ctx, &arn).await?;
    if m.machine_type == "EXPRESS" {
        return Err(type_not_supported());
    }
    let before = match before {
        None => None,
        Some(pos) => Some(
            pos.split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| ApiError::client("InvalidToken", "Invalid Token: 'bad position'"))?,
        ),
    };
    // Nothing is ever redriven or pending redrive (RedriveExecution comes later).
    if redrive.as_deref() == Some("REDRIVEN") || status.as_deref() == Some("PENDING_REDRIVE") {
        return Ok(json!({"executions": []}));
    }
    let t = ctx.tenant();
    let mut rows = ctx
        .state
        .read(move |c| {
            executions::list(
                c,
                t,
                &ListFilter {
                    state_machine_arn: Some(&arn),
                    status: status.as_deref(),
                    before,
                    limit: limit + 1,
                    ..Default::default()
                },
            )
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows
        .iter()
        .map(|e| {
            let mut v = json!({
                "executionArn": e.arn,
                "stateMachineArn": e.state_machine_arn,
                "name": e.name,
                "status": e.status,
                "startDate": epoch(e.start_ms),
            });
            if let Some(ms) = e.stop_ms {
                v["stopDate"] = epoch(ms);
            }
            v
        })
        .collect();
    let mut out = json!({ "executions": items });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(token("ex", &format!("{}:{}", last.start_ms, last.id)));
    }
    Ok(out)
}

/// History events as the API returns them: timestamps as epoch seconds, and without
/// input/output when `includeExecutionData` is false.
fn wire_event(mut e: Value, include_data: bool) -> Value {
    if let Some(ts) = e.get("timestamp").and_then(Value::as_str)
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts)
    {
        e["timestamp"] = epoch(t.timestamp_millis());
    }
    if !include_data && let Value::Object(m) = &mut e {
        for (k, details) in m.iter_mut() {
            if k.ends_with("EventDetails")
                && let Value::Object(d) = details
            {
                d.remove("input");
                d.remove("output");
            }
        }
    }
    e
}

pub async fn history(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("executionArn")?;
    let limit = page_size(p, 1000)?;
    let reverse = p.opt_bool("reverseOrder")?.unwrap_or(false);
    let include = p.opt_bool("includeExecutionData")?.unwrap_or(true);
    let from = read_token(p, if reverse { "hr" } else { "hf" }, 1024)?;
    p.finish()?;
    let from = match from {
        None if reverse => i64::MAX,
        None => 1,
        Some(pos) => pos
            .parse()
            .map_err(|_| ApiError::client("InvalidToken", "Invalid Token: 'bad position'"))?,
    };
    let e = get(ctx, &arn).await?;
    let id = e.id;
    let mut events = ctx
        .state
        .read(move |c| executions::history(c, id, from, limit + 1, reverse))
        .await?;
    let next = (events.len() > limit)
        .then(|| events[limit].get("id").and_then(Value::as_i64))
        .flatten();
    events.truncate(limit);
    let events: Vec<Value> = events.into_iter().map(|e| wire_event(e, include)).collect();
    let mut out = json!({ "events": events });
    if let Some(n) = next {
        out["nextToken"] = json!(token(if reverse { "hr" } else { "hf" }, &n.to_string()));
    }
    Ok(out)
}

pub async fn stop(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("executionArn")?;
    let error = p.opt_str("error", 0, 256, true)?.unwrap_or_default();
    let cause = p.opt_str("cause", 0, 32_768, true)?.unwrap_or_default();
    p.finish()?;
    get(ctx, &arn).await?;
    ctx.state
        .engine()
        .stop_execution(ctx.tenant(), &arn, &error, &cause)
        .await
        .map_err(engine_error)?;
    let stopped = get(ctx, &arn).await?.stop_ms.unwrap_or_else(now_ms);
    Ok(json!({ "stopDate": epoch(stopped) }))
}

pub async fn describe_machine(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("executionArn")?;
    p.opt_bool("includedData")?;
    p.finish()?;
    let e = get(ctx, &arn).await?;
    let (t, sm) = (ctx.tenant(), e.state_machine_arn.clone());
    let m = ctx.state.read(move |c| machines::get(c, t, &sm)).await?;
    let name = e
        .state_machine_arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut out = json!({
        "stateMachineArn": e.state_machine_arn,
        "name": name,
        "definition": e.definition,
        "roleArn": m.as_ref().map(|m| m.role_arn.clone()).unwrap_or_default(),
        "updateDate": epoch(m.as_ref().map_or(e.start_ms, |m| m.updated_ms)),
    });
    if let Some(m) = &m {
        out["revisionId"] = json!(m.revision_id);
        if let Ok(Value::Object(cfg)) = serde_json::from_str::<Value>(&m.config) {
            out.as_object_mut().expect("object").extend(cfg);
        }
    }
    Ok(out)
}

fn task_token(p: &mut Params) -> ApiResult<String> {
    p.req_str("taskToken", 1, 2048, false)
}

pub async fn send_success(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let token = task_token(p)?;
    let output = p.req_str("output", 0, MAX_PAYLOAD, true)?;
    p.finish()?;
    ctx.state
        .engine()
        .send_task_success(ctx.tenant(), &token, &output)
        .await
        .map_err(engine_error)?;
    Ok(json!({}))
}

pub async fn send_failure(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let token = task_token(p)?;
    let error = p.opt_str("error", 0, 256, true)?.unwrap_or_default();
    let cause = p.opt_str("cause", 0, 32_768, true)?;
    p.finish()?;
    ctx.state
        .engine()
        .send_task_failure(ctx.tenant(), &token, &error, cause.as_deref())
        .await
        .map_err(engine_error)?;
    Ok(json!({}))
}

pub async fn send_heartbeat(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let token = task_token(p)?;
    p.finish()?;
    ctx.state
        .engine()
        .send_task_heartbeat(ctx.tenant(), &token)
        .await
        .map_err(engine_error)?;
    Ok(json!({}))
}
