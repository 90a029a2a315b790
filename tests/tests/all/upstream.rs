//! A tiny HTTP server on loopback standing in for the services guests call, counting the
//! requests it gets (so a test can tell that a denied request never left the host).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Upstream {
    pub port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    /// Serves:
    /// - `POST /v1/charges`: 200 with a transaction, or 402 if the amount is over 10,000;
    /// - `GET /ok`: 200 `hi`;
    /// - `GET /redirect-in`: 302 to `/ok`; `GET /redirect-out?to=URL`: 302 to URL.
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let h = h.clone();
                std::thread::spawn(move || serve(stream, &h));
            }
        });
        Upstream { port, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Requests seen for `path` (without query).
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn serve(stream: TcpStream, hits: &Mutex<HashMap<String, usize>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        *hits.lock().unwrap().entry(path.to_string()).or_default() += 1;
        let (status, extra, body) = respond(&method, path, query, &body);
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n{extra}\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn respond(method: &str, path: &str, query: &str, body: &[u8]) -> (&'static str, String, String) {
    match (method, path) {
        ("POST", "/v1/charges") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            if v["amount"].as_f64().unwrap_or(0.0) > 10_000.0 {
                (
                    "402 Payment Required",
                    String::new(),
                    "card declined".into(),
                )
            } else {
                let order = v["orderId"].as_str().unwrap_or("?");
                (
                    "200 OK",
                    String::new(),
                    format!(r#"{{"transactionId":"TXN-{order}","status":"CAPTURED"}}"#),
                )
            }
        }
        ("GET", "/ok") => ("200 OK", String::new(), "\"hi\"".into()),
        ("GET", "/redirect-in") => ("302 Found", "location: /ok\r\n".into(), String::new()),
        ("GET", "/redirect-out") => {
            let to = query.strip_prefix("to=").unwrap_or("");
            ("302 Found", format!("location: {to}\r\n"), String::new())
        }
        _ => ("404 Not Found", String::new(), String::new()),
    }
}
