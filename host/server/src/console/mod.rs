//! The web console: static files embedded in the binary (from `host/server/console/`) under
//! `/console/`, and its JSON API under `/console/api/`, authenticated by a session cookie
//! ([`session`]) instead of SigV4. Step Functions actions go through the same handlers as the
//! AWS endpoint; [`api`] adds only what that API lacks.

pub mod api;
pub mod overlay;
pub mod session;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::{AppState, SFN_BODY_LIMIT};

#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Assets;

/// No inline scripts, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/session", get(session::current))
        .route("/signout", post(session::sign_out))
        .route("/sfn/{action}", post(api::sfn))
        .route("/executions", get(api::executions))
        .route("/history", get(api::history))
        .route("/overlay", get(api::overlay))
        .route("/state", get(api::state))
        .route("/iterations", get(api::iterations))
        .route("/steps", get(api::steps))
        .route("/watch", get(api::watch))
        .route("/approvals", get(api::approvals))
        .route("/approvals/decide", post(api::decide))
        .route("/audit", get(api::audit))
        .route("/usage", get(api::usage))
        .route("/functions", get(api::functions))
        .route("/topics", get(api::topics))
        .route("/outbox", get(api::outbox))
        .route("/invocations", get(api::invocations))
        .route_layer(middleware::from_fn_with_state(state, session::require));
    let api = Router::new()
        .merge(guarded)
        .route("/signin", post(session::sign_in))
        .route("/config", get(api::config))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(SFN_BODY_LIMIT));
    Router::new()
        .nest("/console/api", api)
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| asset_response("index.html")))
        .route(
            "/console/{*path}",
            get(|Path(p): Path<String>| asset_response_owned(p)),
        )
}

/// `GET /` from a browser (no signature, no query) goes to the console; everything else on `/`
/// is the Step Functions endpoint.
pub async fn redirect_root(req: Request, next: Next) -> Response {
    let browser = req.method() == Method::GET
        && req.uri().path() == "/"
        && req.uri().query().is_none()
        && !req.headers().contains_key(header::AUTHORIZATION);
    if browser {
        return Redirect::to("/console/").into_response();
    }
    next.run(req).await
}

async fn asset_response_owned(path: String) -> Response {
    asset_response(&path).await
}

async fn asset_response(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let mut r = file.data.into_owned().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let etag = file
        .metadata
        .sha256_hash()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, v);
    }
    r
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
