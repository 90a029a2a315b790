//! The transition pass over the raw definition, scope by scope (top level, then each Parallel
//! branch and Map processor in document order): machine-wide duplicate state names, transition
//! targets that do not exist in their scope, scopes without a terminal state, and states nothing
//! transitions to. It reads the JSON directly so it also runs when states fail schema checks.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Diagnostic, Severity};

pub(super) fn check(root: &Map<String, Value>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    scope(root, "", &mut seen, &mut out);
    out
}

fn diag(code: &str, message: String, location: Option<String>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: code.to_string(),
        message,
        location,
        create_message: None,
    }
}

fn missing_target(name: &str, location: String) -> Diagnostic {
    // AWS says 'Next' for every kind of target (StartAt, Default, Catch) alike.
    diag(
        "MISSING_TRANSITION_TARGET",
        format!("Missing 'Next' target: {name}"),
        Some(location),
    )
}

/// Transitions out of one state: `(target, location of the field)`.
fn targets(state: &Map<String, Value>, loc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(Value::String(n)) = state.get("Next") {
        out.push((n.clone(), format!("{loc}/Next")));
    }
    if let Some(Value::Array(choices)) = state.get("Choices") {
        for (i, rule) in choices.iter().enumerate() {
            if let Some(Value::String(n)) = rule.get("Next") {
                out.push((n.clone(), format!("{loc}/Choices[{i}]/Next")));
            }
        }
    }
    if let Some(Value::String(n)) = state.get("Default") {
        out.push((n.clone(), format!("{loc}/Default")));
    }
    if let Some(Value::Array(catchers)) = state.get("Catch") {
        for (i, c) in catchers.iter().enumerate() {
            if let Some(Value::String(n)) = c.get("Next") {
                out.push((n.clone(), format!("{loc}/Catch[{i}]/Next")));
            }
        }
    }
    out
}

fn is_terminal(state: &Map<String, Value>) -> bool {
    matches!(
        state.get("Type").and_then(Value::as_str),
        Some("Succeed" | "Fail")
    ) || state.get("End") == Some(&Value::Bool(true))
}

/// The nested scopes of a state with their locations.
fn nested<'a>(state: &'a Map<String, Value>, loc: &str) -> Vec<(&'a Map<String, Value>, String)> {
    let mut out = Vec::new();
    match state.get("Type").and_then(Value::as_str) {
        Some("Parallel") => {
            if let Some(Value::Array(branches)) = state.get("Branches") {
                for (i, b) in branches.iter().enumerate() {
                    if let Value::Object(b) = b {
                        out.push((b, format!("{loc}/Branches[{i}]")));
                    }
                }
            }
        }
        Some("Map") => {
            for field in ["ItemProcessor", "Iterator"] {
                if let Some(Value::Object(p)) = state.get(field) {
                    out.push((p, format!("{loc}/{field}")));
                }
            }
        }
        _ => {}
    }
    out
}

