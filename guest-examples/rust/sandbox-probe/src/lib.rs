//! Tries one forbidden or abusive thing, chosen by the input's `attack`, and reports what
//! happened (for the attacks that return). The sandbox test suite runs it once per attack.

use std::hint::black_box;

use sandflow_sdk::bindings::sandflow::task::{http, kv, queue};
use sandflow_sdk::{TaskError, export_task};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Input {
    attack: String,
    #[serde(default)]
    arg: String,
    #[serde(default)]
    n: u64,
}

fn run(input: Input) -> Result<Value, TaskError> {
    Ok(match input.attack.as_str() {
        "read-file" => match std::fs::read_to_string(&input.arg) {
            Ok(text) => json!({"ok": true, "read": text.len()}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
        "list-dir" => match std::fs::read_dir(&input.arg) {
            Ok(d) => json!({"ok": true, "entries": d.count()}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
        "env" => json!({
            "vars": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "args": std::env::args().collect::<Vec<_>>(),
        }),
        "socket" => match std::net::TcpStream::connect(&input.arg) {
            Ok(_) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
        "http" => match http::fetch(&http::Request {
            method: "GET".into(),
            url: input.arg.clone(),
            headers: vec![],
            body: None,
        }) {
            Ok(r) => {
                json!({"ok": true, "status": r.status, "body": String::from_utf8_lossy(&r.body)})
            }
            Err(e) => json!({"ok": false, "error": format!("{e:?}")}),
        },
        "kv-get" => match kv::get(&input.arg, "secret") {
            Ok(v) => {
                json!({"ok": true, "value": v.map(|b| String::from_utf8_lossy(&b).into_owned())})
            }
            Err(e) => json!({"ok": false, "error": format!("{e:?}")}),
        },
        "kv-set" => match kv::set(&input.arg, "secret", b"from the probe") {
            Ok(()) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": format!("{e:?}")}),
        },
        "queue" => match queue::send(&input.arg, "hello") {
            Ok(id) => json!({"ok": true, "id": id}),
            Err(e) => json!({"ok": false, "error": format!("{e:?}")}),
        },
        "clock" => json!({
            "unixSecs": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }),
        "spin" => loop {
            black_box(());
        },
        "compute" => {
            // A finite but enormous amount of work.
            let mut x = 1u64;
            for i in 0..input.n {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            json!({"x": x})
        }
        "memory" => {
            // Grabs and touches 1 MiB at a time until something stops it.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        "recursion" => json!({"depth": recurse(black_box(input.n))}),
        "output" => Value::String("x".repeat(input.n as usize)),
        "panic" => panic!("the probe panicked on purpose"),
        "trap" => {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
            #[cfg(not(target_arch = "wasm32"))]
            unreachable!()
        }
        "fail" => return Err(TaskError::new("Probe.Failed", input.arg)),
        other => return Err(TaskError::new("Probe.UnknownAttack", other.to_string())),
    })
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + black_box(recurse(black_box(n - 1)))
    }
}

export_task!(run);
