//! JSONata, the second query language of ASL, on top of `jsonata-core`.
//!
//! Expressions are parsed once, when the definition is parsed, into [`JsonataExpr`] (an
//! `Arc`-shared AST, `Send + Sync`, kept in the model); JSON templates with `{% %}` strings
//! anywhere inside become [`JsonataTemplate`]s. At run time an [`Evaluation`] holds what the
//! expressions of one state see: `$states` (`input`, `result`, `errorOutput`, `context`) and the
//! workflow variables, converted to the crate's `JValue` once per state and shared by all of the
//! state's expressions (`JValue` is `Rc`-based and `!Send`, so it never outlives the call).
//! Every evaluation runs under [`Limits`]: a hostile expression fails with
//! `States.QueryEvaluationError` instead of hanging or exhausting the stack.

mod functions;
mod value;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::JValue;
use serde_json::{Map, Value};

use crate::error::{Failure, names};
use crate::expr::Vars;
use crate::expr::render::json_text;
use crate::rng::Rng;
pub use value::{from_jvalue, to_jvalue, type_name};

/// Bounds on one evaluation. Configurable per machine (`StateMachine::jsonata_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Wall-clock budget of one expression (JSONata error D1012 past it).
    pub timeout_ms: u64,
    /// Evaluation nesting depth (D1011 past it); deep recursion fails instead of overflowing.
    pub max_depth: usize,
    /// Longest sequence a path, `$map` or `$range` may build (D2015/D2014 past it).
    pub max_sequence: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Five seconds is what AWS allows an expression; the depth is far above what real
        // definitions nest and far below what exhausts memory.
        Limits {
            timeout_ms: 5_000,
            max_depth: 1_000,
            max_sequence: 1_000_000,
        }
    }
}

/// One `{% … %}` expression, parsed. Compares by its text.
#[derive(Clone)]
pub struct JsonataExpr {
    /// The text between `{%` and `%}`, trimmed: what AWS quotes in its messages.
    source: Arc<str>,
    ast: Arc<AstNode>,
    /// `$name`s the text mentions: the only variables it can read (JSONata has no dynamic
    /// variable lookup and `$eval` is disabled), so only these are converted and bound.
    variables: Arc<[String]>,
    /// Whether it may read `$states.context` (conservative: any `$states` not followed by
    /// `.input`, `.result` or `.errorOutput`). The context object is built only then.
    reads_context: bool,
}

// The model is shared between threads (the durable engine runs executions in tasks).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JsonataExpr>();
    send_sync::<JsonataTemplate>();
};

impl std::fmt::Debug for JsonataExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{% {} %}}", self.source)
    }
}

