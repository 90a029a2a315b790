//! The AWS-compatible HTTP endpoint: `router(AppState) -> Router` for `sandflow serve` and for
//! tests (`oneshot`). `POST /` is Step Functions (AWS JSON 1.0, `X-Amz-Target`), SigV4-verified
//! by [`auth`]; `GET /health` and `GET /metrics` are open.

pub mod auth;
pub mod builtin;
pub mod dynamodb;
pub mod errors;
pub mod events;
pub mod lambda;
pub mod logs;
pub mod metrics;
pub mod params;
pub mod sfn;
pub mod sns;
pub mod sns_delivery;
pub mod sqs;
#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use sandflow_engine::{Caller, Engine, SystemClock, WasmFunctions};
use sandflow_runtime::services::KvStore;
use sandflow_runtime::{Runtime, RuntimeConfig};
use sandflow_store::{Connection, Store};
use tokio::sync::oneshot;

use crate::tenancy::{self, Sealer};
use errors::{ApiError, ApiResult};

/// Step Functions requests: AWS's 1 MB request quota, plus room for the JSON around a
/// maximal (1,048,576-character) definition.
pub const SFN_BODY_LIMIT: usize = 1024 * 1024 + 64 * 1024;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    functions: WasmFunctions,
    /// The guests' KV tables (the built-in DynamoDB tables).
    kv: Arc<dyn KvStore>,
    store: Store,
    sealer: Sealer,
    metrics: metrics::Metrics,
    /// Signed-in console browsers.
    sessions: crate::console::session::Sessions,
    /// Recently verified access keys.
    keys: auth::KeyCache,
    /// Recently read histories, for the console's overlay, state and iteration views.
    histories: crate::console::overlay::HistoryCache,
    dev: bool,
    /// GetActivityTask's long poll (AWS: 60 s).
    activity_poll: Duration,
    sns: Arc<sns::SnsOptions>,
}

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Ensure the `--dev` tenant (account 000000000000, key test/test).
    pub dev: bool,
    pub activity_poll: Duration,
    pub task_quotas: sandflow_engine::TaskQuotas,
    pub sns: sns::SnsOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dev: false,
            activity_poll: Duration::from_secs(60),
            task_quotas: Default::default(),
            sns: sns::SnsOptions::default(),
        }
    }
}

impl AppState {
    /// Opens the data directory (database and secret key) and starts the engine. Must be
    /// called inside a tokio runtime.
    pub async fn open(dir: &Path, opts: &Options) -> Result<AppState, OpenError> {
        let sealer = Sealer::open(dir)?;
        let store = Store::open(&tenancy::db_path(dir))?;
        if opts.dev {
            tenancy::ensure_dev(&store, &sealer)?;
        }
        let builtin = Arc::new(builtin::BuiltinServices::new(store.clone(), sealer.clone()));
        let kv: Arc<dyn KvStore> = builtin.clone();
        let runtime = Runtime::new(
            RuntimeConfig {
                artifact_dir: Some(dir.join("artifacts")),
                ..RuntimeConfig::default()
            },
            kv.clone(),
            builtin.clone(),
        )?;
        let functions = WasmFunctions::new(runtime, store.clone(), Arc::new(SystemClock))
            .with_quotas(opts.task_quotas);
        let engine = Engine::start(
            store.clone(),
            Arc::new(functions.clone()),
            builtin,
            Arc::new(SystemClock),
            sandflow_engine::Config::default(),
        )
        .await?;
        functions.use_overrides(engine.quota_overrides());
        let sns = Arc::new(opts.sns.clone());
        sns_delivery::spawn(store.clone(), sns.clone());
        Ok(AppState {
            inner: Arc::new(Shared {
                engine,
                functions,
                kv,
                store,
                sealer,
                metrics: metrics::Metrics::default(),
                sessions: Default::default(),
                histories: Default::default(),
                keys: Default::default(),
                dev: opts.dev,
                activity_poll: opts.activity_poll,
                sns,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn functions(&self) -> &WasmFunctions {
        &self.inner.functions
    }

    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.inner.kv
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub fn keys(&self) -> &auth::KeyCache {
        &self.inner.keys
    }

    pub fn histories(&self) -> &crate::console::overlay::HistoryCache {
        &self.inner.histories
    }

    pub fn sessions(&self) -> &crate::console::session::Sessions {
        &self.inner.sessions
    }

    /// Started with `--dev`.
    pub fn dev(&self) -> bool {
        self.inner.dev
    }

    pub fn activity_poll(&self) -> Duration {
        self.inner.activity_poll
    }

    pub fn sns(&self) -> &sns::SnsOptions {
        &self.inner.sns
    }

    /// The request body limit of a path.
    pub fn body_limit(&self, path: &str) -> usize {
        if path.starts_with("/2015-03-31/") {
            lambda::body_limit(path)
        } else {
            SFN_BODY_LIMIT
        }
    }

    /// Runs a query on a read connection, off the async threads.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> ApiResult<R> {
        store_read(&self.inner.store, f).await
    }

    /// Runs a write in the store's next group commit; answers once it committed.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> ApiResult<R> {
        store_write(&self.inner.store, f).await
    }
}

/// Runs a read on a blocking thread.
pub async fn store_read<R: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
) -> ApiResult<R> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.read(f))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Runs a write in the store's next group commit; answers once it committed.
pub async fn store_write<R: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
) -> ApiResult<R> {
    let (tx, rx) = oneshot::channel();
    store.write_with(f, move |r| {
        let _ = tx.send(r);
    });
    rx.await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/", any(root))
        .route("/sandflow/outbox", get(sns::outbox))
        .route("/sandflow/logs", get(logs::handler))
        .merge(lambda::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::verify));
    Router::new()
        .merge(api)
        .merge(crate::console::router(state.clone()))
        .route("/health", get(health))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        // The auth middleware buffers bodies within each route's own limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(crate::console::redirect_root))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// `POST /` serves the AWS JSON APIs, told apart by the `X-Amz-Target` prefix, and SNS's
/// form-encoded query protocol (no target).
async fn root(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(action) = target.strip_prefix(sqs::TARGET_PREFIX) {
        sqs::handle(state, caller, action, &headers, &body).await
    } else if let Some(action) = target.strip_prefix(dynamodb::TARGET_PREFIX) {
        dynamodb::handle(state, caller, action, &body).await
    } else if let Some(action) = target.strip_prefix(events::TARGET_PREFIX) {
        events::handle(state, caller, action, &body).await
    } else if method == axum::http::Method::POST && sns::is_query(&headers) {
        sns::handle(state, caller, &body).await
    } else {
        sfn::handle(State(state), Extension(caller), method, headers, body).await
    }
}

async fn health() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("No API at {} {}", req.method(), req.uri().path()),
    )
}

/// Logs each request and records it in the metrics.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let action = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| {
            [
                sfn::TARGET_PREFIX,
                sqs::TARGET_PREFIX,
                dynamodb::TARGET_PREFIX,
                events::TARGET_PREFIX,
            ]
            .iter()
            .find_map(|p| t.strip_prefix(p))
        })
        .map(str::to_string);
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    let label = action.as_deref().unwrap_or(&path);
    state.metrics().request(label, status, elapsed);
    tracing::info!(%method, %path, action = label, status, micros = elapsed.as_micros() as u64, "request");
    response
}

/// Why a server could not open its data directory or start its engine.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::Error),
    #[error(transparent)]
    Store(#[from] sandflow_store::Error),
    #[error(transparent)]
    Engine(#[from] sandflow_engine::Error),
    #[error("the WASM runtime: {0}")]
    Runtime(#[from] sandflow_runtime::Error),
}
