//! Order fulfillment, "Notify": puts a notification for the order on the queue
//! `order-notifications` and returns the message id. Needs the grant
//! `queue:order-notifications`.

use sandflow_sdk::{TaskError, export_task, queue};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    order_id: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    order_id: &'a str,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    message_id: u64,
}

fn run(input: Input) -> Result<Output, TaskError> {
    let message = input
        .message
        .unwrap_or_else(|| format!("Order {} is out of stock", input.order_id));
    let message_id = queue::send(
        "order-notifications",
        &Notification {
            order_id: &input.order_id,
            message,
        },
    )?;
    Ok(Output { message_id })
}

export_task!(run);
