//! Reading the definition text as JSON the way AWS does (first JSON value; trailing text ignored),
//! and describing syntax errors in AWS's `INVALID_JSON_DESCRIPTION` wording, which is that of the
//! Jackson parser: `<problem>\n at [Source: (String)"<text>"; line: L, column: C]`.

use serde_json::Value;

/// AWS quotes at most this many characters of the definition in the source description.
const MAX_SNIPPET: usize = 500;
/// Jackson's default nesting limit; also keeps the scanner's recursion bounded.
const MAX_DEPTH: usize = 1000;

/// A syntax error: the full message and the `[Source: ...]` location.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct JsonSyntaxError {
    pub message: String,
    pub location: String,
}

/// Parses the first JSON value of `text`.
pub(super) fn read_json(text: &str) -> Result<Value, JsonSyntaxError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => Ok(v),
        _ => Err(describe(text)),
    }
}

/// Finds the first problem in `text` with a small scanner that follows Jackson's order of checks.
fn describe(text: &str) -> JsonSyntaxError {
    let mut s = Scanner {
        chars: text.chars().collect(),
        pos: 0,
    };
    let problem = match s.value(0) {
        Err(p) => p,
        // serde_json refused something the scanner allows (e.g. a huge exponent, deep nesting).
        Ok(()) => Problem {
            text: serde_json::from_str::<Value>(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "Invalid JSON".to_string()),
            at: s.pos,
        },
    };
    let (line, column) = line_col(&s.chars, problem.at);
    let location = format!(
        "[Source: (String){}; line: {line}, column: {column}]",
        snippet(text)
    );
    JsonSyntaxError {
        message: format!("{}\n at {location}", problem.text),
        location,
    }
}

fn snippet(text: &str) -> String {
    let n = text.chars().count();
    if n <= MAX_SNIPPET {
        format!("\"{text}\"")
    } else {
        let head: String = text.chars().take(MAX_SNIPPET).collect();
        format!("\"{head}\"[truncated {} chars]", n - MAX_SNIPPET)
    }
}

