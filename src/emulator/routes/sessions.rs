//! Graph Analytics (GDS) session endpoints: get-or-create, list, get, delete, sizing.
//!
//! Choices:
//! - The create body may name the project as `tenant_id` or `project_id`; responses carry both.
//! - Get-or-create is keyed by (name, tenant). A hit answers 200 and counts as activity (resets the
//!   TTL clock). An `Expired` session with the same name is replaced by a new one (202).
//! - Only creation and get-or-create hits count as activity; reading a session does not, because in
//!   Aura activity means running work on the session.
//! - Attached sessions need a `running` instance (400 `instance-not-running`, field `instance_id`);
//!   an unknown instance → 400 `invalid-field`. Standalone ones need a tenant offering the
//!   provider and region. Session ids: `<instance_id>-<8 hex>` attached, `s-<8 hex>` standalone.
//! - A session made `Failed` through the control API stays `Failed` (with an `errors` entry
//!   naming the reason) until deleted; get-or-create answers it as the existing session.
//! - `ttl` is a Go duration string, at most 7 days; `expiry_date` is creation + 7 days. An empty
//!   `ttl` (what the Go client sends when unset) is the default (§10).
//! - `database_uuid` (the Go client's name) is accepted for `database_id` and echoed beside it
//!   (§10); `database_id` wins when both are sent.
//! - Sizing (`node_label_count` is accepted but does not change the estimate): estimated MiB = (nodes × (64 + 8 × node properties) + relationships × (32 + 8 ×
//!   relationship properties)) / 2^20, × 1.5 when `node-embedding` or `link-prediction` is among the
//!   categories, plus 1024 MiB of base overhead; `recommended_size` is the smallest GDS memory size
//!   at least twice the estimate (capped at 512GB). `estimated_memory` is reported as `"<n>MiB"`.

use std::sync::Arc;
use std::time::Duration;

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
use crate::emulator::state::{InstanceStatus, SessionRecord, SessionStatus, random_hex};
use crate::emulator::values::{GDS_MEMORY, gigabytes, parse_go_duration, required};

const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

fn session_json(session: &SessionRecord, now: std::time::Instant) -> Value {
    json!({
        "id": session.id,
        "name": session.name,
        "memory": session.memory,
        "status": session.status(now).as_str(),
        "instance_id": session.instance_id.clone().unwrap_or_default(),
        "database_id": session.database_id,
        // shared/aura-api.md §10: the Go client reads the same value as `database_uuid`.
        "database_uuid": session.database_id,
        "created_at": rfc3339(session.created_at),
        "host": format!("{}.{}.sessions.neo4j.io", session.id, session.region),
        "expiry_date": rfc3339(session.expiry_date),
        "ttl": session.ttl_text,
        "user_id": session.user_id,
        "tenant_id": session.tenant_id,
        "project_id": session.tenant_id,
        "cloud_provider": session.cloud_provider,
        "region": session.region,
    })
}

fn session_errors(session: &SessionRecord, now: std::time::Instant) -> Option<Value> {
    match session.status(now) {
        SessionStatus::Expired => Some(json!({
            "id": session.id,
            "message": format!("Session {} expired after a period of inactivity", session.id),
            "reason": "Inactivity",
        })),
        // shared/aura-api.md §4.7: problem sessions carry a sibling `errors` entry.
        SessionStatus::Failed => {
            let reason = session.failure.as_deref().unwrap_or_default();
            Some(json!({
                "id": session.id,
                "message": format!("Session {} failed: {reason}", session.id),
                "reason": reason,
            }))
        }
        SessionStatus::Creating | SessionStatus::Ready => None,
    }
}

/// A single session in the envelope, with the sibling `errors` when it has a problem.
fn session_body(session: &SessionRecord, now: std::time::Instant) -> Json<Value> {
    let mut body = json!({ "data": session_json(session, now) });
    if let Some(error) = session_errors(session, now) {
        body["errors"] = json!([error]);
    }
    Json(body)
}

