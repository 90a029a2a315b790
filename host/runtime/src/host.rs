//! The data each invocation's `Store` holds, and the host side of the `sandflow:task`
//! imports. Each capability call checks the grant first and names the tenant's own
//! namespace itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::sandflow::task::{http, kv, log, queue, types};
use crate::grants::{Grants, valid_name};
use crate::outcome::{LogLine, MemoryLimitExceeded};
use crate::services::{KvStore, Namespace, QueueStore};
use crate::{config::HttpConfig, http as fetch};

/// Services shared by all invocations of one runtime.
pub(crate) struct Shared {
    pub kv: Arc<dyn KvStore>,
    pub queues: Arc<dyn QueueStore>,
    pub http_client: reqwest::Client,
    pub http: HttpConfig,
    pub max_value_bytes: usize,
    pub max_log_bytes: usize,
}

/// WASI state: p2 for components, p1 for core modules (they use different contexts).
pub(crate) enum Wasi {
    P2 { ctx: WasiCtx, table: ResourceTable },
    P1(WasiP1Ctx),
}

pub(crate) struct HostState {
    pub wasi: Wasi,
    pub limiter: Limiter,
    pub shared: Arc<Shared>,
    pub tenant: String,
    pub grants: Arc<Grants>,
    pub deadline: Instant,
    pub logs: Vec<LogLine>,
    log_bytes: usize,
}

impl HostState {
    pub fn new(
        wasi: Wasi,
        memory_bytes: usize,
        shared: Arc<Shared>,
        tenant: String,
        grants: Arc<Grants>,
        deadline: Instant,
    ) -> Self {
        HostState {
            wasi,
            limiter: Limiter::new(memory_bytes),
            shared,
            tenant,
            grants,
            deadline,
            logs: Vec::new(),
            log_bytes: 0,
        }
    }

    pub fn p1(&mut self) -> &mut WasiP1Ctx {
        match &mut self.wasi {
            Wasi::P1(ctx) => ctx,
            Wasi::P2 { .. } => unreachable!("core modules get a p1 store"),
        }
    }

    fn ns(&self, name: &str) -> Namespace {
        Namespace {
            tenant: self.tenant.clone(),
            name: name.to_string(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        match &mut self.wasi {
            Wasi::P2 { ctx, table } => WasiCtxView { ctx, table },
            Wasi::P1(_) => unreachable!("components get a p2 store"),
        }
    }
}

/// Caps linear memory summed over all of an instance's memories, failing with a typed error
/// (a plain `false` would surface as an obscure guest abort).
pub(crate) struct Limiter {
    cap: usize,
    used: usize,
}

/// Table slots per instance: generous for interpreters, small enough to bound host memory.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl Limiter {
    fn new(cap: usize) -> Self {
        Limiter { cap, used: 0 }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used - current.min(self.used) + desired;
        if used > self.cap {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                cap: self.cap,
                requested: used,
            }));
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl types::Host for HostState {}

impl http::Host for HostState {
    async fn fetch(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let s = &self.shared;
        Ok(fetch::fetch(&s.http_client, &s.http, &self.grants, self.deadline, req).await)
    }
}

fn kv_check(h: &HostState, table: &str) -> Result<Namespace, kv::KvError> {
    if valid_name(table) && h.grants.allows_kv(table) {
        Ok(h.ns(table))
    } else {
        Err(kv::KvError::Denied(format!(
            "table {table:?} is not granted"
        )))
    }
}

/// Keys are bounded like values would be; 1 KiB is ample for a key.
const MAX_KEY_BYTES: usize = 1024;

impl kv::Host for HostState {
    async fn get(
        &mut self,
        table: String,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::KvError>> {
        let ns = match kv_check(self, &table) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .shared
            .kv
            .get(&ns, &key)
            .await
            .map_err(|e| kv::KvError::Backend(e.0)))
    }

    async fn set(
        &mut self,
        table: String,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv::KvError>> {
        let ns = match kv_check(self, &table) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        if key.len() > MAX_KEY_BYTES || value.len() > self.shared.max_value_bytes {
            return Ok(Err(kv::KvError::TooLarge));
        }
        Ok(self
            .shared
            .kv
            .set(&ns, &key, value)
            .await
            .map_err(|e| kv::KvError::Backend(e.0)))
    }

    async fn delete(
        &mut self,
        table: String,
        key: String,
    ) -> wasmtime::Result<Result<bool, kv::KvError>> {
        let ns = match kv_check(self, &table) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .shared
            .kv
            .delete(&ns, &key)
            .await
            .map_err(|e| kv::KvError::Backend(e.0)))
    }

    async fn list_keys(
        &mut self,
        table: String,
        prefix: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, kv::KvError>> {
        let ns = match kv_check(self, &table) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        // Bounded so one call cannot make the host copy a whole table.
        let limit = (limit as usize).min(1000);
        Ok(self
            .shared
            .kv
            .list(&ns, &prefix, limit)
            .await
            .map_err(|e| kv::KvError::Backend(e.0)))
    }
}

fn queue_check(h: &HostState, name: &str) -> Result<Namespace, queue::QueueError> {
    if valid_name(name) && h.grants.allows_queue(name) {
        Ok(h.ns(name))
    } else {
        Err(queue::QueueError::Denied(format!(
            "queue {name:?} is not granted"
        )))
    }
}

impl queue::Host for HostState {
    async fn send(
        &mut self,
        name: String,
        body: String,
    ) -> wasmtime::Result<Result<u64, queue::QueueError>> {
        let ns = match queue_check(self, &name) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        if body.len() > self.shared.max_value_bytes {
            return Ok(Err(queue::QueueError::TooLarge));
        }
        Ok(self
            .shared
            .queues
            .send(&ns, body)
            .await
            .map_err(|e| queue::QueueError::Backend(e.0)))
    }

    async fn receive(
        &mut self,
        name: String,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<queue::Message>, queue::QueueError>> {
        let ns = match queue_check(self, &name) {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        let max = (max as usize).min(100);
        Ok(self
            .shared
            .queues
            .receive(&ns, max)
            .await
            .map(|ms| {
                ms.into_iter()
                    .map(|m| queue::Message {
                        id: m.id,
                        body: m.body,
                    })
                    .collect()
            })
            .map_err(|e| queue::QueueError::Backend(e.0)))
    }
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if !self.grants.log || self.log_bytes >= self.shared.max_log_bytes {
            return Ok(());
        }
        let room = self.shared.max_log_bytes - self.log_bytes;
        let message = truncate(message, room);
        self.log_bytes += message.len();
        self.logs.push(LogLine {
            level: match level {
                log::Level::Debug => "debug",
                log::Level::Info => "info",
                log::Level::Warn => "warn",
                log::Level::Error => "error",
            },
            message,
        });
        Ok(())
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A clock that never moves: guests see a fixed time unless granted `clock`.
pub(crate) struct FrozenClock;

/// 2023-11-14T22:13:20Z: an arbitrary, recognisable instant.
const FROZEN_UNIX_SECS: u64 = 1_700_000_000;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FROZEN_UNIX_SECS)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
