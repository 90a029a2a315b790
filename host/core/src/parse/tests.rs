//! Rule-by-rule tests of the parser and validator, and property tests that no input panics and
//! that every refusal says where the definition is wrong.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::jsonata::JsonataExpr;
use crate::model::{Condition, MapMode, NumberSource, StateKind, Transition, WaitFor};

type Found = Vec<(String, String, Option<String>)>;

fn errors_as(def: Value, ty: MachineType) -> Found {
    match parse_value(&def, ty) {
        Ok(_) => panic!("expected a refusal for {def}"),
        Err(d) => d
            .into_iter()
            .map(|d| (d.code, d.message, d.location))
            .collect(),
    }
}

fn errors(def: Value) -> Found {
    errors_as(def, MachineType::Standard)
}

/// The single diagnostic of `def`, as `(code, message, location)`.
fn one(def: Value) -> (String, String, Option<String>) {
    let mut d = errors(def);
    assert_eq!(d.len(), 1, "{d:?}");
    d.remove(0)
}

fn schema(message: &str, location: &str) -> (String, String, Option<String>) {
    (
        "SCHEMA_VALIDATION_FAILED".into(),
        message.into(),
        Some(location.into()),
    )
}

fn accept(def: Value) -> StateMachine {
    match parse_value(&def, MachineType::Standard) {
        Ok(m) => m,
        Err(d) => panic!("expected {def} to be accepted, got {d:?}"),
    }
}

/// A one-state machine around `state`.
fn machine(state: Value) -> Value {
    json!({"StartAt": "A", "States": {"A": state}})
}

const LAMBDA: &str = "arn:aws:lambda:us-east-1:111111111111:function:f";

#[test]
fn blank_and_non_object_definitions() {
    for text in [" ", "[]", "1", "null"] {
        let d = parse_definition(text, MachineType::Standard).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "Definition must be a valid JSON object");
        assert_eq!(d[0].location, None);
    }
}

#[test]
fn invalid_json() {
    let d = parse_definition("{\"StartAt\": ", MachineType::Standard).unwrap_err();
    assert_eq!(d[0].code, "INVALID_JSON_DESCRIPTION");
    assert!(
        d[0].location
            .as_deref()
            .unwrap()
            .starts_with("[Source: (String)")
    );
}

#[test]
fn required_top_level_fields() {
    assert_eq!(
        one(json!({})),
        schema("These fields are required: [States, StartAt]", "/")
    );
    assert_eq!(
        one(json!({"States": {"A": {"Type": "Succeed"}}})),
        schema("These fields are required: [StartAt]", "/")
    );
}

#[test]
fn unknown_fields() {
    let d = errors(
        json!({"StartAt": "A", "Foo": 1, "States": {"A": {"Type": "Pass", "End": true, "Bar": 2}}}),
    );
    assert_eq!(
        d,
        [
            schema("Field 'Foo' is not supported", "/"),
            schema("Field 'Bar' is not supported", "/States/A")
        ]
    );
}

#[test]
fn fields_not_allowed_for_the_type() {
    let cases = [
        (json!({"Type": "Pass", "End": true, "Retry": []}), "Retry"),
        (
            json!({"Type": "Wait", "Seconds": 1, "End": true, "Catch": []}),
            "Catch",
        ),
        (json!({"Type": "Succeed", "End": true}), "End"),
        (
            json!({"Type": "Task", "Resource": LAMBDA, "End": true, "Result": 1}),
            "Result",
        ),
        (
            json!({"Type": "Wait", "Seconds": 1, "End": true, "Parameters": {}}),
            "Parameters",
        ),
        (json!({"Type": "Fail", "InputPath": "$"}), "InputPath"),
        (json!({"Type": "Pass", "End": true, "Output": 1}), "Output"),
    ];
    for (state, field) in cases {
        assert_eq!(
            one(machine(state)),
            schema(&format!("Field '{field}' is not supported"), "/States/A")
        );
    }
    let d = errors(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "D"}], "End": true},
        "D": {"Type": "Succeed"}}}));
    assert_eq!(d[0], schema("Field 'End' is not supported", "/States/C"));
    let d = errors(machine(
        json!({"Type": "Map", "End": true, "TimeoutSeconds": 3,
        "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}}),
    ));
    assert_eq!(
        d,
        [schema(
            "Field 'TimeoutSeconds' is not supported",
            "/States/A"
        )]
    );
}

#[test]
fn missing_required_state_fields() {
    assert_eq!(
        one(machine(json!({"Type": "Task", "End": true}))),
        schema("These fields are required: [Resource]", "/States/A")
    );
    assert_eq!(
        one(machine(json!({"End": true}))),
        schema("These fields are required: [Type]", "/States/A")
    );
    assert_eq!(
        one(machine(json!({"Type": "Nope"}))),
        schema(
            "Value must be one of [Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map]",
            "/States/A/Type"
        )
    );
}

#[test]
fn next_and_end() {
    let d = errors(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}}}));
    assert_eq!(
        d,
        [schema(
            "Only one of 'Next' or 'End' can be set",
            "/States/A"
        )]
    );
    let d = errors(machine(json!({"Type": "Pass"})));
    assert_eq!(
        d,
        [
            schema("One of 'Next' or 'End' is required", "/States/A"),
            (
                "MISSING_END_STATE".into(),
                "Workflow has no terminal state".into(),
                None
            )
        ]
    );
    accept(machine(json!({"Type": "Pass", "End": true})));
}

