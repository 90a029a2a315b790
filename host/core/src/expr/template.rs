//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, JSONPath-mode `Assign`):
//! keys ending in `.$` hold a path or intrinsic (evaluated, key stored without `.$`), at any
//! depth of objects and arrays; everything else is literal.

use serde_json::{Map, Value};

use super::{Env, Expr, SyntaxError};
use crate::error::Failure;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A subtree with no `.$` key anywhere: copied as is.
    Lit(Value),
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
    /// `key.$`: `field` is the key as written (AWS names it so in errors).
    Expr {
        expr: Expr,
        field: String,
    },
}

/// A payload template with `.$` keys compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    node: Node,
}

impl Template {
    pub fn parse(raw: &Value) -> Result<Template, SyntaxError> {
        Ok(Template {
            node: compile(raw)?,
        })
    }

    /// True when the template has no `.$` key at all (evaluates to a copy of itself).
    pub fn is_literal(&self) -> bool {
        matches!(self.node, Node::Lit(_))
    }

    pub fn eval(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        eval(&self.node, env)
    }
}

fn compile(v: &Value) -> Result<Node, SyntaxError> {
    match v {
        Value::Object(m) => {
            let mut fields = Vec::with_capacity(m.len());
            let mut dynamic = false;
            for (k, v) in m {
                if let Some(name) = k.strip_suffix(".$") {
                    // AWS's SCHEMA_VALIDATION_FAILED wording; the parser adds the location.
                    let invalid = || SyntaxError {
                        message: format!(
                            "The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call"
                        ),
                    };
                    let Value::String(src) = v else {
                        return Err(invalid());
                    };
                    let expr = Expr::parse(src).map_err(|_| invalid())?;
                    dynamic = true;
                    fields.push((
                        name.to_string(),
                        Node::Expr {
                            expr,
                            field: k.clone(),
                        },
                    ));
                } else {
                    let n = compile(v)?;
                    dynamic |= !matches!(n, Node::Lit(_));
                    fields.push((k.clone(), n));
                }
            }
            Ok(if dynamic {
                Node::Obj(fields)
            } else {
                Node::Lit(v.clone())
            })
        }
        Value::Array(a) => {
            let items = a.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
            Ok(if items.iter().all(|n| matches!(n, Node::Lit(_))) {
                Node::Lit(v.clone())
            } else {
                Node::Arr(items)
            })
        }
        other => Ok(Node::Lit(other.clone())),
    }
}

fn eval(node: &Node, env: &mut Env<'_>) -> Result<Value, Failure> {
    match node {
        Node::Lit(v) => Ok(v.clone()),
        Node::Obj(fields) => {
            let mut m = Map::with_capacity(fields.len());
            for (k, n) in fields {
                m.insert(k.clone(), eval(n, env)?);
            }
            Ok(Value::Object(m))
        }
        Node::Arr(items) => items
            .iter()
            .map(|n| eval(n, env))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Expr { expr, field } => expr.eval(env, field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use serde_json::json;

    fn run(t: Value, input: Value) -> Result<Value, Failure> {
        let ctx = json!({"Execution": {"Id": "arn:x"}});
        let mut rng = Rng::new(9);
        let mut env = Env {
            input: &input,
            context: &ctx,
            vars: &(),
            rng: &mut rng,
        };
        Template::parse(&t).unwrap().eval(&mut env)
    }

    #[test]
    fn literal_templates_are_copied() {
        let t = json!({"a": [1, {"b": "$.x"}], "c": null});
        assert!(Template::parse(&t).unwrap().is_literal());
        assert_eq!(run(t.clone(), json!({})).unwrap(), t);
    }

    #[test]
    fn dollar_keys_at_any_depth() {
        let t = json!({
            "top.$": "$.v",
            "nested": {"ctx.$": "$$.Execution.Id", "lit": 1},
            "list": [{"x.$": "States.Format('<{}>', $.v)"}, 2],
            "all.$": "$"
        });
        assert_eq!(
            run(t, json!({"v": "q"})).unwrap(),
            json!({
                "top": "q",
                "nested": {"ctx": "arn:x", "lit": 1},
                "list": [{"x": "<q>"}, 2],
                "all": {"v": "q"}
            })
        );
    }

    #[test]
    fn missing_path_names_the_field() {
        let e = run(
            json!({"value.$": "$.no_such_jsonpath"}),
            json!({"int-literal": 0}),
        )
        .unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert_eq!(
            e.cause_str(),
            "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'"
        );
    }

    #[test]
    fn bad_dollar_values_are_syntax_errors() {
        assert_eq!(
            Template::parse(&json!({"x": {"a.$": "$$$"}}))
                .unwrap_err()
                .message,
            "The value for the field 'a.$' must be a valid JSONPath or a valid intrinsic function call"
        );
        assert!(Template::parse(&json!({"a.$": 1})).is_err());
        assert!(Template::parse(&json!({"a.$": "nope"})).is_err());
        assert!(Template::parse(&json!({"o": [{"a.$": "States.Bad()"}]})).is_err());
    }
}
