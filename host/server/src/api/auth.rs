//! SigV4 verification of every API request, as middleware: buffers the body (within the
//! route's size limit), finds the access key's tenant, recomputes the signature with the
//! `aws-sigv4` crate (canonical request, string to sign, key derivation), compares it in
//! constant time, and hands the handler a [`Caller`] with the scope's region.
//!
//! Both forms are accepted: the `Authorization` header and presigned query parameters. The
//! recipe and its pitfalls (double-encoded paths, only the client's signed headers, the
//! client's own `X-Amz-Date`) are in `shared/notes/sigv4.md`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use sandflow_engine::Caller;
use sandflow_store::tenants::Tenant;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::errors::{ApiError, ApiResult};

/// How far a request's `X-Amz-Date` may be from the server's clock, either way.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Longest validity of a presigned URL (AWS: 7 days).
const MAX_EXPIRES: u64 = 604_800;
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The middleware: verifies, then runs the handler with the body re-attached and the
/// [`Caller`] in the request extensions.
pub async fn verify(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.body_limit(req.uri().path());
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::too_large(limit).into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::too_large(limit).into_response();
    };
    match authenticate(&state, &parts, &bytes, SystemTime::now()).await {
        Ok(caller) => {
            let mut req = Request::from_parts(parts, Body::from(bytes));
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => {
            tracing::info!(kind = e.kind, path = %parts.uri.path(), "request rejected");
            if super::sns::is_query(&parts.headers) {
                // SNS clients read XML errors.
                return super::sns::error_response(e.kind, &e.message, e.status);
            }
            e.into_response()
        }
    }
}

/// The signing name a request's API is scoped to: by path, and on `POST /` by target.
fn service_for(path: &str, target: Option<&str>) -> &'static str {
    let target = target.unwrap_or("");
    if path.starts_with("/2015-03-31/") || path == "/2015-03-31" {
        "lambda"
    } else if target.starts_with(super::sqs::TARGET_PREFIX) {
        "sqs"
    } else if target.starts_with(super::dynamodb::TARGET_PREFIX) {
        "dynamodb"
    } else if target.starts_with(super::events::TARGET_PREFIX) {
        "events"
    } else {
        "states"
    }
}

/// What the client claims: key, scope, signed headers, signature, date.
#[derive(Debug, PartialEq)]
struct Claim {
    access_key: String,
    region: String,
    service: String,
    signed_headers: String,
    signature: String,
    amz_date: String,
    /// Presigned: `X-Amz-Expires` and `X-Amz-Security-Token`.
    presigned: Option<(u64, Option<String>)>,
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::client("IncompleteSignatureException", message)
}

fn bad_signature(message: impl Into<String>) -> ApiError {
    ApiError::forbidden("InvalidSignatureException", message)
}

/// Decoded query pairs.
fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

