//! DynamoDB expressions over AttributeValue JSON: a hand-written recursive-descent parser for
//! condition, key-condition, filter, projection and update expressions (with `#name` and
//! `:value` placeholders), and their evaluation against an item. Errors carry DynamoDB's
//! ValidationException text.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::tables::{encode_number, parse_decimal};

pub type Item = Map<String, Value>;

/// A ValidationException message.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError(pub String);

type R<T> = Result<T, ExprError>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(ExprError(m.into()))
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Name(String),
    Index(usize),
}

pub type Path = Vec<Step>;

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(Value),
    Size(Path),
    IfNotExists(Path, Box<Operand>),
    ListAppend(Box<Operand>, Box<Operand>),
    Plus(Box<Operand>, Box<Operand>),
    Minus(Box<Operand>, Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Set(Path, Operand),
    Remove(Path),
    Add(Path, Operand),
    Delete(Path, Operand),
}

/// The placeholders of a request, and which of them expressions used.
#[derive(Debug, Default)]
pub struct Placeholders<'a> {
    pub names: Option<&'a Map<String, Value>>,
    pub values: Option<&'a Map<String, Value>>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl<'a> Placeholders<'a> {
    pub fn new(
        names: Option<&'a Map<String, Value>>,
        values: Option<&'a Map<String, Value>>,
    ) -> Self {
        Placeholders {
            names,
            values,
            ..Default::default()
        }
    }

    /// DynamoDB rejects placeholders no expression used.
    pub fn check_unused(&self) -> R<()> {
        let unused = |given: Option<&Map<String, Value>>, used: &BTreeSet<String>| {
            given
                .map(|m| {
                    m.keys()
                        .filter(|k| !used.contains(*k))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let names = unused(self.names, &self.used_names);
        if !names.is_empty() {
            return err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            ));
        }
        let values = unused(self.values, &self.used_values);
        if !values.is_empty() {
            return err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            ));
        }
        Ok(())
    }
}

const RESERVED: &[&str] = &[
    "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Name(String),
    Value(String),
    Num(usize),
    Sym(&'static str),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Name(s) | Tok::Value(s) => s.clone(),
            Tok::Num(n) => n.to_string(),
            Tok::Sym(s) => s.to_string(),
        }
    }
}

fn lex(src: &str, what: &str) -> R<Vec<(Tok, usize)>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: usize| {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            b'#' | b':' => {
                let j = word(i + 1);
                if j == i + 1 {
                    return syntax(what, &(c as char).to_string(), src, i);
                }
                let s = src[i..j].to_string();
                i = j;
                if c == b'#' {
                    Tok::Name(s)
                } else {
                    Tok::Value(s)
                }
            }
            b'0'..=b'9' => {
                let mut j = i;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                let n = src[i..j]
                    .parse()
                    .map_err(|_| ExprError("bad index".into()))?;
                i = j;
                Tok::Num(n)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let j = word(i);
                let s = src[i..j].to_string();
                i = j;
                Tok::Ident(s)
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                let sym = match two {
                    "<=" => Some("<="),
                    ">=" => Some(">="),
                    "<>" => Some("<>"),
                    _ => None,
                };
                if let Some(s) = sym {
                    i += 2;
                    Tok::Sym(s)
                } else {
                    let s = match c {
                        b'=' => "=",
                        b'<' => "<",
                        b'>' => ">",
                        b'(' => "(",
                        b')' => ")",
                        b',' => ",",
                        b'.' => ".",
                        b'[' => "[",
                        b']' => "]",
                        b'+' => "+",
                        b'-' => "-",
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or(' ');
                            return err(format!(
                                "Invalid {what}: Invalid token: \"{ch}\" at position {i}"
                            ));
                        }
                    };
                    i += 1;
                    Tok::Sym(s)
                }
            }
        };
        out.push((tok, start));
    }
    Ok(out)
}

fn syntax<T>(what: &str, token: &str, src: &str, at: usize) -> R<T> {
    let near: String = src[at.min(src.len())..].chars().take(12).collect();
    err(format!(
        "Invalid {what}: Syntax error; token: \"{token}\", near: \"{near}\""
    ))
}

struct Parser<'s, 'p, 'a> {
    src: &'s str,
    what: &'static str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    ph: &'p mut Placeholders<'a>,
}

