//! Warm invocation, compile-at-upload and artifact-load benchmarks on the built guests
//! (`bash guest-examples/build.sh` first; `SANDFLOW_GUESTS=DIR` points elsewhere).
//! Targets from issue 4: Rust echo p50 ≤ 20 µs, WASI command ≤ 40 µs, Python/JS ≤ 1 ms,
//! artifact load of the Python task ≤ 5 ms.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sandflow_runtime::services::{MemoryKv, MemoryQueues};
use sandflow_runtime::{Grants, Invocation, Limits, Runtime, RuntimeConfig};

fn guest(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("SANDFLOW_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/guests"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run guest-examples/build.sh)", path.display()))
}

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(
        config,
        Arc::new(MemoryKv::default()),
        Arc::new(MemoryQueues::default()),
    )
    .expect("runtime")
}

fn invocation(input: &str) -> Invocation {
    Invocation {
        tenant: "bench".into(),
        input: input.into(),
        limits: Limits::default(),
        grants: Arc::new(Grants::default()),
    }
}

fn warm_invoke(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = runtime(RuntimeConfig::default());
    let cases = [
        ("rust-echo", r#"{"hello":"world"}"#),
        ("rust-command-echo.p1", r#"{"hello":"world"}"#),
        ("c-wordcount", r#"{"text":"hello world"}"#),
        ("python-order-total", r#"{"orderId":"O"}"#),
        ("js-receipt", r#"{"orderId":"O","items":[{"sku":"A"}]}"#),
    ];
    let mut g = c.benchmark_group("invoke");
    for (name, input) in cases {
        let sha = tokio
            .block_on(rt.upload(&guest(name)))
            .expect("upload")
            .sha256;
        let inv = invocation(input);
        // The Python input has no items, so it ends in its `InvalidOrder` failure: the whole
        // interpreter round trip without needing a KV grant.
        tokio
            .block_on(rt.invoke(&sha, inv.clone()))
            .expect("invoke");
        g.bench_function(name, |b| {
            b.iter(|| {
                tokio
                    .block_on(rt.invoke(&sha, inv.clone()))
                    .expect("invoke")
            })
        });
    }
    g.finish();
}

/// The Rust echo with pooled memories reset by `madvise` (the behaviour without
/// `keep_resident_bytes`), to show what keeping them resident saves.
fn warm_invoke_madvise(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = runtime(RuntimeConfig {
        keep_resident_bytes: 0,
        ..RuntimeConfig::default()
    });
    let sha = tokio
        .block_on(rt.upload(&guest("rust-echo")))
        .expect("upload")
        .sha256;
    let inv = invocation(r#"{"hello":"world"}"#);
    c.bench_function("invoke-madvise/rust-echo", |b| {
        b.iter(|| {
            tokio
                .block_on(rt.invoke(&sha, inv.clone()))
                .expect("invoke")
        })
    });
}

fn upload_and_load(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("artifact");
    g.sample_size(10);
    let echo = guest("rust-echo");
    g.bench_function("compile rust-echo", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let rt = runtime(RuntimeConfig {
                    pooling: false,
                    ..RuntimeConfig::default()
                });
                let t = Instant::now();
                tokio.block_on(rt.upload(&echo)).expect("upload");
                total += t.elapsed();
            }
            total
        })
    });
    for name in ["python-order-total", "js-receipt"] {
        let dir =
            std::env::temp_dir().join(format!("sandflow-bench-artifacts-{}", std::process::id()));
        let config = RuntimeConfig {
            artifact_dir: Some(dir.clone()),
            ..RuntimeConfig::default()
        };
        let sha = tokio
            .block_on(runtime(config.clone()).upload(&guest(name)))
            .expect("upload")
            .sha256;
        g.bench_function(format!("load after restart {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let rt = runtime(config.clone());
                    let t = Instant::now();
                    rt.preload(&sha).expect("preload");
                    total += t.elapsed();
                }
                total
            })
        });
        let _ = std::fs::remove_dir_all(dir);
    }
    g.finish();
}

criterion_group!(benches, warm_invoke, warm_invoke_madvise, upload_and_load);
criterion_main!(benches);
