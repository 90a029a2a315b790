//! `sandflow bench --endpoint URL`: a load generator for any Step Functions endpoint (Sandflow,
//! moto, LocalStack, AWS), and for its SQS and DynamoDB. N concurrent tokio clients send
//! SigV4-signed JSON 1.0 calls over kept-alive HTTP/1.1 connections; each workload reports
//! operations per second, p50/p99 latency and errors. An action the endpoint lacks is reported
//! as unsupported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// The role every benchmark state machine is created with (no endpoint here checks it).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";
/// How long one Standard execution may take before the client counts it as an error.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest pause between two DescribeExecution polls.
const MAX_POLL_PAUSE: Duration = Duration::from_millis(20);

#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Access key id to sign with.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "test",
        requires = "endpoint"
    )]
    pub access_key: String,
    /// Secret access key to sign with.
    #[arg(
        long,
        value_name = "SECRET",
        default_value = "test",
        requires = "endpoint"
    )]
    pub secret_key: String,
    /// Region to sign for.
    #[arg(long, default_value = "us-east-1", requires = "endpoint")]
    pub region: String,
    /// Concurrent clients; a comma-separated list runs each workload once per count.
    #[arg(
        long,
        value_name = "N,..",
        value_delimiter = ',',
        default_value = "4",
        requires = "endpoint"
    )]
    pub clients: Vec<usize>,
    /// Seconds to run each workload (default 5 unless --count is given).
    #[arg(
        long,
        value_name = "SECS",
        conflicts_with = "count",
        requires = "endpoint"
    )]
    pub duration: Option<f64>,
    /// Calls (executions for `standard`) to make per workload, spread over the clients.
    #[arg(long, value_name = "N", requires = "endpoint")]
    pub count: Option<usize>,
    /// What to drive; a comma-separated list runs several.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "express-sync",
        requires = "endpoint"
    )]
    pub workload: Vec<Workload>,
    /// Print one JSON line per run instead of the table.
    #[arg(long, requires = "endpoint")]
    pub json: bool,
    /// The endpoint is moto: first switch on its execution of state machines
    /// (`POST /moto-api/config`), without which executions stay RUNNING.
    #[arg(long, requires = "endpoint")]
    pub moto: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// EXPRESS 10-Pass chain, StartSyncExecution in a loop.
    ExpressSync,
    /// EXPRESS 1-Pass machine, StartSyncExecution in a loop.
    #[value(name = "express-sync-1")]
    ExpressSync1,
    /// STANDARD 10-Pass chain: StartExecution (distinct names), then DescribeExecution until done.
    Standard,
    /// ListStateMachines in a loop.
    List,
    /// SQS: SendMessage, ReceiveMessage, DeleteMessage on one standard queue (one cycle).
    #[value(name = "sqs-cycle")]
    SqsCycle,
    /// DynamoDB: PutItem then GetItem of the same key (one pair), distinct keys.
    #[value(name = "dynamodb-put-get")]
    DynamoDbPutGet,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::ExpressSync => "express-sync",
            Workload::ExpressSync1 => "express-sync-1",
            Workload::Standard => "standard",
            Workload::List => "list",
            Workload::SqsCycle => "sqs-cycle",
            Workload::DynamoDbPutGet => "dynamodb-put-get",
        }
    }

    /// The machine the workload runs: (type, number of Pass states).
    fn machine(self) -> (&'static str, usize) {
        match self {
            Workload::ExpressSync => ("EXPRESS", 10),
            Workload::ExpressSync1 => ("EXPRESS", 1),
            _ => ("STANDARD", 10),
        }
    }
}

/// The AWS APIs the workloads call: signing name and `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy)]
enum Api {
    StepFunctions,
    Sqs,
    DynamoDb,
}

impl Api {
    fn signing_name(self) -> &'static str {
        match self {
            Api::StepFunctions => "states",
            Api::Sqs => "sqs",
            Api::DynamoDb => "dynamodb",
        }
    }

    fn target(self, action: &str) -> String {
        let prefix = match self {
            Api::StepFunctions => "AWSStepFunctions",
            Api::Sqs => "AmazonSQS",
            Api::DynamoDb => "DynamoDB_20120810",
        };
        format!("{prefix}.{action}")
    }
}

