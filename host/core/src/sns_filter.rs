//! SNS subscription filter policies: which published messages a subscription receives, by the
//! message's attributes (`FilterPolicyScope` `MessageAttributes`, the default) or its JSON body
//! (`MessageBody`). Keys are AND-ed, a key's conditions OR-ed, `$or` splits a policy; the
//! conditions are exact strings and numbers, `prefix`, `suffix`, `equals-ignore-case`,
//! `anything-but`, `numeric` ranges and `exists`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Checks a `FilterPolicy` attribute value; the error says what is wrong, as SNS would.
pub fn validate(policy: &str) -> Result<(), String> {
    let v: Value =
        serde_json::from_str(policy).map_err(|e| format!("failed to parse JSON: {e}"))?;
    let Value::Object(m) = &v else {
        return Err("Filter policy must be a JSON object".into());
    };
    if m.is_empty() {
        return Err("Filter policy must have at least one key".into());
    }
    check_object(m)
}

fn check_object(m: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in m {
        match (k.as_str(), v) {
            ("$or", Value::Array(alts)) if alts.len() >= 2 => {
                for a in alts {
                    match a {
                        Value::Object(o) => check_object(o)?,
                        _ => return Err("$or must list objects".into()),
                    }
                }
            }
            ("$or", _) => return Err("$or must list at least two objects".into()),
            (_, Value::Object(o)) => check_object(o)?,
            (_, Value::Array(conds)) if !conds.is_empty() => {
                for c in conds {
                    check_condition(k, c)?;
                }
            }
            _ => return Err(format!("\"{k}\" must be an object or an array")),
        }
    }
    Ok(())
}

fn check_condition(key: &str, c: &Value) -> Result<(), String> {
    let Value::Object(op) = c else {
        return match c {
            Value::String(_) | Value::Number(_) | Value::Null | Value::Bool(_) => Ok(()),
            _ => Err(format!("\"{key}\": a condition is a value or an object")),
        };
    };
    let [(name, arg)] = op.iter().collect::<Vec<_>>()[..] else {
        return Err(format!("\"{key}\": a condition object has one operator"));
    };
    let ok = match name.as_str() {
        "prefix" | "suffix" | "equals-ignore-case" => arg.is_string(),
        "exists" => arg.is_boolean(),
        "anything-but" => match arg {
            Value::Object(inner) => {
                inner.len() == 1 && inner.get("prefix").is_some_and(Value::is_string)
            }
            Value::Array(vs) => vs.iter().all(|v| v.is_string() || v.is_number()),
            v => v.is_string() || v.is_number(),
        },
        "numeric" => numeric_range(arg).is_some(),
        other => return Err(format!("\"{key}\": Unrecognized match type {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("\"{key}\": bad argument to {name}"))
    }
}

/// `["<", 5]`, `[">=", 0, "<", 10]`, `["=", 3]` as (lower, upper) bounds with inclusivity.
type Bound = Option<(f64, bool)>;

fn numeric_range(arg: &Value) -> Option<(Bound, Bound, Option<f64>)> {
    let items = arg.as_array()?;
    let (mut lo, mut hi, mut eq) = (None, None, None);
    for pair in items.chunks(2) {
        let [op, n] = pair else { return None };
        let n = n.as_f64()?;
        match op.as_str()? {
            "=" => eq = Some(n),
            ">" => lo = Some((n, false)),
            ">=" => lo = Some((n, true)),
            "<" => hi = Some((n, false)),
            "<=" => hi = Some((n, true)),
            _ => return None,
        }
    }
    (eq.is_some() || lo.is_some() || hi.is_some()).then_some((lo, hi, eq))
}

