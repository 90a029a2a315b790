//! sandflow-engine: drives executions. Standard executions are durable: every applied event is
//! committed to the store together with the actions it produced (task outbox rows, timer rows)
//! and the execution's new snapshot, before any action runs, so a crash loses nothing and repeats
//! no transition. Express executions run the same interpreter in memory.

pub mod bench;
pub mod clock;
mod express;
mod nested;
pub mod quotas;
pub mod services;
mod standard;
pub mod tasks;
pub mod topics;
pub mod wasm;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use sandflow_core::model::StateMachine;
use sandflow_core::parse::{MachineType, invalid_definition_message, parse_definition};
use sandflow_store::Store;
use tokio::sync::{Notify, oneshot};

pub use clock::{Clock, ManualClock, SystemClock};
pub use services::{NoServices, Services};
pub use tasks::{Caller, FunctionInvocation, Functions, Origin};
pub use wasm::{FunctionConfig, TaskQuotas, WasmError, WasmFunctions};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] sandflow_store::Error),
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    #[error("{0}")]
    InvalidDefinition(String),
    /// No outstanding task has this token.
    #[error("Task Does Not Exist")]
    TaskDoesNotExist,
    #[error("{0}")]
    InvalidOutput(String),
    /// Too many open executions (AWS: ExecutionLimitExceeded).
    #[error("{0}")]
    ExecutionLimitExceeded(String),
    /// Starts arrive faster than the tenant's rate (AWS: ThrottlingException).
    #[error("Rate exceeded")]
    Throttled,
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("unreadable execution state: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone)]
pub struct Config {
    /// Largest state input/output (AWS: 262,144 bytes).
    pub max_payload_bytes: usize,
    /// Longest an Express execution may run (AWS: 5 minutes).
    pub express_max_seconds: i64,
    /// Per-tenant quotas; the defaults are generous (AWS's published quotas or more).
    pub quotas: Quotas,
}

#[derive(Debug, Clone)]
pub struct Quotas {
    /// Open Standard executions per tenant (AWS: 1,000,000).
    pub max_open_executions: u64,
    /// StartExecution / StartSyncExecution token bucket per tenant: refill per second, burst.
    pub starts_per_second: f64,
    pub start_burst: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_payload_bytes: 262_144,
            express_max_seconds: 300,
            quotas: Quotas {
                max_open_executions: 1_000_000,
                starts_per_second: 10_000.0,
                start_burst: 20_000.0,
            },
        }
    }
}

/// StartExecution / StartSyncExecution input, after the API resolved the tenant and machine.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub caller: Caller,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub machine_type: MachineType,
    pub definition: String,
    pub role_arn: String,
    /// The execution name (AWS: 1-80 characters; a UUID when the caller gives none).
    pub name: String,
    /// Input as JSON text.
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub execution_arn: String,
    pub start_ms: i64,
    /// How it ended, when its first step already ended it (a Standard execution of Pass and
    /// Choice states): the caller need not wait or read it back.
    pub finished: Option<Finished>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub execution_arn: String,
    /// AWS spelling: `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: i64,
}

impl Finished {
    /// How `exec`, which has ended, ended, as of `stop`.
    fn of(
        exec: &sandflow_core::interp::Execution,
        stop: chrono::DateTime<chrono::Utc>,
    ) -> Finished {
        let failure = exec.failure();
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Finished {
            execution_arn: exec.info().execution_arn.clone(),
            status: exec.status().as_aws().to_string(),
            output: exec.output().map(|v| v.to_string()),
            error: failure.and_then(|f| non_empty(&f.error)),
            cause: failure.and_then(|f| non_empty(f.cause_str())),
            start_ms: exec.info().start_time.timestamp_millis(),
            stop_ms: stop.timestamp_millis(),
        }
    }
}

/// Cheap to clone; clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    functions: Arc<dyn Functions>,
    services: Arc<dyn Services>,
    clock: Arc<dyn Clock>,
    config: Config,
    machines: Mutex<HashMap<String, Arc<StateMachine>>>,
    /// Serializes event delivery per execution.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    waiters: Mutex<HashMap<i64, Vec<oneshot::Sender<Finished>>>>,
    timers_changed: Notify,
    activity_work: Notify,
    seeds: std::collections::hash_map::RandomState,
    seed_counter: std::sync::atomic::AtomicU64,
    /// Start-rate buckets per tenant: (tokens, last refill).
    start_buckets: Mutex<HashMap<i64, (f64, std::time::Instant)>>,
    /// Express usage not yet written, per (tenant, day); flushed every second.
    express_usage: Mutex<HashMap<(i64, i64), sandflow_store::usage::Usage>>,
    /// The id of each Standard execution as a step of it commits.
    committed: tokio::sync::broadcast::Sender<i64>,
    /// Per-tenant quota overrides.
    overrides: Arc<quotas::QuotaOverrides>,
    /// `.sync` children being waited on: (parent ARN, task) → (tenant, child ARN).
    sync_children: Mutex<HashMap<(String, u64), (i64, String)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store)
            .finish()
    }
}

/// Parsed definitions kept at most; a miss only costs a parse.
const MACHINE_CACHE: usize = 1024;