impl PartialEq for JsonataExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The expression inside a `{% … %}` string, or `None` when the string is not one.
pub fn expression_text(s: &str) -> Option<&str> {
    (s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")).then(|| &s[2..s.len() - 2])
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl JsonataExpr {
    /// Parses the text between `{%` and `%}`. The error is the parser's message.
    pub fn parse(inner: &str) -> Result<JsonataExpr, String> {
        let source = inner.trim();
        let ast = jsonata_core::parser::parse(source).map_err(|e| e.to_string())?;
        let mut variables: Vec<String> = Vec::new();
        let mut reads_context = false;
        let mut rest = source;
        while let Some(i) = rest.find('$') {
            let after = &rest[i + 1..];
            let name_len = after
                .char_indices()
                .find(|(_, c)| !is_name_char(*c))
                .map_or(after.len(), |(j, _)| j);
            let name = &after[..name_len];
            let tail = &after[name_len..];
            if name == "states" {
                let known = [".input", ".result", ".errorOutput"].iter().any(|f| {
                    tail.strip_prefix(f)
                        .is_some_and(|t| !t.starts_with(is_name_char))
                });
                reads_context |= !known;
            } else if !name.is_empty() && !variables.iter().any(|v| v == name) {
                variables.push(name.to_string());
            }
            rest = tail;
        }
        Ok(JsonataExpr {
            source: source.into(),
            ast: Arc::new(ast),
            variables: variables.into(),
            reads_context,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A JSON value whose strings may be `{% %}` expressions, at any depth (`Output`, `Arguments`,
/// `Assign`, `Items`, `ItemSelector`, Choice `Condition` ...). Constant parts stay JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonataTemplate {
    /// No expression inside: used as is.
    Literal(Value),
    Expr(JsonataExpr),
    Array(Vec<JsonataTemplate>),
    Object(Vec<(String, JsonataTemplate)>),
}

/// An expression that does not parse, with where it is below the field (`/a/b[0]`, `""` at the
/// field itself) and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub at: String,
    pub message: String,
}

impl JsonataTemplate {
    pub fn parse(v: &Value) -> Result<JsonataTemplate, TemplateError> {
        Self::parse_at(v, "")
    }

    fn parse_at(v: &Value, at: &str) -> Result<JsonataTemplate, TemplateError> {
        if !has_expression(v) {
            return Ok(JsonataTemplate::Literal(v.clone()));
        }
        Ok(match v {
            Value::String(s) => {
                let inner = expression_text(s).unwrap_or_default();
                JsonataTemplate::Expr(JsonataExpr::parse(inner).map_err(|message| {
                    TemplateError {
                        at: at.to_string(),
                        message,
                    }
                })?)
            }
            Value::Array(a) => JsonataTemplate::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| Self::parse_at(x, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => JsonataTemplate::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), Self::parse_at(x, &format!("{at}/{k}"))?)))
                    .collect::<Result<_, _>>()?,
            ),
            _ => JsonataTemplate::Literal(v.clone()),
        })
    }

    /// The expression when the whole field is one.
    pub fn as_expr(&self) -> Option<&JsonataExpr> {
        match self {
            JsonataTemplate::Expr(e) => Some(e),
            _ => None,
        }
    }

    /// Whether any expression in it may read `$states.context`.
    fn reads_context(&self) -> bool {
        match self {
            JsonataTemplate::Literal(_) => false,
            JsonataTemplate::Expr(e) => e.reads_context,
            JsonataTemplate::Array(a) => a.iter().any(Self::reads_context),
            JsonataTemplate::Object(o) => o.iter().any(|(_, t)| t.reads_context()),
        }
    }
}

fn has_expression(v: &Value) -> bool {
    match v {
        Value::String(s) => expression_text(s).is_some(),
        Value::Array(a) => a.iter().any(has_expression),
        Value::Object(o) => o.values().any(has_expression),
        _ => false,
    }
}

/// A failed evaluation: the cause AWS reports and the field it names (`Output/a`, `Items`);
/// `location` is `None` for checks that are not about one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub location: Option<String>,
    pub cause: String,
}

impl QueryError {
    pub fn new(location: &str, cause: impl Into<String>) -> Self {
        QueryError {
            location: Some(location.to_string()),
            cause: cause.into(),
        }
    }

    /// As a `States.QueryEvaluationError` failure (without the state prefix).
    pub fn failure(&self) -> Failure {
        Failure::new(names::QUERY_EVALUATION_ERROR, self.cause.clone())
    }
}

/// What the expressions of one state can read. `result` is set after a Task/Parallel/Map
/// produced one, `error_output` in a Catcher.
pub struct Env<'a> {
    pub input: &'a Value,
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
    pub context: &'a dyn Fn() -> Value,
    pub vars: &'a dyn Vars,
    pub rng: &'a mut Rng,
    pub now: DateTime<Utc>,
    pub limits: Limits,
}

/// Evaluates the expressions of one state, converting `$states` and each variable at most once.
pub struct Evaluation<'a> {
    env: Env<'a>,
    /// The execution's Rng while the functions draw on it; put back on drop.
    rng: Rc<RefCell<Rng>>,
    states: Option<JValue>,
    states_with_context: Option<JValue>,
    vars: HashMap<String, Option<JValue>>,
    /// Evaluators already set up, by what they bind (`$states` with or without the context, and
    /// the variables): the expressions of a state mostly bind the same, and setting one up
    /// costs more than a typical evaluation.
    evaluators: Vec<(bool, Arc<[String]>, Evaluator)>,
}

