//! Jayway filter predicates, the `?(...)` inside `[?(...)]`: relational and existence tests on
//! `@` (the current item) and `$` (the document), combined with `&&`, `||`, `!` and parentheses.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::Root;
use super::jsonpath::{JsonPath, matching_paren, parse_segments};
use super::regex::Regex;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `[?(@.x)]`: the path exists (a null value counts).
    Exists(Operand),
    Rel(Operand, Op, Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// `@...` (current item) when `current`, else `$...` (whole document).
    Path {
        current: bool,
        path: JsonPath,
    },
    Lit(Value),
    Regex(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Matches,
    In,
    Nin,
    Contains,
    Size,
    Empty,
    SubsetOf,
    AnyOf,
    NoneOf,
    Present,
}

impl Filter {
    /// Parses the text between `[?(` and `)]`.
    pub(crate) fn parse(src: &str) -> Result<Filter, String> {
        let mut p = Parser {
            src,
            b: src.as_bytes(),
            pos: 0,
        };
        let f = p.or()?;
        p.ws();
        if p.pos != p.b.len() {
            return Err(format!(
                "Unexpected '{}' in filter at position {}",
                &src[p.pos..],
                p.pos
            ));
        }
        Ok(f)
    }

    pub(crate) fn matches(&self, item: &Value, root: &Value) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(item, root) || b.matches(item, root),
            Filter::And(a, b) => a.matches(item, root) && b.matches(item, root),
            Filter::Not(f) => !f.matches(item, root),
            Filter::Exists(op) => match op.resolve(item, root) {
                Some(Cow::Owned(Value::Array(a))) if op.is_indefinite() => !a.is_empty(),
                Some(_) => true,
                None => false,
            },
            Filter::Rel(l, op, r) => {
                let lv = l.resolve(item, root);
                let rv = r.resolve(item, root);
                relate(*op, lv.as_deref(), rv.as_deref(), l, r)
            }
        }
    }
}

impl Operand {
    fn resolve<'v>(&'v self, item: &'v Value, root: &'v Value) -> Option<Cow<'v, Value>> {
        match self {
            Operand::Path { current, path } => {
                path.select_ref(if *current { item } else { root }).ok()
            }
            Operand::Lit(v) => Some(Cow::Borrowed(v)),
            Operand::Regex(_) => None,
        }
    }

    fn is_indefinite(&self) -> bool {
        matches!(self, Operand::Path { path, .. } if !path.is_definite())
    }
}

fn num(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// Jayway `ValueNode` equality: numbers by value, and a string equals a number it parses to.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num(x) == num(y),
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            s.trim().parse::<f64>().is_ok_and(|v| v == num(x))
        }
        _ => a == b,
    }
}