/// Whether a subscription with these attributes receives a message with these
/// `MessageAttributes` (`{name: {DataType, StringValue}}`) and body. No policy: every message.
pub fn accepts(
    subscription: &BTreeMap<String, String>,
    message_attributes: &Value,
    body: &str,
) -> bool {
    let Some(policy) = subscription
        .get("FilterPolicy")
        .filter(|p| !p.trim().is_empty())
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return true;
    };
    let Value::Object(policy) = policy else {
        return true;
    };
    if subscription.get("FilterPolicyScope").map(String::as_str) == Some("MessageBody") {
        let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        return object_matches(&policy, &doc);
    }
    // Attributes as the values a policy compares: numbers, strings, or arrays of either.
    let mut doc = Map::new();
    if let Value::Object(attrs) = message_attributes {
        for (name, a) in attrs {
            let ty = a
                .get("DataType")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let Some(s) = a.get("StringValue").and_then(Value::as_str) else {
                continue;
            };
            let v = if ty.starts_with("Number") {
                s.parse::<f64>().map_or(Value::Null, Value::from)
            } else if ty == "String.Array" {
                serde_json::from_str(s).unwrap_or(Value::Null)
            } else {
                Value::String(s.to_string())
            };
            doc.insert(name.clone(), v);
        }
    }
    object_matches(&policy, &doc)
}

fn object_matches(policy: &Map<String, Value>, doc: &Map<String, Value>) -> bool {
    policy.iter().all(|(k, p)| match (k.as_str(), p) {
        ("$or", Value::Array(alts)) => alts
            .iter()
            .any(|a| a.as_object().is_some_and(|o| object_matches(o, doc))),
        (_, Value::Object(inner)) => match doc.get(k) {
            Some(Value::Object(sub)) => object_matches(inner, sub),
            _ => false,
        },
        (_, Value::Array(conds)) => conds.iter().any(|c| condition_matches(c, doc.get(k))),
        _ => false,
    })
}

fn condition_matches(c: &Value, v: Option<&Value>) -> bool {
    if let Some(Value::Object(op)) = Some(c)
        && let Some(exists) = op.get("exists").and_then(Value::as_bool)
    {
        return exists == v.is_some();
    }
    match v {
        None => false,
        // An array matches when any element does.
        Some(Value::Array(items)) => items.iter().any(|i| one(c, i)),
        Some(v) => one(c, v),
    }
}

