//! Task logs per execution: `GET /sandflow/logs?executionArn=ARN[&eventId=N]` (signed) answers
//! the function invocations an execution made, each with its state, the id of its
//! `*Scheduled` history event, its cost, outcome and the guest's logs. AWS keeps these in
//! CloudWatch Logs, which Sandflow does not serve; the console reads the same rows.

use std::collections::HashMap;

use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use sandflow_engine::Caller;
use sandflow_store::{executions, invocations};
use serde_json::{Value, json};

use super::AppState;
use super::errors::{ApiError, ApiResult};
use super::sfn::epoch;

pub fn invocation_json(i: &invocations::Invocation) -> Value {
    json!({
        "functionName": i.function_name,
        "executionArn": i.execution_arn,
        "stateName": i.state_name,
        "eventId": i.event_id,
        "startDate": epoch(i.started_ms),
        "elapsedMicros": i.elapsed_us,
        "fuel": i.fuel,
        "status": i.status,
        "error": i.error,
        "cause": i.cause,
        "logs": i.logs,
    })
}

/// The invocations of the tenant's execution `arn` (of one scheduled event if `event_id`),
/// oldest first, or AWS's `ExecutionDoesNotExist`.
pub async fn of_execution(
    state: &AppState,
    tenant_id: i64,
    arn: Option<&str>,
    event_id: Option<&str>,
) -> ApiResult<Value> {
    let arn = arn
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::validation("'executionArn' is required"))?
        .to_string();
    let event_id =
        match event_id.filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => Some(e.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::validation("'eventId' must be a positive whole number")
            })?),
        };
    let key = arn.clone();
    let rows = state
        .read(move |c| {
            if executions::get(c, tenant_id, &key)?.is_none() {
                return Ok(None);
            }
            invocations::of_execution(c, tenant_id, &key, event_id).map(Some)
        })
        .await?
        .ok_or_else(|| {
            ApiError::client(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })?;
    Ok(json!({ "invocations": rows.iter().map(invocation_json).collect::<Vec<_>>() }))
}

pub async fn handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let arn = q.get("executionArn").map(String::as_str);
    let event = q.get("eventId").map(String::as_str);
    match of_execution(&state, caller.tenant_id, arn, event).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
