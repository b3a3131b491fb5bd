//! `GET /v1/tenants` and `GET /v1/tenants/{id}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::auth::Caller;
use super::data;
use crate::emulator::error::ApiError;
use crate::emulator::server::Shared;

pub async fn list(State(shared): State<Arc<Shared>>, _caller: Caller) -> Json<Value> {
    let store = shared.store();
    let tenants: Vec<Value> = store
        .tenants
        .iter()
        .map(|t| json!({ "id": t.id, "name": t.name }))
        .collect();
    data(json!(tenants))
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = shared.store();
    let tenant = store
        .tenant(&tenant_id)
        .ok_or_else(|| ApiError::tenant_not_found(&tenant_id))?;
    Ok(data(json!({
        "id": tenant.id,
        "name": tenant.name,
        "instance_configurations": tenant.instance_configurations,
    })))
}
