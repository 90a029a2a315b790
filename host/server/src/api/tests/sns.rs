//! SNS over its query protocol: topics, subscriptions, Publish, XML errors, tenancy, and
//! delivery to the built-in SQS queues (from the API and from a workflow's `sns:publish`).

use super::*;

/// A form-encoded SNS call signed for `sns`: the status and the XML body.
async fn sns_as(
    app: &Router,
    s: &Signer,
    action: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", "2010-03-31");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let req = Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "localhost:8080")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(form.finish().into_bytes())
        .unwrap();
    let r = app.clone().oneshot(sign_request(s, req)).await.unwrap();
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn sns(app: &Router, action: &str, params: &[(&str, &str)]) -> String {
    let (st, body) = sns_as(app, &as_service("sns"), action, params).await;
    assert_eq!(st, StatusCode::OK, "{action}: {body}");
    assert!(
        body.contains(&format!(
            "<{action}Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
        )),
        "{body}"
    );
    body
}

/// Expects SNS's XML error `code` with `status`.
async fn sns_fails(
    app: &Router,
    action: &str,
    params: &[(&str, &str)],
    code: &str,
    status: StatusCode,
) -> String {
    let (st, body) = sns_as(app, &as_service("sns"), action, params).await;
    assert_eq!(st, status, "{action}: {body}");
    assert!(body.starts_with("<ErrorResponse"), "{body}");
    assert_eq!(text(&body, "Code"), code, "{body}");
    text(&body, "Message")
}

/// The text of the first `<tag>` element.
fn text(xml: &str, tag: &str) -> String {
    texts(xml, tag).into_iter().next().unwrap_or_default()
}

fn texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(t, _)| t.to_string()))
        .collect()
}

const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:orders";

