//! Definition JSON -> validated [`crate::model::StateMachine`], or AWS-shaped diagnostics.
//!
//! STUB: the real parser and validator land with the parser work; signatures here are the contract.

use serde::Serialize;
use serde_json::Value;

use crate::model::StateMachine;

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
    pub location: Option<String>,
}

/// How the definition will run; some rules depend on it (Express forbids `.waitForTaskToken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

/// Parses and validates. On failure, every diagnostic found (errors first).
pub fn parse_definition(text: &str, ty: MachineType) -> Result<StateMachine, Vec<Diagnostic>> {
    let _ = (text, ty);
    Err(vec![])
}

/// Same, from an already-parsed JSON value.
pub fn parse_value(def: &Value, ty: MachineType) -> Result<StateMachine, Vec<Diagnostic>> {
    let _ = (def, ty);
    Err(vec![])
}

/// The `InvalidDefinition` message CreateStateMachine returns for these diagnostics:
/// `Invalid State Machine Definition: '<CODE>: <message> at <location>'` (AWS joins several with ", ").
pub fn invalid_definition_message(diags: &[Diagnostic]) -> String {
    let parts: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| match &d.location {
            Some(loc) => format!("{}: {} at {}", d.code, d.message, loc),
            None => format!("{}: {}", d.code, d.message),
        })
        .collect();
    format!("Invalid State Machine Definition: '{}'", parts.join(", "))
}
