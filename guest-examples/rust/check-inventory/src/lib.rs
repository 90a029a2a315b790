//! Order fulfillment, "Check Inventory": looks up each item's stock in the KV table
//! `inventory` (key = SKU, value = units in stock) and says whether the whole order is in
//! stock. Needs the grant `kv:inventory`.

use sandflow_sdk::{TaskError, export_task, kv};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    order_id: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    in_stock: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_id: Option<String>,
    /// SKUs with fewer units than ordered.
    short: Vec<String>,
}

fn run(input: Input) -> Result<Output, TaskError> {
    if input.items.is_empty() {
        return Err(TaskError::new("InvalidOrder", "the order has no items"));
    }
    let mut short = Vec::new();
    for item in &input.items {
        let stock: u32 = kv::get("inventory", &item.sku)?.unwrap_or(0);
        if stock < item.quantity {
            short.push(item.sku.clone());
        }
    }
    let in_stock = short.is_empty();
    Ok(Output {
        in_stock,
        reservation_id: in_stock.then(|| format!("RES-{}", input.order_id)),
        short,
    })
}

export_task!(run);