/// Runs every workload at every client count against `endpoint`; prints the table or JSON lines.
/// Fails (exit 1) when a run had errors other than an unsupported action.
pub fn main(endpoint: &str, args: &EndpointArgs) -> std::process::ExitCode {
    let client = match Sfn::new(endpoint, args) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if args.clients.contains(&0) {
        eprintln!("bench: --clients must be at least 1");
        return std::process::ExitCode::from(2);
    }
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, d) => Limit::Time(Duration::from_secs_f64(d.unwrap_or(5.0).max(0.01))),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let reports = runtime.block_on(async {
        if args.moto
            && let Err(e) = client.enable_moto_executions().await
        {
            eprintln!("bench: enabling moto executions: {e}");
        }
        let mut reports = Vec::new();
        for &w in &args.workload {
            for r in run_workload(&client, w, &args.clients, limit).await {
                if args.json {
                    println!("{}", r.json());
                }
                reports.push(r);
            }
        }
        reports
    });
    if !args.json {
        print_table(&reports);
    }
    let failed = reports
        .iter()
        .any(|r| r.setup_error.is_some() || (r.errors > 0 && !r.unsupported()));
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Time(Duration),
    Count(usize),
}

/// A signing Step Functions client over one connection pool.
struct Sfn {
    http: reqwest::Client,
    url: reqwest::Url,
    identity: Identity,
    region: String,
}

/// Why a call failed.
#[derive(Debug)]
enum CallError {
    /// The endpoint answered with an error: HTTP status and the error's type.
    Api { status: u16, kind: String },
    /// No answer (connection refused or reset, body unreadable).
    Transport(String),
    /// The call was answered, but not with what the workload expects.
    Unexpected(String),
}

