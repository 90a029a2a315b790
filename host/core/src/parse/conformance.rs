//! The AWS-recorded conformance cases, both directions: every `CREATION_FAILED` case is refused
//! with exactly the recorded error (CreateStateMachine message, or the full
//! ValidateStateMachineDefinition diagnostics), and every other case's definition is accepted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Diagnostic, MachineType, invalid_definition_message, parse_definition};

/// `shared/conformance/cases` next to the workspace (worktrees sit one level deeper, so look up).
fn cases_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let given = manifest.join("../../../shared/conformance/cases");
    if given.is_dir() {
        return Some(given);
    }
    manifest
        .ancestors()
        .map(|a| a.join("shared/conformance/cases"))
        .find(|p| p.is_dir())
}

fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read cases dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Recorded strings may hold normaliser placeholders such as `<partition>`: wildcards.
fn matches_recorded(expected: &str, actual: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = expected;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:-".contains(c))
        {
            pieces.push(&rest[..start + 1]);
            rest = &rest[start + 1..];
            continue;
        }
        pieces.push(&rest[..start]);
        pieces.push("\u{0}"); // wildcard marker
        rest = &rest[start + len + 1..];
    }
    pieces.push(rest);
    // Re-join literal runs split by non-placeholder '<'.
    let mut literal_runs: Vec<String> = vec![String::new()];
    for p in pieces {
        if p == "\u{0}" {
            literal_runs.push(String::new());
        } else {
            literal_runs.last_mut().unwrap().push_str(p);
        }
    }
    if literal_runs.len() == 1 {
        return expected == actual;
    }
    let first = &literal_runs[0];
    let last = literal_runs.last().unwrap();
    if !actual.starts_with(first.as_str()) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut pos = first.len();
    let end = actual.len() - last.len();
    if !actual.ends_with(last.as_str()) {
        return false;
    }
    for run in &literal_runs[1..literal_runs.len() - 1] {
        match actual[pos..end].find(run.as_str()) {
            Some(i) => pos += i + run.len(),
            None => return false,
        }
    }
    pos <= end
}

fn show(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{} | {} | {:?}", d.code, d.message, d.location))
        .collect::<Vec<_>>()
        .join("\n      ")
}

/// `Err(reason)` when the case's expectation is not met.
fn check_case(case: &Value) -> Result<&'static str, String> {
    let def = &case["definition"];
    let ty = if case["state_machine_type"] == "EXPRESS" {
        MachineType::Express
    } else {
        MachineType::Standard
    };
    let text = serde_json::to_string(def).expect("serialize definition");
    let result = parse_definition(&text, ty);
    if case["expected"]["status"] != "CREATION_FAILED" {
        return match result {
            Ok(_) => Ok("accepted"),
            Err(d) => Err(format!("should be accepted, got:\n      {}", show(&d))),
        };
    }
    let ce = &case["creation_error"];
    let ty_name = ce["__type"].as_str().unwrap_or_default();
    let message = ce["message"].as_str().unwrap_or_default();
    if ty_name == "ValidationException" {
        // An API-parameter error (e.g. versionDescription without publish): the definition is fine.
        return match result {
            Ok(_) => Ok("api-level"),
            Err(d) => Err(format!(
                "definition should be valid, got:\n      {}",
                show(&d)
            )),
        };
    }
    let Err(diags) = result else {
        return Err(format!("should be refused with {ty_name}: {message}"));
    };
    if ce["api"] == "ValidateStateMachineDefinition" {
        let expected = ce["diagnostics"].as_array().cloned().unwrap_or_default();
        let same = expected.len() == diags.len()
            && expected.iter().zip(&diags).all(|(e, d)| {
                e["code"] == d.code.as_str()
                    && e["severity"] == "ERROR"
                    && matches_recorded(e["message"].as_str().unwrap_or_default(), &d.message)
                    && e["location"].as_str() == d.location.as_deref()
            });
        if !same || diags[0].code != ty_name {
            return Err(format!(
                "diagnostics differ:\n      expected {expected:?}\n      got      {}",
                show(&diags)
            ));
        }
        return Ok("refused");
    }
    let got = invalid_definition_message(&diags);
    if ty_name != "InvalidDefinition" || !matches_recorded(message, &got) {
        return Err(format!(
            "message differs:\n      expected {ty_name}: {message}\n      got      InvalidDefinition: {got}"
        ));
    }
    Ok("refused")
}

#[test]
fn all_conformance_cases() {
    let Some(dir) = cases_dir() else {
        eprintln!("conformance cases not found; skipping");
        return;
    };
    let (mut refused, mut accepted, mut api_level) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in case_files(&dir) {
        let text = std::fs::read_to_string(&path).expect("read case");
        let case: Value = serde_json::from_str(&text).expect("case is JSON");
        match check_case(&case) {
            Ok("refused") => refused += 1,
            Ok("accepted") => accepted += 1,
            Ok(_) => api_level += 1,
            Err(why) => failures.push(format!("{}: {why}", case["id"].as_str().unwrap_or("?"))),
        }
    }
    eprintln!(
        "conformance: {refused} refusals matched exactly, {accepted} accepted, {api_level} API-level, {} failing",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(refused + accepted + api_level > 0, "no cases found");
}

#[test]
fn placeholder_matching() {
    assert!(matches_recorded(
        "The resource provided arn:<partition>:states:::dynamodb:query is not",
        "The resource provided arn:aws:states:::dynamodb:query is not"
    ));
    assert!(!matches_recorded("a <x> b", "a b c"));
    assert!(matches_recorded("label_<\" x", "label_<\" x"));
    assert!(!matches_recorded("label_<\" x", "label_<\" y"));
}
