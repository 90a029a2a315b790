//! Task mocks for `sandflow exec`: every Task state is answered by what the user gave for that
//! state's name, whatever its resource (Lambda, `.waitForTaskToken`, SNS ...).
//!
//! A mock is a success output (any JSON value) or a failure. Several mocks for one state form a
//! sequence, one per call (retries call again); the last one repeats.

use std::collections::HashMap;
use std::path::Path;

use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::run::{TaskHandler, TaskOutcome, TaskRequest};
use serde_json::Value;

/// One `--mock STATE=...` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct MockFlag {
    pub state: String,
    pub outcome: TaskOutcome,
}

/// Parses `STATE=JSON` or `STATE=error:NAME[:CAUSE]`.
pub fn parse_mock_flag(spec: &str) -> Result<MockFlag, String> {
    let (state, value) = spec
        .split_once('=')
        .ok_or_else(|| format!("expected STATE=JSON or STATE=error:NAME:CAUSE, got '{spec}'"))?;
    if state.is_empty() {
        return Err(format!("missing state name in '{spec}'"));
    }
    let outcome = match value.strip_prefix("error:") {
        Some(rest) => {
            let (error, cause) = rest.split_once(':').unwrap_or((rest, ""));
            if error.is_empty() {
                return Err(format!("missing error name in '{spec}'"));
            }
            failure(error, cause)
        }
        None => TaskOutcome::Succeeded(
            serde_json::from_str(value)
                .map_err(|e| format!("mock for '{state}' is not JSON ({e}): {value}"))?,
        ),
    };
    Ok(MockFlag {
        state: state.to_string(),
        outcome,
    })
}

/// A `--mocks FILE`: a JSON object from state name to a mock or an array of mocks (a sequence;
/// wrap an array output in another array). A mock is an output value, or an object holding only
/// `error` and optionally `cause` strings, which is a failure.
pub fn parse_mock_file(path: &Path) -> Result<Vec<(String, Vec<TaskOutcome>)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read mocks file {}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| format!("mocks file {} is not JSON: {e}", path.display()))?;
    let Value::Object(states) = doc else {
        return Err(format!(
            "mocks file {} must be a JSON object keyed by state name",
            path.display()
        ));
    };
    states
        .into_iter()
        .map(|(state, v)| {
            let seq = match v {
                Value::Array(items) if items.is_empty() => {
                    return Err(format!("mocks for '{state}' are an empty sequence"));
                }
                Value::Array(items) => items.into_iter().map(mock_from_value).collect(),
                other => vec![mock_from_value(other)],
            };
            Ok((state, seq))
        })
        .collect()
}

fn mock_from_value(v: Value) -> TaskOutcome {
    let as_failure = match &v {
        Value::Object(m) => {
            let error = m.get("error").and_then(Value::as_str);
            let cause = match m.get("cause") {
                None => Some(""),
                Some(c) => c.as_str(),
            };
            let only_known = m.keys().all(|k| k == "error" || k == "cause");
            error.zip(cause).filter(|_| only_known)
        }
        _ => None,
    };
    match as_failure {
        Some((error, cause)) => failure(error, cause),
        None => TaskOutcome::Succeeded(v),
    }
}

/// `States.Timeout` is how a task times out, so a mocked timeout is a timeout, not a failure.
fn failure(error: &str, cause: &str) -> TaskOutcome {
    if error == names::TIMEOUT {
        TaskOutcome::TimedOut
    } else {
        TaskOutcome::Failed(Failure::new(error, cause))
    }
}

/// Mocks by state name, each a sequence consumed one call at a time.
#[derive(Debug, Default)]
pub struct MockSet {
    by_state: HashMap<String, Sequence>,
}

#[derive(Debug)]
struct Sequence {
    outcomes: Vec<TaskOutcome>,
    calls: usize,
}

impl MockSet {
    /// File mocks first; `--mock` flags then replace a file's sequence for the states they name,
    /// and repeated flags for one state append to its sequence.
    pub fn new(files: Vec<Vec<(String, Vec<TaskOutcome>)>>, flags: Vec<MockFlag>) -> MockSet {
        let mut set = MockSet::default();
        for (state, outcomes) in files.into_iter().flatten() {
            set.by_state.insert(state, Sequence { outcomes, calls: 0 });
        }
        let mut flagged: Vec<String> = Vec::new();
        for MockFlag { state, outcome } in flags {
            if !flagged.contains(&state) {
                set.by_state.remove(&state);
                flagged.push(state.clone());
            }
            set.by_state
                .entry(state)
                .or_insert_with(|| Sequence {
                    outcomes: Vec::new(),
                    calls: 0,
                })
                .outcomes
                .push(outcome);
        }
        set
    }
}

