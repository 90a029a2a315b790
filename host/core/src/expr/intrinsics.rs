//! The 18 `States.*` intrinsic functions of JSONPath mode: parsing a call (with nested calls,
//! string/number/boolean/null literals and paths as arguments) and evaluating it as AWS does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use serde_json::{Map, Number, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::jsonpath::JsonPath;
use super::render::{java_to_string, json_text};
use super::{Env, SyntaxError, path_not_found};
use crate::error::Failure;

/// AWS allows intrinsic calls nested up to this depth inside one field.
pub const MAX_NESTING: usize = 10;
/// `States.ArrayRange` result size limit.
pub const MAX_RANGE_ITEMS: usize = 1000;
/// Input size limit (characters) of `Base64Encode`, `Base64Decode` and `Hash`.
pub const MAX_ENCODE_CHARS: usize = 10_000;

macro_rules! funcs {
    ($($variant:ident = $name:literal, $min:expr, $max:expr;)*) => {
        /// An intrinsic function name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $($variant,)* }

        impl Func {
            pub fn from_name(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$variant),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name,)* }
            }
            /// Accepted argument counts, inclusive.
            fn arity(self) -> (usize, usize) {
                match self { $(Func::$variant => ($min, $max),)* }
            }
        }
    };
}

funcs! {
    Format = "States.Format", 1, usize::MAX;
    StringToJson = "States.StringToJson", 1, 1;
    JsonToString = "States.JsonToString", 1, 1;
    Array = "States.Array", 0, usize::MAX;
    ArrayPartition = "States.ArrayPartition", 2, 2;
    ArrayContains = "States.ArrayContains", 2, 2;
    ArrayRange = "States.ArrayRange", 3, 3;
    ArrayGetItem = "States.ArrayGetItem", 2, 2;
    ArrayLength = "States.ArrayLength", 1, 1;
    ArrayUnique = "States.ArrayUnique", 1, 1;
    Base64Encode = "States.Base64Encode", 1, 1;
    Base64Decode = "States.Base64Decode", 1, 1;
    Hash = "States.Hash", 2, 2;
    JsonMerge = "States.JsonMerge", 3, 3;
    MathRandom = "States.MathRandom", 2, 3;
    MathAdd = "States.MathAdd", 2, 2;
    StringSplit = "States.StringSplit", 2, 2;
    Uuid = "States.UUID", 0, 0;
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `'text'`: `value` unescaped, `raw` as written between the quotes (Format needs `\{`).
    Str {
        value: String,
        raw: String,
    },
    /// A number, `true`, `false` or `null`.
    Lit(Value),
    Path(JsonPath),
    Call(Box<Call>),
}

/// A parsed `States.X(args...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
}

/// A parsed intrinsic expression (the whole `.$` value).
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    src: String,
    call: Call,
}

impl Intrinsic {
    pub fn parse(src: &str) -> Result<Intrinsic, SyntaxError> {
        let mut p = Parser { src, pos: 0 };
        let call = p.call(1).map_err(|m| SyntaxError {
            message: format!("Invalid intrinsic function call '{src}': {m}"),
        })?;
        p.ws();
        if p.pos != src.len() {
            return Err(SyntaxError {
                message: format!(
                    "Invalid intrinsic function call '{src}': unexpected '{}' after the call",
                    &src[p.pos..]
                ),
            });
        }
        Ok(Intrinsic {
            src: src.to_string(),
            call,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.src
    }

    pub fn call(&self) -> &Call {
        &self.call
    }

    pub fn eval(&self, env: &mut Env<'_>, field: &str) -> Result<Value, Failure> {
        eval_call(&self.call, env, field)
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn ws(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.pos += n;
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "intrinsic functions can be nested at most {MAX_NESTING} levels deep"
            ));
        }
        let name_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(self.rest().len());
        let name = self.rest()[..name_len].to_string();
        let func = Func::from_name(&name)
            .ok_or_else(|| format!("'{name}' is not a supported intrinsic function"))?;
        self.pos += name_len;
        self.ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg(depth)?);
                self.ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!(
                "{name} takes {expected} argument(s), but {} were given",
                args.len()
            ));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.ws();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => {
                let len = path_len(self.rest());
                let text = self.rest()[..len].trim_end();
                let path = JsonPath::parse(text).map_err(|e| e.message)?;
                self.pos += len;
                Ok(Arg::Path(path))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let len = self
                    .rest()
                    .find(|c: char| {
                        !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                    })
                    .unwrap_or(self.rest().len());
                let text = &self.rest()[..len];
                match serde_json::from_str::<Value>(text) {
                    Ok(v @ Value::Number(_)) => {
                        self.pos += len;
                        Ok(Arg::Lit(v))
                    }
                    _ => Err(format!("'{text}' is not a valid number")),
                }
            }
            Some(_) if self.rest().starts_with("States.") => {
                Ok(Arg::Call(Box::new(self.call(depth + 1)?)))
            }
            Some(_) => {
                let len = self
                    .rest()
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(self.rest().len());
                let v = match &self.rest()[..len] {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    other => return Err(format!("unexpected argument '{other}'")),
                };
                self.pos += len;
                Ok(Arg::Lit(v))
            }
            None => Err("missing argument".into()),
        }
    }

    /// `'...'` with the escapes AWS accepts: `\'`, `\{`, `\}` and `\\`.
    fn string(&mut self) -> Result<Arg, String> {
        let body = &self.src[self.pos + 1..];
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    let raw = body[..i].to_string();
                    self.pos += 1 + i + 1;
                    return Ok(Arg::Str { value, raw });
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '{' | '}' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        return Err(format!(
                            "invalid escape sequence '\\{e}' in a string literal"
                        ));
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err("unterminated string literal".into())
    }
}

