//! `/_emulator/...`: the test harness's own endpoints. They need no token and are not rate
//! limited, counted or subject to faults, so a harness can always reach them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::emulator::error::{ApiError, parse_json};
use crate::emulator::faults::{Fault, FaultSpec};
use crate::emulator::server::{Shared, lock};
use crate::emulator::settings::{self, SettingsPatch};
use crate::emulator::state::{InstanceStatus, SnapshotStatus};
use crate::emulator::{
    fail_session, force_snapshot_status, force_status, instance_views, stats_of,
};

pub async fn add_fault(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec: FaultSpec = parse_json(&body)?;
    let fault =
        Fault::try_from(spec).map_err(|message| ApiError::bad_request("invalid-fault", message))?;
    lock(&shared.faults).add(fault);
    Ok((StatusCode::CREATED, Json(json!({ "data": "fault added" }))).into_response())
}

pub async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT
}

pub async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(stats_of(&shared)))
}

pub async fn instances(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(instance_views(&shared)))
}

pub async fn get_settings(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(settings::current(&shared)))
}

pub async fn patch_settings(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let patch: SettingsPatch = parse_json(&body)?;
    Ok(Json(json!(settings::apply(&shared, &patch))))
}

#[derive(Debug, serde::Deserialize)]
pub struct StatusChange {
    status: String,
}

/// `POST /_emulator/instances/{id}/status` with `{"status": "loading failed"}` (any Aura status).
pub async fn set_instance_status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let change: StatusChange = parse_json(&body)?;
    let status = InstanceStatus::parse(&change.status).ok_or_else(|| {
        ApiError::invalid_field("status", format!("unknown status {}", change.status))
    })?;
    let view = force_status(&shared, &id, status).map_err(|_| ApiError::db_not_found(&id))?;
    Ok(Json(json!(view)))
}

/// A password set as the console would; `Debug` leaves it out.
#[derive(serde::Deserialize)]
pub struct PasswordChange {
    password: String,
}

/// `POST /_emulator/instances/{id}/users/{user}/password` with `{"password": "..."}`: the
/// user's password changes (or the user is created) as in the Aura console. Answers 204.
pub async fn set_database_password(
    State(shared): State<Arc<Shared>>,
    Path((id, user)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let change: PasswordChange = parse_json(&body)?;
    if change.password.chars().count() < 8 {
        return Err(ApiError::invalid_field(
            "password",
            "must be at least 8 characters",
        ));
    }
    crate::emulator::set_database_password(&shared, &id, &user, &change.password)
        .map_err(|_| ApiError::db_not_found(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
pub struct SnapshotStatusChange {
    status: SnapshotStatus,
}

/// `POST /_emulator/snapshots/{id}/status` with `{"status": "Failed"}` (any snapshot status).
pub async fn set_snapshot_status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let change: SnapshotStatusChange = parse_json(&body)?;
    force_snapshot_status(&shared, &id, change.status)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "snapshot-not-found", e.to_string()))?;
    Ok(Json(json!({ "snapshot_id": id, "status": change.status })))
}

#[derive(Debug, serde::Deserialize)]
pub struct SessionStatusChange {
    status: String,
    reason: Option<String>,
}

/// `POST /_emulator/sessions/{id}/status` with `{"status": "Failed", "reason": "OutOfMemory"}`.
/// Only `Failed` can be set: the other statuses follow from the clock and the session's TTL.
pub async fn set_session_status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let change: SessionStatusChange = parse_json(&body)?;
    if change.status != "Failed" {
        return Err(ApiError::invalid_field(
            "status",
            format!("only Failed can be set, not {}", change.status),
        ));
    }
    let reason = change.reason.unwrap_or_else(|| "OutOfMemory".to_owned());
    fail_session(&shared, &id, &reason)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "session-not-found", e.to_string()))?;
    Ok(Json(
        json!({ "id": id, "status": "Failed", "reason": reason }),
    ))
}
