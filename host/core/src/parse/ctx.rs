//! The diagnostic sink shared by the whole parse, and typed access to the fields of one JSON object
//! of the definition (with the AWS wording for wrong types, missing and unsupported fields).

use serde_json::{Map, Value};

use super::{Diagnostic, MachineType, Severity};
use crate::expr::{Expr, JsonPath};
use crate::jsonata::{JsonataExpr, JsonataTemplate, expression_text};
use crate::model::QueryLanguage;

pub(super) const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";

/// Everything the schema pass needs besides the object at hand.
pub(super) struct Ctx<'a> {
    pub diags: Vec<Diagnostic>,
    pub machine_ql: QueryLanguage,
    pub ty: MachineType,
    /// The whole definition: the Map `Label` error quotes it.
    pub root: &'a Value,
}

impl Ctx<'_> {
    pub fn error(&mut self, code: &str, message: impl Into<String>, location: Option<String>) {
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            code: code.to_string(),
            message: message.into(),
            location,
            create_message: None,
        });
    }

    pub fn schema(&mut self, message: impl Into<String>, location: impl Into<String>) {
        self.error(SCHEMA, message, Some(location.into()));
    }
}

/// JSONata expressions are strings wrapped in `{% %}`.
pub(super) fn is_jsonata_expr(v: &Value) -> bool {
    v.as_str().and_then(expression_text).is_some()
}

/// A JSONata field's value as a template. An expression that does not parse is reported as AWS
/// does: `INVALID_JSONATA_EXPRESSION`, the parser's message, at its place inside the field.
pub(super) fn jsonata_template(ctx: &mut Ctx<'_>, v: &Value, loc: &str) -> Option<JsonataTemplate> {
    match JsonataTemplate::parse(v) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(
                "INVALID_JSONATA_EXPRESSION",
                e.message,
                Some(format!("{loc}{}", e.at)),
            );
            None
        }
    }
}

/// A `{% %}` string as one expression (callers check [`is_jsonata_expr`] first).
pub(super) fn jsonata_expr(ctx: &mut Ctx<'_>, v: &Value, loc: &str) -> Option<JsonataExpr> {
    jsonata_template(ctx, v, loc).and_then(|t| t.as_expr().cloned())
}

