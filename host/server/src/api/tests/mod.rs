//! Handler tests through `router(..).oneshot(..)`, with requests signed by `aws-sigv4` the way
//! SDKs sign them, and one over a real socket.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{AppState, Options, router};
use crate::tenancy;

mod integrations;
mod lambda;
mod sns;

const DEF: &str =
    r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#;
const ROLE: &str = "arn:aws:iam::000000000000:role/r";

/// A server on a fresh data directory, with the `--dev` tenant (also the console tests').
pub(crate) struct Env {
    pub(crate) app: Router,
    pub(crate) state: AppState,
    _dir: tempfile::TempDir,
}

pub(crate) async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        dev: true,
        activity_poll: Duration::from_millis(200),
        ..Options::default()
    };
    let state = AppState::open(dir.path(), &opts).await.unwrap();
    Env {
        app: router(state.clone()),
        state,
        _dir: dir,
    }
}

/// Who signs, and how.
#[derive(Clone)]
struct Signer {
    key: String,
    secret: String,
    region: String,
    service: String,
    time: SystemTime,
}

fn dev() -> Signer {
    Signer {
        key: "test".into(),
        secret: "test".into(),
        region: "us-east-1".into(),
        service: "states".into(),
        time: SystemTime::now(),
    }
}

fn signed(s: &Signer, action: &str, body: &[u8]) -> Request<Body> {
    signed_target(s, &format!("AWSStepFunctions.{action}"), body)
}

/// A request to `POST /` with any `X-Amz-Target` (SQS, DynamoDB, Step Functions).
fn signed_target(s: &Signer, target: &str, body: &[u8]) -> Request<Body> {
    let req = Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "localhost:8080")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", target)
        .body(body.to_vec())
        .unwrap();
    sign_request(s, req)
}