#[test]
fn transition_targets_and_reachability() {
    let d = errors(json!({"StartAt": "pass1", "States": {
        "pass1": {"Type": "Pass", "Next": "pass3"},
        "pass2": {"Type": "Pass", "End": true}}}));
    let text = invalid_definition_message(
        &parse_value(
            &json!({"StartAt": "pass1", "States": {
                "pass1": {"Type": "Pass", "Next": "pass3"},
                "pass2": {"Type": "Pass", "End": true}}}),
            MachineType::Standard,
        )
        .unwrap_err(),
    );
    assert_eq!(d.len(), 2);
    assert_eq!(
        text,
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State \"pass2\" is not reachable. at /States/pass2'"
    );
    let d = errors(json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}));
    assert_eq!(d[0].1, "Missing 'Next' target: Nope");
    assert_eq!(d[0].2.as_deref(), Some("/StartAt"));
}

#[test]
fn no_terminal_state_message() {
    let diags = parse_value(
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}),
        MachineType::Standard,
    )
    .unwrap_err();
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state at null'"
    );
}

#[test]
fn transitions_resolve_within_their_scope() {
    let m = accept(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done", "Branches": [
            {"StartAt": "X", "States": {"Y": {"Type": "Succeed"}, "X": {"Type": "Pass", "Next": "Y"}}}
        ]},
        "Done": {"Type": "Succeed"}}}));
    assert_eq!(m.root.start_at, 0);
    let StateKind::Parallel(p) = &m.root.states[0].kind else {
        panic!("not parallel")
    };
    assert_eq!(p.transition, Transition::Next(1));
    assert_eq!(p.branches[0].start_at, 1);
    let StateKind::Pass(x) = &p.branches[0].states[1].kind else {
        panic!("not pass")
    };
    assert_eq!(x.transition, Transition::Next(0));
    // A branch state cannot name a state of the outer scope.
    let d = errors(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "P"}}}]}}}));
    assert!(d.contains(&(
        "MISSING_TRANSITION_TARGET".into(),
        "Missing 'Next' target: P".into(),
        Some("/States/P/Branches[0]/States/X/Next".into())
    )));
}

#[test]
fn duplicate_names_across_scopes() {
    let d = errors(json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "M", "States": {"M": {"Type": "Succeed"}}}}}}));
    assert_eq!(
        d,
        [(
            "DUPLICATE_STATE_NAME".into(),
            "Duplicate State name: M".into(),
            Some("/States/M/ItemProcessor/States/M".into())
        )]
    );
}

#[test]
fn state_name_length() {
    let long = "n".repeat(81);
    let d = errors(json!({"StartAt": long, "States": {long.clone(): {"Type": "Succeed"}}}));
    assert_eq!(d[0].0, "INVALID_STATE_NAME");
    assert_eq!(d[0].2.as_deref(), Some(format!("/States/{long}").as_str()));
    let ok = "n".repeat(80);
    accept(json!({"StartAt": ok, "States": {ok.clone(): {"Type": "Succeed"}}}));
}