impl TaskHandler for MockSet {
    fn invoke(&mut self, req: &TaskRequest<'_>) -> TaskOutcome {
        let Some(seq) = self.by_state.get_mut(req.state_name) else {
            return TaskOutcome::Failed(Failure::new(
                names::TASK_FAILED,
                format!(
                    "No mock for Task state '{}' (resource {}); pass --mock '{}=JSON' or --mocks FILE",
                    req.state_name, req.resource, req.state_name
                ),
            ));
        };
        let i = seq.calls.min(seq.outcomes.len() - 1);
        seq.calls += 1;
        seq.outcomes[i].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request<'a>(state: &'a str, input: &'a Value) -> TaskRequest<'a> {
        TaskRequest {
            state_name: state,
            resource: "arn:aws:states:::sns:publish",
            input,
            task_token: None,
            timeout_seconds: None,
            heartbeat_seconds: None,
        }
    }

    #[test]
    fn flags_parse_outputs_and_failures() {
        let m = parse_mock_flag("Check=1=2").unwrap_err();
        assert!(m.contains("not JSON"), "{m}");
        let m = parse_mock_flag("Check={\"ok\":true}").unwrap();
        assert_eq!(m.state, "Check");
        assert_eq!(m.outcome, TaskOutcome::Succeeded(json!({"ok": true})));
        let m = parse_mock_flag("Pay=error:Card.Declined:insufficient: funds").unwrap();
        assert_eq!(
            m.outcome,
            TaskOutcome::Failed(Failure::new("Card.Declined", "insufficient: funds"))
        );
        let m = parse_mock_flag("Pay=error:Boom").unwrap();
        assert_eq!(m.outcome, TaskOutcome::Failed(Failure::new("Boom", "")));
        assert_eq!(
            parse_mock_flag("Wait=error:States.Timeout")
                .unwrap()
                .outcome,
            TaskOutcome::TimedOut
        );
        assert_eq!(
            parse_mock_flag("S=\"error:not a failure\"")
                .unwrap()
                .outcome,
            TaskOutcome::Succeeded(json!("error:not a failure"))
        );
        assert!(parse_mock_flag("no-equals").is_err());
        assert!(parse_mock_flag("=1").is_err());
        assert!(parse_mock_flag("S=error:").is_err());
    }

    #[test]
    fn file_values_arrays_and_failure_objects() {
        let dir = std::env::temp_dir().join(format!("sandflow-mocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.json");
        std::fs::write(
            &path,
            r#"{"A": {"x": 1}, "B": [{"error": "E", "cause": "c"}, [1, 2]],
                "C": {"error": "not a failure", "extra": 1}, "D": {"error": 5}}"#,
        )
        .unwrap();
        let parsed = parse_mock_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let get = |s: &str| parsed.iter().find(|(k, _)| k == s).unwrap().1.clone();
        assert_eq!(get("A"), vec![TaskOutcome::Succeeded(json!({"x": 1}))]);
        assert_eq!(
            get("B"),
            vec![
                TaskOutcome::Failed(Failure::new("E", "c")),
                TaskOutcome::Succeeded(json!([1, 2]))
            ]
        );
        assert_eq!(
            get("C"),
            vec![TaskOutcome::Succeeded(
                json!({"error": "not a failure", "extra": 1})
            )]
        );
        assert_eq!(get("D"), vec![TaskOutcome::Succeeded(json!({"error": 5}))]);
    }

    #[test]
    fn bad_files_are_reported() {
        assert!(parse_mock_file(Path::new("/nonexistent/mocks.json")).is_err());
    }

    #[test]
    fn sequences_advance_per_call_and_repeat_the_last() {
        let flags = ["P=error:Busy", "P={\"id\":1}"]
            .iter()
            .map(|s| parse_mock_flag(s).unwrap())
            .collect();
        let mut set = MockSet::new(vec![], flags);
        let input = json!({});
        assert_eq!(
            set.invoke(&request("P", &input)),
            TaskOutcome::Failed(Failure::new("Busy", ""))
        );
        for _ in 0..3 {
            assert_eq!(
                set.invoke(&request("P", &input)),
                TaskOutcome::Succeeded(json!({"id": 1}))
            );
        }
    }

    #[test]
    fn flags_replace_file_sequences() {
        let file = vec![
            ("P".to_string(), vec![TaskOutcome::Succeeded(json!("file"))]),
            ("Q".to_string(), vec![TaskOutcome::Succeeded(json!("kept"))]),
        ];
        let flags = vec![parse_mock_flag("P=\"flag\"").unwrap()];
        let mut set = MockSet::new(vec![file], flags);
        let input = json!(null);
        assert_eq!(
            set.invoke(&request("P", &input)),
            TaskOutcome::Succeeded(json!("flag"))
        );
        assert_eq!(
            set.invoke(&request("Q", &input)),
            TaskOutcome::Succeeded(json!("kept"))
        );
    }

    #[test]
    fn a_task_without_a_mock_fails_naming_the_state() {
        let mut set = MockSet::new(vec![], vec![]);
        let input = json!({});
        let TaskOutcome::Failed(f) = set.invoke(&request("Notify", &input)) else {
            panic!("expected failure");
        };
        assert_eq!(f.error, names::TASK_FAILED);
        assert!(f.cause_str().contains("'Notify'"), "{}", f.cause_str());
    }
}
