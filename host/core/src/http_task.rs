//! The HTTP task (`arn:aws:states:::http:invoke`): its parameters as Step Functions reads
//! them, the request they make, and the task's output or failure for the answer. Pure: the
//! server adds the connection's credentials and makes the call.

use serde_json::{Map, Value, json};

use crate::Failure;
use crate::error::names;

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

/// How a URL-encoded body writes arrays (`Transform.RequestEncodingOptions.ArrayFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayFormat {
    /// `a[0]=x&a[1]=y` (the default)
    Indices,
    /// `a=x&a=y`
    Repeat,
    /// `a=x,y`
    Commas,
    /// `a[]=x&a[]=y`
    Brackets,
}

/// One HTTP task's call, before the connection's parameters are added.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpInvoke {
    pub endpoint: String,
    pub method: String,
    pub connection_arn: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// The body text and, when the task chose it, its content type.
    pub body: Option<(String, Option<&'static str>)>,
}

fn runtime(message: String) -> Failure {
    Failure::new(names::RUNTIME, message)
}

/// A parameter value as header or query text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn string_map(params: &Value, field: &str) -> Result<Vec<(String, String)>, Failure> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Some(_) => Err(runtime(format!(
            "The HTTP task's {field} must be a JSON object."
        ))),
    }
}

impl HttpInvoke {
    pub fn from_task(params: &Value) -> Result<HttpInvoke, Failure> {
        let field = |name: &str| params.get(name).and_then(Value::as_str);
        let endpoint = field("ApiEndpoint")
            .ok_or_else(|| runtime("The HTTP task needs an ApiEndpoint string.".into()))?
            .to_string();
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(runtime(format!(
                "The ApiEndpoint '{endpoint}' is not an http(s) URL."
            )));
        }
        let method = field("Method")
            .ok_or_else(|| runtime("The HTTP task needs a Method.".into()))?
            .to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(runtime(format!(
                "The Method '{method}' is not one of {}.",
                METHODS.join(", ")
            )));
        }
        let connection_arn = params
            .pointer("/Authentication/ConnectionArn")
            .and_then(Value::as_str)
            .ok_or_else(|| runtime("The HTTP task needs Authentication.ConnectionArn.".into()))?
            .to_string();
        let transform = params.get("Transform");
        let url_encoded = transform
            .and_then(|t| t.get("RequestBodyEncoding"))
            .and_then(Value::as_str)
            == Some("URL_ENCODED");
        let format = match transform
            .and_then(|t| t.pointer("/RequestEncodingOptions/ArrayFormat"))
            .and_then(Value::as_str)
        {
            None | Some("INDICES") => ArrayFormat::Indices,
            Some("REPEAT") => ArrayFormat::Repeat,
            Some("COMMAS") => ArrayFormat::Commas,
            Some("BRACKETS") => ArrayFormat::Brackets,
            Some(other) => {
                return Err(runtime(format!("Unknown ArrayFormat '{other}'.")));
            }
        };
        let body = match params.get("RequestBody") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !url_encoded => Some((s.clone(), None)),
            Some(v) if url_encoded => Some((
                url_encode_body(v, format),
                Some("application/x-www-form-urlencoded"),
            )),
            Some(v) => Some((v.to_string(), Some("application/json"))),
        };
        Ok(HttpInvoke {
            endpoint,
            method,
            connection_arn,
            headers: string_map(params, "Headers")?,
            query: string_map(params, "QueryParameters")?,
            body,
        })
    }
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, without a default port.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let authority = authority.strip_suffix(default).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

fn form_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_pairs(key: &str, v: &Value, format: ArrayFormat, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                form_pairs(&format!("{key}[{k}]"), v, format, out);
            }
        }
        Value::Array(a) => match format {
            ArrayFormat::Commas => {
                let joined: Vec<String> = a.iter().map(text).collect();
                out.push((key.to_string(), joined.join(",")));
            }
            _ => {
                for (i, v) in a.iter().enumerate() {
                    let k = match format {
                        ArrayFormat::Indices => format!("{key}[{i}]"),
                        ArrayFormat::Brackets => format!("{key}[]"),
                        _ => key.to_string(),
                    };
                    form_pairs(&k, v, format, out);
                }
            }
        },
        other => out.push((key.to_string(), text(other))),
    }
}

