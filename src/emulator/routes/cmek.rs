//! Customer-managed key endpoints.
//!
//! Choices: the list accepts `tenantId` (and `tenantID`, which one Go client sends); an unknown
//! tenant in a create body → 400 with `field: "tenant_id"`; `instance_type` must be a paid type.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::data;
use crate::emulator::clock::rfc3339;
use crate::emulator::error::{ApiError, parse_json};
use crate::emulator::server::Shared;
use crate::emulator::state::CmekRecord;
use crate::emulator::values::{CLOUD_PROVIDERS, INSTANCE_TYPES, required, validate_name};

fn cmek_json(key: &CmekRecord, now: std::time::Instant) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "created": rfc3339(key.created),
        "cloud_provider": key.cloud_provider,
        "key_id": key.key_id,
        "region": key.region,
        "type": key.instance_type,
        "tenant_id": key.tenant_id,
        "status": key.status(now),
    })
}

fn key_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "encryption-key-not-found",
        format!("Encryption key {id} not found"),
    )
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "tenantId", alias = "tenantID")]
    tenant_id: Option<String>,
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Query(query): Query<ListQuery>,
) -> Json<Value> {
    let store = shared.store();
    let items: Vec<Value> = store
        .cmeks
        .iter()
        .filter(|k| query.tenant_id.as_ref().is_none_or(|t| &k.tenant_id == t))
        .map(|k| json!({ "id": k.id, "name": k.name, "tenant_id": k.tenant_id }))
        .collect();
    data(json!(items))
}

#[derive(Debug, Default, Deserialize)]
struct CreateKey {
    key_id: Option<String>,
    name: Option<String>,
    cloud_provider: Option<String>,
    instance_type: Option<String>,
    region: Option<String>,
    tenant_id: Option<String>,
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: CreateKey = parse_json(&body)?;
    let now = shared.clock.now();
    let mut store = shared.store();
    let tenant_id = required("tenant_id", &request.tenant_id)?.to_string();
    if store.tenant(&tenant_id).is_none() {
        return Err(ApiError::invalid_field(
            "tenant_id",
            format!("tenant {tenant_id} not found"),
        ));
    }
    let name = required("name", &request.name)?.to_string();
    validate_name("name", &name)?;
    let key_id = required("key_id", &request.key_id)?.to_string();
    let provider = required("cloud_provider", &request.cloud_provider)?.to_string();
    if !CLOUD_PROVIDERS.contains(&provider.as_str()) {
        return Err(ApiError::invalid_field(
            "cloud_provider",
            format!("unknown cloud_provider {provider}"),
        ));
    }
    let instance_type = required("instance_type", &request.instance_type)?.to_string();
    if !INSTANCE_TYPES.contains(&instance_type.as_str()) || instance_type == "free-db" {
        return Err(ApiError::invalid_field(
            "instance_type",
            format!("instance_type {instance_type} cannot use a customer managed key"),
        ));
    }
    let region = required("region", &request.region)?.to_string();
    let key = CmekRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        created: shared.clock.wall(),
        cloud_provider: provider,
        key_id,
        region,
        instance_type,
        tenant_id,
        ready_at: now + store.timings.cmek,
    };
    let body = cmek_json(&key, now);
    store.cmeks.push(key);
    Ok((StatusCode::ACCEPTED, data(body)))
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = shared.store();
    let key = store.cmek(&id).ok_or_else(|| key_not_found(&id))?;
    Ok(data(cmek_json(key, shared.clock.now())))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut store = shared.store();
    store.cmek(&id).ok_or_else(|| key_not_found(&id))?;
    if store
        .instances
        .iter()
        .any(|i| i.customer_managed_key_id.as_deref() == Some(id.as_str()))
    {
        return Err(ApiError::bad_request(
            "encryption-key-is-active",
            format!("Encryption key {id} is used by an instance"),
        ));
    }
    store.cmeks.retain(|k| k.id != id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
