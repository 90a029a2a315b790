//! Capabilities granted to a function, as data: set at upload, changeable later, checked by
//! the host on every call. Everything not listed here is denied.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

/// What a function may reach. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grants {
    /// HTTP endpoints the function may call.
    #[serde(default)]
    pub http: Vec<HttpGrant>,
    /// KV tables of the function's tenant it may read and write.
    #[serde(default)]
    pub kv: Vec<String>,
    /// Queues of the function's tenant it may send to and receive from.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Whether `log.write` lines are kept (otherwise dropped).
    #[serde(default)]
    pub log: bool,
    /// Real wall and monotonic clocks; otherwise both are frozen.
    #[serde(default)]
    pub clock: bool,
    /// Real randomness; otherwise a fixed-seed generator.
    #[serde(default)]
    pub random: bool,
}

/// One allowed HTTP endpoint: an origin, a path prefix (matched on `/` boundaries) and
/// methods (empty = any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpGrant {
    /// `scheme://host[:port]`, as written by [`Url::origin`].
    pub origin: String,
    #[serde(default = "root_path")]
    pub path_prefix: String,
    #[serde(default)]
    pub methods: Vec<String>,
}

fn root_path() -> String {
    "/".into()
}

impl HttpGrant {
    /// A grant of `url`'s origin and path for `methods` (empty = any).
    pub fn new(url: &str, methods: &[&str]) -> Result<Self, GrantError> {
        let parsed = Url::parse(url).map_err(|e| GrantError(format!("bad URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(GrantError(format!(
                "{url:?} is not an http:// or https:// URL with a host"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(GrantError(format!(
                "{url:?}: a grant is an origin and a path, without query or fragment"
            )));
        }
        let mut out = Vec::new();
        for m in methods {
            let m = m.trim().to_ascii_uppercase();
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(GrantError(format!("bad HTTP method {m:?}")));
            }
            out.push(m);
        }
        Ok(HttpGrant {
            origin: parsed.origin().ascii_serialization(),
            path_prefix: parsed.path().to_string(),
            methods: out,
        })
    }

    /// Whether this grant covers `method` on `url` (already parsed, so dot segments and
    /// percent-encoded dots are resolved before the comparison).
    pub fn allows(&self, method: &str, url: &Url) -> bool {
        if url.origin().ascii_serialization() != self.origin {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == method) {
            return false;
        }
        let path = url.path();
        let prefix = self.path_prefix.as_str();
        if prefix.ends_with('/') {
            path.starts_with(prefix)
        } else {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }
    }
}

impl Grants {
    /// Whether any HTTP grant covers `method` on `url`.
    pub fn allows_http(&self, method: &str, url: &Url) -> bool {
        self.http.iter().any(|g| g.allows(method, url))
    }

    pub fn allows_kv(&self, table: &str) -> bool {
        self.kv.iter().any(|t| t == table)
    }

    pub fn allows_queue(&self, queue: &str) -> bool {
        self.queues.iter().any(|q| q == queue)
    }

    /// Every grant, one per item, in the text form's order (http, kv, queue, log, clock, random).
    pub fn list(&self) -> Vec<Grant> {
        let mut out: Vec<Grant> = self.http.iter().cloned().map(Grant::Http).collect();
        out.extend(self.kv.iter().cloned().map(Grant::Kv));
        out.extend(self.queues.iter().cloned().map(Grant::Queue));
        for (on, g) in [
            (self.log, Grant::Log),
            (self.clock, Grant::Clock),
            (self.random, Grant::Random),
        ] {
            if on {
                out.push(g);
            }
        }
        out
    }

    /// Adds one grant written as on the command line (see [`Grant`]); a repeat is a no-op.
    pub fn add(&mut self, grant: Grant) {
        if self.list().contains(&grant) {
            return;
        }
        self.push(grant);
    }

    fn push(&mut self, grant: Grant) {
        match grant {
            Grant::Http(g) => self.http.push(g),
            Grant::Kv(t) => self.kv.push(t),
            Grant::Queue(q) => self.queues.push(q),
            Grant::Log => self.log = true,
            Grant::Clock => self.clock = true,
            Grant::Random => self.random = true,
        }
    }
}

/// One grant in its text form: `http:URL`, `http:GET,POST:URL`, `kv:TABLE`, `queue:NAME`,
/// `log`, `clock` or `random`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Http(HttpGrant),
    Kv(String),
    Queue(String),
    Log,
    Clock,
    Random,
}

