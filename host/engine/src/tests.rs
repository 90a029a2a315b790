//! Engine tests on a temporary store, a manual clock and functions defined in Rust.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sandflow_core::lambda::FunctionResult;
use sandflow_core::parse::MachineType;
use sandflow_store::Store;
use serde_json::{Value, json};

use super::*;

type Handler = Arc<dyn Fn(&str) -> Option<FunctionResult> + Send + Sync>;

/// Functions by name; `None` from a handler means "never answers" (a hung task).
#[derive(Default, Clone)]
struct TestFunctions {
    handlers: Arc<Mutex<HashMap<String, Handler>>>,
    calls: Arc<AtomicUsize>,
    payloads: Arc<Mutex<Vec<String>>>,
}

impl TestFunctions {
    fn with(
        self,
        name: &str,
        f: impl Fn(&str) -> Option<FunctionResult> + Send + Sync + 'static,
    ) -> Self {
        self.handlers
            .lock()
            .unwrap()
            .insert(name.into(), Arc::new(f));
        self
    }
}

impl Functions for TestFunctions {
    fn invoke(
        &self,
        _: &Caller,
        function: &str,
        payload: String,
        _: Option<u64>,
        _: Option<tasks::Origin>,
    ) -> tasks::BoxFuture<FunctionInvocation> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.payloads.lock().unwrap().push(payload.clone());
        let handler = self.handlers.lock().unwrap().get(function).cloned();
        Box::pin(async move {
            match handler {
                None => FunctionInvocation::Done(FunctionResult::NotFound),
                Some(h) => match h(&payload) {
                    Some(r) => FunctionInvocation::Done(r),
                    None => std::future::pending().await,
                },
            }
        })
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandflow.db");
        Fixture {
            _dir: dir,
            path,
            clock: Arc::new(ManualClock::new(t0())),
        }
    }

    async fn engine(&self, functions: TestFunctions) -> Engine {
        self.engine_with(functions, Config::default()).await
    }

    async fn engine_with(&self, functions: TestFunctions, config: Config) -> Engine {
        let store = Store::open(&self.path).unwrap();
        store
            .write(|c| sandflow_store::tenants::create(c, "t", "000000000001", 0).map(|_| ()))
            .ok();
        Engine::start(
            store,
            Arc::new(functions),
            Arc::new(crate::NoServices),
            self.clock.clone(),
            config,
        )
        .await
        .unwrap()
    }
}

fn tenant() -> i64 {
    1
}

fn request(definition: Value, name: &str, input: Value, ty: MachineType) -> StartRequest {
    StartRequest {
        caller: Caller {
            tenant_id: tenant(),
            account: "000000000001".into(),
            region: "us-east-1".into(),
        },
        state_machine_arn: "arn:aws:states:us-east-1:000000000001:stateMachine:sm".into(),
        state_machine_name: "sm".into(),
        machine_type: ty,
        definition: definition.to_string(),
        role_arn: "arn:aws:iam::000000000001:role/r".into(),
        name: name.into(),
        input: input.to_string(),
    }
}

const FN: &str = "arn:aws:lambda:us-east-1:000000000001:function:echo";

