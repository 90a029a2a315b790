//! JSONPath as AWS Step Functions evaluates it (Jayway JsonPath semantics): parsing, selection
//! (definite paths give one value or an error, indefinite paths give an array), and the
//! `ResultPath` write.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::filter::Filter;
use super::render::json_text;
use super::{Env, Root, SyntaxError};

/// One path token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    /// `.a`, `['a']`, or the multi-property `['a','b']`.
    Prop(Vec<String>),
    /// `[0]`, `[-1]`, or the union `[0,2]`.
    Index(Vec<i64>),
    /// `[from:to]` with either side optional.
    Slice(Option<i64>, Option<i64>),
    /// `.*` / `[*]`.
    Wildcard,
    /// `..`: the next token applies at every depth.
    Scan,
    /// `[?(...)]`.
    Filter(Box<Filter>),
    /// `.name()`: Jayway functions, which Step Functions does not support (never matches).
    Function(String),
}

impl Seg {
    /// Jayway's `isTokenDefinite`: a multi-property token is definite only as the leaf (it then
    /// merges the properties into one object).
    fn definite(&self, leaf: bool) -> bool {
        match self {
            Seg::Prop(p) => p.len() == 1 || leaf,
            Seg::Index(i) => i.len() == 1,
            Seg::Function(_) => true,
            Seg::Slice(..) | Seg::Wildcard | Seg::Scan | Seg::Filter(_) => false,
        }
    }

    /// The token as Jayway prints it in messages (`['a']`, `[0]`, `[*]`, `..`, `[?]`).
    fn fragment(&self, out: &mut String) {
        match self {
            Seg::Prop(p) => {
                out.push('[');
                for (i, name) in p.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push('\'');
                    out.push_str(name);
                    out.push('\'');
                }
                out.push(']');
            }
            Seg::Index(ix) => {
                out.push('[');
                let parts: Vec<String> = ix.iter().map(|i| i.to_string()).collect();
                out.push_str(&parts.join(","));
                out.push(']');
            }
            Seg::Slice(from, to) => {
                out.push('[');
                if let Some(f) = from {
                    out.push_str(&f.to_string());
                }
                out.push(':');
                if let Some(t) = to {
                    out.push_str(&t.to_string());
                }
                out.push(']');
            }
            Seg::Wildcard => out.push_str("[*]"),
            Seg::Scan => out.push_str(".."),
            Seg::Filter(_) => out.push_str("[?]"),
            Seg::Function(name) => {
                out.push('.');
                out.push_str(name);
                out.push_str("()");
            }
        }
    }
}

/// Why an evaluation stopped. Jayway's `PathNotFoundException` is swallowed for indefinite paths
/// (they then give `[]`); a plain `InvalidPathException` is always raised.
enum PathError {
    NotFound(String),
    Invalid(String),
}

/// A parsed JSONPath (Jayway semantics, as AWS).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    src: String,
    root: Root,
    segs: Vec<Seg>,
    /// Index of the first indefinite token; `segs.len()` when the path is definite.
    first_indefinite: usize,
    /// Only single-property / single-index tokens: evaluated by a borrowing loop.
    simple: bool,
}

fn syntax(message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        message: message.into(),
    }
}