fn parse_claim(parts: &Parts) -> ApiResult<Claim> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| incomplete(format!("{name} is not ASCII")))
            })
            .transpose()
    };
    let (credential, signed_headers, signature, amz_date, presigned) = if let Some(auth) =
        header("authorization")?
    {
        let Some(rest) = auth.strip_prefix(ALGORITHM).filter(|r| r.starts_with(' ')) else {
            return Err(incomplete(format!(
                "Unsupported authorization type; only {ALGORITHM} is accepted"
            )));
        };
        let mut fields = std::collections::HashMap::new();
        for f in rest.split(',') {
            if let Some((k, v)) = f.trim().split_once('=') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let need = |k: &str| {
            fields.get(k).map(|v| v.to_string()).ok_or_else(|| {
                incomplete(format!(
                    "Authorization header requires '{k}' parameter. Authorization={auth}"
                ))
            })
        };
        let amz_date = header("x-amz-date")?.ok_or_else(|| {
            incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
        })?;
        (
            need("Credential")?,
            need("SignedHeaders")?,
            need("Signature")?,
            amz_date.to_string(),
            None,
        )
    } else {
        let q = query_pairs(parts);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match get("X-Amz-Algorithm") {
            None => {
                return Err(ApiError::forbidden(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ));
            }
            Some(a) if a != ALGORITHM => {
                return Err(incomplete(format!("Unsupported X-Amz-Algorithm {a}")));
            }
            Some(_) => {}
        }
        let need = |k: &str| {
            get(k).ok_or_else(|| incomplete(format!("Query-string authentication requires {k}")))
        };
        let expires: u64 = need("X-Amz-Expires")?
            .parse()
            .ok()
            .filter(|e| *e <= MAX_EXPIRES)
            .ok_or_else(|| incomplete(format!("X-Amz-Expires must be 0-{MAX_EXPIRES}")))?;
        (
            need("X-Amz-Credential")?,
            need("X-Amz-SignedHeaders")?,
            need("X-Amz-Signature")?,
            need("X-Amz-Date")?,
            Some((expires, get("X-Amz-Security-Token"))),
        )
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" || scope.iter().any(|s| s.is_empty()) {
        return Err(incomplete(format!(
            "Credential should be 'KEY/DATE/REGION/SERVICE/aws4_request', not '{credential}'"
        )));
    }
    if !amz_date.starts_with(scope[1]) || scope[1].len() != 8 {
        return Err(bad_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            scope[1],
            amz_date.get(..8).unwrap_or(&amz_date)
        )));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(incomplete("SignedHeaders must include 'host'"));
    }
    Ok(Claim {
        access_key: scope[0].into(),
        region: scope[2].into(),
        service: scope[3].into(),
        signed_headers,
        signature,
        amz_date,
        presigned,
    })
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let t = NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Rejects requests signed too long ago (or in the future), or presigned URLs past expiry.
fn check_clock(claim: &Claim, signed_at: SystemTime, now: SystemTime) -> ApiResult<()> {
    let ahead = signed_at.duration_since(now).unwrap_or_default();
    let behind = now.duration_since(signed_at).unwrap_or_default();
    let expired = match claim.presigned {
        Some((expires, _)) => behind > Duration::from_secs(expires),
        None => behind > MAX_SKEW,
    };
    if ahead > MAX_SKEW {
        return Err(bad_signature(format!(
            "Signature not yet current: {} is still later than the server's time plus 15 min.",
            claim.amz_date
        )));
    }
    if expired {
        return Err(bad_signature(match claim.presigned {
            Some(_) => "Request has expired".to_string(),
            None => format!(
                "Signature expired: {} is now earlier than the server's time minus 15 min.",
                claim.amz_date
            ),
        }));
    }
    Ok(())
}

/// The signature the request should carry, computed by `aws-sigv4` from exactly the headers
/// the client signed, its own date, and (presigned) the query without the auth parameters.
fn expected_signature(
    parts: &Parts,
    body: &[u8],
    claim: &Claim,
    secret: &str,
    signed_at: SystemTime,
) -> ApiResult<String> {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in claim.signed_headers.split(';') {
        let values = parts.headers.get_all(name);
        let mut any = false;
        for v in values {
            let v = v
                .to_str()
                .map_err(|_| incomplete(format!("signed header {name} is not ASCII")))?;
            headers.push((name, v));
            any = true;
        }
        if !any {
            return Err(incomplete(format!(
                "Signed header '{name}' is not in the request"
            )));
        }
    }
    let path = parts.uri.path();
    let uri = match (&claim.presigned, parts.uri.query()) {
        (Some(_), Some(q)) => {
            let rest: Vec<&str> = q
                .split('&')
                .filter(|p| {
                    let key = p.split('=').next().unwrap_or("");
                    let key = form_urlencoded::parse(key.as_bytes())
                        .next()
                        .map(|(k, _)| k.into_owned())
                        .unwrap_or_default();
                    !PRESIGN_PARAMS.contains(&key.as_str())
                })
                .collect();
            if rest.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", rest.join("&"))
            }
        }
        (_, Some(q)) => format!("{path}?{q}"),
        (_, None) => path.to_string(),
    };
    let token = claim.presigned.as_ref().and_then(|(_, t)| t.clone());
    let identity: Identity =
        Credentials::new(&claim.access_key, secret, token, None, "sandflow").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    if let Some((expires, _)) = claim.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&claim.region)
        .name(&claim.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| incomplete(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| incomplete(e.to_string()))?;
    let out = sign(request, &params).map_err(|e| incomplete(e.to_string()))?;
    Ok(out.signature().to_string())
}

