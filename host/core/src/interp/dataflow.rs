//! JSONPath-mode data flow of one state: InputPath, ResultPath, OutputPath, and the context object.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::Failure;
use crate::expr::{JsonPath, Root, Vars};

/// Field value of `InputPath`/`OutputPath`: absent, `null`, or a path.
pub type OptPath = Option<Option<JsonPath>>;

/// Lazily built context object (`$$`): most states never read it, so it is built on first use.
pub struct Context<'a> {
    pub build: &'a dyn Fn() -> Value,
    pub value: Option<Value>,
}

impl<'a> Context<'a> {
    pub fn new(build: &'a dyn Fn() -> Value) -> Self {
        Context { build, value: None }
    }

    pub fn get(&mut self) -> &Value {
        if self.value.is_none() {
            self.value = Some((self.build)());
        }
        self.value.as_ref().unwrap_or(&Value::Null)
    }
}

/// Evaluates a path for `InputPath`/`OutputPath`/`ItemsPath`-like fields, borrowing from `doc`
/// where it can. Errors read as AWS's: `Invalid path '$.x' : No results for path: $['x']`.
pub fn select_path<'v>(
    p: &JsonPath,
    doc: &'v Value,
    ctx: &mut Context<'_>,
    vars: &dyn Vars,
) -> Result<Cow<'v, Value>, Failure> {
    let selected = match p.root() {
        Root::Input => p.select_ref(doc),
        Root::Context => p.select_ref(ctx.get()).map(|v| Cow::Owned(v.into_owned())),
        Root::Variable(name) => match vars.get(name) {
            Some(root) => p.select_ref(root).map(|v| Cow::Owned(v.into_owned())),
            None => Err(format!("Variable '${name}' is not defined")),
        },
    };
    selected.map_err(|e| Failure::runtime(format!("Invalid path '{}' : {}", p.as_str(), e)))
}

/// Applies `ResultPath`: where `result` goes inside the state's raw input.
pub fn apply_result_path(
    path: &OptPath,
    raw_input: &Value,
    result: Value,
) -> Result<Value, Failure> {
    match path {
        None => Ok(result),
        Some(None) => Ok(raw_input.clone()),
        Some(Some(p)) if p.as_str() == "$" => Ok(result),
        Some(Some(p)) => {
            let mut doc = raw_input.clone();
            p.assign(&mut doc, result)
                .map_err(|e| Failure::runtime(format!("Invalid path '{}' : {}", p.as_str(), e)))?;
            Ok(doc)
        }
    }
}

/// `{"Error": .., "Cause": ..}`, the error output a Catcher passes on. An absent cause is omitted;
/// an empty one (timeouts) is kept as `""`, as AWS does.
pub fn error_output(f: &Failure) -> Value {
    let mut m = Map::new();
    if !f.error.is_empty() {
        m.insert("Error".into(), Value::String(f.error.clone()));
    }
    if let Some(c) = &f.cause {
        m.insert("Cause".into(), Value::String(c.clone()));
    }
    Value::Object(m)
}

/// Serialized size in bytes, for the payload limit, without allocating the text.
pub fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_roots() {
        let build = || json!({"Execution": {"Name": "e"}});
        let mut ctx = Context::new(&build);
        let doc = json!({"a": {"b": 1}});
        let p = |s: &str| JsonPath::parse(s).unwrap();
        assert!(matches!(
            select_path(&p("$.a"), &doc, &mut ctx, &()).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            *select_path(&p("$$.Execution.Name"), &doc, &mut ctx, &()).unwrap(),
            json!("e")
        );
        let err = select_path(&p("$.x"), &doc, &mut ctx, &()).unwrap_err();
        assert_eq!(
            err.cause_str(),
            "Invalid path '$.x' : No results for path: $['x']"
        );
    }

    #[test]
    fn null_result_path_keeps_input() {
        let doc = json!({"a": 1});
        assert_eq!(apply_result_path(&Some(None), &doc, json!(2)).unwrap(), doc);
        assert_eq!(apply_result_path(&None, &doc, json!(2)).unwrap(), json!(2));
    }

    #[test]
    fn error_output_omits_empty() {
        assert_eq!(error_output(&Failure::bare("E")), json!({"Error": "E"}));
        assert_eq!(
            error_output(&Failure::new("E", "")),
            json!({"Error": "E", "Cause": ""})
        );
        assert_eq!(
            error_output(&Failure::new("E", "C")),
            json!({"Error": "E", "Cause": "C"})
        );
    }

    #[test]
    fn size_counts_bytes() {
        assert_eq!(json_size(&json!({"a": "é"})), "{\"a\":\"é\"}".len());
    }
}
