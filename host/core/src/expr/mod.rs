//! Expressions of JSONPath-mode ASL: paths (`$.a`, `$$.Execution.Id`, `$var.x`), the 18 `States.*`
//! intrinsic functions, and payload templates (`Parameters`, `ResultSelector`, `ItemSelector`,
//! `Assign`) whose `.$` keys hold paths or intrinsics.
//!
//! STUB: the real implementation lands with the expressions work; signatures here are the contract.

use serde_json::Value;

use crate::error::Failure;
use crate::rng::Rng;

/// Workflow variables visible to an expression (inner scopes read outer ones).
pub trait Vars {
    fn get(&self, name: &str) -> Option<&Value>;
}

/// No variables at all.
impl Vars for () {
    fn get(&self, _name: &str) -> Option<&Value> {
        None
    }
}

/// What an expression can read: the state's effective input (`$`), the context object (`$$`),
/// variables (`$name`), and the execution's deterministic randomness.
pub struct Env<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub vars: &'a dyn Vars,
    pub rng: &'a mut Rng,
}

/// A syntax error found while parsing a path, intrinsic or template; `message` is AWS-worded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
}

/// What a path starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `$`
    Input,
    /// `$$`
    Context,
    /// `$name`
    Variable(String),
}

/// A parsed JSONPath (Jayway semantics, as AWS).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    src: String,
    root: Root,
}

impl JsonPath {
    pub fn parse(src: &str) -> Result<JsonPath, SyntaxError> {
        let root = if src.starts_with("$$") {
            Root::Context
        } else if src.starts_with('$') {
            Root::Input
        } else {
            return Err(SyntaxError {
                message: format!("invalid path {src}"),
            });
        };
        Ok(JsonPath {
            src: src.to_string(),
            root,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.src
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Evaluates against the root the path names. Definite paths give the value; indefinite
    /// paths (wildcards, slices, filters, deep scan) give an array of matches.
    /// Err(message) when a definite path has no result: "No results for path: $['a']" etc.
    pub fn select(&self, env: &Env<'_>) -> Result<Value, String> {
        let _ = env;
        Err(format!("No results for path: {}", self.src))
    }

    /// ResultPath write: puts `value` at this path inside `doc`, creating objects on the way.
    pub fn assign(&self, doc: &mut Value, value: Value) -> Result<(), String> {
        if self.src == "$" {
            *doc = value;
            return Ok(());
        }
        Err(format!("unsupported {}", self.src))
    }
}

/// A `.$` value: a path or an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Path(JsonPath),
    Intrinsic(String),
}

impl Expr {
    pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
        if src.starts_with("States.") {
            Ok(Expr::Intrinsic(src.to_string()))
        } else {
            JsonPath::parse(src).map(Expr::Path)
        }
    }

    /// `field` is how the value is named in errors (e.g. `value.$`, `ErrorPath`).
    pub fn eval(&self, env: &mut Env<'_>, field: &str) -> Result<Value, Failure> {
        let _ = (env, field);
        Err(Failure::runtime("expressions not implemented"))
    }
}

/// A payload template with `.$` keys compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    raw: Value,
}

impl Template {
    pub fn parse(raw: &Value) -> Result<Template, SyntaxError> {
        Ok(Template { raw: raw.clone() })
    }

    pub fn eval(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        let _ = env;
        Ok(self.raw.clone())
    }
}
