//! Server-wide runtime settings and the per-invocation limits derived from them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one invocation may use. Each function carries its own; [`RuntimeConfig::defaults`]
/// fills what it leaves out and [`RuntimeConfig::max_memory_mib`] caps the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// CPU budget in wasmtime fuel units (about one per wasm operator; ~7e9 is a second of
    /// compiled code). Running out is `States.Timeout`.
    pub fuel: u64,
    /// Wall-clock deadline for the whole invocation, host calls included.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Linear memory cap summed over all the guest's memories (Lambda's `MemorySize`).
    pub memory_mib: u32,
    /// Largest result (component) or stdout (command) accepted, in bytes.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 20_000_000_000,
            timeout: Duration::from_secs(30),
            memory_mib: 128,
            // Step Functions' payload limit.
            max_output_bytes: 256 * 1024,
        }
    }
}

impl Limits {
    /// Takes the shorter of this deadline and a Task state's `TimeoutSeconds`.
    pub fn with_task_timeout(mut self, task_timeout: Option<Duration>) -> Self {
        if let Some(t) = task_timeout {
            self.timeout = self.timeout.min(t);
        }
        self
    }
}

/// Settings of one [`Runtime`](crate::Runtime), fixed at start.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Limits of functions that set none.
    pub defaults: Limits,
    /// Upper bound on any function's `memory_mib`, and the pooling allocator's slot size.
    pub max_memory_mib: u32,
    /// Invocations instantiated at once; more wait for a slot (pooling size and semaphore).
    pub max_concurrent: u32,
    /// Use the pooling allocator (fast instantiation; reserves address space up front).
    pub pooling: bool,
    /// Bytes of each pooled linear memory kept mapped between invocations and reset in place
    /// (only where Linux's `PAGEMAP_SCAN` lets wasmtime reset just the dirty pages). Saves the
    /// `madvise` and page faults each fresh Store otherwise pays; costs up to this much RSS per
    /// warm slot. 0 turns it off.
    pub keep_resident_bytes: usize,
    /// Native stack given to wasm; deeper recursion is a stack-overflow trap.
    pub max_wasm_stack: usize,
    /// Where compiled artifacts live; `None` keeps them in memory only.
    pub artifact_dir: Option<PathBuf>,
    /// How many prepared functions (`InstancePre`) stay loaded.
    pub prepared_capacity: usize,
    /// Epoch tick: the granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// Fuel between yields to the async executor, so a spinning guest never holds a thread.
    pub fuel_yield_interval: u64,
    /// Caps on the `http` capability.
    pub http: HttpConfig,
    /// Largest KV value or queue message a guest may write, in bytes.
    pub max_value_bytes: usize,
    /// Guest stderr and log kept per invocation, in bytes.
    pub max_log_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            defaults: Limits::default(),
            max_memory_mib: 512,
            max_concurrent: 128,
            pooling: true,
            keep_resident_bytes: 2 << 20,
            max_wasm_stack: 1 << 20,
            artifact_dir: None,
            prepared_capacity: 256,
            epoch_tick: Duration::from_millis(10),
            fuel_yield_interval: 10_000_000,
            http: HttpConfig::default(),
            max_value_bytes: 400 * 1024,
            max_log_bytes: 64 * 1024,
        }
    }
}

impl RuntimeConfig {
    /// The limits an invocation actually gets: `limits` with memory capped by the server.
    pub fn effective(&self, limits: Limits) -> Limits {
        Limits {
            memory_mib: limits.memory_mib.min(self.max_memory_mib),
            ..limits
        }
    }
}

/// Caps on outgoing HTTP made for guests.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per request, also never past the invocation's deadline.
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub max_request_bytes: usize,
    /// Redirects followed (each target checked against the grants).
    pub max_redirects: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            max_request_bytes: 1 << 20,
            max_redirects: 5,
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