/// Signs a request the way the SDKs do.
fn sign_request(s: &Signer, mut req: Request<Vec<u8>>) -> Request<Body> {
    let identity: Identity = Credentials::new(&s.key, &s.secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&s.region)
        .name(&s.service)
        .time(s.time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(req.body()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req.map(Body::from)
}

/// A signed `GET` of `uri` (Sandflow's own read endpoints).
async fn signed_get(app: &Router, s: &Signer, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("GET")
        .uri(uri)
        .header("host", "localhost:8080")
        .body(Vec::new())
        .unwrap();
    send(app, sign_request(s, req)).await
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let kind = r
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(k) = kind {
        assert_eq!(v["__type"], k, "header and body agree");
    }
    (status, v)
}

async fn call_as(app: &Router, s: &Signer, action: &str, body: Value) -> (StatusCode, Value) {
    send(app, signed(s, action, body.to_string().as_bytes())).await
}

async fn call(app: &Router, action: &str, body: Value) -> Value {
    let (status, v) = call_as(app, &dev(), action, body).await;
    assert_eq!(status, StatusCode::OK, "{action}: {v}");
    v
}

/// Calls and expects an error of `kind` with HTTP 400; returns its message.
async fn fails(app: &Router, action: &str, body: Value, kind: &str) -> String {
    let (status, v) = call_as(app, &dev(), action, body).await;
    assert_eq!(v["__type"], kind, "{action}: {v}");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{action}: {v}");
    v["message"].as_str().unwrap().to_string()
}

fn sm(name: &str) -> String {
    format!("arn:aws:states:us-east-1:000000000000:stateMachine:{name}")
}

async fn create(app: &Router, name: &str, def: &str, ty: &str) -> String {
    let v = call(
        app,
        "CreateStateMachine",
        json!({"name": name, "definition": def, "roleArn": ROLE, "type": ty}),
    )
    .await;
    v["stateMachineArn"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn health_metrics_and_unknown_paths() {
    let e = env().await;
    let r = e
        .app
        .clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    call(&e.app, "ListStateMachines", json!({})).await;
    let r = e
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("sandflow_requests_total{action=\"ListStateMachines\",status=\"200\"} 1"),
        "{text}"
    );
    let (status, v) = send(&e.app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("UnknownOperationException"))
    );
}

#[tokio::test]
async fn signatures_are_checked() {
    let e = env().await;
    let (status, v) = send(
        &e.app,
        Request::post("/")
            .header("x-amz-target", "AWSStepFunctions.ListStateMachines")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("MissingAuthenticationTokenException")
        )
    );
    let wrong = Signer {
        secret: "nope".into(),
        ..dev()
    };
    let (status, v) = call_as(&e.app, &wrong, "ListStateMachines", json!({})).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (StatusCode::FORBIDDEN, Some("InvalidSignatureException"))
    );
    let unknown = Signer {
        key: "AKIDUNKNOWN".into(),
        ..dev()
    };
    let (_, v) = call_as(&e.app, &unknown, "ListStateMachines", json!({})).await;
    assert_eq!(v["__type"], "UnrecognizedClientException");
    for (skew, ok) in [(-14i64, true), (14, true), (-16, false), (16, false)] {
        let t = if skew < 0 {
            SystemTime::now() - Duration::from_secs(60 * (-skew) as u64)
        } else {
            SystemTime::now() + Duration::from_secs(60 * skew as u64)
        };
        let s = Signer { time: t, ..dev() };
        let (status, v) = call_as(&e.app, &s, "ListStateMachines", json!({})).await;
        assert_eq!(status == StatusCode::OK, ok, "skew {skew} min: {v}");
        if !ok {
            assert_eq!(v["__type"], "InvalidSignatureException");
        }
    }
    let lambda_scope = Signer {
        service: "lambda".into(),
        ..dev()
    };
    let (_, v) = call_as(&e.app, &lambda_scope, "ListStateMachines", json!({})).await;
    assert_eq!(v["__type"], "InvalidSignatureException");
    // A body changed after signing.
    let mut req = signed(&dev(), "ListStateMachines", br#"{"maxResults":1}"#);
    *req.body_mut() = Body::from(r#"{"maxResults":9}"#);
    let (_, v) = send(&e.app, req).await;
    assert_eq!(v["__type"], "InvalidSignatureException");
}

#[tokio::test]
async fn new_tenants_work_at_once_and_are_isolated() {
    let e = env().await;
    let arn = create(&e.app, "shared-name", DEF, "STANDARD").await;
    let creds = tenancy::create(e.state.store(), e.state.sealer(), "acme").unwrap();
    let acme = Signer {
        key: creds["accessKeyId"].as_str().unwrap().into(),
        secret: creds["secretAccessKey"].as_str().unwrap().into(),
        region: "eu-west-1".into(),
        ..dev()
    };
    let account = creds["accountId"].as_str().unwrap();
    let (_, v) = call_as(&e.app, &acme, "ListStateMachines", json!({})).await;
    assert_eq!(v, json!({"stateMachines": []}));
    let (_, v) = call_as(
        &e.app,
        &acme,
        "DescribeStateMachine",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(v["__type"], "StateMachineDoesNotExist");
    let (_, v) = call_as(
        &e.app,
        &acme,
        "StartExecution",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(v["__type"], "StateMachineDoesNotExist");
    let (_, v) = call_as(
        &e.app,
        &acme,
        "TagResource",
        json!({"resourceArn": arn, "tags": []}),
    )
    .await;
    assert_eq!(v["__type"], "ResourceNotFound");
    let (status, v) = call_as(
        &e.app,
        &acme,
        "CreateStateMachine",
        json!({"name": "shared-name", "definition": DEF, "roleArn": ROLE}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["stateMachineArn"],
        format!("arn:aws:states:eu-west-1:{account}:stateMachine:shared-name"),
        "the caller's account and the scope's region"
    );
    // Rotation: the new key works at once; the old one stops working once the server's key
    // cache lets it go (2 s, the CLI rotating in another process).
    let rotated = tenancy::rotate(e.state.store(), e.state.sealer(), "acme").unwrap();
    let mut refused = Value::Null;
    for _ in 0..60 {
        refused = call_as(&e.app, &acme, "ListStateMachines", json!({}))
            .await
            .1;
        if refused["__type"] == "UnrecognizedClientException" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused["__type"], "UnrecognizedClientException");
    let fresh = Signer {
        key: rotated["accessKeyId"].as_str().unwrap().into(),
        secret: rotated["secretAccessKey"].as_str().unwrap().into(),
        ..acme
    };
    let (_, v) = call_as(&e.app, &fresh, "ListStateMachines", json!({})).await;
    assert_eq!(v["stateMachines"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn versions_are_published_listed_run_and_deleted() {
    let e = env().await;
    let app = &e.app;
    let created = call(
        app,
        "CreateStateMachine",
        json!({"name": "ver", "definition": DEF, "roleArn": ROLE, "publish": true,
               "versionDescription": "first"}),
    )
    .await;
    let arn = created["stateMachineArn"].as_str().unwrap().to_string();
    assert_eq!(created["stateMachineVersionArn"], format!("{arn}:1"));
    let second_def =
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"v":2},"End":true}}}"#;
    let updated = call(
        app,
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": second_def, "publish": true}),
    )
    .await;
    assert_eq!(updated["stateMachineVersionArn"], format!("{arn}:2"));
    // Publishing the same revision again answers the version it already is.
    let again = call(
        app,
        "PublishStateMachineVersion",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(again["stateMachineVersionArn"], format!("{arn}:2"));
    let stale = fails(
        app,
        "PublishStateMachineVersion",
        json!({"stateMachineArn": arn, "revisionId": "old"}),
        "ConflictException",
    )
    .await;
    assert!(stale.contains("revision old"), "{stale}");
    let v1 = call(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": format!("{arn}:1")}),
    )
    .await;
    assert_eq!(
        (v1["definition"].as_str(), v1["description"].as_str()),
        (Some(DEF), Some("first"))
    );
    let listed = call(
        app,
        "ListStateMachineVersions",
        json!({"stateMachineArn": arn, "maxResults": 1}),
    )
    .await;
    assert_eq!(
        listed["stateMachineVersions"][0]["stateMachineVersionArn"],
        format!("{arn}:2")
    );
    let rest = call(
        app,
        "ListStateMachineVersions",
        json!({"stateMachineArn": arn, "nextToken": listed["nextToken"]}),
    )
    .await;
    assert_eq!(
        rest["stateMachineVersions"][0]["stateMachineVersionArn"],
        format!("{arn}:1")
    );
    // Version 1 runs the definition it holds, not the machine's current one.
    let run = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": format!("{arn}:1")}),
    )
    .await;
    let d = integrations::wait_done(app, run["executionArn"].as_str().unwrap()).await;
    assert_eq!(integrations::output(&d), json!({"ok": true}));
    assert_eq!(d["stateMachineArn"], arn);
    call(
        app,
        "DeleteStateMachineVersion",
        json!({"stateMachineVersionArn": format!("{arn}:1")}),
    )
    .await;
    fails(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": format!("{arn}:1")}),
        "ResourceNotFound",
    )
    .await;
    fails(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": format!("{arn}:prod")}),
        "InvalidArn",
    )
    .await;
}

#[tokio::test]
async fn aliases_route_executions_to_their_versions() {
    let e = env().await;
    let app = &e.app;
    let def = |v: u32| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": v}, "End": true}}})
            .to_string()
    };
    let made = call(
        app,
        "CreateStateMachine",
        json!({"name": "routed", "definition": def(1), "roleArn": ROLE, "publish": true}),
    )
    .await;
    let arn = made["stateMachineArn"].as_str().unwrap().to_string();
    call(
        app,
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": def(2), "publish": true}),
    )
    .await;
    let (v1, v2) = (format!("{arn}:1"), format!("{arn}:2"));
    let route = |a: &str, wa: u32, b: Option<&str>, wb: u32| {
        let mut r = vec![json!({"stateMachineVersionArn": a, "weight": wa})];
        if let Some(b) = b {
            r.push(json!({"stateMachineVersionArn": b, "weight": wb}));
        }
        json!(r)
    };
    let created = call(
        app,
        "CreateStateMachineAlias",
        json!({"name": "prod", "routingConfiguration": route(&v2, 100, None, 0)}),
    )
    .await;
    let alias = format!("{arn}:prod");
    assert_eq!(created["stateMachineAliasArn"], alias);
    let run = |arn: String| async move {
        let started = call(app, "StartExecution", json!({"stateMachineArn": arn})).await;
        let d = integrations::wait_done(app, started["executionArn"].as_str().unwrap()).await;
        integrations::output(&d)["v"].as_u64().unwrap()
    };
    assert_eq!(run(alias.clone()).await, 2);
    call(
        app,
        "UpdateStateMachineAlias",
        json!({"stateMachineAliasArn": alias, "routingConfiguration": route(&v1, 100, Some(&v2), 0)}),
    )
    .await;
    assert_eq!(run(alias.clone()).await, 1);
    let described = call(
        app,
        "DescribeStateMachineAlias",
        json!({"stateMachineAliasArn": alias}),
    )
    .await;
    assert_eq!(
        described["routingConfiguration"][0]["stateMachineVersionArn"],
        v1
    );
    let listed = call(
        app,
        "ListStateMachineAliases",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(
        listed["stateMachineAliases"][0]["stateMachineAliasArn"],
        alias
    );
    // A version an alias routes to cannot be deleted; bad routing is refused.
    fails(
        app,
        "DeleteStateMachineVersion",
        json!({"stateMachineVersionArn": v1}),
        "ConflictException",
    )
    .await;
    let sum = fails(
        app,
        "CreateStateMachineAlias",
        json!({"name": "half", "routingConfiguration": route(&v1, 50, Some(&v2), 40)}),
        "ValidationException",
    )
    .await;
    assert!(sum.contains("add up to 100"), "{sum}");
    fails(
        app,
        "CreateStateMachineAlias",
        json!({"name": "ghost", "routingConfiguration": route(&format!("{arn}:9"), 100, None, 0)}),
        "ResourceNotFound",
    )
    .await;
    fails(
        app,
        "CreateStateMachineAlias",
        json!({"name": "42", "routingConfiguration": route(&v1, 100, None, 0)}),
        "InvalidName",
    )
    .await;
    call(
        app,
        "DeleteStateMachineAlias",
        json!({"stateMachineAliasArn": alias}),
    )
    .await;
    fails(
        app,
        "DescribeStateMachineAlias",
        json!({"stateMachineAliasArn": alias}),
        "ResourceNotFound",
    )
    .await;
    call(
        app,
        "DeleteStateMachineVersion",
        json!({"stateMachineVersionArn": v1}),
    )
    .await;
}

#[tokio::test]
async fn state_machine_lifecycle_validation_and_pages() {
    let e = env().await;
    let app = &e.app;
    let arn = create(app, "m1", DEF, "STANDARD").await;
    assert_eq!(arn, sm("m1"));
    assert_eq!(create(app, "m1", DEF, "STANDARD").await, arn, "idempotent");
    fails(
        app,
        "CreateStateMachine",
        json!({"name": "m1", "definition": WAIT, "roleArn": ROLE}),
        "StateMachineAlreadyExists",
    )
    .await;
    let m = fails(
        app,
        "CreateStateMachine",
        json!({"name": "bad", "definition": "{\"StartAt\":\"X\",\"States\":{}}", "roleArn": ROLE}),
        "InvalidDefinition",
    )
    .await;
    assert!(m.starts_with("Invalid State Machine Definition"), "{m}");
    fails(
        app,
        "CreateStateMachine",
        json!({"name": "a b", "definition": DEF, "roleArn": ROLE}),
        "InvalidName",
    )
    .await;
    fails(
        app,
        "CreateStateMachine",
        json!({"name": "r", "definition": DEF, "roleArn": "role"}),
        "InvalidArn",
    )
    .await;
    let m = fails(
        app,
        "CreateStateMachine",
        json!({"definition": DEF}),
        "ValidationException",
    )
    .await;
    assert!(m.starts_with("2 validation errors detected"), "{m}");
    fails(
        app,
        "CreateStateMachine",
        json!({"name": 5, "definition": DEF, "roleArn": ROLE}),
        "SerializationException",
    )
    .await;
    fails(
        app,
        "CreateStateMachine",
        json!({"name": "t", "definition": DEF, "roleArn": ROLE, "type": "FAST"}),
        "ValidationException",
    )
    .await;
    fails(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": "not-an-arn"}),
        "InvalidArn",
    )
    .await;
    fails(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": sm("nope")}),
        "StateMachineDoesNotExist",
    )
    .await;
    let d = call(app, "DescribeStateMachine", json!({"stateMachineArn": arn})).await;
    assert_eq!(
        (d["name"].as_str(), d["type"].as_str(), d["status"].as_str()),
        (Some("m1"), Some("STANDARD"), Some("ACTIVE"))
    );
    assert_eq!(d["loggingConfiguration"]["level"], "OFF");
    fails(
        app,
        "UpdateStateMachine",
        json!({"stateMachineArn": arn}),
        "MissingRequiredParameter",
    )
    .await;
    fails(
        app,
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": "{}"}),
        "InvalidDefinition",
    )
    .await;
    let u = call(
        app,
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": WAIT}),
    )
    .await;
    assert_ne!(u["revisionId"], d["revisionId"]);
    let d2 = call(app, "DescribeStateMachine", json!({"stateMachineArn": arn})).await;
    assert_eq!(d2["definition"], WAIT);
    for n in ["m2", "m3", "m4", "m5"] {
        create(app, n, DEF, "STANDARD").await;
    }
    let mut names = Vec::new();
    let mut next: Option<Value> = None;
    loop {
        let mut req = json!({"maxResults": 2});
        if let Some(t) = &next {
            req["nextToken"] = t.clone();
        }
        let page = call(app, "ListStateMachines", req).await;
        let items = page["stateMachines"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(
            items
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_string()),
        );
        match page.get("nextToken") {
            Some(t) => next = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(names, ["m1", "m2", "m3", "m4", "m5"]);
    fails(
        app,
        "ListStateMachines",
        json!({"nextToken": "garbage"}),
        "InvalidToken",
    )
    .await;
    fails(
        app,
        "ListStateMachines",
        json!({"maxResults": 1001}),
        "ValidationException",
    )
    .await;
    call(app, "DeleteStateMachine", json!({"stateMachineArn": arn})).await;
    fails(
        app,
        "DescribeStateMachine",
        json!({"stateMachineArn": arn}),
        "StateMachineDoesNotExist",
    )
    .await;
    call(app, "DeleteStateMachine", json!({"stateMachineArn": arn})).await;
    let v = call(
        app,
        "ValidateStateMachineDefinition",
        json!({"definition": DEF}),
    )
    .await;
    assert_eq!(
        v,
        json!({"result": "OK", "diagnostics": [], "truncated": false})
    );
    let v = call(
        app,
        "ValidateStateMachineDefinition",
        json!({"definition": "{\"StartAt\":\"X\",\"States\":{}}"}),
    )
    .await;
    assert_eq!(v["result"], "FAIL");
    assert!(!v["diagnostics"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn executions_run_list_history_and_stop() {
    let e = env().await;
    let app = &e.app;
    let arn = create(app, "pass", DEF, "STANDARD").await;
    let started = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "name": "e1", "input": "{\"n\":1}"}),
    )
    .await;
    let exec = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(
        exec,
        "arn:aws:states:us-east-1:000000000000:execution:pass:e1"
    );
    e.state.engine().wait(1, &exec).await.unwrap();
    let d = call(app, "DescribeExecution", json!({"executionArn": exec})).await;
    assert_eq!(
        (d["status"].as_str(), d["output"].as_str()),
        (Some("SUCCEEDED"), Some("{\"ok\":true}"))
    );
    fails(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "name": "e1", "input": "{\"n\":2}"}),
        "ExecutionAlreadyExists",
    )
    .await;
    fails(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": "{nope"}),
        "InvalidExecutionInput",
    )
    .await;
    fails(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "name": "x/y"}),
        "InvalidName",
    )
    .await;
    fails(
        app,
        "StartSyncExecution",
        json!({"stateMachineArn": arn}),
        "StateMachineTypeNotSupported",
    )
    .await;
    fails(
        app,
        "DescribeExecution",
        json!({"executionArn": "arn:aws:states:us-east-1:000000000000:execution:pass:nope"}),
        "ExecutionDoesNotExist",
    )
    .await;
    fails(
        app,
        "DescribeExecution",
        json!({"executionArn": arn}),
        "InvalidArn",
    )
    .await;
    let h = call(app, "GetExecutionHistory", json!({"executionArn": exec})).await;
    let events = h["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert!(events[0]["timestamp"].is_f64(), "epoch seconds");
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");
    let n = events.len();
    let page = call(app, "GetExecutionHistory", json!({"executionArn": exec, "maxResults": 2, "reverseOrder": true, "includeExecutionData": false})).await;
    let evs = page["events"].as_array().unwrap();
    assert_eq!(evs[0]["id"], n as i64);
    assert_eq!(evs[1]["id"], n as i64 - 1);
    assert!(
        evs[0]["executionSucceededEventDetails"]
            .get("output")
            .is_none()
    );
    let rest = call(app, "GetExecutionHistory", json!({"executionArn": exec, "maxResults": 100, "reverseOrder": true, "nextToken": page["nextToken"]})).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), n - 2);
    assert!(rest.get("nextToken").is_none());
    // A waiting execution, listed and stopped.
    let wait = create(app, "wait", WAIT, "STANDARD").await;
    let w = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": wait, "name": "w1"}),
    )
    .await;
    let same = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": wait, "name": "w1"}),
    )
    .await;
    assert_eq!(
        same["executionArn"], w["executionArn"],
        "idempotent while running"
    );
    call(app, "StartExecution", json!({"stateMachineArn": wait})).await;
    let running = call(
        app,
        "ListExecutions",
        json!({"stateMachineArn": wait, "statusFilter": "RUNNING", "maxResults": 1}),
    )
    .await;
    assert_eq!(running["executions"].as_array().unwrap().len(), 1);
    let more = call(app, "ListExecutions", json!({"stateMachineArn": wait, "statusFilter": "RUNNING", "nextToken": running["nextToken"]})).await;
    assert_eq!(more["executions"].as_array().unwrap().len(), 1);
    assert!(more.get("nextToken").is_none());
    fails(
        app,
        "ListExecutions",
        json!({"stateMachineArn": wait, "statusFilter": "DONE"}),
        "ValidationException",
    )
    .await;
    fails(
        app,
        "ListExecutions",
        json!({"stateMachineArn": sm("none")}),
        "StateMachineDoesNotExist",
    )
    .await;
    call(
        app,
        "StopExecution",
        json!({"executionArn": w["executionArn"], "error": "Halt", "cause": "test"}),
    )
    .await;
    let d = call(
        app,
        "DescribeExecution",
        json!({"executionArn": w["executionArn"]}),
    )
    .await;
    assert_eq!(d["status"], "ABORTED");
    let for_exec = call(
        app,
        "DescribeStateMachineForExecution",
        json!({"executionArn": exec}),
    )
    .await;
    assert_eq!(
        (for_exec["name"].as_str(), for_exec["definition"].as_str()),
        (Some("pass"), Some(DEF))
    );
}

