//! Tenants' WASM functions: upload (compile once, store the code), settings, and invocation
//! through sandflow-runtime with each function's limits and grants. Every invocation is
//! recorded with its outcome, cost and logs, and metered (fuel, wall time). This is the
//! [`Functions`] the server gives the engine, and what the Lambda API's Invoke calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandflow_core::Failure;
use sandflow_core::lambda::FunctionResult;
use sandflow_runtime::{Abi, Artifact, Grants, Invocation, Limits, Outcome, Report, Runtime};
use sandflow_store::Store;
use sandflow_store::functions::{self, Function};
use sandflow_store::invocations;
use sandflow_store::usage::{self, Usage};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::quotas::QuotaOverrides;
use crate::tasks::{BoxFuture, Caller, FunctionInvocation, Functions, Origin};

/// Invocations kept per function (older ones are pruned).
const KEPT_INVOCATIONS: usize = 1000;

/// What a function's `config` column holds besides its limits and grants: Lambda's
/// descriptive fields, and the fuel budget (none = the runtime's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

impl FunctionConfig {
    pub fn of(f: &Function) -> FunctionConfig {
        serde_json::from_str(&f.config).unwrap_or_default()
    }
}

/// Why a function could not be run or stored.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The code was refused at upload (not wasm, invalid, wrong shape).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] sandflow_store::Error),
    #[error("{0}")]
    Runtime(String),
    /// The tenant is at its task concurrency or fuel-rate quota (Lambda: TooManyRequests).
    #[error("{0}")]
    Throttled(String),
}

/// Per-tenant limits on task work; generous by default, as AWS's account quotas are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskQuotas {
    /// Invocations running at once per tenant (Lambda's default account concurrency: 1,000).
    pub concurrency: usize,
    /// Fuel a tenant may burn per second on average, and as a burst; `None`: unlimited.
    pub fuel_per_second: Option<(f64, f64)>,
}

impl Default for TaskQuotas {
    fn default() -> Self {
        TaskQuotas {
            concurrency: 1000,
            fuel_per_second: None,
        }
    }
}

/// One tenant's running invocations and fuel bucket.
#[derive(Debug)]
struct Gate {
    running: usize,
    fuel_tokens: f64,
    refilled: std::time::Instant,
}

/// Gives a running invocation's concurrency slot back.
struct Slot {
    gates: Arc<Mutex<HashMap<i64, Gate>>>,
    tenant: i64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = gates.get_mut(&self.tenant) {
            g.running = g.running.saturating_sub(1);
        }
    }
}

/// Counters since the process started (for `/metrics`).
#[derive(Debug, Default)]
pub struct FunctionStats {
    pub invocations: AtomicU64,
    /// Invocations that did not succeed (guest errors, timeouts, traps).
    pub failures: AtomicU64,
    pub fuel: AtomicU64,
}

/// Runs tenants' functions in the WASM runtime.
#[derive(Clone)]
pub struct WasmFunctions {
    runtime: Runtime,
    store: Store,
    clock: Arc<dyn Clock>,
    stats: Arc<FunctionStats>,
    quotas: TaskQuotas,
    /// Per-tenant overrides of `quotas`, once the engine shares them ([`Self::use_overrides`]).
    overrides: Arc<std::sync::OnceLock<Arc<QuotaOverrides>>>,
    gates: Arc<Mutex<HashMap<i64, Gate>>>,
}

