//! `sandflow exec` on the example workflow: one run per branch, each from the mock set the
//! example's README uses, plus the mock flags and failure modes of `exec` itself.

use serde_json::Value;

use crate::bin::{Run, sandflow};

const DEFINITION: &str = "guest-examples/order-fulfillment/definition.asl.json";

fn exec_example(input: &str, mocks: &str, extra: &[&str]) -> Run {
    let input = format!("@guest-examples/order-fulfillment/{input}");
    let mocks = format!("guest-examples/order-fulfillment/mocks/{mocks}");
    let mut args = vec!["exec", DEFINITION, "--input", &input, "--mocks", &mocks];
    args.extend_from_slice(extra);
    sandflow(&args)
}

fn succeeded(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = run.json();
    assert_eq!(out["status"], "SUCCEEDED", "{out:#}");
    out["output"].clone()
}

fn failed_with(run: &Run, error: &str) -> Value {
    assert_eq!(run.code, Some(1), "{run:#?}");
    let out = run.json();
    assert_eq!(out["status"], "FAILED", "{out:#}");
    assert_eq!(out["error"], error, "{out:#}");
    out
}

#[test]
fn in_stock_small_order_completes_without_approval() {
    let output = succeeded(&exec_example("input.json", "in-stock.json", &[]));
    assert_eq!(output["orderId"], "ORD-1001");
    assert_eq!(output["inventory"]["inStock"], true);
    assert_eq!(
        output["payment"],
        serde_json::json!({"transactionId": "TXN-5001", "status": "CAPTURED"})
    );
    assert!(
        output.get("record").is_none(),
        "the putItem answer is dropped: {output:#}"
    );
    assert_eq!(
        output["shipment"],
        serde_json::json!({"messageId": "MSG-1001"})
    );
    assert!(output.get("approval").is_none(), "{output:#}");
}

#[test]
fn large_order_waits_for_approval() {
    let output = succeeded(&exec_example(
        "input-large.json",
        "approval-required.json",
        &[],
    ));
    assert_eq!(output["approval"]["approved"], true, "{output:#}");
    assert_eq!(output["payment"]["transactionId"], "TXN-6002");
}

#[test]
fn unapproved_large_order_times_out() {
    let out = failed_with(
        &exec_example("input-large.json", "approval-timeout.json", &[]),
        "ApprovalTimedOut",
    );
    assert_eq!(out["cause"], "No manager approved the order in time");
}

#[test]
fn out_of_stock_notifies_then_fails() {
    let run = exec_example("input.json", "out-of-stock.json", &["--history"]);
    let out = failed_with(&run, "OutOfStock");
    let events = out["history"].as_array().expect("history");
    let scheduled: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "TaskScheduled")
        .collect();
    assert_eq!(
        scheduled.len(),
        1,
        "only the SNS task ran as a service task"
    );
    assert_eq!(
        scheduled[0]["taskScheduledEventDetails"]["resourceType"],
        "sns"
    );
    assert_eq!(events.last().unwrap()["type"], "ExecutionFailed");
}

#[test]
fn declined_payment_is_caught() {
    let out = failed_with(
        &exec_example("input.json", "payment-declined.json", &[]),
        "PaymentFailed",
    );
    assert_eq!(out["cause"], "The payment could not be processed");
}

#[test]
fn unavailable_payment_service_is_retried() {
    let run = exec_example("input.json", "payment-retried.json", &["--history"]);
    let out = run.json();
    assert_eq!(out["status"], "SUCCEEDED", "{out:#}");
    assert_eq!(out["output"]["payment"]["transactionId"], "TXN-5003");
    let events = out["history"].as_array().expect("history");
    let count = |ty: &str| events.iter().filter(|e| e["type"] == ty).count();
    // Process Payment fails once, then succeeds on the retry; putItem and sendMessage once.
    assert_eq!(count("TaskFailed"), 1, "{out:#}");
    assert_eq!(count("TaskSucceeded"), 3, "{out:#}");
    let invokes = events
        .iter()
        .filter(|e| e["taskScheduledEventDetails"]["resource"] == "invoke")
        .count();
    assert_eq!(invokes, 2, "{out:#}");
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");
}

#[test]
fn mock_flags_override_the_file() {
    let run = exec_example(
        "input.json",
        "in-stock.json",
        &[
            "--mock",
            "Process Payment=error:PaymentDeclined:Card declined",
        ],
    );
    failed_with(&run, "PaymentFailed");
}

#[test]
fn a_task_without_a_mock_fails_naming_it() {
    let run = sandflow(&[
        "exec",
        DEFINITION,
        "--input",
        "@guest-examples/order-fulfillment/input.json",
    ]);
    let out = failed_with(&run, "States.TaskFailed");
    assert!(
        out["cause"].as_str().unwrap().contains("'Check Inventory'"),
        "{out:#}"
    );
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["exec", DEFINITION, "--input", "{not json"][..],
        &["exec", DEFINITION, "--mock", "no-equals-sign"],
        &["exec", DEFINITION, "--type", "batch"],
        &["exec"],
    ] {
        let run = sandflow(args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
}