#[test]
fn invalid_paths_and_intrinsics() {
    assert_eq!(
        one(machine(
            json!({"Type": "Pass", "End": true, "InputPath": "foo"})
        )),
        schema("Value must be a valid JSONPath.", "/States/A/InputPath")
    );
    assert_eq!(
        one(machine(
            json!({"Type": "Pass", "End": true, "Parameters": {"x": {"a.$": "nope"}}})
        )),
        schema(
            "The value for the field 'a.$' must be a valid JSONPath or a valid intrinsic function call",
            "/States/A/Parameters"
        )
    );
    assert_eq!(
        one(machine(json!({"Type": "Fail", "CausePath": "oops"}))),
        schema(
            "Value must be a valid JSONPath or a valid intrinsic function call.",
            "/States/A/CausePath"
        )
    );
    let m = accept(machine(
        json!({"Type": "Pass", "End": true, "InputPath": null, "ResultPath": null,
        "Parameters": {"a.$": "$.x", "b.$": "States.Format('{}', $.y)"}}),
    ));
    let s = &m.root.states[0];
    assert_eq!(s.input_path, Some(None));
    assert_eq!(s.result_path, Some(None));
    assert!(s.parameters.is_some());
}

#[test]
fn choice_rules() {
    let with_rule = |rule: Value| {
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "D"},
            "D": {"Type": "Succeed"}}})
    };
    let at = "/States/C/Choices[0]";
    assert_eq!(
        one(with_rule(json!({"Variable": "$.x", "Next": "D"}))),
        schema("Choice rule has no comparison operator", at)
    );
    assert_eq!(
        one(with_rule(
            json!({"Variable": "$.x", "IsNull": true, "IsString": true, "Next": "D"})
        )),
        schema("Choice rule has more than one comparison operator", at)
    );
    assert_eq!(
        one(with_rule(json!({"Variable": "$.x", "IsNull": true}))),
        schema("These fields are required: [Next]", at)
    );
    assert_eq!(
        one(with_rule(json!({"NumericEquals": 1, "Next": "D"}))),
        schema("These fields are required: [Variable]", at)
    );
    assert_eq!(
        one(with_rule(
            json!({"Variable": "$.x", "NumericEquals": "1", "Next": "D"})
        )),
        schema(
            "Expected value of type Number",
            &format!("{at}/NumericEquals")
        )
    );
    assert_eq!(
        one(with_rule(
            json!({"Variable": "$.x", "TimestampEquals": "yesterday", "Next": "D"})
        )),
        schema(
            "String does not match RFC3339 timestamp",
            &format!("{at}/TimestampEquals")
        )
    );
    assert_eq!(
        one(with_rule(
            json!({"And": [{"Variable": "$.x", "IsNull": true, "Next": "D"}], "Next": "D"})
        )),
        schema("Field 'Next' is not supported", &format!("{at}/And[0]"))
    );
    let m = accept(with_rule(json!({"Not": {"Or": [
        {"Variable": "$.a", "StringEqualsPath": "$.b"},
        {"Variable": "$.c", "NumericGreaterThan": 2}]}, "Next": "D"})));
    let StateKind::Choice(c) = &m.root.states[0].kind else {
        panic!("not choice")
    };
    assert_eq!(c.default, Some(1));
    assert_eq!(c.choices[0].next, 1);
    let Condition::Not(inner) = &c.choices[0].condition else {
        panic!("not Not")
    };
    assert!(matches!(&**inner, Condition::Or(rules) if rules.len() == 2));
}

#[test]
fn wait_rules() {
    let w = |fields: Value| {
        let mut s = json!({"Type": "Wait", "End": true});
        s.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        machine(s)
    };
    let exactly =
        "Exactly one of 'Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath' must be set";
    assert_eq!(one(w(json!({}))), schema(exactly, "/States/A"));
    assert_eq!(
        one(w(json!({"Seconds": 1, "SecondsPath": "$.s"}))),
        schema(exactly, "/States/A")
    );
    assert_eq!(
        one(w(json!({"Timestamp": "2016-12-05T21:29:29"}))),
        schema(
            "String does not match RFC3339 timestamp",
            "/States/A/Timestamp"
        )
    );
    assert_eq!(
        one(w(json!({"Seconds": -1}))).1,
        "Value must be greater than or equal to 0"
    );
    let m = accept(w(json!({"Timestamp": "2016-03-14T01:59:00Z"})));
    let StateKind::Wait(wait) = &m.root.states[0].kind else {
        panic!("not wait")
    };
    assert!(matches!(&wait.wait, WaitFor::Timestamp(t) if t == "2016-03-14T01:59:00Z"));
}

