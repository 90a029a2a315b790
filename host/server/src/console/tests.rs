//! Console tests through `router(..).oneshot(..)`: sign-in, cookie flags, CSRF, tenant isolation,
//! the approval flow with its audit and the 409 on a second decision, and the embedded files.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::tests::Env;
use crate::tenancy;

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";
/// Asks for approval by a message to the `approvals` queue (made by [`env`]) and waits.
const APPROVAL: &str = r#"{"StartAt":"Approve","States":{"Approve":{"Type":"Task",
  "Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
  "Parameters":{"QueueUrl":"http://localhost:8080/000000000000/approvals",
                "MessageBody":{"order.$":"$.order","token.$":"$$.Task.Token"}},
  "End":true}}}"#;

/// The API tests' server, with an `approvals` queue for [`APPROVAL`].
async fn env() -> Env {
    let e = crate::api::tests::env().await;
    e.state
        .store()
        .write(|c| {
            let dev = sandflow_store::tenants::by_name(c, "dev")?.expect("the dev tenant");
            sandflow_store::queues::create(c, dev.id, "approvals", &Default::default(), 0)
        })
        .unwrap();
    e
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let r = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn sign_in(app: &Router, key: &str, secret: &str) -> Answer {
    let req = Request::post("/console/api/signin")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"accessKeyId": key, "secretAccessKey": secret}).to_string(),
        ))
        .unwrap();
    send(app, req).await
}

async fn browser(app: &Router, key: &str, secret: &str) -> Browser {
    let a = sign_in(app, key, secret).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let set = a.headers[header::SET_COOKIE].to_str().unwrap();
    Browser {
        cookie: set.split(';').next().unwrap().to_string(),
        csrf: a.body["csrfToken"].as_str().unwrap().to_string(),
    }
}

impl Browser {
    async fn get(&self, app: &Router, path: &str) -> Answer {
        let req = Request::get(path)
            .header(header::HOST, HOST)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        send(app, req).await
    }

    async fn post(&self, app: &Router, path: &str, body: Value) -> Answer {
        let req = Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .body(Body::from(body.to_string()))
            .unwrap();
        send(app, req).await
    }

    async fn sfn(&self, app: &Router, action: &str, body: Value) -> Value {
        let a = self
            .post(app, &format!("/console/api/sfn/{action}"), body)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{action}: {}", a.body);
        a.body
    }
}