impl std::fmt::Debug for WasmFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmFunctions")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl WasmFunctions {
    pub fn new(runtime: Runtime, store: Store, clock: Arc<dyn Clock>) -> WasmFunctions {
        WasmFunctions {
            runtime,
            store,
            clock,
            stats: Arc::default(),
            quotas: TaskQuotas::default(),
            overrides: Arc::default(),
            gates: Arc::default(),
        }
    }

    /// Applies the tenants' quota overrides (the engine's) from now on, in every clone.
    pub fn use_overrides(&self, overrides: Arc<QuotaOverrides>) {
        let _ = self.overrides.set(overrides);
    }

    /// The tenant's task quotas: the server's, with the tenant's overrides.
    fn quotas_of(&self, tenant: i64) -> TaskQuotas {
        let Some(o) = self.overrides.get().map(|q| q.get(tenant)) else {
            return self.quotas;
        };
        let base = self.quotas.fuel_per_second;
        let fuel = match (o.fuel_per_second, base) {
            (Some(rate), _) => Some((
                rate,
                o.fuel_burst.unwrap_or(base.map_or(rate * 10.0, |(_, b)| b)),
            )),
            (None, Some((rate, burst))) => Some((rate, o.fuel_burst.unwrap_or(burst))),
            (None, None) => None,
        };
        TaskQuotas {
            concurrency: o
                .task_concurrency
                .map_or(self.quotas.concurrency, |n| n as usize),
            fuel_per_second: fuel,
        }
    }

    pub fn with_quotas(mut self, quotas: TaskQuotas) -> WasmFunctions {
        self.quotas = quotas;
        self
    }

    /// A concurrency slot for one of the tenant's invocations, unless it is at a quota.
    fn admit(&self, tenant: i64) -> Result<Slot, WasmError> {
        let quotas = self.quotas_of(tenant);
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let burst = quotas.fuel_per_second.map_or(0.0, |(_, b)| b);
        let g = gates.entry(tenant).or_insert(Gate {
            running: 0,
            fuel_tokens: burst,
            refilled: now,
        });
        if g.running >= quotas.concurrency {
            return Err(WasmError::Throttled(format!(
                "Rate Exceeded: the tenant already runs {} tasks at once, its concurrency quota.",
                g.running
            )));
        }
        if let Some((rate, burst)) = quotas.fuel_per_second {
            let elapsed = now.duration_since(g.refilled).as_secs_f64();
            g.fuel_tokens = (g.fuel_tokens + elapsed * rate).min(burst);
            g.refilled = now;
            if g.fuel_tokens <= 0.0 {
                return Err(WasmError::Throttled(format!(
                    "Rate Exceeded: the tenant used its fuel quota ({rate} fuel/s); try again later."
                )));
            }
        }
        g.running += 1;
        Ok(Slot {
            gates: self.gates.clone(),
            tenant,
        })
    }

    /// Takes what an invocation burned out of the tenant's fuel bucket (it may go below zero:
    /// the next invocations wait until it refills).
    fn charge(&self, tenant: i64, fuel: u64) {
        if self.quotas_of(tenant).fuel_per_second.is_none() {
            return;
        }
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = gates.get_mut(&tenant) {
            g.fuel_tokens -= fuel as f64;
        }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn stats(&self) -> &FunctionStats {
        &self.stats
    }

    /// Validates and compiles `wasm`; refuses what is not a task with the runtime's reason.
    pub async fn compile(&self, wasm: &[u8]) -> Result<Artifact, WasmError> {
        self.runtime.upload(wasm).await.map_err(|e| match e {
            sandflow_runtime::Error::Internal(m) => WasmError::Runtime(m),
            other => WasmError::Refused(other.to_string()),
        })
    }

    /// The limits a function runs with: its own, the runtime's default fuel unless it set
    /// one, and never longer than the Task's `TimeoutSeconds`.
    pub fn limits(&self, f: &Function, task_timeout: Option<u64>) -> Limits {
        let defaults = self.runtime.config().defaults;
        Limits {
            fuel: FunctionConfig::of(f).fuel.unwrap_or(defaults.fuel),
            timeout: Duration::from_secs(f.timeout_s.max(1) as u64),
            memory_mib: f.memory_mib.clamp(1, u32::MAX as i64) as u32,
            ..defaults
        }
        .with_task_timeout(task_timeout.map(Duration::from_secs))
    }

    /// Runs the tenant's function `name` once, records the invocation and meters it. `None`
    /// when the tenant has no such function.
    pub async fn run(
        &self,
        caller: &Caller,
        name: &str,
        payload: String,
        task_timeout: Option<u64>,
        origin: Option<Origin>,
    ) -> Result<Option<Report>, WasmError> {
        let (tenant, fname) = (caller.tenant_id, name.to_string());
        let store = self.store.clone();
        let found =
            tokio::task::spawn_blocking(move || store.read(|c| functions::get(c, tenant, &fname)))
                .await
                .map_err(|e| WasmError::Runtime(e.to_string()))??;
        let Some(f) = found else {
            return Ok(None);
        };
        let grants: Grants = serde_json::from_str(&f.grants)
            .map_err(|e| WasmError::Runtime(format!("stored grants of {}: {e}", f.name)))?;
        let invocation = Invocation {
            tenant: tenant.to_string(),
            input: payload,
            limits: self.limits(&f, task_timeout),
            grants: Arc::new(grants),
        };
        let slot = self.admit(tenant)?;
        let started_ms = self.clock.now().timestamp_millis();
        let report = match self.runtime.invoke(&f.sha256, invocation.clone()).await {
            // The artifact is gone (another data directory, a wasmtime upgrade): rebuild it
            // from the stored code.
            Err(sandflow_runtime::Error::Unknown(_)) => {
                self.recompile(&f).await?;
                self.runtime.invoke(&f.sha256, invocation).await
            }
            other => other,
        };
        let report = match report {
            Ok(r) => r,
            // The payload is not JSON: Lambda runs the function anyway and it fails to
            // parse its event; the same error name and a clear cause here.
            Err(sandflow_runtime::Error::BadInput(e)) => Report {
                outcome: Outcome::Failed {
                    error: "Runtime.InvalidPayload".into(),
                    cause: format!("the payload is not JSON: {e}"),
                },
                fuel_used: 0,
                elapsed: Duration::ZERO,
                logs: Vec::new(),
                stderr: String::new(),
            },
            Err(e) => return Err(WasmError::Runtime(e.to_string())),
        };
        drop(slot);
        self.charge(tenant, report.fuel_used);
        self.record(&f, started_ms, &report, origin);
        Ok(Some(report))
    }

    async fn recompile(&self, f: &Function) -> Result<(), WasmError> {
        let (tenant, name) = (f.tenant_id, f.name.clone());
        let store = self.store.clone();
        let code =
            tokio::task::spawn_blocking(move || store.read(|c| functions::code(c, tenant, &name)))
                .await
                .map_err(|e| WasmError::Runtime(e.to_string()))??
                .ok_or_else(|| WasmError::Runtime(format!("function {} has no code", f.name)))?;
        self.compile(&code).await.map(drop)
    }

    /// Writes the invocation row and the usage in the next group commit, without waiting.
    fn record(&self, f: &Function, started_ms: i64, report: &Report, origin: Option<Origin>) {
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        self.stats
            .fuel
            .fetch_add(report.fuel_used, Ordering::Relaxed);
        if report.outcome.output().is_none() {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        let (status, error, cause) = match &report.outcome {
            Outcome::Succeeded { .. } => ("SUCCEEDED", None, None),
            Outcome::Failed { error, cause } => {
                ("FAILED", Some(error.clone()), Some(cause.clone()))
            }
            Outcome::Timeout { cause } => ("TIMED_OUT", None, Some(cause.clone())),
            Outcome::Trap { cause } => ("TRAPPED", None, Some(cause.clone())),
        };
        let error = error.or_else(|| report.outcome.error().map(|(e, _)| e.to_string()));
        let direct = origin.is_none();
        let (execution_arn, task_id, state_name, event_id) = match origin {
            Some(o) => (
                Some(o.execution_arn),
                Some(o.task as i64),
                Some(o.state_name),
                Some(o.event_id as i64),
            ),
            None => (None, None, None, None),
        };
        let row = invocations::Invocation {
            id: 0,
            tenant_id: f.tenant_id,
            function_name: f.name.clone(),
            execution_arn,
            task_id,
            state_name,
            event_id,
            started_ms,
            elapsed_us: report.elapsed.as_micros().min(i64::MAX as u128) as i64,
            fuel: report.fuel_used.min(i64::MAX as u64) as i64,
            status: status.into(),
            error,
            cause,
            logs: log_text(report),
        };
        let metered = Usage {
            day: usage::day_of(started_ms),
            transitions: 0,
            // Tasks of an execution are counted when scheduled; a direct Invoke counts here.
            task_invocations: direct as i64,
            fuel: row.fuel,
            task_wall_ms: (row.elapsed_us + 999) / 1000,
        };
        self.store.write_with(
            move |c| {
                let id = invocations::record(c, &row)?;
                if id % 64 == 0 {
                    invocations::prune(c, row.tenant_id, &row.function_name, KEPT_INVOCATIONS)?;
                }
                usage::add(c, row.tenant_id, &metered)
            },
            |r| {
                if let Err(e) = r {
                    tracing::error!(error = %e, "recording an invocation failed");
                }
            },
        );
    }
}

/// The guest's log lines, then its stderr.
pub fn log_text(report: &Report) -> String {
    let mut out = String::new();
    for l in &report.logs {
        out.push_str(&format!("[{}] {}\n", l.level, l.message));
    }
    if !report.stderr.is_empty() {
        out.push_str(&report.stderr);
        if !report.stderr.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The runtime's ABI as stored and shown.
pub fn abi_name(abi: Abi) -> &'static str {
    match abi {
        Abi::Task => "task",
        Abi::CommandComponent => "command-component",
        Abi::CommandModule => "command-module",
    }
}

impl Functions for WasmFunctions {
    fn invoke(
        &self,
        caller: &Caller,
        function: &str,
        payload: String,
        timeout_seconds: Option<u64>,
        origin: Option<Origin>,
    ) -> BoxFuture<FunctionInvocation> {
        let (this, caller, function) = (self.clone(), caller.clone(), function.to_string());
        Box::pin(async move {
            match this
                .run(&caller, &function, payload, timeout_seconds, origin)
                .await
            {
                Ok(None) => FunctionInvocation::Done(FunctionResult::NotFound),
                Ok(Some(report)) => match report.outcome {
                    Outcome::Succeeded { output } => {
                        FunctionInvocation::Done(FunctionResult::Returned(output))
                    }
                    other => {
                        let (error, cause) = other.error().unwrap_or_default();
                        FunctionInvocation::Failed(Failure::new(error, cause))
                    }
                },
                Err(WasmError::Throttled(m)) => {
                    FunctionInvocation::Failed(Failure::new("Lambda.TooManyRequestsException", m))
                }
                Err(e) => {
                    tracing::error!(function, error = %e, "a function could not run");
                    FunctionInvocation::Failed(Failure::new(
                        "Lambda.ServiceException",
                        format!("the function could not run: {e}"),
                    ))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use sandflow_core::parse::MachineType;
    use sandflow_runtime::RuntimeConfig;
    use sandflow_runtime::services::{MemoryKv, MemoryQueues};
    use serde_json::json;

    use super::*;
    use crate::{Config, Engine, ManualClock, StartRequest};

    const ACCOUNT: &str = "000000000001";

    /// A WASI command that prints `out`, then runs `body` (e.g. a loop).
    fn command(out: &str, body: &str) -> Vec<u8> {
        let escaped: String = out.bytes().map(|b| format!("\\{b:02x}")).collect();
        wat::parse_str(format!(
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (data (i32.const 64) "{escaped}")
                (func (export "_start")
                    (i32.store (i32.const 0) (i32.const 64))
                    (i32.store (i32.const 4) (i32.const {len}))
                    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                    {body}))"#,
            len = out.len()
        ))
        .unwrap()
    }

    fn runtime() -> Runtime {
        let config = RuntimeConfig {
            max_concurrent: 4,
            max_memory_mib: 64,
            pooling: false,
            ..RuntimeConfig::default()
        };
        Runtime::new(
            config,
            Arc::new(MemoryKv::default()),
            Arc::new(MemoryQueues::default()),
        )
        .unwrap()
    }

    async fn add(fns: &WasmFunctions, store: &Store, name: &str, wasm: &[u8], config: Value) {
        let artifact = fns.compile(wasm).await.unwrap();
        let f = Function {
            tenant_id: 1,
            name: name.into(),
            arn: format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"),
            abi: abi_name(artifact.abi).into(),
            sha256: artifact.sha256,
            code_size: wasm.len() as i64,
            memory_mib: 16,
            timeout_s: 5,
            grants: "{}".into(),
            config: config.to_string(),
            revision_id: "r".into(),
            created_ms: 0,
            updated_ms: 0,
        };
        let code = wasm.to_vec();
        store
            .write(move |c| functions::insert(c, &f, &code))
            .unwrap();
    }

    use serde_json::Value;

    fn caller() -> Caller {
        Caller {
            tenant_id: 1,
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
        }
    }

    fn one_task(resource: &str, name: &str) -> StartRequest {
        let definition = json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource, "End": true}}});
        StartRequest {
            caller: caller(),
            state_machine_arn: format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:sm"),
            state_machine_name: "sm".into(),
            machine_type: MachineType::Standard,
            definition: definition.to_string(),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/r"),
            name: name.into(),
            input: "{}".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lambda_tasks_run_wasm_and_are_recorded_and_metered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store
            .write(|c| sandflow_store::tenants::create(c, "t", ACCOUNT, 0).map(drop))
            .unwrap();
        let clock = Arc::new(ManualClock::new(
            DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        let fns = WasmFunctions::new(runtime(), store.clone(), clock.clone());
        add(
            &fns,
            &store,
            "fixed",
            &command(r#"{"ok":true}"#, ""),
            json!({}),
        )
        .await;
        let spin = command("", "(loop $l (br $l))");
        add(&fns, &store, "spin", &spin, json!({"fuel": 1_000_000})).await;
        let engine = Engine::start(
            store.clone(),
            Arc::new(fns.clone()),
            Arc::new(crate::NoServices),
            clock,
            Config::default(),
        )
        .await
        .unwrap();
        let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:");

        let ok = engine
            .start_execution(one_task(&format!("{arn}fixed"), "ok"))
            .await
            .unwrap();
        let done = engine.wait(1, &ok.execution_arn).await.unwrap();
        assert_eq!(
            (done.status.as_str(), done.output.as_deref()),
            ("SUCCEEDED", Some(r#"{"ok":true}"#))
        );

        let spun = engine
            .start_execution(one_task(&format!("{arn}spin"), "spin"))
            .await
            .unwrap();
        let done = engine.wait(1, &spun.execution_arn).await.unwrap();
        assert_eq!(done.error.as_deref(), Some("States.Timeout"));
        assert!(done.cause.unwrap().contains("1000000 fuel"));

        // Another account's function does not exist for this tenant, whatever its name.
        let other = "arn:aws:lambda:us-east-1:999999999999:function:fixed";
        let foreign = engine
            .start_execution(one_task(other, "foreign"))
            .await
            .unwrap();
        let done = engine.wait(1, &foreign.execution_arn).await.unwrap();
        assert_eq!(
            done.error.as_deref(),
            Some("Lambda.ResourceNotFoundException")
        );

        // The invocation rows land in the group commit after the outcome; poll briefly.
        let ok_arn = ok.execution_arn.clone();
        let mut rows = Vec::new();
        for _ in 0..100 {
            let a = ok_arn.clone();
            rows = store
                .read(|c| invocations::of_execution(c, 1, &a, None))
                .unwrap();
            if !rows.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "SUCCEEDED");
        assert!(rows[0].task_id.is_some());
        // Filed under the LambdaFunctionScheduled event (ExecutionStarted, TaskStateEntered, …).
        assert_eq!(rows[0].event_id, Some(3));
        assert_eq!(rows[0].state_name.as_deref(), Some("T"));
        assert!(rows[0].fuel > 0);
        let spins = store
            .read(|c| invocations::recent(c, 1, "spin", 5))
            .unwrap();
        assert_eq!(spins[0].status, "TIMED_OUT");
        assert_eq!(spins[0].error.as_deref(), Some("States.Timeout"));
        let usage = store.read(|c| usage::since(c, 1, 0)).unwrap();
        assert!(usage[0].fuel >= 1_000_000, "{usage:?}");

        // A runtime that never compiled the code (new server, wasmtime upgrade) rebuilds the
        // artifact from the stored code.
        let fresh = WasmFunctions::new(runtime(), store.clone(), Arc::new(crate::SystemClock));
        let report = fresh
            .run(&caller(), "fixed", "{}".into(), None, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.outcome.output(), Some(r#"{"ok":true}"#));
        assert!(
            fresh
                .run(&caller(), "missing", "{}".into(), None, None)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_are_throttled_at_their_concurrency_and_fuel_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store
            .write(|c| sandflow_store::tenants::create(c, "t", ACCOUNT, 0).map(drop))
            .unwrap();
        let fns = WasmFunctions::new(runtime(), store.clone(), Arc::new(crate::SystemClock))
            .with_quotas(TaskQuotas {
                concurrency: 1,
                fuel_per_second: Some((1.0, 1.0)),
            });
        add(&fns, &store, "fixed", &command("{}", ""), json!({})).await;
        // One slot: a second invocation while one runs is refused at once.
        let held = fns.admit(1).unwrap();
        let e = fns
            .run(&caller(), "fixed", "{}".into(), None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WasmError::Throttled(m) if m.contains("concurrency")),
            "{e}"
        );
        drop(held);
        // The bucket holds one fuel: the first run overdraws it, the next waits for a refill.
        let first = fns.run(&caller(), "fixed", "{}".into(), None, None).await;
        assert!(first.unwrap().unwrap().fuel_used > 1);
        let e = fns
            .run(&caller(), "fixed", "{}".into(), None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WasmError::Throttled(m) if m.contains("fuel")),
            "{e}"
        );
        // Other tenants have buckets of their own.
        assert!(fns.admit(2).is_ok());
        // As a task it is Lambda's throttling error, which Retry can catch.
        let invoked = fns
            .invoke(&caller(), "fixed", "{}".into(), None, None)
            .await;
        assert_eq!(
            invoked,
            FunctionInvocation::Failed(Failure::new(
                "Lambda.TooManyRequestsException",
                match e {
                    WasmError::Throttled(m) => m,
                    _ => unreachable!(),
                }
            ))
        );

        // A tenant's overrides lift its own quotas: two slots, and no fuel limit but its own.
        let overrides = Arc::new(QuotaOverrides::default());
        let plan = sandflow_store::tenant_quotas::Overrides {
            task_concurrency: Some(2),
            fuel_per_second: Some(1e12),
            ..Default::default()
        };
        store
            .write(move |c| sandflow_store::tenant_quotas::set(c, 1, &plan))
            .unwrap();
        overrides.reload(&store).unwrap();
        fns.use_overrides(overrides);
        let held = fns.admit(1).unwrap();
        assert!(fns.admit(1).is_ok(), "a second slot");
        drop(held);
        assert_eq!(fns.quotas_of(2).concurrency, 1, "others keep the server's");
    }

    #[test]
    fn limits_come_from_the_function_and_the_task_timeout_caps_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let fns = WasmFunctions::new(runtime(), store, Arc::new(crate::SystemClock));
        let mut f = Function {
            tenant_id: 1,
            name: "f".into(),
            arn: String::new(),
            abi: "task".into(),
            sha256: String::new(),
            code_size: 0,
            memory_mib: 256,
            timeout_s: 30,
            grants: "{}".into(),
            config: "{}".into(),
            revision_id: String::new(),
            created_ms: 0,
            updated_ms: 0,
        };
        let l = fns.limits(&f, None);
        assert_eq!(
            (l.memory_mib, l.timeout, l.fuel),
            (
                256,
                Duration::from_secs(30),
                fns.runtime().config().defaults.fuel
            )
        );
        f.config = r#"{"fuel":5}"#.into();
        let l = fns.limits(&f, Some(2));
        assert_eq!((l.fuel, l.timeout), (5, Duration::from_secs(2)));
    }
}
