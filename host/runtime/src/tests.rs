//! Limits, outcome mapping, upload checks and the artifact cache, on small WAT commands.
//! (Real guests in every language are exercised by the workspace's integration tests.)

use std::sync::Arc;
use std::time::Duration;

use crate::services::{MemoryKv, MemoryQueues};
use crate::*;

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(
        config,
        Arc::new(MemoryKv::default()),
        Arc::new(MemoryQueues::default()),
    )
    .expect("runtime starts")
}

fn small() -> RuntimeConfig {
    RuntimeConfig {
        max_concurrent: 8,
        max_memory_mib: 64,
        ..RuntimeConfig::default()
    }
}

/// A WASI command whose `_start` runs `body` after writing `out` to stdout.
fn command(out: &str, body: &str) -> Vec<u8> {
    let escaped: String = out.bytes().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 64) "{escaped}")
            (func $recurse (param i32) (result i32)
                (i32.add (i32.const 1) (call $recurse (local.get 0))))
            (func (export "_start")
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const {len}))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                {body}))"#,
        len = out.len()
    ))
    .expect("valid WAT")
}

async fn run(rt: &Runtime, wasm: &[u8], limits: Limits) -> Report {
    let f = rt.upload(wasm).await.expect("upload");
    rt.invoke(
        &f.sha256,
        Invocation {
            tenant: "t1".into(),
            input: "{}".into(),
            limits,
            grants: Arc::new(Grants::default()),
        },
    )
    .await
    .expect("invoke")
}

fn cause(r: &Report) -> (&str, &str) {
    r.outcome
        .error()
        .unwrap_or_else(|| panic!("expected a failure, got {r:?}"))
}