impl CallError {
    /// An endpoint that lacks an action answers like this (moto: HTTP 500 on StartSyncExecution).
    fn means_unsupported(&self) -> bool {
        match self {
            CallError::Api { status, kind } => {
                *status == 500
                    || *status == 501
                    || kind == "UnknownOperationException"
                    || kind == "UnsupportedOperation"
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api { status, kind } => write!(f, "HTTP {status} {kind}"),
            CallError::Transport(e) => write!(f, "transport: {e}"),
            CallError::Unexpected(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl Sfn {
    fn new(endpoint: &str, args: &EndpointArgs) -> Result<Sfn, String> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|e| format!("--endpoint {endpoint:?} is not a URL: {e}"))?;
        if url.host_str().is_none() || !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--endpoint {endpoint:?} is not an http(s) URL"));
        }
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let identity = Credentials::new(
            &args.access_key,
            &args.secret_key,
            None,
            None,
            "sandflow-bench",
        )
        .into();
        Ok(Sfn {
            http,
            url,
            identity,
            region: args.region.clone(),
        })
    }

    /// The Host header the HTTP client sends (the port only when it is not the scheme's default).
    fn host(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// Calls `AWSStepFunctions.ACTION` with `input`; the answer's JSON on HTTP 2xx.
    async fn call(&self, action: &str, input: &Value) -> Result<Value, CallError> {
        self.call_api(Api::StepFunctions, action, input).await
    }

    /// Calls `ACTION` of `api` with `input`; the answer's JSON on HTTP 2xx.
    async fn call_api(&self, api: Api, action: &str, input: &Value) -> Result<Value, CallError> {
        let body = serde_json::to_vec(input).expect("JSON serializes");
        let target = api.target(action);
        let host = self.host();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
        ];
        let signature = self
            .signature_headers(api, &headers, &body)
            .map_err(|e| CallError::Unexpected(format!("signing: {e}")))?;
        let mut req = self.http.post(self.url.clone()).body(body);
        for (name, value) in headers.iter().skip(1) {
            req = req.header(*name, *value);
        }
        for (name, value) in signature {
            req = req.header(name, value);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = resp.status();
        let header_kind = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let kind = value
            .get("__type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(header_kind)
            .unwrap_or_default();
        // `com.amazonaws.states#Foo` and `Foo:http://...` both name Foo.
        let kind = kind.rsplit('#').next().unwrap_or_default();
        let kind = kind.split(':').next().unwrap_or_default().to_string();
        Err(CallError::Api {
            status: status.as_u16(),
            kind,
        })
    }

    /// `authorization` and `x-amz-date` for a POST of `body` to the endpoint's path.
    fn signature_headers(
        &self,
        api: Api,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(api.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.path(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    async fn enable_moto_executions(&self) -> Result<(), String> {
        let url = self
            .url
            .join("/moto-api/config")
            .map_err(|e| e.to_string())?;
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"stepfunctions": {"execute_state_machine": true}}"#)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status()))
        }
    }
}

/// What one workload at one client count did.
#[derive(Debug)]
struct Report {
    workload: Workload,
    clients: usize,
    ok: usize,
    errors: usize,
    /// Errors that say the endpoint lacks the action.
    unsupported_errors: usize,
    first_error: Option<String>,
    setup_error: Option<String>,
    seconds: f64,
    /// Per call: its latency; for `standard`, StartExecution's latency.
    latencies: Vec<Duration>,
    /// `standard` only: start to seen-finished, per execution.
    completions: Vec<Duration>,
}

impl Report {
    fn failed_setup(workload: Workload, clients: usize, e: String) -> Report {
        Report {
            workload,
            clients,
            ok: 0,
            errors: 0,
            unsupported_errors: 0,
            first_error: None,
            setup_error: Some(e),
            seconds: 0.0,
            latencies: Vec::new(),
            completions: Vec::new(),
        }
    }

    /// Nothing succeeded and every failure said the action is missing.
    fn unsupported(&self) -> bool {
        self.ok == 0 && self.errors > 0 && self.unsupported_errors == self.errors
    }

    fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn unit(&self) -> &'static str {
        match self.workload {
            Workload::Standard => "executions/s",
            Workload::SqsCycle => "cycles/s",
            Workload::DynamoDbPutGet => "pairs/s",
            _ => "calls/s",
        }
    }

    fn json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e5).round() / 100.0);
        let mut line = json!({
            "workload": self.workload.name(),
            "clients": self.clients,
            "ok": self.ok,
            "errors": self.errors,
            "unsupported": self.unsupported(),
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "per_second": (self.per_second() * 10.0).round() / 10.0,
            "unit": self.unit(),
            "p50_ms": ms(percentile(&self.latencies, 50.0)),
            "p99_ms": ms(percentile(&self.latencies, 99.0)),
        });
        if self.workload == Workload::Standard {
            line["executions"] = json!(self.ok);
            line["done_p50_ms"] = json!(ms(percentile(&self.completions, 50.0)));
            line["done_p99_ms"] = json!(ms(percentile(&self.completions, 99.0)));
        } else {
            line["calls"] = json!(self.ok + self.errors);
        }
        if let Some(e) = self.setup_error.as_ref().or(self.first_error.as_ref()) {
            line["error"] = json!(e);
        }
        line
    }
}

/// `sorted`'s P-th percentile (nearest rank); `None` when empty.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn print_table(reports: &[Report]) {
    println!(
        "{:<15} {:>7} {:>12} {:>13} {:>9} {:>9} {:>7}  note",
        "workload", "clients", "per second", "unit", "p50 ms", "p99 ms", "errors"
    );
    for r in reports {
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{:.2}", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into())
        };
        let note = if let Some(e) = &r.setup_error {
            format!("setup failed: {e}")
        } else if r.unsupported() {
            format!(
                "unsupported ({})",
                r.first_error.as_deref().unwrap_or_default()
            )
        } else if let Some(e) = &r.first_error {
            format!("first error: {e}")
        } else {
            String::new()
        };
        println!(
            "{:<15} {:>7} {:>12.1} {:>13} {:>9} {:>9} {:>7}  {note}",
            r.workload.name(),
            r.clients,
            r.per_second(),
            r.unit(),
            ms(percentile(&r.latencies, 50.0)),
            ms(percentile(&r.latencies, 99.0)),
            r.errors,
        );
    }
}