fn relate(op: Op, l: Option<&Value>, r: Option<&Value>, lop: &Operand, rop: &Operand) -> bool {
    if op == Op::Matches {
        let (re, input) = match (lop, rop) {
            (Operand::Regex(re), _) => (re, r),
            (_, Operand::Regex(re)) => (re, l),
            _ => return false,
        };
        let text = match input {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        };
        return re.is_match(&text);
    }
    if op == Op::Ne {
        return !relate(Op::Eq, l, r, lop, rop);
    }
    if op == Op::Present {
        return matches!(r, Some(Value::Bool(b)) if *b == l.is_some());
    }
    let (Some(l), Some(r)) = (l, r) else {
        return false;
    };
    match op {
        Op::Eq => loose_eq(l, r),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (l, r) {
                (Value::Number(x), Value::Number(y)) => num(x).partial_cmp(&num(y)),
                (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ord) = ord else { return false };
            match op {
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
                Op::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
        Op::In => matches!(r, Value::Array(a) if a.iter().any(|x| loose_eq(l, x))),
        Op::Nin => matches!(r, Value::Array(a) if !a.iter().any(|x| loose_eq(l, x))),
        Op::Contains => match (l, r) {
            (Value::Array(a), _) => a.iter().any(|x| loose_eq(x, r)),
            (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
            _ => false,
        },
        Op::Size => {
            let n = match l {
                Value::Array(a) => a.len(),
                Value::String(s) => s.chars().count(),
                _ => return false,
            };
            matches!(r, Value::Number(x) if num(x) == n as f64)
        }
        Op::Empty => {
            let e = match l {
                Value::Array(a) => a.is_empty(),
                Value::String(s) => s.is_empty(),
                _ => return false,
            };
            matches!(r, Value::Bool(b) if *b == e)
        }
        Op::SubsetOf | Op::AnyOf | Op::NoneOf => {
            let (Value::Array(a), Value::Array(b)) = (l, r) else {
                return false;
            };
            let inb = |x: &Value| b.iter().any(|y| loose_eq(x, y));
            match op {
                Op::SubsetOf => a.iter().all(inb),
                Op::AnyOf => a.iter().any(inb),
                _ => !a.iter().any(inb),
            }
        }
        Op::Ne | Op::Matches | Op::Present => unreachable!("handled above"),
    }
}

struct Parser<'s> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.src[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut f = self.and()?;
        while self.eat("||") {
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut f = self.unary()?;
        while self.eat("&&") {
            f = Filter::And(Box::new(f), Box::new(self.unary()?));
        }
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        self.ws();
        match self.b.get(self.pos) {
            Some(b'!') if self.b.get(self.pos + 1) != Some(&b'=') => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let f = self.or()?;
                if !self.eat(")") {
                    return Err(format!("Expected ')' in filter at position {}", self.pos));
                }
                Ok(f)
            }
            _ => self.relation(),
        }
    }

    fn relation(&mut self) -> Result<Filter, String> {
        let left = self.operand()?;
        let Some(op) = self.op() else {
            return match left {
                Operand::Path { .. } => Ok(Filter::Exists(left)),
                _ => Err(format!(
                    "Expected an operator in filter at position {}",
                    self.pos
                )),
            };
        };
        let right = self.operand()?;
        Ok(Filter::Rel(left, op, right))
    }

    fn op(&mut self) -> Option<Op> {
        self.ws();
        let rest = &self.src[self.pos..];
        const SYMBOLS: [(&str, Op); 10] = [
            ("===", Op::Eq),
            ("!==", Op::Ne),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=~", Op::Matches),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ];
        for (s, op) in SYMBOLS {
            if rest.starts_with(s) {
                self.pos += s.len();
                return Some(op);
            }
        }
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let op = match word.to_ascii_lowercase().as_str() {
            "in" => Op::In,
            "nin" => Op::Nin,
            "contains" => Op::Contains,
            "size" => Op::Size,
            "empty" => Op::Empty,
            "subsetof" => Op::SubsetOf,
            "anyof" => Op::AnyOf,
            "noneof" => Op::NoneOf,
            "exists" => Op::Present,
            _ => return None,
        };
        self.pos += word.len();
        Some(op)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        let start = self.pos;
        match self.b.get(self.pos) {
            Some(b'@') | Some(b'$') => {
                let current = self.b[self.pos] == b'@';
                let end = self.path_end(self.pos + 1);
                let text = &self.src[start..end];
                self.pos = end;
                let segs = parse_segments(text, 1)?;
                let path = JsonPath::from_parts(text.to_string(), Root::Input, segs);
                Ok(Operand::Path { current, path })
            }
            Some(b'/') => {
                let mut p = self.pos + 1;
                while p < self.b.len() && self.b[p] != b'/' {
                    p += if self.b[p] == b'\\' { 2 } else { 1 };
                }
                if p >= self.b.len() {
                    return Err("Regex in filter is not closed".into());
                }
                let pattern = &self.src[self.pos + 1..p];
                p += 1;
                let flags_end = p + self.src[p..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .count();
                let flags = &self.src[p..flags_end];
                self.pos = flags_end;
                Ok(Operand::Regex(Regex::new(pattern, flags)?))
            }
            Some(_) => {
                let v = self.literal()?;
                Ok(Operand::Lit(v))
            }
            None => Err("Expected an operand at the end of the filter".into()),
        }
    }

    /// End of a path operand: the first unbracketed space, `)`, comparison or logic character.
    fn path_end(&self, mut p: usize) -> usize {
        let b = self.b;
        while p < b.len() {
            match b[p] {
                b'[' => {
                    // Skip the bracket, honouring quotes and nested filters.
                    let mut depth = 0usize;
                    let mut quote: Option<u8> = None;
                    while p < b.len() {
                        let c = b[p];
                        if let Some(q) = quote {
                            if c == b'\\' {
                                p += 1;
                            } else if c == q {
                                quote = None;
                            }
                        } else if c == b'\'' || c == b'"' {
                            quote = Some(c);
                        } else if c == b'[' {
                            depth += 1;
                        } else if c == b']' {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        } else if c == b'('
                            && let Some(close) = matching_paren(b, p)
                        {
                            p = close;
                        }
                        p += 1;
                    }
                    p += 1;
                }
                c if c.is_ascii_whitespace() => break,
                b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b',' => break,
                _ => p += 1,
            }
        }
        p.min(b.len())
    }

    /// A JSON-ish literal as Jayway accepts it: single or double quoted strings, numbers,
    /// `true`/`false`/`null`, and arrays/objects of those.
    fn literal(&mut self) -> Result<Value, String> {
        self.ws();
        let Some(&c) = self.b.get(self.pos) else {
            return Err("Expected a value in filter".into());
        };
        match c {
            b'\'' | b'"' => Ok(Value::String(self.string(c)?)),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat("]") {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.literal()?);
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Value::Array(items));
                    }
                    return Err(format!(
                        "Expected ',' or ']' in filter at position {}",
                        self.pos
                    ));
                }
            }
            b'{' => {
                self.pos += 1;
                let mut m = Map::new();
                if self.eat("}") {
                    return Ok(Value::Object(m));
                }
                loop {
                    self.ws();
                    let q = *self
                        .b
                        .get(self.pos)
                        .ok_or("Unterminated object in filter")?;
                    if q != b'\'' && q != b'"' {
                        return Err(format!("Expected a key in filter at position {}", self.pos));
                    }
                    let k = self.string(q)?;
                    if !self.eat(":") {
                        return Err(format!("Expected ':' in filter at position {}", self.pos));
                    }
                    m.insert(k, self.literal()?);
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Value::Object(m));
                    }
                    return Err(format!(
                        "Expected ',' or '}}' in filter at position {}",
                        self.pos
                    ));
                }
            }
            _ => {
                let rest = &self.src[self.pos..];
                let word_len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')))
                    .unwrap_or(rest.len());
                let word = &rest[..word_len];
                let v = match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => match serde_json::from_str::<Value>(word) {
                        Ok(v @ Value::Number(_)) => v,
                        _ => return Err(format!("Unexpected '{word}' in filter")),
                    },
                };
                if word_len == 0 {
                    return Err(format!(
                        "Unexpected character in filter at position {}",
                        self.pos
                    ));
                }
                self.pos += word_len;
                Ok(v)
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c as u32 == quote as u32 {
                self.pos += 1 + i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err("String in filter is not closed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(filter: &str, item: Value) -> bool {
        Filter::parse(filter)
            .unwrap()
            .matches(&item, &json!({"limit": 5}))
    }

    #[test]
    fn comparisons() {
        assert!(m("@.x == 1", json!({"x": 1.0})));
        assert!(m("@.x == '1'", json!({"x": 1})));
        assert!(!m("@.x == 1", json!({"y": 1})));
        assert!(m("@.x != 1", json!({"y": 1})));
        assert!(m("@.x < $.limit", json!({"x": 4})));
        assert!(!m("@.x >= $.limit", json!({"x": 4})));
        assert!(m("@.s > 'a'", json!({"s": "b"})));
        assert!(!m("@.s > 1", json!({"s": "b"})));
        assert!(m("@ == 3", json!(3)));
    }

    #[test]
    fn logic_and_existence() {
        assert!(m("@.a && @.b", json!({"a": null, "b": 0})));
        assert!(!m("@.a && @.b", json!({"a": 1})));
        assert!(m("@.a || @.b", json!({"b": 0})));
        assert!(m("!(@.a)", json!({"b": 0})));
        assert!(m(
            "(@.a == 1 || @.a == 2) && @.b == 'x'",
            json!({"a": 2, "b": "x"})
        ));
    }

    #[test]
    fn word_operators() {
        assert!(m("@.x in ['a', 'b']", json!({"x": "b"})));
        assert!(m("@.x nin ['a', 'b']", json!({"x": "c"})));
        assert!(m("@.tags contains 'red'", json!({"tags": ["red"]})));
        assert!(m("@.tags size 2", json!({"tags": [1, 2]})));
        assert!(m("@.tags empty true", json!({"tags": []})));
        assert!(m("@.tags subsetof [1, 2, 3]", json!({"tags": [1, 2]})));
        assert!(m("@.tags anyof [3, 4]", json!({"tags": [1, 3]})));
        assert!(m("@.tags noneof [3, 4]", json!({"tags": [1, 2]})));
        assert!(m("@.name =~ /fo+.*/i", json!({"name": "FOOBAR"})));
        assert!(!m("@.name =~ /fo+/", json!({"name": "foobar"})));
    }

    #[test]
    fn bad_filters() {
        for bad in ["", "@.x ==", "1", "@.x == 'a", "(@.x", "@.x == 1 junk"] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