/// A JSON body as `application/x-www-form-urlencoded` text.
pub fn url_encode_body(body: &Value, format: ArrayFormat) -> String {
    let mut pairs = Vec::new();
    match body {
        Value::Object(m) => {
            for (k, v) in m {
                form_pairs(k, v, format, &mut pairs);
            }
        }
        other => return form_escape(&text(other)),
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with `query` appended (after any query it has).
pub fn with_query(url: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v)))
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", encoded.join("&"))
}

/// The task's output for an answer: headers (lower-case names, each a list of values), the
/// body (parsed when it is JSON), the status code and its reason phrase.
pub fn output(status: u16, reason: &str, headers: &[(String, String)], body: &[u8]) -> Value {
    let mut h = Map::new();
    for (name, value) in headers {
        let list = h
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.push(Value::String(value.clone()));
        }
    }
    let is_json = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    });
    let text = String::from_utf8_lossy(body).into_owned();
    let body = if is_json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    json!({"Headers": h, "ResponseBody": body, "StatusCode": status, "StatusText": reason})
}

/// A non-2xx answer fails the task as `States.Http.StatusCode.NNN`, with the answer as cause.
pub fn status_failure(status: u16, output: &Value) -> Failure {
    Failure::new(
        format!("States.Http.StatusCode.{status}"),
        output.to_string(),
    )
}

/// No answer (refused, reset, timed out): `States.Http.Socket`.
pub fn socket_failure(message: impl Into<String>) -> Failure {
    Failure::new("States.Http.Socket", message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_a_request() {
        let call = HttpInvoke::from_task(&json!({
            "ApiEndpoint": "https://api.example/orders",
            "Method": "post",
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/c/1"},
            "Headers": {"x-order": 7},
            "QueryParameters": {"q": "a b"},
            "RequestBody": {"id": 1}
        }))
        .unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(call.headers, [("x-order".to_string(), "7".to_string())]);
        assert_eq!(
            call.body,
            Some((r#"{"id":1}"#.into(), Some("application/json")))
        );
        assert_eq!(
            with_query(&call.endpoint, &call.query),
            "https://api.example/orders?q=a+b"
        );
        for bad in [
            json!({"Method": "GET", "Authentication": {"ConnectionArn": "a"}}),
            json!({"ApiEndpoint": "ftp://x", "Method": "GET", "Authentication": {"ConnectionArn": "a"}}),
            json!({"ApiEndpoint": "https://x", "Method": "BREW", "Authentication": {"ConnectionArn": "a"}}),
            json!({"ApiEndpoint": "https://x", "Method": "GET"}),
        ] {
            assert_eq!(
                HttpInvoke::from_task(&bad).unwrap_err().error,
                names::RUNTIME,
                "{bad}"
            );
        }
    }

    #[test]
    fn url_encoded_bodies_follow_the_array_format() {
        let body = json!({"a": ["x", "y"], "b": {"c": "d e"}});
        let enc = |f| url_encode_body(&body, f);
        assert_eq!(
            enc(ArrayFormat::Indices),
            "a%5B0%5D=x&a%5B1%5D=y&b%5Bc%5D=d+e"
        );
        assert_eq!(enc(ArrayFormat::Repeat), "a=x&a=y&b%5Bc%5D=d+e");
        assert_eq!(enc(ArrayFormat::Commas), "a=x%2Cy&b%5Bc%5D=d+e");
        assert_eq!(
            enc(ArrayFormat::Brackets),
            "a%5B%5D=x&a%5B%5D=y&b%5Bc%5D=d+e"
        );
    }

    #[test]
    fn origins_drop_default_ports_and_refuse_credentials() {
        assert_eq!(
            origin("https://API.example:443/x?y").as_deref(),
            Some("https://api.example")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin("https://user@evil.example/"), None);
        assert_eq!(origin("file:///etc/passwd"), None);
    }

    #[test]
    fn answers_become_outputs_and_failures() {
        let headers = [
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Set-Cookie".to_string(), "a".to_string()),
            ("set-cookie".to_string(), "b".to_string()),
        ];
        let out = output(200, "OK", &headers, br#"{"ok":true}"#);
        assert_eq!(out["ResponseBody"], json!({"ok": true}));
        assert_eq!(out["Headers"]["set-cookie"], json!(["a", "b"]));
        let text = output(404, "Not Found", &[], b"missing");
        assert_eq!(text["ResponseBody"], "missing");
        let f = status_failure(404, &text);
        assert_eq!(f.error, "States.Http.StatusCode.404");
        let cause: Value = serde_json::from_str(f.cause.as_deref().unwrap()).unwrap();
        assert_eq!(cause["StatusCode"], 404);
    }
}