/// A name no earlier run used, for state machines and executions.
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// What a workload's clients work on: a state machine's ARN, a queue URL or a table name.
type Target = Arc<str>;

/// Creates the workload's queue or table, runs it at each client count, deletes it.
async fn run_service_workload(
    sfn: &Arc<Sfn>,
    workload: Workload,
    clients: &[usize],
    limit: Limit,
) -> Vec<Report> {
    let name = format!("sandflow-bench-{}", nonce());
    let (api, create, delete) = match workload {
        Workload::SqsCycle => (
            Api::Sqs,
            ("CreateQueue", json!({"QueueName": name})),
            "DeleteQueue",
        ),
        _ => (
            Api::DynamoDb,
            (
                "CreateTable",
                json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                       "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                       "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}),
            ),
            "DeleteTable",
        ),
    };
    let target: Target = match sfn.call_api(api, create.0, &create.1).await {
        Ok(v) => match workload {
            Workload::SqsCycle => match v.get("QueueUrl").and_then(Value::as_str) {
                Some(url) => url.into(),
                None => {
                    let e = format!("CreateQueue answered without a QueueUrl: {v}");
                    return clients
                        .iter()
                        .map(|&c| Report::failed_setup(workload, c, e.clone()))
                        .collect();
                }
            },
            _ => name.as_str().into(),
        },
        Err(e) => {
            let e = format!("{}: {e}", create.0);
            return clients
                .iter()
                .map(|&c| Report::failed_setup(workload, c, e.clone()))
                .collect();
        }
    };
    let mut reports = Vec::new();
    for &c in clients {
        reports.push(run_clients(sfn, workload, Arc::clone(&target), c, limit).await);
    }
    let delete_input = match workload {
        Workload::SqsCycle => json!({"QueueUrl": &*target}),
        _ => json!({"TableName": &*target}),
    };
    if let Err(e) = sfn.call_api(api, delete, &delete_input).await {
        eprintln!("bench: {delete} {target}: {e}");
    }
    reports
}

/// Creates the workload's state machine (or queue, or table), runs it at each client count,
/// deletes it.
async fn run_workload(
    sfn: &Arc<Sfn>,
    workload: Workload,
    clients: &[usize],
    limit: Limit,
) -> Vec<Report> {
    if matches!(workload, Workload::SqsCycle | Workload::DynamoDbPutGet) {
        return run_service_workload(sfn, workload, clients, limit).await;
    }
    let (ty, passes) = workload.machine();
    let definition = sandflow_core::bench::pass_chain(passes).to_string();
    let create = json!({
        "name": format!("sandflow-bench-{}-{}", workload.name(), nonce()),
        "definition": definition,
        "roleArn": ROLE_ARN,
        "type": ty,
    });
    let arn = match sfn.call("CreateStateMachine", &create).await {
        Ok(v) => match v.get("stateMachineArn").and_then(Value::as_str) {
            Some(a) => a.to_string(),
            None => {
                let e = format!("CreateStateMachine answered without an ARN: {v}");
                return clients
                    .iter()
                    .map(|&c| Report::failed_setup(workload, c, e.clone()))
                    .collect();
            }
        },
        Err(e) => {
            let e = format!("CreateStateMachine: {e}");
            return clients
                .iter()
                .map(|&c| Report::failed_setup(workload, c, e.clone()))
                .collect();
        }
    };
    let arn: Arc<str> = arn.into();
    let mut reports = Vec::new();
    for &c in clients {
        reports.push(run_clients(sfn, workload, Arc::clone(&arn), c, limit).await);
    }
    if let Err(e) = sfn
        .call("DeleteStateMachine", &json!({"stateMachineArn": &*arn}))
        .await
    {
        eprintln!("bench: DeleteStateMachine {arn}: {e}");
    }
    reports
}

/// What the clients share while a run goes on.
struct Shared {
    /// Calls handed out so far (for `--count`).
    issued: AtomicUsize,
    /// Set when the endpoint turns out to lack the action: the other clients stop too.
    stop: AtomicBool,
    /// Set once any call succeeded: from then on a 500 is an error, not "unsupported".
    any_ok: AtomicBool,
    limit: Limit,
    started: Instant,
    /// Prefix of this run's execution names.
    names: String,
}