impl Parser<'_, '_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn fail<T>(&self) -> R<T> {
        match self.toks.get(self.pos) {
            Some((t, at)) => syntax(self.what, &t.text(), self.src, *at),
            None => syntax(self.what, "<EOF>", self.src, self.src.len()),
        }
    }

    fn expect(&mut self, s: &str) -> R<()> {
        if self.sym(s) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail()
        }
    }

    fn done(&self) -> R<()> {
        if self.pos == self.toks.len() {
            Ok(())
        } else {
            self.fail()
        }
    }

    fn name(&mut self) -> R<String> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&s)) {
                    return err(format!(
                        "Invalid {}: Attribute name is a reserved keyword; reserved keyword: {s}",
                        self.what
                    ));
                }
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                let v = self
                    .ph
                    .names
                    .and_then(|m| m.get(&n))
                    .and_then(Value::as_str);
                match v {
                    Some(v) => {
                        self.ph.used_names.insert(n);
                        Ok(v.to_string())
                    }
                    None => err(format!(
                        "Invalid {}: An expression attribute name used in the document path is not defined; attribute name: {n}",
                        self.what
                    )),
                }
            }
            _ => self.fail(),
        }
    }

    fn path(&mut self) -> R<Path> {
        let mut p = vec![Step::Name(self.name()?)];
        loop {
            if self.sym(".") {
                self.pos += 1;
                p.push(Step::Name(self.name()?));
            } else if self.sym("[") {
                self.pos += 1;
                match self.peek() {
                    Some(Tok::Num(n)) => {
                        p.push(Step::Index(*n));
                        self.pos += 1;
                    }
                    _ => return self.fail(),
                }
                self.expect("]")?;
            } else {
                return Ok(p);
            }
        }
    }

    fn value(&mut self, v: String) -> R<Operand> {
        self.pos += 1;
        match self.ph.values.and_then(|m| m.get(&v)) {
            Some(val) => {
                let val = val.clone();
                self.ph.used_values.insert(v);
                Ok(Operand::Value(val))
            }
            None => err(format!(
                "Invalid {}: An expression attribute value used in expression is not defined; attribute value: {v}",
                self.what
            )),
        }
    }

    fn is_call(&self, f: &str) -> bool {
        self.keyword(f) && matches!(self.toks.get(self.pos + 1), Some((Tok::Sym("("), _)))
    }

    /// An operand of a condition: a path, a value or `size(path)`.
    fn operand(&mut self) -> R<Operand> {
        match self.peek().cloned() {
            Some(Tok::Value(v)) => self.value(v),
            _ if self.is_call("size") => {
                self.pos += 2;
                let p = self.path()?;
                self.expect(")")?;
                Ok(Operand::Size(p))
            }
            Some(Tok::Ident(_) | Tok::Name(_)) => Ok(Operand::Path(self.path()?)),
            _ => self.fail(),
        }
    }

    fn or(&mut self) -> R<Cond> {
        let mut l = self.and()?;
        while self.keyword("OR") {
            self.pos += 1;
            l = Cond::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> R<Cond> {
        let mut l = self.not()?;
        while self.keyword("AND") {
            self.pos += 1;
            l = Cond::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }

    fn not(&mut self) -> R<Cond> {
        if self.keyword("NOT") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> R<Cond> {
        if self.sym("(") {
            self.pos += 1;
            let c = self.or()?;
            self.expect(")")?;
            return Ok(c);
        }
        for f in [
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
            "begins_with",
            "contains",
        ] {
            if self.is_call(f) {
                self.pos += 2;
                let c = match f {
                    "attribute_exists" => Cond::Exists(self.path()?),
                    "attribute_not_exists" => Cond::NotExists(self.path()?),
                    "attribute_type" => {
                        let p = self.path()?;
                        self.expect(",")?;
                        Cond::Type(p, self.operand()?)
                    }
                    _ => {
                        let a = self.operand()?;
                        self.expect(",")?;
                        let b = self.operand()?;
                        if f == "begins_with" {
                            Cond::BeginsWith(a, b)
                        } else {
                            Cond::Contains(a, b)
                        }
                    }
                };
                self.expect(")")?;
                return Ok(c);
            }
        }
        let l = self.operand()?;
        if self.keyword("BETWEEN") {
            self.pos += 1;
            let lo = self.operand()?;
            if !self.keyword("AND") {
                return self.fail();
            }
            self.pos += 1;
            let hi = self.operand()?;
            return Ok(Cond::Between(l, lo, hi));
        }
        if self.keyword("IN") {
            self.pos += 1;
            self.expect("(")?;
            let mut list = vec![self.operand()?];
            while self.sym(",") {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect(")")?;
            return Ok(Cond::In(l, list));
        }
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Cmp::Eq,
            Some(Tok::Sym("<>")) => Cmp::Ne,
            Some(Tok::Sym("<")) => Cmp::Lt,
            Some(Tok::Sym("<=")) => Cmp::Le,
            Some(Tok::Sym(">")) => Cmp::Gt,
            Some(Tok::Sym(">=")) => Cmp::Ge,
            _ => return self.fail(),
        };
        self.pos += 1;
        let r = self.operand()?;
        Ok(Cond::Cmp(l, op, r))
    }

    /// An update value: `operand [+|- operand]`, where operands may be functions.
    fn update_value(&mut self) -> R<Operand> {
        let l = self.update_operand()?;
        if self.sym("+") || self.sym("-") {
            let plus = self.sym("+");
            self.pos += 1;
            let r = self.update_operand()?;
            return Ok(if plus {
                Operand::Plus(Box::new(l), Box::new(r))
            } else {
                Operand::Minus(Box::new(l), Box::new(r))
            });
        }
        Ok(l)
    }

    fn update_operand(&mut self) -> R<Operand> {
        if self.is_call("if_not_exists") {
            self.pos += 2;
            let p = self.path()?;
            self.expect(",")?;
            let v = self.update_operand()?;
            self.expect(")")?;
            return Ok(Operand::IfNotExists(p, Box::new(v)));
        }
        if self.is_call("list_append") {
            self.pos += 2;
            let a = self.update_operand()?;
            self.expect(",")?;
            let b = self.update_operand()?;
            self.expect(")")?;
            return Ok(Operand::ListAppend(Box::new(a), Box::new(b)));
        }
        match self.peek().cloned() {
            Some(Tok::Value(v)) => self.value(v),
            Some(Tok::Ident(_) | Tok::Name(_)) => Ok(Operand::Path(self.path()?)),
            _ => self.fail(),
        }
    }

    fn update(&mut self) -> R<Vec<Action>> {
        let mut actions = Vec::new();
        let mut seen = BTreeSet::new();
        while self.pos < self.toks.len() {
            let clause = match self.peek() {
                Some(Tok::Ident(s)) => s.to_ascii_uppercase(),
                _ => return self.fail(),
            };
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
                return self.fail();
            }
            if !seen.insert(clause.clone()) {
                return err(format!(
                    "Invalid UpdateExpression: The \"{clause}\" section can only be used once in an update expression;"
                ));
            }
            self.pos += 1;
            loop {
                let p = self.path()?;
                actions.push(match clause.as_str() {
                    "SET" => {
                        self.expect("=")?;
                        Action::Set(p, self.update_value()?)
                    }
                    "REMOVE" => Action::Remove(p),
                    "ADD" => Action::Add(p, self.value_operand()?),
                    _ => Action::Delete(p, self.value_operand()?),
                });
                if self.sym(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        if actions.is_empty() {
            return self.fail();
        }
        Ok(actions)
    }

    fn value_operand(&mut self) -> R<Operand> {
        match self.peek().cloned() {
            Some(Tok::Value(v)) => self.value(v),
            _ => self.fail(),
        }
    }
}

fn parser<'s, 'p, 'a>(
    src: &'s str,
    what: &'static str,
    ph: &'p mut Placeholders<'a>,
) -> R<Parser<'s, 'p, 'a>> {
    if src.trim().is_empty() {
        return err(format!("Invalid {what}: The expression can not be empty;"));
    }
    Ok(Parser {
        src,
        what,
        toks: lex(src, what)?,
        pos: 0,
        ph,
    })
}

/// Parses a ConditionExpression / FilterExpression / KeyConditionExpression (`what` names it
/// in errors).
pub fn parse_condition(src: &str, what: &'static str, ph: &mut Placeholders) -> R<Cond> {
    let mut p = parser(src, what, ph)?;
    let c = p.or()?;
    p.done()?;
    Ok(c)
}

pub fn parse_update(src: &str, ph: &mut Placeholders) -> R<Vec<Action>> {
    let mut p = parser(src, "UpdateExpression", ph)?;
    let a = p.update()?;
    p.done()?;
    Ok(a)
}

pub fn parse_projection(src: &str, ph: &mut Placeholders) -> R<Vec<Path>> {
    let mut p = parser(src, "ProjectionExpression", ph)?;
    let mut out = vec![p.path()?];
    while p.sym(",") {
        p.pos += 1;
        out.push(p.path()?);
    }
    p.done()?;
    Ok(out)
}

// ---- evaluation ----

fn child<'v>(v: &'v Value, step: &Step) -> Option<&'v Value> {
    match step {
        Step::Name(n) => v.get("M")?.get(n),
        Step::Index(i) => v.get("L")?.get(*i),
    }
}

pub fn resolve<'v>(item: &'v Item, path: &Path) -> Option<&'v Value> {
    let Step::Name(first) = &path[0] else {
        return None;
    };
    let mut v = item.get(first)?;
    for s in &path[1..] {
        v = child(v, s)?;
    }
    Some(v)
}

