//! One conformance case file (format: `shared/conformance/README.md`), loaded and checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sandflow_core::parse::MachineType;
use serde::Deserialize;
use serde_json::Value;

use super::stubs::Stub;

#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub path: PathBuf,
    pub features: Vec<String>,
    pub machine_type: MachineType,
    pub definition: Value,
    pub input: Value,
    pub expected: Expected,
    pub creation_error: Option<CreationError>,
    pub stubs: HashMap<String, Stub>,
    pub history: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub status: String,
    /// `Some(Value::Null)` for a recorded `null` output.
    #[serde(default, deserialize_with = "present")]
    pub output: Option<Value>,
    pub error: Option<String>,
    /// A string, or the parsed object when the recorded cause was JSON text starting with `{`.
    #[serde(default, deserialize_with = "present")]
    pub cause: Option<Value>,
    /// Anything else the recording holds (fields only the HTTP API can answer).
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// A field that is present is `Some`, even when it holds `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreationError {
    #[serde(rename = "__type")]
    pub error_type: String,
    pub message: String,
    /// `ValidateStateMachineDefinition` when the error came from that API.
    pub api: Option<String>,
    pub diagnostics: Option<Vec<Value>>,
}

impl CreationError {
    pub fn is_validate_api(&self) -> bool {
        self.api.as_deref() == Some("ValidateStateMachineDefinition")
    }
}

#[derive(Deserialize)]
struct RawCase {
    id: String,
    #[serde(default)]
    features: Vec<String>,
    state_machine_type: Option<String>,
    definition: Value,
    #[serde(default = "empty_object")]
    input: Value,
    expected: Expected,
    creation_error: Option<CreationError>,
    #[serde(default)]
    function_stubs: HashMap<String, Value>,
    history: Option<Vec<Value>>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Case {
    pub fn load(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let raw: RawCase =
            serde_json::from_str(&text).map_err(|e| format!("not a conformance case: {e}"))?;
        let machine_type = match raw.state_machine_type.as_deref() {
            None | Some("STANDARD") => MachineType::Standard,
            Some("EXPRESS") => MachineType::Express,
            Some(other) => return Err(format!("unknown state_machine_type '{other}'")),
        };
        let stubs = raw
            .function_stubs
            .iter()
            .map(|(name, spec)| {
                Stub::from_json(spec)
                    .map(|s| (name.clone(), s))
                    .map_err(|e| format!("function stub '{name}': {e}"))
            })
            .collect::<Result<_, _>>()?;
        if raw.expected.status == "CREATION_FAILED" && raw.creation_error.is_none() {
            return Err("CREATION_FAILED without creation_error".into());
        }
        Ok(Case {
            id: raw.id,
            path: path.to_path_buf(),
            features: raw.features,
            machine_type,
            definition: raw.definition,
            input: raw.input,
            expected: raw.expected,
            creation_error: raw.creation_error,
            stubs,
            history: raw.history,
        })
    }

    pub fn is_creation_case(&self) -> bool {
        self.creation_error.is_some()
    }

    pub fn has_feature(&self, tag: &str) -> bool {
        self.features.iter().any(|f| f == tag)
    }
}

/// Every `*.json` under `roots` (a root may also be a file), sorted for a stable order.
pub fn case_files(roots: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for root in roots {
        if root.is_file() {
            files.push(root.clone());
        } else if root.is_dir() {
            collect(root, &mut files)?;
        } else {
            return Err(format!("no such file or directory: {}", root.display()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Visits every value of `v` with the key it sits under (array items keep their array's key);
/// true as soon as `f` is.
pub fn any_node(v: &Value, f: &mut dyn FnMut(Option<&str>, &Value) -> bool) -> bool {
    fn walk(key: Option<&str>, v: &Value, f: &mut dyn FnMut(Option<&str>, &Value) -> bool) -> bool {
        if f(key, v) {
            return true;
        }
        match v {
            Value::Object(m) => m.iter().any(|(k, x)| walk(Some(k), x, f)),
            Value::Array(items) => items.iter().any(|x| walk(key, x, f)),
            _ => false,
        }
    }
    walk(None, v, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sandflow-case-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        d
    }

    #[test]
    fn loads_a_case_with_stubs_and_defaults() {
        let d = temp_dir("load");
        let p = d.join("c.json");
        std::fs::write(
            &p,
            r#"{"id": "x/c", "source": "s", "features": ["lambda"], "definition": {"StartAt": "A", "States": {}},
                "expected": {"status": "SUCCEEDED", "output": 1, "describe": {"x": 1}},
                "function_stubs": {"f": {"kind": "identity"}}}"#,
        )
        .unwrap();
        let c = Case::load(&p).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(c.id, "x/c");
        assert_eq!(c.machine_type, MachineType::Standard);
        assert_eq!(c.input, serde_json::json!({}));
        assert!(matches!(c.stubs.get("f"), Some(Stub::Identity)));
        assert!(c.expected.other.contains_key("describe"));
        assert!(c.has_feature("lambda") && !c.is_creation_case());
    }

    #[test]
    fn rejects_malformed_cases() {
        let d = temp_dir("bad");
        let p = d.join("c.json");
        std::fs::write(
            &p,
            r#"{"id": "x", "definition": {}, "expected": {"status": "CREATION_FAILED"}}"#,
        )
        .unwrap();
        assert!(Case::load(&p).unwrap_err().contains("creation_error"));
        std::fs::write(&p, r#"{"id": "x"}"#).unwrap();
        assert!(Case::load(&p).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn finds_json_files_recursively_in_order() {
        let d = temp_dir("walk");
        for f in ["b.json", "a.json", "notes.md", "sub/c.json"] {
            std::fs::write(d.join(f), "{}").unwrap();
        }
        let files = case_files(std::slice::from_ref(&d)).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(names, ["a.json", "b.json", "sub/c.json"]);
        assert!(case_files(&[PathBuf::from("/nonexistent")]).is_err());
    }
}
