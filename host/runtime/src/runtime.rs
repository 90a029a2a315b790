//! The [`Runtime`]: one wasmtime `Engine` with its limits, the upload path (detect the ABI,
//! compile once, cache) and the invocation path (fresh `Store` per call).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Module, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::artifact::{ArtifactStore, Kind, Loaded};
use crate::bindings::{TaskError, TaskPre};
use crate::config::{Limits, RuntimeConfig};
use crate::grants::Grants;
use crate::host::{FrozenClock, HostState, Shared, Wasi, truncate};
use crate::outcome::{self, Outcome, Report, chain, classify, with_stderr};
use crate::pipe::Capture;
use crate::services::{KvStore, QueueStore};

/// Which contract a module follows, decided at upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Abi {
    /// A component of world `sandflow:task/task`.
    Task,
    /// A WASI preview 2 command component (`wasi:cli/run`): JSON on stdin and stdout.
    CommandComponent,
    /// A WASI preview 1 core module with `_start`: JSON on stdin and stdout.
    CommandModule,
}

impl Abi {
    pub fn describe(self) -> &'static str {
        match self {
            Abi::Task => "component of world sandflow:task/task@0.1.0",
            Abi::CommandComponent => "WASI command (preview 2 component)",
            Abi::CommandModule => "WASI command (preview 1 core module)",
        }
    }
}

/// What an upload produced: the key to invoke it by and what it is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub sha256: String,
    pub abi: Abi,
    /// Imports, as `package:name/interface@version` (components) or `module::name` (core).
    pub imports: Vec<String>,
}

/// Why an upload was refused or an invocation could not start. A guest misbehaving is never
/// an `Error`: it is an [`Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    #[error("invalid WebAssembly: {0}")]
    Invalid(String),
    #[error("{0}")]
    WrongShape(String),
    #[error("no uploaded function with sha256 {0}")]
    Unknown(String),
    #[error("input is not JSON: {0}")]
    BadInput(String),
    #[error("runtime: {0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// Everything one invocation needs besides the code.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function's tenant: KV tables and queues are this tenant's only.
    pub tenant: String,
    /// The effective input, JSON text.
    pub input: String,
    pub limits: Limits,
    pub grants: Arc<Grants>,
}

enum Pre {
    Task(TaskPre<HostState>),
    CommandComponent(CommandPre<HostState>),
    CommandModule(InstancePre<HostState>),
}

struct Prepared {
    pre: Pre,
    artifact: Artifact,
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    component_linker: wasmtime::component::Linker<HostState>,
    module_linker: wasmtime::Linker<HostState>,
    artifacts: ArtifactStore,
    prepared: Mutex<LruCache<String, Arc<Prepared>>>,
    /// Instantiation slots; exhausting the pool waits here instead of failing.
    slots: Semaphore,
    /// One upload per sha256 at a time, so concurrent uploads of the same code compile once.
    uploading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    shared: Arc<Shared>,
}

/// Runs tasks. Cheap to clone; all clones share the engine, caches and services.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Core instances a component may hold in a pool slot; interpreters link several modules.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Table bytes kept resident with `keep_resident_bytes`: covers typical guests' tables.
const TABLE_KEEP_RESIDENT_BYTES: usize = 1 << 20;

