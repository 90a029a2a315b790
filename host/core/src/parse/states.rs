//! One state: its query language, which fields its type allows in that language, the fields every
//! state shares (paths, templates, `Assign`, JSONata `Output`/`Arguments`), then one function per
//! state type for the rest.

use serde_json::Value;

use super::choice::parse_choice;
use super::ctx::{Ctx, Obj, is_jsonata_expr, jsonata_expr, jsonata_template};
use super::label::{label_create_message, label_problem};
use super::resource::{express_refusal, recognize, unrecognized_message};
use super::retry::{catchers, retriers};
use super::scope::{Names, parse_scope};
use super::{Diagnostic, Severity};
use crate::expr::{Expr, Template};
use crate::jsonata::JsonataTemplate;
use crate::model::{
    Fail, FailField, JsonataFields, Map, MapMode, NumberSource, Parallel, Pass, QueryLanguage,
    State, StateKind, Task, Transition, Wait, WaitFor,
};

const TYPES: &[&str] = &[
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];
const MAX_SECONDS: u64 = 99_999_999;

/// The fields a state of type `ty` may carry in query language `ql`.
fn allowed_fields(ty: &str, ql: QueryLanguage) -> Vec<&'static str> {
    let jp = ql == QueryLanguage::JsonPath;
    let mut f = vec!["Type", "Comment", "QueryLanguage"];
    if matches!(ty, "Pass" | "Task" | "Wait" | "Parallel" | "Map") {
        f.extend(["Next", "End"]);
    }
    if !matches!(ty, "Succeed" | "Fail") {
        f.push("Assign");
    }
    if jp {
        if ty != "Fail" {
            f.extend(["InputPath", "OutputPath"]);
        }
        if matches!(ty, "Pass" | "Task" | "Parallel" | "Map") {
            f.extend(["ResultPath", "Parameters"]);
        }
        if matches!(ty, "Task" | "Parallel" | "Map") {
            f.push("ResultSelector");
        }
    } else {
        if ty != "Fail" {
            f.push("Output");
        }
        if matches!(ty, "Task" | "Parallel") {
            f.push("Arguments");
        }
    }
    if matches!(ty, "Task" | "Parallel" | "Map") {
        f.extend(["Retry", "Catch"]);
    }
    match ty {
        "Pass" if jp => f.push("Result"),
        "Task" => {
            f.extend([
                "Resource",
                "TimeoutSeconds",
                "HeartbeatSeconds",
                "Credentials",
            ]);
            if jp {
                f.extend(["TimeoutSecondsPath", "HeartbeatSecondsPath"]);
            }
        }
        "Choice" => f.extend(["Choices", "Default"]),
        "Wait" => {
            f.extend(["Seconds", "Timestamp"]);
            if jp {
                f.extend(["SecondsPath", "TimestampPath"]);
            }
        }
        "Fail" => {
            f.extend(["Error", "Cause"]);
            if jp {
                f.extend(["ErrorPath", "CausePath"]);
            }
        }
        "Parallel" => f.push("Branches"),
        "Map" => {
            f.extend([
                "ItemProcessor",
                "Iterator",
                "ItemSelector",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "MaxConcurrency",
                "ToleratedFailurePercentage",
                "ToleratedFailureCount",
                "Label",
            ]);
            if jp {
                f.extend([
                    "ItemsPath",
                    "MaxConcurrencyPath",
                    "ToleratedFailurePercentagePath",
                    "ToleratedFailureCountPath",
                ]);
            } else {
                f.push("Items");
            }
        }
        _ => {}
    }
    f
}

/// The state's own `QueryLanguage`, else the machine's. A JSONata machine refuses JSONPath states.
fn query_language(ctx: &mut Ctx<'_>, o: &Obj<'_>) -> QueryLanguage {
    if !o.has("QueryLanguage") {
        return ctx.machine_ql;
    }
    match o.one_of(ctx, "QueryLanguage", &["JSONPath", "JSONata"]) {
        Some("JSONata") => QueryLanguage::Jsonata,
        Some(_) => {
            if ctx.machine_ql == QueryLanguage::Jsonata {
                ctx.schema(
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                    o.at(),
                );
            }
            QueryLanguage::JsonPath
        }
        None => ctx.machine_ql,
    }
}

