//! The guest examples as built `.wasm` files, and a shared runtime to run them in.
//!
//! `guest-examples/build.sh` runs once per test run (first use), into `<target>/guests`;
//! `SANDFLOW_GUESTS=DIR` uses an already-built folder instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use sandflow_runtime::services::{MemoryKv, MemoryQueues};
use sandflow_runtime::{Artifact, Grants, Invocation, Limits, Report, Runtime, RuntimeConfig};

use crate::bin::workspace_root;

/// The folder of built guests (built on first use).
pub fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("SANDFLOW_GUESTS") {
            return PathBuf::from(dir);
        }
        // <target>/<profile>/deps/<test exe>
        let exe = std::env::current_exe().expect("current_exe");
        let target = exe
            .ancestors()
            .nth(3)
            .expect("the test executable sits in <target>/<profile>/deps");
        let dir = target.join("guests");
        let out = Command::new("bash")
            .arg(workspace_root().join("guest-examples/build.sh"))
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "guest-examples/build.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// Path of the built guest `name` (e.g. `rust-echo`).
pub fn guest_path(name: &str) -> PathBuf {
    let p = guest_dir().join(format!("{name}.wasm"));
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// Bytes of the built guest `name`.
pub fn guest(name: &str) -> Vec<u8> {
    std::fs::read(guest_path(name)).expect("reading a built guest")
}

/// One runtime and tokio runtime for all tests, like a server's.
pub struct Fixture {
    pub tokio: tokio::runtime::Runtime,
    pub rt: Runtime,
    pub kv: Arc<MemoryKv>,
    pub queues: Arc<MemoryQueues>,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let kv = Arc::new(MemoryKv::default());
        let queues = Arc::new(MemoryQueues::default());
        let rt = Runtime::new(
            RuntimeConfig {
                artifact_dir: Some(guest_dir().join("artifacts")),
                ..RuntimeConfig::default()
            },
            kv.clone(),
            queues.clone(),
        )
        .expect("runtime");
        Fixture {
            tokio,
            rt,
            kv,
            queues,
        }
    })
}

impl Fixture {
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.tokio.block_on(f)
    }

    /// Uploads the built guest `name`.
    pub fn upload(&self, name: &str) -> Artifact {
        let wasm = guest(name);
        self.block_on(self.rt.upload(&wasm))
            .unwrap_or_else(|e| panic!("uploading {name}: {e}"))
    }

    /// Uploads `name` and runs it once.
    pub fn run(
        &self,
        name: &str,
        tenant: &str,
        input: &str,
        limits: Limits,
        grants: Grants,
    ) -> Report {
        let f = self.upload(name);
        self.block_on(self.rt.invoke(
            &f.sha256,
            Invocation {
                tenant: tenant.into(),
                input: input.into(),
                limits,
                grants: Arc::new(grants),
            },
        ))
        .unwrap_or_else(|e| panic!("invoking {name}: {e}"))
    }
}

/// Parses `g` grant texts.
pub fn grants(g: &[&str]) -> Grants {
    let mut out = Grants::default();
    for s in g {
        out.add(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")));
    }
    out
}

/// The output of a report that must have succeeded, as JSON.
pub fn ok(r: &Report) -> serde_json::Value {
    let out = r
        .outcome
        .output()
        .unwrap_or_else(|| panic!("expected success, got {r:#?}"));
    serde_json::from_str(out).expect("output is JSON")
}

/// The (error, cause) of a report that must have failed.
pub fn failed(r: &Report) -> (String, String) {
    let (e, c) = r
        .outcome
        .error()
        .unwrap_or_else(|| panic!("expected a failure, got {r:#?}"));
    (e.to_string(), c.to_string())
}
