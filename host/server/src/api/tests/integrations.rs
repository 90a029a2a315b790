//! Task states on the built-in SQS and DynamoDB: what a workflow writes, the APIs read, and
//! the reverse; failures carry the names Step Functions gives them.

use super::*;

async fn service(e: &Env, service: &str, target: &str, body: Value) -> Value {
    let (st, v) = send(
        &e.app,
        signed_target(&as_service(service), target, body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{target}: {v}");
    v
}

pub(super) async fn run_to_end(app: &Router, arn: &str, input: Value) -> Value {
    let started = call(
        app,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": input.to_string()}),
    )
    .await;
    wait_done(app, started["executionArn"].as_str().unwrap()).await
}

/// DescribeExecution once the execution has ended (up to 5 s).
pub(super) async fn wait_done(app: &Router, exec: &str) -> Value {
    for _ in 0..250 {
        let d = call(app, "DescribeExecution", json!({"executionArn": exec})).await;
        if d["status"] != "RUNNING" {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{exec} still running");
}

pub(super) fn output(d: &Value) -> Value {
    serde_json::from_str(d["output"].as_str().expect("an output")).unwrap()
}

const QUEUE: &str = "http://localhost:8080/000000000000/orders";

#[tokio::test]
async fn a_workflow_writes_tables_and_queues_the_apis_read() {
    let e = env().await;
    service(
        &e,
        "dynamodb",
        "DynamoDB_20120810.CreateTable",
        json!({"TableName": "orders",
               "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
               "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    service(
        &e,
        "sqs",
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "orders"}),
    )
    .await;
    let def = json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "orders",
                               "Item": {"id": {"S.$": "$.id"}, "state": {"S": "new"}},
                               "ConditionExpression": "attribute_not_exists(id)"},
                "ResultPath": "$.put", "Next": "Update"},
        "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                   "Parameters": {"TableName": "orders", "Key": {"id": {"S.$": "$.id"}},
                                  "UpdateExpression": "SET #s = :s",
                                  "ExpressionAttributeNames": {"#s": "state"},
                                  "ExpressionAttributeValues": {":s": {"S": "paid"}},
                                  "ReturnValues": "ALL_NEW"},
                   "ResultSelector": {"state.$": "$.Attributes.state.S"},
                   "ResultPath": "$.update", "Next": "Query"},
        "Query": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:query",
                  "Parameters": {"TableName": "orders", "KeyConditionExpression": "id = :id",
                                 "ExpressionAttributeValues": {":id": {"S.$": "$.id"}}},
                  "ResultSelector": {"count.$": "$.Count"},
                  "ResultPath": "$.query", "Next": "Send"},
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                 "Parameters": {"QueueUrl": QUEUE, "MessageBody": {"order.$": "$.id"}},
                 "ResultSelector": {"md5.$": "$.MD5OfMessageBody", "id.$": "$.MessageId"},
                 "ResultPath": "$.sent", "End": true}}});
    let arn = create(&e.app, "orders", &def.to_string(), "STANDARD").await;
    let d = run_to_end(&e.app, &arn, json!({"id": "o-1"})).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out = output(&d);
    assert_eq!(out["update"]["state"], "paid");
    assert_eq!(out["query"]["count"], 1);
    let meta = &out["put"]["SdkHttpMetadata"];
    assert_eq!(meta["HttpStatusCode"], 200);
    assert_eq!(meta["HttpHeaders"]["Content-Length"], "2");

    // The API sees the item and the message, with the JSON body sent as text.
    let got = service(
        &e,
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        json!({"TableName": "orders", "Key": {"id": {"S": "o-1"}}}),
    )
    .await;
    assert_eq!(got["Item"]["state"], json!({"S": "paid"}));
    let received = service(
        &e,
        "sqs",
        "AmazonSQS.ReceiveMessage",
        json!({"QueueUrl": QUEUE}),
    )
    .await;
    let m = &received["Messages"][0];
    assert_eq!(m["Body"], r#"{"order":"o-1"}"#);
    assert_eq!(m["MessageId"], out["sent"]["id"]);
    assert_eq!(m["MD5OfBody"], out["sent"]["md5"]);

    // The same order again: the condition fails with DynamoDB's name, so Catch can route it.
    let d = run_to_end(&e.app, &arn, json!({"id": "o-1"})).await;
    assert_eq!(d["status"], "FAILED");
    assert_eq!(d["error"], "DynamoDB.ConditionalCheckFailedException");
    let cause = d["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("The conditional request failed (Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ConditionalCheckFailedException; Request ID: "),
        "{cause}"
    );
}

#[tokio::test]
async fn send_message_waits_for_the_token_it_carries() {
    let e = env().await;
    service(
        &e,
        "sqs",
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "orders"}),
    )
    .await;
    let def = |queue: &str| {
        json!({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue,
                                   "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.id"}},
                    "End": true}}})
        .to_string()
    };
    let arn = create(&e.app, "ask", &def(QUEUE), "STANDARD").await;
    let started = call(
        &e.app,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": r#"{"id":"o-2"}"#}),
    )
    .await;
    // A worker reads the message, does the work, and answers with the token.
    let mut body = Value::Null;
    for _ in 0..100 {
        let got = service(
            &e,
            "sqs",
            "AmazonSQS.ReceiveMessage",
            json!({"QueueUrl": QUEUE, "WaitTimeSeconds": 1}),
        )
        .await;
        if let Some(m) = got["Messages"].get(0) {
            body = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
            break;
        }
    }
    assert_eq!(body["order"], "o-2", "{body}");
    call(
        &e.app,
        "SendTaskSuccess",
        json!({"taskToken": body["token"], "output": r#"{"shipped":true}"#}),
    )
    .await;
    let d = wait_done(&e.app, started["executionArn"].as_str().unwrap()).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(output(&d), json!({"shipped": true}));

    // A queue that does not exist fails the task at once instead of waiting forever.
    let missing = create(
        &e.app,
        "ask-missing",
        &def("http://localhost:8080/000000000000/missing"),
        "STANDARD",
    )
    .await;
    let d = run_to_end(&e.app, &missing, json!({"id": "o-3"})).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "SQS.QueueDoesNotExistException");
    assert!(
        d["cause"]
            .as_str()
            .unwrap()
            .contains("Error Code: AWS.SimpleQueueService.NonExistentQueue;"),
        "{d}"
    );
}

