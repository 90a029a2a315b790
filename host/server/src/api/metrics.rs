//! `GET /metrics` in the Prometheus text format: requests and latency per action and status,
//! executions started, executions by status (from the store, so they survive restarts), and
//! the store's group-commit batch sizes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::errors::ApiError;

#[derive(Debug, Default)]
pub struct Metrics {
    /// (action or path, HTTP status) -> (count, total seconds).
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
    pub executions_started: AtomicU64,
    pub sync_executions: AtomicU64,
}

impl Metrics {
    pub fn request(&self, label: &str, status: u16, elapsed: Duration) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry((label.to_string(), status)).or_default();
        e.0 += 1;
        e.1 += elapsed.as_secs_f64();
    }

    pub fn started(&self, sync: bool) {
        let c = if sync {
            &self.sync_executions
        } else {
            &self.executions_started
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Label values escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn render(State(state): State<AppState>) -> Response {
    let by_status = state
        .read(|c| {
            let mut st = c.prepare("SELECT status, COUNT(*) FROM executions GROUP BY status")?;
            let rows: Vec<(String, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await;
    let by_status = match by_status {
        Ok(rows) => rows,
        Err(e) => return ApiError::into_response(e),
    };
    let m = state.metrics();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP sandflow_requests_total API requests by action and HTTP status."
    );
    let _ = writeln!(out, "# TYPE sandflow_requests_total counter");
    let requests = m.requests.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for ((action, status), (n, _)) in &requests {
        let _ = writeln!(
            out,
            "sandflow_requests_total{{action=\"{}\",status=\"{status}\"}} {n}",
            label(action)
        );
    }
    let _ = writeln!(
        out,
        "# HELP sandflow_request_seconds_sum Time spent answering requests."
    );
    let _ = writeln!(out, "# TYPE sandflow_request_seconds_sum counter");
    for ((action, status), (_, secs)) in &requests {
        let _ = writeln!(
            out,
            "sandflow_request_seconds_sum{{action=\"{}\",status=\"{status}\"}} {secs}",
            label(action)
        );
    }
    let _ = writeln!(
        out,
        "# HELP sandflow_executions_started_total Executions started by StartExecution (this process)."
    );
    let _ = writeln!(out, "# TYPE sandflow_executions_started_total counter");
    let _ = writeln!(
        out,
        "sandflow_executions_started_total{{mode=\"async\"}} {}",
        m.executions_started.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "sandflow_executions_started_total{{mode=\"sync\"}} {}",
        m.sync_executions.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP sandflow_executions Stored (Standard) executions by status."
    );
    let _ = writeln!(out, "# TYPE sandflow_executions gauge");
    for (status, n) in by_status {
        let _ = writeln!(
            out,
            "sandflow_executions{{status=\"{}\"}} {n}",
            label(&status)
        );
    }
    let f = state.functions().stats();
    let _ = writeln!(
        out,
        "# HELP sandflow_task_invocations_total WASM function invocations (this process)."
    );
    let _ = writeln!(out, "# TYPE sandflow_task_invocations_total counter");
    let invocations = f.invocations.load(Ordering::Relaxed);
    let failures = f.failures.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "sandflow_task_invocations_total{{outcome=\"succeeded\"}} {}",
        invocations.saturating_sub(failures)
    );
    let _ = writeln!(
        out,
        "sandflow_task_invocations_total{{outcome=\"failed\"}} {failures}"
    );
    let _ = writeln!(out, "# TYPE sandflow_task_fuel_total counter");
    let _ = writeln!(
        out,
        "sandflow_task_fuel_total {}",
        f.fuel.load(Ordering::Relaxed)
    );
    let stats = state.store().stats();
    let _ = writeln!(
        out,
        "# HELP sandflow_store_commits_total Group commits, and the writes they carried."
    );
    let _ = writeln!(out, "# TYPE sandflow_store_commits_total counter");
    let _ = writeln!(
        out,
        "sandflow_store_commits_total {}",
        stats.batches.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE sandflow_store_writes_total counter");
    let _ = writeln!(
        out,
        "sandflow_store_writes_total {}",
        stats.writes.load(Ordering::Relaxed)
    );
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