fn type_of(v: &Value) -> &str {
    v.as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
        .unwrap_or("")
}

fn operand_value(item: &Item, o: &Operand) -> R<Option<Value>> {
    Ok(match o {
        Operand::Path(p) => resolve(item, p).cloned(),
        Operand::Value(v) => Some(v.clone()),
        Operand::Size(p) => resolve(item, p)
            .and_then(size)
            .map(|n| serde_json::json!({"N": n.to_string()})),
        Operand::IfNotExists(p, d) => match resolve(item, p) {
            Some(v) => Some(v.clone()),
            None => operand_value(item, d)?,
        },
        Operand::ListAppend(a, b) => {
            let (a, b) = (operand_value(item, a)?, operand_value(item, b)?);
            match (
                a.as_ref().and_then(|v| v.get("L")),
                b.as_ref().and_then(|v| v.get("L")),
            ) {
                (Some(Value::Array(x)), Some(Value::Array(y))) => {
                    let mut l = x.clone();
                    l.extend(y.iter().cloned());
                    Some(serde_json::json!({ "L": l }))
                }
                _ => {
                    return err(
                        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: not a list",
                    );
                }
            }
        }
        Operand::Plus(a, b) | Operand::Minus(a, b) => {
            let op = if matches!(o, Operand::Plus(..)) {
                "+"
            } else {
                "-"
            };
            let (a, b) = (operand_value(item, a)?, operand_value(item, b)?);
            let (Some(a), Some(b)) = (a, b) else {
                return err(
                    "The provided expression refers to an attribute that does not exist in the item",
                );
            };
            match (
                a.get("N").and_then(Value::as_str),
                b.get("N").and_then(Value::as_str),
            ) {
                (Some(x), Some(y)) => {
                    let r = if op == "+" {
                        add(x, y)
                    } else {
                        add(x, &negate(y))
                    };
                    Some(
                        serde_json::json!({ "N": r.ok_or_else(|| ExprError("Number overflow. Attempting to store a number with magnitude larger than supported range".into()))? }),
                    )
                }
                _ => {
                    return err(format!(
                        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {op}, operand type: {}",
                        long_type(if a.get("N").is_some() { &b } else { &a })
                    ));
                }
            }
        }
    })
}