fn task_with(extra: Value) -> Value {
    let mut s = json!({"Type": "Task", "Resource": LAMBDA, "End": true});
    s.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "A", "States": {"A": s, "H": {"Type": "Succeed"}}})
}

#[test]
fn retrier_ranges_and_defaults() {
    let retry = |r: Value| task_with(json!({"Retry": [r]}));
    let at = "/States/A/Retry[0]";
    let bad = [
        (
            json!({"ErrorEquals": ["X"], "IntervalSeconds": 0}),
            "IntervalSeconds",
            "Value must be greater than or equal to 1",
        ),
        (
            json!({"ErrorEquals": ["X"], "MaxAttempts": -1}),
            "MaxAttempts",
            "Value must be greater than or equal to 0",
        ),
        (
            json!({"ErrorEquals": ["X"], "BackoffRate": 0.5}),
            "BackoffRate",
            "Value must be greater than or equal to 1",
        ),
        (
            json!({"ErrorEquals": ["X"], "MaxDelaySeconds": 0}),
            "MaxDelaySeconds",
            "Value must be greater than or equal to 1",
        ),
        (
            json!({"ErrorEquals": ["X"], "JitterStrategy": "HALF"}),
            "JitterStrategy",
            "Value must be one of [FULL, NONE]",
        ),
    ];
    for (r, field, msg) in bad {
        let d = errors(retry(r));
        assert!(d.contains(&schema(msg, &format!("{at}/{field}"))), "{d:?}");
    }
    let d = errors(retry(json!({"MaxAttempts": 1})));
    assert!(d.contains(&schema("These fields are required: [ErrorEquals]", at)));

    let m = accept(
        json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": LAMBDA, "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"]}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}]}, "B": {"Type": "Succeed"}}}),
    );
    let StateKind::Task(t) = &m.root.states[0].kind else {
        panic!("not task")
    };
    let r = &t.retry[0];
    assert_eq!(
        (r.interval_seconds, r.max_attempts, r.backoff_rate),
        (1, 3, 2.0)
    );
    assert_eq!(
        t.catch[0]
            .result_path
            .as_ref()
            .and_then(|p| p.as_ref())
            .map(|p| p.as_str()),
        Some("$")
    );
    assert_eq!(t.catch[0].next, 1);
}

#[test]
fn states_all_alone_and_last() {
    let d = errors(task_with(
        json!({"Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}),
    ));
    assert!(d.contains(&schema(
        "States.ALL must appear alone in ErrorEquals",
        "/States/A/Retry[0]/ErrorEquals"
    )));
    let d = errors(task_with(
        json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}),
    ));
    assert!(d.contains(&schema(
        "States.ALL must appear only in the last retrier",
        "/States/A/Retry[0]/ErrorEquals"
    )));
    let d = errors(task_with(json!({"Catch": [
        {"ErrorEquals": ["States.ALL"], "Next": "H"}, {"ErrorEquals": ["X"], "Next": "H"}]})));
    assert!(d.contains(&schema(
        "States.ALL must appear only in the last catcher",
        "/States/A/Catch[0]/ErrorEquals"
    )));
}

#[test]
fn task_timeouts() {
    let d = errors(task_with(
        json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10}),
    ));
    assert!(d.contains(&schema(
        "HeartbeatSeconds must be less than TimeoutSeconds",
        "/States/A/HeartbeatSeconds"
    )));
    let d = errors(task_with(
        json!({"TimeoutSeconds": 1, "TimeoutSecondsPath": "$.t"}),
    ));
    assert!(d.contains(&schema(
        "Only one of 'TimeoutSeconds' or 'TimeoutSecondsPath' can be set",
        "/States/A"
    )));
    let d = errors(task_with(json!({"TimeoutSeconds": 0})));
    assert!(d.contains(&schema(
        "Value must be greater than or equal to 1",
        "/States/A/TimeoutSeconds"
    )));
}