fn one(c: &Value, v: &Value) -> bool {
    let num = v.as_f64();
    match c {
        Value::String(s) => v.as_str() == Some(s),
        Value::Number(n) => num.is_some() && num == n.as_f64(),
        Value::Null => v.is_null(),
        Value::Bool(b) => v.as_bool() == Some(*b),
        Value::Object(op) => {
            let Some((name, arg)) = op.iter().next() else {
                return false;
            };
            let text = v.as_str();
            match name.as_str() {
                "prefix" => text
                    .zip(arg.as_str())
                    .is_some_and(|(t, p)| t.starts_with(p)),
                "suffix" => text.zip(arg.as_str()).is_some_and(|(t, p)| t.ends_with(p)),
                "equals-ignore-case" => text
                    .zip(arg.as_str())
                    .is_some_and(|(t, p)| t.eq_ignore_ascii_case(p)),
                "anything-but" => match arg {
                    Value::Object(inner) => {
                        let p = inner.get("prefix").and_then(Value::as_str);
                        text.zip(p).is_some_and(|(t, p)| !t.starts_with(p))
                    }
                    Value::Array(vs) => !vs.iter().any(|x| one(x, v)),
                    x => !one(x, v),
                },
                "numeric" => match (numeric_range(arg), num) {
                    (Some((lo, hi, eq)), Some(n)) => {
                        eq.is_none_or(|e| n == e)
                            && lo.is_none_or(|(l, inc)| if inc { n >= l } else { n > l })
                            && hi.is_none_or(|(h, inc)| if inc { n <= h } else { n < h })
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        Value::Array(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sub(policy: Value, scope: Option<&str>) -> BTreeMap<String, String> {
        let mut m = BTreeMap::from([("FilterPolicy".to_string(), policy.to_string())]);
        if let Some(s) = scope {
            m.insert("FilterPolicyScope".into(), s.into());
        }
        m
    }

    fn attrs(pairs: &[(&str, &str, &str)]) -> Value {
        let mut m = Map::new();
        for (name, ty, v) in pairs {
            m.insert(name.to_string(), json!({"DataType": ty, "StringValue": v}));
        }
        Value::Object(m)
    }

    #[test]
    fn attribute_policies_match_as_sns_does() {
        let s = sub(
            json!({"store": ["example_corp"], "price": [{"numeric": [">=", 100, "<", 200]}],
                   "event": [{"anything-but": ["cancelled", "refunded"]}]}),
            None,
        );
        let msg = |store, price, event| {
            attrs(&[
                ("store", "String", store),
                ("price", "Number", price),
                ("event", "String", event),
            ])
        };
        assert!(accepts(&s, &msg("example_corp", "150", "order_placed"), ""));
        assert!(
            !accepts(&s, &msg("example_corp", "250", "order_placed"), ""),
            "price"
        );
        assert!(
            !accepts(&s, &msg("other", "150", "order_placed"), ""),
            "store"
        );
        assert!(
            !accepts(&s, &msg("example_corp", "150", "cancelled"), ""),
            "anything-but"
        );
        assert!(
            !accepts(&s, &attrs(&[("store", "String", "example_corp")]), ""),
            "missing keys"
        );
        assert!(
            accepts(&BTreeMap::new(), &Value::Null, ""),
            "no policy, every message"
        );

        let arrays = sub(
            json!({"colors": ["red"], "region": [{"prefix": "eu-"}]}),
            None,
        );
        let m = attrs(&[
            ("colors", "String.Array", r#"["blue","red"]"#),
            ("region", "String", "eu-west-1"),
        ]);
        assert!(accepts(&arrays, &m, ""));
        let exists = sub(
            json!({"trace": [{"exists": false}], "kind": [{"equals-ignore-case": "ORDER"}]}),
            None,
        );
        assert!(accepts(&exists, &attrs(&[("kind", "String", "order")]), ""));
        assert!(!accepts(
            &exists,
            &attrs(&[("kind", "String", "order"), ("trace", "String", "x")]),
            ""
        ));
        let or = sub(
            json!({"$or": [{"a": ["1"]}, {"b": [{"suffix": ".png"}]}]}),
            None,
        );
        assert!(accepts(&or, &attrs(&[("b", "String", "cat.png")]), ""));
        assert!(!accepts(&or, &attrs(&[("b", "String", "cat.jpg")]), ""));
    }

    #[test]
    fn body_policies_match_nested_keys() {
        let s = sub(
            json!({"order": {"status": ["shipped"], "total": [{"numeric": [">", 10]}]}}),
            Some("MessageBody"),
        );
        assert!(accepts(
            &s,
            &Value::Null,
            r#"{"order":{"status":"shipped","total":12}}"#
        ));
        assert!(!accepts(
            &s,
            &Value::Null,
            r#"{"order":{"status":"shipped","total":9}}"#
        ));
        assert!(!accepts(&s, &Value::Null, "not json"));
    }

    #[test]
    fn bad_policies_are_refused_with_a_reason() {
        assert!(validate(r#"{"a": ["x", {"prefix": "y"}, {"numeric": ["<", 3]}]}"#).is_ok());
        for (bad, says) in [
            ("[]", "JSON object"),
            ("{}", "at least one key"),
            (r#"{"a": "x"}"#, "object or an array"),
            (
                r#"{"a": [{"wildcard": "x*"}]}"#,
                "Unrecognized match type wildcard",
            ),
            (r#"{"a": [{"numeric": ["~", 3]}]}"#, "numeric"),
            (r#"{"$or": [{"a": ["x"]}]}"#, "at least two"),
            ("{", "parse"),
        ] {
            let e = validate(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