fn long_type(v: &Value) -> &'static str {
    match type_of(v) {
        "S" => "STRING",
        "N" => "NUMBER",
        "B" => "BINARY",
        "BOOL" => "BOOLEAN",
        "NULL" => "NULL",
        "M" => "MAP",
        "L" => "LIST",
        "SS" => "STRING SET",
        "NS" => "NUMBER SET",
        "BS" => "BINARY SET",
        _ => "UNKNOWN",
    }
}

fn size(v: &Value) -> Option<usize> {
    let (t, inner) = v.as_object()?.iter().next()?;
    Some(match (t.as_str(), inner) {
        ("S", Value::String(s)) => s.chars().count(),
        ("B", Value::String(s)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()?
                .len()
        }
        (_, Value::Array(a)) => a.len(),
        ("M", Value::Object(m)) => m.len(),
        _ => return None,
    })
}

/// Orders two scalar values of one type (S, N, B); None if incomparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    let (ta, tb) = (type_of(a), type_of(b));
    if ta != tb {
        return None;
    }
    let (x, y) = (a.get(ta)?.as_str()?, b.get(tb)?.as_str()?);
    match ta {
        "S" => Some(x.as_bytes().cmp(y.as_bytes())),
        "N" => Some(encode_number(x)?.cmp(&encode_number(y)?)),
        "B" => {
            use base64::Engine as _;
            let d = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
            Some(d(x)?.cmp(&d(y)?))
        }
        _ => None,
    }
}