impl Shared {
    /// Takes the next call, if the run is not over.
    fn next(&self) -> Option<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Limit::Count(n) if i >= n => None,
            Limit::Time(d) if self.started.elapsed() >= d => None,
            _ => Some(i),
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: usize,
    errors: usize,
    unsupported_errors: usize,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    completions: Vec<Duration>,
}

async fn run_clients(
    sfn: &Arc<Sfn>,
    workload: Workload,
    arn: Arc<str>,
    clients: usize,
    limit: Limit,
) -> Report {
    let shared = Arc::new(Shared {
        issued: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        any_ok: AtomicBool::new(false),
        limit,
        started: Instant::now(),
        names: format!("b{}", nonce()),
    });
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (sfn, shared, arn) = (Arc::clone(sfn), Arc::clone(&shared), Arc::clone(&arn));
            tokio::spawn(async move { client_loop(&sfn, workload, &arn, &shared).await })
        })
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await.unwrap_or_else(|e| Tally {
            errors: 1,
            first_error: Some(format!("client task: {e}")),
            ..Tally::default()
        });
        total.ok += t.ok;
        total.errors += t.errors;
        total.unsupported_errors += t.unsupported_errors;
        total.first_error = total.first_error.or(t.first_error);
        total.latencies.extend(t.latencies);
        total.completions.extend(t.completions);
    }
    let seconds = shared.started.elapsed().as_secs_f64();
    total.latencies.sort_unstable();
    total.completions.sort_unstable();
    Report {
        workload,
        clients,
        ok: total.ok,
        errors: total.errors,
        unsupported_errors: total.unsupported_errors,
        first_error: total.first_error,
        setup_error: None,
        seconds,
        latencies: total.latencies,
        completions: total.completions,
    }
}

