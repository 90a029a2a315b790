//! A small backtracking regular-expression matcher for Jayway's `=~ /pattern/flags` filters
//! (Java `Pattern.matcher(s).matches()`: the whole string must match). Supports literals, `.`,
//! classes `[a-z]`/`[^...]`, `\d \w \s` (and negations), anchors, groups, `|`, and the
//! quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy). Flag `i` ignores case.

use std::cell::Cell;

#[derive(Debug, Clone, PartialEq)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Char(char),
    Any,
    Class(Vec<ClassItem>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, usize, bool),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regex {
    alts: Vec<Vec<Node>>,
    icase: bool,
}

/// Backtracking budget per match, so a pathological pattern cannot hang an execution.
const STEP_LIMIT: usize = 200_000;

impl Regex {
    pub(crate) fn new(pattern: &str, flags: &str) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = 0;
        let alts = parse_alts(&chars, &mut p)?;
        if p != chars.len() {
            return Err(format!("Unmatched ')' in regex /{pattern}/"));
        }
        Ok(Regex {
            alts,
            icase: flags.contains('i'),
        })
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let m = Matcher {
            s: &s,
            icase: self.icase,
            steps: Cell::new(0),
            depth: Cell::new(0),
        };
        self.alts
            .iter()
            .any(|seq| m.seq(seq, 0, &mut |p| p == s.len()))
    }
}

fn parse_alts(c: &[char], p: &mut usize) -> Result<Vec<Vec<Node>>, String> {
    let mut alts = vec![Vec::new()];
    while *p < c.len() {
        let ch = c[*p];
        let node = match ch {
            ')' => break,
            '|' => {
                *p += 1;
                alts.push(Vec::new());
                continue;
            }
            '(' => {
                *p += 1;
                if c.get(*p) == Some(&'?') && c.get(*p + 1) == Some(&':') {
                    *p += 2;
                }
                let inner = parse_alts(c, p)?;
                if c.get(*p) != Some(&')') {
                    return Err("Unclosed group in regex".into());
                }
                *p += 1;
                Node::Group(inner)
            }
            '[' => parse_class(c, p)?,
            '.' => {
                *p += 1;
                Node::Any
            }
            '^' => {
                *p += 1;
                Node::Start
            }
            '$' => {
                *p += 1;
                Node::End
            }
            '\\' => {
                *p += 1;
                let e = *c.get(*p).ok_or("Trailing backslash in regex")?;
                *p += 1;
                match escape_item(e) {
                    Some(item) => Node::Class(vec![item], false),
                    None => Node::Char(escape_char(e)),
                }
            }
            '*' | '+' | '?' | '{' => return Err(format!("Dangling quantifier '{ch}' in regex")),
            _ => {
                *p += 1;
                Node::Char(ch)
            }
        };
        let node = parse_quantifier(c, p, node)?;
        alts.last_mut().expect("never empty").push(node);
    }
    Ok(alts)
}

fn escape_item(e: char) -> Option<ClassItem> {
    Some(match e {
        'd' => ClassItem::Digit(true),
        'D' => ClassItem::Digit(false),
        'w' => ClassItem::Word(true),
        'W' => ClassItem::Word(false),
        's' => ClassItem::Space(true),
        'S' => ClassItem::Space(false),
        _ => return None,
    })
}

fn escape_char(e: char) -> char {
    match e {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'f' => '\u{c}',
        other => other,
    }
}

fn parse_class(c: &[char], p: &mut usize) -> Result<Node, String> {
    *p += 1;
    let negated = c.get(*p) == Some(&'^');
    if negated {
        *p += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let ch = *c.get(*p).ok_or("Unclosed character class in regex")?;
        if ch == ']' && !first {
            *p += 1;
            break;
        }
        first = false;
        *p += 1;
        let lo = if ch == '\\' {
            let e = *c.get(*p).ok_or("Trailing backslash in regex")?;
            *p += 1;
            if let Some(item) = escape_item(e) {
                items.push(item);
                continue;
            }
            escape_char(e)
        } else {
            ch
        };
        if c.get(*p) == Some(&'-') && c.get(*p + 1).is_some_and(|n| *n != ']') {
            let mut hi = c[*p + 1];
            *p += 2;
            if hi == '\\' {
                hi = escape_char(*c.get(*p).ok_or("Trailing backslash in regex")?);
                *p += 1;
            }
            items.push(ClassItem::Range(lo, hi));
        } else {
            items.push(ClassItem::Char(lo));
        }
    }
    Ok(Node::Class(items, negated))
}

fn parse_quantifier(c: &[char], p: &mut usize, node: Node) -> Result<Node, String> {
    let (min, max) = match c.get(*p) {
        Some('*') => (0, usize::MAX),
        Some('+') => (1, usize::MAX),
        Some('?') => (0, 1),
        Some('{') => {
            let close = c[*p..]
                .iter()
                .position(|x| *x == '}')
                .ok_or("Unclosed '{' in regex")?
                + *p;
            let body: String = c[*p + 1..close].iter().collect();
            let num = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("Bad repetition {{{body}}}"))
            };
            let (min, max) = match body.split_once(',') {
                None => {
                    let n = num(&body)?;
                    (n, n)
                }
                Some((a, b)) if b.trim().is_empty() => (num(a)?, usize::MAX),
                Some((a, b)) => (num(a)?, num(b)?),
            };
            *p = close;
            (min, max)
        }
        _ => return Ok(node),
    };
    *p += 1;
    let greedy = match c.get(*p) {
        Some('?') => {
            *p += 1;
            false
        }
        Some('+') => {
            *p += 1;
            true
        }
        _ => true,
    };
    if matches!(node, Node::Start | Node::End) {
        return Ok(node);
    }
    Ok(Node::Repeat(Box::new(node), min, max, greedy))
}

