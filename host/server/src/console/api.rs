//! The console's JSON API (behind [`super::session::require`]): Step Functions actions through
//! the AWS endpoint's own dispatch, plus what that API lacks: a tenant-wide executions list,
//! server-paged history with a failures filter, a compact event list for the graph overlay, live
//! updates over SSE, the approvals inbox with audited decisions, and usage per day.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use sandflow_store::approvals::{self, Decision};
use sandflow_store::executions::{self, ListFilter};
use sandflow_store::{functions as fns, invocations};
use serde_json::{Value, json};

use super::overlay;
use super::session::Session;
use crate::api::AppState;
use crate::api::errors::{ApiError, ApiResult};
use crate::api::logs::{self, invocation_json};
use crate::api::params::Params;
use crate::api::sfn::{self, Ctx, epoch};

type Q = Query<HashMap<String, String>>;

fn respond(r: ApiResult<Value>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn ctx(state: AppState, s: &Session) -> Ctx {
    Ctx {
        state,
        caller: s.caller.clone(),
    }
}

/// A query parameter as a number in `min..=max`, or `default` when absent.
fn int(
    q: &HashMap<String, String>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> ApiResult<i64> {
    match q.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "'{name}' must be a whole number from {min} to {max}"
                ))
            }),
    }
}

fn text<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

pub async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("No console API at {} {}", req.method(), req.uri().path()),
    )
}

/// `GET /console/api/config` (open): whether the server runs with `--dev` (the page prefills
/// the dev keys).
pub async fn config(State(state): State<AppState>) -> Response {
    let mut v = json!({ "dev": state.dev() });
    if state.dev() {
        v["devAccessKeyId"] = json!(crate::tenancy::DEV_KEY);
        v["devSecretAccessKey"] = json!(crate::tenancy::DEV_SECRET);
    }
    Json(v).into_response()
}

/// `POST /console/api/sfn/{Action}`: a Step Functions action as the session's caller.
pub async fn sfn(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Path(action): Path<String>,
    body: Bytes,
) -> Response {
    let ctx = ctx(state, &s);
    respond(match Params::parse(&body) {
        Ok(p) => sfn::dispatch(&ctx, &action, p).await,
        Err(e) => Err(e),
    })
}

