//! Choice states: JSONPath rules (`Variable` plus exactly one of the 39 comparison operators, or
//! `And`/`Or`/`Not`), JSONata rules (`Condition`), the `Next` of top-level rules, and `Default`.

use serde_json::Value;

use super::ctx::{Ctx, Obj, is_jsonata_expr, jsonata_template};
use super::scope::Names;
use super::states::{assign_template, is_rfc3339};
use crate::model::{Choice, ChoiceRule, CompareOp, Condition, Operand, QueryLanguage};

/// What a comparison operator's literal operand must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OperandType {
    String,
    Number,
    Boolean,
    Timestamp,
}

/// `(name, op, operand type, has a …Path variant)`.
const OPERATORS: &[(&str, CompareOp, OperandType, bool)] = {
    use CompareOp::*;
    use OperandType as T;
    &[
        ("StringEquals", StringEquals, T::String, true),
        ("StringLessThan", StringLessThan, T::String, true),
        ("StringGreaterThan", StringGreaterThan, T::String, true),
        (
            "StringLessThanEquals",
            StringLessThanEquals,
            T::String,
            true,
        ),
        (
            "StringGreaterThanEquals",
            StringGreaterThanEquals,
            T::String,
            true,
        ),
        ("StringMatches", StringMatches, T::String, false),
        ("NumericEquals", NumericEquals, T::Number, true),
        ("NumericLessThan", NumericLessThan, T::Number, true),
        ("NumericGreaterThan", NumericGreaterThan, T::Number, true),
        (
            "NumericLessThanEquals",
            NumericLessThanEquals,
            T::Number,
            true,
        ),
        (
            "NumericGreaterThanEquals",
            NumericGreaterThanEquals,
            T::Number,
            true,
        ),
        ("BooleanEquals", BooleanEquals, T::Boolean, true),
        ("TimestampEquals", TimestampEquals, T::Timestamp, true),
        ("TimestampLessThan", TimestampLessThan, T::Timestamp, true),
        (
            "TimestampGreaterThan",
            TimestampGreaterThan,
            T::Timestamp,
            true,
        ),
        (
            "TimestampLessThanEquals",
            TimestampLessThanEquals,
            T::Timestamp,
            true,
        ),
        (
            "TimestampGreaterThanEquals",
            TimestampGreaterThanEquals,
            T::Timestamp,
            true,
        ),
        ("IsNull", IsNull, T::Boolean, false),
        ("IsPresent", IsPresent, T::Boolean, false),
        ("IsNumeric", IsNumeric, T::Boolean, false),
        ("IsString", IsString, T::Boolean, false),
        ("IsBoolean", IsBoolean, T::Boolean, false),
        ("IsTimestamp", IsTimestamp, T::Boolean, false),
    ]
};

/// The operator a key names: `(op, operand type, is the …Path form)`.
fn operator(key: &str) -> Option<(CompareOp, OperandType, bool)> {
    OPERATORS.iter().find_map(|(name, op, t, has_path)| {
        if key == *name {
            Some((*op, *t, false))
        } else if *has_path && key.strip_suffix("Path") == Some(name) {
            Some((*op, *t, true))
        } else {
            None
        }
    })
}

fn is_operator_key(key: &str) -> bool {
    matches!(key, "And" | "Or" | "Not") || operator(key).is_some()
}

pub(super) fn parse_choice(
    ctx: &mut Ctx<'_>,
    o: &Obj<'_>,
    ql: QueryLanguage,
    names: &Names,
) -> Option<Choice> {
    o.require(ctx, &["Choices"]);
    let default = o.string(ctx, "Default").map(|d| names.resolve(d));
    let list = o.array(ctx, "Choices")?;
    let loc = o.field_loc("Choices");
    if list.is_empty() {
        ctx.schema("Choices must contain at least one rule", loc.clone());
        return None;
    }
    let mut choices = Some(Vec::with_capacity(list.len()));
    for (i, v) in list.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let Value::Object(m) = v else {
            ctx.schema("Expected value of type Object", at);
            choices = None;
            continue;
        };
        let rule = top_rule(ctx, &Obj::new(m, at), ql, names);
        match (&mut choices, rule) {
            (Some(c), Some(r)) => c.push(r),
            _ => choices = None,
        }
    }
    Some(Choice {
        choices: choices?,
        default,
    })
}