fn echo() -> TestFunctions {
    TestFunctions::default().with("echo", |p| Some(FunctionResult::Returned(p.to_string())))
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Waits for the execution to end; a hang fails the test instead of stalling the run.
async fn finish(engine: &Engine, arn: &str) -> Result<Finished> {
    tokio::time::timeout(Duration::from_secs(20), engine.wait(tenant(), arn))
        .await
        .unwrap_or_else(|_| panic!("{arn} did not finish"))
}

/// Waits until the execution's history holds an event of type `ty`.
async fn recorded(engine: &Engine, arn: &str, ty: &str) {
    for _ in 0..400 {
        if history_types(engine, arn).iter().any(|t| t == ty) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "{arn} never recorded {ty}: {:?}",
        history_types(engine, arn)
    );
}

fn history_types(engine: &Engine, arn: &str) -> Vec<String> {
    let arn = arn.to_string();
    engine
        .store()
        .read(move |c| {
            let e = sandflow_store::executions::get(c, tenant(), &arn)?.unwrap();
            sandflow_store::executions::history(c, e.id, 1, 10_000, false)
        })
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_task_runs_and_history_is_stored() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let def =
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": true}}});
    let started = engine
        .start_execution(request(def, "e1", json!({"x": 1}), MachineType::Standard))
        .await
        .unwrap();
    assert!(
        started.finished.is_none(),
        "the task runs after the first step"
    );
    let done = finish(&engine, &started.execution_arn).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    // A machine of Pass states ends in its first step, and start says how.
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let inline = engine
        .start_execution(request(pass, "e2", json!({"y": 2}), MachineType::Standard))
        .await
        .unwrap();
    let ended = inline.finished.expect("ended in its first step");
    assert_eq!(
        (ended.status.as_str(), ended.output.as_deref()),
        ("SUCCEEDED", Some(r#"{"y":2}"#))
    );
    assert_eq!(
        serde_json::from_str::<Value>(done.output.as_deref().unwrap()).unwrap(),
        json!({"x": 1})
    );
    assert_eq!(
        history_types(&engine, &started.execution_arn),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_is_idempotent_while_running_and_refused_otherwise() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let def =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": true}}});
    let a = engine
        .start_execution(request(
            def.clone(),
            "same",
            json!({}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    let b = engine
        .start_execution(request(
            def.clone(),
            "same",
            json!({}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    assert_eq!(a, b);
    let other = engine
        .start_execution(request(def, "same", json!({"x": 2}), MachineType::Standard))
        .await;
    assert!(matches!(other, Err(Error::ExecutionAlreadyExists(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_follow_the_clock_and_survive_a_restart() {
    let f = Fixture::new();
    let def = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "Next": "P"},
        "P": {"Type": "Pass", "Result": "done", "End": true}}});
    let arn = {
        let engine = f.engine(echo()).await;
        let s = engine
            .start_execution(request(def, "w", json!({}), MachineType::Standard))
            .await
            .unwrap();
        f.clock.advance(TimeDelta::seconds(30));
        settle().await;
        let row = engine.store().read({
            let arn = s.execution_arn.clone();
            move |c| sandflow_store::executions::get(c, tenant(), &arn)
        });
        assert_eq!(row.unwrap().unwrap().status, "RUNNING");
        engine.store().close();
        s.execution_arn
    };
    // A new engine on the same data: the timer row re-arms the Wait.
    let engine = f.engine(echo()).await;
    f.clock.advance(TimeDelta::seconds(30));
    let done = finish(&engine, &arn).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.output.as_deref()),
        ("SUCCEEDED", Some("\"done\""))
    );
    let types = history_types(&engine, &arn);
    assert_eq!(
        types.iter().filter(|t| *t == "WaitStateExited").count(),
        1,
        "{types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncommitted_task_runs_again_after_a_crash() {
    let f = Fixture::new();
    let def =
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": true}}});
    let hung = TestFunctions::default().with("echo", |_| None);
    let arn = {
        let engine = f.engine(hung.clone()).await;
        let s = engine
            .start_execution(request(def, "c", json!({"n": 7}), MachineType::Standard))
            .await
            .unwrap();
        settle().await;
        assert_eq!(hung.calls.load(Ordering::SeqCst), 1);
        engine.store().close();
        s.execution_arn
    };
    let working = echo();
    let engine = f.engine(working.clone()).await;
    let done = finish(&engine, &arn).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(
        working.calls.load(Ordering::SeqCst),
        1,
        "re-run once on recovery"
    );
    let types = history_types(&engine, &arn);
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "LambdaFunctionScheduled")
            .count(),
        1,
        "no transition repeated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_back_off_on_the_clock() {
    let f = Fixture::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let flaky = TestFunctions::default().with("echo", move |p| {
        if a.fetch_add(1, Ordering::SeqCst) < 2 {
            Some(FunctionResult::Raised(
                r#"{"errorType":"Flaky","errorMessage":"try again"}"#.into(),
            ))
        } else {
            Some(FunctionResult::Returned(p.to_string()))
        }
    });
    let engine = f.engine(flaky).await;
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": true,
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 5, "BackoffRate": 2}]}}});
    let s = engine
        .start_execution(request(def, "r", json!({}), MachineType::Standard))
        .await
        .unwrap();
    settle().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    f.clock.advance(TimeDelta::seconds(5));
    settle().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    f.clock.advance(TimeDelta::seconds(9));
    settle().await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the second backoff is 10 s"
    );
    f.clock.advance(TimeDelta::seconds(1));
    assert_eq!(
        finish(&engine, &s.execution_arn).await.unwrap().status,
        "SUCCEEDED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_complete_with_their_token() {
    let f = Fixture::new();
    let functions =
        TestFunctions::default().with("approve", |_| Some(FunctionResult::Returned("{}".into())));
    let engine = f.engine(functions.clone()).await;
    let def = json!({"StartAt": "Ask", "States": {"Ask": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}}, "End": true}}});
    let s = engine
        .start_execution(request(def, "cb", json!({}), MachineType::Standard))
        .await
        .unwrap();
    settle().await;
    let payload: Value = serde_json::from_str(&functions.payloads.lock().unwrap()[0]).unwrap();
    let token = payload["token"].as_str().unwrap().to_string();
    assert!(
        matches!(
            engine.send_task_success(2, &token, "{}").await,
            Err(Error::TaskDoesNotExist)
        ),
        "other tenant"
    );
    assert!(matches!(
        engine.send_task_success(tenant(), &token, "not json").await,
        Err(Error::InvalidOutput(_))
    ));
    engine.send_task_heartbeat(tenant(), &token).await.unwrap();
    // Once the function has the token, the task is submitted and waits.
    recorded(&engine, &s.execution_arn, "TaskSubmitted").await;
    engine
        .send_task_success(tenant(), &token, r#"{"approved":true}"#)
        .await
        .unwrap();
    let done = finish(&engine, &s.execution_arn).await.unwrap();
    assert_eq!(done.output.as_deref(), Some(r#"{"approved":true}"#));
    assert_eq!(
        history_types(&engine, &s.execution_arn),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert!(matches!(
        engine.send_task_success(tenant(), &token, "{}").await,
        Err(Error::TaskDoesNotExist)
    ));

    // A function that does not exist fails the task at once rather than leaving it waiting.
    let def = json!({"StartAt": "Ask", "States": {"Ask": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "missing", "Payload": {"token.$": "$$.Task.Token"}}, "End": true}}});
    let s = engine
        .start_execution(request(def, "cb2", json!({}), MachineType::Standard))
        .await
        .unwrap();
    let done = finish(&engine, &s.execution_arn).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.error.as_deref()),
        ("FAILED", Some("Lambda.ResourceNotFoundException"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_hand_work_to_a_worker() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let activity = "arn:aws:states:us-east-1:000000000001:activity:review";
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "End": true}}});
    let s = engine
        .start_execution(request(
            def,
            "act",
            json!({"doc": 1}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    let (token, input) = engine
        .get_activity_task(tenant(), activity, Some("w1"), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"doc": 1})
    );
    assert!(
        engine
            .get_activity_task(tenant(), activity, None, Duration::from_millis(50))
            .await
            .unwrap()
            .is_none()
    );
    engine
        .send_task_failure(tenant(), &token, "Rejected", Some("no"))
        .await
        .unwrap();
    let done = finish(&engine, &s.execution_arn).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.error.as_deref()),
        ("FAILED", Some("Rejected"))
    );
    assert!(history_types(&engine, &s.execution_arn).contains(&"ActivityStarted".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_aborts_a_running_execution() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let def =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    let s = engine
        .start_execution(request(def, "s", json!({}), MachineType::Standard))
        .await
        .unwrap();
    engine
        .stop_execution(tenant(), &s.execution_arn, "Manual", "operator")
        .await
        .unwrap();
    let done = finish(&engine, &s.execution_arn).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.error.as_deref()),
        ("ABORTED", Some("Manual"))
    );
    let timers = engine
        .store()
        .read(sandflow_store::timers::next_fire)
        .unwrap();
    assert_eq!(timers, None, "its timers are gone");
    assert!(matches!(
        engine.stop_execution(tenant(), "arn:nope", "", "").await,
        Err(Error::ExecutionDoesNotExist(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_sync_returns_the_result_and_times_out_at_its_limit() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "Next": "F"},
        "F": {"Type": "Fail", "Error": "Nope", "Cause": "because"}}});
    let done = engine
        .start_sync_execution(request(def, "x", json!({}), MachineType::Express))
        .await
        .unwrap();
    assert_eq!(
        (
            done.status.as_str(),
            done.error.as_deref(),
            done.cause.as_deref()
        ),
        ("FAILED", Some("Nope"), Some("because"))
    );
    assert!(done.execution_arn.contains(":express:sm:x:"));
    let long =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}});
    let clock = f.clock.clone();
    let run = tokio::spawn({
        let engine = engine.clone();
        async move {
            engine
                .start_sync_execution(request(long, "y", json!({}), MachineType::Express))
                .await
        }
    });
    settle().await;
    clock.advance(TimeDelta::seconds(301));
    let done = run.await.unwrap().unwrap();
    assert_eq!(
        (done.status.as_str(), done.error.as_deref()),
        ("TIMED_OUT", Some("States.Timeout"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_aws_errors() {
    let f = Fixture::new();
    let mut config = Config::default();
    config.quotas.max_open_executions = 2;
    config.quotas.start_burst = 4.0;
    config.quotas.starts_per_second = 0.001;
    let engine = f.engine_with(echo(), config).await;
    let wait =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    for name in ["a", "b"] {
        engine
            .start_execution(request(
                wait.clone(),
                name,
                json!({}),
                MachineType::Standard,
            ))
            .await
            .unwrap();
    }
    let third = engine
        .start_execution(request(wait.clone(), "c", json!({}), MachineType::Standard))
        .await;
    assert!(
        matches!(third, Err(Error::ExecutionLimitExceeded(_))),
        "{third:?}"
    );
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    engine
        .start_sync_execution(request(pass.clone(), "x", json!({}), MachineType::Express))
        .await
        .unwrap();
    let throttled = engine
        .start_sync_execution(request(pass, "y", json!({}), MachineType::Express))
        .await;
    assert!(
        matches!(throttled, Err(Error::Throttled)),
        "the burst of 4 is spent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_quota_overrides_apply_to_it_alone() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let other = engine
        .store()
        .write(|c| Ok(sandflow_store::tenants::create(c, "o", "000000000002", 0)?.id))
        .unwrap();
    let plan = sandflow_store::tenant_quotas::Overrides {
        open_executions: Some(1),
        ..Default::default()
    };
    let t = tenant();
    engine
        .store()
        .write(move |c| sandflow_store::tenant_quotas::set(c, t, &plan))
        .unwrap();
    // The engine re-reads overrides every two seconds; a test need not wait.
    engine.quota_overrides().reload(engine.store()).unwrap();
    let wait =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    engine
        .start_execution(request(wait.clone(), "a", json!({}), MachineType::Standard))
        .await
        .unwrap();
    let second = engine
        .start_execution(request(wait.clone(), "b", json!({}), MachineType::Standard))
        .await;
    assert!(
        matches!(second, Err(Error::ExecutionLimitExceeded(ref m)) if m.contains("(1)")),
        "{second:?}"
    );
    let mut theirs = request(wait, "c", json!({}), MachineType::Standard);
    theirs.caller.tenant_id = other;
    theirs.caller.account = "000000000002".into();
    theirs.state_machine_arn = theirs
        .state_machine_arn
        .replace("000000000001", "000000000002");
    engine.start_execution(theirs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_metered_for_standard_and_express() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "Next": "P"},
        "P": {"Type": "Pass", "End": true}}});
    let s = engine
        .start_execution(request(def.clone(), "u", json!({}), MachineType::Standard))
        .await
        .unwrap();
    finish(&engine, &s.execution_arn).await.unwrap();
    engine
        .start_sync_execution(request(def, "v", json!({}), MachineType::Express))
        .await
        .unwrap();
    engine.flush_express_usage().await.unwrap();
    let usage = engine.usage(tenant(), 0).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].transitions, usage[0].task_invocations), (4, 2));
    assert_eq!(usage[0].day, t0().timestamp_millis() / 86_400_000);
}