/// AttributeValue equality (numbers by value, sets as sets).
pub fn equal(a: &Value, b: &Value) -> bool {
    let (ta, tb) = (type_of(a), type_of(b));
    if ta != tb {
        return false;
    }
    match ta {
        "S" | "N" | "B" => compare(a, b) == Some(Ordering::Equal),
        "SS" | "NS" | "BS" => {
            let items = |v: &Value| -> Vec<Value> {
                v.get(ta)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let (x, y) = (items(a), items(b));
            let elem = &ta[..1];
            let wrap = |s: &Value| serde_json::json!({ elem: s });
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.iter().any(|f| equal(&wrap(e), &wrap(f))))
        }
        "L" => {
            let (x, y) = (a["L"].as_array(), b["L"].as_array());
            match (x, y) {
                (Some(x), Some(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
                }
                _ => false,
            }
        }
        "M" => {
            let (x, y) = (a["M"].as_object(), b["M"].as_object());
            match (x, y) {
                (Some(x), Some(y)) => {
                    x.len() == y.len()
                        && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
                }
                _ => false,
            }
        }
        _ => a == b,
    }
}

/// Evaluates a condition against an item (an absent item is the empty item).
pub fn eval(item: &Item, c: &Cond) -> R<bool> {
    Ok(match c {
        Cond::And(a, b) => eval(item, a)? && eval(item, b)?,
        Cond::Or(a, b) => eval(item, a)? || eval(item, b)?,
        Cond::Not(a) => !eval(item, a)?,
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Type(p, t) => {
            let want = operand_value(item, t)?;
            let want = want
                .as_ref()
                .and_then(|v| v.get("S"))
                .and_then(Value::as_str);
            let Some(want) = want else {
                return err(
                    "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: not a string",
                );
            };
            resolve(item, p).is_some_and(|v| type_of(v) == want)
        }
        Cond::Cmp(a, op, b) => {
            let (Some(x), Some(y)) = (operand_value(item, a)?, operand_value(item, b)?) else {
                return Ok(false);
            };
            match op {
                Cmp::Eq => equal(&x, &y),
                Cmp::Ne => !equal(&x, &y),
                _ => match compare(&x, &y) {
                    None => false,
                    Some(o) => match op {
                        Cmp::Lt => o == Ordering::Less,
                        Cmp::Le => o != Ordering::Greater,
                        Cmp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    },
                },
            }
        }
        Cond::Between(v, lo, hi) => {
            let (Some(v), Some(lo), Some(hi)) = (
                operand_value(item, v)?,
                operand_value(item, lo)?,
                operand_value(item, hi)?,
            ) else {
                return Ok(false);
            };
            if compare(&lo, &hi) == Some(Ordering::Greater) {
                return err(format!(
                    "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {lo}, upper bound operand: AttributeValue: {hi}"
                ));
            }
            compare(&v, &lo).is_some_and(|o| o != Ordering::Less)
                && compare(&v, &hi).is_some_and(|o| o != Ordering::Greater)
        }
        Cond::In(v, list) => {
            let Some(v) = operand_value(item, v)? else {
                return Ok(false);
            };
            let mut any = false;
            for o in list {
                if operand_value(item, o)?.is_some_and(|w| equal(&v, &w)) {
                    any = true;
                }
            }
            any
        }
        Cond::BeginsWith(a, b) => {
            let (Some(x), Some(y)) = (operand_value(item, a)?, operand_value(item, b)?) else {
                return Ok(false);
            };
            match (type_of(&x), type_of(&y)) {
                ("S", "S") => x["S"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(y["S"].as_str().unwrap_or("")),
                ("B", "B") => {
                    use base64::Engine as _;
                    let d = |v: &Value| {
                        base64::engine::general_purpose::STANDARD
                            .decode(v["B"].as_str().unwrap_or(""))
                            .unwrap_or_default()
                    };
                    d(&x).starts_with(&d(&y))
                }
                _ => false,
            }
        }
        Cond::Contains(a, b) => {
            let (Some(x), Some(y)) = (operand_value(item, a)?, operand_value(item, b)?) else {
                return Ok(false);
            };
            match type_of(&x) {
                "S" => {
                    type_of(&y) == "S"
                        && x["S"]
                            .as_str()
                            .unwrap_or("")
                            .contains(y["S"].as_str().unwrap_or(""))
                }
                t @ ("SS" | "NS" | "BS") => {
                    let elem = &t[..1];
                    type_of(&y) == elem
                        && x[t].as_array().is_some_and(|a| {
                            a.iter().any(|e| equal(&serde_json::json!({ elem: e }), &y))
                        })
                }
                "L" => x["L"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| equal(e, &y))),
                _ => false,
            }
        }
    })
}

/// Applies update actions to an item; returns the top-level attribute names they touched.
pub fn apply(item: &mut Item, actions: &[Action]) -> R<BTreeSet<String>> {
    let before = item.clone();
    let mut touched = BTreeSet::new();
    // Values are computed against the item before the update, as DynamoDB does.
    let mut resolved = Vec::new();
    for a in actions {
        resolved.push(match a {
            Action::Set(_, o) | Action::Add(_, o) | Action::Delete(_, o) => {
                Some(operand_value(&before, o)?.ok_or_else(|| {
                    ExprError("The provided expression refers to an attribute that does not exist in the item".into())
                })?)
            }
            Action::Remove(_) => None,
        });
    }
    check_overlap(actions)?;
    // Removals of list elements go last and from the highest index, so indexes stay valid.
    let mut order: Vec<usize> = (0..actions.len()).collect();
    order.sort_by_key(|&i| match &actions[i] {
        Action::Remove(p) => (1, usize::MAX - last_index(p)),
        _ => (0, i),
    });
    for i in order {
        let a = &actions[i];
        let path = match a {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        };
        if let Step::Name(n) = &path[0] {
            touched.insert(n.clone());
        }
        match a {
            Action::Set(p, _) => set_path(item, p, resolved[i].clone().expect("set has a value"))?,
            Action::Remove(p) => remove_path(item, p),
            Action::Add(p, _) => {
                let v = resolved[i].clone().expect("add has a value");
                let cur = resolve(item, p).cloned();
                let new = match (type_of(&v), cur) {
                    ("N", None) => v,
                    ("N", Some(c)) if type_of(&c) == "N" => {
                        let r = add(
                            c["N"].as_str().unwrap_or("0"),
                            v["N"].as_str().unwrap_or("0"),
                        )
                        .ok_or_else(|| ExprError("Number overflow".into()))?;
                        serde_json::json!({ "N": r })
                    }
                    (t @ ("SS" | "NS" | "BS"), None) => {
                        let _ = t;
                        v
                    }
                    (t @ ("SS" | "NS" | "BS"), Some(c)) if type_of(&c) == t => {
                        let mut set = c[t].as_array().cloned().unwrap_or_default();
                        let elem = &t[..1];
                        for e in v[t].as_array().cloned().unwrap_or_default() {
                            if !set.iter().any(|x| {
                                equal(&serde_json::json!({elem: x}), &serde_json::json!({elem: e}))
                            }) {
                                set.push(e);
                            }
                        }
                        serde_json::json!({ t: set })
                    }
                    (_, Some(c)) => {
                        return err(format!(
                            "An operand in the update expression has an incorrect data type; operator: ADD, operand type: {}",
                            long_type(if matches!(type_of(&v), "N" | "SS" | "NS" | "BS") {
                                &c
                            } else {
                                &v
                            })
                        ));
                    }
                    _ => {
                        return err(format!(
                            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                            long_type(&v)
                        ));
                    }
                };
                set_path(item, p, new)?;
            }
            Action::Delete(p, _) => {
                let v = resolved[i].clone().expect("delete has a value");
                let t = type_of(&v).to_string();
                if !matches!(t.as_str(), "SS" | "NS" | "BS") {
                    return err(format!(
                        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
                        long_type(&v)
                    ));
                }
                let Some(cur) = resolve(item, p).cloned() else {
                    continue;
                };
                if type_of(&cur) != t {
                    return err("An operand in the update expression has an incorrect data type");
                }
                let elem = &t[..1];
                let drop: Vec<Value> = v[&t].as_array().cloned().unwrap_or_default();
                let kept: Vec<Value> = cur[&t]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|x| {
                        !drop.iter().any(|d| {
                            equal(&serde_json::json!({elem: x}), &serde_json::json!({elem: d}))
                        })
                    })
                    .collect();
                if kept.is_empty() {
                    remove_path(item, p);
                } else {
                    set_path(item, p, serde_json::json!({ t.clone(): kept }))?;
                }
            }
        }
    }
    Ok(touched)
}