#[tokio::test]
async fn another_tenants_queue_is_not_reachable_from_a_workflow() {
    let e = env().await;
    let creds = tenancy::create(e.state.store(), e.state.sealer(), "acme").unwrap();
    let acme_account = creds["accountId"].as_str().unwrap().to_string();
    let acme = Signer {
        key: creds["accessKeyId"].as_str().unwrap().into(),
        secret: creds["secretAccessKey"].as_str().unwrap().into(),
        service: "sqs".into(),
        ..dev()
    };
    let (st, _) = send(
        &e.app,
        signed_target(&acme, "AmazonSQS.CreateQueue", br#"{"QueueName":"orders"}"#),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let def = json!({"StartAt": "Send", "States": {
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:sendMessage",
                 "Parameters": {"QueueUrl": format!("http://localhost:8080/{acme_account}/orders"),
                                "MessageBody": "hi"},
                 "End": true}}});
    let arn = create(&e.app, "cross", &def.to_string(), "STANDARD").await;
    let d = run_to_end(&e.app, &arn, json!({})).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "Sqs.QueueDoesNotExistException");
}

#[tokio::test]
async fn nested_workflows_start_wait_and_fail_as_on_aws() {
    let e = env().await;
    let double = json!({"StartAt": "P", "States": {"P": {"Type": "Pass",
        "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": true}}});
    let boom =
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "no"}}});
    let child = create(&e.app, "double", &double.to_string(), "STANDARD").await;
    let quick = create(&e.app, "double-express", &double.to_string(), "EXPRESS").await;
    let failing = create(&e.app, "boom", &boom.to_string(), "STANDARD").await;
    let def = json!({"StartAt": "Sync2", "States": {
        "Sync2": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                  "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                  "ResultSelector": {"out.$": "$.Output", "status.$": "$.Status"},
                  "ResultPath": "$.sync2", "Next": "Sync"},
        "Sync": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
                 "Parameters": {"StateMachineArn": quick, "Input": {"n": 5}},
                 "ResultSelector": {"out.$": "$.Output"},
                 "ResultPath": "$.sync", "Next": "Start"},
        "Start": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                  "Parameters": {"StateMachineArn": child, "Input": "{\"n\": 1}", "Name": "fire-and-forget"},
                  "ResultSelector": {"arn.$": "$.ExecutionArn"},
                  "ResultPath": "$.started", "Next": "Fails"},
        "Fails": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
                  "Parameters": {"StateMachineArn": failing},
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.caught", "Next": "Missing"}],
                  "End": true},
        "Missing": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                    "Parameters": {"StateMachineArn": sm("nope")},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.missing", "Next": "Done"}],
                    "End": true},
        "Done": {"Type": "Succeed"}}});
    let parent = create(&e.app, "parent", &def.to_string(), "STANDARD").await;
    let d = run_to_end(&e.app, &parent, json!({"n": 21})).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out = output(&d);
    assert_eq!(
        out["sync2"],
        json!({"out": {"doubled": 42}, "status": "SUCCEEDED"})
    );
    assert_eq!(
        out["sync"]["out"], r#"{"doubled":10}"#,
        "`.sync` keeps Output as text"
    );
    assert_eq!(
        out["started"]["arn"],
        "arn:aws:states:us-east-1:000000000000:execution:double:fire-and-forget"
    );
    assert_eq!(out["caught"]["Error"], "States.TaskFailed");
    let cause: Value = serde_json::from_str(out["caught"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(
        (cause["Status"].as_str(), cause["Error"].as_str()),
        (Some("FAILED"), Some("Boom"))
    );
    assert_eq!(
        out["missing"]["Error"],
        "StepFunctions.StateMachineDoesNotExistException"
    );
    // The children are ordinary executions of their machines.
    let listed = call(&e.app, "ListExecutions", json!({"stateMachineArn": child})).await;
    assert_eq!(
        listed["executions"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
}

#[tokio::test]
async fn stopping_a_parent_stops_its_sync_child() {
    let e = env().await;
    let slow =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let child = create(&e.app, "slow", &slow.to_string(), "STANDARD").await;
    let def = json!({"StartAt": "Run", "States": {"Run": {"Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Name": "the-child"}, "End": true}}});
    let parent = create(&e.app, "waits-on-slow", &def.to_string(), "STANDARD").await;
    let started = call(&e.app, "StartExecution", json!({"stateMachineArn": parent})).await;
    let child_arn = "arn:aws:states:us-east-1:000000000000:execution:slow:the-child";
    // Once the child runs and the parent's task is submitted, stop the parent.
    let mut submitted = false;
    for _ in 0..200 {
        let h = call(
            &e.app,
            "GetExecutionHistory",
            json!({"executionArn": started["executionArn"]}),
        )
        .await;
        submitted = h["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ev| ev["type"] == "TaskSubmitted");
        if submitted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(submitted, "the parent's task was never submitted");
    call(
        &e.app,
        "StopExecution",
        json!({"executionArn": started["executionArn"], "cause": "enough"}),
    )
    .await;
    let d = wait_done(&e.app, child_arn).await;
    assert_eq!(d["status"], "ABORTED", "{d}");
    assert!(
        d["cause"].as_str().unwrap().contains("waits-on-slow"),
        "{d}"
    );
}

/// A local HTTP service that records what it was sent and answers by path.
async fn recording_service() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::extract::{Request, State};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    async fn record(
        State(seen): State<std::sync::Arc<std::sync::Mutex<Vec<Value>>>>,
        req: Request,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
            .collect();
        seen.lock().unwrap().push(json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }));
        if parts.uri.path() == "/missing" {
            (StatusCode::NOT_FOUND, "no such order").into_response()
        } else {
            axum::Json(json!({"accepted": true})).into_response()
        }
    }
    let app = Router::new().fallback(record).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, seen)
}