/// Nodes that match exactly one character.
fn is_single(node: &Node) -> bool {
    matches!(node, Node::Char(_) | Node::Any | Node::Class(..))
}

struct Matcher<'s> {
    s: &'s [char],
    icase: bool,
    steps: Cell<usize>,
    depth: Cell<usize>,
}

/// Recursion bound (group repetitions in flight): a repeated group over a long input gives up
/// (no match) instead of overflowing the stack. One-character repeats do not count against it.
const DEPTH_LIMIT: usize = 150;

impl Matcher<'_> {
    fn tick(&self) -> bool {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        n <= STEP_LIMIT
    }

    fn seq(&self, seq: &[Node], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        if !self.tick() || self.depth.get() > DEPTH_LIMIT {
            return false;
        }
        let Some((first, rest)) = seq.split_first() else {
            return k(pos);
        };
        self.depth.set(self.depth.get() + 1);
        let found = match first {
            Node::Repeat(node, min, max, greedy) if is_single(node) => {
                // One-character repeats (`.*`, `\d+`): count the run, then try each length
                // without recursing per character.
                let mut run = 0;
                while run < *max
                    && self
                        .s
                        .get(pos + run)
                        .is_some_and(|c| self.char_matches(node, *c))
                {
                    run += 1;
                }
                if run < *min {
                    false
                } else if *greedy {
                    (*min..=run).rev().any(|j| self.seq(rest, pos + j, k))
                } else {
                    (*min..=run).any(|j| self.seq(rest, pos + j, k))
                }
            }
            Node::Repeat(node, min, max, greedy) => {
                self.repeat(node, *min, *max, *greedy, 0, pos, &mut |p| {
                    self.seq(rest, p, k)
                })
            }
            _ => self.one(first, pos, &mut |p| self.seq(rest, p, k)),
        };
        self.depth.set(self.depth.get() - 1);
        found
    }

    fn char_matches(&self, node: &Node, x: char) -> bool {
        match node {
            Node::Char(c) => self.same(x, *c),
            Node::Any => x != '\n',
            Node::Class(items, negated) => items.iter().any(|i| self.in_item(i, x)) != *negated,
            _ => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        node: &Node,
        min: usize,
        max: usize,
        greedy: bool,
        count: usize,
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if !self.tick() {
            return false;
        }
        if !greedy && count >= min && k(pos) {
            return true;
        }
        if count < max
            && self.one(node, pos, &mut |p| {
                // An empty iteration cannot make progress; stop repeating there.
                p != pos && self.repeat(node, min, max, greedy, count + 1, p, k)
            })
        {
            return true;
        }
        greedy && count >= min && k(pos)
    }

    fn one(&self, node: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let cur = self.s.get(pos).copied();
        match node {
            Node::Char(_) | Node::Any | Node::Class(..) => {
                cur.is_some_and(|x| self.char_matches(node, x)) && k(pos + 1)
            }
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == self.s.len() && k(pos),
            Node::Group(alts) => alts.iter().any(|seq| self.seq(seq, pos, k)),
            Node::Repeat(node, min, max, greedy) => {
                self.repeat(node, *min, *max, *greedy, 0, pos, k)
            }
        }
    }

    fn same(&self, a: char, b: char) -> bool {
        a == b || (self.icase && a.to_lowercase().eq(b.to_lowercase()))
    }

    fn in_item(&self, item: &ClassItem, x: char) -> bool {
        match item {
            ClassItem::Char(c) => self.same(x, *c),
            ClassItem::Range(lo, hi) => {
                (*lo..=*hi).contains(&x)
                    || (self.icase
                        && x.to_lowercase()
                            .chain(x.to_uppercase())
                            .any(|y| (*lo..=*hi).contains(&y)))
            }
            ClassItem::Digit(pos) => x.is_ascii_digit() == *pos,
            ClassItem::Word(pos) => (x.is_ascii_alphanumeric() || x == '_') == *pos,
            ClassItem::Space(pos) => {
                matches!(x, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}') == *pos
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rm(p: &str, f: &str, s: &str) -> bool {
        Regex::new(p, f).unwrap().is_match(s)
    }

    #[test]
    fn whole_string_semantics() {
        assert!(rm("abc", "", "abc"));
        assert!(!rm("abc", "", "abcd"));
        assert!(rm("a.c", "", "axc"));
        assert!(rm(".*foo.*", "", "xxfooyy"));
    }

    #[test]
    fn classes_quantifiers_groups() {
        assert!(rm("[a-c]+\\d{2,3}", "", "abca123"));
        assert!(!rm("[a-c]+\\d{2,3}", "", "abca1234"));
        assert!(rm("[^0-9]*", "", "abc"));
        assert!(rm("(ab|cd)*e?", "", "abcdab"));
        assert!(rm("a+?b", "", "aaab"));
        assert!(rm("\\w+@\\w+\\.com", "", "me@example.com"));
        assert!(rm("ABC", "i", "abc"));
        assert!(rm("[a-z]+", "i", "ABC"));
    }

    #[test]
    fn bad_patterns_and_blowups() {
        assert!(Regex::new("(ab", "").is_err());
        assert!(Regex::new("*a", "").is_err());
        assert!(Regex::new("[ab", "").is_err());
        // Exponential backtracking is cut off by the step budget instead of hanging.
        assert!(!rm("(a*)*b", "", &"a".repeat(40)));
        // Long inputs with one-character repeats do not recurse per character.
        let long = "x".repeat(100_000);
        assert!(rm("x*", "", &long));
        assert!(rm(".+x", "", &long));
        // Deep group recursion gives up rather than overflowing the stack.
        let _ = rm("(x)*", "", &long);
    }
}
