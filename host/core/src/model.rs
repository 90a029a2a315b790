//! The typed, validated state machine. Built by `parse`, run by `interp`.
//!
//! State references (`Next`, `Default`, `StartAt`, Catch `Next`) are resolved to indices into their
//! scope's `states` at parse time, so the interpreter never looks up names.

use serde_json::Value;

use crate::expr::{Expr, JsonPath, Template};
use crate::jsonata::{JsonataExpr, JsonataTemplate, Limits};

/// Index of a state inside its [`Scope`].
pub type StateId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    Jsonata,
}

/// A whole definition: the top-level scope plus top-level fields.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub comment: Option<String>,
    pub version: Option<String>,
    /// Execution-wide timeout (`TimeoutSeconds` at the top level).
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
    pub root: Scope,
    /// Time and depth bounds of every JSONata evaluation (defaults; the engine may tighten them).
    pub jsonata_limits: Limits,
}

/// A set of states with one `StartAt`: the top level, a Parallel branch, or a Map item processor.
#[derive(Debug, Clone)]
pub struct Scope {
    pub start_at: StateId,
    pub states: Vec<State>,
}

impl Scope {
    pub fn find(&self, name: &str) -> Option<StateId> {
        self.states.iter().position(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Next(StateId),
    End,
}

/// Fields every state may carry. Which ones are legal per type is checked by the parser.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub comment: Option<String>,
    pub query_language: QueryLanguage,
    /// `InputPath`: `None` = absent (`$`), `Some(None)` = JSON `null` (input becomes `{}`).
    pub input_path: Option<Option<JsonPath>>,
    /// `OutputPath`: same convention as `input_path`.
    pub output_path: Option<Option<JsonPath>>,
    /// `ResultPath`: absent = `$` (replace), `Some(None)` = `null` (discard result, keep input).
    pub result_path: Option<Option<JsonPath>>,
    /// `Parameters` (JSONPath mode) payload template.
    pub parameters: Option<Template>,
    /// `ResultSelector` payload template.
    pub result_selector: Option<Template>,
    /// `Assign` in JSONPath mode: a template whose `.$` keys are evaluated (JSONata: `jsonata`).
    pub assign: Option<Template>,
    /// JSONata-mode data-flow fields.
    pub jsonata: JsonataFields,
    pub kind: StateKind,
}

/// JSONata-mode `Arguments` (Task, Parallel), `Output` and `Assign`, parsed.
#[derive(Debug, Clone, Default)]
pub struct JsonataFields {
    pub arguments: Option<JsonataTemplate>,
    pub output: Option<JsonataTemplate>,
    pub assign: Option<JsonataTemplate>,
}

#[derive(Debug, Clone)]
pub enum StateKind {
    Pass(Pass),
    Task(Box<Task>),
    Choice(Choice),
    Wait(Wait),
    Succeed,
    Fail(Fail),
    Parallel(Box<Parallel>),
    Map(Box<Map>),
}

impl StateKind {
    /// The AWS `Type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pass {
    pub result: Option<Value>,
    pub transition: Transition,
}

/// A number given literally or read from a path (`TimeoutSeconds` / `TimeoutSecondsPath` ...).
#[derive(Debug, Clone, PartialEq)]
pub enum NumberSource {
    Literal(f64),
    Path(JsonPath),
    /// JSONata `{% %}` expression.
    Jsonata(JsonataExpr),
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<NumberSource>,
    pub heartbeat: Option<NumberSource>,
    /// `Credentials`, kept raw (role assumption does not apply here).
    pub credentials: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub transition: Transition,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<StateId>,
}

/// A top-level Choice rule: a condition plus where to go.
#[derive(Debug, Clone)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: StateId,
    /// Rule-level `Assign` (JSONPath: template; JSONata in `jsonata_assign`).
    pub assign: Option<Template>,
    pub jsonata_assign: Option<JsonataTemplate>,
    pub jsonata_output: Option<JsonataTemplate>,
}

#[derive(Debug, Clone)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `Variable` + one comparison operator.
    Compare {
        variable: JsonPath,
        op: CompareOp,
        operand: Operand,
    },
    /// JSONata `Condition`: a `{% ... %}` expression or a literal boolean.
    Jsonata(JsonataTemplate),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// The right-hand side of a comparison: a literal, or another path (`…Path` operators).
#[derive(Debug, Clone)]
pub enum Operand {
    Literal(Value),
    Path(JsonPath),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(u64),
    /// RFC 3339 timestamp, as written.
    Timestamp(String),
    SecondsPath(JsonPath),
    TimestampPath(JsonPath),
    /// JSONata `Seconds` / `Timestamp` expression.
    JsonataSeconds(JsonataExpr),
    JsonataTimestamp(JsonataExpr),
}

#[derive(Debug, Clone)]
pub struct Wait {
    pub wait: WaitFor,
    pub transition: Transition,
}

/// A Fail field: literal, path / intrinsic (`ErrorPath`, `CausePath`), or JSONata.
#[derive(Debug, Clone)]
pub enum FailField {
    Literal(String),
    Expr(Expr),
    Jsonata(JsonataExpr),
}

#[derive(Debug, Clone)]
pub struct Fail {
    pub error: Option<FailField>,
    pub cause: Option<FailField>,
}

#[derive(Debug, Clone)]
pub struct Parallel {
    pub branches: Vec<Scope>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub transition: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapMode {
    #[default]
    Inline,
    Distributed,
}

#[derive(Debug, Clone)]
pub struct Map {
    /// `ItemProcessor` or the legacy `Iterator`.
    pub processor: Scope,
    pub mode: MapMode,
    /// `ProcessorConfig.ExecutionType` (Distributed only), as written.
    pub execution_type: Option<String>,
    pub items_path: Option<JsonPath>,
    /// JSONata `Items` (array literal or expression).
    pub jsonata_items: Option<JsonataTemplate>,
    /// `ItemSelector`, or the legacy `Parameters` on a Map (JSONPath).
    pub item_selector: Option<Template>,
    /// JSONata `ItemSelector`.
    pub jsonata_item_selector: Option<JsonataTemplate>,
    pub max_concurrency: Option<NumberSource>,
    pub tolerated_failure_percentage: Option<NumberSource>,
    pub tolerated_failure_count: Option<NumberSource>,
    pub label: Option<String>,
    /// Distributed-only features: parsed and kept, refused at run time until supported.
    pub item_reader: Option<Value>,
    pub item_batcher: Option<Value>,
    pub result_writer: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub transition: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    #[default]
    None,
    Full,
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    /// Default 1.
    pub interval_seconds: u64,
    /// Default 3; 0 = never retry.
    pub max_attempts: u64,
    /// Default 2.0.
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: StateId,
    /// Absent = `$`; `Some(None)` = `null`.
    pub result_path: Option<Option<JsonPath>>,
    pub assign: Option<Template>,
    pub jsonata_output: Option<JsonataTemplate>,
    pub jsonata_assign: Option<JsonataTemplate>,
}