/// One JSON object of the definition, with its location (`""` is the root, shown as `/`).
#[derive(Clone)]
pub(super) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub loc: String,
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, loc: impl Into<String>) -> Self {
        Obj {
            map,
            loc: loc.into(),
        }
    }

    /// Where diagnostics about the object itself point.
    pub fn at(&self) -> String {
        if self.loc.is_empty() {
            "/".to_string()
        } else {
            self.loc.clone()
        }
    }

    pub fn field_loc(&self, name: &str) -> String {
        format!("{}/{}", self.loc, name)
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Every field not in `allowed` is reported, in document order, at the object.
    pub fn allow(&self, ctx: &mut Ctx<'_>, allowed: &[&str]) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                ctx.schema(format!("Field '{key}' is not supported"), self.at());
            }
        }
    }

    /// Reports the missing ones among `names` in one diagnostic; true when all are present.
    pub fn require(&self, ctx: &mut Ctx<'_>, names: &[&str]) -> bool {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.has(n)).collect();
        if missing.is_empty() {
            return true;
        }
        ctx.schema(
            format!("These fields are required: [{}]", missing.join(", ")),
            self.at(),
        );
        false
    }

    fn wrong_type(&self, ctx: &mut Ctx<'_>, name: &str, expected: &str) {
        ctx.schema(
            format!("Expected value of type {expected}"),
            self.field_loc(name),
        );
    }

    pub fn string(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => {
                self.wrong_type(ctx, name, "String");
                None
            }
        }
    }

    pub fn boolean(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(ctx, name, "Boolean");
                None
            }
        }
    }

    pub fn object(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<Obj<'a>> {
        match self.get(name)? {
            Value::Object(m) => Some(Obj::new(m, self.field_loc(name))),
            _ => {
                self.wrong_type(ctx, name, "Object");
                None
            }
        }
    }

    pub fn array(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<&'a Vec<Value>> {
        match self.get(name)? {
            Value::Array(a) => Some(a),
            _ => {
                self.wrong_type(ctx, name, "Array");
                None
            }
        }
    }

    /// A whole number in `[min, max]`.
    pub fn integer(&self, ctx: &mut Ctx<'_>, name: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.get(name)?;
        let Some(n) = as_integer(v) else {
            self.wrong_type(ctx, name, "Integer");
            return None;
        };
        if n < min as i128 {
            ctx.schema(
                format!("Value must be greater than or equal to {min}"),
                self.field_loc(name),
            );
            return None;
        }
        if n > max as i128 {
            ctx.schema(
                format!("Value must be less than or equal to {max}"),
                self.field_loc(name),
            );
            return None;
        }
        Some(n as u64)
    }

    /// Any number in `[min, max]`.
    pub fn number(&self, ctx: &mut Ctx<'_>, name: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(name)?;
        let Some(n) = v.as_f64() else {
            self.wrong_type(ctx, name, "Number");
            return None;
        };
        if n < min {
            ctx.schema(
                format!("Value must be greater than or equal to {}", fmt_num(min)),
                self.field_loc(name),
            );
            return None;
        }
        if n > max {
            ctx.schema(
                format!("Value must be less than or equal to {}", fmt_num(max)),
                self.field_loc(name),
            );
            return None;
        }
        Some(n)
    }

    /// A JSONPath field; `Some(None)` for JSON `null` when `nullable`.
    pub fn path(&self, ctx: &mut Ctx<'_>, name: &str, nullable: bool) -> Option<Option<JsonPath>> {
        let v = self.get(name)?;
        match v {
            Value::Null if nullable => Some(None),
            Value::String(s) => match JsonPath::parse(s) {
                Ok(p) => Some(Some(p)),
                Err(_) => {
                    // AWS's wording, recorded for an invalid `OutputPath`.
                    ctx.schema("Value must be a valid JSONPath.", self.field_loc(name));
                    None
                }
            },
            _ => {
                self.wrong_type(ctx, name, "String");
                None
            }
        }
    }

    /// A JSONPath that must be present and not null (`ItemsPath`, `SecondsPath`, ...).
    pub fn required_path(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<JsonPath> {
        self.path(ctx, name, false).flatten()
    }

    /// A path or intrinsic function call (`ErrorPath`, `CausePath`).
    pub fn expr(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<Expr> {
        let s = self.string(ctx, name)?;
        match Expr::parse(s) {
            Ok(e) => Some(e),
            Err(_) => {
                ctx.schema(
                    "Value must be a valid JSONPath or a valid intrinsic function call.",
                    self.field_loc(name),
                );
                None
            }
        }
    }

    /// A string that must be one of `values`.
    pub fn one_of(
        &self,
        ctx: &mut Ctx<'_>,
        name: &str,
        values: &[&'static str],
    ) -> Option<&'static str> {
        let s = self.string(ctx, name)?;
        match values.iter().find(|v| **v == s) {
            Some(v) => Some(v),
            None => {
                ctx.schema(
                    format!("Value must be one of [{}]", values.join(", ")),
                    self.field_loc(name),
                );
                None
            }
        }
    }
}

/// Integers, also written as `3.0` (JSON does not distinguish).
pub(super) fn as_integer(v: &Value) -> Option<i128> {
    if let Some(i) = v.as_i64() {
        return Some(i as i128);
    }
    if let Some(u) = v.as_u64() {
        return Some(u as i128);
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 1e30).then_some(f as i128)
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(root: &Value) -> Ctx<'_> {
        Ctx {
            diags: vec![],
            machine_ql: QueryLanguage::JsonPath,
            ty: MachineType::Standard,
            root,
        }
    }

    #[test]
    fn unsupported_and_required_fields_point_at_the_object() {
        let v = json!({"Type": "Pass", "Foo": 1});
        let root = json!({});
        let mut c = ctx(&root);
        let o = Obj::new(v.as_object().unwrap(), "/States/A");
        o.allow(&mut c, &["Type"]);
        assert!(!o.require(&mut c, &["Type", "Next", "End"]));
        assert_eq!(c.diags[0].message, "Field 'Foo' is not supported");
        assert_eq!(c.diags[0].location.as_deref(), Some("/States/A"));
        assert_eq!(c.diags[1].message, "These fields are required: [Next, End]");
    }

    #[test]
    fn root_object_is_slash() {
        let v = json!({});
        let root = json!({});
        let mut c = ctx(&root);
        let o = Obj::new(v.as_object().unwrap(), "");
        o.require(&mut c, &["States", "StartAt"]);
        assert_eq!(c.diags[0].location.as_deref(), Some("/"));
        assert_eq!(o.field_loc("StartAt"), "/StartAt");
    }

    #[test]
    fn integers_and_ranges() {
        let v = json!({"a": 3.0, "b": 1.5, "c": -1, "d": "x"});
        let root = json!({});
        let mut c = ctx(&root);
        let o = Obj::new(v.as_object().unwrap(), "/X");
        assert_eq!(o.integer(&mut c, "a", 0, 10), Some(3));
        assert_eq!(o.integer(&mut c, "b", 0, 10), None);
        assert_eq!(o.integer(&mut c, "c", 0, 10), None);
        assert_eq!(o.integer(&mut c, "d", 0, 10), None);
        assert_eq!(o.integer(&mut c, "missing", 0, 10), None);
        let msgs: Vec<_> = c.diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "Expected value of type Integer",
                "Value must be greater than or equal to 0",
                "Expected value of type Integer"
            ]
        );
        assert_eq!(c.diags[0].location.as_deref(), Some("/X/b"));
    }

    #[test]
    fn jsonata_expression_shape() {
        assert!(is_jsonata_expr(&json!("{% $x %}")));
        assert!(!is_jsonata_expr(&json!("{%}")));
        assert!(!is_jsonata_expr(&json!("$.x")));
        assert!(!is_jsonata_expr(&json!(1)));
    }
}