#[tokio::test]
async fn http_tasks_call_allowed_origins_with_the_connections_secrets() {
    let e = env().await;
    let (origin, seen) = recording_service().await;
    let created = service(
        &e,
        "events",
        "AWSEvents.CreateConnection",
        json!({"Name": "payments", "AuthorizationType": "API_KEY",
               "AuthParameters": {
                   "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-s3cret"},
                   "InvocationHttpParameters": {
                       "HeaderParameters": [{"Key": "x-shop", "Value": "north", "IsValueSecret": false}],
                       "QueryStringParameters": [{"Key": "sig", "Value": "q-s3cret", "IsValueSecret": true}]}}}),
    )
    .await;
    let connection = created["ConnectionArn"].as_str().unwrap().to_string();
    assert!(connection.starts_with("arn:aws:events:us-east-1:000000000000:connection/payments/"));
    let described = service(
        &e,
        "events",
        "AWSEvents.DescribeConnection",
        json!({"Name": "payments"}),
    )
    .await;
    assert_eq!(described["ConnectionState"], "AUTHORIZED");
    assert!(!described.to_string().contains("s3cret"), "{described}");

    let def = json!({"StartAt": "Charge", "States": {
        "Charge": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                   "Parameters": {"ApiEndpoint": format!("{origin}/charges"), "Method": "POST",
                                  "Authentication": {"ConnectionArn": connection},
                                  "Headers": {"x-order.$": "$.id"},
                                  "QueryParameters": {"mode": "test"},
                                  "RequestBody": {"amount.$": "$.amount"}},
                   "ResultSelector": {"body.$": "$.ResponseBody", "code.$": "$.StatusCode"},
                   "ResultPath": "$.charge", "Next": "Lookup"},
        "Lookup": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                   "Parameters": {"ApiEndpoint": format!("{origin}/missing"), "Method": "GET",
                                  "Authentication": {"ConnectionArn": connection}},
                   "Catch": [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.lookup", "Next": "Done"}],
                   "End": true},
        "Done": {"Type": "Succeed"}}});
    let arn = create(&e.app, "pay", &def.to_string(), "STANDARD").await;

    // Nothing is allowed until the operator allows the origin.
    let d = run_to_end(&e.app, &arn, json!({"id": "o-9", "amount": 12})).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "States.Runtime");
    assert!(
        d["cause"]
            .as_str()
            .unwrap()
            .contains("sandflow tenant http-allow"),
        "{d}"
    );
    assert!(seen.lock().unwrap().is_empty());

    let allowed =
        tenancy::http_allow(e.state.store(), "dev", std::slice::from_ref(&origin), &[]).unwrap();
    assert_eq!(allowed["httpOrigins"], json!([origin]));
    let d = run_to_end(&e.app, &arn, json!({"id": "o-9", "amount": 12})).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out = output(&d);
    assert_eq!(
        out["charge"],
        json!({"body": {"accepted": true}, "code": 200})
    );
    assert_eq!(out["lookup"]["Error"], "States.Http.StatusCode.404");
    let cause: Value = serde_json::from_str(out["lookup"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["ResponseBody"], "no such order");

    let requests = seen.lock().unwrap().clone();
    let charge = &requests[0];
    assert_eq!(charge["method"], "POST");
    assert_eq!(charge["uri"], "/charges?mode=test&sig=q-s3cret");
    assert_eq!(charge["headers"]["x-api-key"], "k-s3cret");
    assert_eq!(charge["headers"]["x-shop"], "north");
    assert_eq!(charge["headers"]["x-order"], "o-9");
    assert_eq!(charge["headers"]["content-type"], "application/json");
    assert_eq!(charge["body"], r#"{"amount":12}"#);

    // The secrets are in no history event.
    let exec = d["executionArn"].as_str().unwrap();
    let history = call(
        &e.app,
        "GetExecutionHistory",
        json!({"executionArn": exec, "maxResults": 1000}),
    )
    .await;
    assert!(!history.to_string().contains("s3cret"));

    // Another tenant cannot use the connection, and a deleted one is gone.
    service(
        &e,
        "events",
        "AWSEvents.DeleteConnection",
        json!({"Name": "payments"}),
    )
    .await;
    let d = run_to_end(&e.app, &arn, json!({"id": "o-10", "amount": 1})).await;
    assert_eq!(d["status"], "FAILED");
    assert!(
        d["cause"].as_str().unwrap().contains("does not exist"),
        "{d}"
    );
}