#[tokio::test]
async fn express_sync_and_lambda_tasks_without_functions() {
    let e = env().await;
    let app = &e.app;
    let x = create(app, "fast", DEF, "EXPRESS").await;
    let r = call(
        app,
        "StartSyncExecution",
        json!({"stateMachineArn": x, "input": "{}"}),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["output"].as_str()),
        (Some("SUCCEEDED"), Some("{\"ok\":true}"))
    );
    assert!(
        r["executionArn"]
            .as_str()
            .unwrap()
            .contains(":express:fast:")
    );
    fails(
        app,
        "ListExecutions",
        json!({"stateMachineArn": x}),
        "StateMachineTypeNotSupported",
    )
    .await;
    let lambda = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:missing","End":true}}}"#;
    let l = create(app, "lam", lambda, "EXPRESS").await;
    let r = call(app, "StartSyncExecution", json!({"stateMachineArn": l})).await;
    assert_eq!(
        (r["status"].as_str(), r["error"].as_str()),
        (Some("FAILED"), Some("Lambda.ResourceNotFoundException"))
    );
}

#[tokio::test]
async fn activities_and_task_tokens() {
    let e = env().await;
    let app = &e.app;
    let a = call(app, "CreateActivity", json!({"name": "approve"})).await;
    let act = a["activityArn"].as_str().unwrap().to_string();
    assert_eq!(
        act,
        "arn:aws:states:us-east-1:000000000000:activity:approve"
    );
    assert_eq!(
        call(app, "CreateActivity", json!({"name": "approve"})).await["activityArn"],
        act
    );
    assert_eq!(
        call(app, "DescribeActivity", json!({"activityArn": act})).await["name"],
        "approve"
    );
    assert_eq!(
        call(app, "ListActivities", json!({})).await["activities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let empty = call(
        app,
        "GetActivityTask",
        json!({"activityArn": act, "workerName": "w"}),
    )
    .await;
    assert_eq!(
        empty,
        json!({}),
        "nothing waiting: an empty answer after the poll"
    );
    let def = format!(
        r#"{{"StartAt":"A","States":{{"A":{{"Type":"Task","Resource":"{act}","End":true}}}}}}"#
    );
    let m = create(app, "needs-approval", &def, "STANDARD").await;
    for (name, ok) in [("yes", true), ("no", false)] {
        let s = call(
            app,
            "StartExecution",
            json!({"stateMachineArn": m, "name": name, "input": "{\"order\":1}"}),
        )
        .await;
        let task = call(app, "GetActivityTask", json!({"activityArn": act})).await;
        assert_eq!(task["input"], "{\"order\":1}");
        let token = task["taskToken"].clone();
        call(app, "SendTaskHeartbeat", json!({"taskToken": token})).await;
        if ok {
            fails(
                app,
                "SendTaskSuccess",
                json!({"taskToken": token, "output": "{bad"}),
                "InvalidOutput",
            )
            .await;
            call(
                app,
                "SendTaskSuccess",
                json!({"taskToken": token, "output": "{\"approved\":true}"}),
            )
            .await;
        } else {
            call(
                app,
                "SendTaskFailure",
                json!({"taskToken": token, "error": "Rejected", "cause": "no"}),
            )
            .await;
        }
        let exec = s["executionArn"].as_str().unwrap();
        let done = e.state.engine().wait(1, exec).await.unwrap();
        assert_eq!(done.status, if ok { "SUCCEEDED" } else { "FAILED" });
        fails(
            app,
            "SendTaskSuccess",
            json!({"taskToken": token, "output": "{}"}),
            "TaskDoesNotExist",
        )
        .await;
    }
    fails(
        app,
        "DescribeActivity",
        json!({"activityArn": m}),
        "InvalidArn",
    )
    .await;
    call(app, "DeleteActivity", json!({"activityArn": act})).await;
    fails(
        app,
        "DescribeActivity",
        json!({"activityArn": act}),
        "ActivityDoesNotExist",
    )
    .await;
    fails(
        app,
        "GetActivityTask",
        json!({"activityArn": act}),
        "ActivityDoesNotExist",
    )
    .await;
}

#[tokio::test]
async fn tags_limits_and_unsupported_actions() {
    let e = env().await;
    let app = &e.app;
    let arn = create(app, "tagged", DEF, "STANDARD").await;
    call(app, "TagResource", json!({"resourceArn": arn, "tags": [{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}]})).await;
    call(
        app,
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["env"]}),
    )
    .await;
    let t = call(app, "ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(t, json!({"tags": [{"key": "team", "value": "a"}]}));
    let many: Vec<Value> = (0..50)
        .map(|i| json!({"key": format!("k{i}"), "value": ""}))
        .collect();
    fails(
        app,
        "TagResource",
        json!({"resourceArn": arn, "tags": many}),
        "TooManyTags",
    )
    .await;
    assert_eq!(
        call(app, "ListTagsForResource", json!({"resourceArn": arn})).await["tags"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing half-stored"
    );
    fails(
        app,
        "TagResource",
        json!({"resourceArn": sm("ghost"), "tags": []}),
        "ResourceNotFound",
    )
    .await;
    fails(
        app,
        "TagResource",
        json!({"resourceArn": arn}),
        "ValidationException",
    )
    .await;
    fails(app, "RedriveExecution", json!({}), "UnsupportedOperation").await;
    fails(app, "TestState", json!({}), "UnsupportedOperation").await;
    fails(app, "ListMapRuns", json!({}), "UnsupportedOperation").await;
    fails(app, "Frobnicate", json!({}), "UnknownOperationException").await;
    let described = fails(
        app,
        "CreateStateMachine",
        json!({"name": "v", "definition": DEF, "roleArn": ROLE, "versionDescription": "first"}),
        "ValidationException",
    )
    .await;
    assert_eq!(
        described,
        "Version description can only be set when publish is true"
    );
    // Oversized requests are refused before anything is parsed.
    let big =
        json!({"name": "big", "definition": "x".repeat(super::SFN_BODY_LIMIT), "roleArn": ROLE});
    let (status, v) = call_as(app, &dev(), "CreateStateMachine", big).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("RequestEntityTooLargeException")
        )
    );
    let input = json!({"stateMachineArn": arn, "input": format!("\"{}\"", "x".repeat(262_144))});
    fails(app, "StartExecution", input, "ValidationException").await;
}