fn scope(
    obj: &Map<String, Value>,
    loc: &str,
    seen: &mut HashSet<String>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(Value::Object(states)) = obj.get("States") else {
        return;
    };
    let start_at = obj.get("StartAt").and_then(Value::as_str);
    if let Some(s) = start_at
        && !states.contains_key(s)
    {
        out.push(missing_target(s, format!("{loc}/StartAt")));
    }

    let mut targeted: HashSet<&str> = HashSet::new();
    let mut any_terminal = false;
    // A state of unknown type may be terminal: the schema pass already reports it.
    let mut unknown_type = false;
    for (name, state) in states {
        let state_loc = format!("{loc}/States/{name}");
        if !seen.insert(name.clone()) {
            out.push(diag(
                "DUPLICATE_STATE_NAME",
                format!("Duplicate State name: {name}"),
                Some(state_loc.clone()),
            ));
        }
        let Value::Object(state) = state else {
            continue;
        };
        any_terminal |= is_terminal(state);
        unknown_type |= !matches!(
            state.get("Type").and_then(Value::as_str),
            Some("Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map")
        );
        for (target, at) in targets(state, &state_loc) {
            match states.get_key_value(target.as_str()) {
                Some((k, _)) => {
                    targeted.insert(k.as_str());
                }
                None => out.push(missing_target(&target, at)),
            }
        }
    }

    if !any_terminal && !unknown_type {
        // No location: AWS reports the whole workflow, and skips the reachability walk.
        out.push(diag(
            "MISSING_END_STATE",
            "Workflow has no terminal state".to_string(),
            None,
        ));
    } else if let Some(start_at) = start_at {
        // Without a StartAt (already a schema error) reachability means nothing.
        for name in states.keys() {
            if name != start_at && !targeted.contains(name.as_str()) {
                out.push(diag(
                    "MISSING_TRANSITION_TARGET",
                    format!("State \"{name}\" is not reachable."),
                    Some(format!("{loc}/States/{name}")),
                ));
            }
        }
    }

    for (name, state) in states {
        if let Value::Object(state) = state {
            for (inner, inner_loc) in nested(state, &format!("{loc}/States/{name}")) {
                scope(inner, &inner_loc, seen, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Vec<(String, String, Option<String>)> {
        check(v.as_object().unwrap())
            .into_iter()
            .map(|d| (d.code, d.message, d.location))
            .collect()
    }

    #[test]
    fn missing_next_and_unreachable_in_aws_order() {
        let d = run(json!({"StartAt": "pass1", "States": {
            "pass1": {"Type": "Pass", "Next": "pass3"},
            "pass2": {"Type": "Pass", "End": true}}}));
        assert_eq!(
            d,
            [
                (
                    "MISSING_TRANSITION_TARGET".into(),
                    "Missing 'Next' target: pass3".into(),
                    Some("/States/pass1/Next".into())
                ),
                (
                    "MISSING_TRANSITION_TARGET".into(),
                    "State \"pass2\" is not reachable.".into(),
                    Some("/States/pass2".into())
                )
            ]
        );
    }

    #[test]
    fn start_at_choices_default_and_catch_targets() {
        let d = run(json!({"StartAt": "Nope", "States": {
            "C": {"Type": "Choice", "Choices": [{"Next": "X"}], "Default": "Y"},
            "T": {"Type": "Task", "Resource": "r", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}], "End": true}}}));
        let locs: Vec<_> = d.iter().map(|x| x.2.clone().unwrap()).collect();
        assert_eq!(
            locs,
            [
                "/StartAt",
                "/States/C/Choices[0]/Next",
                "/States/C/Default",
                "/States/T/Catch[0]/Next",
                "/States/C",
                "/States/T"
            ]
        );
        assert_eq!(d[0].1, "Missing 'Next' target: Nope");
    }

    #[test]
    fn no_terminal_state_suppresses_reachability() {
        let d = run(json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "A"},
            "C": {"Type": "Pass", "Next": "A"}}}));
        assert_eq!(
            d,
            [(
                "MISSING_END_STATE".into(),
                "Workflow has no terminal state".into(),
                None
            )]
        );
    }

    #[test]
    fn transitions_do_not_cross_scopes_and_names_are_machine_wide() {
        let d = run(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "P"}, "P": {"Type": "Succeed"}}}
        ]}}}));
        assert_eq!(
            d,
            [(
                "DUPLICATE_STATE_NAME".into(),
                "Duplicate State name: P".into(),
                Some("/States/P/Branches[0]/States/P".into())
            )]
        );
        let d = run(json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "End": true, "ItemProcessor":
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "M"}, "B": {"Type": "Succeed"}}}},
        }}));
        assert_eq!(d[0].1, "Missing 'Next' target: M");
        assert_eq!(
            d[0].2.as_deref(),
            Some("/States/M/ItemProcessor/States/A/Next")
        );
        assert_eq!(d[1].1, "State \"B\" is not reachable.");
    }
}
