//! The smallest task: returns its input unchanged.

use sandflow_sdk::{TaskError, export_task};
use serde_json::Value;

fn run(input: Value) -> Result<Value, TaskError> {
    Ok(input)
}

export_task!(run);
