//! The sandbox suite: every attack is its own test, must be denied with the right error,
//! and the host stays up (each test ends by running a healthy task in the same runtime).

use std::time::Duration;

use sandflow_runtime::services::{KvStore, Namespace};
use sandflow_runtime::{Limits, Report, TASK_FAILED, TIMEOUT};
use serde_json::{Value, json};

use crate::guests::{failed, fixture, grants, ok};
use crate::upstream::Upstream;

fn probe(input: Value, limits: Limits, g: &[&str]) -> Report {
    let r = fixture().run(
        "rust-sandbox-probe",
        "attacker",
        &input.to_string(),
        limits,
        grants(g),
    );
    host_still_up();
    r
}

fn host_still_up() {
    let r = fixture().run(
        "rust-echo",
        "t",
        r#"{"alive":true}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(ok(&r), json!({"alive": true}));
}

/// A probe result that reports the attempt failed, with its error text.
fn denied(r: &Report) -> String {
    let v = ok(r);
    assert_eq!(v["ok"], json!(false), "the attack succeeded: {v}");
    v["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn read_etc_passwd() {
    let e = denied(&probe(
        json!({"attack": "read-file", "arg": "/etc/passwd"}),
        Limits::default(),
        &[],
    ));
    assert!(
        e.contains("No such file") || e.contains("not found") || e.contains("capabilit"),
        "{e}"
    );
    let e = denied(&probe(
        json!({"attack": "list-dir", "arg": "/"}),
        Limits::default(),
        &[],
    ));
    assert!(!e.is_empty());
    // The C command cannot open it either.
    let r = fixture().run(
        "c-wordcount",
        "t",
        r#"{"mode":"passwd"}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(ok(&r)["opened"], json!(false));
}

#[test]
fn read_environment_and_args() {
    // SAFETY of the test: the host process has a non-empty environment to leak.
    assert!(std::env::vars().next().is_some());
    let v = ok(&probe(json!({"attack": "env"}), Limits::default(), &[]));
    assert_eq!(v["vars"], json!([]), "{v}");
    assert!(v["args"].as_array().is_some_and(|a| a.len() <= 1), "{v}");
}

#[test]
fn open_a_socket() {
    let up = Upstream::start();
    let e = denied(&probe(
        json!({"attack": "socket", "arg": format!("127.0.0.1:{}", up.port)}),
        Limits::default(),
        &[],
    ));
    assert!(!e.is_empty());
    assert_eq!(up.hits("/ok"), 0);
}

#[test]
fn http_to_a_host_not_granted() {
    let up = Upstream::start();
    let other = Upstream::start();
    // Granted: the first upstream's /ok only.
    let g = format!("http:GET:{}", up.url("/ok"));
    let v = ok(&probe(
        json!({"attack": "http", "arg": up.url("/ok")}),
        Limits::default(),
        &[&g],
    ));
    assert_eq!(v["status"], json!(200), "the granted URL works: {v}");
    for url in [
        other.url("/ok"),
        up.url("/okay"),
        up.url("/ok/../redirect-in"),
    ] {
        let e = denied(&probe(
            json!({"attack": "http", "arg": url}),
            Limits::default(),
            &[&g],
        ));
        assert!(e.contains("Denied"), "{url}: {e}");
    }
    let e = denied(&probe(
        json!({"attack": "http", "arg": up.url("/ok")}),
        Limits::default(),
        &[],
    ));
    assert!(e.contains("Denied"), "{e}");
    assert_eq!(
        other.hits("/ok"),
        0,
        "nothing reached the host that was not granted"
    );
    assert_eq!(up.hits("/redirect-in"), 0);
}

#[test]
fn http_redirect_to_a_host_not_granted() {
    let up = Upstream::start();
    let other = Upstream::start();
    let g = format!("http:GET:{}", up.url("/"));
    let out = format!("{}?to={}", up.url("/redirect-out"), other.url("/ok"));
    let e = denied(&probe(
        json!({"attack": "http", "arg": out}),
        Limits::default(),
        &[&g],
    ));
    assert!(e.contains("Denied") && e.contains("redirect"), "{e}");
    assert_eq!(up.hits("/redirect-out"), 1);
    assert_eq!(other.hits("/ok"), 0, "the redirect was not followed");
    // A redirect within the grant is followed.
    let v = ok(&probe(
        json!({"attack": "http", "arg": up.url("/redirect-in")}),
        Limits::default(),
        &[&g],
    ));
    assert_eq!(v["body"], json!("\"hi\""));
}

#[test]
fn kv_of_another_tenant() {
    let f = fixture();
    let victim = Namespace {
        tenant: "victim".into(),
        name: "accounts".into(),
    };
    f.block_on(f.kv.set(&victim, "secret", b"the victim's".to_vec()))
        .unwrap();
    // Granted a table of the same name, the attacker sees only its own tenant's.
    let v = ok(&probe(
        json!({"attack": "kv-get", "arg": "accounts"}),
        Limits::default(),
        &["kv:accounts"],
    ));
    assert_eq!(v, json!({"ok": true, "value": null}));
    let v = ok(&probe(
        json!({"attack": "kv-set", "arg": "accounts"}),
        Limits::default(),
        &["kv:accounts"],
    ));
    assert_eq!(v, json!({"ok": true}));
    let kept = f.block_on(f.kv.get(&victim, "secret")).unwrap();
    assert_eq!(kept.as_deref(), Some(&b"the victim's"[..]));
    // Names that try to reach out of the namespace are just denied.
    for table in ["victim/accounts", "../victim", "victim:accounts", ""] {
        let e = denied(&probe(
            json!({"attack": "kv-get", "arg": table}),
            Limits::default(),
            &["kv:accounts"],
        ));
        assert!(e.contains("Denied"), "{table}: {e}");
    }
}

#[test]
fn kv_table_not_granted() {
    let e = denied(&probe(
        json!({"attack": "kv-get", "arg": "accounts"}),
        Limits::default(),
        &["kv:other"],
    ));
    assert!(e.contains("Denied") && e.contains("accounts"), "{e}");
}

#[test]
fn queue_not_granted() {
    let e = denied(&probe(
        json!({"attack": "queue", "arg": "payments"}),
        Limits::default(),
        &["queue:orders"],
    ));
    assert!(e.contains("Denied") && e.contains("payments"), "{e}");
    let v = ok(&probe(
        json!({"attack": "queue", "arg": "orders"}),
        Limits::default(),
        &["queue:orders"],
    ));
    assert_eq!(v["ok"], json!(true));
}

#[test]
fn infinite_loop() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    let (e, c) = failed(&probe(json!({"attack": "spin"}), limits, &[]));
    assert_eq!(e, TIMEOUT);
    assert!(c.contains("wall-clock deadline"), "{c}");
    // The same from a C command.
    let r = fixture().run(
        "c-wordcount",
        "t",
        r#"{"mode":"spin"}"#,
        limits,
        grants(&[]),
    );
    assert_eq!(failed(&r).0, TIMEOUT);
}

#[test]
fn fuel_bomb() {
    let limits = Limits {
        fuel: 50_000_000,
        ..Limits::default()
    };
    let r = probe(
        json!({"attack": "compute", "n": 1_000_000_000_000u64}),
        limits,
        &[],
    );
    let (e, c) = failed(&r);
    assert_eq!(e, TIMEOUT);
    assert!(c.contains("CPU budget of 50000000 fuel"), "{c}");
    assert_eq!(r.fuel_used, 50_000_000);
}

#[test]
fn memory_bomb() {
    let limits = Limits {
        memory_mib: 32,
        ..Limits::default()
    };
    let (e, c) = failed(&probe(json!({"attack": "memory"}), limits, &[]));
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("memory limit of 32 MiB exceeded"), "{c}");
}

#[test]
fn deep_recursion() {
    let (e, c) = failed(&probe(
        json!({"attack": "recursion", "n": 100_000_000u64}),
        Limits::default(),
        &[],
    ));
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("stack overflow"), "{c}");
}