#[test]
fn resources() {
    let d = errors(machine(
        json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", "End": true}),
    ));
    assert_eq!(
        d[0].1,
        "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource ARN, or the resource is not available in this region."
    );
    let wftt = machine(
        json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": true}),
    );
    let sync = machine(
        json!({"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": true}),
    );
    accept(wftt.clone());
    accept(sync.clone());
    let d = errors_as(wftt, MachineType::Express);
    assert_eq!(
        d,
        [schema(
            "Express state machine does not support '.waitForTaskToken' service integration ",
            "/States/A/Resource"
        )]
    );
    let d = errors_as(sync, MachineType::Express);
    assert_eq!(
        d[0].1,
        "Express state machine does not support '.sync' service integration "
    );
}

fn map_with(extra: Value) -> Value {
    let mut s = json!({"Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}});
    s.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "M", "States": {"M": s}})
}

#[test]
fn map_ranges() {
    let d = errors(map_with(json!({"MaxConcurrency": -1})));
    assert_eq!(
        d,
        [schema(
            "Value must be greater than or equal to 0",
            "/States/M/MaxConcurrency"
        )]
    );
    let d = errors(map_with(json!({"ToleratedFailurePercentage": 101})));
    assert_eq!(d[0].1, "Value must be less than or equal to 100");
    let d = errors(map_with(json!({"ToleratedFailureCount": 1.5})));
    assert_eq!(d[0].1, "Expected value of type Integer");
}

#[test]
fn map_label_message() {
    let def = map_with(json!({"Label": "bad label"}));
    let diags = parse_value(&def, MachineType::Standard).unwrap_err();
    assert_eq!(diags[0].code, "INVALID_LABEL_NAME");
    assert_eq!(diags[0].location.as_deref(), Some("/States/M/Label"));
    let msg = invalid_definition_message(&diags);
    assert!(
        msg.starts_with(
            "Error=ValueError Args=[\"Label contains invalid character: ' '\"] in definition '{\"StartAt\": \"M\""
        ),
        "{msg}"
    );
    assert!(msg.ends_with("}}'."), "{msg}");
    // Other errors take precedence in the CreateStateMachine message.
    let mut def = map_with(json!({"Label": ""}));
    def["Foo"] = json!(1);
    let diags = parse_value(&def, MachineType::Standard).unwrap_err();
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'Foo' is not supported at /'"
    );
}

#[test]
fn distributed_map_parses_with_reader_batcher_writer() {
    let m = accept(map_with(json!({
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
            "Parameters": {"Bucket": "b", "Key": "k"}},
        "ItemBatcher": {"MaxItemsPerBatch": 10},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}},
        "MaxConcurrency": 5, "ToleratedFailurePercentage": 5.5, "Label": "Ok_label-1"})));
    let StateKind::Map(map) = &m.root.states[0].kind else {
        panic!("not map")
    };
    assert_eq!(map.mode, MapMode::Distributed);
    assert_eq!(map.execution_type.as_deref(), Some("STANDARD"));
    assert!(map.item_reader.is_some() && map.item_batcher.is_some() && map.result_writer.is_some());
    assert_eq!(map.max_concurrency, Some(NumberSource::Literal(5.0)));
    assert_eq!(map.label.as_deref(), Some("Ok_label-1"));
}

