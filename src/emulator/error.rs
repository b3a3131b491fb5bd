//! API errors as Aura sends them: a status plus `{"errors":[{"message","reason","field"?}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One API error; handlers return it and axum turns it into the Aura error body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {reason}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: String,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            message: message.into(),
            field: None,
        }
    }

    /// A 400 that names the offending request field, as Aura does for validation failures.
    pub fn field(field: &str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, reason, message)
        }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::field(field, "invalid-field", message)
    }

    pub fn bad_request(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    pub fn db_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "db-not-found",
            format!("Database {id} not found"),
        )
    }

    pub fn tenant_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "tenant-not-found",
            format!("Tenant {id} not found"),
        )
    }

    pub fn ongoing_operation(status: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ongoing-database-operation",
            format!("The database is currently undergoing an operation: {status}"),
        )
    }

    pub fn conflict(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, reason, message)
    }

    pub fn forbidden(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason, message)
    }
}

/// The `{"errors":[...]}` body shared by handlers, the rate limiter and injected faults.
pub fn errors_body(message: &str, reason: &str, field: Option<&str>) -> serde_json::Value {
    let mut entry = json!({ "message": message, "reason": reason });
    if let Some(field) = field {
        entry["field"] = json!(field);
    }
    json!({ "errors": [entry] })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = errors_body(&self.message, &self.reason, self.field.as_deref());
        (self.status, Json(body)).into_response()
    }
}

/// Parses a JSON request body into `T`, answering Aura-style 400s instead of axum's plain text.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid-request", format!("invalid JSON body: {e}")))
}
