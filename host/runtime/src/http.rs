//! The `http` capability: buffered requests to granted endpoints only.
//!
//! Every URL, the first and each redirect target, is checked against the grants before the
//! host resolves or connects to anything. Redirects are followed here rather than by the
//! client so that each hop passes the same check. Bodies and time are capped.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::bindings::sandflow::task::http::{HttpError, Request, Response};
use crate::config::HttpConfig;
use crate::dns::{PublicOnlyResolver, refusal};
use crate::grants::Grants;

/// The one client all invocations share (connection pool, TLS roots). Redirects and proxies
/// are off: the host follows redirects itself, and environment proxies must not see guests'
/// traffic. Hostnames only resolve to public addresses ([`crate::dns`]).
pub(crate) fn client(resolver: PublicOnlyResolver) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .use_rustls_tls()
        .dns_resolver(Arc::new(resolver))
        .build()
        .expect("a client with built-in TLS roots always builds")
}

/// Headers the guest may not set: the host derives them from the URL and body.
const HOST_OWNED_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

pub(crate) async fn fetch(
    client: &reqwest::Client,
    cfg: &HttpConfig,
    grants: &Grants,
    deadline: Instant,
    req: Request,
) -> Result<Response, HttpError> {
    let mut method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| HttpError::InvalidRequest(format!("bad method {:?}", req.method)))?;
    let mut url = Url::parse(&req.url)
        .map_err(|e| HttpError::InvalidRequest(format!("bad URL {:?}: {e}", req.url)))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("bad header name {k:?}")))?;
        if HOST_OWNED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = HeaderValue::from_str(v)
            .map_err(|_| HttpError::InvalidRequest(format!("bad value for header {k}")))?;
        headers.append(name, value);
    }
    let mut body = req.body;
    if body
        .as_ref()
        .is_some_and(|b| b.len() > cfg.max_request_bytes)
    {
        return Err(HttpError::InvalidRequest(format!(
            "request body over {} bytes",
            cfg.max_request_bytes
        )));
    }
    let deadline = deadline.min(Instant::now() + cfg.timeout);
    for hop in 0..=cfg.max_redirects {
        check(grants, &method, &url, hop)?;
        let mut rb = client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(b) = &body {
            rb = rb.body(b.clone());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let resp =
            tokio::time::timeout(left, rb.timeout(left.max(Duration::from_millis(1))).send())
                .await
                .map_err(|_| HttpError::Timeout)?
                .map_err(transport)?;
        let status = resp.status();
        if status.is_redirection()
            && let Some(loc) = resp.headers().get(LOCATION)
        {
            let loc = loc
                .to_str()
                .map_err(|_| HttpError::Transport("redirect with a non-text Location".into()))?;
            url = url
                .join(loc)
                .map_err(|e| HttpError::Transport(format!("bad redirect Location {loc:?}: {e}")))?;
            if !matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                method = Method::GET;
                body = None;
            }
            continue;
        }
        return read(resp, cfg, deadline).await;
    }
    Err(HttpError::Transport(format!(
        "more than {} redirects",
        cfg.max_redirects
    )))
}

fn check(grants: &Grants, method: &Method, url: &Url, hop: u32) -> Result<(), HttpError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::InvalidRequest(format!(
            "{url}: only http and https are supported"
        )));
    }
    if grants.allows_http(method.as_str(), url) {
        return Ok(());
    }
    let what = if hop == 0 { "" } else { "redirect to " };
    Err(HttpError::Denied(format!(
        "{what}{method} {url} is not granted"
    )))
}

async fn read(
    mut resp: reqwest::Response,
    cfg: &HttpConfig,
    deadline: Instant,
) -> Result<Response, HttpError> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    if resp
        .content_length()
        .is_some_and(|n| n > cfg.max_response_bytes as u64)
    {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(transport)?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > cfg.max_response_bytes {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn transport(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    if let Some(r) = refusal(&e) {
        return HttpError::Denied(r.to_string());
    }
    // The chain holds the useful part (connection refused, TLS failure, ...).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    HttpError::Transport(msg)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::grants::HttpGrant;

    /// A client whose resolver answers every name with `ip`.
    fn client_resolving_to(ip: &'static str) -> reqwest::Client {
        client(PublicOnlyResolver::with_lookup(Arc::new(move |_name| {
            Box::pin(async move { Ok(vec![SocketAddr::new(ip.parse().unwrap(), 0)]) })
        })))
    }

    fn granted(url: &str) -> Grants {
        Grants {
            http: vec![HttpGrant::new(url, &[]).unwrap()],
            ..Grants::default()
        }
    }

    async fn get(
        client: &reqwest::Client,
        grants: &Grants,
        url: &str,
    ) -> Result<Response, HttpError> {
        let req = Request {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: None,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        fetch(client, &HttpConfig::default(), grants, deadline, req).await
    }

    #[tokio::test]
    async fn a_granted_hostname_resolving_to_metadata_or_loopback_is_denied() {
        for ip in ["169.254.169.254", "127.0.0.1", "::ffff:10.0.0.1"] {
            let c = client_resolving_to(ip);
            let url = "http://api.example.com/v1/x";
            match get(&c, &granted("http://api.example.com/"), url).await {
                Err(HttpError::Denied(msg)) => {
                    assert!(msg.contains("api.example.com"), "{msg}");
                    assert!(msg.contains("non-public"), "{msg}");
                }
                other => panic!("{ip}: expected denied, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn ip_literals_and_localhost_in_the_grant_still_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        let c = client_resolving_to("127.0.0.1");
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("http://{host}:{port}/");
            let resp = get(&c, &granted(&url), &url).await.unwrap();
            assert_eq!(
                (resp.status, resp.body.as_slice()),
                (200, &b"ok"[..]),
                "{host}"
            );
        }
    }
}