/// A rule directly under `Choices`: a condition plus `Next` and the rule-level `Assign`/`Output`.
fn top_rule(
    ctx: &mut Ctx<'_>,
    o: &Obj<'_>,
    ql: QueryLanguage,
    names: &Names,
) -> Option<ChoiceRule> {
    let next = o.string(ctx, "Next").map(|n| names.resolve(n));
    match ql {
        QueryLanguage::JsonPath => {
            let condition = jsonpath_rule(ctx, o, true);
            o.require(ctx, &["Next"]);
            let assign = assign_template(ctx, o);
            Some(ChoiceRule {
                condition: condition?,
                next: next?,
                assign,
                jsonata_assign: None,
                jsonata_output: None,
            })
        }
        QueryLanguage::Jsonata => {
            o.allow(ctx, &["Condition", "Next", "Assign", "Output", "Comment"]);
            o.require(ctx, &["Condition", "Next"]);
            o.string(ctx, "Comment");
            let condition = match o.get("Condition") {
                Some(v) if v.is_boolean() || is_jsonata_expr(v) => {
                    jsonata_template(ctx, v, &o.field_loc("Condition")).map(Condition::Jsonata)
                }
                Some(_) => {
                    ctx.schema("Expected value of type Boolean", o.field_loc("Condition"));
                    None
                }
                None => None,
            };
            let jsonata_assign = if o.has("Assign") {
                o.object(ctx, "Assign")?;
                Some(jsonata_template(
                    ctx,
                    o.get("Assign")?,
                    &o.field_loc("Assign"),
                )?)
            } else {
                None
            };
            let jsonata_output = match o.get("Output") {
                Some(v) => Some(jsonata_template(ctx, v, &o.field_loc("Output"))?),
                None => None,
            };
            Some(ChoiceRule {
                condition: condition?,
                next: next?,
                assign: None,
                jsonata_assign,
                jsonata_output,
            })
        }
    }
}

/// A JSONPath rule: `And`/`Or`/`Not`, or `Variable` with exactly one comparison operator.
fn jsonpath_rule(ctx: &mut Ctx<'_>, o: &Obj<'_>, top: bool) -> Option<Condition> {
    for key in o.map.keys() {
        let allowed = is_operator_key(key)
            || matches!(key.as_str(), "Variable" | "Comment")
            || (top && matches!(key.as_str(), "Next" | "Assign"));
        if !allowed {
            ctx.schema(format!("Field '{key}' is not supported"), o.at());
        }
    }
    o.string(ctx, "Comment");
    let ops: Vec<&String> = o.map.keys().filter(|k| is_operator_key(k)).collect();
    match ops.len() {
        0 => {
            ctx.schema("Choice rule has no comparison operator", o.at());
            return None;
        }
        1 => {}
        _ => {
            ctx.schema("Choice rule has more than one comparison operator", o.at());
            return None;
        }
    }
    let key = ops[0].as_str();
    match key {
        "And" | "Or" => {
            let list = o.array(ctx, key)?;
            let loc = o.field_loc(key);
            if list.is_empty() {
                ctx.schema(format!("{key} must contain at least one rule"), loc.clone());
                return None;
            }
            let mut rules = Some(Vec::with_capacity(list.len()));
            for (i, v) in list.iter().enumerate() {
                let at = format!("{loc}[{i}]");
                let rule = match v {
                    Value::Object(m) => jsonpath_rule(ctx, &Obj::new(m, at), false),
                    _ => {
                        ctx.schema("Expected value of type Object", at);
                        None
                    }
                };
                match (&mut rules, rule) {
                    (Some(r), Some(c)) => r.push(c),
                    _ => rules = None,
                }
            }
            let rules = rules?;
            Some(if key == "And" {
                Condition::And(rules)
            } else {
                Condition::Or(rules)
            })
        }
        "Not" => {
            let inner = o.object(ctx, "Not")?;
            jsonpath_rule(ctx, &inner, false).map(|c| Condition::Not(Box::new(c)))
        }
        _ => comparison(ctx, o, key),
    }
}

fn comparison(ctx: &mut Ctx<'_>, o: &Obj<'_>, key: &str) -> Option<Condition> {
    let (op, operand_type, is_path) = operator(key)?;
    o.require(ctx, &["Variable"]);
    let variable = o.required_path(ctx, "Variable");
    let operand = if is_path {
        o.required_path(ctx, key).map(Operand::Path)
    } else {
        literal_operand(ctx, o, key, operand_type).map(Operand::Literal)
    };
    Some(Condition::Compare {
        variable: variable?,
        op,
        operand: operand?,
    })
}

fn literal_operand(ctx: &mut Ctx<'_>, o: &Obj<'_>, key: &str, t: OperandType) -> Option<Value> {
    let v = o.get(key)?;
    let (ok, expected) = match t {
        OperandType::String | OperandType::Timestamp => (v.is_string(), "String"),
        OperandType::Number => (v.is_number(), "Number"),
        OperandType::Boolean => (v.is_boolean(), "Boolean"),
    };
    if !ok {
        ctx.schema(
            format!("Expected value of type {expected}"),
            o.field_loc(key),
        );
        return None;
    }
    if t == OperandType::Timestamp && !v.as_str().is_some_and(is_rfc3339) {
        ctx.schema("String does not match RFC3339 timestamp", o.field_loc(key));
        return None;
    }
    Some(v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_table_has_39_comparisons() {
        let count: usize = OPERATORS
            .iter()
            .map(|(_, _, _, has_path)| if *has_path { 2 } else { 1 })
            .sum();
        assert_eq!(count, 39);
        assert!(matches!(
            operator("NumericLessThanEqualsPath"),
            Some((CompareOp::NumericLessThanEquals, OperandType::Number, true))
        ));
        assert!(operator("StringMatchesPath").is_none());
        assert!(operator("IsNullPath").is_none());
    }
}