async fn client_loop(sfn: &Sfn, workload: Workload, arn: &str, shared: &Shared) -> Tally {
    let mut tally = Tally::default();
    while let Some(i) = shared.next() {
        let started = Instant::now();
        let outcome = match workload {
            Workload::ExpressSync | Workload::ExpressSync1 => express_sync(sfn, arn).await,
            Workload::List => sfn.call("ListStateMachines", &json!({})).await.map(|_| ()),
            Workload::SqsCycle => sqs_cycle(sfn, arn, i).await,
            Workload::DynamoDbPutGet => dynamodb_put_get(sfn, arn, &shared.names, i).await,
            Workload::Standard => {
                let name = format!("{}-{i}", shared.names);
                match standard(sfn, arn, &name).await {
                    Ok(start) => {
                        tally.latencies.push(start);
                        tally.completions.push(started.elapsed());
                        tally.ok += 1;
                        shared.any_ok.store(true, Ordering::Relaxed);
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match outcome {
            Ok(()) => {
                tally.latencies.push(started.elapsed());
                tally.ok += 1;
                shared.any_ok.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                tally.errors += 1;
                if e.means_unsupported() && !shared.any_ok.load(Ordering::Relaxed) {
                    tally.unsupported_errors += 1;
                    shared.stop.store(true, Ordering::Relaxed);
                }
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    tally
}

/// Sends a message, receives one, deletes what it received.
async fn sqs_cycle(sfn: &Sfn, queue_url: &str, i: usize) -> Result<(), CallError> {
    sfn.call_api(
        Api::Sqs,
        "SendMessage",
        &json!({"QueueUrl": queue_url, "MessageBody": format!("order {i}")}),
    )
    .await?;
    let got = sfn
        .call_api(
            Api::Sqs,
            "ReceiveMessage",
            &json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 1}),
        )
        .await?;
    let receipt = got
        .get("Messages")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("ReceiptHandle"))
        .cloned()
        .ok_or_else(|| CallError::Unexpected("ReceiveMessage returned no message".into()))?;
    sfn.call_api(
        Api::Sqs,
        "DeleteMessage",
        &json!({"QueueUrl": queue_url, "ReceiptHandle": receipt}),
    )
    .await
    .map(drop)
}

/// Puts an item under a fresh key and reads it back.
async fn dynamodb_put_get(sfn: &Sfn, table: &str, run: &str, i: usize) -> Result<(), CallError> {
    let key = json!({"id": {"S": format!("{run}-{i}")}});
    let mut item = key.clone();
    item["total"] = json!({"N": i.to_string()});
    item["status"] = json!({"S": "PAID"});
    sfn.call_api(
        Api::DynamoDb,
        "PutItem",
        &json!({"TableName": table, "Item": item}),
    )
    .await?;
    let got = sfn
        .call_api(
            Api::DynamoDb,
            "GetItem",
            &json!({"TableName": table, "Key": key}),
        )
        .await?;
    match got.pointer("/Item/total/N").and_then(Value::as_str) {
        Some(n) if n == i.to_string() => Ok(()),
        _ => Err(CallError::Unexpected(format!("GetItem answered {got}"))),
    }
}

async fn express_sync(sfn: &Sfn, arn: &str) -> Result<(), CallError> {
    let out = sfn
        .call(
            "StartSyncExecution",
            &json!({"stateMachineArn": arn, "input": "{}"}),
        )
        .await?;
    match out.get("status").and_then(Value::as_str) {
        Some("SUCCEEDED") => Ok(()),
        other => Err(CallError::Unexpected(format!(
            "execution status {}",
            other.unwrap_or("missing")
        ))),
    }
}

/// Starts an execution named `name` and polls it until it ends; StartExecution's latency.
async fn standard(sfn: &Sfn, arn: &str, name: &str) -> Result<Duration, CallError> {
    let started = Instant::now();
    let out = sfn
        .call(
            "StartExecution",
            &json!({"stateMachineArn": arn, "name": name, "input": "{}"}),
        )
        .await?;
    let start_latency = started.elapsed();
    let execution = out
        .get("executionArn")
        .and_then(Value::as_str)
        .ok_or_else(|| CallError::Unexpected("StartExecution without executionArn".into()))?
        .to_string();
    let describe = json!({ "executionArn": execution });
    let mut pause = Duration::from_millis(1);
    loop {
        let d = sfn.call("DescribeExecution", &describe).await?;
        match d.get("status").and_then(Value::as_str) {
            Some("SUCCEEDED") => return Ok(start_latency),
            Some("RUNNING") | Some("PENDING_REDRIVE") => {}
            other => {
                return Err(CallError::Unexpected(format!(
                    "execution status {}",
                    other.unwrap_or("missing")
                )));
            }
        }
        if started.elapsed() > EXECUTION_TIMEOUT {
            return Err(CallError::Unexpected(format!(
                "execution still running after {EXECUTION_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let d = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&d, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&d, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn only_missing_actions_count_as_unsupported() {
        let api = |status, kind: &str| CallError::Api {
            status,
            kind: kind.into(),
        };
        assert!(api(500, "").means_unsupported());
        assert!(api(400, "UnknownOperationException").means_unsupported());
        assert!(!api(400, "StateMachineDoesNotExist").means_unsupported());
        assert!(!CallError::Transport("reset".into()).means_unsupported());
    }

    #[test]
    fn a_run_where_nothing_but_missing_actions_failed_is_unsupported() {
        let mut r = Report::failed_setup(Workload::ExpressSync, 1, String::new());
        r.setup_error = None;
        r.errors = 3;
        r.unsupported_errors = 3;
        assert!(r.unsupported());
        r.ok = 1;
        assert!(!r.unsupported(), "something worked");
    }

    #[test]
    fn host_header_keeps_only_a_non_default_port() {
        let args = |_: ()| EndpointArgs {
            access_key: "a".into(),
            secret_key: "b".into(),
            region: "us-east-1".into(),
            clients: vec![1],
            duration: None,
            count: None,
            workload: vec![Workload::List],
            json: false,
            moto: false,
        };
        let host = |url: &str| Sfn::new(url, &args(())).unwrap().host();
        assert_eq!(host("http://127.0.0.1:4566"), "127.0.0.1:4566");
        assert_eq!(host("http://localhost:80/"), "localhost");
        assert!(Sfn::new("ftp://x", &args(())).is_err());
        assert!(Sfn::new("not a url", &args(())).is_err());
    }
}