fn last_index(p: &Path) -> usize {
    match p.last() {
        Some(Step::Index(i)) => *i,
        _ => 0,
    }
}

/// DynamoDB rejects two actions on one path or on a path and its parent.
fn check_overlap(actions: &[Action]) -> R<()> {
    let paths: Vec<&Path> = actions
        .iter()
        .map(|a| match a {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        })
        .collect();
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return err(format!(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [{}], path two: [{}]",
                    show_path(a),
                    show_path(b)
                ));
            }
        }
    }
    Ok(())
}

fn show_path(p: &Path) -> String {
    p.iter()
        .map(|s| match s {
            Step::Name(n) => n.clone(),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn invalid_path<T>() -> R<T> {
    err("The document path provided in the update expression is invalid for update")
}

fn set_path(item: &mut Item, p: &Path, v: Value) -> R<()> {
    let Step::Name(first) = &p[0] else {
        return invalid_path();
    };
    if p.len() == 1 {
        item.insert(first.clone(), v);
        return Ok(());
    }
    let Some(mut cur) = item.get_mut(first) else {
        return invalid_path();
    };
    for s in &p[1..p.len() - 1] {
        cur = match s {
            Step::Name(n) => cur.get_mut("M").and_then(|m| m.get_mut(n)),
            Step::Index(i) => cur.get_mut("L").and_then(|l| l.get_mut(*i)),
        }
        .map_or_else(|| None, Some)
        .ok_or(())
        .or_else(|_| invalid_path())?;
    }
    match p.last().expect("a path has a step") {
        Step::Name(n) => match cur.get_mut("M").and_then(Value::as_object_mut) {
            Some(m) => {
                m.insert(n.clone(), v);
                Ok(())
            }
            None => invalid_path(),
        },
        Step::Index(i) => match cur.get_mut("L").and_then(Value::as_array_mut) {
            Some(l) if *i < l.len() => {
                l[*i] = v;
                Ok(())
            }
            // Past the end appends, as DynamoDB does.
            Some(l) => {
                l.push(v);
                Ok(())
            }
            None => invalid_path(),
        },
    }
}

fn remove_path(item: &mut Item, p: &Path) {
    let Step::Name(first) = &p[0] else { return };
    if p.len() == 1 {
        item.remove(first);
        return;
    }
    let Some(mut cur) = item.get_mut(first) else {
        return;
    };
    for s in &p[1..p.len() - 1] {
        let next = match s {
            Step::Name(n) => cur.get_mut("M").and_then(|m| m.get_mut(n)),
            Step::Index(i) => cur.get_mut("L").and_then(|l| l.get_mut(*i)),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match p.last().expect("a path has a step") {
        Step::Name(n) => {
            if let Some(m) = cur.get_mut("M").and_then(Value::as_object_mut) {
                m.remove(n);
            }
        }
        Step::Index(i) => {
            if let Some(l) = cur.get_mut("L").and_then(Value::as_array_mut)
                && *i < l.len()
            {
                l.remove(*i);
            }
        }
    }
}

/// Keeps only the projected paths of an item.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    for p in paths {
        if let Some(v) = resolve(item, p) {
            // Nested projections keep the enclosing maps/lists with just the selected parts.
            let _ = build(&mut out, p, v.clone());
        }
    }
    out
}

fn build(out: &mut Item, p: &Path, v: Value) -> Option<()> {
    let Step::Name(first) = &p[0] else {
        return None;
    };
    if p.len() == 1 {
        out.insert(first.clone(), v);
        return Some(());
    }
    let mut cur = out.entry(first.clone()).or_insert_with(|| container(&p[1]));
    for (i, s) in p[1..].iter().enumerate() {
        let last = i + 2 == p.len();
        let next_container = if last {
            None
        } else {
            Some(container(&p[i + 2]))
        };
        match s {
            Step::Name(n) => {
                let m = cur.get_mut("M")?.as_object_mut()?;
                if last {
                    m.insert(n.clone(), v);
                    return Some(());
                }
                cur = m.entry(n.clone()).or_insert(next_container?);
            }
            Step::Index(_) => {
                let l = cur.get_mut("L")?.as_array_mut()?;
                if last {
                    l.push(v);
                    return Some(());
                }
                l.push(next_container?);
                cur = l.last_mut()?;
            }
        }
    }
    Some(())
}

fn container(next: &Step) -> Value {
    match next {
        Step::Name(_) => serde_json::json!({"M": {}}),
        Step::Index(_) => serde_json::json!({"L": []}),
    }
}

fn negate(s: &str) -> String {
    match s.strip_prefix('-') {
        Some(r) => r.to_string(),
        None => format!("-{s}"),
    }
}

/// Exact decimal addition of two DynamoDB numbers (None: outside DynamoDB's range).
pub fn add(a: &str, b: &str) -> Option<String> {
    let (na, da, ea) = parse_decimal(a)?;
    let (nb, db, eb) = parse_decimal(b)?;
    // As integers scaled by 10^-scale: value = digits × 10^(exp - len).
    let scale_a = da.len() as i32 - ea;
    let scale_b = db.len() as i32 - eb;
    let scale = scale_a.max(scale_b);
    let widen = |d: &[u8], s: i32| -> Vec<u8> {
        let mut v: Vec<u8> = d.iter().map(|c| c - b'0').collect();
        v.extend(std::iter::repeat_n(0, (scale - s) as usize));
        v
    };
    let (x, y) = (widen(&da, scale_a), widen(&db, scale_b));
    let (neg, mag) = if na == nb {
        (na, add_mag(&x, &y))
    } else {
        match cmp_mag(&x, &y) {
            Ordering::Less => (nb, sub_mag(&y, &x)),
            _ => (na, sub_mag(&x, &y)),
        }
    };
    let mut s: String = mag.iter().map(|d| (d + b'0') as char).collect();
    let s = if scale > 0 {
        let scale = scale as usize;
        if s.len() <= scale {
            s = format!("{}{s}", "0".repeat(scale - s.len() + 1));
        }
        let (i, f) = s.split_at(s.len() - scale);
        format!("{i}.{f}")
    } else {
        format!("{s}{}", "0".repeat((-scale) as usize))
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    let s = s.trim_start_matches('0');
    let s = if s.is_empty() || s.starts_with('.') {
        format!("0{s}")
    } else {
        s.to_string()
    };
    let out = if neg && s != "0" { format!("-{s}") } else { s };
    parse_decimal(&out)?;
    Some(out)
}

fn cmp_mag(x: &[u8], y: &[u8]) -> Ordering {
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|&&d| d == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    let (x, y) = (strip(x), strip(y));
    x.len().cmp(&y.len()).then_with(|| x.cmp(&y))
}

fn add_mag(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut i, mut j, mut carry) = (x.len(), y.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let a = if i > 0 {
            i -= 1;
            x[i]
        } else {
            0
        };
        let b = if j > 0 {
            j -= 1;
            y[j]
        } else {
            0
        };
        let s = a + b + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// x - y for |x| >= |y|.
fn sub_mag(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut i, mut j, mut borrow) = (x.len(), y.len(), 0i8);
    while i > 0 {
        i -= 1;
        let b = if j > 0 {
            j -= 1;
            y[j] as i8
        } else {
            0
        };
        let mut d = x[i] as i8 - b - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn cond(src: &str, values: Value) -> R<Cond> {
        let v = obj(values);
        let n = obj(json!({"#s": "status"}));
        let mut ph = Placeholders::new(Some(&n), Some(&v));
        parse_condition(src, "ConditionExpression", &mut ph)
    }

    fn check(item: &Value, src: &str, values: Value) -> bool {
        eval(&obj(item.clone()), &cond(src, values).unwrap()).unwrap()
    }

    #[test]
    fn conditions_evaluate_like_dynamodb() {
        let item = json!({
            "id": {"S": "a1"}, "n": {"N": "10"}, "status": {"S": "open"},
            "tags": {"SS": ["x", "y"]}, "m": {"M": {"deep": {"L": [{"N": "1"}, {"S": "two"}]}}}
        });
        assert!(check(
            &item,
            "attribute_exists(id) AND n > :five",
            json!({":five": {"N": "5"}})
        ));
        assert!(!check(&item, "attribute_not_exists(id)", json!({})));
        assert!(check(
            &item,
            "#s = :o OR n < :z",
            json!({":o": {"S": "open"}, ":z": {"N": "0"}})
        ));
        assert!(check(
            &item,
            "NOT (#s = :c)",
            json!({":c": {"S": "closed"}})
        ));
        assert!(check(
            &item,
            "n BETWEEN :a AND :b",
            json!({":a": {"N": "9.5"}, ":b": {"N": "1e1"}})
        ));
        assert!(check(
            &item,
            "begins_with(id, :p)",
            json!({":p": {"S": "a"}})
        ));
        assert!(check(
            &item,
            "contains(tags, :t)",
            json!({":t": {"S": "y"}})
        ));
        assert!(check(
            &item,
            "size(tags) = :two",
            json!({":two": {"N": "2"}})
        ));
        assert!(check(&item, "m.deep[1] = :v", json!({":v": {"S": "two"}})));
        assert!(check(
            &item,
            "n IN (:a, :b)",
            json!({":a": {"N": "1"}, ":b": {"N": "10.0"}})
        ));
        assert!(check(
            &item,
            "attribute_type(n, :t)",
            json!({":t": {"S": "N"}})
        ));
        // Mismatched types compare as false, not as an error.
        assert!(!check(&item, "n < :s", json!({":s": {"S": "z"}})));
        assert!(!check(&item, "missing <> :s", json!({":s": {"S": "z"}})));
        // Precedence: AND binds tighter than OR.
        assert!(check(
            &item,
            "n = :z OR n = :ten AND #s = :o",
            json!({":z": {"N": "0"}, ":ten": {"N": "10"}, ":o": {"S": "open"}})
        ));
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let e = cond("n >", json!({})).unwrap_err().0;
        assert!(
            e.starts_with("Invalid ConditionExpression: Syntax error; token: \"<EOF>\""),
            "{e}"
        );
        let e = cond("n = :missing", json!({})).unwrap_err().0;
        assert!(e.contains("attribute value: :missing"), "{e}");
        let e = cond("#nope = :v", json!({":v": {"S": "x"}})).unwrap_err().0;
        assert!(e.contains("attribute name: #nope"), "{e}");
        let e = cond("and = :v", json!({":v": {"S": "x"}})).unwrap_err().0;
        assert!(e.contains("reserved keyword"), "{e}");
        assert!(cond("(n = :v", json!({":v": {"S": "x"}})).is_err());
        assert!(cond("n = :v)", json!({":v": {"S": "x"}})).is_err());
        assert!(cond("n ! :v", json!({":v": {"S": "x"}})).is_err());
        assert!(cond("", json!({})).is_err());
    }

    #[test]
    fn unused_placeholders_are_reported() {
        let v = obj(json!({":a": {"S": "x"}, ":b": {"S": "y"}}));
        let mut ph = Placeholders::new(None, Some(&v));
        parse_condition("k = :a", "ConditionExpression", &mut ph).unwrap();
        assert_eq!(
            ph.check_unused().unwrap_err().0,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
        );
    }

    fn update(item: Value, src: &str, values: Value) -> R<Item> {
        let v = obj(values);
        let n = obj(json!({"#c": "count"}));
        let mut ph = Placeholders::new(Some(&n), Some(&v));
        let actions = parse_update(src, &mut ph)?;
        let mut item = obj(item);
        apply(&mut item, &actions)?;
        Ok(item)
    }

    #[test]
    fn update_expressions_set_remove_add_delete() {
        let item = json!({"id": {"S": "k"}, "#": {"N": "1"}, "count": {"N": "5"}, "l": {"L": [{"N": "1"}]},
                          "s": {"SS": ["a", "b"]}, "s2": {"SS": ["a", "b"]}, "gone": {"S": "x"}, "m": {"M": {}}});
        let out = update(
            item,
            "SET #c = #c + :one, l = list_append(l, :more), newer = if_not_exists(newer, :zero), m.inner = :one \
             REMOVE gone ADD s :c, added :one DELETE s2 :a",
            json!({":one": {"N": "1"}, ":more": {"L": [{"N": "2"}]}, ":zero": {"N": "0"},
                   ":c": {"SS": ["c"]}, ":a": {"SS": ["a"]}}),
        )
        .unwrap();
        assert_eq!(out["count"], json!({"N": "6"}));
        assert_eq!(out["l"], json!({"L": [{"N": "1"}, {"N": "2"}]}));
        assert_eq!(out["newer"], json!({"N": "0"}));
        assert_eq!(out["m"], json!({"M": {"inner": {"N": "1"}}}));
        assert!(!out.contains_key("gone"));
        assert_eq!(out["added"], json!({"N": "1"}));
        assert!(
            equal(&out["s"], &json!({"SS": ["a", "b", "c"]})),
            "{}",
            out["s"]
        );
        assert!(equal(&out["s2"], &json!({"SS": ["b"]})), "{}", out["s2"]);
        let e = update(json!({}), "SET a = b + :one", json!({":one": {"N": "1"}})).unwrap_err();
        assert!(e.0.contains("does not exist"), "{}", e.0);
        let e = update(
            json!({}),
            "SET a = :one, a = :one",
            json!({":one": {"N": "1"}}),
        )
        .unwrap_err();
        assert!(e.0.contains("overlap"), "{}", e.0);
        let e = update(json!({}), "SET a.b = :one", json!({":one": {"N": "1"}})).unwrap_err();
        assert!(e.0.contains("document path"), "{}", e.0);
        let e = update(
            json!({"s": {"S": "x"}}),
            "ADD s :one",
            json!({":one": {"N": "1"}}),
        )
        .unwrap_err();
        assert!(e.0.contains("incorrect data type"), "{}", e.0);
        let removed = update(
            json!({"l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}}),
            "REMOVE l[0], l[2]",
            json!({}),
        )
        .unwrap();
        assert_eq!(removed["l"], json!({"L": [{"N": "2"}]}));
    }

    #[test]
    fn decimal_addition_is_exact() {
        assert_eq!(add("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(add("10", "-10.5").unwrap(), "-0.5");
        assert_eq!(add("-3", "-4").unwrap(), "-7");
        assert_eq!(add("1e3", "1").unwrap(), "1001");
        assert_eq!(
            add("99999999999999999999", "1").unwrap(),
            "100000000000000000000"
        );
        assert_eq!(add("5", "-5").unwrap(), "0");
    }

    proptest::proptest! {
        #[test]
        fn addition_matches_integers(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            proptest::prop_assert_eq!(add(&a.to_string(), &b.to_string()).unwrap(), (a + b).to_string());
        }

        #[test]
        fn parser_never_panics(s in "[a-z#:()<>=, .\\[\\]0-9]{0,30}") {
            let v = obj(json!({":v": {"S": "x"}}));
            let n = obj(json!({"#n": "name"}));
            let mut ph = Placeholders::new(Some(&n), Some(&v));
            let _ = parse_condition(&s, "ConditionExpression", &mut ph);
            let _ = parse_update(&s, &mut ph);
        }
    }

    #[test]
    fn projection_keeps_selected_paths() {
        let item = obj(
            json!({"a": {"S": "1"}, "b": {"M": {"c": {"N": "2"}, "d": {"N": "3"}}}, "e": {"S": "x"}}),
        );
        let mut ph = Placeholders::new(None, None);
        let paths = parse_projection("a, b.c", &mut ph).unwrap();
        assert_eq!(
            Value::Object(project(&item, &paths)),
            json!({"a": {"S": "1"}, "b": {"M": {"c": {"N": "2"}}}})
        );
    }
}