pub(super) fn parse_state(
    ctx: &mut Ctx<'_>,
    name: &str,
    o: &Obj<'_>,
    names: &Names,
) -> Option<State> {
    let ql = query_language(ctx, o);
    if !o.require(ctx, &["Type"]) {
        return None;
    }
    let ty = o.string(ctx, "Type")?;
    if !TYPES.contains(&ty) {
        ctx.schema(
            format!("Value must be one of [{}]", TYPES.join(", ")),
            o.field_loc("Type"),
        );
        return None;
    }
    let errors_before = ctx.diags.len();
    let allowed = allowed_fields(ty, ql);
    o.allow(ctx, &allowed);
    let mut state = common(ctx, name, o, ty, ql, &allowed);
    let kind = match ty {
        "Pass" => pass(ctx, o, ql, names).map(StateKind::Pass),
        "Task" => task(ctx, o, ql, names).map(|t| StateKind::Task(Box::new(t))),
        "Choice" => parse_choice(ctx, o, ql, names).map(StateKind::Choice),
        "Wait" => wait(ctx, o, ql, names).map(StateKind::Wait),
        "Succeed" => Some(StateKind::Succeed),
        "Fail" => fail(ctx, o, ql).map(StateKind::Fail),
        "Parallel" => parallel(ctx, o, ql, names).map(|p| StateKind::Parallel(Box::new(p))),
        _ => map(ctx, o, ql, names, &mut state).map(|m| StateKind::Map(Box::new(m))),
    }?;
    state.kind = kind;
    (ctx.diags.len() == errors_before).then_some(state)
}

/// Fields shared by all state types, parsed where the type and language allow them.
fn common(
    ctx: &mut Ctx<'_>,
    name: &str,
    o: &Obj<'_>,
    ty: &str,
    ql: QueryLanguage,
    allowed: &[&str],
) -> State {
    let ok = |f: &str| allowed.contains(&f);
    let comment = o.string(ctx, "Comment").map(str::to_string);
    let mut state = State {
        name: name.to_string(),
        comment,
        query_language: ql,
        input_path: None,
        output_path: None,
        result_path: None,
        parameters: None,
        result_selector: None,
        assign: None,
        jsonata: JsonataFields::default(),
        kind: StateKind::Succeed,
    };
    match ql {
        QueryLanguage::JsonPath => {
            if ok("InputPath") {
                state.input_path = o.path(ctx, "InputPath", true);
                state.output_path = o.path(ctx, "OutputPath", true);
            }
            if ok("ResultPath") {
                state.result_path = o.path(ctx, "ResultPath", true);
            }
            // A Map's `Parameters` is its legacy `ItemSelector`, read by `map`.
            if ok("Parameters") && ty != "Map" {
                state.parameters = template(ctx, o, "Parameters");
            }
            if ok("ResultSelector") {
                state.result_selector = template(ctx, o, "ResultSelector");
            }
            if ok("Assign") {
                state.assign = assign_template(ctx, o);
            }
        }
        QueryLanguage::Jsonata => {
            if ok("Output")
                && let Some(v) = o.get("Output")
            {
                state.jsonata.output = jsonata_template(ctx, v, &o.field_loc("Output"));
            }
            if ok("Arguments") {
                state.jsonata.arguments = object_or_expr(ctx, o, "Arguments");
            }
            if ok("Assign") && o.has("Assign") && o.object(ctx, "Assign").is_some() {
                state.jsonata.assign = o
                    .get("Assign")
                    .and_then(|v| jsonata_template(ctx, v, &o.field_loc("Assign")));
            }
        }
    }
    state
}

/// JSONPath `Assign`: an object whose `.$` keys are paths or intrinsics.
pub(super) fn assign_template(ctx: &mut Ctx<'_>, o: &Obj<'_>) -> Option<Template> {
    if o.has("Assign") {
        o.object(ctx, "Assign")?;
    }
    template(ctx, o, "Assign")
}

