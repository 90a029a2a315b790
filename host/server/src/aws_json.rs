//! The JSON the CLI prints, shaped like the AWS API responses it mirrors: validation diagnostics
//! (`ValidateStateMachineDefinition`), creation errors (`CreateStateMachine`), execution results.

use sandflow_core::parse::{Diagnostic, Severity, invalid_definition_message};
use sandflow_core::run::RunResult;
use serde_json::{Map, Value, json};

/// One diagnostic as AWS returns it; `location` is omitted when unknown.
pub fn diagnostic(d: &Diagnostic) -> Value {
    let mut m = Map::new();
    let severity = match d.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
    };
    m.insert("severity".into(), severity.into());
    m.insert("code".into(), d.code.as_str().into());
    m.insert("message".into(), d.message.as_str().into());
    if let Some(loc) = &d.location {
        m.insert("location".into(), loc.as_str().into());
    }
    Value::Object(m)
}

pub fn diagnostics(ds: &[Diagnostic]) -> Value {
    Value::Array(ds.iter().map(diagnostic).collect())
}

/// `ValidateStateMachineDefinition` response. `errors` is `None` when the definition is valid.
pub fn validate_response(errors: Option<&[Diagnostic]>) -> Value {
    match errors {
        None => json!({"result": "OK", "diagnostics": []}),
        Some(ds) => json!({"result": "FAIL", "diagnostics": diagnostics(ds)}),
    }
}

/// `CreateStateMachine`'s `InvalidDefinition` error, with the diagnostics behind it.
pub fn invalid_definition(ds: &[Diagnostic]) -> Value {
    json!({
        "__type": "InvalidDefinition",
        "message": invalid_definition_message(ds),
        "diagnostics": diagnostics(ds),
    })
}

/// An execution's result: status, then output (succeeded) or error/cause (when reported).
pub fn execution(result: &RunResult, with_history: bool) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), result.status.as_aws().into());
    if let Some(output) = &result.output {
        m.insert("output".into(), output.clone());
    }
    if let Some(error) = &result.error {
        m.insert("error".into(), error.as_str().into());
    }
    if let Some(cause) = &result.cause {
        m.insert("cause".into(), cause.as_str().into());
    }
    if with_history {
        m.insert("history".into(), Value::Array(result.history.clone()));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandflow_core::run::ExecutionStatus;

    fn diag(location: Option<&str>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: "MISSING_TRANSITION_TARGET".into(),
            message: "Missing 'Next' target: B".into(),
            location: location.map(str::to_string),
            create_message: None,
        }
    }

    #[test]
    fn diagnostics_omit_unknown_locations() {
        assert_eq!(
            diagnostic(&diag(Some("/States/A/Next"))),
            json!({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET",
                   "message": "Missing 'Next' target: B", "location": "/States/A/Next"})
        );
        assert!(diagnostic(&diag(None)).get("location").is_none());
    }

    #[test]
    fn validate_ok_and_fail() {
        assert_eq!(validate_response(None)["result"], "OK");
        let d = [diag(None)];
        let fail = validate_response(Some(&d));
        assert_eq!(fail["result"], "FAIL");
        assert_eq!(fail["diagnostics"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn execution_shapes() {
        let r = RunResult {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some("E".into()),
            cause: Some("c".into()),
            history: vec![json!({"id": 1})],
        };
        assert_eq!(
            execution(&r, false),
            json!({"status": "FAILED", "error": "E", "cause": "c"})
        );
        assert_eq!(execution(&r, true)["history"], json!([{"id": 1}]));
    }
}
