//! A process for the crash test: opens the engine on `--data DIR`, (re)starts executions
//! `e0..eN` of a workflow with a Wait, a Task, a Choice and a Map, and waits for all of them.
//! The test kills it with SIGKILL at random moments and starts it again on the same data; it
//! prints `done` once every execution has finished.

use std::sync::Arc;

use sandflow_core::lambda::FunctionResult;
use sandflow_core::parse::MachineType;
use sandflow_engine::tasks::BoxFuture;
use sandflow_engine::{
    Caller, Config, Engine, Error, FunctionInvocation, Functions, StartRequest, SystemClock,
};
use sandflow_store::Store;
use serde_json::json;

/// Returns its payload with `"seen": true` added.
struct Mark;

impl Functions for Mark {
    fn invoke(
        &self,
        _: &Caller,
        _: &str,
        payload: String,
        _: Option<u64>,
        _: Option<sandflow_engine::Origin>,
    ) -> BoxFuture<FunctionInvocation> {
        Box::pin(async move {
            let mut v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            v["seen"] = json!(true);
            FunctionInvocation::Done(FunctionResult::Returned(v.to_string()))
        })
    }
}

pub fn definition() -> serde_json::Value {
    json!({"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Mark"},
        "Mark": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:mark",
                 "ResultPath": "$.task", "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.task.seen", "BooleanEquals": true, "Next": "Each"}], "Default": "Bad"},
        "Bad": {"Type": "Fail", "Error": "Unseen"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.items",
                 "ItemProcessor": {"StartAt": "Double", "States": {
                     "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "End": true}}},
                 "End": true}}})
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut data, mut count) = (None, 100usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next(),
            "--executions" => count = args.next().and_then(|n| n.parse().ok()).unwrap_or(count),
            other => panic!("unknown argument {other}"),
        }
    }
    let data = data.expect("--data DIR");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Store::open(&std::path::Path::new(&data).join("sandflow.db")).unwrap();
        let _ = store
            .write(|c| sandflow_store::tenants::create(c, "crash", "000000000000", 0).map(|_| ()));
        let engine = Engine::start(
            store,
            Arc::new(Mark),
            Arc::new(sandflow_engine::NoServices),
            Arc::new(SystemClock),
            Config::default(),
        )
        .await
        .unwrap();
        let def = definition().to_string();
        let mut arns = Vec::new();
        for i in 0..count {
            let req = StartRequest {
                caller: Caller {
                    tenant_id: 1,
                    account: "000000000000".into(),
                    region: "us-east-1".into(),
                },
                state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:crash"
                    .into(),
                state_machine_name: "crash".into(),
                machine_type: MachineType::Standard,
                definition: def.clone(),
                role_arn: "arn:aws:iam::000000000000:role/crash".into(),
                name: format!("e{i}"),
                input: json!({"n": i, "items": [i, i + 1]}).to_string(),
            };
            match engine.start_execution(req).await {
                Ok(s) => arns.push(s.execution_arn),
                // Finished in an earlier life of this process.
                Err(Error::ExecutionAlreadyExists(arn)) => arns.push(arn),
                Err(e) => panic!("start e{i}: {e}"),
            }
        }
        for arn in arns {
            engine.wait(1, &arn).await.unwrap();
        }
        println!("done");
    });
}