#[test]
fn output_of_100_mib() {
    // Enough memory to build it, so the output cap is what stops it.
    let limits = Limits {
        memory_mib: 512,
        ..Limits::default()
    };
    let (e, c) = failed(&probe(
        json!({"attack": "output", "n": 100u64 << 20}),
        limits,
        &[],
    ));
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("output too large"), "{c}");
    // A command writing 100 MiB to stdout is cut off at the cap.
    let r = fixture().run(
        "c-wordcount",
        "t",
        r#"{"mode":"flood"}"#,
        Limits::default(),
        grants(&[]),
    );
    let (e, c) = failed(&r);
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("output too large"), "{c}");
}

#[test]
fn a_trap() {
    let (e, c) = failed(&probe(json!({"attack": "trap"}), Limits::default(), &[]));
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("unreachable"), "{c}");
    // A panic's message reaches the cause through stderr.
    let (e, c) = failed(&probe(json!({"attack": "panic"}), Limits::default(), &[]));
    assert_eq!(e, TASK_FAILED);
    assert!(c.contains("the probe panicked on purpose"), "{c}");
    let r = fixture().run(
        "c-wordcount",
        "t",
        r#"{"mode":"crash"}"#,
        Limits::default(),
        grants(&[]),
    );
    assert_eq!(failed(&r).0, TASK_FAILED);
}

