//! AWS `GetExecutionHistory` events as the interpreter emits them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::error::Failure;

/// One history event. `details` is the `<kind>EventDetails` object, under `details_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event_type: &'static str,
    pub details: Option<(&'static str, Value)>,
}

/// Serializes straight to AWS's JSON shape (what the store writes), without building a `Value`.
impl serde::Serialize for HistoryEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(4 + usize::from(self.details.is_some())))?;
        m.serialize_entry(
            "timestamp",
            &self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        )?;
        m.serialize_entry("type", self.event_type)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("previousEventId", &self.previous_event_id)?;
        if let Some((k, v)) = &self.details {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl HistoryEvent {
    /// The AWS JSON shape: `{"timestamp","type","id","previousEventId","<kind>EventDetails"}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "timestamp".into(),
            Value::String(self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        m.insert("type".into(), Value::String(self.event_type.into()));
        m.insert("id".into(), self.id.into());
        m.insert("previousEventId".into(), self.previous_event_id.into());
        if let Some((k, v)) = &self.details {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }
}

/// JSON text of a payload, as AWS puts it in history fields (`input`, `output`, `parameters`).
pub fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn state_entered(name: &str, input: &Value) -> Value {
    json!({"name": name, "input": json_text(input), "inputDetails": {"truncated": false}})
}

/// `assigned`: the variables the state assigned, values as JSON text.
pub fn state_exited(name: &str, output: &Value, assigned: Option<Map<String, Value>>) -> Value {
    let mut d =
        json!({"name": name, "output": json_text(output), "outputDetails": {"truncated": false}});
    if let (Some(vars), Value::Object(m)) = (assigned, &mut d) {
        m.insert("assignedVariables".into(), Value::Object(vars));
        m.insert(
            "assignedVariablesDetails".into(),
            json!({"truncated": false}),
        );
    }
    d
}

/// `{"error","cause"}` details; empty or absent fields are left out, as AWS does.
pub fn failure_details(f: &Failure) -> Value {
    let mut m = Map::new();
    if !f.error.is_empty() {
        m.insert("error".into(), Value::String(f.error.clone()));
    }
    if let Some(c) = f.cause.as_deref().filter(|c| !c.is_empty()) {
        m.insert("cause".into(), Value::String(c.into()));
    }
    Value::Object(m)
}

/// The prefix of the `<kind>StateEntered` / `<kind>StateExited` event types.
pub fn entered_type(type_name: &str) -> &'static str {
    match type_name {
        "Pass" => "PassStateEntered",
        "Task" => "TaskStateEntered",
        "Choice" => "ChoiceStateEntered",
        "Wait" => "WaitStateEntered",
        "Succeed" => "SucceedStateEntered",
        "Fail" => "FailStateEntered",
        "Parallel" => "ParallelStateEntered",
        _ => "MapStateEntered",
    }
}

pub fn exited_type(type_name: &str) -> &'static str {
    match type_name {
        "Pass" => "PassStateExited",
        "Task" => "TaskStateExited",
        "Choice" => "ChoiceStateExited",
        "Wait" => "WaitStateExited",
        "Succeed" => "SucceedStateExited",
        "Parallel" => "ParallelStateExited",
        _ => "MapStateExited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_shape() {
        let e = HistoryEvent {
            id: 2,
            previous_event_id: 0,
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            event_type: "PassStateEntered",
            details: Some((
                "stateEnteredEventDetails",
                state_entered("A", &json!({"x": 1})),
            )),
        };
        let j = e.to_json();
        assert_eq!(j["type"], "PassStateEntered");
        assert_eq!(j["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(j["stateEnteredEventDetails"]["input"], "{\"x\":1}");
        assert_eq!(j["stateEnteredEventDetails"]["name"], "A");
        let text: Value = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(text, j, "direct serialization matches to_json");
    }

    #[test]
    fn empty_fields_are_omitted() {
        assert_eq!(
            failure_details(&Failure::new("E", "")),
            json!({"error": "E"})
        );
        assert_eq!(failure_details(&Failure::bare("")), json!({}));
        assert_eq!(
            failure_details(&Failure::new("E", "c")),
            json!({"error": "E", "cause": "c"})
        );
    }
}