#[test]
fn query_languages() {
    // A JSONPath state in a JSONata machine.
    let d = errors(
        json!({"QueryLanguage": "JSONata", "StartAt": "Pass", "States": {
        "Pass": {"Type": "Pass", "End": true, "QueryLanguage": "JSONPath"}}}),
    );
    assert_eq!(
        d,
        [schema(
            "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            "/States/Pass"
        )]
    );
    // A JSONata state in a JSONPath machine is fine, and its fields are stored raw.
    let m = accept(json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke",
              "Arguments": {"FunctionName": "f", "Payload": "{% $states.input %}"},
              "Output": "{% $states.result.Payload %}", "Assign": {"x": 1},
              "TimeoutSeconds": "{% $t %}", "End": true}}}));
    let s = &m.root.states[0];
    assert_eq!(s.query_language, QueryLanguage::Jsonata);
    assert!(
        s.jsonata.arguments.is_some() && s.jsonata.output.is_some() && s.jsonata.assign.is_some()
    );
    let StateKind::Task(t) = &s.kind else {
        panic!("not task")
    };
    assert_eq!(
        t.timeout,
        Some(NumberSource::Jsonata(JsonataExpr::parse(" $t ").unwrap()))
    );
    // JSONPath fields are refused in a JSONata state, and the other way round.
    let d = errors(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true, "InputPath": "$"}}}),
    );
    assert_eq!(
        d,
        [schema("Field 'InputPath' is not supported", "/States/A")]
    );
    let d = errors(machine(
        json!({"Type": "Task", "Resource": LAMBDA, "End": true, "Arguments": {}}),
    ));
    assert_eq!(
        d,
        [schema("Field 'Arguments' is not supported", "/States/A")]
    );
    let d = errors(
        json!({"QueryLanguage": "Python", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
    );
    assert_eq!(
        d,
        [schema(
            "Value must be one of [JSONPath, JSONata]",
            "/QueryLanguage"
        )]
    );
}

#[test]
fn jsonata_choice_and_map() {
    let m = accept(
        json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.x > 1 %}", "Next": "M",
              "Assign": {"y": 2}, "Output": {"z": 3}}], "Default": "M"},
        "M": {"Type": "Map", "Items": "{% [1, 2] %}", "End": true,
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
    );
    let StateKind::Choice(c) = &m.root.states[0].kind else {
        panic!("not choice")
    };
    assert!(matches!(&c.choices[0].condition, Condition::Jsonata(_)));
    assert!(c.choices[0].jsonata_assign.is_some() && c.choices[0].jsonata_output.is_some());
    let StateKind::Map(map) = &m.root.states[1].kind else {
        panic!("not map")
    };
    assert_eq!(
        map.jsonata_items
            .as_ref()
            .and_then(|t| t.as_expr())
            .map(|e| e.source()),
        Some("[1, 2]")
    );
    let d = errors(
        json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "D"}]},
        "D": {"Type": "Succeed"}}}),
    );
    assert_eq!(
        d,
        [
            schema("Field 'Variable' is not supported", "/States/C/Choices[0]"),
            schema("Field 'IsNull' is not supported", "/States/C/Choices[0]"),
            schema(
                "These fields are required: [Condition]",
                "/States/C/Choices[0]"
            )
        ]
    );
}

#[test]
fn jsonata_item_selector_keeps_dollar_keys_raw() {
    accept(
        json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {
        "M": {"Type": "Map", "Items": [1], "End": true, "ItemSelector": {"v.$": "not a path", "w": "{% $states.context.Map.Item.Value %}"},
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
    );
}

#[test]
fn all_errors_are_reported_in_document_order() {
    let d = errors(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "InputPath": "x"},
        "B": {"Type": "Wait", "Timestamp": "nope", "Next": "Z"},
        "C": {"Type": "Succeed"}}}));
    let codes: Vec<(&str, Option<&str>)> = d
        .iter()
        .map(|(c, _, l)| (c.as_str(), l.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            ("SCHEMA_VALIDATION_FAILED", Some("/States/A/InputPath")),
            ("SCHEMA_VALIDATION_FAILED", Some("/States/B/Timestamp")),
            ("MISSING_TRANSITION_TARGET", Some("/States/B/Next")),
            ("MISSING_TRANSITION_TARGET", Some("/States/C")),
        ]
    );
}

#[test]
fn create_message_joins_errors() {
    let d = vec![
        Diagnostic {
            severity: Severity::Error,
            code: "A".into(),
            message: "one".into(),
            location: Some("/x".into()),
            create_message: None,
        },
        Diagnostic {
            severity: Severity::Warning,
            code: "W".into(),
            message: "ignored".into(),
            location: None,
            create_message: None,
        },
        Diagnostic {
            severity: Severity::Error,
            code: "B".into(),
            message: "two".into(),
            location: None,
            create_message: None,
        },
    ];
    assert_eq!(
        invalid_definition_message(&d),
        "Invalid State Machine Definition: 'A: one at /x, B: two at null'"
    );
}

