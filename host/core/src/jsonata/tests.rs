//! Unit tests of the JSONata wrapper: templates, `$states`, variables, AWS error texts, limits
//! and the Step Functions functions.

use std::cell::Cell;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::rng::Rng;

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(1_700_000_000_123)
}

fn expr(src: &str) -> JsonataExpr {
    JsonataExpr::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn template(v: Value) -> JsonataTemplate {
    JsonataTemplate::parse(&v).unwrap()
}

struct Fixture {
    input: Value,
    result: Option<Value>,
    error_output: Option<Value>,
    vars: Map<String, Value>,
    rng: Rng,
    limits: Limits,
    context_builds: Cell<usize>,
}

impl Fixture {
    fn new(input: Value) -> Self {
        Fixture {
            input,
            result: None,
            error_output: None,
            vars: Map::new(),
            rng: Rng::new(1),
            limits: Limits::default(),
            context_builds: Cell::new(0),
        }
    }

    /// Runs `f` over an Evaluation of this fixture.
    fn with<R>(&mut self, f: impl FnOnce(&mut Evaluation<'_>) -> R) -> R {
        let builds = &self.context_builds;
        let context = || {
            builds.set(builds.get() + 1);
            json!({"State": {"Name": "S"}})
        };
        let mut ev = Evaluation::new(Env {
            input: &self.input,
            result: self.result.as_ref(),
            error_output: self.error_output.as_ref(),
            context: &context,
            vars: &self.vars,
            rng: &mut self.rng,
            now: now(),
            limits: self.limits,
        });
        f(&mut ev)
    }

    fn eval(&mut self, src: &str) -> Result<Value, QueryError> {
        let e = expr(src);
        self.with(|ev| ev.value(&e, "Output"))
            .map(|v| from_jvalue(&v).unwrap_or(Value::Null))
    }
}

fn eval(src: &str) -> Result<Value, QueryError> {
    Fixture::new(json!({})).eval(src)
}

fn cause(r: Result<Value, QueryError>) -> String {
    r.expect_err("an error").cause
}

// ---- parsing ---------------------------------------------------------------------------------

#[test]
fn expression_text_needs_both_delimiters() {
    assert_eq!(expression_text("{% 1 %}"), Some(" 1 "));
    assert_eq!(expression_text("{%%}"), Some(""));
    assert_eq!(expression_text(" {% 1 %}"), None);
    assert_eq!(expression_text("{%}"), None);
    assert_eq!(expression_text("$.a"), None);
}

#[test]
fn templates_keep_constants_and_compile_expressions() {
    let t = template(json!({"a": 1, "b": ["x", "{% 2 %}"], "c": " {% not %} "}));
    let JsonataTemplate::Object(fields) = &t else {
        panic!("{t:?}")
    };
    assert_eq!(fields[0].1, JsonataTemplate::Literal(json!(1)));
    assert!(matches!(&fields[1].1, JsonataTemplate::Array(a) if a[1].as_expr().is_some()));
    assert_eq!(fields[2].1, JsonataTemplate::Literal(json!(" {% not %} ")));
    assert_eq!(
        template(json!({"k": [1, {"z": null}]})),
        JsonataTemplate::Literal(json!({"k": [1, {"z": null}]}))
    );
}

#[test]
fn parse_errors_say_where() {
    let e = JsonataTemplate::parse(&json!({"a": {"b": ["ok", "{% a[1,2) %}"]}})).unwrap_err();
    assert_eq!(e.at, "/a/b[1]");
    assert!(!e.message.is_empty());
    assert!(JsonataExpr::parse("(").is_err());
}

#[test]
fn expressions_know_their_variables_and_context_use() {
    let e = expr("$x + $sum($states.input.y) + $x + $états");
    assert_eq!(&*e.variables, ["x", "sum", "états"]);
    assert!(!e.reads_context);
    assert!(expr("$states.context.State.Name").reads_context);
    assert!(expr("$lookup($states, 'context')").reads_context);
    assert!(expr("$states.inputs").reads_context);
    assert!(!expr("$states.result.a & $states.errorOutput.Error").reads_context);
}

// ---- $states and variables -------------------------------------------------------------------

#[test]
fn states_carries_input_result_error_output_and_context() {
    let mut f = Fixture::new(json!({"a": [1, 2]}));
    f.result = Some(json!({"r": true}));
    f.error_output = Some(json!({"Error": "E"}));
    assert_eq!(f.eval("$sum($states.input.a)").unwrap(), json!(3));
    assert_eq!(f.eval("$states.result.r").unwrap(), json!(true));
    assert_eq!(f.eval("$states.errorOutput.Error").unwrap(), json!("E"));
    assert_eq!(
        f.context_builds.get(),
        0,
        "context built without being read"
    );
    assert_eq!(f.eval("$states.context.State.Name").unwrap(), json!("S"));
}

#[test]
fn context_is_built_once_per_state() {
    let mut f = Fixture::new(json!({}));
    let t = template(json!({"a": "{% $states.context.State.Name %}", "b": "{% $states %}"}));
    let out = f.with(|ev| {
        ev.template(&t, "Output")?;
        ev.template(&t, "Assign")
    });
    assert_eq!(out.unwrap()["a"], json!("S"));
    assert_eq!(f.context_builds.get(), 1);
}

#[test]
fn variables_are_bound_by_name_and_missing_ones_are_undefined() {
    let mut f = Fixture::new(json!({}));
    f.vars.insert("n".into(), json!(41));
    assert_eq!(f.eval("$n + 1").unwrap(), json!(42));
    assert_eq!(
        cause(f.eval("$doesNotExist")),
        "The JSONata expression '$doesNotExist' specified for the field 'Output' returned nothing (undefined)."
    );
}

#[test]
fn undefined_anywhere_in_a_template_names_its_place() {
    let mut f = Fixture::new(json!({"x": null}));
    let t = template(json!({"a": {"b": ["{% 1 %}", "{% $states.input.nope %}"]}}));
    let e = f.with(|ev| ev.template(&t, "Output")).unwrap_err();
    assert_eq!(e.location.as_deref(), Some("Output/a/b[1]"));
    assert!(
        e.cause
            .contains("'$states.input.nope' specified for the field 'Output/a/b[1]'")
    );
    // null is a value, not a missing one
    let t = template(json!({"v": "{% $states.input.x %}"}));
    assert_eq!(
        f.with(|ev| ev.template(&t, "Output")).unwrap(),
        json!({"v": null})
    );
}

#[test]
fn typed_results_report_aws_type_errors() {
    let mut f = Fixture::new(json!({}));
    let t = template(json!("{% {'foo': 'bar'} %}"));
    let e = f
        .with(|ev| ev.typed_template(&t, "Items", "array"))
        .unwrap_err();
    assert_eq!(
        e.cause,
        "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
    );
    let t = template(json!([1, "{% 2 %}"]));
    assert_eq!(
        f.with(|ev| ev.typed_template(&t, "Items", "array"))
            .unwrap(),
        json!([1, 2])
    );
}

#[test]
fn evaluation_errors_carry_the_jsonata_code() {
    let c = cause(eval("1 + 'a'"));
    assert!(c.starts_with("The JSONata expression '1 + 'a'' specified for the field 'Output' threw an error during evaluation: T2002"), "{c}");
}

#[test]
fn numbers_render_like_aws() {
    assert_eq!(eval("0.1 + 0.2").unwrap(), json!(0.30000000000000004));
    assert_eq!(eval("6 / 2").unwrap(), json!(3));
    assert_eq!(
        eval("$string(1e20)").unwrap(),
        json!("100000000000000000000")
    );
}

// ---- limits ----------------------------------------------------------------------------------

#[test]
fn runaway_tail_recursion_stops_at_the_time_limit() {
    let mut f = Fixture::new(json!({}));
    f.limits.timeout_ms = 100;
    let start = std::time::Instant::now();
    let c = cause(f.eval("($f := function($n){ $f($n + 1) }; $f(0))"));
    assert!(start.elapsed().as_secs() < 5);
    assert!(c.contains("D1012") || c.contains("U1001"), "{c}");
}

#[test]
fn deep_recursion_fails_cleanly() {
    let mut f = Fixture::new(json!({}));
    f.limits.max_depth = 200;
    let c = cause(f.eval("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))"));
    assert!(c.contains("D1011") || c.contains("U1001"), "{c}");
}

#[test]
fn long_sequences_are_refused() {
    let mut f = Fixture::new(json!({}));
    f.limits.max_sequence = 1000;
    assert!(f.eval("$range(1, 5000, 1)").is_err());
    assert!(f.eval("$map([1..5000], function($v){ $v })").is_err());
    assert_eq!(f.eval("$count($range(1, 1000, 1))").unwrap(), json!(1000));
}

// ---- Step Functions functions ----------------------------------------------------------------

#[test]
fn partition_chunks_and_rounds_towards_zero() {
    assert_eq!(
        eval("$partition([1,2,3,4,5], 2)").unwrap(),
        json!([[1, 2], [3, 4], [5]])
    );
    assert_eq!(eval("$partition([0], 2)").unwrap(), json!([[0]]));
    assert_eq!(
        eval("$partition([1,2,3], 2.9)").unwrap(),
        json!([[1, 2], [3]])
    );
    assert!(
        eval("$partition([1,2], 0)").is_err(),
        "undefined fails the field"
    );
    assert!(eval("$partition([], 2)").is_err());
}

#[test]
fn range_is_inclusive_and_collapses_singletons() {
    assert_eq!(eval("$range(0, 10, 3)").unwrap(), json!([0, 3, 6, 9]));
    assert_eq!(eval("$range(5, 1, -2)").unwrap(), json!([5, 3, 1]));
    assert_eq!(eval("$range(-1.7, 2, 1)").unwrap(), json!([-1, 0, 1, 2]));
    assert_eq!(eval("$range(4, 4, 1)").unwrap(), json!(4));
    assert!(eval("$range(1, 5, -1)").is_err());
    assert!(eval("$range(1, 5)").is_err());
}

#[test]
fn hash_supports_the_five_algorithms() {
    let cases = [
        ("MD5", "5d41402abc4b2a76b9719d911017c592"),
        ("SHA-1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        (
            "SHA-256",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
    ];
    for (alg, want) in cases {
        assert_eq!(
            eval(&format!("$hash('hello', '{alg}')")).unwrap(),
            json!(want)
        );
    }
    for (alg, len) in [("SHA-384", 96), ("SHA-512", 128)] {
        let v = eval(&format!("$hash('hello', '{alg}')")).unwrap();
        assert_eq!(v.as_str().map(str::len), Some(len));
    }
    assert!(cause(eval("$hash('hello', 'sha-256')")).contains("D3137"));
}

#[test]
fn parse_reads_json_and_eval_is_disabled() {
    assert_eq!(eval("$parse('{\"a\":[1,2]}').a[1]").unwrap(), json!(2));
    assert_eq!(eval("$parse('\"x\"')").unwrap(), json!("x"));
    assert!(cause(eval("$parse('{')")).contains("not valid JSON"));
    assert!(cause(eval("$eval('1+1')")).contains("T1006"));
}

#[test]
fn randomness_comes_from_the_execution() {
    let draw = |seed: u64| {
        let mut f = Fixture::new(json!({}));
        f.rng = Rng::new(seed);
        let v = f
            .eval("{'r': $random(), 'u': $uuid(), 's': $shuffle([1,2,3,4,5,6,7,8])}")
            .unwrap();
        (v, f.rng)
    };
    let (a, rng_a) = draw(5);
    let (b, _) = draw(5);
    let (c, _) = draw(6);
    assert_eq!(a, b, "same seed, same values: replay is deterministic");
    assert_ne!(a, c);
    assert_ne!(rng_a, Rng::new(5), "the execution's Rng advanced");
    let x = a["r"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&x));
    assert_eq!(a["u"].as_str().map(str::len), Some(36));
    let mut sorted: Vec<i64> = a["s"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    sorted.sort();
    assert_eq!(sorted, (1..=8).collect::<Vec<_>>());
}

#[test]
fn seeded_random_is_reproducible_across_executions() {
    let mut f = Fixture::new(json!({}));
    let v = f.eval("[$random(42), $random(42), $random(7)]").unwrap();
    assert_eq!(v[0], v[1]);
    assert_ne!(v[0], v[2]);
    assert_eq!(
        f.rng,
        Rng::new(1),
        "a seeded draw leaves the execution's Rng alone"
    );
}

#[test]
fn clock_functions_read_the_execution_time() {
    assert_eq!(eval("$now()").unwrap(), json!("2023-11-14T22:13:20.123Z"));
    assert_eq!(eval("$millis()").unwrap(), json!(1_700_000_000_123i64));
    assert!(eval("$now('x')").is_err());
}

#[test]
fn standalone_evaluation_uses_input_and_bindings() {
    let mut b = Map::new();
    b.insert("k".into(), json!(2));
    let mut rng = Rng::new(1);
    let r = evaluate_standalone(
        &expr("a * $k"),
        Some(&json!({"a": 21})),
        &b,
        Limits::default(),
        now(),
        &mut rng,
    );
    assert_eq!(r, Ok(Some(json!(42))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// No expression text, however malformed, panics the parser or the evaluator.
    #[test]
    fn no_expression_panics(src in "[-$a-z0-9.()\\[\\]{}'\":,;=<>!?&*+/%~^|@# \\\\]{0,40}") {
        if let Ok(e) = JsonataExpr::parse(&src) {
            let mut f = Fixture::new(json!({"a": [1, {"b": "x"}], "n": 3}));
            f.vars.insert("v".into(), json!([1, 2]));
            f.limits.timeout_ms = 200;
            let _ = f.with(|ev| ev.value(&e, "Output"));
        }
    }
}
