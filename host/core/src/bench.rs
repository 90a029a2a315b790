//! Benchmark scenarios, shared by the criterion bench (`cargo bench -p sandflow-core`) and
//! `sandflow bench`: definitions, inputs and how many transitions one run makes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::interp::{Event, Execution, ExecutionInfo, ExecutionStatus};
use crate::model::StateMachine;
use crate::parse::{MachineType, parse_value};

pub struct Scenario {
    pub name: &'static str,
    pub machine: StateMachine,
    pub input: Value,
    /// State transitions one run makes (states entered).
    pub transitions: u64,
}

impl Scenario {
    fn new(name: &'static str, def: Value, input: Value, transitions: u64) -> Scenario {
        let machine =
            parse_value(&def, MachineType::Standard).expect("benchmark definitions are valid");
        Scenario {
            name,
            machine,
            input,
            transitions,
        }
    }

    /// Runs the scenario once to completion, in memory.
    pub fn run_once(&self, record_history: bool) -> usize {
        let mut exec = Execution::new(info(self.input.clone(), record_history));
        let step = exec.apply(&self.machine, Event::Start, DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(
            exec.status(),
            ExecutionStatus::Succeeded,
            "{} must succeed",
            self.name
        );
        step.history.len()
    }

    /// Transitions per second over at least `budget` of wall time.
    pub fn measure(&self, record_history: bool, budget: Duration) -> f64 {
        let start = Instant::now();
        let mut runs = 0u64;
        while start.elapsed() < budget {
            std::hint::black_box(self.run_once(record_history));
            runs += 1;
        }
        (runs * self.transitions) as f64 / start.elapsed().as_secs_f64()
    }
}

fn info(input: Value, record_history: bool) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: "arn:aws:states:us-east-1:000000000000:execution:bench:e".into(),
        execution_name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:bench".into(),
        state_machine_name: "bench".into(),
        role_arn: "arn:aws:iam::000000000000:role/bench".into(),
        region: "us-east-1".into(),
        machine_type: crate::parse::MachineType::Standard,
        start_time: DateTime::<Utc>::UNIX_EPOCH,
        input,
        seed: 1,
        max_payload_bytes: 262_144,
        record_history,
    }
}

/// The standard set: a 10-Pass chain, a Choice-heavy machine, a 1,000-item inline Map, and a
/// Choice + Pass machine written twice, in JSONPath and in JSONata, to compare the two.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new(
            "pass_chain_10",
            pass_chain(10),
            json!({"order": 42, "items": ["a", "b"]}),
            10,
        ),
        Scenario::new(
            "choice_10x4",
            choice_heavy(),
            json!({"kind": "x", "n": 7, "flag": true}),
            11,
        ),
        Scenario::new(
            "inline_map_1000",
            inline_map(),
            Value::Array((0..1000).map(|i| json!({"i": i})).collect()),
            1001,
        ),
        Scenario::new(
            "choice_pass_jsonpath",
            choice_pass(false),
            json!({"kind": "x", "n": 7, "flag": true, "seen": 0}),
            11,
        ),
        Scenario::new(
            "choice_pass_jsonata",
            choice_pass(true),
            json!({"kind": "x", "n": 7, "flag": true, "seen": 0}),
            11,
        ),
    ]
}

/// Five rounds of a Choice (three failing rules, then the matching one) and a Pass that rebuilds
/// its input with one computed field, then Succeed. The JSONPath and JSONata versions compute
/// the same outputs.
fn choice_pass(jsonata: bool) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..5 {
        let next = if i == 4 {
            "Done".to_string()
        } else {
            format!("C{}", i + 1)
        };
        let pass = format!("P{i}");
        let (choice, transform) = if jsonata {
            (
                json!({"Type": "Choice", "Choices": [
                    {"Condition": "{% $states.input.kind = 'never' %}", "Next": "Done"},
                    {"Condition": "{% $states.input.n > 1000 %}", "Next": "Done"},
                    {"Condition": "{% $states.input.flag = false and $states.input.n < 0 %}", "Next": "Done"},
                    {"Condition": "{% $states.input.n = 7 %}", "Next": pass}
                ], "Default": "Done"}),
                json!({"Type": "Pass", "Output": {
                    "kind": "{% $states.input.kind %}", "n": "{% $states.input.n %}",
                    "flag": "{% $states.input.flag %}", "seen": "{% $states.input.seen + 1 %}"
                }, "Next": next}),
            )
        } else {
            (
                json!({"Type": "Choice", "Choices": [
                    {"Variable": "$.kind", "StringEquals": "never", "Next": "Done"},
                    {"Variable": "$.n", "NumericGreaterThan": 1000, "Next": "Done"},
                    {"And": [{"Variable": "$.flag", "BooleanEquals": false}, {"Variable": "$.n", "NumericLessThan": 0}], "Next": "Done"},
                    {"Variable": "$.n", "NumericEquals": 7, "Next": pass}
                ], "Default": "Done"}),
                json!({"Type": "Pass", "Parameters": {
                    "kind.$": "$.kind", "n.$": "$.n", "flag.$": "$.flag",
                    "seen.$": "States.MathAdd($.seen, 1)"
                }, "Next": next}),
            )
        };
        states.insert(format!("C{i}"), choice);
        states.insert(pass, transform);
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    let mut def = json!({"StartAt": "C0", "States": states});
    if jsonata {
        def["QueryLanguage"] = json!("JSONata");
    }
    def
}

/// A chain of `n` Pass states.
pub fn pass_chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let s = if i + 1 == n {
            json!({"Type": "Pass", "End": true})
        } else {
            json!({"Type": "Pass", "Next": format!("P{}", i + 1)})
        };
        states.insert(format!("P{i}"), s);
    }
    json!({"StartAt": "P0", "States": states})
}

/// Ten Choice states, each testing three failing rules before the matching fourth, then Succeed.
fn choice_heavy() -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..10 {
        let next = if i == 9 {
            "Done".to_string()
        } else {
            format!("C{}", i + 1)
        };
        states.insert(
            format!("C{i}"),
            json!({
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.kind", "StringEquals": "never", "Next": "Done"},
                    {"Variable": "$.n", "NumericGreaterThan": 1000, "Next": "Done"},
                    {"And": [{"Variable": "$.flag", "BooleanEquals": false}, {"Variable": "$.n", "NumericLessThan": 0}], "Next": "Done"},
                    {"Variable": "$.n", "NumericEquals": 7, "Next": next}
                ],
                "Default": "Done"
            }),
        );
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    json!({"StartAt": "C0", "States": states})
}

fn inline_map() -> Value {
    json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}},
            "End": true
        }}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(s: &Scenario) -> Value {
        let mut exec = Execution::new(info(s.input.clone(), true));
        let step = exec.apply(&s.machine, Event::Start, DateTime::<Utc>::UNIX_EPOCH);
        let entered = step
            .history
            .iter()
            .filter(|e| e.event_type.ends_with("StateEntered"))
            .count() as u64;
        assert_eq!(entered, s.transitions, "{}", s.name);
        exec.output().cloned().expect("succeeded")
    }

    #[test]
    fn the_jsonpath_and_jsonata_twins_agree() {
        let all = scenarios();
        let find = |n: &str| all.iter().find(|s| s.name == n).expect("scenario");
        let a = output(find("choice_pass_jsonpath"));
        assert_eq!(a, json!({"kind": "x", "n": 7, "flag": true, "seen": 5}));
        assert_eq!(output(find("choice_pass_jsonata")), a);
    }
}