#[test]
fn top_level_fields_into_the_model() {
    let m = accept(
        json!({"Comment": "c", "Version": "1.0", "TimeoutSeconds": 30,
        "StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "E", "CausePath": "$.c"}}}),
    );
    assert_eq!(m.comment.as_deref(), Some("c"));
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.timeout_seconds, Some(30));
    assert_eq!(m.query_language, QueryLanguage::JsonPath);
}

/// Arbitrary JSON, biased towards ASL vocabulary so the state parsers are reached.
fn asl_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "StartAt",
        "States",
        "Type",
        "Next",
        "End",
        "Pass",
        "Task",
        "Choice",
        "Wait",
        "Map",
        "Parallel",
        "Fail",
        "Succeed",
        "Resource",
        "Choices",
        "Variable",
        "And",
        "Not",
        "StringEquals",
        "Seconds",
        "Timestamp",
        "Retry",
        "Catch",
        "ErrorEquals",
        "Branches",
        "ItemProcessor",
        "Iterator",
        "ProcessorConfig",
        "Mode",
        "Label",
        "Parameters",
        "a.$",
        "QueryLanguage",
        "Condition",
        "Items",
        "Default",
        "ResultPath",
        "A",
        "B",
    ])
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "A",
            "B",
            "Pass",
            "Task",
            "Choice",
            "Wait",
            "Map",
            "Parallel",
            "Fail",
            "Succeed",
            "$",
            "$.x",
            "JSONata",
            "JSONPath",
            "DISTRIBUTED",
            "States.ALL",
            "{% 1 %}",
            "arn:aws:states:::lambda:invoke",
            "2016-03-14T01:59:00Z",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Refusals always come with at least one error, and say where (except the whole-definition ones).
fn check_refusal(result: Result<StateMachine, Vec<Diagnostic>>) {
    if let Err(d) = result {
        assert!(d.iter().any(|d| d.severity == Severity::Error));
        for diag in &d {
            let whole = diag.code == "MISSING_END_STATE"
                || diag.message == "Definition must be a valid JSON object";
            assert!(whole || diag.location.is_some(), "{diag:?}");
        }
        let _ = invalid_definition_message(&d);
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in ".*") {
        check_refusal(parse_definition(&s, MachineType::Standard));
    }

    #[test]
    fn arbitrary_json_text_never_panics(v in asl_json(), express in any::<bool>()) {
        let ty = if express { MachineType::Express } else { MachineType::Standard };
        let text = v.to_string();
        check_refusal(parse_definition(&text, ty));
        // Truncated text is invalid JSON somewhere.
        let cut: String = text.chars().take(text.chars().count() / 2).collect();
        check_refusal(parse_definition(&cut, ty));
    }

    #[test]
    fn arbitrary_definitions_never_panic(states in prop::collection::vec(("[AB]", asl_json()), 0..4), start in "[AB]") {
        let states: serde_json::Map<String, Value> = states.into_iter().collect();
        let def = json!({"StartAt": start, "States": states});
        check_refusal(parse_value(&def, MachineType::Standard));
    }
}

#[test]
fn invalid_jsonata_is_refused_where_it_is() {
    let cases = [
        (
            json!({"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"v": ["ok", "{% a[1,2) %}"]}, "End": true}),
            "/States/A/Output/v[1]",
        ),
        (
            json!({"Type": "Wait", "QueryLanguage": "JSONata", "Seconds": "{% ( %}", "End": true}),
            "/States/A/Seconds",
        ),
        (
            json!({"Type": "Choice", "QueryLanguage": "JSONata", "Default": "A",
                   "Choices": [{"Condition": "{% $x = %}", "Next": "A"}]}),
            "/States/A/Choices[0]/Condition",
        ),
        (
            json!({"Type": "Task", "QueryLanguage": "JSONata", "Resource": LAMBDA, "End": true,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A", "Assign": {"x": "{% ] %}"}}]}),
            "/States/A/Catch[0]/Assign/x",
        ),
    ];
    for (state, at) in cases {
        let d = errors(machine(state));
        assert!(
            d.iter()
                .any(|(code, msg, loc)| code == "INVALID_JSONATA_EXPRESSION"
                    && !msg.is_empty()
                    && loc.as_deref() == Some(at)),
            "{at}: {d:?}"
        );
    }
    // Not an expression: kept as text.
    let m = accept(machine(
        json!({"Type": "Pass", "QueryLanguage": "JSONata", "Output": " {% ( %} ", "End": true}),
    ));
    assert!(matches!(
        m.root.states[0].jsonata.output,
        Some(crate::jsonata::JsonataTemplate::Literal(_))
    ));
}
