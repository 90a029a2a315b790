//! Choice rules (JSONPath mode): comparisons, type tests, `StringMatches`, And/Or/Not.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::Failure;
use crate::expr::Env;
use crate::model::{CompareOp, Condition, Operand};

/// Evaluates one rule against the state's effective input.
pub fn evaluate(cond: &Condition, env: &mut Env<'_>) -> Result<bool, Failure> {
    match cond {
        Condition::And(all) => {
            for c in all {
                if !evaluate(c, env)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(any) => {
            for c in any {
                if evaluate(c, env)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(c) => Ok(!evaluate(c, env)?),
        Condition::Compare {
            variable,
            op,
            operand,
        } => {
            let value = variable.select_borrowed(env).ok();
            if *op == CompareOp::IsPresent {
                let want = operand_bool(operand);
                return Ok(value.is_some() == want);
            }
            let Some(value) = value else {
                return Err(invalid_condition_path(variable.as_str()));
            };
            let rhs = match operand {
                Operand::Literal(v) => Cow::Borrowed(v),
                Operand::Path(p) => p
                    .select_borrowed(env)
                    .map_err(|_| invalid_condition_path(p.as_str()))?,
            };
            Ok(compare(*op, &value, &rhs))
        }
        Condition::Jsonata(_) => Err(Failure::new(
            crate::error::names::QUERY_EVALUATION_ERROR,
            "JSONata Choice conditions are not supported yet",
        )),
    }
}

fn invalid_condition_path(path: &str) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value."
    ))
}

fn operand_bool(op: &Operand) -> bool {
    matches!(op, Operand::Literal(Value::Bool(true)))
}

/// A comparison of `value` (the Variable) with `rhs`; type mismatches are simply false, as AWS.
pub fn compare(op: CompareOp, value: &Value, rhs: &Value) -> bool {
    use CompareOp::*;
    match op {
        IsNull => value.is_null() == rhs.as_bool().unwrap_or(false),
        IsPresent => rhs.as_bool().unwrap_or(false),
        IsNumeric => value.is_number() == rhs.as_bool().unwrap_or(false),
        IsString => value.is_string() == rhs.as_bool().unwrap_or(false),
        IsBoolean => value.is_boolean() == rhs.as_bool().unwrap_or(false),
        IsTimestamp => {
            value.as_str().and_then(parse_timestamp).is_some() == rhs.as_bool().unwrap_or(false)
        }
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals => match (value.as_str(), rhs.as_str()) {
            (Some(a), Some(b)) => ordering_matches(op, a.cmp(b)),
            _ => false,
        },
        StringMatches => match (value.as_str(), rhs.as_str()) {
            (Some(a), Some(p)) => string_matches(a, p),
            _ => false,
        },
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => match (value.as_f64(), rhs.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ordering_matches(op, o)),
            _ => false,
        },
        BooleanEquals => match (value.as_bool(), rhs.as_bool()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => {
            match (
                value.as_str().and_then(parse_timestamp),
                rhs.as_str().and_then(parse_timestamp),
            ) {
                (Some(a), Some(b)) => ordering_matches(op, a.cmp(&b)),
                _ => false,
            }
        }
    }
}

fn ordering_matches(op: CompareOp, o: Ordering) -> bool {
    use CompareOp::*;
    match op {
        StringEquals | NumericEquals | TimestampEquals => o == Ordering::Equal,
        StringLessThan | NumericLessThan | TimestampLessThan => o == Ordering::Less,
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => o == Ordering::Greater,
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => {
            o != Ordering::Greater
        }
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => {
            o != Ordering::Less
        }
        _ => false,
    }
}

/// RFC 3339 with a mandatory `T` and offset, as AWS requires.
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Ch(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(n) => toks.push(Tok::Ch(n)),
                None => toks.push(Tok::Ch('\\')),
            },
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Ch(c)),
        }
    }
    let chars: Vec<char> = s.chars().collect();
    // Greedy matching with backtracking to the last star: linear in practice.
    let (mut si, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < chars.len() {
        if ti < toks.len() {
            match toks[ti] {
                Tok::Star => {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Tok::Ch(c) if c == chars[si] => {
                    si += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((st, ss)) => {
                ti = st + 1;
                si = ss + 1;
                star = Some((st, ss + 1));
            }
            None => return false,
        }
    }
    toks[ti..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcard_matching() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("anything", "*"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("log.txt", "log-*.txt"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("abcbc", "a*bc"));
        assert!(string_matches("a\\b", "a\\\\b"));
    }

    #[test]
    fn comparisons() {
        use CompareOp::*;
        assert!(compare(NumericEquals, &json!(1), &json!(1.0)));
        assert!(compare(NumericLessThan, &json!(1), &json!(2)));
        assert!(!compare(NumericLessThan, &json!("1"), &json!(2)));
        assert!(compare(StringGreaterThanEquals, &json!("b"), &json!("a")));
        assert!(compare(BooleanEquals, &json!(false), &json!(false)));
        assert!(compare(IsNull, &json!(null), &json!(true)));
        assert!(compare(IsNull, &json!(1), &json!(false)));
        assert!(compare(
            IsTimestamp,
            &json!("2016-03-14T01:59:00Z"),
            &json!(true)
        ));
        assert!(!compare(
            IsTimestamp,
            &json!("2016-03-14 01:59:00Z"),
            &json!(true)
        ));
        assert!(compare(
            TimestampLessThan,
            &json!("2016-03-14T01:59:00Z"),
            &json!("2016-03-14T02:00:00+00:00")
        ));
        assert!(compare(
            TimestampEquals,
            &json!("2016-03-14T01:00:00Z"),
            &json!("2016-03-14T02:00:00+01:00")
        ));
    }
}
