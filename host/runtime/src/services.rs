//! Backends of the `kv` and `queue` capabilities. The host picks the namespace (tenant and
//! table or queue name) itself; the guest only ever supplies the bare name, and only after
//! the grant check. The engine provides SQLite-backed implementations; tests use the
//! in-memory ones here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// A boxed future, so the traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a key or message lives: always a tenant's own table or queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    pub tenant: String,
    pub name: String,
}

/// A backend failure, shown to the guest as `backend(..)`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// Key-value tables.
pub trait KvStore: Send + Sync {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>>;
    fn set<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), BackendError>>;
    /// True if the key existed.
    fn delete<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;
    /// Keys starting with `prefix`, in order, at most `limit`.
    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, BackendError>>;
}

/// A received queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: u64,
    pub body: String,
}

/// FIFO queues.
pub trait QueueStore: Send + Sync {
    /// Returns the new message's id.
    fn send<'a>(
        &'a self,
        ns: &'a Namespace,
        body: String,
    ) -> BoxFuture<'a, Result<u64, BackendError>>;
    /// Takes up to `max` messages, oldest first.
    fn receive<'a>(
        &'a self,
        ns: &'a Namespace,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<QueueMessage>, BackendError>>;
}

/// KV tables in a map, for tests and `sandflow task run`.
#[derive(Debug, Default)]
pub struct MemoryKv {
    tables: Mutex<BTreeMap<(Namespace, String), Vec<u8>>>,
}

impl MemoryKv {
    fn tables(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Namespace, String), Vec<u8>>> {
        // A panic elsewhere cannot leave the map half-written, so poisoning is ignored.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvStore for MemoryKv {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        let v = self.tables().get(&(ns.clone(), key.to_string())).cloned();
        Box::pin(async move { Ok(v) })
    }

    fn set<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.tables().insert((ns.clone(), key.to_string()), value);
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        let existed = self
            .tables()
            .remove(&(ns.clone(), key.to_string()))
            .is_some();
        Box::pin(async move { Ok(existed) })
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, BackendError>> {
        let keys = self
            .tables()
            .range((ns.clone(), prefix.to_string())..)
            .take_while(|((n, k), _)| n == ns && k.starts_with(prefix))
            .take(limit)
            .map(|((_, k), _)| k.clone())
            .collect();
        Box::pin(async move { Ok(keys) })
    }
}

/// Queues in memory, for tests and `sandflow task run`.
#[derive(Debug, Default)]
pub struct MemoryQueues {
    inner: Mutex<(u64, HashMap<Namespace, VecDeque<QueueMessage>>)>,
}

impl MemoryQueues {
    /// Everything waiting in `ns`, without taking it (for tests and the CLI's report).
    pub fn peek(&self, ns: &Namespace) -> Vec<QueueMessage> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .1
            .get(ns)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl QueueStore for MemoryQueues {
    fn send<'a>(
        &'a self,
        ns: &'a Namespace,
        body: String,
    ) -> BoxFuture<'a, Result<u64, BackendError>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        let id = inner.0;
        inner
            .1
            .entry(ns.clone())
            .or_default()
            .push_back(QueueMessage { id, body });
        Box::pin(async move { Ok(id) })
    }

    fn receive<'a>(
        &'a self,
        ns: &'a Namespace,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<QueueMessage>, BackendError>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let out = match inner.1.get_mut(ns) {
            Some(q) => {
                let n = max.min(q.len());
                q.drain(..n).collect()
            }
            None => Vec::new(),
        };
        Box::pin(async move { Ok(out) })
    }
}
