//! The engine under SIGKILL: a worker process runs Standard executions (Wait, Task, Choice, Map)
//! and is killed at random moments, then restarted on the same data, until every execution has
//! finished. Then each must have the right output and a history with contiguous event ids, one
//! start and one end, and no transition repeated.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_crash-worker");

/// A small deterministic generator for kill delays (no dependency needed).
fn delays(mut seed: u64) -> impl Iterator<Item = Duration> {
    std::iter::from_fn(move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Some(Duration::from_millis(20 + seed % 600))
    })
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn executions_survive_sigkill_exactly_once() {
    let executions = env_or("SANDFLOW_CRASH_EXECUTIONS", 200);
    let rounds = env_or("SANDFLOW_CRASH_ROUNDS", 1);
    for round in 0..rounds {
        let dir = tempfile_dir(round);
        let mut kills = 0;
        let started = Instant::now();
        let mut delay = delays(0x9e37_79b9 ^ round);
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "round {round} did not converge"
            );
            let mut child = Command::new(WORKER)
                .args([
                    "--data",
                    dir.to_str().unwrap(),
                    "--executions",
                    &executions.to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("crash-worker starts");
            let deadline = Instant::now() + delay.next().unwrap();
            let finished = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() >= deadline && kills < 8 {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            match finished {
                Some(status) => {
                    assert!(status.success(), "worker failed: {status}");
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                }
            }
        }
        check(&dir, executions);
        eprintln!("crash round {round}: {executions} executions, {kills} kills");
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn tempfile_dir(round: u64) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sandflow-crash-{}-{round}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check(dir: &std::path::Path, executions: u64) {
    let store = sandflow_store::Store::open(&dir.join("sandflow.db")).unwrap();
    for i in 0..executions {
        let arn = format!("arn:aws:states:us-east-1:000000000000:execution:crash:e{i}");
        let key = arn.clone();
        let (row, history) = store
            .read(move |c| {
                let row = sandflow_store::executions::get(c, 1, &key)?.expect("execution exists");
                let h = sandflow_store::executions::history(c, row.id, 1, 100_000, false)?;
                Ok((row, h))
            })
            .unwrap();
        assert_eq!(
            row.status, "SUCCEEDED",
            "{arn}: {:?} {:?}",
            row.error, row.cause
        );
        let output: Value = serde_json::from_str(row.output.as_deref().unwrap()).unwrap();
        assert_eq!(
            output,
            json!({"n": i, "items": [{"v": 2 * i}, {"v": 2 * i + 2}], "task": {"n": i, "items": [i, i + 1], "seen": true}}),
            "{arn}"
        );
        let ids: Vec<u64> = history.iter().map(|e| e["id"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (1..=ids.len() as u64).collect();
        assert_eq!(
            ids, expected,
            "{arn}: event ids are contiguous, none duplicated"
        );
        let count = |t: &str| history.iter().filter(|e| e["type"] == t).count();
        assert_eq!(count("ExecutionStarted"), 1, "{arn}");
        assert_eq!(count("ExecutionSucceeded"), 1, "{arn}");
        assert_eq!(count("WaitStateExited"), 1, "{arn}");
        assert_eq!(count("TaskStateExited"), 1, "{arn}");
        assert_eq!(count("MapIterationSucceeded"), 2, "{arn}");
    }
    store.close();
}
