//! Expressions of JSONPath-mode ASL: paths (`$.a`, `$$.Execution.Id`, `$var.x`), the 18 `States.*`
//! intrinsic functions, and payload templates (`Parameters`, `ResultSelector`, `ItemSelector`,
//! `Assign`) whose `.$` keys hold paths or intrinsics.

mod filter;
pub mod intrinsics;
mod jsonpath;
mod regex;
pub mod render;
mod template;

use serde_json::Value;

use crate::error::Failure;
use crate::rng::Rng;

pub use intrinsics::Intrinsic;
pub use jsonpath::JsonPath;
pub use template::Template;

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

/// A plain map of variables.
impl Vars for serde_json::Map<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        serde_json::Map::get(self, name)
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

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

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

/// A `.$` value: a path or an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Path(JsonPath),
    Intrinsic(Intrinsic),
}

impl Expr {
    /// A path when it starts with `$`, an intrinsic call when it starts with `States.`.
    pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
        if src.starts_with("States.") {
            Intrinsic::parse(src).map(Expr::Intrinsic)
        } else {
            JsonPath::parse(src).map(Expr::Path)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Expr::Path(p) => p.as_str(),
            Expr::Intrinsic(i) => i.as_str(),
        }
    }

    /// `field` is how the value is named in errors (e.g. `value.$`, `ErrorPath`).
    pub fn eval(&self, env: &mut Env<'_>, field: &str) -> Result<Value, Failure> {
        match self {
            Expr::Path(p) => p
                .select_borrowed(env)
                .map(|v| v.into_owned())
                .map_err(|_| path_not_found(p.as_str(), field, env.input)),
            Expr::Intrinsic(i) => i.eval(env, field),
        }
    }
}

/// AWS's cause for a path in a field that selects nothing (the input as compact JSON).
pub fn path_not_found(path: &str, field: &str, input: &Value) -> Failure {
    Failure::runtime(format!(
        "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
        render::json_text(input)
    ))
}

#[cfg(test)]
mod tests;
