//! The Lambda API over WASM functions: upload (raw and zipped), refusals, configuration,
//! grants, Invoke with its error headers, tenant isolation, and Lambda tasks in executions.

use std::io::Write;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

use super::*;

/// A WASI command printing `out` then exiting with `code`; `spin` loops forever instead.
fn command(out: &str, code: i32, spin: bool) -> Vec<u8> {
    let escaped: String = out.bytes().map(|b| format!("\\{b:02x}")).collect();
    let tail = if spin {
        "(loop $l (br $l))".to_string()
    } else {
        format!("(call $exit (i32.const {code}))")
    };
    wat::parse_str(format!(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 64) "{escaped}")
            (func (export "_start")
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const {len}))
                (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                {tail}))"#,
        len = out.len()
    ))
    .unwrap()
}

fn zipped(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn lambda_signer() -> Signer {
    Signer {
        service: "lambda".into(),
        ..dev()
    }
}

async fn rest(
    app: &Router,
    s: &Signer,
    method: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8080");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let r = app
        .clone()
        .oneshot(sign_request(s, b.body(body).unwrap()))
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

async fn rest_json(
    app: &Router,
    s: &Signer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (status, headers, body) = rest(app, s, method, path, bytes, &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(kind) = headers.get("x-amzn-ErrorType") {
        assert_eq!(v["__type"], kind.to_str().unwrap(), "header and body agree");
    }
    (status, v)
}

fn create_body(name: &str, code: &[u8]) -> Value {
    json!({"FunctionName": name, "Role": ROLE, "Runtime": "provided.al2023",
           "Code": {"ZipFile": STANDARD.encode(code)}})
}

const FUNCTIONS: &str = "/2015-03-31/functions";

#[tokio::test]
async fn functions_upload_configure_and_invoke() {
    let e = env().await;
    let (app, s) = (&e.app, &lambda_signer());
    let ok = command(r#"{"ok":true}"#, 0, false);

    let (status, v) = rest_json(app, s, "POST", FUNCTIONS, Some(create_body("ok", &ok))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:ok"
    );
    assert_eq!(
        (v["MemorySize"].as_i64(), v["Timeout"].as_i64()),
        (Some(128), Some(3))
    );
    assert_eq!(v["CodeSize"].as_u64(), Some(ok.len() as u64));
    let sha = sha2::Sha256::digest(&ok);
    assert_eq!(v["CodeSha256"], STANDARD.encode(sha));
    assert_eq!(
        (v["Version"].as_str(), v["State"].as_str()),
        (Some("$LATEST"), Some("Active"))
    );

    let (status, v) = rest_json(app, s, "POST", FUNCTIONS, Some(create_body("ok", &ok))).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (StatusCode::CONFLICT, Some("ResourceConflictException"))
    );

    // Refused at upload, saying why; nothing is stored.
    for (code, why) in [
        (b"not wasm".to_vec(), "WebAssembly binary"),
        (b"\0asm\x01\0\0\0\x01".to_vec(), "refused"),
        (zipped(&[("readme.txt", b"hi")]), "exactly one .wasm"),
        (wat::parse_str("(module)").unwrap(), "_start"),
    ] {
        let (status, v) =
            rest_json(app, s, "POST", FUNCTIONS, Some(create_body("bad", &code))).await;
        assert_eq!(v["__type"], "InvalidParameterValueException", "{v}");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains(why), "{v}");
    }
    let (status, _) = rest_json(app, s, "GET", &format!("{FUNCTIONS}/bad"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A zip holding one .wasm.
    let fail = command(r#"{"error":"Boom","cause":"it broke"}"#, 1, false);
    let zip = zipped(&[("bootstrap/fail.wasm", &fail), ("README", b"x")]);
    let (status, v) = rest_json(app, s, "POST", FUNCTIONS, Some(create_body("fail", &zip))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["CodeSize"].as_u64(), Some(fail.len() as u64));

    // Invoke: the output, or the function's error with Lambda's header.
    let (status, h, body) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/ok/invocations"),
        b"{\"a\":1}".to_vec(),
        &[],
    )
    .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, br#"{"ok":true}"#.as_slice())
    );
    assert!(h.get("x-amz-function-error").is_none());
    let (status, h, body) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/fail/invocations"),
        vec![],
        &[("x-amz-log-type", "Tail")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-amz-function-error"], "Unhandled");
    let err: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        err,
        json!({"errorType": "Boom", "errorMessage": "it broke"})
    );
    assert!(h.contains_key("x-amz-log-result"));
    let (status, v) = rest_json(app, s, "POST", &format!("{FUNCTIONS}/ok/invocations"), None).await;
    assert_eq!(status, StatusCode::OK, "empty payload is {{}}: {v}");
    let (status, _, body) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/ok/invocations"),
        b"{nope".to_vec(),
        &[],
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["__type"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("InvalidRequestContentException")
        )
    );
    let (status, _, _) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/ok/invocations"),
        vec![],
        &[("x-amz-invocation-type", "DryRun")],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/ok/invocations"),
        vec![],
        &[("x-amz-invocation-type", "Event")],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, v) = rest_json(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/nope/invocations"),
        None,
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFoundException"))
    );
    assert_eq!(
        v["message"],
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );

    // Configuration: limits in range, revisions checked.
    let path = format!("{FUNCTIONS}/ok/configuration");
    let (_, before) = rest_json(app, s, "GET", &path, None).await;
    let (status, v) = rest_json(
        app,
        s,
        "PUT",
        &path,
        Some(json!({"MemorySize": 256, "Timeout": 10, "Description": "d"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["MemorySize"].as_i64(),
            v["Timeout"].as_i64(),
            v["Description"].as_str()
        ),
        (Some(256), Some(10), Some("d"))
    );
    assert_ne!(v["RevisionId"], before["RevisionId"]);
    let (status, v) = rest_json(
        app,
        s,
        "PUT",
        &path,
        Some(json!({"RevisionId": before["RevisionId"], "Timeout": 5})),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (
            StatusCode::PRECONDITION_FAILED,
            Some("PreconditionFailedException")
        )
    );
    let (_, v) = rest_json(app, s, "PUT", &path, Some(json!({"Timeout": 0}))).await;
    assert_eq!(v["__type"], "ValidationException");
    let (_, v) = rest_json(app, s, "PUT", &path, Some(json!({"MemorySize": 4096}))).await;
    assert_eq!(
        v["__type"], "InvalidParameterValueException",
        "over the server's cap"
    );
    let (_, v) = rest_json(
        app,
        s,
        "PUT",
        &path,
        Some(json!({"Environment": {"Variables": {"A": "1"}}})),
    )
    .await;
    assert_eq!(
        v["__type"], "InvalidParameterValueException",
        "no env in the sandbox"
    );

    // Grants and fuel: set through Sandflow's endpoint, shown in GetFunction.
    let spin = command("", 0, true);
    rest_json(app, s, "POST", FUNCTIONS, Some(create_body("spin", &spin))).await;
    let grants = format!("{FUNCTIONS}/spin/grants");
    let (status, v) = rest_json(app, s, "PUT", &grants, Some(json!({"grants": ["kv:inventory", "log", "http:POST:https://pay.example.com/v1"], "fuel": 2_000_000}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["grants"],
        json!([
            "http:POST:https://pay.example.com/v1",
            "kv:inventory",
            "log"
        ])
    );
    let (_, v) = rest_json(app, s, "GET", &format!("{FUNCTIONS}/spin"), None).await;
    assert_eq!(
        (
            v["Sandflow"]["fuel"].as_u64(),
            v["Sandflow"]["abi"].as_str()
        ),
        (Some(2_000_000), Some("command-module"))
    );
    assert_eq!(v["Configuration"]["FunctionName"], "spin");
    let (_, v) = rest_json(
        app,
        s,
        "PUT",
        &grants,
        Some(json!({"grants": ["files:/etc"]})),
    )
    .await;
    assert_eq!(v["__type"], "InvalidParameterValueException");
    let (_, h, body) = rest(
        app,
        s,
        "POST",
        &format!("{FUNCTIONS}/spin/invocations"),
        vec![],
        &[],
    )
    .await;
    let err: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            h["x-amz-function-error"].to_str().unwrap(),
            err["errorType"].as_str()
        ),
        ("Unhandled", Some("States.Timeout"))
    );
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("2000000 fuel"),
        "{err}"
    );

    // Code updates change the hash; pages; delete.
    let (status, v) = rest_json(
        app,
        s,
        "PUT",
        &format!("{FUNCTIONS}/ok/code"),
        Some(json!({"ZipFile": STANDARD.encode(&fail)})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["CodeSha256"],
        STANDARD.encode(sha2::Sha256::digest(&fail))
    );
    assert_eq!(
        v["MemorySize"].as_i64(),
        Some(256),
        "settings survive a code update"
    );
    let (_, page) = rest_json(app, s, "GET", &format!("{FUNCTIONS}/?MaxItems=2"), None).await;
    let names: Vec<&str> = page["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fail", "ok"]);
    let marker = page["NextMarker"].as_str().unwrap();
    let (_, page) = rest_json(
        app,
        s,
        "GET",
        &format!("{FUNCTIONS}/?MaxItems=2&Marker={marker}"),
        None,
    )
    .await;
    assert_eq!(page["Functions"][0]["FunctionName"], "spin");
    assert!(page.get("NextMarker").is_none());
    let arn_path =
        format!("{FUNCTIONS}/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afail");
    let (status, _, _) = rest(app, s, "DELETE", &arn_path, vec![], &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v) = rest_json(app, s, "GET", &format!("{FUNCTIONS}/fail"), None).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFoundException"))
    );
    let (_, v) = rest_json(app, s, "GET", &format!("{FUNCTIONS}/bad%20name"), None).await;
    assert_eq!(v["__type"], "ValidationException");
}

#[tokio::test]
async fn tasks_run_the_tenants_functions_and_nobody_elses() {
    let e = env().await;
    let (app, s) = (&e.app, &lambda_signer());
    let ok = command(r#"{"ok":true}"#, 0, false);
    rest_json(app, s, "POST", FUNCTIONS, Some(create_body("ok", &ok))).await;
    let def = json!({"StartAt": "Plain", "States": {
        "Plain": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:ok",
                  "ResultPath": "$.plain", "Next": "Invoke"},
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "ok", "Payload.$": "$"},
                   "ResultSelector": {"p.$": "$.Payload", "code.$": "$.StatusCode"}, "End": true}}});
    let arn = create(app, "wasm", &def.to_string(), "STANDARD").await;
    let started = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": "{}"}),
    )
    .await;
    let exec = started["executionArn"].as_str().unwrap();
    let mut d = Value::Null;
    for _ in 0..200 {
        d = call(app, "DescribeExecution", json!({"executionArn": exec})).await;
        if d["status"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out, json!({"p": {"ok": true}, "code": 200}));

    // Another tenant neither sees nor runs it, by name or by ARN.
    let creds = tenancy::create(e.state.store(), e.state.sealer(), "acme").unwrap();
    let acme = Signer {
        key: creds["accessKeyId"].as_str().unwrap().into(),
        secret: creds["secretAccessKey"].as_str().unwrap().into(),
        ..lambda_signer()
    };
    let (status, _) = rest_json(app, &acme, "GET", &format!("{FUNCTIONS}/ok"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let theirs = format!(
        "{FUNCTIONS}/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aok/invocations"
    );
    let (status, _) = rest_json(app, &acme, "POST", &theirs, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = rest_json(app, &acme, "GET", FUNCTIONS, None).await;
    assert_eq!(v["Functions"], json!([]));
    let acme_sfn = Signer {
        service: "states".into(),
        ..acme
    };
    let (_, v) = call_as(
        app,
        &acme_sfn,
        "CreateStateMachine",
        json!({"name": "steal", "definition": def.to_string(), "roleArn": ROLE, "type": "EXPRESS"}),
    )
    .await;
    let (_, r) = call_as(
        app,
        &acme_sfn,
        "StartSyncExecution",
        json!({"stateMachineArn": v["stateMachineArn"]}),
    )
    .await;
    assert_eq!(r["error"], "Lambda.ResourceNotFoundException", "{r}");

    // The invocations are recorded against the execution, each under its state's scheduled
    // event, and read back through the signed logs endpoint.
    let mut rows = Value::Null;
    for _ in 0..100 {
        let (st, v) = logs(app, &dev(), exec, None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        rows = v["invocations"].clone();
        if rows.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let placed: Vec<(Value, Value)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["stateName"].clone(), r["eventId"].clone()))
        .collect();
    assert_eq!(
        placed,
        [(json!("Plain"), json!(3)), (json!("Invoke"), json!(8))],
        "{rows}"
    );
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "SUCCEEDED" && r["fuel"].as_i64() > Some(0))
    );
    let (_, one) = logs(app, &dev(), exec, Some("8")).await;
    assert_eq!(one["invocations"].as_array().unwrap().len(), 1, "{one}");
    let (st, v) = logs(app, &acme_sfn, exec, None).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ExecutionDoesNotExist"))
    );
    let (st, v) = logs(app, &dev(), exec, Some("x")).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ValidationException"))
    );
}

async fn logs(app: &Router, s: &Signer, arn: &str, event: Option<&str>) -> (StatusCode, Value) {
    let enc = |t: &str| form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
    let mut uri = format!("/sandflow/logs?executionArn={}", enc(arn));
    if let Some(id) = event {
        uri.push_str(&format!("&eventId={id}"));
    }
    signed_get(app, s, &uri).await
}
