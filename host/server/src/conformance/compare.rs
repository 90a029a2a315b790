//! Comparing what the engine produced with what AWS recorded, by the rules of the cases'
//! README: placeholders are wildcards (numbered ones bind one value per case), key order and
//! number spelling carry no meaning, history JSON-text fields compare parsed, and some history
//! fields (timestamps, ARNs) are ignored.
//!
//! Two rules go beyond the README, both for values the recording normaliser replaced or that
//! come from outside the engine:
//! * the normaliser also replaced some values by their own key (`"RequestId": "RequestId"`) or by
//!   bare tokens (`"start-time"`); those are listed in [`KEY_NAMED`] and [`LITERAL`];
//! * a Lambda error payload's `stackTrace` is the function's own source, which the case's
//!   function stubs do not carry: its contents are not compared, only its presence.

use std::collections::HashMap;

use serde_json::Value;

/// Whole-value placeholders: event timestamps, dates, role ARNs, context-object times, and the
/// result of `States.MathRandom`.
const LITERAL: &[&str] = &[
    "timestamp",
    "date",
    "datetime",
    "snf_role_arn",
    "sfn_role_arn",
    "start-time",
    "entered-time",
    "RandomNumberGenerated",
];

/// Keys whose recorded value was replaced by the key's own name (SDK response metadata).
const KEY_NAMED: &[&str] = &[
    "RequestId",
    "x-amzn-RequestId",
    "x-amzn-requestid",
    "X-Amzn-Trace-Id",
    "x-amz-crc32",
    "Server",
];

/// History event fields never compared.
const IGNORED_HISTORY_FIELDS: &[&str] = &["timestamp", "roleArn", "taskToken"];

/// History event fields ignored when they hold an ARN.
const ARN_HISTORY_FIELDS: &[&str] = &[
    "resource",
    "executionArn",
    "stateMachineArn",
    "mapRunArn",
    "activityArn",
];

/// Where two values first differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `$.a[0].b` style path from the compared root.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at {}: expected {}, got {}",
            self.path,
            truncate(&self.expected),
            truncate(&self.actual)
        )
    }
}

/// Values longer than this are cut in diff lines.
const SHOWN_CHARS: usize = 160;

pub fn truncate(s: &str) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        s.to_string()
    } else {
        let head: String = s.chars().take(SHOWN_CHARS).collect();
        format!("{head}... ({} chars)", s.chars().count())
    }
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// How to read the values being compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Execution output and the like: values as they are.
    Value,
    /// History events: JSON-text fields may be parsed on either side; some fields ignored.
    History,
}

/// Compares values of one case, remembering what numbered placeholders stood for.
#[derive(Debug, Default)]
pub struct Matcher {
    bindings: HashMap<String, String>,
}

impl Matcher {
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// Compares `actual` with the recorded `expected`, reporting the first difference under `path`.
    pub fn values(
        &mut self,
        path: &str,
        expected: &Value,
        actual: &Value,
        mode: Mode,
    ) -> Result<(), Mismatch> {
        self.value(path, None, expected, actual, mode)
    }

    /// Matches an actual text against a recorded one that may contain placeholders.
    pub fn text(&mut self, expected: &str, actual: &str) -> bool {
        let expected = mask_stack_traces(expected);
        let actual = mask_stack_traces(actual);
        let segments = segments(&expected);
        match_segments(&segments, &actual, &mut self.bindings)
    }

