//! `sandflow demo`: the seed's order-fulfillment workflow, running. Builds the Rust guest tasks
//! (adding the wasm32-wasip2 target with rustup if it is missing), starts a `--dev` server on
//! a local data directory, uploads the tasks as functions with the grants they need, stocks
//! the inventory, creates the orders table, the shipments queue and the state machine, starts
//! one order per path (in stock, needs approval, out of stock) and prints the aws-cli commands to look and to approve. A mock
//! payment service answers on the same server under `/demo/payments/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::post;
use sandflow_engine::{Caller, FunctionConfig};
use sandflow_runtime::services::Namespace;
use serde_json::{Value, json};

use crate::api::errors::ApiResult;
use crate::api::lambda::{self, Settings};
use crate::api::params::Params;
use crate::api::sfn::{self, Ctx};
use crate::api::{self, AppState, Options, dynamodb, sqs};
use crate::tenancy;

const MACHINE: &str = "order-fulfillment";
/// The Rust guest crates the workflow uses, with the grants each needs (`PAYMENTS` is the
/// mock payment service's URL, known once the server listens).
const TASKS: &[(&str, &[&str])] = &[
    ("check-inventory", &["kv:inventory"]),
    (
        "process-payment",
        &["kv:config", "http:POST:PAYMENTS", "log"],
    ),
    ("request-approval", &["kv:approvals", "log"]),
    ("notify", &["queue:order-notifications"]),
];
/// Who gets the out-of-stock mail (`%40` is `@`, form-encoded).
const DEMO_MAIL: &str = "orders%40shop.example";
const STOCK: &[(&str, u32)] = &[("BOOK-123", 10), ("MUG-7", 3), ("LAMP-9", 5)];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn demo(listen: SocketAddr, data: &Path, guests: Option<&Path>) -> ExitCode {
    crate::serve::init_tracing("warn");
    let wasm_dir = match guests {
        Some(d) => d.to_path_buf(),
        None => match build_guests() {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async move {
        let opts = Options {
            dev: true,
            ..Options::default()
        };
        let state = match AppState::open(data, &opts).await {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot open {}: {e}", data.display())),
        };
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
        };
        let addr = listener.local_addr().unwrap_or(listen);
        let app = api::router(state.clone()).merge(payments());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(crate::serve::shutdown_signal())
                .await
        });
        match seed(&state, addr, &wasm_dir).await {
            Ok(next) => println!("{next}"),
            Err(e) => return fail(e),
        }
        match server.await {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => fail(format!("server error: {e}")),
            Err(e) => fail(format!("server task: {e}")),
        }
    })
}

fn fail(message: String) -> ExitCode {
    eprintln!("sandflow demo: {message}");
    ExitCode::FAILURE
}

/// Builds the workflow's Rust guests for wasm32-wasip2; returns where the .wasm files are.
fn build_guests() -> Result<PathBuf, String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    if !installed {
        eprintln!(
            "sandflow demo: adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)"
        );
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(
                "could not add the wasm32-wasip2 target; run `rustup target add wasm32-wasip2`"
                    .into(),
            );
        }
    }
    let root = repo();
    let out = root.join("target/guests");
    let cargo_dir = out.join("cargo");
    eprintln!("sandflow demo: building the guest tasks (Rust, wasm32-wasip2)");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "--quiet",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(root.join("guest-examples/rust/Cargo.toml"))
    .arg("--target-dir")
    .arg(&cargo_dir);
    for (name, _) in TASKS {
        cmd.args(["-p", name]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the guest tasks failed (see above)".into());
    }
    // Named as guest-examples/build.sh names them.
    for (name, _) in TASKS {
        let built = cargo_dir.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        std::fs::copy(&built, out.join(format!("rust-{name}.wasm")))
            .map_err(|e| format!("{}: {e}", built.display()))?;
    }
    Ok(out)
}

/// The mock payment service: every charge is captured.
fn payments() -> Router {
    Router::new().route(
        "/demo/payments/v1/charges",
        post(|Json(charge): Json<Value>| async move {
            let order = charge["orderId"].as_str().unwrap_or("unknown");
            Json(json!({"transactionId": format!("TX-{order}"), "status": "CAPTURED"}))
        }),
    )
}