#[tokio::test]
async fn a_command_that_prints_json_and_exits_0_succeeds() {
    let rt = runtime(small());
    let f = rt.upload(&command(r#"{"ok":true}"#, "")).await.unwrap();
    assert_eq!(f.abi, Abi::CommandModule);
    assert!(
        f.imports
            .iter()
            .any(|i| i == "wasi_snapshot_preview1::fd_write")
    );
    let r = run(&rt, &command(r#"{"ok":true}"#, ""), Limits::default()).await;
    assert_eq!(r.outcome.output(), Some(r#"{"ok":true}"#));
    assert!(r.fuel_used > 0 && r.fuel_used < 10_000, "{r:?}");
}

#[tokio::test]
async fn a_nonzero_exit_is_named_by_stdout_or_else_task_failed() {
    let rt = runtime(small());
    let named = command(
        r#"{"error":"Custom.Bad","cause":"why"}"#,
        "(call $exit (i32.const 3))",
    );
    let r = run(&rt, &named, Limits::default()).await;
    assert_eq!(cause(&r), ("Custom.Bad", "why"));
    let unnamed = command("not json", "(call $exit (i32.const 7))");
    let r = run(&rt, &unnamed, Limits::default()).await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(cause(&r).1.contains("exited with code 7"), "{r:?}");
}

#[tokio::test]
async fn output_that_is_not_json_fails() {
    let rt = runtime(small());
    let r = run(&rt, &command("hello", ""), Limits::default()).await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(cause(&r).1.contains("not JSON"), "{r:?}");
}

#[tokio::test]
async fn a_spinning_guest_hits_the_deadline() {
    let rt = runtime(small());
    let limits = Limits {
        timeout: Duration::from_millis(200),
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    let r = run(&rt, &command("", "(loop (br 0))"), limits).await;
    assert_eq!(cause(&r).0, TIMEOUT);
    assert!(cause(&r).1.contains("wall-clock deadline"), "{r:?}");
}

#[tokio::test]
async fn a_spinning_guest_runs_out_of_fuel() {
    let rt = runtime(small());
    let limits = Limits {
        fuel: 5_000_000,
        ..Limits::default()
    };
    let r = run(&rt, &command("", "(loop (br 0))"), limits).await;
    assert_eq!(cause(&r).0, TIMEOUT);
    assert!(cause(&r).1.contains("CPU budget of 5000000 fuel"), "{r:?}");
    assert_eq!(r.fuel_used, 5_000_000);
}

#[tokio::test]
async fn growing_memory_past_the_cap_fails_with_the_memory_cause() {
    let rt = runtime(small());
    let limits = Limits {
        memory_mib: 2,
        ..Limits::default()
    };
    // 64 pages = 4 MiB on top of the 1 page it has.
    let r = run(
        &rt,
        &command("", "(drop (memory.grow (i32.const 64)))"),
        limits,
    )
    .await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(
        cause(&r).1.contains("memory limit of 2 MiB exceeded"),
        "{r:?}"
    );
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let rt = runtime(small());
    let r = run(
        &rt,
        &command("", "(drop (call $recurse (i32.const 0)))"),
        Limits::default(),
    )
    .await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(cause(&r).1.contains("stack overflow"), "{r:?}");
}

#[tokio::test]
async fn unreachable_is_a_trap() {
    let rt = runtime(small());
    let r = run(&rt, &command("", "unreachable"), Limits::default()).await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(cause(&r).1.contains("unreachable"), "{r:?}");
}

#[tokio::test]
async fn stdout_past_the_output_cap_fails() {
    let rt = runtime(small());
    let limits = Limits {
        max_output_bytes: 100,
        ..Limits::default()
    };
    let big = format!("\"{}\"", "x".repeat(200));
    let r = run(&rt, &command(&big, ""), limits).await;
    assert_eq!(cause(&r).0, TASK_FAILED);
    assert!(cause(&r).1.contains("output too large"), "{r:?}");
    // Exactly at the cap is fine.
    let exact = format!("\"{}\"", "x".repeat(98));
    let r = run(&rt, &command(&exact, ""), limits).await;
    assert_eq!(r.outcome.output(), Some(exact.as_str()));
}

#[tokio::test]
async fn uploads_that_are_not_tasks_are_refused_clearly() {
    let rt = runtime(small());
    let err = rt.upload(b"hello world").await.unwrap_err();
    assert!(matches!(err, Error::NotWasm(_)), "{err}");
    let err = rt.upload(b"\0asm\x01\0\0\0\x05").await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let lib = wat::parse_str(
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0))"#,
    )
    .unwrap();
    let err = rt.upload(&lib).await.unwrap_err();
    assert!(err.to_string().contains("no `_start`"), "{err}");
    let foreign =
        wat::parse_str(r#"(module (import "env" "secret" (func)) (func (export "_start")))"#)
            .unwrap();
    let err = rt.upload(&foreign).await.unwrap_err();
    assert!(err.to_string().contains("env::secret"), "{err}");
    let component = wat::parse_str(r#"(component)"#).unwrap();
    let err = rt.upload(&component).await.unwrap_err();
    assert!(err.to_string().contains("sandflow:task/task"), "{err}");
}

#[tokio::test]
async fn bad_input_and_unknown_functions_are_errors() {
    let rt = runtime(small());
    let f = rt.upload(&command("{}", "")).await.unwrap();
    let inv = |input: &str| Invocation {
        tenant: "t".into(),
        input: input.into(),
        limits: Limits::default(),
        grants: Arc::new(Grants::default()),
    };
    assert!(matches!(
        rt.invoke(&f.sha256, inv("{nope")).await,
        Err(Error::BadInput(_))
    ));
    assert!(matches!(
        rt.invoke("00", inv("{}")).await,
        Err(Error::Unknown(_))
    ));
}

#[tokio::test]
async fn artifacts_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("sandflow-artifacts-{}", std::process::id()));
    let config = RuntimeConfig {
        artifact_dir: Some(dir.clone()),
        ..small()
    };
    let wasm = command(r#"{"again":1}"#, "");
    let sha = runtime(config.clone()).upload(&wasm).await.unwrap().sha256;
    // A new runtime (as after a restart) invokes it straight from the artifact on disk.
    let rt = runtime(config);
    let r = rt
        .invoke(
            &sha,
            Invocation {
                tenant: "t".into(),
                input: "{}".into(),
                limits: Limits::default(),
                grants: Arc::new(Grants::default()),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.output(), Some(r#"{"again":1}"#));
    std::fs::remove_dir_all(dir).unwrap();
}
