//! `sandflow bench --endpoint`: the HTTP load generator driven against a `sandflow serve --dev`
//! of this build, so it keeps working (counts, signing, the JSON line) without the peers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bin::{sandflow, sandflow_path};

/// A `sandflow serve --dev` on a free loopback port, stopped and removed on drop.
struct Server {
    child: Child,
    data: PathBuf,
    url: String,
}

impl Server {
    fn start(tag: &str) -> Server {
        let data = std::env::temp_dir().join(format!(
            "sandflow-bench-endpoint-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(sandflow_path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--dev"])
            .arg("--data")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandflow serve starts");
        let mut server = Server {
            child,
            data,
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_healthy(port);
        server
    }

    fn wait_healthy(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!("sandflow serve exited early: {status}");
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sandflow serve did not answer /health within 30 s");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Runs the bench with `args` against `server`; its JSON lines.
fn bench(server: &Server, args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let mut all = vec!["bench", "--endpoint", server.url.as_str(), "--json"];
    all.extend_from_slice(args);
    let run = sandflow(&all);
    let lines = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {run:#?}")))
        .collect();
    (run.code, lines)
}

#[test]
fn express_sync_and_standard_runs_report_their_counts_and_no_errors() {
    let server = Server::start("ok");
    let (code, lines) = bench(
        &server,
        &[
            "--workload",
            "express-sync",
            "--count",
            "20",
            "--clients",
            "4",
        ],
    );
    assert_eq!(code, Some(0), "{lines:#?}");
    let [r] = lines.as_slice() else {
        panic!("one line per run: {lines:#?}")
    };
    assert_eq!(r["workload"], "express-sync");
    assert_eq!(r["clients"], 4);
    assert_eq!(r["calls"], 20, "{r}");
    assert_eq!(r["ok"], 20, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["unsupported"], false);
    assert!(r["per_second"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["p50_ms"].as_f64().unwrap() <= r["p99_ms"].as_f64().unwrap());

    let (code, lines) = bench(&server, &["--workload", "standard", "--count", "5"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    let [r] = lines.as_slice() else {
        panic!("one line per run: {lines:#?}")
    };
    assert_eq!(r["workload"], "standard");
    assert_eq!(r["executions"], 5, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["unit"], "executions/s");
}

#[test]
fn several_workloads_and_client_counts_give_a_line_each() {
    let server = Server::start("matrix");
    let (code, lines) = bench(
        &server,
        &[
            "--workload",
            "express-sync-1,list",
            "--clients",
            "1,2",
            "--count",
            "6",
        ],
    );
    assert_eq!(code, Some(0), "{lines:#?}");
    let seen: Vec<(String, u64, u64)> = lines
        .iter()
        .map(|r| {
            assert_eq!(r["errors"], 0, "{r}");
            (
                r["workload"].as_str().unwrap().to_string(),
                r["clients"].as_u64().unwrap(),
                r["ok"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("express-sync-1", 1, 6),
        ("express-sync-1", 2, 6),
        ("list", 1, 6),
        ("list", 2, 6),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(w, c, n)| (w.to_string(), *c, *n))
        .collect();
    assert_eq!(seen, want);
}

#[test]
fn queue_and_table_workloads_do_every_operation() {
    let server = Server::start("services");
    let (code, lines) = bench(
        &server,
        &[
            "--workload",
            "sqs-cycle,dynamodb-put-get",
            "--clients",
            "2",
            "--count",
            "10",
        ],
    );
    assert_eq!(code, Some(0), "{lines:#?}");
    let seen: Vec<(&str, &str, u64, u64)> = lines
        .iter()
        .map(|r| {
            (
                r["workload"].as_str().unwrap(),
                r["unit"].as_str().unwrap(),
                r["ok"].as_u64().unwrap(),
                r["errors"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("sqs-cycle", "cycles/s", 10, 0),
            ("dynamodb-put-get", "pairs/s", 10, 0)
        ]
    );
}

#[test]
fn a_wrong_secret_is_reported_as_a_failed_setup_with_the_signature_error() {
    let server = Server::start("badkey");
    let (code, lines) = bench(
        &server,
        &[
            "--secret-key",
            "wrong",
            "--workload",
            "express-sync",
            "--count",
            "3",
        ],
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    let [r] = lines.as_slice() else {
        panic!("one line per run: {lines:#?}")
    };
    assert_eq!(r["ok"], 0, "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("InvalidSignatureException"), "{r}");
}