#[tokio::test]
async fn sns_publish_stores_the_message_for_an_existing_topic_of_the_tenant() {
    let f = Fixture::new();
    let engine = f.engine(echo()).await;
    let publish = |topic: &str| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": topic, "Message.$": "$.m", "Subject": "s"}, "End": true}}})
    };
    let mine = "arn:aws:sns:us-east-1:000000000001:orders";
    // A topic of the caller's account that was never created does not exist.
    let missing = engine
        .start_execution(request(
            publish(mine),
            "missing",
            json!({"m": "x"}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    let done = finish(&engine, &missing.execution_arn).await.unwrap();
    assert_eq!(done.error.as_deref(), Some("SNS.NotFoundException"));
    engine
        .store()
        .write(|c| {
            sandflow_store::topics::create_topic(c, tenant(), "orders", &Default::default(), 0)
        })
        .unwrap();
    let ok = engine
        .start_execution(request(
            publish(mine),
            "mine",
            json!({"m": {"n": 1}}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    let done = finish(&engine, &ok.execution_arn).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    let stored = engine
        .store()
        .read(|c| sandflow_store::topics::recent(c, tenant(), Some(mine), 10))
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].message.as_str(), stored[0].subject.as_deref()),
        (r#"{"n":1}"#, Some("s"))
    );
    assert_eq!(out["MessageId"], stored[0].message_id);
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], 200);

    let theirs = "arn:aws:sns:us-east-1:999999999999:orders";
    let other = engine
        .start_execution(request(
            publish(theirs),
            "theirs",
            json!({"m": "x"}),
            MachineType::Standard,
        ))
        .await
        .unwrap();
    let done = finish(&engine, &other.execution_arn).await.unwrap();
    assert_eq!(done.error.as_deref(), Some("SNS.NotFoundException"));
}