    fn value(
        &mut self,
        path: &str,
        key: Option<&str>,
        expected: &Value,
        actual: &Value,
        mode: Mode,
    ) -> Result<(), Mismatch> {
        let mismatch = || Mismatch {
            path: path.to_string(),
            expected: show(expected),
            actual: show(actual),
        };
        if let Value::String(e) = expected {
            if is_whole_placeholder(key, e) {
                return Ok(());
            }
            let actual_text = match actual {
                Value::String(a) => Some(a.clone()),
                // A whole `<...>` placeholder may stand for a non-string value.
                other if is_bracket_placeholder(e) => Some(show(other)),
                _ => None,
            };
            if let Some(a) = actual_text
                && self.text(e, &a)
            {
                return Ok(());
            }
            if mode == Mode::History {
                // JSON text on one or both sides: compare what it encodes.
                let saved = self.bindings.clone();
                let e_parsed = serde_json::from_str::<Value>(e).ok();
                let a_parsed = match actual {
                    Value::String(a) => serde_json::from_str::<Value>(a).ok(),
                    other => Some(other.clone()),
                };
                if let (Some(ev), Some(av)) = (e_parsed, a_parsed)
                    && self.value(path, key, &ev, &av, Mode::Value).is_ok()
                {
                    return Ok(());
                }
                self.bindings = saved;
            }
            return Err(mismatch());
        }
        if let Value::String(a) = actual {
            // The recording holds parsed JSON text where the engine holds the text itself.
            if mode == Mode::History
                && let Ok(parsed) = serde_json::from_str::<Value>(a)
            {
                return self.value(path, key, expected, &parsed, Mode::Value);
            }
            return Err(mismatch());
        }
        match (expected, actual) {
            (Value::Null, Value::Null) => Ok(()),
            (Value::Bool(e), Value::Bool(a)) if e == a => Ok(()),
            (Value::Number(e), Value::Number(a)) if numbers_equal(e, a) => Ok(()),
            (Value::Array(e), Value::Array(a)) => {
                if e.len() != a.len() {
                    return Err(Mismatch {
                        path: path.to_string(),
                        expected: format!("{} items: {}", e.len(), show(expected)),
                        actual: format!("{} items: {}", a.len(), show(actual)),
                    });
                }
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    self.value(&format!("{path}[{i}]"), key, ev, av, mode)?;
                }
                Ok(())
            }
            (Value::Object(e), Value::Object(a)) => {
                let error_payload = e.contains_key("errorType") && e.contains_key("stackTrace");
                for (k, ev) in e {
                    if mode == Mode::History && ignored_history_field(k, ev) {
                        continue;
                    }
                    let sub = format!("{path}.{k}");
                    let Some(av) = a.get(k) else {
                        return Err(Mismatch {
                            path: sub,
                            expected: show(ev),
                            actual: "nothing (field missing)".into(),
                        });
                    };
                    if error_payload && k == "stackTrace" {
                        if !av.is_array() {
                            return Err(Mismatch {
                                path: sub,
                                expected: "an array".into(),
                                actual: show(av),
                            });
                        }
                        continue;
                    }
                    self.value(&sub, Some(k), ev, av, mode)?;
                }
                for (k, av) in a {
                    let ignored = mode == Mode::History && ignored_history_field(k, av);
                    if !e.contains_key(k) && !ignored {
                        return Err(Mismatch {
                            path: format!("{path}.{k}"),
                            expected: "nothing (no such field)".into(),
                            actual: show(av),
                        });
                    }
                }
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }
}

fn ignored_history_field(key: &str, value: &Value) -> bool {
    IGNORED_HISTORY_FIELDS.contains(&key)
        || (ARN_HISTORY_FIELDS.contains(&key)
            && value.as_str().is_some_and(|s| s.starts_with("arn:")))
}

fn is_whole_placeholder(key: Option<&str>, s: &str) -> bool {
    LITERAL.contains(&s) || (key == Some(s) && KEY_NAMED.contains(&s))
}

fn is_bracket_placeholder(s: &str) -> bool {
    matches!(segments(s).as_slice(), [Segment::Hole(_)])
}

fn numbers_equal(e: &serde_json::Number, a: &serde_json::Number) -> bool {
    match (e.as_i64(), a.as_i64(), e.as_u64(), a.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => e.as_f64() == a.as_f64(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    /// A placeholder; `Some(name)` when numbered, so it must stand for one value per case.
    Hole(Option<String>),
}

/// Splits a recorded string into literal text and `<name>` placeholders (`<uuid:1>`,
/// `<ArnPart_0idx>`, `<region>`): `<` + letters, digits, `_ : . -` + `>`.
fn segments(s: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_:.-".contains(c)))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('>') {
            literal.push_str(&rest[..start]);
            if !literal.is_empty() {
                out.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            let name = &after[..name_len];
            let numbered = name.bytes().any(|b| b.is_ascii_digit());
            out.push(Segment::Hole(numbered.then(|| name.to_string())));
            rest = &after[name_len + 1..];
        } else {
            literal.push_str(&rest[..=start]);
            rest = after;
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(Segment::Literal(literal));
    }
    out
}

/// Backtracking match; a placeholder stands for at least one character.
fn match_segments(segs: &[Segment], text: &str, bindings: &mut HashMap<String, String>) -> bool {
    match segs.split_first() {
        None => text.is_empty(),
        Some((Segment::Literal(l), rest)) => {
            text.starts_with(l.as_str()) && match_segments(rest, &text[l.len()..], bindings)
        }
        Some((Segment::Hole(name), rest)) => {
            if let Some(bound) = name.as_ref().and_then(|n| bindings.get(n)).cloned() {
                return text.starts_with(&bound)
                    && match_segments(rest, &text[bound.len()..], bindings);
            }
            // Candidate ends: every char boundary, or only where the next literal starts.
            let ends: Vec<usize> = match rest.first() {
                None if text.is_empty() => vec![],
                None => vec![text.len()],
                Some(Segment::Literal(next)) => text
                    .match_indices(next.as_str())
                    .map(|(i, _)| i)
                    .filter(|&i| i > 0)
                    .collect(),
                _ => text
                    .char_indices()
                    .map(|(i, _)| i)
                    .skip(1)
                    .chain(std::iter::once(text.len()))
                    .filter(|&i| i > 0)
                    .collect(),
            };
            for end in ends {
                if let Some(n) = name {
                    bindings.insert(n.clone(), text[..end].to_string());
                }
                if match_segments(rest, &text[end..], bindings) {
                    return true;
                }
                if let Some(n) = name {
                    bindings.remove(n);
                }
            }
            false
        }
    }
}

/// Replaces the array after each `"stackTrace":` in JSON text by `[]` (see the module docs).
fn mask_stack_traces(s: &str) -> std::borrow::Cow<'_, str> {
    const KEY: &str = "\"stackTrace\":";
    if !s.contains(KEY) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(KEY) {
        let after_key = i + KEY.len();
        out.push_str(&rest[..after_key]);
        let tail = &rest[after_key..];
        let ws = tail.len() - tail.trim_start().len();
        match json_array_len(&tail[ws..]) {
            Some(len) => {
                out.push_str(&tail[..ws]);
                out.push_str("[]");
                rest = &tail[ws + len..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Byte length of the JSON array starting `s`, honouring strings and escapes.
fn json_array_len(s: &str) -> Option<usize> {
    if !s.starts_with('[') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(expected: Value, actual: Value, mode: Mode) -> bool {
        Matcher::new().values("$", &expected, &actual, mode).is_ok()
    }

    #[test]
    fn placeholders_match_embedded_and_whole() {
        let mut m = Matcher::new();
        assert!(m.text(
            "arn:<partition>:lambda:<region>:111111111111:function:no_such_<fn>:$LATEST",
            "arn:aws:lambda:us-east-1:111111111111:function:no_such_f:$LATEST"
        ));
        assert!(!m.text(
            "arn:<partition>:lambda:<region>:111111111111:function:x",
            "arn:aws:lambda:us-east-1:222222222222:function:x"
        ));
        assert!(ok(
            json!({"a": "<uuid:1>"}),
            json!({"a": "1234"}),
            Mode::Value
        ));
        assert!(!ok(json!({"a": "x<y>"}), json!({"a": "x"}), Mode::Value));
    }

    #[test]
    fn numbered_placeholders_bind_one_value_per_case() {
        let mut m = Matcher::new();
        assert!(m.text("id <uuid:1>", "id aaa"));
        assert!(m.text("again <uuid:1>", "again aaa"));
        assert!(!m.text("again <uuid:1>", "again bbb"));
        assert!(m.text("other <uuid:2>", "other bbb"));
        // Unnumbered ones are free each time.
        assert!(m.text("<region>", "us-east-1") && m.text("<region>", "eu-west-1"));
        let e = json!(["<ArnPart_0idx>", "<ArnPart_0idx>"]);
        assert!(ok(e.clone(), json!(["sm", "sm"]), Mode::Value));
        assert!(!ok(e, json!(["sm", "other"]), Mode::Value));
    }

    #[test]
    fn a_failed_attempt_leaves_no_binding() {
        let mut m = Matcher::new();
        assert!(!m.text("<uuid:1>-x", "abc-y"));
        assert!(m.text("<uuid:1>", "zzz"));
    }

    #[test]
    fn angle_brackets_that_are_not_placeholders_are_literal() {
        let mut m = Matcher::new();
        assert!(m.text("a < b > c", "a < b > c"));
        assert!(!m.text("a < b > c", "a < x > c"));
        assert!(m.text("<>", "<>"));
    }

    #[test]
    fn literal_and_key_named_placeholders() {
        assert!(ok(
            json!({"Date": "date"}),
            json!({"Date": ["Tue"]}),
            Mode::Value
        ));
        assert!(ok(json!({"t": "timestamp"}), json!({"t": 12}), Mode::Value));
        assert!(ok(
            json!({"RequestId": "RequestId"}),
            json!({"RequestId": "9f2c"}),
            Mode::Value
        ));
        assert!(ok(
            json!({"x-amzn-RequestId": "x-amzn-RequestId"}),
            json!({"x-amzn-RequestId": ["9f2c"]}),
            Mode::Value
        ));
        // Only for the normalised keys, and only under their own key.
        assert!(!ok(json!({"a": "a"}), json!({"a": "b"}), Mode::Value));
        assert!(!ok(
            json!({"Other": "RequestId"}),
            json!({"Other": "x"}),
            Mode::Value
        ));
    }

    #[test]
    fn numbers_compare_by_value_and_keys_in_any_order() {
        assert!(ok(
            json!({"a": 0.0, "b": 1}),
            json!({"b": 1.0, "a": 0}),
            Mode::Value
        ));
        assert!(!ok(json!({"a": 1}), json!({"a": 2}), Mode::Value));
        assert!(!ok(json!({"a": 1}), json!({"a": 1, "b": 2}), Mode::Value));
        assert!(!ok(json!({"a": 1, "b": 2}), json!({"a": 1}), Mode::Value));
        assert!(!ok(json!([1, 2]), json!([2, 1]), Mode::Value));
        assert!(!ok(json!("1"), json!(1), Mode::Value));
    }

    #[test]
    fn history_json_text_compares_parsed() {
        // Recorded as an object because the text began with `{`; the engine holds text.
        assert!(ok(
            json!({"input": {"a": 1}}),
            json!({"input": "{\"a\": 1}"}),
            Mode::History
        ));
        assert!(!ok(
            json!({"input": {"a": 1}}),
            json!({"input": "{\"a\":2}"}),
            Mode::History
        ));
        // Kept as text because it did not begin with `{`.
        assert!(ok(
            json!({"output": "0.0"}),
            json!({"output": "0"}),
            Mode::History
        ));
        assert!(ok(
            json!({"output": "[1, 2]"}),
            json!({"output": "[1,2]"}),
            Mode::History
        ));
        assert!(!ok(
            json!({"output": "[1, 2]"}),
            json!({"output": "[2,1]"}),
            Mode::History
        ));
        // Outside history, text is text.
        assert!(!ok(
            json!({"output": "0.0"}),
            json!({"output": "0"}),
            Mode::Value
        ));
    }

    #[test]
    fn history_ignores_timestamps_role_and_arns() {
        let e = json!({"id": 1, "timestamp": "timestamp",
                       "d": {"roleArn": "snf_role_arn", "resource": "arn:aws:lambda:x"}});
        let a = json!({"id": 1, "timestamp": "2026-01-01T00:00:00Z",
                       "d": {"roleArn": "arn:aws:iam::1:role/r", "resource": "arn:aws:lambda:y"}});
        assert!(ok(e, a, Mode::History));
        // `resource` that is not an ARN (service integrations) is compared.
        assert!(!ok(
            json!({"resource": "invoke"}),
            json!({"resource": "publish"}),
            Mode::History
        ));
    }

    #[test]
    fn stack_traces_are_not_compared() {
        let e = json!({"errorType": "E", "errorMessage": "m", "stackTrace": ["  File x"]});
        assert!(ok(
            e.clone(),
            json!({"errorType": "E", "errorMessage": "m", "stackTrace": []}),
            Mode::Value
        ));
        assert!(!ok(
            e,
            json!({"errorType": "F", "errorMessage": "m", "stackTrace": []}),
            Mode::Value
        ));
        let mut m = Matcher::new();
        let recorded = r#"{"errorType":"E","requestId":"<uuid:1>","stackTrace":["  File \"h.py\", line 2\n"]}"#;
        assert!(m.text(
            recorded,
            r#"{"errorType":"E","requestId":"r1","stackTrace":[]}"#
        ));
        // The JSON style around it still counts.
        assert!(!m.text(
            recorded,
            r#"{"errorType": "E", "requestId": "r1", "stackTrace": []}"#
        ));
    }

    #[test]
    fn mismatch_paths_point_at_the_difference() {
        let err = Matcher::new()
            .values(
                "$",
                &json!({"a": [1, {"b": "x"}]}),
                &json!({"a": [1, {"b": "y"}]}),
                Mode::Value,
            )
            .unwrap_err();
        assert_eq!(err.path, "$.a[1].b");
        assert_eq!(err.to_string(), "at $.a[1].b: expected \"x\", got \"y\"");
    }

    #[test]
    fn long_values_are_truncated() {
        let t = truncate(&"a".repeat(1000));
        assert!(t.len() < 200 && t.ends_with("(1000 chars)"), "{t}");
    }
}
