//! `POST /oauth/token` and the bearer check every `/v1` handler runs through [`Caller`].
//!
//! Status choices: unknown client credentials (or no Basic header) → 401 `invalid-credentials`;
//! `grant_type` missing or not `client_credentials` → 400 `unsupported-grant-type` (checked after
//! the credentials). On API calls a missing or unknown bearer → 403 `invalid-token`; an expired
//! one → `expired_token_status` (403 by default, as documented) with reason `token-expired`.
//! Tokens and secrets are never logged.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::emulator::error::ApiError;
use crate::emulator::server::{Shared, basic_client_id, bearer};
use crate::emulator::state::{TokenRecord, random_hex};

fn basic_secret(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, secret)| secret.to_string())
}

pub async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let client_id = basic_client_id(&headers);
    let secret = basic_secret(&headers);
    let known = match (&client_id, &secret) {
        (Some(id), Some(secret)) => shared
            .config
            .credentials
            .iter()
            .any(|c| &c.client_id == id && &c.client_secret == secret),
        _ => false,
    };
    let Some(client_id) = client_id.filter(|_| known) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "The client credentials are invalid, expired or revoked",
        ));
    };
    let grant_ok = url::form_urlencoded::parse(&body)
        .any(|(key, value)| key == "grant_type" && value == "client_credentials");
    if !grant_ok {
        return Err(ApiError::bad_request(
            "unsupported-grant-type",
            "grant_type must be client_credentials",
        ));
    }
    let token = random_hex(48);
    let ttl = shared.config.token_ttl;
    let expires_at = shared.clock.now() + ttl;
    shared.store().tokens.insert(
        token.clone(),
        TokenRecord {
            client_id,
            expires_at,
        },
    );
    Ok(Json(json!({
        "access_token": token,
        "expires_in": ttl.as_secs(),
        "token_type": "bearer",
    })))
}

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::forbidden(
                "invalid-token",
                "Access denied: a bearer token is required",
            ));
        };
        let record = shared.store().tokens.get(token).cloned();
        let Some(record) = record else {
            return Err(ApiError::forbidden(
                "invalid-token",
                "Access denied: unknown token",
            ));
        };
        if shared.clock.now() >= record.expires_at {
            let status = StatusCode::from_u16(shared.config.expired_token_status)
                .unwrap_or(StatusCode::FORBIDDEN);
            return Err(ApiError::new(
                status,
                "token-expired",
                "The access token has expired",
            ));
        }
        Ok(Caller {
            client_id: record.client_id,
        })
    }
}
