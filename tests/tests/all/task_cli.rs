//! `sandflow task run|check` on the built guests.

use serde_json::json;

use crate::bin::sandflow;
use crate::guests::guest_path;

fn path(name: &str) -> String {
    guest_path(name).display().to_string()
}

#[test]
fn check_names_the_abi_and_imports_or_why_it_is_refused() {
    let r = sandflow(&["task", "check", &path("rust-process-payment")]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let v = r.json();
    assert_eq!(v["abi"], json!("task"));
    let imports = v["imports"].as_array().unwrap();
    assert!(imports.contains(&json!("sandflow:task/http@0.1.0")), "{v}");
    let r = sandflow(&["task", "check", &path("c-wordcount")]);
    assert_eq!(r.json()["abi"], json!("command-module"));
    let r = sandflow(&["task", "check", &path("rust-wrong-world")]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(
        r.stderr.contains("refused") && r.stderr.contains("sandflow:task/task"),
        "{r:#?}"
    );
}

#[test]
fn run_prints_the_output_fuel_and_time() {
    let r = sandflow(&[
        "task",
        "run",
        &path("rust-check-inventory"),
        "--input",
        "@guest-examples/order-fulfillment/input.json",
        "--grant",
        "kv:inventory",
        "--kv",
        "inventory:BOOK-123=2",
        "--kv",
        "inventory:MUG-7=1",
    ]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let v = r.json();
    assert_eq!(
        v["output"],
        json!({"inStock": true, "reservationId": "RES-ORD-1001", "short": []})
    );
    assert!(
        v["fuelUsed"].as_u64().unwrap() > 0 && v["elapsedMs"].is_number(),
        "{v}"
    );
}

#[test]
fn run_reports_failures_and_limits_with_exit_code_1() {
    let r = sandflow(&[
        "task",
        "run",
        &path("c-wordcount"),
        "--input",
        r#"{"mode":"spin"}"#,
        "--timeout",
        "0.3",
    ]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(r.json()["error"], json!("States.Timeout"));
    let r = sandflow(&[
        "task",
        "run",
        &path("rust-sandbox-probe"),
        "--input",
        r#"{"attack":"memory"}"#,
        "--memory",
        "16",
    ]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(r.json()["error"], json!("States.TaskFailed"));
    assert!(
        r.json()["cause"]
            .as_str()
            .unwrap()
            .contains("memory limit of 16 MiB"),
        "{r:#?}"
    );
}

#[test]
fn bad_grants_and_files_are_usage_errors() {
    let r = sandflow(&["task", "run", &path("rust-echo"), "--grant", "fs:/etc"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(r.stderr.contains("unknown grant"), "{r:#?}");
    let r = sandflow(&["task", "run", "no-such.wasm"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(r.stderr.contains("cannot read no-such.wasm"), "{r:#?}");
}