#[tokio::test]
async fn serves_over_a_real_socket() {
    let e = env().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = e.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let req = signed(&dev(), "ListStateMachines", b"{}");
    let mut raw = "POST / HTTP/1.1\r\nconnection: close\r\ncontent-length: 2\r\n".to_string();
    for (k, v) in req.headers() {
        raw.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    raw.push_str("\r\n{}");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("{\"stateMachines\":[]}"), "{out}");
}

fn as_service(service: &str) -> Signer {
    Signer {
        service: service.into(),
        ..dev()
    }
}

#[tokio::test]
async fn sqs_is_dispatched_by_target_and_signed_for_sqs() {
    let e = env().await;
    let sqs = as_service("sqs");
    let (st, v) = send(
        &e.app,
        signed_target(&sqs, "AmazonSQS.CreateQueue", br#"{"QueueName":"jobs"}"#),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["QueueUrl"], "http://localhost:8080/000000000000/jobs");
    let r = e
        .app
        .clone()
        .oneshot(signed_target(&dev(), "AmazonSQS.ListQueues", b"{}"))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a states scope is not an sqs scope"
    );
    let r = e
        .app
        .clone()
        .oneshot(signed_target(
            &sqs,
            "AmazonSQS.GetQueueUrl",
            br#"{"QueueName":"missing"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers()["x-amzn-query-error"],
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    let url = "http://localhost:8080/000000000000/jobs";
    let send_body = json!({"QueueUrl": url, "MessageBody": "hi"}).to_string();
    let (st, sent) = send(
        &e.app,
        signed_target(&sqs, "AmazonSQS.SendMessage", send_body.as_bytes()),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{sent}");
    assert_eq!(sent["MD5OfMessageBody"], "49f68a5c8493ec2c0bf489821c21fc3b");
    let recv = json!({"QueueUrl": url}).to_string();
    let (_, got) = send(
        &e.app,
        signed_target(&sqs, "AmazonSQS.ReceiveMessage", recv.as_bytes()),
    )
    .await;
    assert_eq!(got["Messages"][0]["MessageId"], sent["MessageId"]);
    // Another account's URL is not this tenant's queue; bad member types are 400s.
    for bad in [
        json!({"QueueUrl": "http://localhost:8080/111111111111/jobs", "MessageBody": "x"}),
        json!({"QueueUrl": url, "MessageBody": 5}),
        json!({"QueueUrl": url}),
    ] {
        let r = e
            .app
            .clone()
            .oneshot(signed_target(
                &sqs,
                "AmazonSQS.SendMessage",
                bad.to_string().as_bytes(),
            ))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn dynamodb_conditional_writes_and_errors() {
    let e = env().await;
    let ddb = as_service("dynamodb");
    let call = |action: &str, body: Value| {
        signed_target(
            &ddb,
            &format!("DynamoDB_20120810.{action}"),
            body.to_string().as_bytes(),
        )
    };
    let (st, v) = send(
        &e.app,
        call(
            "CreateTable",
            json!({"TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["TableDescription"]["TableArn"],
        "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
    );
    let put = json!({"TableName": "orders", "Item": {"id": {"S": "1"}},
                     "ConditionExpression": "attribute_not_exists(id)"});
    assert_eq!(
        send(&e.app, call("PutItem", put.clone())).await.0,
        StatusCode::OK
    );
    let (st, v) = send(&e.app, call("PutItem", put)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["__type"],
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
    );
    let (st, v) = send(
        &e.app,
        call(
            "GetItem",
            json!({"TableName": "nope", "Key": {"id": {"S": "1"}}}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["__type"],
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    );
    for bad in [
        json!({"TableName": "orders", "Item": {"id": {"N": "1"}}}),
        json!({"TableName": "orders", "Item": {"id": {"S": "1"}, "x": {"Q": 1}}}),
        json!({"TableName": "orders", "Item": "no"}),
        json!({"TableName": "orders", "Item": {"id": {"S": "1"}}, "ConditionExpression": "((("}),
    ] {
        let (st, v) = send(&e.app, call("PutItem", bad.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (st, v) = send(&e.app, call("Frobnicate", json!({}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}
