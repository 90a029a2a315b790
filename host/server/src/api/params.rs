//! Reading an AWS JSON 1.0 request's members with the model's constraints (from botocore's
//! `stepfunctions/2016-11-23` model). Constraint violations are collected and reported together
//! as AWS does (`N validation errors detected: ...`); a member of the wrong JSON type is a
//! `SerializationException`, as the AWS deserializer reports it.

use serde_json::{Map, Value};

use super::errors::{ApiError, ApiResult};

pub struct Params {
    map: Map<String, Value>,
    errors: Vec<String>,
}

/// How a value is shown in a validation message (sensitive members are not echoed).
fn shown(v: &str, sensitive: bool) -> String {
    if sensitive {
        String::new()
    } else {
        format!(" '{v}'")
    }
}

impl Params {
    /// Parses the request body: empty means `{}`; anything else must be a JSON object.
    pub fn parse(body: &[u8]) -> ApiResult<Params> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::from_map(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Params::from_map(map)),
            Ok(_) => Err(ApiError::serialization(
                "The request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::serialization(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    pub fn from_map(map: Map<String, Value>) -> Params {
        Params {
            map,
            errors: Vec::new(),
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(name: &str, want: &str) -> ApiError {
        ApiError::serialization(format!("'{name}' must be a {want}"))
    }

    /// An optional string of `min..=max` characters.
    pub fn opt_str(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
        sensitive: bool,
    ) -> ApiResult<Option<String>> {
        let Some(v) = self.present(name) else {
            return Ok(None);
        };
        let Value::String(s) = v else {
            return Err(Self::wrong_type(name, "string"));
        };
        let s = s.clone();
        let len = s.chars().count();
        if len < min {
            self.errors.push(format!(
                "Value{} at '{name}' failed to satisfy constraint: Member must have length greater than or equal to {min}",
                shown(&s, sensitive)
            ));
        } else if len > max {
            self.errors.push(format!(
                "Value{} at '{name}' failed to satisfy constraint: Member must have length less than or equal to {max}",
                shown(&s, sensitive)
            ));
        }
        Ok(Some(s))
    }

    /// A required string: absent is reported as `Member must not be null`.
    pub fn req_str(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
        sensitive: bool,
    ) -> ApiResult<String> {
        let v = self.opt_str(name, min, max, sensitive)?;
        if v.is_none() {
            self.missing(name);
        }
        Ok(v.unwrap_or_default())
    }

    /// Records that a required member is absent.
    pub fn missing(&mut self, name: &str) {
        self.errors.push(format!(
            "Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ));
    }

    /// An ARN member (`Arn` shape: 1-256 characters).
    pub fn arn(&mut self, name: &str) -> ApiResult<String> {
        self.req_str(name, 1, 256, false)
    }

    /// An optional string from a fixed set.
    pub fn opt_enum(&mut self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        let v = self.opt_str(name, 0, usize::MAX, false)?;
        if let Some(s) = &v
            && !allowed.contains(&s.as_str())
        {
            self.errors.push(format!(
                "Value '{s}' at '{name}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ));
        }
        Ok(v)
    }

    pub fn opt_int(&mut self, name: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let Some(v) = self.present(name) else {
            return Ok(None);
        };
        let Some(n) = v.as_i64() else {
            return Err(Self::wrong_type(name, "integer"));
        };
        if n < min {
            self.errors.push(format!(
                "Value '{n}' at '{name}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
            ));
        } else if n > max {
            self.errors.push(format!(
                "Value '{n}' at '{name}' failed to satisfy constraint: Member must have value less than or equal to {max}"
            ));
        }
        Ok(Some(n))
    }

    pub fn opt_bool(&mut self, name: &str) -> ApiResult<Option<bool>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(name, "boolean")),
        }
    }

    /// An optional JSON object member, returned as is.
    pub fn opt_object(&mut self, name: &str) -> ApiResult<Option<Map<String, Value>>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(Self::wrong_type(name, "structure")),
        }
    }

    /// An optional list, its items as they are.
    pub fn opt_list(&mut self, name: &str) -> ApiResult<Option<Vec<Value>>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(_) => Err(Self::wrong_type(name, "list")),
        }
    }

    /// An optional list of strings (e.g. UntagResource's `tagKeys`).
    pub fn opt_strings(&mut self, name: &str) -> ApiResult<Option<Vec<String>>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Self::wrong_type(name, "list of strings"))
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(Self::wrong_type(name, "list")),
        }
    }

    /// `tags: [{key, value}]` (key 1-128, value 0-256 characters).
    pub fn opt_tags(&mut self, name: &str) -> ApiResult<Option<Vec<(String, String)>>> {
        let Some(v) = self.present(name) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(Self::wrong_type(name, "list"));
        };
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                return Err(Self::wrong_type(name, "list of structures"));
            };
            let field = |f: &str| match m.get(f) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Self::wrong_type(
                    &format!("{name}.{}.member.{f}", i + 1),
                    "string",
                )),
            };
            let key = field("key")?.unwrap_or_default();
            let value = field("value")?.unwrap_or_default();
            if key.is_empty() || key.chars().count() > 128 {
                errors.push(format!(
                    "Value '{key}' at '{name}.{}.member.key' failed to satisfy constraint: Member must have length between 1 and 128",
                    i + 1
                ));
            }
            if value.chars().count() > 256 {
                errors.push(format!(
                    "Value '{value}' at '{name}.{}.member.value' failed to satisfy constraint: Member must have length less than or equal to 256",
                    i + 1
                ));
            }
            out.push((key, value));
        }
        self.errors.extend(errors);
        Ok(Some(out))
    }

    /// Removes and returns a member as it is (e.g. a large blob read once).
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// Fails with every collected constraint violation.
    pub fn finish(&mut self) -> ApiResult<()> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let n = self.errors.len();
        let plural = if n == 1 { "error" } else { "errors" };
        Err(ApiError::validation(format!(
            "{n} validation {plural} detected: {}",
            self.errors.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_constraint_violations() {
        let mut p = Params::parse(br#"{"name": "", "maxResults": 2000, "input": "xx"}"#).unwrap();
        p.req_str("name", 1, 80, false).unwrap();
        p.arn("stateMachineArn").unwrap();
        p.opt_int("maxResults", 0, 1000).unwrap();
        p.opt_str("input", 0, 1, true).unwrap();
        let e = p.finish().unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(
            e.message
                .starts_with("4 validation errors detected: Value '' at 'name'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("Value null at 'stateMachineArn'"));
        assert!(
            e.message.contains("Value at 'input'"),
            "sensitive values are not echoed"
        );
    }

    #[test]
    fn wrong_types_and_bodies_are_serialization_errors() {
        assert_eq!(
            Params::parse(b"[1]").err().unwrap().kind,
            "SerializationException"
        );
        assert_eq!(
            Params::parse(b"{").err().unwrap().kind,
            "SerializationException"
        );
        assert!(Params::parse(b"").is_ok());
        let mut p = Params::parse(br#"{"maxResults": "5"}"#).unwrap();
        assert_eq!(
            p.opt_int("maxResults", 0, 10).unwrap_err().kind,
            "SerializationException"
        );
    }
}