impl Engine {
    /// Starts the engine on `store`: re-dispatches outstanding tasks of open executions and arms
    /// the timer loop. Must be called inside a tokio runtime.
    pub async fn start(
        store: Store,
        functions: Arc<dyn Functions>,
        services: Arc<dyn Services>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<Engine> {
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                functions,
                services,
                clock,
                config,
                machines: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                waiters: Mutex::new(HashMap::new()),
                timers_changed: Notify::new(),
                activity_work: Notify::new(),
                seeds: std::collections::hash_map::RandomState::new(),
                seed_counter: Default::default(),
                start_buckets: Mutex::new(HashMap::new()),
                express_usage: Mutex::new(HashMap::new()),
                committed: tokio::sync::broadcast::channel(1024).0,
                sync_children: Mutex::new(HashMap::new()),
                overrides: Arc::default(),
            }),
        };
        let (overrides, store) = (engine.inner.overrides.clone(), engine.inner.store.clone());
        tokio::task::spawn_blocking(move || overrides.reload(&store))
            .await
            .map_err(|_| Error::ShuttingDown)??;
        engine.recover().await?;
        tokio::spawn(standard::timer_loop(engine.clone()));
        tokio::spawn(express::usage_flusher(Arc::downgrade(&engine.inner)));
        tokio::spawn(quotas::reloader(Arc::downgrade(&engine.inner)));
        Ok(engine)
    }

    /// The tenant's usage per UTC day since `since_day` (Express usage may lag by a second).
    pub async fn usage(
        &self,
        tenant_id: i64,
        since_day: i64,
    ) -> Result<Vec<sandflow_store::usage::Usage>> {
        self.read(move |c| sandflow_store::usage::since(c, tenant_id, since_day))
            .await
    }

    /// Takes a start token from the tenant's bucket, or says it is throttled.
    fn admit_start(&self, tenant_id: i64) -> Result<()> {
        let (q, o) = (
            &self.inner.config.quotas,
            self.inner.overrides.get(tenant_id),
        );
        let rate = o.starts_per_second.unwrap_or(q.starts_per_second);
        let burst = o.start_burst.unwrap_or(q.start_burst);
        let now = std::time::Instant::now();
        let mut buckets = self.lock(&self.inner.start_buckets);
        let (tokens, last) = buckets.entry(tenant_id).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens < 1.0 {
            return Err(Error::Throttled);
        }
        *tokens -= 1.0;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The tenants' quota overrides, shared with the task runner.
    pub fn quota_overrides(&self) -> Arc<quotas::QuotaOverrides> {
        self.inner.overrides.clone()
    }

    /// Ids of Standard executions as their steps commit: what live views wait on instead of
    /// polling. A slow receiver lags (and should re-read) rather than slow the engine.
    pub fn committed(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.inner.committed.subscribe()
    }

    /// Starts an execution: Standard durably (idempotent by name while running with the same
    /// input, as AWS), Express in memory (returns at once).
    pub async fn start_execution(&self, req: StartRequest) -> Result<Started> {
        self.admit_start(req.caller.tenant_id)?;
        match req.machine_type {
            MachineType::Standard => self.start_standard(req).await,
            MachineType::Express => Ok(self.start_express(req, false).await?.0),
        }
    }

    /// Runs an Express execution to completion and returns how it ended.
    pub async fn start_sync_execution(&self, req: StartRequest) -> Result<Finished> {
        self.admit_start(req.caller.tenant_id)?;
        let (_, done) = self.start_express(req, true).await?;
        done.ok_or(Error::ShuttingDown)?
            .await
            .map_err(|_| Error::ShuttingDown)
    }

    /// Waits until a Standard execution has finished.
    pub async fn wait(&self, tenant_id: i64, execution_arn: &str) -> Result<Finished> {
        let arn = execution_arn.to_string();
        let row = self
            .read(move |c| sandflow_store::executions::get(c, tenant_id, &arn))
            .await?
            .ok_or_else(|| Error::ExecutionDoesNotExist(execution_arn.to_string()))?;
        let id = row.id;
        if let Some(done) = finished(row) {
            return Ok(done);
        }
        let (tx, rx) = oneshot::channel();
        self.lock(&self.inner.waiters)
            .entry(id)
            .or_default()
            .push(tx);
        // It may have finished before the waiter was registered.
        if let Some(done) = self
            .read(move |c| sandflow_store::executions::by_id(c, id))
            .await?
            .and_then(finished)
        {
            return Ok(done);
        }
        rx.await.map_err(|_| Error::ShuttingDown)
    }

    fn machine(&self, definition: &str, ty: MachineType) -> Result<Arc<StateMachine>> {
        if let Some(m) = self.lock(&self.inner.machines).get(definition) {
            return Ok(m.clone());
        }
        let m = Arc::new(
            parse_definition(definition, ty)
                .map_err(|d| Error::InvalidDefinition(invalid_definition_message(&d)))?,
        );
        let mut cache = self.lock(&self.inner.machines);
        if cache.len() >= MACHINE_CACHE {
            cache.clear();
        }
        cache.insert(definition.to_string(), m.clone());
        Ok(m)
    }

    /// A fresh seed for an execution's randomness (UUIDs, tokens, jitter).
    fn seed(&self) -> u64 {
        let n = self
            .inner
            .seed_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut h = self.inner.seeds.build_hasher();
        h.write_u64(n);
        h.write_i64(
            self.inner
                .clock
                .now()
                .timestamp_nanos_opt()
                .unwrap_or_default(),
        );
        h.finish()
    }

    fn lock<'a, T>(&self, m: &'a Mutex<T>) -> std::sync::MutexGuard<'a, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> Result<R> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.read(f))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        self.inner.store.write_with(f, move |r| {
            let _ = tx.send(r);
        });
        rx.await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)
    }
}

/// The final state of a finished execution row.
fn finished(e: sandflow_store::executions::Execution) -> Option<Finished> {
    (e.status != "RUNNING").then(|| Finished {
        execution_arn: e.arn,
        status: e.status,
        output: e.output,
        error: e.error,
        cause: e.cause,
        start_ms: e.start_ms,
        stop_ms: e.stop_ms.unwrap_or(e.start_ms),
    })
}

#[cfg(test)]
mod tests;