/// A grant that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GrantError(String);

impl FromStr for Grant {
    type Err = GrantError;

    fn from_str(s: &str) -> Result<Self, GrantError> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "http" => {
                if rest.starts_with("http://") || rest.starts_with("https://") {
                    return HttpGrant::new(rest, &[]).map(Grant::Http);
                }
                let (methods, url) = rest.split_once(':').ok_or_else(|| {
                    GrantError(format!("{s:?}: expected http:URL or http:METHODS:URL"))
                })?;
                let methods: Vec<&str> = methods.split(',').collect();
                HttpGrant::new(url, &methods).map(Grant::Http)
            }
            "kv" => name(rest, s).map(Grant::Kv),
            "queue" => name(rest, s).map(Grant::Queue),
            "log" | "clock" | "random" if rest.is_empty() => Ok(match kind {
                "log" => Grant::Log,
                "clock" => Grant::Clock,
                _ => Grant::Random,
            }),
            _ => Err(GrantError(format!(
                "unknown grant {s:?}: expected http:URL, kv:TABLE, queue:NAME, log, clock or random"
            ))),
        }
    }
}

/// Table and queue names: what the guest may name, so nothing that looks like a path.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn name(rest: &str, whole: &str) -> Result<String, GrantError> {
    if valid_name(rest) {
        Ok(rest.to_string())
    } else {
        Err(GrantError(format!(
            "{whole:?}: a name is 1-128 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Http(g) if g.methods.is_empty() => {
                write!(f, "http:{}{}", g.origin, g.path_prefix)
            }
            Grant::Http(g) => write!(
                f,
                "http:{}:{}{}",
                g.methods.join(","),
                g.origin,
                g.path_prefix
            ),
            Grant::Kv(t) => write!(f, "kv:{t}"),
            Grant::Queue(q) => write!(f, "queue:{q}"),
            Grant::Log => f.write_str("log"),
            Grant::Clock => f.write_str("clock"),
            Grant::Random => f.write_str("random"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(grant: &str, method: &str, url: &str) -> bool {
        let Grant::Http(g) = grant.parse().unwrap() else {
            panic!("not http")
        };
        g.allows(method, &Url::parse(url).unwrap())
    }

    #[test]
    fn http_grants_match_origin_path_and_method() {
        let g = "http:https://pay.example.com/v1/charge";
        assert!(allows(g, "POST", "https://pay.example.com/v1/charge"));
        assert!(allows(
            g,
            "GET",
            "https://pay.example.com:443/v1/charge/42?x=1"
        ));
        assert!(!allows(g, "GET", "https://pay.example.com/v1/chargeback"));
        assert!(!allows(
            g,
            "GET",
            "https://pay.example.com/v1/charge/../admin"
        ));
        assert!(!allows(
            g,
            "GET",
            "https://pay.example.com/v1/charge/%2e%2e/admin"
        ));
        assert!(!allows(g, "GET", "http://pay.example.com/v1/charge"));
        assert!(!allows(g, "GET", "https://pay.example.com:8443/v1/charge"));
        assert!(!allows(g, "GET", "https://evil.example.com/v1/charge"));
        assert!(!allows(
            g,
            "GET",
            "https://pay.example.com.evil.com/v1/charge"
        ));
        assert!(!allows(
            g,
            "GET",
            "https://pay.example.com@evil.com/v1/charge"
        ));
        let g = "http:GET:http://127.0.0.1:8080/";
        assert!(allows(g, "GET", "http://127.0.0.1:8080/anything"));
        assert!(!allows(g, "POST", "http://127.0.0.1:8080/anything"));
    }

    #[test]
    fn grant_text_round_trips_and_bad_text_is_refused() {
        for s in [
            "kv:inventory",
            "queue:notifications",
            "log",
            "http:GET,POST:https://a.b/c",
        ] {
            assert_eq!(s.parse::<Grant>().unwrap().to_string(), s);
        }
        for bad in [
            "kv:",
            "kv:../x",
            "queue:a/b",
            "http:ftp://x/",
            "http:/x",
            "fs:/etc",
            "log:x",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad} parsed");
        }
    }
}
