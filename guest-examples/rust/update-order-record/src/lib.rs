//! Order fulfillment, "Update Database": writes the order's record (status and payment
//! transaction) to the KV table `orders`, key = order id, and returns it with its version.
//! Needs the grant `kv:orders`.

use sandflow_sdk::{TaskError, export_task, kv};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    order_id: String,
    transaction_id: String,
    status: String,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    order_id: String,
    transaction_id: String,
    status: String,
    /// How many times the record was written: a retried task shows up here.
    version: u32,
}

fn run(input: Input) -> Result<Record, TaskError> {
    if input.order_id.is_empty() {
        return Err(TaskError::new("InvalidOrder", "the order has no id"));
    }
    let previous: Option<Record> = kv::get("orders", &input.order_id)?;
    let record = Record {
        version: previous.map_or(1, |p| p.version + 1),
        order_id: input.order_id,
        transaction_id: input.transaction_id,
        status: input.status,
    };
    kv::set("orders", &record.order_id, &record)?;
    Ok(record)
}

export_task!(run);