#[test]
fn a_component_of_the_wrong_world() {
    let f = fixture();
    let err = f
        .block_on(f.rt.upload(&crate::guests::guest("rust-wrong-world")))
        .unwrap_err();
    assert!(err.to_string().contains("not a task"), "{err}");
    host_still_up();
}

#[test]
fn the_clock_is_frozen_unless_granted() {
    let v = ok(&probe(json!({"attack": "clock"}), Limits::default(), &[]));
    assert_eq!(v["unixSecs"], json!(1_700_000_000u64));
    let v = ok(&probe(
        json!({"attack": "clock"}),
        Limits::default(),
        &["clock"],
    ));
    assert!(v["unixSecs"].as_u64().unwrap() > 1_700_000_000, "{v}");
}

/// 64 invocations at once, 2 of them spinning: the other 62 all finish while the spinners
/// are still running (they end later with States.Timeout).
#[test]
fn sixty_four_at_once_with_two_spinning() {
    let f = fixture();
    let probe = f.upload("rust-sandbox-probe");
    let echo = f.upload("rust-echo");
    let spin_limits = Limits {
        timeout: Duration::from_secs(5),
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    f.block_on(async {
        let call = |sha: String, input: String, limits: Limits| {
            let rt = f.rt.clone();
            tokio::spawn(async move {
                rt.invoke(
                    &sha,
                    sandflow_runtime::Invocation {
                        tenant: "t".into(),
                        input,
                        limits,
                        grants: Default::default(),
                    },
                )
                .await
                .expect("invoke")
            })
        };
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                call(
                    probe.sha256.clone(),
                    r#"{"attack":"spin"}"#.into(),
                    spin_limits,
                )
            })
            .collect();
        let others: Vec<_> = (0..62)
            .map(|i| {
                call(
                    echo.sha256.clone(),
                    format!(r#"{{"i":{i}}}"#),
                    Limits::default(),
                )
            })
            .collect();
        for (i, h) in others.into_iter().enumerate() {
            assert_eq!(ok(&h.await.unwrap()), json!({"i": i}));
        }
        assert!(
            spinners.iter().all(|s| !s.is_finished()),
            "the 62 finished only after the spinners gave up"
        );
        for s in spinners {
            assert_eq!(failed(&s.await.unwrap()).0, TIMEOUT);
        }
    });
}