impl Drop for Evaluation<'_> {
    fn drop(&mut self) {
        self.evaluators.clear();
        *self.env.rng = self.rng.borrow().clone();
    }
}

impl<'a> Evaluation<'a> {
    pub fn new(env: Env<'a>) -> Self {
        let rng = Rc::new(RefCell::new(env.rng.clone()));
        Evaluation {
            env,
            rng,
            states: None,
            states_with_context: None,
            vars: HashMap::new(),
            evaluators: Vec::new(),
        }
    }

    fn host(&self) -> functions::Host {
        functions::Host {
            rng: self.rng.clone(),
            now: self.env.now,
            max_range: self.env.limits.max_sequence,
        }
    }

    fn states(&mut self, with_context: bool) -> JValue {
        let slot = if with_context {
            &mut self.states_with_context
        } else {
            &mut self.states
        };
        if let Some(s) = slot {
            return s.clone();
        }
        // `input` is shared between the two variants: converting it is the expensive part.
        let input = self
            .states
            .as_ref()
            .or(self.states_with_context.as_ref())
            .and_then(|s| s.get("input").cloned())
            .unwrap_or_else(|| to_jvalue(self.env.input));
        let mut m = indexmap::IndexMap::new();
        m.insert("input".to_string(), input);
        if let Some(r) = self.env.result {
            m.insert("result".to_string(), to_jvalue(r));
        }
        if let Some(e) = self.env.error_output {
            m.insert("errorOutput".to_string(), to_jvalue(e));
        }
        if with_context {
            m.insert("context".to_string(), to_jvalue(&(self.env.context)()));
        }
        let v = JValue::object(m);
        if with_context {
            self.states_with_context = Some(v.clone());
        } else {
            self.states = Some(v.clone());
        }
        v
    }

    /// Runs one expression; `Ok(None)` when it returns nothing (`undefined`).
    pub fn eval(&mut self, e: &JsonataExpr, location: &str) -> Result<JValue, QueryError> {
        let fail =
            |err: EvaluatorError| QueryError::new(location, evaluation_failed(e, location, &err));
        let known = self
            .evaluators
            .iter()
            .position(|(c, v, _)| *c == e.reads_context && **v == *e.variables);
        let i = match known {
            Some(i) => i,
            None => {
                let mut ctx = Context::new();
                ctx.bind("states".to_string(), self.states(e.reads_context));
                for name in e.variables.iter() {
                    let vars = self.env.vars;
                    let v = self
                        .vars
                        .entry(name.clone())
                        .or_insert_with(|| vars.get(name).map(to_jvalue));
                    if let Some(v) = v {
                        ctx.bind(name.clone(), v.clone());
                    }
                }
                let ev = new_evaluator(ctx, self.env.limits, &self.host()).map_err(fail)?;
                self.evaluators
                    .push((e.reads_context, e.variables.clone(), ev));
                self.evaluators.len() - 1
            }
        };
        // Each `evaluate` runs in a scope of its own: nothing one expression binds leaks into
        // the next.
        self.evaluators[i]
            .2
            .evaluate(&e.ast, &JValue::Undefined)
            .map_err(fail)
    }

    /// Runs one expression that must produce a value.
    pub fn value(&mut self, e: &JsonataExpr, location: &str) -> Result<JValue, QueryError> {
        let v = self.eval(e, location)?;
        if v.is_undefined() {
            return Err(QueryError::new(
                location,
                format!(
                    "The JSONata expression '{}' specified for the field '{location}' returned nothing (undefined).",
                    e.source
                ),
            ));
        }
        Ok(v)
    }