/// The 404 body Aura uses for sessions (§4.7), unlike the usual errors-only body.
fn session_not_found(id: &str) -> Response {
    let body = json!({
        "data": null,
        "errors": [{ "id": "", "message": format!("session with id {id} not found"), "reason": "" }],
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct CreateSession {
    name: Option<String>,
    memory: Option<String>,
    ttl: Option<String>,
    instance_id: Option<String>,
    database_id: Option<String>,
    /// The Go client's name for `database_id` (shared/aura-api.md §10).
    database_uuid: Option<String>,
    tenant_id: Option<String>,
    project_id: Option<String>,
    cloud_provider: Option<String>,
    region: Option<String>,
}

/// Where a new session runs: (tenant, provider, region, instance).
type Placement = (String, String, String, Option<String>);

fn placement(shared: &Shared, request: &CreateSession) -> Result<Placement, ApiError> {
    let store = shared.store();
    if let Some(instance_id) = request.instance_id.as_deref().filter(|i| !i.is_empty()) {
        let instance = store.instance(instance_id).ok_or_else(|| {
            ApiError::invalid_field("instance_id", format!("instance {instance_id} not found"))
        })?;
        if instance.status != InstanceStatus::Running {
            return Err(ApiError::field(
                "instance_id",
                "instance-not-running",
                format!("instance {instance_id} is {}", instance.status.as_str()),
            ));
        }
        return Ok((
            instance.tenant_id.clone(),
            instance.cloud_provider.clone(),
            instance.region.clone(),
            Some(instance_id.to_string()),
        ));
    }
    let tenant = request
        .tenant_id
        .clone()
        .or_else(|| request.project_id.clone());
    let tenant_id = required("tenant_id", &tenant)?;
    let tenant = store.tenant(tenant_id).ok_or_else(|| {
        ApiError::invalid_field("tenant_id", format!("tenant {tenant_id} not found"))
    })?;
    let provider = required("cloud_provider", &request.cloud_provider)?;
    let region = required("region", &request.region)?;
    let offered = tenant
        .instance_configurations
        .iter()
        .any(|c| c.cloud_provider == provider && c.region == region);
    if !offered {
        return Err(ApiError::invalid_field(
            "region",
            format!("{provider} {region} is not available to this tenant"),
        ));
    }
    Ok((
        tenant_id.to_string(),
        provider.to_string(),
        region.to_string(),
        None,
    ))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: CreateSession = parse_json(&body)?;
    let name = required("name", &request.name)?.to_string();
    let memory = required("memory", &request.memory)?.to_string();
    if !GDS_MEMORY.contains(&memory.as_str()) {
        return Err(ApiError::invalid_field(
            "memory",
            format!("memory {memory} is not a session size"),
        ));
    }
    // shared/aura-api.md §10: the Go client sends `"ttl": ""` when unset; empty means not given.
    let ttl = match request.ttl.as_ref().filter(|t| !t.is_empty()) {
        Some(text) => {
            let ttl = parse_go_duration(text)
                .filter(|d| !d.is_zero() && *d <= MAX_TTL)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "ttl",
                        "ttl must be a duration such as 30m, at most 7 days",
                    )
                })?;
            (ttl, text.clone())
        }
        None => {
            let ttl = shared.config.default_session_ttl;
            (ttl, format!("{}s", ttl.as_secs()))
        }
    };
    let (tenant_id, provider, region, instance_id) = placement(&shared, &request)?;
    let now = shared.clock.now();
    let mut store = shared.store();
    store.sessions.retain(|s| {
        !(s.name == name && s.tenant_id == tenant_id && s.status(now) == SessionStatus::Expired)
    });
    if let Some(existing) = store
        .sessions
        .iter_mut()
        .find(|s| s.name == name && s.tenant_id == tenant_id)
    {
        existing.last_activity = now;
        return Ok((StatusCode::OK, session_body(existing, now)));
    }
    let id = match &instance_id {
        Some(instance) => format!("{instance}-{}", random_hex(8)),
        None => format!("s-{}", random_hex(8)),
    };
    let created_at = shared.clock.wall();
    let week = jiff::SignedDuration::from_secs(MAX_TTL.as_secs() as i64);
    let session = SessionRecord {
        id,
        name,
        memory,
        instance_id,
        database_id: request
            .database_id
            .clone()
            .or_else(|| request.database_uuid.clone()),
        tenant_id,
        cloud_provider: provider,
        region,
        user_id: caller.client_id,
        created_at,
        expiry_date: created_at.checked_add(week).unwrap_or(created_at),
        ttl: ttl.0,
        ttl_text: ttl.1,
        ready_at: now + store.timings.session_start,
        last_activity: now,
        hard_expiry: now + MAX_TTL,
        failure: None,
    };
    let body = session_body(&session, now);
    store.sessions.push(session);
    Ok((StatusCode::ACCEPTED, body))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
    #[serde(rename = "projectId")]
    project_id: Option<String>,
    #[serde(rename = "instanceId")]
    instance_id: Option<String>,
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Query(query): Query<ListQuery>,
) -> Json<Value> {
    let now = shared.clock.now();
    let store = shared.store();
    let tenant = query.tenant_id.or(query.project_id);
    let sessions: Vec<&SessionRecord> = store
        .sessions
        .iter()
        .filter(|s| tenant.as_ref().is_none_or(|t| &s.tenant_id == t))
        .filter(|s| {
            query
                .instance_id
                .as_ref()
                .is_none_or(|i| s.instance_id.as_ref() == Some(i))
        })
        .collect();
    let errors: Vec<Value> = sessions
        .iter()
        .filter_map(|s| session_errors(s, now))
        .collect();
    let items: Vec<Value> = sessions.iter().map(|s| session_json(s, now)).collect();
    let mut body = json!({ "data": items });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    Json(body)
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let now = shared.clock.now();
    let store = shared.store();
    match store.sessions.iter().find(|s| s.id == id) {
        Some(session) => session_body(session, now).into_response(),
        None => session_not_found(&id),
    }
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let mut store = shared.store();
    if !store.sessions.iter().any(|s| s.id == id) {
        return session_not_found(&id);
    }
    store.sessions.retain(|s| s.id != id);
    (StatusCode::ACCEPTED, data(json!({ "id": id }))).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct SizingRequest {
    node_count: Option<u64>,
    #[serde(default)]
    node_property_count: u64,
    relationship_count: Option<u64>,
    #[serde(default)]
    relationship_property_count: u64,
    #[serde(default)]
    algorithm_categories: Vec<String>,
    #[serde(default)]
    algorithms: Vec<Value>,
}

/// The documented estimate in MiB (see the module docs).
pub fn estimate_mib(
    nodes: u64,
    node_properties: u64,
    relationships: u64,
    relationship_properties: u64,
    categories: &[String],
) -> u64 {
    let bytes = nodes.saturating_mul(64 + 8 * node_properties)
        + relationships.saturating_mul(32 + 8 * relationship_properties);
    let heavy = categories
        .iter()
        .any(|c| c == "node-embedding" || c == "link-prediction");
    let mib = bytes.div_ceil(1 << 20);
    let mib = if heavy { mib + mib / 2 } else { mib };
    mib + 1024
}

pub async fn sizing(_caller: Caller, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: SizingRequest = parse_json(&body)?;
    let nodes = request
        .node_count
        .ok_or_else(|| ApiError::invalid_field("node_count", "node_count is required"))?;
    let relationships = request.relationship_count.ok_or_else(|| {
        ApiError::invalid_field("relationship_count", "relationship_count is required")
    })?;
    if !request.algorithm_categories.is_empty() && !request.algorithms.is_empty() {
        return Err(ApiError::invalid_field(
            "algorithms",
            "give either algorithm_categories or algorithms, not both",
        ));
    }
    let estimate = estimate_mib(
        nodes,
        request.node_property_count,
        relationships,
        request.relationship_property_count,
        &request.algorithm_categories,
    );
    let recommended = GDS_MEMORY
        .iter()
        .find(|m| u64::from(gigabytes(m).unwrap_or(0)) * 1024 >= 2 * estimate)
        .copied()
        .unwrap_or("512GB");
    Ok(data(json!({
        "estimated_memory": format!("{estimate}MiB"),
        "recommended_size": recommended,
    })))
}
