//! `sandflow validate`: AWS ValidateStateMachineDefinition-shaped results and exit codes.

use crate::bin::sandflow;

#[test]
fn the_example_is_valid() {
    let run = sandflow(&[
        "validate",
        "guest-examples/order-fulfillment/definition.asl.json",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        run.json(),
        serde_json::json!({"result": "OK", "diagnostics": []})
    );
}

#[test]
fn a_missing_transition_target_fails_with_a_located_diagnostic() {
    let dir = std::env::temp_dir().join(format!("sandflow-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.asl.json");
    std::fs::write(
        &path,
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}, "B": {"Type": "Succeed"}}}"#,
    )
    .unwrap();
    let run = sandflow(&["validate", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(run.code, Some(1), "{run:#?}");
    let out = run.json();
    assert_eq!(out["result"], "FAIL", "{out:#}");
    let diagnostics = out["diagnostics"].as_array().expect("diagnostics list");
    let located = diagnostics
        .iter()
        .find(|d| d["location"] == "/States/A/Next");
    let d = located.unwrap_or_else(|| panic!("no diagnostic at /States/A/Next: {out:#}"));
    assert_eq!(d["severity"], "ERROR");
    assert_eq!(d["code"], "MISSING_TRANSITION_TARGET");
    assert!(d["message"].as_str().unwrap().contains("Nowhere"), "{d}");
}

#[test]
fn an_unreadable_definition_is_a_usage_error() {
    let run = sandflow(&["validate", "no/such/definition.json"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("cannot read"), "{run:#?}");
}