#[tokio::test]
async fn topics_are_created_once_listed_in_pages_and_deleted() {
    let e = env().await;
    let created = sns(
        &e.app,
        "CreateTopic",
        &[
            ("Name", "orders"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "Orders"),
        ],
    )
    .await;
    assert_eq!(text(&created, "TopicArn"), TOPIC);
    // Same name and attributes: the same topic; other attributes: refused.
    let again = sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    assert_eq!(text(&again, "TopicArn"), TOPIC);
    sns_fails(
        &e.app,
        "CreateTopic",
        &[
            ("Name", "orders"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "X"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "CreateTopic",
        &[("Name", "bad name")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let fifo = sns_fails(
        &e.app,
        "CreateTopic",
        &[("Name", "t.fifo")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(fifo.contains("FIFO"), "{fifo}");

    let attrs = sns(&e.app, "GetTopicAttributes", &[("TopicArn", TOPIC)]).await;
    assert!(
        attrs.contains("<entry><key>DisplayName</key><value>Orders</value></entry>"),
        "{attrs}"
    );
    assert!(
        attrs.contains("<entry><key>Owner</key><value>000000000000</value></entry>"),
        "{attrs}"
    );
    sns(
        &e.app,
        "SetTopicAttributes",
        &[
            ("TopicArn", TOPIC),
            ("AttributeName", "DisplayName"),
            ("AttributeValue", "New & <improved>"),
        ],
    )
    .await;
    let attrs = sns(&e.app, "GetTopicAttributes", &[("TopicArn", TOPIC)]).await;
    assert!(
        attrs.contains("<value>New &amp; &lt;improved&gt;</value>"),
        "{attrs}"
    );
    sns_fails(
        &e.app,
        "SetTopicAttributes",
        &[
            ("TopicArn", TOPIC),
            ("AttributeName", "Nope"),
            ("AttributeValue", "x"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;

    for i in 0..100 {
        sns(&e.app, "CreateTopic", &[("Name", &format!("t{i:03}"))]).await;
    }
    let first = sns(&e.app, "ListTopics", &[]).await;
    assert_eq!(texts(&first, "TopicArn").len(), 100);
    let token = text(&first, "NextToken");
    assert!(!token.is_empty(), "{first}");
    let second = sns(&e.app, "ListTopics", &[("NextToken", &token)]).await;
    assert_eq!(
        texts(&second, "TopicArn"),
        ["arn:aws:sns:us-east-1:000000000000:t099"]
    );
    assert_eq!(text(&second, "NextToken"), "");
    sns_fails(
        &e.app,
        "ListTopics",
        &[("NextToken", "garbage")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;

    sns(&e.app, "DeleteTopic", &[("TopicArn", TOPIC)]).await;
    sns_fails(
        &e.app,
        "GetTopicAttributes",
        &[("TopicArn", TOPIC)],
        "NotFound",
        StatusCode::NOT_FOUND,
    )
    .await;
    // Deleting again is not an error (as SNS).
    sns(&e.app, "DeleteTopic", &[("TopicArn", TOPIC)]).await;
    sns_fails(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", "m")],
        "NotFound",
        StatusCode::NOT_FOUND,
    )
    .await;
    sns_fails(
        &e.app,
        "GetTopicAttributes",
        &[("TopicArn", "nope")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn bad_requests_get_sns_errors_never_a_500() {
    let e = env().await;
    let m = sns_fails(
        &e.app,
        "NoSuchThing",
        &[],
        "InvalidAction",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(m.contains("NoSuchThing"), "{m}");
    sns_fails(
        &e.app,
        "CreateTopic",
        &[],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    sns_fails(
        &e.app,
        "Publish",
        &[("Message", "m")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", "")],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Publish",
        &[
            ("TopicArn", TOPIC),
            ("Message", "m"),
            ("Subject", "two\nlines"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Publish",
        &[
            ("TopicArn", TOPIC),
            ("Message", "m"),
            ("MessageAttributes.entry.1.Name", "a"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
        ],
        "ParameterValueInvalid",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let big = "x".repeat(MAX + 1);
    sns_fails(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", &big)],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sms"),
            ("Endpoint", "+1555"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    // No --sns-http-allow: http endpoints are refused at Subscribe.
    let m = sns_fails(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "http"),
            ("Endpoint", "http://127.0.0.1:9/x"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(m.contains("--sns-http-allow"), "{m}");
    // The tenant's HTTP-task allowlist lets it subscribe that origin.
    e.state
        .store()
        .write(|c| {
            let (t, _) = sandflow_store::tenants::by_key(c, "test")?.expect("the dev tenant");
            sandflow_store::http_origins::allow(c, t.id, "http://127.0.0.1:9")
        })
        .unwrap();
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "http"),
            ("Endpoint", "http://127.0.0.1:9/x"),
        ],
    )
    .await;
    sns_fails(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "email"),
            ("Endpoint", "not-an-address"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "email"),
            ("Endpoint", "a@b.c"),
            ("Attributes.entry.1.key", "RawMessageDelivery"),
            ("Attributes.entry.1.value", "true"),
        ],
        "InvalidParameter",
        StatusCode::BAD_REQUEST,
    )
    .await;
    sns_fails(
        &e.app,
        "Unsubscribe",
        &[(
            "SubscriptionArn",
            &format!("{TOPIC}:00000000-0000-4000-8000-000000000000"),
        )],
        "NotFound",
        StatusCode::NOT_FOUND,
    )
    .await;

    // Signed for another service, or not signed: XML errors an SNS client can read.
    let (st, body) = sns_as(&e.app, &as_service("sqs"), "ListTopics", &[]).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(text(&body, "Code"), "InvalidSignatureException", "{body}");
    let unsigned = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("Action=ListTopics&Version=2010-03-31"))
        .unwrap();
    let r = e.app.clone().oneshot(unsigned).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("<Code>MissingAuthenticationTokenException</Code>")
    );
}

const MAX: usize = crate::api::sns::MAX_MESSAGE_BYTES;

/// Receives one message from the dev tenant's queue `name`, waiting for the delivery loop.
async fn receive(e: &Env, name: &str) -> Value {
    let url = format!("http://localhost:8080/000000000000/{name}");
    for _ in 0..100 {
        let (st, v) = send(
            &e.app,
            signed_target(
                &as_service("sqs"),
                "AmazonSQS.ReceiveMessage",
                json!({"QueueUrl": url, "MessageAttributeNames": ["All"]})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if let Some(m) = v["Messages"].get(0) {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing arrived on {name}");
}

async fn create_queue(e: &Env, name: &str) {
    let (st, v) = send(
        &e.app,
        signed_target(
            &as_service("sqs"),
            "AmazonSQS.CreateQueue",
            json!({"QueueName": name}).to_string().as_bytes(),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn sqs_subscriptions_get_the_envelope_or_the_raw_message() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    create_queue(&e, "wrapped").await;
    create_queue(&e, "raw").await;
    let sub = sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:000000000000:wrapped"),
        ],
    )
    .await;
    let sub_arn = text(&sub, "SubscriptionArn");
    assert!(sub_arn.starts_with(&format!("{TOPIC}:")), "{sub_arn}");
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:000000000000:raw"),
            ("Attributes.entry.1.key", "RawMessageDelivery"),
            ("Attributes.entry.1.value", "true"),
        ],
    )
    .await;
    let listed = sns(&e.app, "ListSubscriptionsByTopic", &[("TopicArn", TOPIC)]).await;
    assert_eq!(texts(&listed, "Protocol"), ["sqs", "sqs"]);
    let attrs = sns(
        &e.app,
        "GetSubscriptionAttributes",
        &[("SubscriptionArn", &sub_arn)],
    )
    .await;
    assert!(
        attrs.contains("<entry><key>RawMessageDelivery</key><value>false</value></entry>"),
        "{attrs}"
    );

    let published = sns(
        &e.app,
        "Publish",
        &[
            ("TopicArn", TOPIC),
            ("Message", "hello"),
            ("Subject", "greeting"),
            ("MessageAttributes.entry.1.Name", "kind"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "order"),
        ],
    )
    .await;
    let id = text(&published, "MessageId");
    let wrapped = receive(&e, "wrapped").await;
    let envelope: Value = serde_json::from_str(wrapped["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], id);
    assert_eq!(envelope["TopicArn"], TOPIC);
    assert_eq!(
        (envelope["Subject"].as_str(), envelope["Message"].as_str()),
        (Some("greeting"), Some("hello"))
    );
    assert_eq!(
        envelope["MessageAttributes"]["kind"],
        json!({"Type": "String", "Value": "order"})
    );
    assert!(envelope["Timestamp"].as_str().unwrap().ends_with('Z'));
    let raw = receive(&e, "raw").await;
    assert_eq!(raw["Body"], "hello");
    assert_eq!(raw["MessageAttributes"]["kind"]["StringValue"], "order");

    // Unsubscribed: the next message reaches only the raw queue.
    sns(&e.app, "Unsubscribe", &[("SubscriptionArn", &sub_arn)]).await;
    sns(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", "second")],
    )
    .await;
    assert_eq!(receive(&e, "raw").await["Body"], "second");
    let outbox = outbox(&e, &as_service("sns"), TOPIC).await;
    let messages = outbox["Messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{outbox}");
    assert_eq!(messages[0]["Message"], "second");
    assert_eq!(
        messages[1]["Deliveries"].as_array().unwrap().len(),
        1,
        "the unsubscribed queue's delivery went with it"
    );
}

async fn outbox(e: &Env, s: &Signer, topic: &str) -> Value {
    let uri = format!(
        "/sandflow/outbox?topic={}",
        form_urlencoded::byte_serialize(topic.as_bytes()).collect::<String>()
    );
    let (st, v) = signed_get(&e.app, s, &uri).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn another_tenants_topics_do_not_exist() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    sns(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", "mine")],
    )
    .await;
    let creds = tenancy::create(e.state.store(), e.state.sealer(), "acme").unwrap();
    let acme = Signer {
        key: creds["accessKeyId"].as_str().unwrap().into(),
        secret: creds["secretAccessKey"].as_str().unwrap().into(),
        service: "sns".into(),
        ..dev()
    };
    let (st, body) = sns_as(&e.app, &acme, "ListTopics", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert!(texts(&body, "TopicArn").is_empty(), "{body}");
    for (action, params) in [
        ("Publish", vec![("TopicArn", TOPIC), ("Message", "m")]),
        ("GetTopicAttributes", vec![("TopicArn", TOPIC)]),
        (
            "Subscribe",
            vec![
                ("TopicArn", TOPIC),
                ("Protocol", "email"),
                ("Endpoint", "a@b.c"),
            ],
        ),
    ] {
        let (st, body) = sns_as(&e.app, &acme, action, &params).await;
        assert_eq!(
            (st, text(&body, "Code")),
            (StatusCode::NOT_FOUND, "NotFound".into()),
            "{action}: {body}"
        );
    }
    // Their own topic of the same name is theirs alone.
    let account = creds["accountId"].as_str().unwrap();
    let (_, body) = sns_as(&e.app, &acme, "CreateTopic", &[("Name", "orders")]).await;
    assert_eq!(
        text(&body, "TopicArn"),
        format!("arn:aws:sns:us-east-1:{account}:orders")
    );
    assert!(
        outbox(&e, &acme, &text(&body, "TopicArn")).await["Messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outbox(&e, &as_service("sns"), TOPIC).await["Messages"][0]["Message"],
        "mine"
    );
}

#[tokio::test]
async fn a_workflow_publishes_to_existing_topics_only() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    create_queue(&e, "q").await;
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:000000000000:q"),
        ],
    )
    .await;
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn.$": "$.topic", "Message.$": "$.m"}, "End": true}}});
    let arn = create(&e.app, "pub", &def.to_string(), "STANDARD").await;
    let done =
        super::integrations::run_to_end(&e.app, &arn, json!({"topic": TOPIC, "m": {"n": 1}})).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let got = receive(&e, "q").await;
    let envelope: Value = serde_json::from_str(got["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Message"], r#"{"n":1}"#);
    assert_eq!(
        envelope["MessageId"],
        super::integrations::output(&done)["MessageId"]
    );
    let missing = "arn:aws:sns:us-east-1:000000000000:nope";
    let done =
        super::integrations::run_to_end(&e.app, &arn, json!({"topic": missing, "m": "x"})).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    let history = call(
        &e.app,
        "GetExecutionHistory",
        json!({"executionArn": done["executionArn"]}),
    )
    .await;
    assert!(
        history.to_string().contains("SNS.NotFoundException"),
        "{history}"
    );
}

#[tokio::test]
async fn publish_waits_for_its_token_and_the_sdk_form_answers_bare() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    create_queue(&e, "q").await;
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:000000000000:q"),
        ],
    )
    .await;
    let def = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                "Parameters": {"TopicArn": TOPIC, "Message": {"token.$": "$$.Task.Token"}},
                "ResultPath": "$.answer", "Next": "Sdk"},
        "Sdk": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sns:publish",
                "Parameters": {"TopicArn": TOPIC, "Message": "done"},
                "ResultPath": "$.sdk", "Next": "Missing"},
        "Missing": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sns:publish",
                    "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:000000000000:nope", "Message": "x"},
                    "Catch": [{"ErrorEquals": ["Sns.NotFoundException"], "ResultPath": "$.missing", "Next": "End"}],
                    "End": true},
        "End": {"Type": "Succeed"}}});
    let arn = create(&e.app, "ask", &def.to_string(), "STANDARD").await;
    let started = call(
        &e.app,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": "{}"}),
    )
    .await;
    let got = receive(&e, "q").await;
    let envelope: Value = serde_json::from_str(got["Body"].as_str().unwrap()).unwrap();
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    call(
        &e.app,
        "SendTaskSuccess",
        json!({"taskToken": message["token"], "output": r#"{"ok":true}"#}),
    )
    .await;
    let d = super::integrations::wait_done(&e.app, started["executionArn"].as_str().unwrap()).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out = super::integrations::output(&d);
    assert_eq!(out["answer"], json!({"ok": true}));
    let sdk = out["sdk"].as_object().unwrap();
    assert_eq!(sdk.keys().collect::<Vec<_>>(), ["MessageId"], "{out}");
    assert_eq!(out["missing"]["Error"], "Sns.NotFoundException");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_it_succeeds() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    // The queue does not exist yet: the first attempt fails and stays pending.
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:000000000000:later"),
        ],
    )
    .await;
    sns(
        &e.app,
        "Publish",
        &[("TopicArn", TOPIC), ("Message", "eventually")],
    )
    .await;
    let mut delivery = Value::Null;
    for _ in 0..100 {
        delivery =
            outbox(&e, &as_service("sns"), TOPIC).await["Messages"][0]["Deliveries"][0].clone();
        if delivery["Attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (delivery["State"].as_str(), delivery["Attempts"].as_i64()),
        (Some("pending"), Some(1)),
        "{delivery}"
    );
    assert!(
        delivery["LastError"]
            .as_str()
            .unwrap()
            .contains("QueueDoesNotExist"),
        "{delivery}"
    );
    create_queue(&e, "later").await;
    let got = receive(&e, "later").await;
    let envelope: Value = serde_json::from_str(got["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Message"], "eventually");
    // Marked delivered just after the queue took it.
    let mut delivery = Value::Null;
    for _ in 0..100 {
        delivery =
            outbox(&e, &as_service("sns"), TOPIC).await["Messages"][0]["Deliveries"][0].clone();
        if delivery["State"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delivery["Attempts"], 2, "{delivery}");
}

/// A one-mail SMTP sink on a free port: the DATA it received, once a session ended.
async fn smtp_sink() -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 sink\r\n").await.unwrap();
        let (mut data, mut in_data) = (String::new(), false);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    w.write_all(b"250 queued\r\n").await.unwrap();
                } else {
                    data.push_str(&line);
                }
                continue;
            }
            let reply: &[u8] = match line.get(..4).unwrap_or_default() {
                "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go\r\n"
                }
                "QUIT" => b"221 bye\r\n",
                _ => b"250 ok\r\n",
            };
            w.write_all(reply).await.unwrap();
        }
        let _ = tx.send(data);
    });
    (addr, rx)
}

#[tokio::test]
async fn mail_waiting_in_the_outbox_is_sent_by_the_next_server_with_a_relay() {
    let e = env().await;
    sns(&e.app, "CreateTopic", &[("Name", "orders")]).await;
    sns(
        &e.app,
        "Subscribe",
        &[
            ("TopicArn", TOPIC),
            ("Protocol", "email"),
            ("Endpoint", "ops@example.com"),
        ],
    )
    .await;
    sns(
        &e.app,
        "Publish",
        &[
            ("TopicArn", TOPIC),
            ("Message", "disk full"),
            ("Subject", "alert"),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let d = &outbox(&e, &as_service("sns"), TOPIC).await["Messages"][0]["Deliveries"][0];
    assert_eq!(
        (d["State"].as_str(), d["Attempts"].as_i64()),
        (Some("pending"), Some(0)),
        "{d}"
    );

    // A server started later on the same data, with a relay, sends it.
    let (relay, mail) = smtp_sink().await;
    let opts = Options {
        dev: true,
        sns: crate::api::sns::SnsOptions {
            smtp_relay: Some(relay),
            ..Default::default()
        },
        ..Options::default()
    };
    let _second = AppState::open(e._dir.path(), &opts).await.unwrap();
    let data = tokio::time::timeout(Duration::from_secs(10), mail)
        .await
        .unwrap()
        .unwrap();
    assert!(
        data.contains("To: ops@example.com\r\n") && data.contains("Subject: alert\r\n"),
        "{data}"
    );
    use base64::Engine as _;
    let body = data.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
    let body = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert_eq!(body, b"disk full");
}
