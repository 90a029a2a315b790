//! The guest examples run through the runtime: both ABIs, the order-fulfillment tasks with
//! their capabilities, and the upload checks.

use sandflow_runtime::services::{KvStore, Namespace};
use sandflow_runtime::{Abi, Limits};
use serde_json::json;

use crate::guests::{failed, fixture, grants, guest, ok};
use crate::upstream::Upstream;

#[test]
fn rust_echo_component_returns_its_input() {
    let f = fixture();
    let a = f.upload("rust-echo");
    assert_eq!(a.abi, Abi::Task);
    let r = f.run(
        "rust-echo",
        "t",
        r#"{"a":[1,2,{"b":null}]}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(ok(&r), json!({"a": [1, 2, {"b": null}]}));
}

#[test]
fn wasi_commands_in_rust_p1_p2_and_c_read_stdin_and_write_stdout() {
    let f = fixture();
    assert_eq!(f.upload("rust-command-echo.p1").abi, Abi::CommandModule);
    assert_eq!(f.upload("rust-command-echo.p2").abi, Abi::CommandComponent);
    assert_eq!(f.upload("c-wordcount").abi, Abi::CommandModule);
    for name in ["rust-command-echo.p1", "rust-command-echo.p2"] {
        let r = f.run(name, "t", r#"{"x":1}"#, Limits::default(), grants(&[]));
        assert_eq!(ok(&r), json!({"echo": {"x": 1}}), "{name}");
        let r = f.run(
            name,
            "t",
            r#"{"fail":"Echo.Asked"}"#,
            Limits::default(),
            grants(&[]),
        );
        assert_eq!(
            failed(&r),
            ("Echo.Asked".into(), "the input asked to fail".into()),
            "{name}"
        );
        assert!(
            r.stderr.contains("failing as asked"),
            "{name}: stderr goes to the log: {r:?}"
        );
    }
    let r = f.run(
        "c-wordcount",
        "t",
        r#"{"text": "three little words"}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(ok(&r), json!({"bytes": 30, "words": 4, "lines": 0}));
    let r = f.run(
        "c-wordcount",
        "t",
        r#"{"mode":"fail"}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(failed(&r).0, "WordCount.Failed");
}

#[test]
fn check_inventory_reads_the_tenants_inventory_table() {
    let f = fixture();
    let ns = Namespace {
        tenant: "shop".into(),
        name: "inventory".into(),
    };
    f.block_on(async {
        f.kv.set(&ns, "BOOK-123", b"5".to_vec()).await.unwrap();
        f.kv.set(&ns, "MUG-7", b"0".to_vec()).await.unwrap();
    });
    let g = grants(&["kv:inventory"]);
    let order = |qty: u32, sku: &str| {
        json!({"orderId": "ORD-1", "items": [{"sku": "BOOK-123", "quantity": qty}, {"sku": sku, "quantity": 1}]})
            .to_string()
    };
    let r = f.run(
        "rust-check-inventory",
        "shop",
        &order(2, "BOOK-123"),
        Limits::default(),
        g.clone(),
    );
    assert_eq!(
        ok(&r),
        json!({"inStock": true, "reservationId": "RES-ORD-1", "short": []})
    );
    let r = f.run(
        "rust-check-inventory",
        "shop",
        &order(2, "MUG-7"),
        Limits::default(),
        g.clone(),
    );
    assert_eq!(ok(&r), json!({"inStock": false, "short": ["MUG-7"]}));
    // Without the grant, the SDK's error is the task's.
    let r = f.run(
        "rust-check-inventory",
        "shop",
        &order(1, "MUG-7"),
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(failed(&r).0, "Sandflow.Denied");
    // Input that does not fit the task's type.
    let r = f.run(
        "rust-check-inventory",
        "shop",
        r#"{"orderId": 5}"#,
        Limits::default(),
        g,
    );
    assert_eq!(failed(&r).0, "Sandflow.InvalidJson");
}

#[test]
fn process_payment_calls_the_granted_endpoint() {
    let f = fixture();
    let up = Upstream::start();
    let endpoint = up.url("/v1/charges");
    let g = grants(&[&format!("http:POST:{endpoint}"), "log"]);
    let input = |amount: f64| {
        json!({"orderId": "ORD-9", "customerId": "C-1", "amount": amount, "currency": "USD",
               "paymentEndpoint": endpoint})
        .to_string()
    };
    let r = f.run(
        "rust-process-payment",
        "shop",
        &input(64.5),
        Limits::default(),
        g.clone(),
    );
    assert_eq!(
        ok(&r),
        json!({"transactionId": "TXN-ORD-9", "status": "CAPTURED"})
    );
    assert_eq!(r.logs.len(), 1, "{r:?}");
    assert!(r.logs[0].message.contains("charging 64.5 USD"), "{r:?}");
    let r = f.run(
        "rust-process-payment",
        "shop",
        &input(50_000.0),
        Limits::default(),
        g,
    );
    assert_eq!(
        failed(&r),
        ("PaymentDeclined".into(), "card declined".into())
    );
    assert_eq!(up.hits("/v1/charges"), 2);
}

#[test]
fn notify_sends_to_the_granted_queue() {
    let f = fixture();
    let r = f.run(
        "rust-notify",
        "notifier",
        r#"{"orderId": "ORD-3"}"#,
        Limits::default(),
        grants(&["queue:order-notifications"]),
    );
    let id = ok(&r)["messageId"].as_u64().expect("an id");
    let waiting = f.queues.peek(&Namespace {
        tenant: "notifier".into(),
        name: "order-notifications".into(),
    });
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, id);
    let body: serde_json::Value = serde_json::from_str(&waiting[0].body).unwrap();
    assert_eq!(
        body,
        json!({"orderId": "ORD-3", "message": "Order ORD-3 is out of stock"})
    );
}

#[test]
fn a_component_of_another_world_is_refused_at_upload() {
    let f = fixture();
    let err = f
        .block_on(f.rt.upload(&guest("rust-wrong-world")))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("sandflow:task/task") && msg.contains("greet"),
        "{msg}"
    );
}