/// A JSONata field that takes an object or a `{% %}` expression (`Arguments`).
fn object_or_expr(ctx: &mut Ctx<'_>, o: &Obj<'_>, field: &str) -> Option<JsonataTemplate> {
    let v = o.get(field)?;
    if v.is_object() || is_jsonata_expr(v) {
        jsonata_template(ctx, v, &o.field_loc(field))
    } else {
        ctx.schema("Expected value of type Object", o.field_loc(field));
        None
    }
}

/// A payload template (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`): every `.$` key
/// must hold a valid path or intrinsic call.
pub(super) fn template(ctx: &mut Ctx<'_>, o: &Obj<'_>, field: &str) -> Option<Template> {
    let v = o.get(field)?;
    let loc = o.field_loc(field);
    let before = ctx.diags.len();
    check_dollar_keys(ctx, v, &loc);
    if ctx.diags.len() != before {
        return None;
    }
    match Template::parse(v) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.schema(e.message, loc);
            None
        }
    }
}

fn check_dollar_keys(ctx: &mut Ctx<'_>, v: &Value, loc: &str) {
    match v {
        Value::Object(m) => {
            for (k, item) in m {
                if k.ends_with(".$") {
                    let valid = item.as_str().is_some_and(|s| Expr::parse(s).is_ok());
                    if !valid {
                        ctx.schema(
                            format!(
                                "The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call"
                            ),
                            loc,
                        );
                    }
                } else {
                    check_dollar_keys(ctx, item, loc);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|item| check_dollar_keys(ctx, item, loc)),
        _ => {}
    }
}

/// `Next` / `End`: exactly one of them.
fn transition(ctx: &mut Ctx<'_>, o: &Obj<'_>, names: &Names) -> Option<Transition> {
    let next = o.string(ctx, "Next");
    let end = o.boolean(ctx, "End");
    match (next, end) {
        (Some(_), Some(true)) => {
            ctx.schema("Only one of 'Next' or 'End' can be set", o.at());
            None
        }
        (Some(n), _) => Some(Transition::Next(names.resolve(n))),
        (None, Some(true)) => Some(Transition::End),
        (None, _) if o.has("Next") => None,
        (None, _) => {
            ctx.schema("One of 'Next' or 'End' is required", o.at());
            None
        }
    }
}

/// A number given literally, by a `…Path` field (JSONPath), or as a `{% %}` expression (JSONata).
#[allow(clippy::too_many_arguments)]
fn number_source(
    ctx: &mut Ctx<'_>,
    o: &Obj<'_>,
    field: &str,
    path_field: &str,
    ql: QueryLanguage,
    min: u64,
    max: u64,
    integer: bool,
) -> Option<Option<NumberSource>> {
    let literal = o.get(field);
    let path = (ql == QueryLanguage::JsonPath && o.has(path_field)).then_some(());
    if literal.is_some() && path.is_some() {
        ctx.schema(
            format!("Only one of '{field}' or '{path_field}' can be set"),
            o.at(),
        );
        return None;
    }
    if path.is_some() {
        return o
            .required_path(ctx, path_field)
            .map(|p| Some(NumberSource::Path(p)));
    }
    let Some(v) = literal else {
        return Some(None);
    };
    if ql == QueryLanguage::Jsonata && is_jsonata_expr(v) {
        return jsonata_expr(ctx, v, &o.field_loc(field)).map(|e| Some(NumberSource::Jsonata(e)));
    }
    let n = if integer {
        o.integer(ctx, field, min, max)? as f64
    } else {
        o.number(ctx, field, min as f64, max as f64)?
    };
    Some(Some(NumberSource::Literal(n)))
}

fn pass(ctx: &mut Ctx<'_>, o: &Obj<'_>, ql: QueryLanguage, names: &Names) -> Option<Pass> {
    let result = match ql {
        QueryLanguage::JsonPath => o.get("Result").cloned(),
        QueryLanguage::Jsonata => None,
    };
    Some(Pass {
        result,
        transition: transition(ctx, o, names)?,
    })
}

fn task(ctx: &mut Ctx<'_>, o: &Obj<'_>, ql: QueryLanguage, names: &Names) -> Option<Task> {
    o.require(ctx, &["Resource"]);
    let resource = o.string(ctx, "Resource");
    if let Some(r) = resource {
        match recognize(r) {
            None => ctx.schema(unrecognized_message(r), o.field_loc("Resource")),
            Some(pattern) => {
                if let Some(msg) = express_refusal(pattern, ctx.ty) {
                    ctx.schema(msg, o.field_loc("Resource"));
                }
            }
        }
    }
    let timeout = number_source(
        ctx,
        o,
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        ql,
        1,
        MAX_SECONDS,
        true,
    );
    let heartbeat = number_source(
        ctx,
        o,
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        ql,
        1,
        MAX_SECONDS,
        true,
    );
    if let (Some(Some(NumberSource::Literal(t))), Some(Some(NumberSource::Literal(h)))) =
        (&timeout, &heartbeat)
        && h >= t
    {
        ctx.schema(
            "HeartbeatSeconds must be less than TimeoutSeconds",
            o.field_loc("HeartbeatSeconds"),
        );
    }
    let credentials = o
        .object(ctx, "Credentials")
        .map(|c| Value::Object(c.map.clone()));
    let retry = retriers(ctx, o);
    let catch = catchers(ctx, o, ql, names);
    let transition = transition(ctx, o, names);
    Some(Task {
        resource: resource?.to_string(),
        timeout: timeout?,
        heartbeat: heartbeat?,
        credentials,
        retry,
        catch,
        transition: transition?,
    })
}

/// RFC 3339 date-time with `T` and an explicit offset (`Z` or `±hh:mm`).
pub(super) fn is_rfc3339(s: &str) -> bool {
    s.as_bytes().get(10) == Some(&b'T') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

const RFC3339_MESSAGE: &str = "String does not match RFC3339 timestamp";

fn wait(ctx: &mut Ctx<'_>, o: &Obj<'_>, ql: QueryLanguage, names: &Names) -> Option<Wait> {
    let fields: &[&str] = match ql {
        QueryLanguage::JsonPath => &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        QueryLanguage::Jsonata => &["Seconds", "Timestamp"],
    };
    let present: Vec<&str> = fields.iter().copied().filter(|f| o.has(f)).collect();
    if present.len() != 1 {
        let list: Vec<String> = fields.iter().map(|f| format!("'{f}'")).collect();
        ctx.schema(
            format!("Exactly one of {} must be set", list.join(", ")),
            o.at(),
        );
        transition(ctx, o, names);
        return None;
    }
    let field = present[0];
    let v = o.get(field)?;
    let is_expr = ql == QueryLanguage::Jsonata && is_jsonata_expr(v);
    let wait = match field {
        "Seconds" if is_expr => {
            jsonata_expr(ctx, v, &o.field_loc(field)).map(WaitFor::JsonataSeconds)
        }
        "Seconds" => o.integer(ctx, field, 0, MAX_SECONDS).map(WaitFor::Seconds),
        "Timestamp" if is_expr => {
            jsonata_expr(ctx, v, &o.field_loc(field)).map(WaitFor::JsonataTimestamp)
        }
        "Timestamp" => match o.string(ctx, field) {
            Some(s) if is_rfc3339(s) => Some(WaitFor::Timestamp(s.to_string())),
            Some(_) => {
                ctx.schema(RFC3339_MESSAGE, o.field_loc(field));
                None
            }
            None => None,
        },
        "SecondsPath" => o.required_path(ctx, field).map(WaitFor::SecondsPath),
        _ => o.required_path(ctx, field).map(WaitFor::TimestampPath),
    };
    let transition = transition(ctx, o, names);
    Some(Wait {
        wait: wait?,
        transition: transition?,
    })
}

/// `Error`/`Cause` of a Fail state, with their `…Path` forms in JSONPath.
fn fail_field(
    ctx: &mut Ctx<'_>,
    o: &Obj<'_>,
    field: &str,
    path_field: &str,
    ql: QueryLanguage,
) -> Option<Option<FailField>> {
    if ql == QueryLanguage::JsonPath && o.has(path_field) {
        if o.has(field) {
            ctx.schema(
                format!("Only one of '{field}' or '{path_field}' can be set"),
                o.at(),
            );
            return None;
        }
        return o.expr(ctx, path_field).map(|e| Some(FailField::Expr(e)));
    }
    let Some(v) = o.get(field) else {
        return Some(None);
    };
    if ql == QueryLanguage::Jsonata && is_jsonata_expr(v) {
        return jsonata_expr(ctx, v, &o.field_loc(field)).map(|e| Some(FailField::Jsonata(e)));
    }
    o.string(ctx, field)
        .map(|s| Some(FailField::Literal(s.to_string())))
}

fn fail(ctx: &mut Ctx<'_>, o: &Obj<'_>, ql: QueryLanguage) -> Option<Fail> {
    let error = fail_field(ctx, o, "Error", "ErrorPath", ql);
    let cause = fail_field(ctx, o, "Cause", "CausePath", ql);
    Some(Fail {
        error: error?,
        cause: cause?,
    })
}

const BRANCH_FIELDS: &[&str] = &["StartAt", "States", "Comment"];
const PROCESSOR_FIELDS: &[&str] = &["StartAt", "States", "Comment", "ProcessorConfig"];

fn parallel(ctx: &mut Ctx<'_>, o: &Obj<'_>, ql: QueryLanguage, names: &Names) -> Option<Parallel> {
    o.require(ctx, &["Branches"]);
    let mut branches = Some(Vec::new());
    if let Some(list) = o.array(ctx, "Branches") {
        let loc = o.field_loc("Branches");
        for (i, b) in list.iter().enumerate() {
            let at = format!("{loc}[{i}]");
            let Value::Object(m) = b else {
                ctx.schema("Expected value of type Object", at);
                branches = None;
                continue;
            };
            let scope = parse_scope(ctx, &Obj::new(m, at), BRANCH_FIELDS);
            match (&mut branches, scope) {
                (Some(bs), Some(s)) => bs.push(s),
                _ => branches = None,
            }
        }
    }
    let retry = retriers(ctx, o);
    let catch = catchers(ctx, o, ql, names);
    let transition = transition(ctx, o, names);
    Some(Parallel {
        branches: branches?,
        retry,
        catch,
        transition: transition?,
    })
}

/// `ProcessorConfig`: mode and, for Distributed, the child execution type.
fn processor_config(ctx: &mut Ctx<'_>, p: &Obj<'_>) -> (MapMode, Option<String>) {
    let Some(cfg) = p.object(ctx, "ProcessorConfig") else {
        return (MapMode::Inline, None);
    };
    cfg.allow(ctx, &["Mode", "ExecutionType"]);
    let mode = match cfg.one_of(ctx, "Mode", &["INLINE", "DISTRIBUTED"]) {
        Some("DISTRIBUTED") => MapMode::Distributed,
        _ => MapMode::Inline,
    };
    let execution_type = cfg
        .one_of(ctx, "ExecutionType", &["STANDARD", "EXPRESS"])
        .map(str::to_string);
    (mode, execution_type)
}

fn label(ctx: &mut Ctx<'_>, o: &Obj<'_>) -> Option<String> {
    let label = o.string(ctx, "Label")?;
    if let Some(reason) = label_problem(label) {
        let create_message = label_create_message(&reason, ctx.root);
        ctx.diags.push(Diagnostic {
            severity: Severity::Error,
            code: "INVALID_LABEL_NAME".to_string(),
            message: reason,
            location: Some(o.field_loc("Label")),
            create_message: Some(create_message),
        });
        return None;
    }
    Some(label.to_string())
}

/// A raw object field kept for later (`ItemReader`, `ItemBatcher`, `ResultWriter`).
fn raw_object(ctx: &mut Ctx<'_>, o: &Obj<'_>, field: &str) -> Option<Value> {
    o.object(ctx, field).map(|v| Value::Object(v.map.clone()))
}

fn map(
    ctx: &mut Ctx<'_>,
    o: &Obj<'_>,
    ql: QueryLanguage,
    names: &Names,
    state: &mut State,
) -> Option<Map> {
    let jp = ql == QueryLanguage::JsonPath;
    let processor_field = if o.has("ItemProcessor") || !o.has("Iterator") {
        "ItemProcessor"
    } else {
        "Iterator"
    };
    if o.has("ItemProcessor") && o.has("Iterator") {
        ctx.schema(
            "Only one of 'ItemProcessor' or 'Iterator' can be set",
            o.at(),
        );
    }
    o.require(ctx, &[processor_field]);
    let mut mode = (MapMode::Inline, None);
    let processor = o.object(ctx, processor_field).and_then(|p| {
        mode = processor_config(ctx, &p);
        parse_scope(ctx, &p, PROCESSOR_FIELDS)
    });

    let items_path = if jp {
        o.path(ctx, "ItemsPath", false).flatten()
    } else {
        None
    };
    let jsonata_items = match o.get("Items") {
        Some(v) if !jp && (v.is_array() || is_jsonata_expr(v)) => {
            jsonata_template(ctx, v, &o.field_loc("Items"))
        }
        Some(_) if !jp => {
            ctx.schema("Expected value of type Array", o.field_loc("Items"));
            None
        }
        _ => None,
    };
    let mut jsonata_item_selector = None;
    let item_selector = if o.has("ItemSelector") {
        if jp && o.has("Parameters") {
            ctx.schema(
                "Only one of 'ItemSelector' or 'Parameters' can be set",
                o.at(),
            );
        }
        if jp {
            template(ctx, o, "ItemSelector")
        } else {
            // JSONata: `.$` keys mean nothing; `{% %}` strings are expressions.
            jsonata_item_selector = o
                .get("ItemSelector")
                .and_then(|v| jsonata_template(ctx, v, &o.field_loc("ItemSelector")));
            None
        }
    } else if jp {
        template(ctx, o, "Parameters")
    } else {
        None
    };
    state.parameters = None;
    let max_concurrency = number_source(
        ctx,
        o,
        "MaxConcurrency",
        "MaxConcurrencyPath",
        ql,
        0,
        u32::MAX as u64,
        true,
    );
    let tolerated_failure_percentage = number_source(
        ctx,
        o,
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        ql,
        0,
        100,
        false,
    );
    let tolerated_failure_count = number_source(
        ctx,
        o,
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        ql,
        0,
        u32::MAX as u64,
        true,
    );
    let label = label(ctx, o);
    let item_reader = raw_object(ctx, o, "ItemReader");
    if let Some(Value::Object(r)) = &item_reader {
        Obj::new(r, o.field_loc("ItemReader")).require(ctx, &["Resource"]);
    }
    let item_batcher = raw_object(ctx, o, "ItemBatcher");
    let result_writer = raw_object(ctx, o, "ResultWriter");
    let retry = retriers(ctx, o);
    let catch = catchers(ctx, o, ql, names);
    let transition = transition(ctx, o, names);
    Some(Map {
        processor: processor?,
        mode: mode.0,
        execution_type: mode.1,
        items_path,
        jsonata_items,
        item_selector,
        jsonata_item_selector,
        max_concurrency: max_concurrency?,
        tolerated_failure_percentage: tolerated_failure_percentage?,
        tolerated_failure_count: tolerated_failure_count?,
        label,
        item_reader,
        item_batcher,
        result_writer,
        retry,
        catch,
        transition: transition?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339("2016-03-05T21:29:29.243167252Z"));
        assert!(is_rfc3339("2016-03-14T01:59:00+02:00"));
        for bad in [
            "2016-12-05 21:29:29Z",
            "2016-12-05T21:29:29",
            "2016-12-05T25:29:29Z",
            "2016-13-05T21:29:29Z",
            "{% '2016-03-14T01:59:00Z' %}",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn field_tables() {
        let f = allowed_fields("Choice", QueryLanguage::JsonPath);
        assert!(!f.contains(&"End") && !f.contains(&"Catch") && f.contains(&"InputPath"));
        let f = allowed_fields("Pass", QueryLanguage::Jsonata);
        assert!(f.contains(&"Output") && !f.contains(&"Result") && !f.contains(&"Parameters"));
        let f = allowed_fields("Task", QueryLanguage::Jsonata);
        assert!(f.contains(&"Arguments") && !f.contains(&"TimeoutSecondsPath"));
        let f = allowed_fields("Fail", QueryLanguage::JsonPath);
        assert!(!f.contains(&"InputPath") && f.contains(&"CausePath") && !f.contains(&"Assign"));
    }
}
