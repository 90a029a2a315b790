//! Console sign-in: checks an access key and secret the way SigV4 auth finds them (the tenant's
//! sealed secret, compared in constant time), keeps sessions in memory, and guards every console
//! API call: the session cookie (HttpOnly, SameSite=Strict) names the tenant, and each
//! state-changing call must carry the session's CSRF token and, when the browser sends one, a
//! same-origin `Origin`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sandflow_engine::Caller;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::api::AppState;
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;

pub const COOKIE: &str = "sandflow_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long is signed out.
const IDLE: Duration = Duration::from_secs(8 * 3600);
const DEFAULT_REGION: &str = "us-east-1";

/// A signed-in browser: whose data it sees, as which key.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub access_key: String,
    pub csrf: String,
    last_seen: Instant,
}

/// The server's sessions, by cookie value.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, caller: Caller, access_key: String) -> (String, Session) {
        let session = Session {
            caller,
            access_key,
            csrf: random_id(),
            last_seen: Instant::now(),
        };
        let id = random_id();
        let mut map = self.lock();
        map.retain(|_, s| s.last_seen.elapsed() < IDLE);
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session of `id`, refreshed.
    fn touch(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if s.last_seen.elapsed() >= IDLE {
            map.remove(id);
            return None;
        }
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// 32 random bytes as hex.
fn random_id() -> String {
    let mut b = [0u8; 32];
    crate::tenancy::random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn not_signed_in() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "NotSignedIn",
        "Sign in to use the console",
    )
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "UnrecognizedClientException",
        "The access key or secret key is not valid",
    )
}

fn csrf_refused(why: &str) -> ApiError {
    ApiError::forbidden("InvalidCsrfToken", why)
}

/// The session cookie's value in the request, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// A cross-site request is refused: a browser's `Origin` (when sent) must name this host, and
/// `Sec-Fetch-Site` (when sent) must not say another site.
fn same_origin(headers: &HeaderMap) -> ApiResult<()> {
    let text = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(csrf_refused("Cross-site requests are refused"));
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or("");
        let ok = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| !host.is_empty() && o == host);
        if !ok {
            return Err(csrf_refused(&format!("Origin {origin} is not this server")));
        }
    }
    Ok(())
}

fn set_cookie(value: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .expect("cookie text is ASCII")
}

fn session_json(s: &Session) -> serde_json::Value {
    json!({
        "accountId": s.caller.account,
        "accessKeyId": s.access_key,
        "region": s.caller.region,
        "csrfToken": s.csrf,
    })
}

/// Region names like AWS's (`us-east-1`): lowercase letters, digits and dashes.
fn check_region(r: &str) -> ApiResult<()> {
    let ok = !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!("Invalid region '{r}'")))
    }
}

/// `POST /console/api/signin {accessKeyId, secretAccessKey, region?}`.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match sign_in_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn sign_in_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<Response> {
    same_origin(headers)?;
    let mut p = Params::parse(body)?;
    let key = p.req_str("accessKeyId", 1, 128, false)?;
    let secret = p.req_str("secretAccessKey", 1, 128, true)?;
    let region = p
        .opt_str("region", 1, 32, false)?
        .unwrap_or_else(|| DEFAULT_REGION.into());
    p.finish()?;
    check_region(&region)?;
    let k = key.clone();
    let found = state
        .read(move |c| sandflow_store::tenants::by_key(c, &k))
        .await?;
    let Some((tenant, sealed)) = found else {
        return Err(bad_credentials());
    };
    let stored = state
        .sealer()
        .unseal(&key, &sealed)
        .map_err(ApiError::internal)?;
    let same: bool = stored.as_bytes().ct_eq(secret.as_bytes()).into();
    if !same {
        tracing::info!(access_key = %key, "console sign-in refused");
        return Err(bad_credentials());
    }
    let caller = Caller {
        tenant_id: tenant.id,
        account: tenant.account_id,
        region,
    };
    let (id, session) = state.sessions().insert(caller, key);
    let mut r = axum::Json(session_json(&session)).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&id, IDLE.as_secs()));
    Ok(r)
}

/// `POST /console/api/signout`: ends the session (behind [`require`], so CSRF-checked).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        state.sessions().remove(&id);
    }
    let mut r = axum::Json(json!({})).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", 0));
    r
}

/// `GET /console/api/session`: who is signed in, and the CSRF token to send.
pub async fn current(axum::Extension(s): axum::Extension<Session>) -> Response {
    axum::Json(session_json(&s)).into_response()
}

/// Middleware of the console API: a live session (whose key still exists and still belongs to
/// its tenant) and, for anything but GET, the CSRF token and a same-origin request.
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Only the headers cross an await: a request body is not `Sync`.
    let (method, headers) = (req.method().clone(), req.headers().clone());
    match check(&state, &method, &headers).await {
        Ok(s) => {
            req.extensions_mut().insert(s);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn check(state: &AppState, method: &Method, headers: &HeaderMap) -> ApiResult<Session> {
    let id = cookie(headers).ok_or_else(not_signed_in)?;
    let s = state.sessions().touch(&id).ok_or_else(not_signed_in)?;
    if method != Method::GET && method != Method::HEAD {
        same_origin(headers)?;
        let sent = headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let ok: bool = sent.ct_eq(s.csrf.as_bytes()).into();
        if !ok {
            return Err(csrf_refused("Missing or wrong CSRF token"));
        }
    }
    let key = s.access_key.clone();
    let owner = state
        .read(move |c| sandflow_store::tenants::by_key(c, &key))
        .await?
        .map(|(t, _)| t.id);
    if owner != Some(s.caller.tenant_id) {
        state.sessions().remove(&id);
        return Err(not_signed_in());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_and_origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; sandflow_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(
            same_origin(&h).is_ok(),
            "no Origin: not a browser's cross-site call"
        );
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert_eq!(same_origin(&h).unwrap_err().kind, "InvalidCsrfToken");
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(same_origin(&h).is_err());
        assert!(check_region("eu-west-1").is_ok());
        assert!(check_region("EU west").is_err());
    }
}