    /// Runs one expression whose value must have JSONata type `expected` (`array`, `string` ...).
    pub fn typed(
        &mut self,
        e: &JsonataExpr,
        location: &str,
        expected: &str,
    ) -> Result<JValue, QueryError> {
        let v = self.value(e, location)?;
        let actual = type_name(&v);
        if actual != expected {
            let shown = from_jvalue(&v).map(|j| json_text(&j)).unwrap_or_default();
            return Err(QueryError::new(
                location,
                format!(
                    "The JSONata expression '{}' specified for the field '{location}' returned an unexpected result type. Expected '{expected}', but was '{actual}' for value: {shown}",
                    e.source
                ),
            ));
        }
        Ok(v)
    }

    /// A whole template, every expression required to produce a value.
    pub fn template(&mut self, t: &JsonataTemplate, location: &str) -> Result<Value, QueryError> {
        if t.reads_context() {
            // Build the context-carrying `$states` once for the whole template.
            self.states(true);
        }
        self.template_at(t, location)
    }

    fn template_at(&mut self, t: &JsonataTemplate, location: &str) -> Result<Value, QueryError> {
        match t {
            JsonataTemplate::Literal(v) => Ok(v.clone()),
            JsonataTemplate::Expr(e) => {
                let v = self.value(e, location)?;
                Ok(from_jvalue(&v).unwrap_or(Value::Null))
            }
            JsonataTemplate::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| self.template_at(x, &format!("{location}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            JsonataTemplate::Object(o) => {
                let mut m = Map::new();
                for (k, x) in o {
                    let v = self.template_at(x, &format!("{location}/{k}"))?;
                    m.insert(k.clone(), v);
                }
                Ok(Value::Object(m))
            }
        }
    }

    /// A template that must produce a value of JSONata type `expected` when it is one expression
    /// (Map `Items`: `array`); a literal must already be one.
    pub fn typed_template(
        &mut self,
        t: &JsonataTemplate,
        location: &str,
        expected: &str,
    ) -> Result<Value, QueryError> {
        match t {
            JsonataTemplate::Expr(e) => {
                let v = self.typed(e, location, expected)?;
                Ok(from_jvalue(&v).unwrap_or(Value::Null))
            }
            _ => self.template(t, location),
        }
    }
}

/// The cause for an expression the evaluator refused (a type error, a limit, `$error()` ...).
fn evaluation_failed(e: &JsonataExpr, location: &str, err: &EvaluatorError) -> String {
    format!(
        "The JSONata expression '{}' specified for the field '{location}' threw an error during evaluation: {}",
        e.source,
        err.message()
    )
}

/// Evaluates one expression outside any state, with `input` as its context item and
/// `bindings` as variables: the entry point the JSONata test suite runs through.
pub fn evaluate_standalone(
    e: &JsonataExpr,
    input: Option<&Value>,
    bindings: &Map<String, Value>,
    limits: Limits,
    now: DateTime<Utc>,
    rng: &mut Rng,
) -> Result<Option<Value>, String> {
    let mut ctx = Context::new();
    for (k, v) in bindings {
        ctx.bind(k.clone(), to_jvalue(v));
    }
    let cell = Rc::new(RefCell::new(rng.clone()));
    let host = functions::Host {
        rng: cell.clone(),
        now,
        max_range: limits.max_sequence,
    };
    let data = input.map(to_jvalue).unwrap_or(JValue::Undefined);
    let result = new_evaluator(ctx, limits, &host).and_then(|mut ev| ev.evaluate(&e.ast, &data));
    *rng = cell.borrow().clone();
    result
        .map(|v| from_jvalue(&v))
        .map_err(|e| e.message().to_string())
}

/// An evaluator bounded by `limits`, with the Step Functions functions.
fn new_evaluator(
    ctx: Context,
    limits: Limits,
    host: &functions::Host,
) -> Result<Evaluator, EvaluatorError> {
    let options = EvaluatorOptions {
        timeout_ms: Some(limits.timeout_ms),
        max_stack_depth: Some(limits.max_depth),
        max_sequence_length: Some(limits.max_sequence),
        ..Default::default()
    };
    let mut ev = Evaluator::with_options(ctx, options);
    host.install(&mut ev)?;
    Ok(ev)
}
