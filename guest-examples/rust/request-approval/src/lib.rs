//! Order fulfillment, "Wait for Approval": the state waits on its task token; this task
//! files the approval request (order, amount, token) in the KV table `approvals`, key = order
//! id, where a manager's tool (or the console's inbox) finds it and answers with
//! SendTaskSuccess or SendTaskFailure. Needs the grants `kv:approvals` and `log`.

use sandflow_sdk::{TaskError, export_task, kv, log};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    order_id: String,
    amount: f64,
    task_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    requested: bool,
}

fn run(request: Request) -> Result<Output, TaskError> {
    if request.task_token.is_empty() {
        return Err(TaskError::new(
            "MissingTaskToken",
            "the state must pass $$.Task.Token as taskToken",
        ));
    }
    log::info(&format!(
        "approval requested for order {} ({})",
        request.order_id, request.amount
    ));
    kv::set("approvals", &request.order_id, &request)?;
    Ok(Output { requested: true })
}

export_task!(run);