/// Length of a path argument: up to the first `,` or `)` outside brackets, parens and quotes.
fn path_len(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut depth, mut quote, mut i) = (0usize, None::<u8>, 0);
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'\'' | b'"' => quote = Some(c),
                b'[' | b'(' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b')' if depth == 0 => return i,
                b')' => depth -= 1,
                b',' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    b.len()
}

fn fail(func: Func, detail: impl std::fmt::Display) -> Failure {
    Failure::runtime(format!(
        "The intrinsic function {} failed: {detail}",
        func.name()
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Integer argument; fractional numbers round half up as Java's `Math.round` (AWS MathAdd
/// turns 1.5 into 2 and -1.5 into -1).
fn int_arg(func: Func, v: &Value, what: &str) -> Result<i64, Failure> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.abs() < 9.0e18 {
                    Ok((f + 0.5).floor() as i64)
                } else {
                    Err(fail(
                        func,
                        format!("the {what} {} is out of range", json_text(v)),
                    ))
                }
            }
        },
        other => Err(fail(
            func,
            format!(
                "the {what} must be a number, but was {} {}",
                type_name(other),
                json_text(other)
            ),
        )),
    }
}

fn str_arg<'v>(func: Func, v: &'v Value, what: &str) -> Result<&'v str, Failure> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(fail(
            func,
            format!(
                "the {what} must be a string, but was {} {}",
                type_name(other),
                json_text(other)
            ),
        )),
    }
}

fn array_arg<'v>(func: Func, v: &'v Value, what: &str) -> Result<&'v Vec<Value>, Failure> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(fail(
            func,
            format!(
                "the {what} must be an array, but was {} {}",
                type_name(other),
                json_text(other)
            ),
        )),
    }
}

fn eval_arg(arg: &Arg, env: &mut Env<'_>, field: &str) -> Result<Value, Failure> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Path(p) => p
            .select_borrowed(env)
            .map(|v| v.into_owned())
            .map_err(|_| path_not_found(p.as_str(), field, env.input)),
        Arg::Call(c) => eval_call(c, env, field),
    }
}