/// 1-based line, and 1-based column of the character after the one that failed (Jackson's way).
fn line_col(chars: &[char], at: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for &c in chars.iter().take(at) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

struct Problem {
    text: String,
    /// Characters consumed when the problem was seen.
    at: usize,
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

fn char_desc(c: char) -> String {
    if (c as u32) < 0x20 {
        format!("(CTRL-CHAR, code {})", c as u32)
    } else {
        format!("('{c}' (code {}))", c as u32)
    }
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, text: String) -> Result<T, Problem> {
        Err(Problem { text, at: self.pos })
    }

    fn unexpected<T>(&mut self, c: char, expecting: &str) -> Result<T, Problem> {
        self.pos += 1;
        self.fail(format!(
            "Unexpected character {}: {expecting}",
            char_desc(c)
        ))
    }

    fn eof<T>(&self, what: &str, start: usize) -> Result<T, Problem> {
        let (line, column) = line_col(&self.chars, start + 1);
        let text: String = self.chars.iter().collect();
        self.fail(format!(
            "Unexpected end-of-input: expected close marker for {what} (start marker at [Source: (String){}; line: {line}, column: {column}])",
            snippet(&text)
        ))
    }

    fn value(&mut self, depth: usize) -> Result<(), Problem> {
        if depth > MAX_DEPTH {
            return self.fail(format!(
                "Document nesting depth ({}) exceeds the maximum allowed ({MAX_DEPTH}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                depth
            ));
        }
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.fail("No content to map due to end-of-input".to_string());
        };
        match c {
            '{' => self.object(depth),
            '[' => self.array(depth),
            '"' => self.string(),
            '-' | '0'..='9' => self.number(),
            c if c.is_alphanumeric() || c == '_' => self.token(),
            c => self.unexpected(c, "expected a value"),
        }
    }

    fn token(&mut self) -> Result<(), Problem> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            self.pos += 1;
        }
        let tok: String = self.chars[start..self.pos].iter().collect();
        if matches!(tok.as_str(), "true" | "false" | "null") {
            return Ok(());
        }
        self.fail(format!(
            "Unrecognized token '{tok}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        ))
    }

    fn number(&mut self) -> Result<(), Problem> {
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == int_start {
            return match self.peek() {
                Some(c) => {
                    self.pos += 1;
                    self.fail(format!(
                        "Unexpected character {}: expected digit (0-9) to follow minus sign, for valid numeric value",
                        char_desc(c)
                    ))
                }
                None => self.fail("Unexpected end-of-input in a Number value".to_string()),
            };
        }
        if self.chars[int_start] == '0' && self.pos - int_start > 1 {
            return self.fail("Invalid numeric value: Leading zeroes not allowed".to_string());
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            let frac_start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.pos == frac_start {
                return self.fail(
                    "Unexpected character: Decimal point not followed by a digit".to_string(),
                );
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.pos == exp_start {
                return self.fail(
                    "Unexpected character: Exponent indicator not followed by a digit".to_string(),
                );
            }
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), Problem> {
        self.pos += 1; // opening quote
        loop {
            let Some(c) = self.peek() else {
                return self.fail(
                    "Unexpected end-of-input: was expecting closing quote for a string value"
                        .to_string(),
                );
            };
            self.pos += 1;
            match c {
                '"' => return Ok(()),
                '\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += 1;
                    match e {
                        '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' => {}
                        'u' => {
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(h) if h.is_ascii_hexdigit() => self.pos += 1,
                                    Some(h) => {
                                        self.pos += 1;
                                        return self.fail(format!(
                                            "Unexpected character {}: expected a hex-digit for character escape sequence",
                                            char_desc(h)
                                        ));
                                    }
                                    None => break,
                                }
                            }
                        }
                        e => {
                            return self.fail(format!(
                                "Unrecognized character escape {}",
                                char_desc(e).trim_start_matches('(').trim_end_matches(')')
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return self.fail(format!(
                        "Illegal unquoted character ({}): has to be escaped using backslash to be included in string value",
                        char_desc(c)
                    ));
                }
                _ => {}
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), Problem> {
        let start = self.pos;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            match self.peek() {
                None => return self.eof("Object", start),
                Some('"') => self.string()?,
                Some(c) => {
                    return self.unexpected(c, "was expecting double-quote to start field name");
                }
            }
            self.skip_ws();
            match self.peek() {
                None => return self.eof("Object", start),
                Some(':') => self.pos += 1,
                Some(c) => {
                    return self
                        .unexpected(c, "was expecting a colon to separate field name and value");
                }
            }
            self.skip_ws();
            if self.peek().is_none() {
                return self.eof("Object", start);
            }
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                None => return self.eof("Object", start),
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) => {
                    return self.unexpected(c, "was expecting comma to separate Object entries");
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Problem> {
        let start = self.pos;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek().is_none() {
                return self.eof("Array", start);
            }
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                None => return self.eof("Array", start),
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) => {
                    return self.unexpected(c, "was expecting comma to separate Array entries");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecognized_token_matches_aws_recording() {
        let e = read_json("not a definition").unwrap_err();
        assert_eq!(
            e.location,
            "[Source: (String)\"not a definition\"; line: 1, column: 4]"
        );
        assert_eq!(
            e.message,
            "Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: (String)\"not a definition\"; line: 1, column: 4]"
        );
    }

    #[test]
    fn unexpected_characters() {
        let e = read_json("{\"a\":}").unwrap_err();
        assert!(
            e.message
                .starts_with("Unexpected character ('}' (code 125)): expected a value"),
            "{}",
            e.message
        );
        assert!(e.location.ends_with("line: 1, column: 7]"));
        let e = read_json("{a:1}").unwrap_err();
        assert!(
            e.message
                .contains("was expecting double-quote to start field name")
        );
        let e = read_json("{\"a\" 1}").unwrap_err();
        assert!(e.message.contains("was expecting a colon"));
        let e = read_json("[1 2]").unwrap_err();
        assert!(e.message.contains("comma to separate Array entries"));
    }

    #[test]
    fn end_of_input_and_lines() {
        let e = read_json("{\n \"a\": 1").unwrap_err();
        assert!(
            e.message
                .starts_with("Unexpected end-of-input: expected close marker for Object"),
            "{}",
            e.message
        );
        assert!(e.location.contains("line: 2"));
        let e = read_json("\"abc").unwrap_err();
        assert!(e.message.contains("closing quote"));
    }

    #[test]
    fn trailing_text_is_ignored_like_jackson() {
        assert!(read_json("{\"a\": 1} trailing").is_ok());
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let e = read_json(&"[".repeat(100_000)).unwrap_err();
        assert!(
            e.message.starts_with("Document nesting depth (1001)"),
            "{}",
            &e.message[..80]
        );
    }

    #[test]
    fn long_sources_are_truncated() {
        let text = format!("[{}x]", "1,".repeat(400));
        let e = read_json(&text).unwrap_err();
        assert!(
            e.location.contains("[truncated 303 chars]"),
            "{}",
            e.location
        );
    }
}
