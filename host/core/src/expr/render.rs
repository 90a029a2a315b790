//! Java-flavoured rendering of JSON values, as AWS shows them: compact JSON text (Jackson) for
//! `States.JsonToString` and error messages, and `String.valueOf` of the decoded Java object
//! (`{a=1, b=[x, y]}`) for `States.Format` arguments.

use serde_json::{Number, Value};

/// `Double.toString`: plain decimal for 1e-3 <= |d| < 1e7 (always with a fraction digit),
/// otherwise `d.dddE±n` scientific notation, with the shortest round-tripping digits.
pub fn java_double(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    if !d.is_finite() {
        return if d.is_nan() {
            "NaN".to_string()
        } else if d > 0.0 {
            "Infinity".to_string()
        } else {
            "-Infinity".to_string()
        };
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{d}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Rust `{:e}` gives the shortest digits as `1.2345e-5` / `1e20`.
        let s = format!("{d:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// A JSON number as Java prints it: integers plainly, floating point via `Double.toString`.
pub fn java_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        java_double(n.as_f64().unwrap_or(0.0))
    }
}

/// Compact JSON text with Java number rendering (what Jackson writes).
pub fn json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&java_number(n)),
        Value::String(s) => write_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `String.valueOf(object)` of the Java value a JSON node decodes to: strings bare, maps as
/// `{k=v, k2=v2}`, lists as `[a, b]`.
pub fn java_to_string(v: &Value) -> String {
    let mut out = String::new();
    write_java(v, &mut out);
    out
}

fn write_java(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&java_number(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                write_java(x, out);
            }
            out.push('}');
        }
    }
}

/// JSON text as Python's `json.dumps` writes it with default settings, which is how the Python
/// Lambda runtime serialises results and error payloads: `", "` and `": "` separators,
/// non-ASCII escaped as `\uXXXX`, floats in `repr` form (`1e+16`, `0.0`).
pub fn python_json(v: &Value) -> String {
    let mut out = String::new();
    write_python_json(v, &mut out);
    out
}

fn write_python_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(k, out);
                out.push_str(": ");
                write_python_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, positional for exponents -4..16.
fn python_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = f.to_string();
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_dumps() {
        let v = json!({"a": [1, 2.5, true, null], "b": {"c": "x\"\u{1}é😀"}, "d": {}, "e": []});
        assert_eq!(
            python_json(&v),
            r#"{"a": [1, 2.5, true, null], "b": {"c": "x\"\u0001\u00e9\ud83d\ude00"}, "d": {}, "e": []}"#
        );
    }

    #[test]
    fn python_floats() {
        assert_eq!(python_json(&json!(1.0)), "1.0");
        assert_eq!(python_json(&json!(0.0001)), "0.0001");
        assert_eq!(python_json(&json!(0.00001)), "1e-05");
        assert_eq!(python_json(&json!(1e16)), "1e+16");
        assert_eq!(python_json(&json!(1.5e16)), "1.5e+16");
        assert_eq!(python_json(&json!(123456789012345.6)), "123456789012345.6");
        assert_eq!(python_json(&json!(-2.5)), "-2.5");
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(1.1), "1.1");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1234567.5), "1234567.5");
        assert_eq!(java_double(1e300), "1.0E300");
    }

    #[test]
    fn json_text_is_compact_with_java_numbers() {
        let v = json!({"a": [1, 2.5, "x\"y"], "b": null, "c": 1e20});
        assert_eq!(json_text(&v), r#"{"a":[1,2.5,"x\"y"],"b":null,"c":1.0E20}"#);
    }

    #[test]
    fn java_to_string_of_maps_and_lists() {
        let v = json!({"Arg1": 1, "Arg2": [], "s": "hi", "n": [null, true, 1.0]});
        assert_eq!(
            java_to_string(&v),
            "{Arg1=1, Arg2=[], s=hi, n=[null, true, 1.0]}"
        );
        assert_eq!(java_to_string(&json!("plain")), "plain");
    }
}
