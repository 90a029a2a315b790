//! A task as a WASI command: reads JSON on stdin and writes `{"echo": input}` on stdout.
//! An input with `"fail": "NAME"` exits 1 with `{"error": NAME, "cause": ...}` on stdout,
//! which the host reports as that ASL error. Built for wasm32-wasip1 (a core module) and
//! wasm32-wasip2 (a command component); both run the same way.

use std::io::Read;
use std::process::ExitCode;

use serde_json::{Value, json};

fn main() -> ExitCode {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("reading stdin: {e}");
        return ExitCode::from(2);
    }
    let input: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            println!(
                "{}",
                json!({"error": "InvalidInput", "cause": e.to_string()})
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(name) = input.get("fail").and_then(Value::as_str) {
        eprintln!("failing as asked");
        println!(
            "{}",
            json!({"error": name, "cause": "the input asked to fail"})
        );
        return ExitCode::FAILURE;
    }
    println!("{}", json!({"echo": input}));
    ExitCode::SUCCESS
}