impl Runtime {
    /// Starts a runtime: builds the engine and linkers and the epoch ticker thread.
    pub fn new(
        config: RuntimeConfig,
        kv: Arc<dyn KvStore>,
        queues: Arc<dyn QueueStore>,
    ) -> Result<Self, Error> {
        let mut cfg = Config::new();
        cfg.consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .wasm_backtrace_max_frames(None);
        if config.pooling {
            let n = config.max_concurrent;
            let mut p = PoolingAllocationConfig::default();
            p.total_component_instances(n)
                .total_core_instances(n * CORE_INSTANCES_PER_COMPONENT)
                .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
                .total_memories(n * 4)
                .total_tables(n * 8)
                .total_stacks(n)
                .max_memory_size((config.max_memory_mib as usize) << 20)
                .table_elements(100_000);
            // Memory is reset to its initial contents either way; this only chooses how.
            if config.keep_resident_bytes > 0
                && PoolingAllocationConfig::is_pagemap_scan_available()
            {
                p.pagemap_scan(wasmtime::Enabled::Yes)
                    .linear_memory_keep_resident(config.keep_resident_bytes)
                    .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
            }
            cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        }
        let engine = Engine::new(&cfg).map_err(|e| internal(chain(&e)))?;
        spawn_ticker(&engine, config.epoch_tick);

        let mut component_linker = wasmtime::component::Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component_linker).map_err(internal)?;
        crate::bindings::Task::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(
            &mut component_linker,
            |s| s,
        )
        .map_err(internal)?;
        let mut module_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut module_linker, HostState::p1)
            .map_err(internal)?;

        let artifacts = ArtifactStore::new(config.artifact_dir.as_deref(), &engine)
            .map_err(|e| Error::Internal(format!("artifact folder: {e}")))?;
        let cap = NonZeroUsize::new(config.prepared_capacity.max(1)).expect("at least 1");
        let shared = Arc::new(Shared {
            kv,
            queues,
            http_client: crate::http::client(crate::dns::PublicOnlyResolver::default()),
            http: config.http.clone(),
            max_value_bytes: config.max_value_bytes,
            max_log_bytes: config.max_log_bytes,
        });
        Ok(Runtime {
            inner: Arc::new(Inner {
                slots: Semaphore::new(config.max_concurrent as usize),
                engine,
                config,
                component_linker,
                module_linker,
                artifacts,
                prepared: Mutex::new(LruCache::new(cap)),
                uploading: Mutex::default(),
                shared,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Validates and compiles `wasm` (in a blocking thread), stores the artifact and keeps
    /// the function prepared. Refuses anything that is neither a task component nor a WASI
    /// command, saying why. Uploading the same bytes again reuses the artifact.
    pub async fn upload(&self, wasm: &[u8]) -> Result<Artifact, Error> {
        let sha = hex(&Sha256::digest(wasm));
        if let Some(p) = self.cached(&sha) {
            return Ok(p.artifact.clone());
        }
        let lock = {
            let mut map = self
                .inner
                .uploading
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.entry(sha.clone()).or_default().clone()
        };
        let result = {
            let _one_at_a_time = lock.lock().await;
            self.upload_locked(&sha, wasm).await
        };
        let mut map = self
            .inner
            .uploading
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) == 2 {
            map.remove(&sha);
        }
        result
    }

    async fn upload_locked(&self, sha: &str, wasm: &[u8]) -> Result<Artifact, Error> {
        if let Some(p) = self.cached(sha) {
            return Ok(p.artifact.clone());
        }
        let sha = sha.to_string();
        if !self.inner.artifacts.contains(&sha) {
            let kind = detect(wasm)?;
            let engine = self.inner.engine.clone();
            let bytes = wasm.to_vec();
            let compiled = tokio::task::spawn_blocking(move || match kind {
                Kind::Component => engine.precompile_component(&bytes),
                Kind::Module => engine.precompile_module(&bytes),
            })
            .await
            .map_err(internal)?
            .map_err(|e| Error::Invalid(chain(&e)))?;
            // Check the shape before keeping anything, so a refused upload leaves no trace.
            let loaded = match kind {
                Kind::Component => Loaded::Component(
                    Component::new(&self.inner.engine, wasm)
                        .map_err(|e| Error::Invalid(chain(&e)))?,
                ),
                Kind::Module => Loaded::Module(
                    Module::new(&self.inner.engine, wasm).map_err(|e| Error::Invalid(chain(&e)))?,
                ),
            };
            let prepared = Arc::new(self.prepare(&sha, loaded)?);
            self.inner
                .artifacts
                .put(&sha, kind, compiled)
                .map_err(|e| Error::Internal(format!("writing the artifact: {e}")))?;
            self.remember(&sha, prepared.clone());
            return Ok(prepared.artifact.clone());
        }
        Ok(self.load(&sha)?.artifact.clone())
    }

    /// Makes the function `sha` ready to invoke (e.g. at start, from the artifacts on disk)
    /// without running it.
    pub fn preload(&self, sha: &str) -> Result<Artifact, Error> {
        self.load(sha).map(|p| p.artifact.clone())
    }

    fn cached(&self, sha: &str) -> Option<Arc<Prepared>> {
        let mut lru = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        lru.get(sha).cloned()
    }

    fn remember(&self, sha: &str, p: Arc<Prepared>) {
        let mut lru = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        lru.put(sha.to_string(), p);
    }

    /// The prepared function for `sha`: from the LRU, else loaded from the artifact store.
    fn load(&self, sha: &str) -> Result<Arc<Prepared>, Error> {
        if let Some(p) = self.cached(sha) {
            return Ok(p);
        }
        let loaded = self
            .inner
            .artifacts
            .load(&self.inner.engine, sha)
            .map_err(|e| Error::Internal(format!("loading artifact {sha}: {}", chain(&e))))?
            .ok_or_else(|| Error::Unknown(sha.to_string()))?;
        let p = Arc::new(self.prepare(sha, loaded)?);
        self.remember(sha, p.clone());
        Ok(p)
    }

    /// Tells the ABI apart and resolves imports once (`InstancePre`).
    fn prepare(&self, sha: &str, loaded: Loaded) -> Result<Prepared, Error> {
        let engine = &self.inner.engine;
        let (pre, imports) = match loaded {
            Loaded::Component(c) => {
                let ty = c.component_type();
                let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
                let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
                let link = |c: &Component| {
                    self.inner.component_linker.instantiate_pre(c).map_err(|e| {
                        Error::WrongShape(format!(
                            "the component needs an import the host does not provide: {}",
                            chain(&e)
                        ))
                    })
                };
                let pre = if exports.iter().any(|e| e == "run") {
                    Pre::Task(TaskPre::new(link(&c)?).map_err(|e| {
                        Error::WrongShape(format!(
                            "the component exports `run` but not as world sandflow:task/task@0.1.0 \
                             (run: func(input: string) -> result<string, task-error>): {}",
                            chain(&e)
                        ))
                    })?)
                } else if exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2")) {
                    Pre::CommandComponent(CommandPre::new(link(&c)?).map_err(|e| {
                        Error::WrongShape(format!("bad wasi:cli/run export: {}", chain(&e)))
                    })?)
                } else {
                    return Err(Error::WrongShape(format!(
                        "the component is not a task: it must be of world sandflow:task/task@0.1.0 \
                         (export `run`) or a WASI command (export `wasi:cli/run`); it exports [{}]",
                        exports.join(", ")
                    )));
                };
                (pre, imports)
            }
            Loaded::Module(m) => {
                let imports = m
                    .imports()
                    .map(|i| format!("{}::{}", i.module(), i.name()))
                    .collect();
                match m.get_export("_start") {
                    Some(wasmtime::ExternType::Func(f))
                        if f.params().len() == 0 && f.results().len() == 0 => {}
                    _ => {
                        return Err(Error::WrongShape(
                            "the core module has no `_start` function, so it is not a WASI command: \
                             build a program (with `main`), not a library"
                                .into(),
                        ));
                    }
                }
                let pre = self.inner.module_linker.instantiate_pre(&m).map_err(|e| {
                    Error::WrongShape(format!(
                        "the module needs an import the host does not provide (only \
                         wasi_snapshot_preview1 is available): {}",
                        chain(&e)
                    ))
                })?;
                (Pre::CommandModule(pre), imports)
            }
        };
        let abi = match pre {
            Pre::Task(_) => Abi::Task,
            Pre::CommandComponent(_) => Abi::CommandComponent,
            Pre::CommandModule(_) => Abi::CommandModule,
        };
        Ok(Prepared {
            pre,
            artifact: Artifact {
                sha256: sha.to_string(),
                abi,
                imports,
            },
        })
    }

    /// Runs the function uploaded as `sha` once. `Err` only when it cannot start (unknown
    /// function, input not JSON); whatever the guest does ends in the report's outcome.
    pub async fn invoke(&self, sha: &str, inv: Invocation) -> Result<Report, Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(&inv.input)
            .map_err(|e| Error::BadInput(e.to_string()))?;
        let prepared = self.load(sha)?;
        let limits = self.inner.config.effective(inv.limits);
        let _slot = self.inner.slots.acquire().await.map_err(internal)?;
        let start = Instant::now();
        let deadline = start + limits.timeout;
        let cfg = &self.inner.config;

        let stderr = Capture::log(cfg.max_log_bytes);
        // One byte more than the cap, so output of exactly the cap is accepted.
        let stdout = Capture::output(limits.max_output_bytes + 1);
        let mut b = WasiCtxBuilder::new();
        b.stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if !inv.grants.clock {
            b.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        }
        if !inv.grants.random {
            b.secure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
                .insecure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
                .insecure_random_seed(0);
        }
        match prepared.pre {
            // A task's stdout is only a log, like its stderr.
            Pre::Task(_) => b.stdout(stderr.clone()),
            _ => b
                .stdin(MemoryInputPipe::new(inv.input.clone()))
                .stdout(stdout.clone()),
        };
        let wasi = match prepared.pre {
            Pre::CommandModule(_) => Wasi::P1(b.build_p1()),
            _ => Wasi::P2 {
                ctx: b.build(),
                table: ResourceTable::new(),
            },
        };
        let state = HostState::new(
            wasi,
            (limits.memory_mib as usize) << 20,
            self.inner.shared.clone(),
            inv.tenant,
            inv.grants,
            deadline,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel).map_err(internal)?;
        store
            .fuel_async_yield_interval(Some(cfg.fuel_yield_interval))
            .map_err(internal)?;
        store.set_epoch_deadline(ticks(limits.timeout, cfg.epoch_tick));
        store.epoch_deadline_trap();

        // Host calls cannot be interrupted by epochs; this backstop bounds them too.
        let backstop = limits.timeout + cfg.epoch_tick * 2;
        let raw =
            tokio::time::timeout(backstop, execute(&prepared.pre, &mut store, &inv.input)).await;
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let elapsed = start.elapsed();
        let stderr = stderr.take_string();
        let cx = outcome::Context {
            fuel: limits.fuel,
            timeout: limits.timeout,
            max_wasm_stack: cfg.max_wasm_stack,
            stderr: &stderr,
        };
        let outcome = match raw {
            Err(_) => Outcome::Timeout {
                cause: format!(
                    "wall-clock deadline of {:?} exceeded (while in a host call)",
                    limits.timeout
                ),
            },
            Ok(Err(e)) => classify(&e, &cx),
            Ok(Ok(Raw::Returned(Ok(out)))) => check_output(out, &limits),
            Ok(Ok(Raw::Returned(Err(TaskError { error, cause })))) => Outcome::Failed {
                error: truncate(error, MAX_ERROR_NAME),
                cause: truncate(cause, MAX_CAUSE),
            },
            Ok(Ok(Raw::Exited(code))) => command_outcome(code, stdout.take(), &limits, &stderr),
        };
        let logs = std::mem::take(&mut store.data_mut().logs);
        Ok(Report {
            outcome,
            fuel_used,
            elapsed,
            logs,
            stderr,
        })
    }
}