pub(crate) fn eval_call(call: &Call, env: &mut Env<'_>, field: &str) -> Result<Value, Failure> {
    let f = call.func;
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        args.push(eval_arg(a, env, field)?);
    }
    match f {
        Func::Format => {
            let template = match &call.args[0] {
                Arg::Str { raw, .. } => raw.clone(),
                _ => str_arg(f, &args[0], "format string")?.to_string(),
            };
            format(&template, &args[1..])
        }
        Func::StringToJson => {
            let s = str_arg(f, &args[0], "argument")?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str::<Value>(s)
                .map(normalize_negative_zero)
                .map_err(|e| fail(f, format!("the argument is not valid JSON: {e}")))
        }
        Func::JsonToString => Ok(Value::String(json_text(&args[0]))),
        Func::Array => Ok(Value::Array(args)),
        Func::ArrayPartition => {
            let a = array_arg(f, &args[0], "first argument")?;
            let n = int_arg(f, &args[1], "chunk size")?;
            if n <= 0 {
                return Err(fail(
                    f,
                    format!("the chunk size must be greater than 0, but was {n}"),
                ));
            }
            Ok(Value::Array(
                a.chunks(n as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        Func::ArrayContains => {
            let a = array_arg(f, &args[0], "first argument")?;
            Ok(Value::Bool(a.contains(&args[1])))
        }
        Func::ArrayRange => {
            let start = int_arg(f, &args[0], "start")?;
            let end = int_arg(f, &args[1], "end")?;
            let step = int_arg(f, &args[2], "step")?;
            if step == 0 {
                return Err(fail(f, "the step must not be 0"));
            }
            let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                0
            } else {
                (end as i128 - start as i128) / step as i128 + 1
            };
            if count > MAX_RANGE_ITEMS as i128 {
                return Err(fail(
                    f,
                    format!(
                        "the result would have {count} items, more than the limit of {MAX_RANGE_ITEMS}"
                    ),
                ));
            }
            Ok(Value::Array(
                (0..count as i64)
                    .map(|i| Value::from(start + i * step))
                    .collect(),
            ))
        }
        Func::ArrayGetItem => {
            let a = array_arg(f, &args[0], "first argument")?;
            let i = int_arg(f, &args[1], "index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i))
                .cloned()
                .ok_or_else(|| {
                    fail(
                        f,
                        format!(
                            "the index {i} is out of bounds for an array of length {}",
                            a.len()
                        ),
                    )
                })
        }
        Func::ArrayLength => Ok(Value::from(array_arg(f, &args[0], "argument")?.len())),
        Func::ArrayUnique => {
            let a = array_arg(f, &args[0], "argument")?;
            let mut out: Vec<Value> = Vec::with_capacity(a.len());
            for v in a {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        Func::Base64Encode => {
            let s = str_arg(f, &args[0], "argument")?;
            check_len(f, s)?;
            Ok(Value::String(BASE64.encode(s.as_bytes())))
        }
        Func::Base64Decode => {
            let s = str_arg(f, &args[0], "argument")?;
            check_len(f, s)?;
            let bytes = BASE64
                .decode(s.as_bytes())
                .map_err(|e| fail(f, format!("the argument is not valid Base64: {e}")))?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Func::Hash => {
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => json_text(other),
            };
            check_len(f, &data)?;
            let alg = str_arg(f, &args[1], "algorithm")?;
            hex_digest(alg, data.as_bytes()).map(Value::String).ok_or_else(|| {
                fail(
                    f,
                    format!(
                        "the hash algorithm '{alg}' is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
                    ),
                )
            })
        }
        Func::JsonMerge => {
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                let bad = if args[0].is_object() {
                    &args[1]
                } else {
                    &args[0]
                };
                return Err(fail(
                    f,
                    format!(
                        "the arguments to merge must be objects, but got {} {}",
                        type_name(bad),
                        json_text(bad)
                    ),
                ));
            };
            match &args[2] {
                Value::Bool(false) => {}
                Value::Bool(true) => {
                    return Err(fail(
                        f,
                        "deep merging is not supported; the third argument must be false",
                    ));
                }
                other => {
                    return Err(fail(
                        f,
                        format!(
                            "the third argument must be a boolean, but was {}",
                            type_name(other)
                        ),
                    ));
                }
            }
            let mut merged: Map<String, Value> = a.clone();
            for (k, v) in b {
                merged.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(merged))
        }
        Func::MathRandom => {
            let start = int_arg(f, &args[0], "start")?;
            let end = int_arg(f, &args[1], "end")?;
            if end <= start {
                return Err(fail(
                    f,
                    format!("the end ({end}) must be greater than the start ({start})"),
                ));
            }
            let span = (end as i128 - start as i128) as u64;
            let r = match args.get(2) {
                Some(seed) => {
                    let seed = int_arg(f, seed, "seed")?;
                    JavaRandom::new(seed).next_below(span)
                }
                None => env.rng.next_u64() % span,
            };
            Ok(Value::from((start as i128 + r as i128) as i64))
        }
        Func::MathAdd => {
            let a = int_arg(f, &args[0], "first argument")?;
            let b = int_arg(f, &args[1], "second argument")?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| fail(f, "the sum is out of range"))
        }
        Func::StringSplit => {
            let s = str_arg(f, &args[0], "first argument")?;
            let delims = str_arg(f, &args[1], "delimiter")?;
            // Java StringTokenizer: any delimiter character splits; empty tokens are dropped.
            Ok(Value::Array(
                s.split(|c: char| delims.contains(c))
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ))
        }
        Func::Uuid => Ok(Value::String(env.rng.uuid_v4())),
    }
}

/// Lowercase hex digest of `bytes` with one of the algorithms Step Functions names (`MD5`,
/// `SHA-1`, `SHA-256`, `SHA-384`, `SHA-512`); `None` for any other name. Shared by
/// `States.Hash` and JSONata's `$hash`.
pub fn hex_digest(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let digest: Vec<u8> = match algorithm {
        "MD5" => Md5::digest(bytes).to_vec(),
        "SHA-1" => Sha1::digest(bytes).to_vec(),
        "SHA-256" => Sha256::digest(bytes).to_vec(),
        "SHA-384" => Sha384::digest(bytes).to_vec(),
        "SHA-512" => Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn check_len(f: Func, s: &str) -> Result<(), Failure> {
    let n = s.chars().count();
    if n > MAX_ENCODE_CHARS {
        return Err(fail(
            f,
            format!("the input has {n} characters, more than the limit of {MAX_ENCODE_CHARS}"),
        ));
    }
    Ok(())
}

/// Jackson reads `-0` as the integer 0 (serde_json makes it the float -0.0).
fn normalize_negative_zero(v: Value) -> Value {
    match v {
        Value::Number(n)
            if n.is_f64() && n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) =>
        {
            Value::Number(Number::from(0))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalize_negative_zero).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, normalize_negative_zero(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `States.Format`: `{}` takes the next argument (rendered as Java `String.valueOf`),
/// `\{`, `\}`, `\'` and `\\` are literal characters.
fn format(template: &str, args: &[Value]) -> Result<Value, Failure> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(e),
                None => out.push('\\'),
            },
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let Some(arg) = args.get(next) else {
                    return Err(fail(
                        Func::Format,
                        format!(
                            "the format string has more placeholders than the {} argument(s) given",
                            args.len()
                        ),
                    ));
                };
                out.push_str(&java_to_string(arg));
                next += 1;
            }
            c => out.push(c),
        }
    }
    if next != args.len() {
        return Err(fail(
            Func::Format,
            format!(
                "the format string has {next} placeholder(s) but {} argument(s) were given",
                args.len()
            ),
        ));
    }
    Ok(Value::String(out))
}

/// `java.util.Random`, so a seeded `States.MathRandom` is reproducible.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULT: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULT) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i64 as i32
    }

    /// `nextInt(bound)` for bounds that fit an int, a 64-bit draw otherwise.
    fn next_below(&mut self, bound: u64) -> u64 {
        if bound <= i32::MAX as u64 {
            let bound = bound as i32;
            if bound & -bound == bound {
                return ((bound as i64 * self.next(31) as i64) >> 31) as u64;
            }
            loop {
                let bits = self.next(31);
                let val = bits % bound;
                if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
                    return val as u64;
                }
            }
        }
        let hi = self.next(32) as u32 as u64;
        let lo = self.next(32) as u32 as u64;
        ((hi << 32) | lo) % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use serde_json::json;

    fn run(src: &str, input: Value) -> Result<Value, Failure> {
        let ctx = json!({"Execution": {"Name": "exec-1"}, "StateMachine": {"Name": "sm-name-x"}});
        let mut rng = Rng::new(1);
        let mut env = Env {
            input: &input,
            context: &ctx,
            vars: &(),
            rng: &mut rng,
        };
        Intrinsic::parse(src).unwrap().eval(&mut env, "f.$")
    }

    fn ok(src: &str, input: Value) -> Value {
        run(src, input).unwrap()
    }

    #[test]
    fn format_renders_like_java() {
        let input = json!({"a": {"Arg1": 1, "Arg2": []}, "n": null, "f": 1.1, "s": "x"});
        assert_eq!(
            ok(
                "States.Format('v={} n={} f={} s={}', $.a, $.n, $.f, $.s)",
                input
            ),
            json!("v={Arg1=1, Arg2=[]} n=null f=1.1 s=x")
        );
        assert_eq!(
            ok("States.Format('\\{\\} {} \\'q\\' \\\\', 1)", json!({})),
            json!("{} 1 'q' \\")
        );
        assert!(run("States.Format('{} {}', 1)", json!({})).is_err());
        assert!(run("States.Format('{}', 1, 2)", json!({})).is_err());
        assert_eq!(
            ok("States.Format('{}', $$.Execution.Name)", json!({})),
            json!("exec-1")
        );
    }

    #[test]
    fn json_functions() {
        assert_eq!(
            ok(
                "States.StringToJson($.s)",
                json!({"s": "{\"a\": [1, 2.5]}"})
            ),
            json!({"a": [1, 2.5]})
        );
        assert_eq!(
            ok("States.StringToJson($.s)", json!({"s": " "})),
            json!(null)
        );
        assert_eq!(ok("States.StringToJson($.s)", json!({"s": "-0"})), json!(0));
        assert!(run("States.StringToJson($.s)", json!({"s": "{nope"})).is_err());
        assert_eq!(
            ok(
                "States.JsonToString($.v)",
                json!({"v": {"Arg1": 1, "Arg2": []}})
            ),
            json!("{\"Arg1\":1,\"Arg2\":[]}")
        );
        assert_eq!(
            ok("States.JsonToString($.v)", json!({"v": "Hi"})),
            json!("\"Hi\"")
        );
        assert_eq!(
            ok(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": {"p": 1}, "y": 1}, "b": {"x": {"q": 2}}})
            ),
            json!({"x": {"q": 2}, "y": 1})
        );
        assert!(run("States.JsonMerge($.a, $.a, true)", json!({"a": {}})).is_err());
        assert!(run("States.JsonMerge($.a, 1, false)", json!({"a": {}})).is_err());
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            ok("States.Array(1, 'a', true, null, $.x)", json!({"x": [1]})),
            json!([1, "a", true, null, [1]])
        );
        assert_eq!(ok("States.Array()", json!({})), json!([]));
        assert_eq!(
            ok("States.ArrayPartition($.a, 3)", json!({"a": [0, 1, 2, 3]})),
            json!([[0, 1, 2], [3]])
        );
        assert!(run("States.ArrayPartition($.a, 0)", json!({"a": [1]})).is_err());
        assert_eq!(
            ok(
                "States.ArrayContains($.a, $.v)",
                json!({"a": [{"1": 2}], "v": {"1": 2}})
            ),
            json!(true)
        );
        assert_eq!(
            ok("States.ArrayContains($.a, 1.0)", json!({"a": [1]})),
            json!(false)
        );
        assert_eq!(
            ok("States.ArrayRange(0, 10, 3)", json!({})),
            json!([0, 3, 6, 9])
        );
        assert_eq!(
            ok("States.ArrayRange(5, 1, -2)", json!({})),
            json!([5, 3, 1])
        );
        assert_eq!(ok("States.ArrayRange(5, 1, 2)", json!({})), json!([]));
        assert!(run("States.ArrayRange(0, 1000, 1)", json!({})).is_err());
        assert_eq!(
            ok("States.ArrayRange(1, 1000, 1)", json!({}))
                .as_array()
                .unwrap()
                .len(),
            1000
        );
        assert!(run("States.ArrayRange(0, 1, 0)", json!({})).is_err());
        assert_eq!(
            ok("States.ArrayGetItem($.a, 1)", json!({"a": [5, 6]})),
            json!(6)
        );
        assert!(run("States.ArrayGetItem($.a, 2)", json!({"a": [5, 6]})).is_err());
        assert!(run("States.ArrayGetItem($.a, -1)", json!({"a": [5, 6]})).is_err());
        assert_eq!(
            ok("States.ArrayLength($.a)", json!({"a": [5, 6]})),
            json!(2)
        );
        assert!(run("States.ArrayLength($.a)", json!({"a": "no"})).is_err());
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [1, 1, 1.0, null, null, {"a": 1}, {"a": 1}, "x"]})
            ),
            json!([1, 1.0, null, {"a": 1}, "x"])
        );
    }

    #[test]
    fn encoding_and_hashing() {
        assert_eq!(
            ok("States.Base64Encode('Data to encode')", json!({})),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
            json!("Data to encode")
        );
        assert!(run("States.Base64Decode('***')", json!({})).is_err());
        let big = "a".repeat(MAX_ENCODE_CHARS + 1);
        assert!(run("States.Base64Encode($.s)", json!({ "s": big })).is_err());
        assert_eq!(
            ok("States.Hash('input data', 'MD5')", json!({})),
            json!("812f45842bc6d66ee14572ce20db8e86")
        );
        assert_eq!(
            ok("States.Hash('input data', 'SHA-1')", json!({})),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            ok(
                "States.Hash($.s, 'SHA-256')",
                json!({"s": "Hash this string"})
            ),
            json!("1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e")
        );
        assert!(run("States.Hash('x', 'SHA-3')", json!({})).is_err());
    }

    #[test]
    fn math_functions() {
        assert_eq!(ok("States.MathAdd(-9, 3)", json!({})), json!(-6));
        // Java Math.round per argument: 1.49 -> 1, 1.5 -> 2, -1.5 -> -1, -2.5 -> -2.
        assert_eq!(ok("States.MathAdd(1.49, 1.5)", json!({})), json!(3));
        assert_eq!(ok("States.MathAdd(-1.49, -1.5)", json!({})), json!(-2));
        assert_eq!(ok("States.MathAdd(-2.5, 0)", json!({})), json!(-2));
        assert!(run("States.MathAdd('1', 2)", json!({})).is_err());
        for _ in 0..20 {
            let r = ok("States.MathRandom(10, 20)", json!({})).as_i64().unwrap();
            assert!((10..20).contains(&r));
        }
        let a = ok("States.MathRandom(0, 999, 3)", json!({}));
        assert_eq!(a, ok("States.MathRandom(0, 999, 3)", json!({})));
        assert!(run("States.MathRandom(5, 5)", json!({})).is_err());
        let wide = ok(
            "States.MathRandom(-9223372036854775808, 9223372036854775807)",
            json!({}),
        );
        assert!(wide.is_i64());
    }

    #[test]
    fn java_random_matches_known_sequence() {
        // new java.util.Random(42).nextInt() == -1170105035, then 234785527.
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next(32), -1170105035);
        assert_eq!(r.next(32), 234785527);
        // nextInt(bound) stays within the bound.
        let mut r = JavaRandom::new(7);
        assert!((0..1000).all(|_| r.next_below(37) < 37));
    }

    #[test]
    fn string_split_and_uuid() {
        assert_eq!(
            ok("States.StringSplit(', , ,', ',')", json!({})),
            json!([" ", " "])
        );
        assert_eq!(
            ok(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            ),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(ok("States.StringSplit(',,,', ',')", json!({})), json!([]));
        let u = ok("States.UUID()", json!({}));
        assert_eq!(u.as_str().unwrap().len(), 36);
    }

    #[test]
    fn nested_calls_and_paths() {
        assert_eq!(
            ok(
                "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)",
                json!({})
            ),
            json!("sm")
        );
        assert_eq!(
            ok(
                "States.JsonMerge(States.StringToJson('{\"k\": \"v\"}'), $.o, false)",
                json!({"o": {"a": 1}})
            ),
            json!({"k": "v", "a": 1})
        );
        assert_eq!(
            ok(
                "States.Array($.a[?(@.x == 'a, b)')], $.b)",
                json!({"a": [{"x": "a, b)"}], "b": 2})
            )
            .as_array()
            .unwrap()
            .len(),
            2
        );
        let e = run("States.Format('{}', $.missing)", json!({"a": 1})).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert_eq!(
            e.cause_str(),
            "The JSONPath '$.missing' specified for the field 'f.$' could not be found in the input '{\"a\":1}'"
        );
    }

    #[test]
    fn syntax_errors() {
        let deep = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
        let ten = format!("{}1{}", "States.Array(".repeat(10), ")".repeat(10));
        assert!(Intrinsic::parse(&ten).is_ok());
        for bad in [
            "States.Nope(1)",
            "States.Format",
            "States.Format('a'",
            "States.Format('a\\n')",
            "States.Format('a') x",
            "States.ArrayLength()",
            "States.UUID(1)",
            "States.MathRandom(1)",
            "States.Array(1,)",
            "States.Array(foo)",
            "States.Array($.)",
            "States.Array(1.2.3)",
            deep.as_str(),
        ] {
            assert!(Intrinsic::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