/// Verifies the request; `now` is the server's clock.
pub async fn authenticate(
    state: &AppState,
    parts: &Parts,
    body: &Bytes,
    now: SystemTime,
) -> ApiResult<Caller> {
    let claim = parse_claim(parts)?;
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let service = if parts.uri.path() == "/sandflow/outbox"
        || (parts.uri.path() == "/" && super::sns::is_query(&parts.headers))
    {
        "sns"
    } else {
        service_for(parts.uri.path(), target)
    };
    if claim.service != service {
        return Err(bad_signature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    let signed_at = parse_amz_date(&claim.amz_date).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', not '{}'",
            claim.amz_date
        ))
    })?;
    check_clock(&claim, signed_at, now)?;
    if let Some(declared) = parts.headers.get("x-amz-content-sha256") {
        let actual = hex(&Sha256::digest(body));
        if declared.as_bytes() != actual.as_bytes() {
            return Err(bad_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    let (tenant, secret) = match state.keys().get(&claim.access_key) {
        Some(known) => known,
        None => {
            let key = claim.access_key.clone();
            let found = state
                .read(move |c| sandflow_store::tenants::by_key(c, &key))
                .await?;
            let Some((tenant, sealed)) = found else {
                return Err(ApiError::forbidden(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ));
            };
            let secret = state
                .sealer()
                .unseal(&claim.access_key, &sealed)
                .map_err(ApiError::internal)?;
            state.keys().put(&claim.access_key, &tenant, &secret);
            (tenant, secret)
        }
    };
    let expected = expected_signature(parts, body, &claim, &secret, signed_at)?;
    let matches: bool = expected.as_bytes().ct_eq(claim.signature.as_bytes()).into();
    if !matches {
        return Err(bad_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(Caller {
        tenant_id: tenant.id,
        account: tenant.account_id,
        region: claim.region,
    })
}

/// Access keys looked up in the last [`KEY_TTL`]: their tenant and unsealed secret. It saves
/// a read and an unseal per request; a key rotated or a tenant deleted by the CLI (another
/// process) stops working within [`KEY_TTL`].
#[derive(Default)]
pub struct KeyCache(std::sync::Mutex<HashMap<String, (std::time::Instant, Tenant, String)>>);

const KEY_TTL: Duration = Duration::from_secs(2);
/// Keys kept at most (a flood of distinct keys clears the cache rather than grow it).
const KEYS_CACHED: usize = 10_000;

impl KeyCache {
    fn get(&self, access_key: &str) -> Option<(Tenant, String)> {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.get(access_key)
            .filter(|(at, _, _)| at.elapsed() < KEY_TTL)
            .map(|(_, t, s)| (t.clone(), s.clone()))
    }

    fn put(&self, access_key: &str, tenant: &Tenant, secret: &str) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= KEYS_CACHED {
            c.clear();
        }
        let entry = (
            std::time::Instant::now(),
            tenant.clone(),
            secret.to_string(),
        );
        c.insert(access_key.to_string(), entry);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = axum::http::Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn parses_header_and_query_forms() {
        let p = parts(
            "/",
            &[
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/states/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
                ),
                ("x-amz-date", "20260101T000000Z"),
            ],
        );
        let c = parse_claim(&p).unwrap();
        assert_eq!(
            (c.access_key.as_str(), c.region.as_str(), c.service.as_str()),
            ("AK", "eu-west-1", "states")
        );
        assert_eq!(c.presigned, None);
        let q = parts(
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fstates%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ff",
            &[],
        );
        assert_eq!(parse_claim(&q).unwrap().presigned, Some((60, None)));
        assert_eq!(
            parse_claim(&parts("/", &[])).unwrap_err().kind,
            "MissingAuthenticationTokenException"
        );
        let no_host = parts(
            "/",
            &[
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AK/20260101/r/states/aws4_request, SignedHeaders=x-amz-date, Signature=abc",
                ),
                ("x-amz-date", "20260101T000000Z"),
            ],
        );
        assert_eq!(
            parse_claim(&no_host).unwrap_err().kind,
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn clock_skew_is_fifteen_minutes_both_ways() {
        let p = parts(
            "/",
            &[
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AK/20260101/r/states/aws4_request, SignedHeaders=host, Signature=abc",
                ),
                ("x-amz-date", "20260101T000000Z"),
            ],
        );
        let claim = parse_claim(&p).unwrap();
        let at = parse_amz_date("20260101T000000Z").unwrap();
        let min = Duration::from_secs(60);
        assert!(check_clock(&claim, at, at + 14 * min).is_ok());
        assert!(check_clock(&claim, at, at - 14 * min).is_ok());
        assert!(check_clock(&claim, at, at + 16 * min).is_err());
        assert!(check_clock(&claim, at, at - 16 * min).is_err());
    }
}
