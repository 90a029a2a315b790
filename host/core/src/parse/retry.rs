//! `Retry` and `Catch` of Task, Parallel and Map states: field ranges, defaults, and the rule that
//! `States.ALL` stands alone in its `ErrorEquals` and only in the last retrier / catcher.

use serde_json::Value;

use super::ctx::{Ctx, Obj, jsonata_template};
use super::scope::Names;
use super::states::template;
use crate::error::names::ALL;
use crate::expr::JsonPath;
use crate::model::{Catcher, Jitter, QueryLanguage, Retrier};

const MAX_INTERVAL: u64 = 99_999_999;
const MAX_ATTEMPTS: u64 = 99_999_999;
const MAX_DELAY: u64 = 31_622_401;

/// `ErrorEquals`: a non-empty array of strings; `States.ALL` alone, and only where `last`.
fn error_equals(ctx: &mut Ctx<'_>, obj: &Obj<'_>, kind: &str, last: bool) -> Vec<String> {
    let Some(list) = obj.array(ctx, "ErrorEquals") else {
        return vec![];
    };
    let loc = obj.field_loc("ErrorEquals");
    if list.is_empty() {
        ctx.schema(
            "ErrorEquals must contain at least one error name",
            loc.clone(),
        );
    }
    let mut names = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v {
            Value::String(s) => names.push(s.clone()),
            _ => ctx.schema("Expected value of type String", format!("{loc}[{i}]")),
        }
    }
    if names.iter().any(|n| n == ALL) {
        if names.len() > 1 {
            ctx.schema(
                format!("{ALL} must appear alone in ErrorEquals"),
                loc.clone(),
            );
        }
        if !last {
            ctx.schema(format!("{ALL} must appear only in the last {kind}"), loc);
        }
    }
    names
}

pub(super) fn retriers(ctx: &mut Ctx<'_>, state: &Obj<'_>) -> Vec<Retrier> {
    let Some(list) = state.array(ctx, "Retry") else {
        return vec![];
    };
    let loc = state.field_loc("Retry");
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let Value::Object(m) = v else {
            ctx.schema("Expected value of type Object", at);
            continue;
        };
        let o = Obj::new(m, at);
        o.allow(
            ctx,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
        );
        o.require(ctx, &["ErrorEquals"]);
        o.string(ctx, "Comment");
        let error_equals = error_equals(ctx, &o, "retrier", i + 1 == list.len());
        let interval_seconds = o
            .integer(ctx, "IntervalSeconds", 1, MAX_INTERVAL)
            .unwrap_or(1);
        let max_attempts = o.integer(ctx, "MaxAttempts", 0, MAX_ATTEMPTS).unwrap_or(3);
        let backoff_rate = o.number(ctx, "BackoffRate", 1.0, f64::MAX).unwrap_or(2.0);
        let max_delay_seconds = o.integer(ctx, "MaxDelaySeconds", 1, MAX_DELAY);
        let jitter = match o.one_of(ctx, "JitterStrategy", &["FULL", "NONE"]) {
            Some("FULL") => Jitter::Full,
            _ => Jitter::None,
        };
        out.push(Retrier {
            error_equals,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            jitter,
        });
    }
    out
}

pub(super) fn catchers(
    ctx: &mut Ctx<'_>,
    state: &Obj<'_>,
    ql: QueryLanguage,
    names: &Names,
) -> Vec<Catcher> {
    let Some(list) = state.array(ctx, "Catch") else {
        return vec![];
    };
    let loc = state.field_loc("Catch");
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let Value::Object(m) = v else {
            ctx.schema("Expected value of type Object", at);
            continue;
        };
        let o = Obj::new(m, at);
        let allowed: &[&str] = match ql {
            QueryLanguage::JsonPath => &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"],
            QueryLanguage::Jsonata => &["ErrorEquals", "Next", "Output", "Assign", "Comment"],
        };
        o.allow(ctx, allowed);
        o.require(ctx, &["ErrorEquals", "Next"]);
        o.string(ctx, "Comment");
        let error_equals = error_equals(ctx, &o, "catcher", i + 1 == list.len());
        // A missing target is reported by the transition pass.
        let next = o.string(ctx, "Next").map(|n| names.resolve(n)).unwrap_or(0);
        let mut catcher = Catcher {
            error_equals,
            next,
            result_path: None,
            assign: None,
            jsonata_output: None,
            jsonata_assign: None,
        };
        match ql {
            QueryLanguage::JsonPath => {
                // Absent means `$`: the error output replaces the input.
                catcher.result_path = if o.has("ResultPath") {
                    o.path(ctx, "ResultPath", true)
                } else {
                    JsonPath::parse("$").ok().map(Some)
                };
                catcher.assign = template(ctx, &o, "Assign");
            }
            QueryLanguage::Jsonata => {
                if let Some(v) = o.get("Output") {
                    catcher.jsonata_output = jsonata_template(ctx, v, &o.field_loc("Output"));
                }
                if o.has("Assign") && o.object(ctx, "Assign").is_some() {
                    catcher.jsonata_assign = o
                        .get("Assign")
                        .and_then(|v| jsonata_template(ctx, v, &o.field_loc("Assign")));
                }
            }
        }
        out.push(catcher);
    }
    out
}