async fn seed(state: &AppState, addr: SocketAddr, wasm_dir: &Path) -> Result<String, String> {
    let tenant = state
        .read(|c| sandflow_store::tenants::by_name(c, tenancy::DEV_TENANT))
        .await
        .map_err(|e| e.message)?
        .ok_or("the dev tenant is missing")?;
    let caller = Caller {
        tenant_id: tenant.id,
        account: tenant.account_id.clone(),
        region: "us-east-1".into(),
    };
    let payments = format!("http://{addr}/demo/payments/v1/charges");
    for (name, grants) in TASKS {
        let file = wasm_dir.join(format!("rust-{name}.wasm"));
        let wasm = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let grants: Vec<String> = grants
            .iter()
            .map(|g| g.replace("PAYMENTS", &payments))
            .collect();
        let settings = Settings {
            memory_mib: 128,
            timeout_s: 10,
            grants: lambda::parse_grants(&grants).map_err(|e| e.message)?,
            config: FunctionConfig {
                description: Some(format!("order fulfillment: {name}")),
                role: Some(format!("arn:aws:iam::{}:role/demo", caller.account)),
                ..FunctionConfig::default()
            },
            tags: Vec::new(),
        };
        match lambda::install(state, &caller, name.to_string(), wasm, settings).await {
            Ok(_) => {}
            // A second demo run on the same directory keeps what the first uploaded.
            Err(e) if e.kind == "ResourceConflictException" => {}
            Err(e) => return Err(format!("uploading {name}: {}", e.message)),
        }
    }
    let kv = state.kv();
    let ns = |name: &str| Namespace {
        tenant: caller.tenant_id.to_string(),
        name: name.into(),
    };
    for (sku, units) in STOCK {
        kv.set(&ns("inventory"), sku, units.to_string().into_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    kv.set(
        &ns("config"),
        "payment-endpoint",
        json!(payments).to_string().into_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;

    // The workflow's own table and queue, as a user would create them with boto3.
    let table = json!({
        "TableName": "orders",
        "KeySchema": [{"AttributeName": "orderId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "orderId", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    });
    match dynamodb::call(state.store(), caller.clone(), "CreateTable", object(table)).await {
        Ok(_) => {}
        Err(e) if e.kind.ends_with("ResourceInUseException") => {}
        Err(e) => return Err(format!("creating the orders table: {}", e.message)),
    }
    sqs::call(
        state.store(),
        caller.clone(),
        addr.to_string(),
        "CreateQueue",
        object(json!({"QueueName": "shipments"})),
    )
    .await
    .map_err(|e| format!("creating the shipments queue: {}", e.message))?;
    // The topic the out-of-stock path publishes to (a missing topic fails sns:publish).
    crate::api::sns::call(
        state.store(),
        state.sns(),
        &caller,
        "CreateTopic",
        &crate::api::sns::Form::parse(b"Name=order-notifications"),
    )
    .await
    .map_err(|e| format!("creating the order-notifications topic: {}", e.message))?;
    // Out-of-stock mail for the shop; with no SMTP relay it waits in GET /sandflow/outbox.
    let subscribe = format!(
        "TopicArn=arn:aws:sns:{}:{}:order-notifications&Protocol=email&Endpoint={DEMO_MAIL}",
        caller.region, caller.account
    );
    crate::api::sns::call(
        state.store(),
        state.sns(),
        &caller,
        "Subscribe",
        &crate::api::sns::Form::parse(subscribe.as_bytes()),
    )
    .await
    .map_err(|e| format!("subscribing {DEMO_MAIL}: {}", e.message))?;

    let ctx = Ctx {
        state: state.clone(),
        caller: caller.clone(),
    };
    let definition = include_str!("../../../guest-examples/order-fulfillment/definition.asl.json");
    let machine = match action(
        &ctx,
        "CreateStateMachine",
        json!({
            "name": MACHINE, "definition": definition, "type": "STANDARD",
            "roleArn": format!("arn:aws:iam::{}:role/demo", caller.account),
        }),
    )
    .await
    {
        Ok(v) => v["stateMachineArn"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Err(e) => return Err(format!("creating the state machine: {e}")),
    };
    let order = |id: &str, items: Value, amount: f64| json!({"orderId": id, "customerId": "CUST-42", "items": items, "amount": amount, "currency": "USD"});
    let stamp = chrono::Utc::now().format("%H%M%S").to_string();
    let orders = [
        (
            "in-stock",
            order(
                "ORD-1001",
                json!([{"sku": "BOOK-123", "quantity": 2}]),
                64.5,
            ),
        ),
        (
            "needs-approval",
            order(
                "ORD-1002",
                json!([{"sku": "LAMP-9", "quantity": 4}]),
                1800.0,
            ),
        ),
        (
            "out-of-stock",
            order("ORD-1003", json!([{"sku": "MUG-7", "quantity": 9}]), 27.0),
        ),
    ];
    let mut started = Vec::new();
    for (label, input) in orders {
        let v = action(&ctx, "StartExecution", json!({
            "stateMachineArn": machine, "name": format!("{label}-{stamp}"), "input": input.to_string(),
        }))
        .await?;
        started.push((
            label,
            v["executionArn"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let mut lines = Vec::new();
    for (label, arn) in &started {
        let status = settle(&ctx, arn).await?;
        lines.push(format!("  {label:<15} {status:<10} {arn}"));
    }
    let token = waiting_token(state, caller.tenant_id).await;
    let endpoint = format!("http://{addr}");
    Ok(format!(
        "\nSandflow demo: {endpoint} (data in {data}), dev keys test/test, account {account}\n\
         Console: {endpoint}/console/ (sign in with access key test, secret key test; the large \
         order waits in Approvals)\n\
         State machine {machine}\nExecutions:\n{lines}\n\n\
         Try it (aws-cli, or any AWS SDK, unchanged):\n  \
         export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1\n  \
         aws --endpoint-url {endpoint} stepfunctions list-executions --state-machine-arn {machine}\n  \
         aws --endpoint-url {endpoint} stepfunctions get-execution-history --execution-arn {approval}\n  \
         aws --endpoint-url {endpoint} lambda list-functions\n  \
         aws --endpoint-url {endpoint} dynamodb scan --table-name orders\n  \
         aws --endpoint-url {endpoint} sqs receive-message --queue-url {endpoint}/{account}/shipments\n\n\
         Approve the large order (or reject it with send-task-failure --error Rejected):\n  \
         aws --endpoint-url {endpoint} stepfunctions send-task-success --task-output '{{\"approved\": true}}' \\\n      --task-token {token}\n\n\
         Ctrl-C stops the server; run `sandflow demo` again to continue on the same data.",
        data = "the --data directory",
        account = caller.account,
        lines = lines.join("\n"),
        approval = started.get(1).map(|s| s.1.as_str()).unwrap_or_default(),
        token = token.unwrap_or_else(|| "<no task is waiting>".into()),
    ))
}

fn object(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn action(ctx: &Ctx, name: &str, params: Value) -> Result<Value, String> {
    let r: ApiResult<Value> = sfn::dispatch(ctx, name, Params::from_map(object(params))).await;
    r.map_err(|e| format!("{name}: {}: {}", e.kind, e.message))
}

/// Waits until the execution ends or waits on a person; returns its status.
async fn settle(ctx: &Ctx, arn: &str) -> Result<String, String> {
    for _ in 0..200 {
        let d = action(ctx, "DescribeExecution", json!({"executionArn": arn})).await?;
        let status = d["status"].as_str().unwrap_or_default().to_string();
        let waiting = status == "RUNNING"
            && waiting_token(&ctx.state, ctx.caller.tenant_id)
                .await
                .is_some()
            && arn.contains("needs-approval");
        if status != "RUNNING" || waiting {
            return Ok(if waiting { "WAITING".into() } else { status });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok("RUNNING".into())
}

/// The token of the newest task waiting on a person in this tenant, if any.
async fn waiting_token(state: &AppState, tenant_id: i64) -> Option<String> {
    state
        .read(move |c| sandflow_store::approvals::pending(c, tenant_id, 1000))
        .await
        .ok()
        .and_then(|p| p.into_iter().last())
        .map(|p| p.token)
}