const STATUSES: &[&str] = &["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

/// The `status` query parameter, if given: one of [`STATUSES`].
fn status_filter(q: &HashMap<String, String>) -> ApiResult<Option<&str>> {
    match text(q, "status") {
        Some(st) if !STATUSES.contains(&st) => Err(ApiError::validation(format!(
            "'status' must be one of {}",
            STATUSES.join(", ")
        ))),
        st => Ok(st),
    }
}

/// One page (`from`, `limit` up to 500) of `all` under `key`, with the total and where the
/// next page starts.
fn paged<T: serde::Serialize>(
    q: &HashMap<String, String>,
    key: &str,
    all: &[T],
) -> ApiResult<Value> {
    let from = int(q, "from", 0, 0, i64::MAX)? as usize;
    let limit = int(q, "limit", 25, 1, 500)? as usize;
    let page: Vec<&T> = all.iter().skip(from).take(limit).collect();
    let next = (from + limit < all.len()).then_some(from + limit);
    Ok(json!({ key: page, "total": all.len(), "nextFrom": next }))
}

fn summary(e: &executions::Execution) -> Value {
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
}

/// `GET /console/api/executions?stateMachineArn&status&name&limit&nextToken`: every execution
/// of the tenant, newest first, paged on the server.
pub async fn executions(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    respond(list_executions(&state, &s, &q).await)
}

async fn list_executions(
    state: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> ApiResult<Value> {
    let limit = int(q, "limit", 25, 1, 1000)? as usize;
    let status = status_filter(q)?.map(str::to_string);
    let before = match text(q, "nextToken") {
        None => None,
        Some(t) => Some(
            t.split_once(':')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(|| ApiError::client("InvalidToken", format!("Invalid Token: '{t}'")))?,
        ),
    };
    let machine = text(q, "stateMachineArn").map(str::to_string);
    let name = text(q, "name").map(str::to_string);
    let t = s.caller.tenant_id;
    let mut rows = state
        .read(move |c| {
            executions::list(
                c,
                t,
                &ListFilter {
                    state_machine_arn: machine.as_deref(),
                    status: status.as_deref(),
                    name_contains: name.as_deref(),
                    before,
                    limit: limit + 1,
                },
            )
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut out = json!({ "executions": rows.iter().map(summary).collect::<Vec<_>>() });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(format!("{}:{}", last.start_ms, last.id));
    }
    Ok(out)
}

/// The tenant's stored execution, or AWS's `ExecutionDoesNotExist`.
async fn execution(
    state: &AppState,
    s: &Session,
    arn: Option<&str>,
) -> ApiResult<executions::Execution> {
    let arn = arn.ok_or_else(|| ApiError::validation("'executionArn' is required"))?;
    let (t, key) = (s.caller.tenant_id, arn.to_string());
    state
        .read(move |c| executions::get(c, t, &key))
        .await?
        .ok_or_else(|| {
            ApiError::client(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
}

fn is_failure(event: &Value) -> bool {
    let ty = event.get("type").and_then(Value::as_str).unwrap_or("");
    ty.ends_with("Failed") || ty.ends_with("TimedOut") || ty.ends_with("Aborted")
}

/// A stored RFC 3339 timestamp as epoch seconds.
fn epoch_of(ts: Value) -> Value {
    wire(json!({ "timestamp": ts }))["timestamp"].take()
}

/// History timestamps are stored as RFC 3339; the API answers epoch seconds.
fn wire(mut e: Value) -> Value {
    if let Some(ts) = e.get("timestamp").and_then(Value::as_str)
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts)
    {
        e["timestamp"] = epoch(t.timestamp_millis());
    }
    e
}

/// `GET /console/api/history?executionArn&from&limit&failedOnly`: one page of events from id
/// `from` on, and where the next page starts.
pub async fn history(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    respond(history_page(&state, &s, &q).await)
}

async fn history_page(
    state: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> ApiResult<Value> {
    let from = int(q, "from", 1, 1, i64::MAX)?;
    let limit = int(q, "limit", 50, 1, 500)? as usize;
    let failed_only = matches!(text(q, "failedOnly"), Some("1" | "true"));
    let e = execution(state, s, text(q, "executionArn")).await?;
    let id = e.id;
    let (events, next) = state
        .read(move |c| {
            const CHUNK: usize = 500;
            let mut out = Vec::new();
            let mut at = from;
            loop {
                let chunk = executions::history(c, id, at, CHUNK, false)?;
                let n = chunk.len();
                for ev in chunk {
                    let ev_id = ev.get("id").and_then(Value::as_i64).unwrap_or(at);
                    at = ev_id + 1;
                    if failed_only && !is_failure(&ev) {
                        continue;
                    }
                    out.push(ev);
                    if out.len() == limit {
                        return Ok((out, Some(at)));
                    }
                }
                if n < CHUNK {
                    return Ok((out, None));
                }
            }
        })
        .await?;
    let total = state
        .read(move |c| executions::last_event_id(c, id))
        .await?;
    // The next page may be empty when the last event ended this one exactly.
    let next = next.filter(|n| *n <= total);
    Ok(json!({
        "events": events.into_iter().map(wire).collect::<Vec<_>>(),
        "nextFrom": next,
        "totalEvents": total,
    }))
}

/// Every event of the execution, read on the server (the browser gets summaries and pages).
async fn all_events(
    state: &AppState,
    e: &executions::Execution,
) -> ApiResult<std::sync::Arc<Vec<Value>>> {
    let id = e.id;
    let last = state
        .read(move |c| executions::last_event_id(c, id))
        .await?;
    if let Some(h) = state.histories().get(id, last) {
        return Ok(h);
    }
    let events = state
        .read(move |c| executions::history(c, id, 1, last as usize, false))
        .await?;
    let events = std::sync::Arc::new(events);
    state.histories().put(id, last, events.clone());
    Ok(events)
}

/// `GET /console/api/overlay?executionArn[&at=N]`: the execution, its event count, and after
/// event `at` (default: the last) each state's status and runs and each Map's iteration counts:
/// what the graph overlay and the step-through slider draw.
pub async fn overlay(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    respond(overlay_of(&state, &s, &q).await)
}

async fn overlay_of(
    state: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> ApiResult<Value> {
    let e = execution(state, s, text(q, "executionArn")).await?;
    let at = match text(q, "at") {
        Some(_) => Some(int(q, "at", 0, 0, i64::MAX)?),
        None => None,
    };
    let events = all_events(state, &e).await?;
    let o = overlay::overlay(&events, at);
    Ok(json!({
        "execution": describe(&e),
        "totalEvents": events.len(),
        "at": at.map_or(events.len() as i64, |a| a.min(events.len() as i64)),
        "states": o.states,
        "maps": o.maps,
    }))
}

/// `GET /console/api/state?executionArn&name`: the latest run of one state: its status, input,
/// output, failure, events (up to 100) and the invocations (with logs) its tasks made.
pub async fn state(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    respond(state_of(&state, &s, &q).await)
}

async fn state_of(state: &AppState, s: &Session, q: &HashMap<String, String>) -> ApiResult<Value> {
    let e = execution(state, s, text(q, "executionArn")).await?;
    let name = text(q, "name")
        .ok_or_else(|| ApiError::validation("'name' is required"))?
        .to_string();
    let events = all_events(state, &e).await?;
    let run = overlay::latest_run(&events, &name);
    let ends = |ev: &Value, suffix: &str| ev["type"].as_str().is_some_and(|t| t.ends_with(suffix));
    let field = |suffix: &str, key: &str| {
        run.iter()
            .find(|ev| ends(ev, suffix))
            .and_then(|ev| overlay::details(ev)?.get(key).cloned())
    };
    let failure = run.iter().rev().find(|ev| is_failure(ev)).map(|ev| {
        let d = overlay::details(ev);
        json!({"type": ev["type"], "error": d.and_then(|d| d.get("error")),
               "cause": d.and_then(|d| d.get("cause"))})
    });
    let scheduled: Vec<i64> = run
        .iter()
        .filter(|ev| ends(ev, "Scheduled"))
        .filter_map(|ev| ev["id"].as_i64())
        .collect();
    let (t, arn) = (s.caller.tenant_id, e.arn.clone());
    let invocations = state
        .read(move |c| {
            let mut out = Vec::new();
            for id in scheduled {
                out.extend(invocations::of_execution(c, t, &arn, Some(id))?);
            }
            Ok(out)
        })
        .await?;
    let o = overlay::overlay(&events, None);
    Ok(json!({
        "name": name,
        "status": o.states.get(&name).map(|v| v.status),
        "runs": o.states.get(&name).map_or(0, |v| v.runs),
        "input": field("StateEntered", "input"),
        "output": field("StateExited", "output"),
        "failure": failure,
        "events": run.iter().take(100).map(|ev| wire((*ev).clone())).collect::<Vec<_>>(),
        "invocations": invocations.iter().map(invocation_json).collect::<Vec<_>>(),
    }))
}

/// `GET /console/api/steps?executionArn&from&limit`: one page of the execution's state runs
/// in the order they were entered (name, type, status, start and stop), and the total.
pub async fn steps(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let r = async {
        let e = execution(&state, &s, text(&q, "executionArn")).await?;
        let events = all_events(&state, &e).await?;
        let all: Vec<_> = overlay::steps(&events)
            .into_iter()
            .map(|mut st| {
                st.start_date = st.start_date.map(epoch_of);
                st.stop_date = st.stop_date.map(epoch_of);
                st
            })
            .collect();
        paged(&q, "steps", &all)
    }
    .await;
    respond(r)
}

/// `GET /console/api/iterations?executionArn&state&from&limit&status`: one page of a Map
/// state's iterations by index, with the total and where the next page starts.
pub async fn iterations(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    respond(iterations_of(&state, &s, &q).await)
}

async fn iterations_of(
    state: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> ApiResult<Value> {
    let e = execution(state, s, text(q, "executionArn")).await?;
    let map = text(q, "state").ok_or_else(|| ApiError::validation("'state' is required"))?;
    let status = status_filter(q)?;
    let events = all_events(state, &e).await?;
    let all: Vec<_> = overlay::iterations(&events, map)
        .into_iter()
        .filter(|i| status.is_none_or(|st| i.status == st))
        .map(|mut i| {
            i.start_date = i.start_date.map(epoch_of);
            i.stop_date = i.stop_date.map(epoch_of);
            i
        })
        .collect();
    paged(q, "iterations", &all)
}

fn describe(e: &executions::Execution) -> Value {
    let mut v = summary(e);
    v["input"] = json!(e.input);
    for (k, x) in [
        ("output", &e.output),
        ("error", &e.error),
        ("cause", &e.cause),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

/// `GET /console/api/watch?executionArn` (SSE): an `update` event `{status, lastEventId}` each
/// time the execution records something, until it has ended. Woken by the engine's commits
/// (at most every [`WATCH_COALESCE`]); the page falls back to polling when the stream fails.
pub async fn watch(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let e = match execution(&state, &s, text(&q, "executionArn")).await {
        Ok(e) => e,
        Err(err) => return err.into_response(),
    };
    let id = e.id;
    let commits = state.engine().committed();
    let stream = futures_util::stream::unfold(
        (state, commits, None::<(String, i64)>, false),
        move |(state, mut commits, seen, done)| async move {
            if done {
                return None;
            }
            if seen.is_some() {
                tokio::time::sleep(WATCH_COALESCE).await;
            }
            loop {
                let now = state
                    .read(move |c| {
                        let status = executions::by_id(c, id)?.map(|e| e.status);
                        Ok((status, executions::last_event_id(c, id)?))
                    })
                    .await;
                let (status, last) = match now {
                    Ok((Some(st), last)) => (st, last),
                    _ => return None,
                };
                let current = Some((status.clone(), last));
                if current != seen {
                    let ended = status != "RUNNING";
                    let ev = Event::default()
                        .event("update")
                        .data(json!({"status": status, "lastEventId": last}).to_string());
                    return Some((Ok::<_, Infallible>(ev), (state, commits, current, ended)));
                }
                if !next_commit_of(&mut commits, id).await {
                    return None;
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The least time between two updates of one watch: a busy execution (a big Map) commits far
/// more often than a page can redraw.
const WATCH_COALESCE: Duration = Duration::from_millis(100);

/// Waits until execution `id` commits again (or the receiver lagged, or a safety interval
/// passed: re-reading then is harmless); `false` once the engine is gone.
async fn next_commit_of(commits: &mut tokio::sync::broadcast::Receiver<i64>, id: i64) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    let wait = async {
        loop {
            match commits.recv().await {
                Ok(x) if x == id => return true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or(true)
}

/// The waiting task's state and input from its stored task call.
fn call_parts(call: &str) -> (String, Value, String) {
    let v: Value = serde_json::from_str(call).unwrap_or(Value::Null);
    (
        v.get("state_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        v.get("input").cloned().unwrap_or(Value::Null),
        v.get("resource")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

/// `GET /console/api/approvals`: the tenant's tasks waiting on a `.waitForTaskToken` token.
pub async fn approvals(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
) -> Response {
    let t = s.caller.tenant_id;
    respond(
        state
            .read(move |c| {
                let mut out = Vec::new();
                for p in approvals::pending(c, t, 500)? {
                    let (name, input, resource) = call_parts(&p.call);
                    // When the task's state was entered: the newest matching event.
                    let entered = executions::history(c, p.execution_id, i64::MAX, 200, true)?
                        .into_iter()
                        .find(|e| {
                            e.get("type")
                                .and_then(Value::as_str)
                                .is_some_and(|t| t.ends_with("StateEntered"))
                                && overlay::named_state(e) == Some(name.as_str())
                        })
                        .and_then(|e| wire(e).get("timestamp").cloned());
                    out.push(json!({
                        "taskToken": p.token,
                        "executionArn": p.execution_arn,
                        "executionName": p.execution_name,
                        "stateMachineArn": p.state_machine_arn,
                        "stateName": name,
                        "resource": resource,
                        "input": input.to_string(),
                        "enteredDate": entered.unwrap_or_else(|| epoch(p.execution_start_ms)),
                    }));
                }
                Ok(json!({ "approvals": out }))
            })
            .await,
    )
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "executionArn": d.execution_arn,
        "stateName": d.state_name,
        "decision": d.decision,
        "comment": d.comment,
        "actor": d.actor,
        "output": d.output,
        "error": d.error,
        "cause": d.cause,
        "decidedDate": epoch(d.decided_ms),
    })
}

fn already_decided(d: &Decision) -> ApiError {
    let verb = if d.decision == "APPROVED" {
        "approved"
    } else {
        "rejected"
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "TaskAlreadyDecided",
        format!("This task was already {verb} by {} ", d.actor)
            .trim_end()
            .to_string(),
    )
    .with("decision", decision_json(d))
}

/// `POST /console/api/approvals/decide {taskToken, decision: "approve"|"reject", comment,
/// output?, error?, cause?}`. The decision is recorded first (its key refuses a second one:
/// HTTP 409), then the task is completed through SendTaskSuccess / SendTaskFailure; if that
/// fails the record is withdrawn.
pub async fn decide(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    body: Bytes,
) -> Response {
    respond(decide_inner(state, &s, &body).await)
}

async fn decide_inner(state: AppState, s: &Session, body: &[u8]) -> ApiResult<Value> {
    let mut p = Params::parse(body)?;
    let token = p.req_str("taskToken", 1, 2048, false)?;
    let choice = p.req_str("decision", 1, 16, false)?;
    let comment = p.req_str("comment", 1, 4096, false)?;
    let output = p.opt_str("output", 0, 262_144, true)?;
    let error = p.opt_str("error", 0, 256, true)?;
    let cause = p.opt_str("cause", 0, 32_768, true)?;
    p.finish()?;
    if comment.trim().is_empty() {
        return Err(ApiError::validation("A comment is required"));
    }
    let approve = match choice.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::validation("'decision' must be approve or reject")),
    };
    let output = output
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| "{}".into());
    if approve && serde_json::from_str::<Value>(&output).is_err() {
        return Err(ApiError::client(
            "InvalidOutput",
            "The output is not valid JSON",
        ));
    }
    let t = s.caller.tenant_id;
    let tok = token.clone();
    let (waiting, earlier) = state
        .read(move |c| Ok((approvals::waiting(c, t, &tok)?, approvals::get(c, t, &tok)?)))
        .await?;
    if let Some(d) = earlier {
        return Err(already_decided(&d));
    }
    let Some(w) = waiting else {
        return Err(ApiError::client("TaskDoesNotExist", "Task Does Not Exist"));
    };
    let (state_name, _, _) = call_parts(&w.call);
    let d = Decision {
        tenant_id: t,
        token: token.clone(),
        execution_arn: w.execution_arn,
        state_name,
        decision: if approve { "APPROVED" } else { "REJECTED" }.into(),
        comment,
        actor: s.access_key.clone(),
        output: approve.then(|| output.clone()),
        error: if approve { None } else { error.clone() },
        cause: if approve { None } else { cause.clone() },
        decided_ms: chrono::Utc::now().timestamp_millis(),
    };
    let rec = d.clone();
    let recorded = state.write(move |c| approvals::record(c, &rec)).await;
    if recorded.is_err() {
        // Another decision got there first.
        let tok = token.clone();
        if let Some(first) = state.read(move |c| approvals::get(c, t, &tok)).await? {
            return Err(already_decided(&first));
        }
        recorded?;
    }
    let mut params = serde_json::Map::new();
    params.insert("taskToken".into(), json!(token));
    let action = if approve {
        params.insert("output".into(), json!(output));
        "SendTaskSuccess"
    } else {
        params.insert(
            "error".into(),
            json!(error.unwrap_or_else(|| "Rejected".into())),
        );
        if let Some(c) = cause {
            params.insert("cause".into(), json!(c));
        }
        "SendTaskFailure"
    };
    let ctx = ctx(state.clone(), s);
    if let Err(e) = sfn::dispatch(&ctx, action, Params::from_map(params)).await {
        let tok = token.clone();
        state
            .write(move |c| approvals::withdraw(c, t, &tok))
            .await?;
        return Err(e);
    }
    tracing::info!(actor = %d.actor, decision = %d.decision, execution = %d.execution_arn, "approval decided");
    Ok(json!({ "decision": decision_json(&d) }))
}

/// `GET /console/api/audit?executionArn`: decisions, newest first.
pub async fn audit(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let t = s.caller.tenant_id;
    let arn = text(&q, "executionArn").map(str::to_string);
    respond(
        state
            .read(move |c| {
                let rows = approvals::list(c, t, arn.as_deref(), 500)?;
                Ok(json!({ "decisions": rows.iter().map(decision_json).collect::<Vec<_>>() }))
            })
            .await,
    )
}

/// `GET /console/api/usage?days=N` (default 30): metered usage per UTC day, oldest first.
pub async fn usage(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let r = async {
        let days = int(&q, "days", 30, 1, 3660)?;
        let today = sandflow_store::usage::day_of(chrono::Utc::now().timestamp_millis());
        let rows = state
            .engine()
            .usage(s.caller.tenant_id, today - days + 1)
            .await
            .map_err(sfn::engine_error)?;
        let rows: Vec<Value> = rows
            .iter()
            .map(|u| {
                let date = chrono::NaiveDate::default() + chrono::TimeDelta::days(u.day);
                json!({
                    "date": date.to_string(),
                    "transitions": u.transitions,
                    "taskInvocations": u.task_invocations,
                    "fuel": u.fuel,
                    "taskWallMs": u.task_wall_ms,
                })
            })
            .collect();
        Ok(json!({ "days": rows }))
    }
    .await;
    respond(r)
}

/// `GET /console/api/functions`: the tenant's WASM functions (limits, grants) with their five
/// latest invocations.
pub async fn functions(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
) -> Response {
    let t = s.caller.tenant_id;
    respond(
        state
            .read(move |c| {
                let mut out = Vec::new();
                for f in fns::list(c, t, None, 1000)? {
                    let recent = invocations::recent(c, t, &f.name, 5)?;
                    out.push(json!({
                        "functionName": f.name,
                        "functionArn": f.arn,
                        "abi": f.abi,
                        "codeSize": f.code_size,
                        "codeSha256": f.sha256,
                        "memoryMiB": f.memory_mib,
                        "timeoutSeconds": f.timeout_s,
                        "grants": serde_json::from_str::<Value>(&f.grants).unwrap_or(Value::Null),
                        "lastModified": epoch(f.updated_ms),
                        "recentInvocations": recent.iter().map(invocation_json).collect::<Vec<_>>(),
                    }));
                }
                Ok(json!({ "functions": out }))
            })
            .await,
    )
}

/// `GET /console/api/invocations?executionArn[&eventId]`: the function invocations (with the
/// guests' logs) an execution made, oldest first; those of one task's scheduled event if given.
pub async fn invocations(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let (arn, event) = (text(&q, "executionArn"), text(&q, "eventId"));
    respond(logs::of_execution(&state, s.caller.tenant_id, arn, event).await)
}

/// `GET /console/api/topics`: the tenant's SNS topics with their subscriptions.
pub async fn topics(State(state): State<AppState>, Extension(s): Extension<Session>) -> Response {
    let (t, region, account) = (
        s.caller.tenant_id,
        s.caller.region.clone(),
        s.caller.account.clone(),
    );
    respond(
        state
            .read(move |c| {
                let mut out = Vec::new();
                for topic in sandflow_store::topics::list_topics(c, t, 0, 1000)? {
                    let subs =
                        sandflow_store::topics::list_subscriptions(c, t, Some(topic.id), 0, 1000)?;
                    out.push(json!({
                        "name": topic.name,
                        "topicArn": format!("arn:aws:sns:{region}:{account}:{}", topic.name),
                        "subscriptions": subs.iter().map(|s| json!({
                            "protocol": s.protocol,
                            "endpoint": s.endpoint,
                            "pendingConfirmation": s.pending_confirmation,
                        })).collect::<Vec<_>>(),
                    }));
                }
                Ok(json!({ "topics": out }))
            })
            .await,
    )
}

/// `GET /console/api/outbox?topic=ARN`: the latest 50 messages with their deliveries.
pub async fn outbox(
    State(state): State<AppState>,
    Extension(s): Extension<Session>,
    Query(q): Q,
) -> Response {
    let topic = text(&q, "topic").map(str::to_string);
    respond(crate::api::sns::outbox_of(&state, s.caller.tenant_id, topic, 50).await)
}
