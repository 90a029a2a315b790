//! `sandflow task run|check|bench`: run a task's `.wasm` locally, the way the server will,
//! with in-memory KV tables and queues.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use sandflow_runtime::services::{KvStore, MemoryKv, MemoryQueues, Namespace};
use sandflow_runtime::{Grant, Grants, Invocation, Limits, Runtime, RuntimeConfig};
use serde_json::{Value, json};

use crate::cli::parse_input;

#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Run one invocation; prints the output or error, fuel used and time taken.
    Run(RunArgs),
    /// Say which ABI a .wasm follows and what it imports, or why it would be refused.
    Check(CheckArgs),
    /// Measure compile time, artifact load time and warm invocation latency and throughput.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The task: a component of world sandflow:task/task, or a WASI command.
    pub file: PathBuf,
    /// The task's input: JSON text, or @FILE.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}", value_parser = parse_input)]
    pub input: Value,
    /// A capability: http:URL, http:GET,POST:URL, kv:TABLE, queue:NAME, log, clock, random.
    /// Repeatable; nothing is granted otherwise (log is always on here).
    #[arg(long = "grant", value_name = "GRANT")]
    pub grants: Vec<Grant>,
    /// CPU budget in fuel units.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Wall-clock deadline in seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Memory cap in MiB.
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// Seed a KV entry first: TABLE:KEY=JSON (repeatable).
    #[arg(long = "kv", value_name = "TABLE:KEY=JSON", value_parser = parse_kv_seed)]
    pub kv: Vec<(String, String, Vec<u8>)>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub invoke: InvokeArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub invoke: InvokeArgs,
    /// Sequential invocations timed for the latency figures.
    #[arg(long, default_value_t = 2000)]
    pub iterations: u32,
    /// Invocations in flight at once for the throughput figure.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u32,
}

const TENANT: &str = "local";

fn parse_kv_seed(s: &str) -> Result<(String, String, Vec<u8>), String> {
    let (table, rest) = s.split_once(':').ok_or("expected TABLE:KEY=JSON")?;
    let (key, value) = rest.split_once('=').ok_or("expected TABLE:KEY=JSON")?;
    serde_json::from_str::<Value>(value).map_err(|e| format!("{value:?} is not JSON: {e}"))?;
    Ok((table.into(), key.into(), value.as_bytes().to_vec()))
}

pub fn main(args: TaskArgs) -> ExitCode {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = tokio.block_on(async {
        match args.command {
            TaskCommand::Run(a) => run(a.invoke).await,
            TaskCommand::Check(a) => check(&a.file).await,
            TaskCommand::Bench(a) => bench(a).await,
        }
    });
    result.unwrap_or_else(|msg| {
        eprintln!("sandflow task: {msg}");
        ExitCode::from(2)
    })
}

