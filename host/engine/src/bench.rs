//! Engine benchmarks for `sandflow bench --engine`: durable Standard throughput with fsync on,
//! Express sync executions, restart recovery with many open executions, and memory per waiting
//! execution. Each runs on a fresh store in the directory it is given.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandflow_core::parse::MachineType;
use sandflow_store::Store;
use serde_json::json;

use crate::tasks::{BoxFuture, Caller, FunctionInvocation, Functions, Origin};
use crate::{Config, Engine, Result, StartRequest, SystemClock};

/// Answers every function call at once with its payload.
struct Echo;

impl Functions for Echo {
    fn invoke(
        &self,
        _: &Caller,
        _: &str,
        payload: String,
        _: Option<u64>,
        _: Option<Origin>,
    ) -> BoxFuture<FunctionInvocation> {
        Box::pin(async move {
            FunctionInvocation::Done(sandflow_core::lambda::FunctionResult::Returned(payload))
        })
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    pub executions: usize,
    pub seconds: f64,
    /// States entered per second (0 where not meaningful).
    pub transitions_per_second: f64,
    pub executions_per_second: f64,
    /// Writes per commit, on average (group commit at work).
    pub writes_per_commit: f64,
}

async fn engine(dir: &Path) -> Result<Engine> {
    let store = Store::open(&dir.join("bench.db"))?;
    store.write(|c| sandflow_store::tenants::create(c, "bench", "000000000000", 0).map(|_| ()))?;
    Engine::start(
        store,
        Arc::new(Echo),
        Arc::new(crate::NoServices),
        Arc::new(SystemClock),
        // The start-rate quota (10,000/s) would cap what is measured here: the engine.
        Config {
            quotas: crate::Quotas {
                starts_per_second: f64::INFINITY,
                start_burst: f64::INFINITY,
                ..Config::default().quotas
            },
            ..Config::default()
        },
    )
    .await
}

fn request(definition: &serde_json::Value, name: String, ty: MachineType) -> StartRequest {
    StartRequest {
        caller: Caller {
            tenant_id: 1,
            account: "000000000000".into(),
            region: "us-east-1".into(),
        },
        state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:bench".into(),
        state_machine_name: "bench".into(),
        machine_type: ty,
        definition: definition.to_string(),
        role_arn: "arn:aws:iam::000000000000:role/bench".into(),
        name,
        input: json!({"order": 42}).to_string(),
    }
}

/// Runs `total` executions with `concurrency` in flight; each `start` must finish it.
async fn drive<F>(total: usize, concurrency: usize, start: F) -> Result<f64>
where
    F: Fn(usize) -> BoxFuture<Result<()>> + Send + Sync + 'static,
{
    let start = Arc::new(start);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (start, next) = (start.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return Ok::<(), crate::Error>(());
                    }
                    start(i).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|_| crate::Error::ShuttingDown)??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Standard 10-Pass chains, durable (fsync on), `concurrency` clients starting and awaiting them.
pub async fn standard_pass_chain(dir: &Path, total: usize, concurrency: usize) -> Result<Report> {
    let engine = engine(dir).await?;
    let def = Arc::new(sandflow_core::bench::pass_chain(10));
    let e = engine.clone();
    let seconds = drive(total, concurrency, move |i| {
        let (e, def) = (e.clone(), def.clone());
        Box::pin(async move {
            let s = e
                .start_execution(request(&def, format!("e{i}"), MachineType::Standard))
                .await?;
            // A chain of Pass states ends in its first step; start says so.
            let done = match s.finished {
                Some(done) => done,
                None => e.wait(1, &s.execution_arn).await?,
            };
            debug_assert_eq!(done.status, "SUCCEEDED");
            Ok(())
        })
    })
    .await?;
    let stats = engine.store().stats();
    let (batches, writes) = (
        stats.batches.load(std::sync::atomic::Ordering::Relaxed),
        stats.writes.load(std::sync::atomic::Ordering::Relaxed),
    );
    Ok(Report {
        name: "standard_pass_chain_10",
        executions: total,
        seconds,
        transitions_per_second: (total * 10) as f64 / seconds,
        executions_per_second: total as f64 / seconds,
        writes_per_commit: writes as f64 / batches.max(1) as f64,
    })
}

/// Standard executions with one Task each (an in-process echo function, so this measures the
/// engine's two committed steps per task, not a sandbox).
pub async fn standard_task(dir: &Path, total: usize, concurrency: usize) -> Result<Report> {
    let engine = engine(dir).await?;
    let def = Arc::new(json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "End": true}}}));
    let e = engine.clone();
    let seconds = drive(total, concurrency, move |i| {
        let (e, def) = (e.clone(), def.clone());
        Box::pin(async move {
            let s = e
                .start_execution(request(&def, format!("t{i}"), MachineType::Standard))
                .await?;
            e.wait(1, &s.execution_arn).await?;
            Ok(())
        })
    })
    .await?;
    Ok(Report {
        name: "standard_one_task",
        executions: total,
        seconds,
        transitions_per_second: total as f64 / seconds,
        executions_per_second: total as f64 / seconds,
        writes_per_commit: 0.0,
    })
}

/// Express sync executions of a 10-Pass chain.
pub async fn express_sync(dir: &Path, total: usize, concurrency: usize) -> Result<Report> {
    let engine = engine(dir).await?;
    let def = Arc::new(sandflow_core::bench::pass_chain(10));
    let e = engine.clone();
    let seconds = drive(total, concurrency, move |i| {
        let (e, def) = (e.clone(), def.clone());
        Box::pin(async move {
            e.start_sync_execution(request(&def, format!("x{i}"), MachineType::Express))
                .await?;
            Ok(())
        })
    })
    .await?;
    Ok(Report {
        name: "express_sync_pass_chain_10",
        executions: total,
        seconds,
        transitions_per_second: (total * 10) as f64 / seconds,
        executions_per_second: total as f64 / seconds,
        writes_per_commit: 0.0,
    })
}

/// What [`recovery`] measured.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub open_executions: usize,
    /// How long a new engine on the store takes to start.
    pub restart: Duration,
    /// Resident memory growth per waiting execution in the engine that started them.
    pub bytes_per_waiting_execution: f64,
}

/// Opens `open` executions waiting on a long Wait, measuring the memory they cost in the engine
/// that started them, then how long a new engine on the same store takes to start.
pub async fn recovery(dir: &Path, open: usize) -> Result<Recovery> {
    let def = Arc::new(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": true}}}),
    );
    let bytes_per_waiting_execution = {
        let engine = engine(dir).await?;
        let before = resident_bytes();
        let e = engine.clone();
        drive(open, 64, move |i| {
            let (e, def) = (e.clone(), def.clone());
            Box::pin(async move {
                e.start_execution(request(&def, format!("w{i}"), MachineType::Standard))
                    .await?;
                Ok(())
            })
        })
        .await?;
        let grown = resident_bytes().saturating_sub(before) as f64 / open.max(1) as f64;
        engine.store().close();
        grown
    };
    let t = Instant::now();
    let store = Store::open(&dir.join("bench.db"))?;
    let engine = Engine::start(
        store,
        Arc::new(Echo),
        Arc::new(crate::NoServices),
        Arc::new(SystemClock),
        Config::default(),
    )
    .await?;
    let restart = t.elapsed();
    engine.store().close();
    Ok(Recovery {
        open_executions: open,
        restart,
        bytes_per_waiting_execution,
    })
}

/// Resident set size of this process (Linux), 0 elsewhere.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
