//! The Python (componentize-py) and JavaScript (componentize-js) guests against the same
//! WIT and host: success with a capability, the guest's own failure, a denied capability,
//! and an uncaught exception becoming a named failure rather than a trap.

use sandflow_runtime::services::{KvStore, Namespace};
use sandflow_runtime::{Abi, Limits};
use serde_json::json;

use crate::guests::{failed, fixture, grants, ok};

#[test]
fn python_order_total_prices_items_from_kv() {
    let f = fixture();
    assert_eq!(f.upload("python-order-total").abi, Abi::Task);
    let ns = Namespace {
        tenant: "py".into(),
        name: "prices".into(),
    };
    f.block_on(async {
        f.kv.set(&ns, "BOOK-123", b"12.5".to_vec()).await.unwrap();
        f.kv.set(&ns, "MUG-7", b"8".to_vec()).await.unwrap();
    });
    let order = r#"{"orderId":"ORD-1","items":[{"sku":"BOOK-123","quantity":2},{"sku":"MUG-7"}]}"#;
    let g = grants(&["kv:prices", "log"]);
    let r = f.run(
        "python-order-total",
        "py",
        order,
        Limits::default(),
        g.clone(),
    );
    assert_eq!(
        ok(&r),
        json!({"orderId": "ORD-1", "total": 33.0, "currency": "USD"})
    );
    assert_eq!(r.logs[0].message, "order ORD-1 totals 33.00");
    let r = f.run(
        "python-order-total",
        "py",
        r#"{"items":[{"sku":"X"}]}"#,
        Limits::default(),
        g.clone(),
    );
    assert_eq!(failed(&r), ("UnknownSku".into(), "no price for X".into()));
    let r = f.run(
        "python-order-total",
        "py",
        order,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(failed(&r).0, "Sandflow.Denied");
    let r = f.run(
        "python-order-total",
        "py",
        r#"{"items":[{"quantity":1}]}"#,
        Limits::default(),
        g,
    );
    assert_eq!(failed(&r), ("KeyError".into(), "'sku'".into()));
}

#[test]
fn js_receipt_formats_and_queues() {
    let f = fixture();
    assert_eq!(f.upload("js-receipt").abi, Abi::Task);
    let order =
        r#"{"orderId":"ORD-2","items":[{"sku":"A","quantity":2},{"sku":"B"}],"sendTo":"receipts"}"#;
    let r = f.run(
        "js-receipt",
        "js",
        order,
        Limits::default(),
        grants(&["queue:receipts"]),
    );
    let v = ok(&r);
    assert_eq!(v["lines"], json!(["2 x A", "1 x B"]));
    assert_eq!(v["itemCount"], json!(3));
    let queued = f.queues.peek(&Namespace {
        tenant: "js".into(),
        name: "receipts".into(),
    });
    assert_eq!(queued.last().map(|m| m.id), v["messageId"].as_u64());
    let r = f.run("js-receipt", "js", order, Limits::default(), grants(&[]));
    assert_eq!(failed(&r).0, "Sandflow.Denied");
    let r = f.run(
        "js-receipt",
        "js",
        r#"{"orderId":"ORD-3"}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(
        failed(&r),
        ("InvalidOrder".into(), "the order has no items".into())
    );
    let r = f.run(
        "js-receipt",
        "js",
        r#"{"items":[null]}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(failed(&r).0, "TypeError");
}

#[test]
fn interpreters_are_bounded_by_fuel_too() {
    // An interpreter's start-up alone costs more than this budget.
    let limits = Limits {
        fuel: 50_000,
        ..Limits::default()
    };
    let f = fixture();
    for name in ["python-order-total", "js-receipt"] {
        let r = f.run(
            name,
            "t",
            r#"{"orderId":"O","items":[{"sku":"A"}]}"#,
            limits,
            grants(&[]),
        );
        let (e, c) = failed(&r);
        assert_eq!(e, sandflow_runtime::TIMEOUT, "{name}");
        assert!(c.contains("CPU budget"), "{name}: {c}");
    }
}
