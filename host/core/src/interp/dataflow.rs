//! JSONPath-mode data flow of one state: InputPath, ResultPath, OutputPath, and the context object.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::Failure;
use crate::expr::{Env, JsonPath, Root, Vars};
use crate::rng::Rng;

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

/// Applies `InputPath` or `OutputPath` to `doc`.
pub fn select_path<'v>(
    path: &OptPath,
    doc: &'v Value,
    ctx: &mut Context<'_>,
    vars: &dyn Vars,
    rng: &mut Rng,
) -> Result<Cow<'v, Value>, Failure> {
    match path {
        None => Ok(Cow::Borrowed(doc)),
        Some(None) => Ok(Cow::Owned(Value::Object(Map::new()))),
        Some(Some(p)) if p.as_str() == "$" => Ok(Cow::Borrowed(doc)),
        Some(Some(p)) => {
            let context = if *p.root() == Root::Context {
                ctx.get().clone()
            } else {
                Value::Null
            };
            let env = Env {
                input: doc,
                context: &context,
                vars,
                rng,
            };
            p.select(&env)
                .map(Cow::Owned)
                .map_err(|e| Failure::runtime(format!("Invalid path '{}' : {}", p.as_str(), e)))
        }
    }
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

/// `{"Error": .., "Cause": ..}`, the error output a Catcher passes on. Absent fields are omitted.
pub fn error_output(f: &Failure) -> Value {
    let mut m = Map::new();
    if !f.error.is_empty() {
        m.insert("Error".into(), Value::String(f.error.clone()));
    }
    if !f.cause.is_empty() {
        m.insert("Cause".into(), Value::String(f.cause.clone()));
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
    fn null_paths() {
        let build = || json!({});
        let mut ctx = Context::new(&build);
        let mut rng = Rng::new(0);
        let doc = json!({"a": 1});
        assert_eq!(
            *select_path(&Some(None), &doc, &mut ctx, &(), &mut rng).unwrap(),
            json!({})
        );
        assert_eq!(
            *select_path(&None, &doc, &mut ctx, &(), &mut rng).unwrap(),
            doc
        );
        assert_eq!(apply_result_path(&Some(None), &doc, json!(2)).unwrap(), doc);
        assert_eq!(apply_result_path(&None, &doc, json!(2)).unwrap(), json!(2));
    }

    #[test]
    fn error_output_omits_empty() {
        assert_eq!(error_output(&Failure::new("E", "")), json!({"Error": "E"}));
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