fn read(file: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn runtime(
    artifact_dir: Option<PathBuf>,
    kv: Arc<MemoryKv>,
    queues: Arc<MemoryQueues>,
) -> Result<Runtime, String> {
    let config = RuntimeConfig {
        artifact_dir,
        max_concurrent: 256,
        ..RuntimeConfig::default()
    };
    Runtime::new(config, kv, queues).map_err(|e| e.to_string())
}

fn limits(a: &InvokeArgs, defaults: Limits) -> Result<Limits, String> {
    let mut l = defaults;
    if let Some(f) = a.fuel {
        l.fuel = f;
    }
    if let Some(t) = a.timeout {
        l.timeout = Duration::try_from_secs_f64(t).map_err(|e| format!("--timeout {t}: {e}"))?;
    }
    if let Some(m) = a.memory {
        l.memory_mib = m;
    }
    Ok(l)
}

fn grants(a: &InvokeArgs) -> Grants {
    let mut g = Grants {
        log: true,
        ..Grants::default()
    };
    for grant in &a.grants {
        g.add(grant.clone());
    }
    g
}

async fn seed(kv: &MemoryKv, seeds: &[(String, String, Vec<u8>)]) {
    for (table, key, value) in seeds {
        let ns = Namespace {
            tenant: TENANT.into(),
            name: table.clone(),
        };
        kv.set(&ns, key, value.clone())
            .await
            .expect("the in-memory store does not fail");
    }
}

async fn run(a: InvokeArgs) -> Result<ExitCode, String> {
    let wasm = read(&a.file)?;
    let kv = Arc::new(MemoryKv::default());
    let queues = Arc::new(MemoryQueues::default());
    let rt = runtime(None, kv.clone(), queues.clone())?;
    seed(&kv, &a.kv).await;
    let f = rt
        .upload(&wasm)
        .await
        .map_err(|e| format!("{}: {e}", a.file.display()))?;
    let g = grants(&a);
    let report = rt
        .invoke(
            &f.sha256,
            Invocation {
                tenant: TENANT.into(),
                input: a.input.to_string(),
                limits: limits(&a, rt.config().defaults)?,
                grants: Arc::new(g.clone()),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut out = json!({});
    match report.outcome.output() {
        Some(text) => {
            out["output"] = serde_json::from_str(text).unwrap_or(Value::String(text.into()))
        }
        None => {
            let (error, cause) = report.outcome.error().expect("not a success");
            out["error"] = error.into();
            out["cause"] = cause.into();
        }
    }
    out["fuelUsed"] = report.fuel_used.into();
    out["elapsedMs"] = json!((report.elapsed.as_secs_f64() * 1e6).round() / 1e3);
    if !report.logs.is_empty() {
        out["logs"] = serde_json::to_value(&report.logs).expect("logs serialise");
    }
    if !report.stderr.is_empty() {
        out["stderr"] = report.stderr.clone().into();
    }
    let sent: serde_json::Map<String, Value> = g
        .queues
        .iter()
        .map(|q| {
            let ns = Namespace {
                tenant: TENANT.into(),
                name: q.clone(),
            };
            let bodies = queues
                .peek(&ns)
                .into_iter()
                .map(|m| Value::String(m.body))
                .collect();
            (q.clone(), Value::Array(bodies))
        })
        .filter(|(_, v)| v.as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    if !sent.is_empty() {
        out["queued"] = Value::Object(sent);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("JSON serialises")
    );
    Ok(if report.outcome.output().is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check(file: &Path) -> Result<ExitCode, String> {
    let wasm = read(file)?;
    let rt = runtime(None, Arc::default(), Arc::default())?;
    match rt.upload(&wasm).await {
        Ok(f) => {
            let out = json!({
                "abi": f.abi,
                "description": f.abi.describe(),
                "sha256": f.sha256,
                "bytes": wasm.len(),
                "imports": f.imports,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&out).expect("JSON serialises")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: refused: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn bench(a: BenchArgs) -> Result<ExitCode, String> {
    let inv = &a.invoke;
    let wasm = read(&inv.file)?;
    let dir = std::env::temp_dir().join(format!("sandflow-bench-{}", std::process::id()));
    let kv = Arc::new(MemoryKv::default());
    seed(&kv, &inv.kv).await;
    let queues = Arc::new(MemoryQueues::default());

    // Compile at upload, then "restart": a fresh runtime loads the artifact from disk.
    let t = Instant::now();
    let sha = runtime(Some(dir.clone()), kv.clone(), queues.clone())?
        .upload(&wasm)
        .await
        .map_err(|e| e.to_string())?
        .sha256;
    let compile = t.elapsed();
    let rt = runtime(Some(dir.clone()), kv, queues)?;
    let t = Instant::now();
    let abi = rt.preload(&sha).map_err(|e| e.to_string())?.abi;
    let load = t.elapsed();

    let invocation = Invocation {
        tenant: TENANT.into(),
        input: inv.input.to_string(),
        limits: limits(inv, rt.config().defaults)?,
        grants: Arc::new(grants(inv)),
    };
    let first = rt
        .invoke(&sha, invocation.clone())
        .await
        .map_err(|e| e.to_string())?;
    if let Some((error, cause)) = first.outcome.error() {
        return Err(format!(
            "the task fails, nothing to benchmark: {error}: {cause}"
        ));
    }
    for _ in 0..a.iterations.min(200) {
        rt.invoke(&sha, invocation.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut lat = Vec::with_capacity(a.iterations as usize);
    for _ in 0..a.iterations.max(1) {
        let t = Instant::now();
        rt.invoke(&sha, invocation.clone())
            .await
            .map_err(|e| e.to_string())?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];

    // Throughput: `concurrency` workers invoking back to back for about a second.
    let per_worker = (a.iterations / a.concurrency.max(1)).max(10);
    let t = Instant::now();
    let workers: Vec<_> = (0..a.concurrency.max(1))
        .map(|_| {
            let rt = rt.clone();
            let inv = invocation.clone();
            let sha = sha.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    rt.invoke(&sha, inv.clone()).await.expect("invoke");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|e| e.to_string())?;
    }
    let total = per_worker * a.concurrency.max(1);
    let throughput = f64::from(total) / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);

    let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
    let out = json!({
        "file": inv.file.display().to_string(),
        "abi": abi,
        "compileMs": (compile.as_secs_f64() * 1e4).round() / 10.0,
        "artifactLoadMs": (load.as_secs_f64() * 1e4).round() / 10.0,
        "fuelPerInvocation": first.fuel_used,
        "iterations": lat.len(),
        "p50Us": us(pct(0.5)),
        "p90Us": us(pct(0.9)),
        "p99Us": us(pct(0.99)),
        "concurrency": a.concurrency,
        "invocationsPerSec": throughput.round(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("JSON serialises")
    );
    Ok(ExitCode::SUCCESS)
}