/// Seed bytes for guests not granted real randomness.
const FIXED_RANDOM: [u8; 16] = *b"sandflow-fixed-r";
/// AWS limits on an error name and cause.
const MAX_ERROR_NAME: usize = 256;
const MAX_CAUSE: usize = 32_768;

enum Raw {
    Returned(Result<String, TaskError>),
    Exited(i32),
}

async fn execute(pre: &Pre, store: &mut Store<HostState>, input: &str) -> wasmtime::Result<Raw> {
    let exit = |r: wasmtime::Result<()>| match r {
        Ok(()) => Ok(Raw::Exited(0)),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ok(Raw::Exited(*code)),
            None => Err(e),
        },
    };
    match pre {
        Pre::Task(pre) => {
            let task = pre.instantiate_async(&mut *store).await?;
            Ok(Raw::Returned(task.call_run(&mut *store, input).await?))
        }
        Pre::CommandComponent(pre) => {
            let cmd = pre.instantiate_async(&mut *store).await?;
            exit(
                cmd.wasi_cli_run()
                    .call_run(&mut *store)
                    .await
                    .and_then(|r| r.map_err(|()| wasmtime::Error::new(I32Exit(1)))),
            )
        }
        Pre::CommandModule(pre) => {
            let inst = pre.instantiate_async(&mut *store).await?;
            let start = inst.get_typed_func::<(), ()>(&mut *store, "_start")?;
            exit(start.call_async(&mut *store, ()).await)
        }
    }
}