#[tokio::test]
async fn sign_in_checks_the_key_and_sets_a_strict_http_only_cookie() {
    let e = env().await;
    for (key, secret) in [("test", "wrong"), ("nobody", "test")] {
        let a = sign_in(&e.app, key, secret).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{key}/{secret}");
        assert_eq!(a.body["__type"], "UnrecognizedClientException");
        assert!(a.headers.get(header::SET_COOKIE).is_none());
    }
    let a = sign_in(&e.app, "test", "test").await;
    assert_eq!(a.status, StatusCode::OK);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert_eq!(a.body["accountId"], tenancy::DEV_ACCOUNT);
    assert_eq!(a.body["region"], "us-east-1");
    assert_eq!(a.body["csrfToken"].as_str().unwrap().len(), 64);

    let b = browser(&e.app, "test", "test").await;
    assert_eq!(
        b.get(&e.app, "/console/api/session").await.status,
        StatusCode::OK
    );
    let anonymous = Browser {
        cookie: "sandflow_session=forged".into(),
        csrf: String::new(),
    };
    let a = anonymous.get(&e.app, "/console/api/session").await;
    assert_eq!(
        (a.status, a.body["__type"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("NotSignedIn"))
    );
    // Sign out ends the session.
    assert_eq!(
        b.post(&e.app, "/console/api/signout", json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        b.get(&e.app, "/console/api/session").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn state_changing_calls_need_the_csrf_token_and_this_origin() {
    let e = env().await;
    let b = browser(&e.app, "test", "test").await;
    let no_token = Browser {
        csrf: "0".repeat(64),
        ..b.clone()
    };
    let a = no_token
        .post(&e.app, "/console/api/sfn/ListStateMachines", json!({}))
        .await;
    assert_eq!(
        (a.status, a.body["__type"].as_str()),
        (StatusCode::FORBIDDEN, Some("InvalidCsrfToken"))
    );
    let req = Request::post("/console/api/sfn/ListStateMachines")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::COOKIE, &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&e.app, req).await.status, StatusCode::FORBIDDEN);
    let ok = b
        .post(&e.app, "/console/api/sfn/ListStateMachines", json!({}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["stateMachines"], json!([]));
    // Sign-in itself refuses a foreign origin (login CSRF).
    let req = Request::post("/console/api/signin")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .body(Body::from(
            json!({"accessKeyId":"test","secretAccessKey":"test"}).to_string(),
        ))
        .unwrap();
    assert_eq!(send(&e.app, req).await.status, StatusCode::FORBIDDEN);
}

async fn machine(e: &Env, b: &Browser, name: &str, def: &str) -> String {
    b.sfn(
        &e.app,
        "CreateStateMachine",
        json!({"name": name, "definition": def, "roleArn": "arn:aws:iam::000000000000:role/r"}),
    )
    .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn start(e: &Env, b: &Browser, sm: &str, name: &str) -> String {
    b.sfn(
        &e.app,
        "StartExecution",
        json!({"stateMachineArn": sm, "name": name, "input": "{\"order\":7}"}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Polls until the inbox holds `n` rows.
async fn inbox(e: &Env, b: &Browser, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let a = b.get(&e.app, "/console/api/approvals").await;
        let rows = a.body["approvals"].as_array().cloned().unwrap_or_default();
        if rows.len() == n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the inbox never held {n} rows");
}

async fn finished(e: &Env, b: &Browser, arn: &str) -> Value {
    for _ in 0..200 {
        let d = b
            .sfn(&e.app, "DescribeExecution", json!({"executionArn": arn}))
            .await;
        if d["status"] != "RUNNING" {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{arn} never finished");
}

#[tokio::test]
async fn approvals_complete_the_task_once_and_are_audited() {
    let e = env().await;
    let b = browser(&e.app, "test", "test").await;
    let sm = machine(&e, &b, "approve", APPROVAL).await;
    let yes = start(&e, &b, &sm, "order-yes").await;
    let no = start(&e, &b, &sm, "order-no").await;
    let rows = inbox(&e, &b, 2).await;
    let row = |arn: &str| {
        rows.iter()
            .find(|r| r["executionArn"] == arn)
            .unwrap()
            .clone()
    };
    let (ry, rn) = (row(&yes), row(&no));
    assert_eq!(ry["stateName"], "Approve");
    assert_eq!(
        serde_json::from_str::<Value>(ry["input"].as_str().unwrap()).unwrap()["MessageBody"]["order"],
        7
    );

    let decide = |token: &Value, body: Value| {
        let mut body = body;
        body["taskToken"] = token.clone();
        body
    };
    let a = b
        .post(
            &e.app,
            "/console/api/approvals/decide",
            decide(
                &ry["taskToken"],
                json!({"decision":"approve","comment":" "}),
            ),
        )
        .await;
    assert_eq!(
        (a.status, a.body["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ValidationException"))
    );
    let a = b
        .post(
            &e.app,
            "/console/api/approvals/decide",
            decide(
                &ry["taskToken"],
                json!({"decision":"approve","comment":"ok","output":"{nope"}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "output must be JSON");

    let a = b
        .post(
            &e.app,
            "/console/api/approvals/decide",
            decide(
                &ry["taskToken"],
                json!({"decision":"approve","comment":"looks fine","output":"{\"approved\":true}"}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["decision"]["actor"], "test");
    let again = b
        .post(
            &e.app,
            "/console/api/approvals/decide",
            decide(
                &ry["taskToken"],
                json!({"decision":"reject","comment":"late"}),
            ),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["__type"], "TaskAlreadyDecided");
    assert_eq!(again.body["decision"]["comment"], "looks fine");

    let r = b
        .post(&e.app, "/console/api/approvals/decide",
            decide(&rn["taskToken"], json!({"decision":"reject","comment":"too big","error":"Rejected","cause":"over budget"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let done = finished(&e, &b, &yes).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(
        serde_json::from_str::<Value>(done["output"].as_str().unwrap()).unwrap(),
        json!({"approved": true})
    );
    let failed = finished(&e, &b, &no).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"].as_str()),
        (Some("FAILED"), Some("Rejected"))
    );
    assert!(inbox(&e, &b, 0).await.is_empty());

    let audit = b
        .get(&e.app, &format!("/console/api/audit?executionArn={yes}"))
        .await;
    let decisions = audit.body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        (
            decisions[0]["decision"].as_str(),
            decisions[0]["comment"].as_str()
        ),
        (Some("APPROVED"), Some("looks fine"))
    );
    let all = b.get(&e.app, "/console/api/audit").await;
    assert_eq!(all.body["decisions"].as_array().unwrap().len(), 2);

    // The overlay shows the rejected state failed, and while it waited, waiting; the state's
    // panel has its input and failure. Failed-only history holds only failures.
    let ov = b
        .get(&e.app, &format!("/console/api/overlay?executionArn={no}"))
        .await;
    assert_eq!(
        ov.body["states"]["Approve"]["status"], "FAILED",
        "{}",
        ov.body
    );
    let total = ov.body["totalEvents"].as_i64().unwrap();
    let waiting = b
        .get(
            &e.app,
            &format!("/console/api/overlay?executionArn={no}&at={}", total - 2),
        )
        .await;
    assert_eq!(
        waiting.body["states"]["Approve"]["status"], "WAITING",
        "{}",
        waiting.body
    );
    let st = b
        .get(
            &e.app,
            &format!("/console/api/state?executionArn={no}&name=Approve"),
        )
        .await;
    assert_eq!(st.body["failure"]["error"], "Rejected", "{}", st.body);
    assert!(st.body["input"].as_str().unwrap().contains("order"));
    let types: Vec<&str> = st.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskFailed"
        ]
    );
    let h = b
        .get(
            &e.app,
            &format!("/console/api/history?executionArn={no}&failedOnly=1"),
        )
        .await;
    let types: Vec<&str> = h.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        !types.is_empty() && types.iter().all(|t| t.ends_with("Failed")),
        "{types:?}"
    );
    let page = b
        .get(
            &e.app,
            &format!("/console/api/history?executionArn={no}&limit=2"),
        )
        .await;
    assert_eq!(page.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["nextFrom"], 3);
}

#[tokio::test]
async fn a_session_never_sees_another_tenants_data() {
    let e = env().await;
    let a = browser(&e.app, "test", "test").await;
    let sm = machine(&e, &a, "approve", APPROVAL).await;
    let arn = start(&e, &a, &sm, "mine").await;
    inbox(&e, &a, 1).await;
    let creds = tenancy::create(e.state.store(), e.state.sealer(), "other").unwrap();
    let b = browser(
        &e.app,
        creds["accessKeyId"].as_str().unwrap(),
        creds["secretAccessKey"].as_str().unwrap(),
    )
    .await;
    let d = b
        .post(
            &e.app,
            "/console/api/sfn/DescribeExecution",
            json!({"executionArn": arn}),
        )
        .await;
    assert_eq!(
        (d.status, d.body["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ExecutionDoesNotExist"))
    );
    let ov = b
        .get(&e.app, &format!("/console/api/overlay?executionArn={arn}"))
        .await;
    assert_eq!(ov.body["__type"], "ExecutionDoesNotExist");
    let list = b.get(&e.app, "/console/api/executions").await;
    assert_eq!(list.body["executions"], json!([]));
    assert_eq!(
        b.get(&e.app, "/console/api/approvals").await.body["approvals"],
        json!([])
    );
    let token =
        a.get(&e.app, "/console/api/approvals").await.body["approvals"][0]["taskToken"].clone();
    let steal = b
        .post(
            &e.app,
            "/console/api/approvals/decide",
            json!({"taskToken": token, "decision":"approve","comment":"mine now"}),
        )
        .await;
    assert_eq!(steal.body["__type"], "TaskDoesNotExist");
    // A's own list pages newest first and filters.
    let second = start(&e, &a, &sm, "newer").await;
    let page = a.get(&e.app, "/console/api/executions?limit=1").await;
    assert_eq!(page.body["executions"][0]["executionArn"], second);
    let next = page.body["nextToken"].as_str().unwrap().to_string();
    let rest = a
        .get(
            &e.app,
            &format!("/console/api/executions?limit=1&nextToken={next}"),
        )
        .await;
    assert_eq!(rest.body["executions"][0]["executionArn"], arn);
    let named = a.get(&e.app, "/console/api/executions?name=NEW").await;
    assert_eq!(named.body["executions"].as_array().unwrap().len(), 1);
    let bad = a.get(&e.app, "/console/api/executions?status=DONE").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let e = env().await;
    let root = send(&e.app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(root.status.is_redirection());
    assert_eq!(root.headers[header::LOCATION], "/console/");
    let r = e
        .app
        .clone()
        .oneshot(Request::get("/console/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&html).contains("/console/app.js"));
    let js = e
        .app
        .clone()
        .oneshot(
            Request::get("/console/graph.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        js.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let missing = send(
        &e.app,
        Request::get("/console/nope.js")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let cfg = send(
        &e.app,
        Request::get("/console/api/config")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(cfg.body["dev"], true);
}

#[tokio::test]
async fn the_watch_stream_is_woken_by_the_engine() {
    use futures_util::StreamExt;
    let e = env().await;
    let b = browser(&e.app, "test", "test").await;
    let sm = machine(&e, &b, "approve", APPROVAL).await;
    let arn = start(&e, &b, &sm, "watched").await;
    let row = inbox(&e, &b, 1).await.remove(0);
    let req = Request::get(format!("/console/api/watch?executionArn={arn}"))
        .header(header::HOST, HOST)
        .header(header::COOKIE, &b.cookie)
        .body(Body::empty())
        .unwrap();
    let r = e.app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.into_body().into_data_stream();
    let mut next_update = async || -> Value {
        loop {
            let chunk = body.next().await.expect("the stream ended").unwrap();
            let text = String::from_utf8_lossy(&chunk).to_string();
            if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
        }
    };
    let first = next_update().await;
    assert_eq!(first["status"], "RUNNING");
    b.sfn(
        &e.app,
        "SendTaskSuccess",
        json!({"taskToken": row["taskToken"], "output": "{}"}),
    )
    .await;
    // Woken by the commit, well before the watch's 5 s safety re-read.
    let ended = async {
        loop {
            let u = next_update().await;
            if u["status"] != "RUNNING" {
                return u;
            }
        }
    };
    let last = tokio::time::timeout(Duration::from_secs(3), ended)
        .await
        .expect("no update after the commit");
    assert_eq!(last["status"], "SUCCEEDED", "{last}");
    assert!(last["lastEventId"].as_i64() > first["lastEventId"].as_i64());
}

#[tokio::test]
async fn topics_and_their_outbox_are_shown_to_their_tenant_only() {
    use sandflow_store::topics;
    let e = env().await;
    e.state
        .store()
        .write(|c| {
            let dev = sandflow_store::tenants::by_name(c, "dev")?.expect("the dev tenant");
            let t = topics::create_topic(c, dev.id, "orders", &Default::default(), 0)?;
            topics::subscribe(
                c,
                &topics::NewSubscription {
                    tenant_id: dev.id,
                    topic_id: t.id,
                    uuid: "u-1".into(),
                    protocol: "email".into(),
                    endpoint: "ops@shop.example".into(),
                    attributes: Default::default(),
                    pending_confirmation: false,
                    created_ms: 0,
                },
            )?;
            let m = topics::TopicMessage {
                id: 0,
                tenant_id: dev.id,
                topic_arn: "arn:aws:sns:us-east-1:000000000000:orders".into(),
                message_id: "m-1".into(),
                subject: Some("Out of stock".into()),
                message: "order 7".into(),
                attributes: "null".into(),
                created_ms: 1,
            };
            topics::publish(c, "orders", &m, |_| true)
        })
        .unwrap();
    let b = browser(&e.app, "test", "test").await;
    let t = b.get(&e.app, "/console/api/topics").await;
    assert_eq!(t.body["topics"][0]["name"], "orders", "{}", t.body);
    assert_eq!(
        t.body["topics"][0]["subscriptions"][0]["endpoint"],
        "ops@shop.example"
    );
    let arn = t.body["topics"][0]["topicArn"].as_str().unwrap();
    let o = b
        .get(&e.app, &format!("/console/api/outbox?topic={arn}"))
        .await;
    let m = &o.body["Messages"][0];
    assert_eq!(m["Subject"], "Out of stock", "{}", o.body);
    assert_eq!(m["Deliveries"][0]["Protocol"], "email");
    assert_eq!(m["Deliveries"][0]["State"], "pending");

    let creds = tenancy::create(e.state.store(), e.state.sealer(), "other").unwrap();
    let other = browser(
        &e.app,
        creds["accessKeyId"].as_str().unwrap(),
        creds["secretAccessKey"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        other.get(&e.app, "/console/api/topics").await.body["topics"],
        json!([])
    );
    let theirs = other
        .get(&e.app, &format!("/console/api/outbox?topic={arn}"))
        .await;
    assert_eq!(theirs.body["Messages"], json!([]));
}
