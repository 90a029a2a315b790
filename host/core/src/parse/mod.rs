//! Definition JSON -> validated [`crate::model::StateMachine`], or AWS-shaped diagnostics.
//!
//! Two passes, both reporting every problem they find: the schema pass (`scope`, `states`,
//! `choice`, `retry`: fields, types, ranges, paths, resources, per state type and query language)
//! and the transition pass (`graph`: targets, duplicates, reachability, terminal states). Schema
//! diagnostics come first, in document order. Codes and wording follow AWS's
//! `ValidateStateMachineDefinition` / `CreateStateMachine` responses.

mod choice;
mod ctx;
mod graph;
mod json_error;
mod label;
mod resource;
mod retry;
mod scope;
mod states;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;

use crate::model::{QueryLanguage, StateMachine};
use ctx::{Ctx, Obj, SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Error,
    Warning,
}

/// One `ValidateStateMachineDefinition` diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// e.g. `SCHEMA_VALIDATION_FAILED`, `INVALID_JSON_DESCRIPTION`, `MISSING_TRANSITION_TARGET`.
    pub code: String,
    pub message: String,
    /// JSON-pointer-like location, e.g. `/States/Publish/Resource`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When set, CreateStateMachine reports exactly this text instead of the usual
    /// `'<CODE>: <message> at <location>'` list (AWS does so for Map `Label` errors).
    #[serde(skip)]
    pub create_message: Option<String>,
}

/// How the definition will run; some rules depend on it (Express forbids `.waitForTaskToken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

/// What AWS says when the definition is blank or not a JSON object.
fn not_an_object() -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: SCHEMA.to_string(),
        message: "Definition must be a valid JSON object".to_string(),
        location: None,
        create_message: None,
    }
}

/// Parses and validates. On failure, every diagnostic found.
pub fn parse_definition(text: &str, ty: MachineType) -> Result<StateMachine, Vec<Diagnostic>> {
    if text.trim().is_empty() {
        return Err(vec![not_an_object()]);
    }
    match json_error::read_json(text) {
        Ok(v) => parse_value(&v, ty),
        Err(e) => Err(vec![Diagnostic {
            severity: Severity::Error,
            code: "INVALID_JSON_DESCRIPTION".to_string(),
            message: e.message,
            location: Some(e.location),
            create_message: None,
        }]),
    }
}

const ROOT_FIELDS: &[&str] = &[
    "Comment",
    "StartAt",
    "States",
    "Version",
    "TimeoutSeconds",
    "QueryLanguage",
];

/// Same, from an already-parsed JSON value.
pub fn parse_value(def: &Value, ty: MachineType) -> Result<StateMachine, Vec<Diagnostic>> {
    let Value::Object(root) = def else {
        return Err(vec![not_an_object()]);
    };
    let mut ctx = Ctx {
        diags: Vec::new(),
        machine_ql: QueryLanguage::JsonPath,
        ty,
        root: def,
    };
    let o = Obj::new(root, "");
    scope::check_header(&mut ctx, &o, ROOT_FIELDS);
    if o.has("QueryLanguage")
        && o.one_of(&mut ctx, "QueryLanguage", &["JSONPath", "JSONata"]) == Some("JSONata")
    {
        ctx.machine_ql = QueryLanguage::Jsonata;
    }
    let version = o.string(&mut ctx, "Version").map(str::to_string);
    let timeout_seconds = o.integer(&mut ctx, "TimeoutSeconds", 1, u32::MAX as u64);
    let comment = o.string(&mut ctx, "Comment").map(str::to_string);
    let scope = scope::parse_states(&mut ctx, &o);

    let mut diags = ctx.diags;
    diags.extend(graph::check(root));
    match scope {
        Some(root_scope) if !diags.iter().any(|d| d.severity == Severity::Error) => {
            Ok(StateMachine {
                comment,
                version,
                timeout_seconds,
                query_language: ctx.machine_ql,
                root: root_scope,
                jsonata_limits: Default::default(),
            })
        }
        _ => Err(diags),
    }
}

/// The `InvalidDefinition` message CreateStateMachine returns for these diagnostics:
/// `Invalid State Machine Definition: '<CODE>: <message> at <location>'`, several joined with
/// `", "`, a missing location rendered `null` as AWS does. A diagnostic carrying its own
/// `create_message` (Map `Label` errors) is reported verbatim when nothing else is wrong.
pub fn invalid_definition_message(diags: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let plain: Vec<String> = errors
        .iter()
        .filter(|d| d.create_message.is_none())
        .map(|d| {
            format!(
                "{}: {} at {}",
                d.code,
                d.message,
                d.location.as_deref().unwrap_or("null")
            )
        })
        .collect();
    if plain.is_empty()
        && let Some(own) = errors.iter().find_map(|d| d.create_message.clone())
    {
        return own;
    }
    format!("Invalid State Machine Definition: '{}'", plain.join(", "))
}
