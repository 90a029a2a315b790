//! AWS-shaped errors: a JSON body `{"__type", "message"}` with the `x-amzn-ErrorType` header
//! (read by both the JSON 1.0 and REST-JSON protocols) and AWS's HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The content type of AWS JSON 1.0 requests and responses.
pub const AMZ_JSON: &str = "application/x-amz-json-1.0";

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// Extra members beside `__type` and `message` (e.g. InvalidDefinition's diagnostics).
    pub extra: Map<String, Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// A client error (every Step Functions modelled error is HTTP 400).
    pub fn client(kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, kind, message)
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::client("SerializationException", message)
    }

    pub fn invalid_arn(arn: &str, why: &str) -> ApiError {
        ApiError::client("InvalidArn", format!("Invalid Arn: '{why}: {arn}'"))
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The server encountered an internal error; see its log.",
        )
    }

    pub fn forbidden(kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, kind, message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.into(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"__type": self.kind, "message": self.message});
        body.as_object_mut()
            .expect("an object")
            .extend(self.extra.clone());
        let mut r = (self.status, body.to_string()).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(self.kind));
        r
    }
}

impl From<sandflow_store::Error> for ApiError {
    fn from(e: sandflow_store::Error) -> ApiError {
        ApiError::internal(e)
    }
}