fn is_var_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl JsonPath {
    pub fn parse(src: &str) -> Result<JsonPath, SyntaxError> {
        let (root, start) = if let Some(rest) = src.strip_prefix("$$") {
            if rest.starts_with('$') {
                return Err(syntax(format!("Invalid JSONPath '{src}': unexpected '$'")));
            }
            (Root::Context, 2)
        } else if let Some(rest) = src.strip_prefix('$') {
            let name_len: usize = rest
                .chars()
                .take_while(|c| is_var_char(*c))
                .map(char::len_utf8)
                .sum();
            if name_len > 0 {
                (Root::Variable(rest[..name_len].to_string()), 1 + name_len)
            } else {
                (Root::Input, 1)
            }
        } else {
            return Err(syntax(format!(
                "Invalid JSONPath '{src}': a path must start with '$'"
            )));
        };
        let segs = parse_segments(src, start)
            .map_err(|m| syntax(format!("Invalid JSONPath '{src}': {m}")))?;
        Ok(JsonPath::from_parts(src.to_string(), root, segs))
    }

    pub(crate) fn from_parts(src: String, root: Root, segs: Vec<Seg>) -> JsonPath {
        let n = segs.len();
        let first_indefinite = segs
            .iter()
            .enumerate()
            .position(|(i, s)| !s.definite(i + 1 == n))
            .unwrap_or(n);
        let simple = segs.iter().all(|s| match s {
            Seg::Prop(p) => p.len() == 1,
            Seg::Index(i) => i.len() == 1,
            _ => false,
        });
        JsonPath {
            src,
            root,
            segs,
            first_indefinite,
            simple,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.src
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// No wildcard, slice, filter, deep scan or index union: selects at most one node.
    pub fn is_definite(&self) -> bool {
        self.first_indefinite == self.segs.len()
    }

    /// What AWS calls a Reference Path (ResultPath, ItemsPath, OutputPath-style): only `.name`,
    /// `['name']` and `[n]` steps, each naming a single node.
    pub fn is_reference_path(&self) -> bool {
        self.simple
    }

    /// The document this path starts from in `env`.
    pub fn root_value<'a>(&self, env: &Env<'a>) -> Result<&'a Value, String> {
        match &self.root {
            Root::Input => Ok(env.input),
            Root::Context => Ok(env.context),
            Root::Variable(name) => env
                .vars
                .get(name)
                .ok_or_else(|| format!("Variable '${name}' is not defined")),
        }
    }

    /// Evaluates against the root the path names. Definite paths give the value; indefinite
    /// paths (wildcards, slices, filters, deep scan) give an array of matches.
    /// Err(message) when a definite path has no result: "No results for path: $['a']" etc.
    pub fn select(&self, env: &Env<'_>) -> Result<Value, String> {
        self.select_borrowed(env).map(Cow::into_owned)
    }

    /// [`JsonPath::select`] without copying when the result is a node of the document.
    pub fn select_borrowed<'a>(&self, env: &Env<'a>) -> Result<Cow<'a, Value>, String> {
        let root = self.root_value(env)?;
        self.select_ref(root)
    }

    /// Evaluates against an explicit document, whatever root the path names. Borrows for
    /// definite paths; allocates only for indefinite results and multi-property merges.
    pub fn select_ref<'v>(&self, doc: &'v Value) -> Result<Cow<'v, Value>, String> {
        if self.simple
            && let Some(v) = self.fast(doc)
        {
            return Ok(Cow::Borrowed(v));
        }
        let mut walk = Walk {
            path: self,
            root: doc,
            out: Vec::new(),
        };
        let definite = self.is_definite();
        match walk.step(0, doc) {
            Ok(()) => {}
            Err(PathError::NotFound(m)) => {
                return if definite {
                    Err(m)
                } else {
                    Ok(Cow::Owned(Value::Array(Vec::new())))
                };
            }
            Err(PathError::Invalid(m)) => return Err(m),
        }
        let mut out = walk.out;
        if definite {
            if out.is_empty() {
                Err(format!(
                    "No results for path: {}",
                    self.render(self.segs.len())
                ))
            } else {
                Ok(out.swap_remove(0))
            }
        } else {
            Ok(Cow::Owned(Value::Array(
                out.into_iter().map(Cow::into_owned).collect(),
            )))
        }
    }

    /// Borrowing walk for simple paths; `None` on any miss (the general walk builds the error).
    fn fast<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        let mut cur = doc;
        for seg in &self.segs {
            cur = match (seg, cur) {
                (Seg::Prop(p), Value::Object(m)) => small_get(m, &p[0])?,
                (Seg::Index(ix), Value::Array(a)) => a.get(effective_index(ix[0], a.len())?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// `$` followed by the first `upto` tokens, Jayway-style.
    fn render(&self, upto: usize) -> String {
        let mut s = String::from("$");
        for seg in &self.segs[..upto] {
            seg.fragment(&mut s);
        }
        s
    }

    /// ResultPath write: puts `value` at this path inside `doc`, creating objects on the way.
    /// Only reference paths on the input (`$`, `$.a.b`, `$['a'][0]`) can be written.
    pub fn assign(&self, doc: &mut Value, value: Value) -> Result<(), String> {
        if self.root != Root::Input || !self.simple {
            return Err(format!(
                "The path '{}' is not a valid reference path",
                self.src
            ));
        }
        let mut cur = doc;
        let n = self.segs.len();
        if n == 0 {
            *cur = value;
            return Ok(());
        }
        for (i, seg) in self.segs.iter().enumerate() {
            let last = i + 1 == n;
            match seg {
                Seg::Prop(p) => {
                    let name = &p[0];
                    let m = match cur {
                        Value::Object(m) => m,
                        other => return Err(unable(name, other)),
                    };
                    if last {
                        m.insert(name.clone(), value);
                        return Ok(());
                    }
                    cur = m
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                }
                Seg::Index(ix) => {
                    let step = ix[0].to_string();
                    let a = match cur {
                        Value::Array(a) => a,
                        other => return Err(unable(&step, other)),
                    };
                    let len = a.len();
                    let Some(k) = effective_index(ix[0], len) else {
                        return Err(format!(
                            "Unable to apply step \"{step}\" to input {}",
                            json_text(&Value::Array(std::mem::take(a)))
                        ));
                    };
                    if last {
                        a[k] = value;
                        return Ok(());
                    }
                    cur = &mut a[k];
                }
                _ => unreachable!("simple paths hold only properties and indexes"),
            }
        }
        Ok(())
    }
}

/// Map lookup that skips hashing for small objects (most state payloads), where comparing a
/// few keys is cheaper than SipHash.
fn small_get<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if m.len() <= 8 {
        m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

fn unable(step: &str, input: &Value) -> String {
    format!(
        "Unable to apply step \"{step}\" to input {}",
        json_text(input)
    )
}

/// Jayway index arithmetic: negative counts from the end; out of range is `None`.
fn effective_index(k: i64, len: usize) -> Option<usize> {
    let eff = if k < 0 { len as i64 + k } else { k };
    (eff >= 0 && (eff as usize) < len).then_some(eff as usize)
}

/// The Java class json-smart (Jayway's default provider) decodes a node to, for messages.
fn java_class(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            "java.lang.Integer"
        }
        Value::Number(_) => "java.lang.Long",
        Value::String(_) => "java.lang.String",
        Value::Array(_) => "net.minidev.json.JSONArray",
        Value::Object(_) => "net.minidev.json.JSONObject",
    }
}

struct Walk<'p, 'v> {
    path: &'p JsonPath,
    root: &'v Value,
    out: Vec<Cow<'v, Value>>,
}

impl<'v> Walk<'_, 'v> {
    /// Applies token `i` (and the rest) to `node`.
    fn step(&mut self, i: usize, node: &'v Value) -> Result<(), PathError> {
        let segs = &self.path.segs;
        if i == segs.len() {
            self.out.push(Cow::Borrowed(node));
            return Ok(());
        }
        let leaf = i + 1 == segs.len();
        // Jayway raises "not found" only while every token before this one is definite.
        let upstream_definite = i <= self.path.first_indefinite;
        match &segs[i] {
            Seg::Prop(names) => {
                let Value::Object(m) = node else {
                    if upstream_definite {
                        let mut frag = String::new();
                        segs[i].fragment(&mut frag);
                        return Err(PathError::NotFound(format!(
                            "Expected to find an object with property {frag} in path {} but found '{}'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.",
                            self.path.render(i),
                            java_class(node)
                        )));
                    }
                    return Ok(());
                };
                if names.len() == 1 {
                    match m.get(&names[0]) {
                        Some(v) => self.step(i + 1, v),
                        None if !leaf && upstream_definite => Err(PathError::NotFound(format!(
                            "Missing property in path {}",
                            self.path.render(i + 1)
                        ))),
                        None => Ok(()),
                    }
                } else if leaf {
                    let mut merged = Map::new();
                    for name in names {
                        if let Some(v) = m.get(name) {
                            merged.insert(name.clone(), v.clone());
                        }
                    }
                    self.out.push(Cow::Owned(Value::Object(merged)));
                    Ok(())
                } else {
                    Err(PathError::Invalid(format!(
                        "Multi properties can only be used as path leafs: {}",
                        self.path.render(i + 1)
                    )))
                }
            }
            Seg::Index(ix) => {
                let Some(a) = self.check_array(i, node, upstream_definite)? else {
                    return Ok(());
                };
                for &k in ix {
                    if let Some(e) = effective_index(k, a.len()) {
                        self.step(i + 1, &a[e])?;
                    }
                }
                Ok(())
            }
            Seg::Slice(from, to) => {
                let Some(a) = self.check_array(i, node, upstream_definite)? else {
                    return Ok(());
                };
                let len = a.len() as i64;
                if len == 0 {
                    return Ok(());
                }
                // Jayway's three slice forms, including its quirks (no negative `to` in [a:b]).
                let (start, end) = match (*from, *to) {
                    (Some(f), None) => ((if f < 0 { len + f } else { f }).max(0), len),
                    (None, Some(t)) => (0, (if t < 0 { len + t } else { t }).min(len)),
                    // Indexes below -len match nothing; clamping keeps the loop short.
                    (Some(f), Some(t)) => (f.max(-len), t.min(len)),
                    (None, None) => (0, len),
                };
                let mut k = start;
                while k < end {
                    if let Some(e) = effective_index(k, a.len()) {
                        self.step(i + 1, &a[e])?;
                    }
                    k += 1;
                }
                Ok(())
            }
            Seg::Wildcard => {
                match node {
                    Value::Object(m) => {
                        for v in m.values() {
                            self.step(i + 1, v)?;
                        }
                    }
                    Value::Array(a) => {
                        for v in a {
                            self.step(i + 1, v)?;
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            Seg::Filter(f) => match node {
                Value::Object(_) => {
                    if f.matches(node, self.root) {
                        self.step(i + 1, node)?;
                    }
                    Ok(())
                }
                Value::Array(a) => {
                    for v in a {
                        if f.matches(v, self.root) {
                            self.step(i + 1, v)?;
                        }
                    }
                    Ok(())
                }
                _ if upstream_definite => Err(PathError::Invalid(format!(
                    "Filter: [?] can not be applied to primitives. Current context is: {}",
                    json_text(node)
                ))),
                _ => Ok(()),
            },
            Seg::Scan => self.scan(i + 1, node),
            Seg::Function(name) => Err(PathError::NotFound(format!(
                "Function {name}() is not supported in path {}",
                self.path.render(i + 1)
            ))),
        }
    }

    fn check_array(
        &self,
        i: usize,
        node: &'v Value,
        upstream_definite: bool,
    ) -> Result<Option<&'v Vec<Value>>, PathError> {
        match node {
            Value::Array(a) => Ok(Some(a)),
            _ if !upstream_definite => Ok(None),
            Value::Null => Err(PathError::NotFound(format!(
                "The path {} is null",
                self.path.render(i)
            ))),
            _ => {
                let mut frag = String::new();
                self.path.segs[i].fragment(&mut frag);
                Err(PathError::NotFound(format!(
                    "Filter: {frag} can only be applied to arrays. Current context is: {}",
                    json_text(node)
                )))
            }
        }
    }

    /// Deep scan for token `j`: pre-order over every node, as Jayway's `ScanPathToken.walk`.
    fn scan(&mut self, j: usize, node: &'v Value) -> Result<(), PathError> {
        let segs = &self.path.segs;
        match node {
            Value::Object(m) => {
                if self.scan_matches(j, node) {
                    self.step(j, node)?;
                }
                for v in m.values() {
                    self.scan(j, v)?;
                }
            }
            Value::Array(a) => {
                if self.scan_matches(j, node) {
                    if j + 1 == segs.len() {
                        self.step(j, node)?;
                    } else {
                        // Jayway skips the token itself here and applies the rest to each item.
                        for v in a {
                            self.step(j + 1, v)?;
                        }
                    }
                }
                for v in a {
                    self.scan(j, v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn scan_matches(&self, j: usize, node: &Value) -> bool {
        let segs = &self.path.segs;
        match &segs[j] {
            Seg::Prop(names) => match node {
                Value::Object(m) => {
                    !segs[j].definite(j + 1 == segs.len())
                        || names.iter().all(|n| m.contains_key(n))
                }
                _ => false,
            },
            Seg::Index(_) | Seg::Slice(..) => node.is_array(),
            Seg::Wildcard => true,
            Seg::Filter(f) => f.matches(node, self.root),
            Seg::Scan | Seg::Function(_) => false,
        }
    }
}

/// Tokens after the root, Jayway `PathCompiler` style. Errors are bare reasons.
pub(crate) fn parse_segments(src: &str, start: usize) -> Result<Vec<Seg>, String> {
    let b = src.as_bytes();
    let len = b.len();
    let mut pos = start;
    let mut segs = Vec::new();
    while pos < len {
        match b[pos] {
            b'.' => {
                let scan = pos + 1 < len && b[pos + 1] == b'.';
                pos += if scan { 2 } else { 1 };
                if scan {
                    segs.push(Seg::Scan);
                }
                if pos >= len {
                    return Err("Path must not end with a '.' or '..'".into());
                }
                match b[pos] {
                    b'.' => return Err(format!("Character '.' on position {pos} is not valid.")),
                    b'*' => {
                        segs.push(Seg::Wildcard);
                        pos += 1;
                    }
                    b'[' => pos = parse_bracket(src, pos, &mut segs)?,
                    _ => pos = parse_dot_name(src, pos, &mut segs)?,
                }
            }
            b'[' => pos = parse_bracket(src, pos, &mut segs)?,
            _ => {
                return Err(format!(
                    "Could not parse token starting at position {pos}. Expected ?, ', 0-9, * "
                ));
            }
        }
    }
    Ok(segs)
}

fn parse_dot_name(src: &str, start: usize, segs: &mut Vec<Seg>) -> Result<usize, String> {
    let b = src.as_bytes();
    let mut pos = start;
    while pos < b.len() && !matches!(b[pos], b'.' | b'[' | b' ' | b'(') {
        pos += 1;
    }
    let name = &src[start..pos];
    if pos < b.len() && b[pos] == b' ' {
        return Err(format!(
            "Use bracket notion ['my prop'] if your property contains blank characters. position: {pos}"
        ));
    }
    if name.is_empty() {
        return Err(format!("Empty property name at position {start}"));
    }
    if pos < b.len() && b[pos] == b'(' {
        if pos + 1 < b.len() && b[pos + 1] == b')' {
            segs.push(Seg::Function(name.to_string()));
            return Ok(pos + 2);
        }
        return Err(format!(
            "Function arguments are not supported at position {pos}"
        ));
    }
    segs.push(Seg::Prop(vec![name.to_string()]));
    Ok(pos)
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && b[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

/// `[...]` starting at `start` (the `[`); returns the position after `]`.
fn parse_bracket(src: &str, start: usize, segs: &mut Vec<Seg>) -> Result<usize, String> {
    let b = src.as_bytes();
    let len = b.len();
    let mut p = skip_ws(b, start + 1);
    if p >= len {
        return Err(format!("Path must not end with a '[' at position {start}"));
    }
    match b[p] {
        b'?' => {
            p = skip_ws(b, p + 1);
            if p >= len || b[p] != b'(' {
                return Err(format!("Expected '(' after '?' at position {p}"));
            }
            let open = p;
            let close = matching_paren(b, open)
                .ok_or_else(|| format!("Filter at position {start} is not closed"))?;
            let end = skip_ws(b, close + 1);
            if end >= len || b[end] != b']' {
                return Err(format!(
                    "Expected ']' to close the filter at position {end}"
                ));
            }
            let filter = Filter::parse(&src[open + 1..close])?;
            segs.push(Seg::Filter(Box::new(filter)));
            Ok(end + 1)
        }
        b'*' => {
            p = skip_ws(b, p + 1);
            if p >= len || b[p] != b']' {
                return Err(format!("Expected ']' after '*' at position {p}"));
            }
            segs.push(Seg::Wildcard);
            Ok(p + 1)
        }
        b'\'' | b'"' => {
            let mut names = Vec::new();
            loop {
                p = skip_ws(b, p);
                if p >= len || !matches!(b[p], b'\'' | b'"') {
                    return Err(format!("Expected a quoted property name at position {p}"));
                }
                let quote = b[p];
                p += 1;
                let name_start = p;
                // A backslash protects the next character; the text is kept as written.
                while p < len && b[p] != quote {
                    p += if b[p] == b'\\' { 2 } else { 1 };
                }
                if p >= len {
                    return Err(format!(
                        "Property has not been closed - missing closing {}",
                        quote as char
                    ));
                }
                names.push(src[name_start..p].to_string());
                p = skip_ws(b, p + 1);
                match b.get(p) {
                    Some(b',') => p += 1,
                    Some(b']') => {
                        p += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "Property must be separated by comma or Property must be terminated close square bracket at index {p}"
                        ));
                    }
                }
            }
            segs.push(Seg::Prop(names));
            Ok(p)
        }
        b'-' | b'0'..=b'9' | b':' => {
            let close = src[p..]
                .find(']')
                .map(|i| i + p)
                .ok_or_else(|| format!("Expected ']' at position {p}"))?;
            let body = src[p..close].trim();
            let int = |s: &str| -> Result<i64, String> {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("Failed to parse array index '{}'", s.trim()))
            };
            if body.contains(':') {
                let parts: Vec<&str> = body.split(':').collect();
                if parts.len() != 2 {
                    return Err(format!("Failed to parse SliceOperation: {body}"));
                }
                let side = |s: &str| -> Result<Option<i64>, String> {
                    if s.trim().is_empty() {
                        Ok(None)
                    } else {
                        int(s).map(Some)
                    }
                };
                segs.push(Seg::Slice(side(parts[0])?, side(parts[1])?));
            } else {
                let ix = body.split(',').map(int).collect::<Result<Vec<_>, _>>()?;
                segs.push(Seg::Index(ix));
            }
            Ok(close + 1)
        }
        c => Err(format!(
            "Could not parse token starting at position {p}: unexpected '{}'",
            c as char
        )),
    }
}

/// Position of the `)` matching the `(` at `open`, skipping quoted text.
pub(crate) fn matching_paren(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut p = open;
    let mut quote: Option<u8> = None;
    while p < b.len() {
        let c = b[p];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    p += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(p);
                    }
                }
                _ => {}
            },
        }
        p += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, doc: &Value) -> Result<Value, String> {
        JsonPath::parse(path)
            .unwrap()
            .select_ref(doc)
            .map(Cow::into_owned)
    }

    #[test]
    fn roots() {
        assert_eq!(JsonPath::parse("$").unwrap().root(), &Root::Input);
        assert_eq!(
            JsonPath::parse("$$.Execution.Id").unwrap().root(),
            &Root::Context
        );
        assert_eq!(
            JsonPath::parse("$my_var.field[0]").unwrap().root(),
            &Root::Variable("my_var".into())
        );
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$$$").is_err());
    }

    #[test]
    fn definite_selection() {
        let doc = json!({"a": {"b": [10, 20, 30]}, "x y": 1, "q'": 2});
        assert_eq!(sel("$", &doc).unwrap(), doc);
        assert_eq!(sel("$.a.b[1]", &doc).unwrap(), json!(20));
        assert_eq!(sel("$.a.b[-1]", &doc).unwrap(), json!(30));
        assert_eq!(sel("$['a']['b'][0]", &doc).unwrap(), json!(10));
        assert_eq!(sel("$[\"x y\"]", &doc).unwrap(), json!(1));
        assert_eq!(
            sel("$.a['b','zz']", &doc).unwrap(),
            json!({"b": [10, 20, 30]})
        );
    }

    #[test]
    fn select_ref_borrows_definite_results() {
        let doc = json!({"a": {"b": 1}});
        let p = JsonPath::parse("$.a").unwrap();
        assert!(matches!(p.select_ref(&doc).unwrap(), Cow::Borrowed(_)));
        let p = JsonPath::parse("$").unwrap();
        assert!(matches!(p.select_ref(&doc).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn jayway_error_messages() {
        let doc = json!({"int-literal": 0, "a": {"b": null}, "s": "str"});
        assert_eq!(
            sel("$.NoSuchInputPath", &doc).unwrap_err(),
            "No results for path: $['NoSuchInputPath']"
        );
        assert_eq!(
            sel("$.no.such.result.path", &doc).unwrap_err(),
            "Missing property in path $['no']"
        );
        assert_eq!(
            sel("$.a.b[0]", &doc).unwrap_err(),
            "The path $['a']['b'] is null"
        );
        assert_eq!(
            sel("$.a.c", &doc).unwrap_err(),
            "No results for path: $['a']['c']"
        );
        assert!(sel("$.s.x", &doc).unwrap_err().starts_with(
            "Expected to find an object with property ['x'] in path $['s'] but found 'java.lang.String'"
        ));
        assert_eq!(
            sel("$['a', 'b'].v", &json!({"a": {}, "b": {}})).unwrap_err(),
            "Multi properties can only be used as path leafs: $['a', 'b']"
        );
        assert_eq!(
            sel("$.items[10]", &json!({"items": [1]})).unwrap_err(),
            "No results for path: $['items'][10]"
        );
    }

    #[test]
    fn indefinite_paths_give_arrays() {
        let doc = json!({"a": [{"v": 1}, {"v": 2}, {"w": 3}], "o": {"x": 1, "y": 2}});
        assert_eq!(sel("$.a[*].v", &doc).unwrap(), json!([1, 2]));
        assert_eq!(sel("$.o.*", &doc).unwrap(), json!([1, 2]));
        assert_eq!(sel("$.a[0,2]", &doc).unwrap(), json!([{"v": 1}, {"w": 3}]));
        assert_eq!(sel("$.a[1:]", &doc).unwrap(), json!([{"v": 2}, {"w": 3}]));
        assert_eq!(sel("$.a[:1]", &doc).unwrap(), json!([{"v": 1}]));
        assert_eq!(sel("$.a[-2:]", &doc).unwrap(), json!([{"v": 2}, {"w": 3}]));
        assert_eq!(sel("$.a[0:2].v", &doc).unwrap(), json!([1, 2]));
        // Jayway's [from:to] walks negative `from` indexes from the end: -3, -2, -1, 0.
        assert_eq!(sel("$.a[-3:1].v", &doc).unwrap(), json!([1, 2, 1]));
        assert_eq!(
            sel("$.a[-9223372036854775808:1].v", &doc).unwrap(),
            json!([1, 2, 1])
        );
        // Missing properties in the definite prefix give [] rather than an error.
        assert_eq!(
            sel("$.item.items[1:5].itemValue", &json!({})).unwrap(),
            json!([])
        );
        assert_eq!(sel("$[*]", &json!({})).unwrap(), json!([]));
    }

    #[test]
    fn deep_scan() {
        let doc = json!({"a": {"x": 1, "b": {"x": 2}}, "c": [{"x": 3}], "x": 0});
        assert_eq!(sel("$..x", &doc).unwrap(), json!([0, 1, 2, 3]));
        assert_eq!(sel("$..b.x", &doc).unwrap(), json!([2]));
        assert_eq!(sel("$..[0].x", &doc).unwrap(), json!([3]));
    }

    #[test]
    fn filters() {
        let doc = json!({"book": [
            {"t": "a", "price": 8.95, "cat": "ref"},
            {"t": "b", "price": 12.99, "cat": "fic", "isbn": "x"},
            {"t": "c", "price": 22, "cat": "fic", "isbn": null}
        ]});
        assert_eq!(
            sel("$.book[?(@.price < 10)].t", &doc).unwrap(),
            json!(["a"])
        );
        assert_eq!(
            sel("$.book[?(@.cat == 'fic')].t", &doc).unwrap(),
            json!(["b", "c"])
        );
        assert_eq!(sel("$.book[?(@.isbn)].t", &doc).unwrap(), json!(["b", "c"]));
        assert_eq!(
            sel("$.book[?(@.cat == 'fic' && @.price > 20)].t", &doc).unwrap(),
            json!(["c"])
        );
        assert_eq!(
            sel("$.book[?(@.price < 9 || @.price > 20)].t", &doc).unwrap(),
            json!(["a", "c"])
        );
        assert_eq!(sel("$..[?(@.price == 22)].t", &doc).unwrap(), json!(["c"]));
        assert_eq!(
            sel("$.book[?(@.price > $.book[0].price)].t", &doc).unwrap(),
            json!(["b", "c"])
        );
    }

    #[test]
    fn quoted_keys_keep_backslashes_as_written() {
        // AWS (old Jayway) keeps escapes raw: this path selects the key `Test\""Name"`.
        let doc = json!({"Test\\\"\"Name\"": "v"});
        assert_eq!(sel("$['Test\\\"\"Name\"']", &doc).unwrap(), json!("v"));
        assert_eq!(sel("$['it\\'s']", &json!({"it\\'s": 1})).unwrap(), json!(1));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "$.",
            "$..",
            "$.a b",
            "$[",
            "$['a'",
            "$[abc]",
            "$.a[1:2:3]",
            "$x y",
            "$.a..",
            "$a[",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn definiteness_and_reference_paths() {
        let p = |s: &str| JsonPath::parse(s).unwrap();
        assert!(p("$.a[0]['b']").is_definite());
        assert!(p("$.a[0]['b']").is_reference_path());
        assert!(p("$.a['x','y']").is_definite());
        assert!(!p("$.a['x','y']").is_reference_path());
        for s in ["$.a[*]", "$..a", "$.a[0,1]", "$.a[1:]", "$.a[?(@.x)]"] {
            assert!(!p(s).is_definite(), "{s}");
            assert!(!p(s).is_reference_path(), "{s}");
        }
    }

    #[test]
    fn assign_creates_objects() {
        let mut doc = json!({"a": 1});
        JsonPath::parse("$.b.c")
            .unwrap()
            .assign(&mut doc, json!(2))
            .unwrap();
        assert_eq!(doc, json!({"a": 1, "b": {"c": 2}}));
        JsonPath::parse("$.a")
            .unwrap()
            .assign(&mut doc, json!([0, 1]))
            .unwrap();
        JsonPath::parse("$.a[1]")
            .unwrap()
            .assign(&mut doc, json!("x"))
            .unwrap();
        assert_eq!(doc, json!({"a": [0, "x"], "b": {"c": 2}}));
        JsonPath::parse("$")
            .unwrap()
            .assign(&mut doc, json!(5))
            .unwrap();
        assert_eq!(doc, json!(5));
        let mut s = json!({"a": "str"});
        assert_eq!(
            JsonPath::parse("$.a.b")
                .unwrap()
                .assign(&mut s, json!(1))
                .unwrap_err(),
            "Unable to apply step \"b\" to input \"str\""
        );
        assert!(
            JsonPath::parse("$.a[5]")
                .unwrap()
                .assign(&mut json!({"a": []}), json!(1))
                .is_err()
        );
        assert!(
            JsonPath::parse("$.a[*]")
                .unwrap()
                .assign(&mut json!({}), json!(1))
                .is_err()
        );
        assert!(
            JsonPath::parse("$$.a")
                .unwrap()
                .assign(&mut json!({}), json!(1))
                .is_err()
        );
    }
}