fn check_output(out: String, limits: &Limits) -> Outcome {
    if out.len() > limits.max_output_bytes {
        return Outcome::Trap {
            cause: format!(
                "output too large: {} bytes, the cap is {}",
                out.len(),
                limits.max_output_bytes
            ),
        };
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&out) {
        Ok(_) => Outcome::Succeeded { output: out },
        Err(e) => Outcome::Trap {
            cause: format!("the task's output is not JSON: {e}"),
        },
    }
}

fn command_outcome(code: i32, stdout: Vec<u8>, limits: &Limits, stderr: &str) -> Outcome {
    if stdout.len() > limits.max_output_bytes {
        return Outcome::Trap {
            cause: format!(
                "output too large: the guest wrote more than {} bytes to stdout",
                limits.max_output_bytes
            ),
        };
    }
    let text = String::from_utf8_lossy(&stdout);
    if code == 0 {
        let out = text.trim();
        if out.is_empty() {
            return Outcome::Trap {
                cause: with_stderr(
                    "the command exited 0 but printed nothing on stdout".into(),
                    stderr,
                ),
            };
        }
        return check_output(out.to_string(), limits);
    }
    #[derive(serde::Deserialize)]
    struct Failure {
        error: String,
        #[serde(default)]
        cause: String,
    }
    match serde_json::from_str::<Failure>(text.trim()) {
        Ok(Failure { error, cause }) => Outcome::Failed {
            error: truncate(error, MAX_ERROR_NAME),
            cause: truncate(cause, MAX_CAUSE),
        },
        Err(_) => Outcome::Trap {
            cause: with_stderr(format!("the command exited with code {code}"), stderr),
        },
    }
}

/// Epoch ticks covering `timeout` (the deadline fires within one tick after it).
fn ticks(timeout: Duration, tick: Duration) -> u64 {
    let t = timeout.as_nanos().div_ceil(tick.as_nanos().max(1));
    u64::try_from(t).unwrap_or(u64::MAX).max(1)
}

/// Advances the engine's epoch every `tick` until the engine is dropped.
fn spawn_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("sandflow-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch thread");
}

/// Tells a component from a core module by the header, before compiling.
fn detect(wasm: &[u8]) -> Result<Kind, Error> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(Error::NotWasm(
            "it does not start with the wasm magic number \\0asm".into(),
        ));
    }
    if Engine::detect_precompiled(wasm).is_some() {
        return Err(Error::NotWasm(
            "it is a precompiled wasmtime artifact; upload the .wasm itself".into(),
        ));
    }
    // Bytes 4..8: version and layer (little endian); layer 1 is a component.
    match (&wasm[4..6], &wasm[6..8]) {
        (_, [1, 0]) => Ok(Kind::Component),
        ([1, 0], [0, 0]) => Ok(Kind::Module),
        _ => Err(Error::NotWasm(
            "unknown wasm version or layer in the header".into(),
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
