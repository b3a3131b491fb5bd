//! Snapshot endpoints: create, list by date, get, restore.
//!
//! Choices: a snapshot of a paused instance → 409 `db-paused` (Aura cannot snapshot a stopped
//! database); of a transient one → 409 `ongoing-database-operation`. Restoring from a snapshot that
//! is not `Completed` → 409 `snapshot-not-completed`. A bad `date` → 400 with `field: "date"`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::data;
use super::instances::{accepted, ensure_running};
use crate::emulator::clock::{rfc3339, utc_date};
use crate::emulator::error::ApiError;
use crate::emulator::server::Shared;
use crate::emulator::state::{
    InstanceStatus, Outcome, SnapshotProfile, SnapshotRecord, SnapshotStatus,
};

fn snapshot_json(snapshot: &SnapshotRecord, now: std::time::Instant) -> Value {
    json!({
        "snapshot_id": snapshot.snapshot_id,
        "instance_id": snapshot.instance_id,
        "profile": snapshot.profile,
        "status": snapshot.status(now),
        "timestamp": rfc3339(snapshot.timestamp),
        "exportable": snapshot.exportable,
    })
}

fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "snapshot-not-found",
        format!("Snapshot {id} not found"),
    )
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = shared.clock.now();
    let mut store = shared.store();
    let instance = store
        .instance(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    ensure_running(instance)?;
    let duration = store.timings.snapshot;
    let snapshot_id = uuid::Uuid::new_v4().to_string();
    store.snapshots.push(SnapshotRecord {
        snapshot_id: snapshot_id.clone(),
        instance_id: id,
        profile: SnapshotProfile::AdHoc,
        timestamp: shared.clock.wall(),
        exportable: true,
        in_progress_at: now + duration / 2,
        completed_at: now + duration,
        fixed_status: None,
    });
    Ok((
        StatusCode::ACCEPTED,
        data(json!({ "snapshot_id": snapshot_id })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    date: Option<String>,
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let date = match &query.date {
        Some(text) => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| ApiError::invalid_field("date", "date must be YYYY-MM-DD"))?,
        None => utc_date(shared.clock.wall()),
    };
    let now = shared.clock.now();
    let store = shared.store();
    store
        .instance(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    let mut items: Vec<&SnapshotRecord> = store
        .snapshots
        .iter()
        .filter(|s| s.instance_id == id && utc_date(s.timestamp) == date)
        .collect();
    items.sort_by_key(|s| s.timestamp);
    Ok(data(json!(
        items
            .into_iter()
            .map(|s| snapshot_json(s, now))
            .collect::<Vec<_>>()
    )))
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path((id, snapshot_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let store = shared.store();
    store
        .instance(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    let snapshot = store
        .snapshot(&snapshot_id)
        .filter(|s| s.instance_id == id)
        .ok_or_else(|| snapshot_not_found(&snapshot_id))?;
    Ok(data(snapshot_json(snapshot, shared.clock.now())))
}

pub async fn restore(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path((id, snapshot_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = shared.clock.now();
    let mut store = shared.store();
    let instance = store
        .instance(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    let snapshot = store
        .snapshot(&snapshot_id)
        .filter(|s| s.instance_id == id)
        .ok_or_else(|| snapshot_not_found(&snapshot_id))?;
    ensure_running(instance)?;
    if snapshot.status(now) != SnapshotStatus::Completed {
        return Err(ApiError::conflict(
            "snapshot-not-completed",
            format!("Snapshot {snapshot_id} is not completed"),
        ));
    }
    let after = store.timings.restore;
    let instance = store
        .instance_mut(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    instance.begin(
        InstanceStatus::Restoring,
        Outcome::Become(InstanceStatus::Running),
        now,
        after,
    );
    Ok(accepted(instance, &shared.origin))
}
