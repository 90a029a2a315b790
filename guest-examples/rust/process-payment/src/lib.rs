//! Order fulfillment, "Process Payment": charges the order by POSTing it to the payment
//! service: the input's `paymentEndpoint`, else the `payment-endpoint` key of the KV table
//! `config` (if granted `kv:config`), else `https://payments.example.com/v1/charges`. The
//! function must be granted that endpoint (`http:URL`).
//!
//! 2xx → `{transactionId, status}`; 402 → `PaymentDeclined`; 429/5xx →
//! `PaymentServiceUnavailable`, which the workflow retries.

use sandflow_sdk::{TaskError, export_task, http, kv, log};
use serde::{Deserialize, Serialize};

const DEFAULT_ENDPOINT: &str = "https://payments.example.com/v1/charges";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    order_id: String,
    customer_id: String,
    amount: f64,
    currency: String,
    payment_endpoint: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Charge<'a> {
    order_id: &'a str,
    customer_id: &'a str,
    amount: f64,
    currency: &'a str,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    transaction_id: String,
    status: String,
}

fn run(input: Input) -> Result<Output, TaskError> {
    if input.amount.is_nan() || input.amount <= 0.0 {
        return Err(TaskError::new(
            "InvalidAmount",
            format!("amount {} is not positive", input.amount),
        ));
    }
    // Without the `kv:config` grant the lookup fails and the default applies.
    let configured = || {
        kv::get::<String>("config", "payment-endpoint")
            .ok()
            .flatten()
    };
    let url = input
        .payment_endpoint
        .clone()
        .or_else(configured)
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let charge = Charge {
        order_id: &input.order_id,
        customer_id: &input.customer_id,
        amount: input.amount,
        currency: &input.currency,
    };
    log::info(&format!(
        "charging {} {} for {}",
        input.amount, input.currency, input.order_id
    ));
    let resp = http::post_json(&url, &charge)?;
    match resp.status {
        200..=299 => resp.json(),
        402 => Err(TaskError::new("PaymentDeclined", resp.text())),
        429 | 500..=599 => Err(TaskError::new(
            "PaymentServiceUnavailable",
            format!("payment service answered {}", resp.status),
        )),
        s => Err(TaskError::new(
            "PaymentFailed",
            format!("payment service answered {s}: {}", resp.text()),
        )),
    }
}

export_task!(run);
