//! Cross-module expression tests: variables and context roots through `Expr`, and property tests
//! that parsing and evaluation never panic on arbitrary text and JSON.

use proptest::prelude::{Just, Strategy, any, prop, prop_assert_eq, prop_oneof, proptest};
use serde_json::{Map, Value, json};

use super::*;
use crate::rng::Rng;

fn with_env<T>(input: &Value, vars: &Map<String, Value>, f: impl FnOnce(&mut Env<'_>) -> T) -> T {
    let ctx = json!({"Execution": {"Id": "arn:exec", "Input": input}, "Map": {"Item": {"Value": 7, "Index": 0}}});
    let mut rng = Rng::new(5);
    let mut env = Env {
        input,
        context: &ctx,
        vars,
        rng: &mut rng,
    };
    f(&mut env)
}

#[test]
fn variables_and_context_through_expr() {
    let mut vars = Map::new();
    vars.insert("answer".into(), json!({"list": [1, 2, 3]}));
    vars.insert("x_1".into(), json!("s"));
    let input = json!({"a": 1});
    with_env(&input, &vars, |env| {
        let e = |s: &str, env: &mut Env<'_>| Expr::parse(s).unwrap().eval(env, "f.$");
        assert_eq!(e("$answer.list[1]", env).unwrap(), json!(2));
        assert_eq!(e("$x_1", env).unwrap(), json!("s"));
        assert_eq!(e("$$.Map.Item.Value", env).unwrap(), json!(7));
        assert_eq!(e("$$.Execution.Input.a", env).unwrap(), json!(1));
        assert_eq!(
            e("States.ArrayLength($answer.list)", env).unwrap(),
            json!(3)
        );
        assert!(e("$nope", env).is_err());
        assert!(e("$answer.nope", env).is_err());
    });
}

#[test]
fn expr_parse_distinguishes_paths_and_calls() {
    assert!(matches!(Expr::parse("$.a").unwrap(), Expr::Path(_)));
    assert!(matches!(
        Expr::parse("States.UUID()").unwrap(),
        Expr::Intrinsic(_)
    ));
    assert!(Expr::parse("nope").is_err());
    assert!(Expr::parse("").is_err());
    assert_eq!(
        Expr::parse("States.UUID()").unwrap().as_str(),
        "States.UUID()"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z\\-_ '\"\\\\]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z.$]{0,4}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Strings shaped like paths and calls, so the fuzzing reaches deep into the parsers.
fn arb_expr_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("$".to_string()),
        Just("$$".to_string()),
        Just("$v".to_string()),
        Just(".a".to_string()),
        Just("..".to_string()),
        Just("[0]".to_string()),
        Just("[-1]".to_string()),
        Just("[*]".to_string()),
        Just("[1:]".to_string()),
        Just("['a','b']".to_string()),
        Just("[?(@.a == 1)]".to_string()),
        Just("[?(@.a =~ /a.*/)]".to_string()),
        Just("States.Format('{}', ".to_string()),
        Just("States.Array(".to_string()),
        Just("States.ArrayRange(1, 5, 2)".to_string()),
        Just(")".to_string()),
        Just(", ".to_string()),
        Just("'x\\''".to_string()),
        "[ -~]{0,3}".prop_map(|s| s),
    ];
    prop::collection::vec(atom, 1..8).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = JsonPath::parse(&s);
        let _ = Expr::parse(&s);
        let _ = Intrinsic::parse(&s);
    }

    #[test]
    fn structured_text_never_panics(s in arb_expr_text(), input in arb_json()) {
        let vars: Map<String, Value> = [("v".to_string(), input.clone())].into_iter().collect();
        if let Ok(p) = JsonPath::parse(&s) {
            let _ = p.select_ref(&input);
            let mut doc = input.clone();
            let _ = p.assign(&mut doc, json!(1));
        }
        if let Ok(e) = Expr::parse(&s) {
            with_env(&input, &vars, |env| { let _ = e.eval(env, "f.$"); });
        }
    }

    #[test]
    fn templates_never_panic(t in arb_json(), input in arb_json()) {
        if let Ok(tpl) = Template::parse(&t) {
            let vars = Map::new();
            with_env(&input, &vars, |env| { let _ = tpl.eval(env); });
        }
    }

    #[test]
    fn definite_simple_paths_borrow_what_they_select(input in arb_json()) {
        let p = JsonPath::parse("$").unwrap();
        prop_assert_eq!(p.select_ref(&input).unwrap().into_owned(), input);
    }
}
