//! Distributed Map `Label` rules, and the odd `InvalidDefinition` message AWS returns for them:
//! `Error=ValueError Args=[<repr of reason>] in definition '<definition>'.`, where the reason is
//! rendered like a Python `repr` and the definition like Python's `json.dumps` (ASCII-escaped,
//! `", "` / `": "` separators, document key order). Both renderings are reproduced here.

use std::fmt::Write;

use serde_json::Value;

/// Longest accepted label, in characters.
const MAX_LEN: usize = 40;

/// Characters AWS refuses in names and labels: whitespace, brackets, wildcards, specials, controls.
fn is_invalid_char(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
}

/// Why `label` is refused, worded as AWS does; `None` when it is fine.
pub(super) fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("Label cannot be empty".to_string());
    }
    if label.chars().count() > MAX_LEN {
        return Some(format!("Label cannot exceed {MAX_LEN} characters"));
    }
    label.chars().find(|c| is_invalid_char(*c)).map(|c| {
        format!(
            "Label contains invalid character: {}",
            py_repr(&c.to_string())
        )
    })
}

/// The whole CreateStateMachine message for a label problem.
pub(super) fn label_create_message(reason: &str, definition: &Value) -> String {
    format!(
        "Error=ValueError Args=[{}] in definition '{}'.",
        py_repr(reason),
        crate::expr::render::python_json(definition)
    )
}

/// Python's `str.isprintable`, closely enough: controls, format characters, separators other than
/// the ASCII space, surrogates and private use are not printable.
fn py_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || u == 0xad
        || (0x600..=0x605).contains(&u)
        || u == 0x61c
        || u == 0x6dd
        || u == 0x70f
        || (0x200b..=0x200f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || u == 0xfeff
        || (0xfff9..=0xfffb).contains(&u)
        || (0xe000..=0xf8ff).contains(&u)
        || (0xf0000..=0x10ffff).contains(&u))
}

/// Python's `repr()` of a string.
pub(super) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if py_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_rules() {
        assert_eq!(label_problem("TestMap"), None);
        assert_eq!(label_problem("").unwrap(), "Label cannot be empty");
        assert_eq!(
            label_problem(&"1".repeat(41)).unwrap(),
            "Label cannot exceed 40 characters"
        );
        assert_eq!(label_problem(&"1".repeat(40)), None);
        assert_eq!(
            label_problem("label_ ").unwrap(),
            "Label contains invalid character: ' '"
        );
        assert_eq!(
            label_problem("a\\").unwrap(),
            "Label contains invalid character: '\\\\'"
        );
        assert_eq!(
            label_problem("a\u{81}").unwrap(),
            "Label contains invalid character: '\\x81'"
        );
        assert_eq!(
            label_problem("a\n").unwrap(),
            "Label contains invalid character: '\\n'"
        );
    }

    #[test]
    fn python_repr() {
        assert_eq!(py_repr("abc"), "'abc'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("'\"'"), "'\\'\"\\''");
        assert_eq!(py_repr("\u{0}"), "'\\x00'");
        assert_eq!(py_repr("\u{200b}"), "'\\u200b'");
        assert_eq!(py_repr("é"), "'é'");
    }

    #[test]
    fn create_message_shape() {
        let def = json!({"StartAt": "M", "States": {}});
        assert_eq!(
            label_create_message("Label cannot be empty", &def),
            r#"Error=ValueError Args=['Label cannot be empty'] in definition '{"StartAt": "M", "States": {}}'."#
        );
    }
}
