//! The axum router: one module per Aura resource, plus the `/_emulator` control endpoints.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::error::ApiError;
use super::server::{Shared, gate};

pub mod auth;
mod cmek;
mod control;
mod instances;
mod metrics;
mod sessions;
mod snapshots;
mod tenants;

/// Wraps a success payload in Aura's `{"data": ...}` envelope.
pub fn data(payload: Value) -> axum::Json<Value> {
    axum::Json(json!({ "data": payload }))
}

async fn not_found() -> Response {
    ApiError::new(
        http::StatusCode::NOT_FOUND,
        "not-found",
        "No such endpoint in the Aura API emulator",
    )
    .into_response()
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(auth::issue_token))
        .route("/v1/tenants", get(tenants::list))
        .route("/v1/tenants/{tenant_id}", get(tenants::get))
        .route(
            "/v1/tenants/{tenant_id}/metrics-integration",
            get(metrics::integration),
        )
        .route(
            "/v1/instances",
            get(instances::list).post(instances::create),
        )
        .route("/v1/instances/sizing", post(instances::sizing))
        .route(
            "/v1/instances/{id}",
            get(instances::get)
                .patch(instances::patch)
                .delete(instances::delete),
        )
        .route("/v1/instances/{id}/pause", post(instances::pause))
        .route("/v1/instances/{id}/resume", post(instances::resume))
        .route("/v1/instances/{id}/upgrade", post(instances::upgrade))
        .route("/v1/instances/{id}/overwrite", post(instances::overwrite))
        .route(
            "/v1/instances/{id}/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route(
            "/v1/instances/{id}/snapshots/{snapshot_id}",
            get(snapshots::get),
        )
        .route(
            "/v1/instances/{id}/snapshots/{snapshot_id}/restore",
            post(snapshots::restore),
        )
        .route(
            "/v1/customer-managed-keys",
            get(cmek::list).post(cmek::create),
        )
        .route(
            "/v1/customer-managed-keys/{id}",
            get(cmek::get).delete(cmek::delete),
        )
        .route(
            "/v1/graph-analytics/sessions",
            get(sessions::list).post(sessions::create),
        )
        .route(
            "/v1/graph-analytics/sessions/sizing",
            post(sessions::sizing),
        )
        .route(
            "/v1/graph-analytics/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route("/api/v1/{tenant_id}/metrics", get(metrics::tenant))
        .route(
            "/api/v1/{tenant_id}/{instance_id}/metrics",
            get(metrics::instance),
        )
        .route(
            "/_emulator/faults",
            post(control::add_fault).delete(control::clear_faults),
        )
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/instances", get(control::instances))
        .route(
            "/_emulator/instances/{id}/status",
            post(control::set_instance_status),
        )
        .route(
            "/_emulator/instances/{id}/users/{user}/password",
            post(control::set_database_password),
        )
        .route(
            "/_emulator/snapshots/{id}/status",
            post(control::set_snapshot_status),
        )
        .route(
            "/_emulator/sessions/{id}/status",
            post(control::set_session_status),
        )
        .route(
            "/_emulator/settings",
            get(control::get_settings).patch(control::patch_settings),
        )
        .fallback(not_found)
        .layer(from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}
