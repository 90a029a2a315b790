//! serde_json values to and from `jsonata-core`'s `JValue`, with AWS's rules for what JSON cannot
//! hold: non-finite numbers become the strings JavaScript names them by, functions become `""`.

use indexmap::IndexMap;
use jsonata_core::value::{JArray, JValue};
use serde_json::{Map, Number, Value};

/// By reference: the state data stays in the execution, the copy goes to the evaluator.
pub fn to_jvalue(v: &Value) -> JValue {
    match v {
        Value::Null => JValue::Null,
        Value::Bool(b) => JValue::Bool(*b),
        Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JValue::from(s.as_str()),
        Value::Array(a) => {
            // Items known to hold no array let path steps skip a flattening scan.
            let flat = !a.iter().any(Value::is_array);
            JValue::Array(JArray::new_flat(a.iter().map(to_jvalue).collect(), flat))
        }
        Value::Object(o) => JValue::object(
            o.iter()
                .map(|(k, x)| (k.clone(), to_jvalue(x)))
                .collect::<IndexMap<String, JValue>>(),
        ),
    }
}

/// `None` for `undefined`. Inside arrays and objects an `undefined` is left out, as JSON.stringify
/// does.
pub fn from_jvalue(v: &JValue) -> Option<Value> {
    Some(match v {
        JValue::Undefined => return None,
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number(*n),
        JValue::String(s) => Value::String(s.to_string()),
        JValue::Array(a) => Value::Array(a.iter().filter_map(from_jvalue).collect()),
        JValue::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o.iter() {
                if let Some(x) = from_jvalue(x) {
                    m.insert(k.clone(), x);
                }
            }
            Value::Object(m)
        }
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => {
            Value::String(String::new())
        }
    })
}

/// Whole numbers print without a fraction (`3`, not `3.0`), as JSONata and AWS print them.
pub fn number(n: f64) -> Value {
    if n.is_nan() {
        Value::String("NaN".into())
    } else if n.is_infinite() {
        Value::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if n.fract() == 0.0 && n.abs() < 9.2e18 {
        Value::Number((n as i64).into())
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// JSONata's `$type` name of a value, as AWS's type errors print it.
pub fn type_name(v: &JValue) -> &'static str {
    match v {
        JValue::Undefined => "undefined",
        JValue::Null => "null",
        JValue::Bool(_) => "boolean",
        JValue::Number(_) => "number",
        JValue::String(_) => "string",
        JValue::Array(_) => "array",
        JValue::Object(_) => "object",
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => "function",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_order_and_numbers() {
        let v = json!({"z": 1, "a": [0.1, 2, {"k": null}], "s": "é", "t": true});
        assert_eq!(from_jvalue(&to_jvalue(&v)), Some(v));
    }

    #[test]
    fn non_finite_numbers_are_strings() {
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(3.0), json!(3));
        assert_eq!(number(1e20), json!(1e20));
    }

    #[test]
    fn undefined_is_dropped_inside_containers() {
        let a = JValue::array(vec![JValue::from(1i64), JValue::Undefined]);
        assert_eq!(from_jvalue(&a), Some(json!([1])));
        assert_eq!(from_jvalue(&JValue::Undefined), None);
    }
}
