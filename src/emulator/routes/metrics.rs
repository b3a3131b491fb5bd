//! The metrics integration: `GET /v1/tenants/{id}/metrics-integration` and the Prometheus
//! endpoints it points at (`/api/v1/{tenant}/metrics` and `/api/v1/{tenant}/{instance}/metrics`,
//! the same shape as Aura's customer metrics API). Both need a bearer token.
//!
//! As Aura's metrics reference (shared/aura-api.md §10, "Metrics integration"):
//! - only `enterprise-db`, `enterprise-ds` and `business-critical` instances have metrics. The
//!   tenant integration of a tenant without a running instance of those tiers, and the endpoint
//!   of an instance of another tier, answer **400 `tenant-incapable-of-action`**: that is the
//!   reason Aura gives for the metrics integration of a tenant with no eligible instance (§3), and
//!   for features a tier does not offer (PATCH, §3). A 404 would tell a client the instance is
//!   gone, which it is not. Instances of other tiers carry no `metrics_integration_url` (§4.1:
//!   "only when metrics integration exists").
//! - each metric has exactly one aggregation, sent as the label `aggregation`; every sample has
//!   `instance_id`, database metrics (`neo4j_database_*`, `neo4j_db_*`) also `database="neo4j"`,
//!   and a timestamp (milliseconds, the start of the emulator clock's current minute).
//! - the names and aggregations are the reference's ([`FAMILIES`]), except
//!   `neo4j_cluster_raft_is_leader`, which Aura sends only with high granularity on.
//!
//! Values are derived from the instance id and the emulator clock's minute: stable within a
//! minute, different the next one, counters only grow.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::data;
use crate::emulator::error::ApiError;
use crate::emulator::server::Shared;
use crate::emulator::state::{InstanceRecord, InstanceStatus};
use crate::emulator::values::gigabytes;

/// Tiers Aura offers metrics for (shared/aura-api.md §10).
pub const METRICS_TIERS: &[&str] = &["enterprise-db", "enterprise-ds", "business-critical"];

pub fn has_metrics(instance: &InstanceRecord) -> bool {
    METRICS_TIERS.contains(&instance.instance_type.as_str())
}

fn incapable(message: &str) -> ApiError {
    ApiError::bad_request("tenant-incapable-of-action", message)
}

pub async fn integration(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = shared.store();
    store
        .tenant(&tenant_id)
        .ok_or_else(|| ApiError::tenant_not_found(&tenant_id))?;
    let eligible = store
        .instances
        .iter()
        .any(|i| i.tenant_id == tenant_id && i.status == InstanceStatus::Running && has_metrics(i));
    if !eligible {
        return Err(incapable(
            "The tenant has no running enterprise-db, enterprise-ds or business-critical instance to collect metrics from",
        ));
    }
    Ok(data(json!({
        "endpoint": format!("{}/api/v1/{tenant_id}/metrics", shared.origin),
    })))
}

pub async fn tenant(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(tenant_id): Path<String>,
) -> Result<Response, ApiError> {
    let store = shared.store();
    store
        .tenant(&tenant_id)
        .ok_or_else(|| ApiError::tenant_not_found(&tenant_id))?;
    let instances: Vec<&InstanceRecord> = store
        .instances
        .iter()
        .filter(|i| {
            i.tenant_id == tenant_id && i.status == InstanceStatus::Running && has_metrics(i)
        })
        .collect();
    Ok(prometheus(&instances, minute(&shared)))
}

pub async fn instance(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path((tenant_id, instance_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let instance = store
        .instance(&instance_id)
        .filter(|i| i.tenant_id == tenant_id)
        .ok_or_else(|| ApiError::db_not_found(&instance_id))?;
    if !has_metrics(instance) {
        return Err(incapable(&format!(
            "Metrics integration is not available for {} instances",
            instance.instance_type
        )));
    }
    let running: Vec<&InstanceRecord> = Some(instance)
        .filter(|i| i.status == InstanceStatus::Running)
        .into_iter()
        .collect();
    Ok(prometheus(&running, minute(&shared)))
}

fn minute(shared: &Shared) -> u64 {
    u64::try_from(shared.clock.wall().as_second() / 60).unwrap_or(0)
}

/// A small stable hash so each instance gets its own plausible values.
fn seed(id: &str) -> u64 {
    id.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    })
}

/// A value in [0, 1) that varies by instance, minute and metric.
fn wobble(seed: u64, minute: u64, salt: u64) -> f64 {
    let mixed = seed
        .wrapping_add(minute.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let mixed = (mixed ^ (mixed >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

struct Family {
    name: &'static str,
    aggregation: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&InstanceRecord, u64, u64) -> f64,
}

impl Family {
    fn per_database(&self) -> bool {
        self.name.starts_with("neo4j_database_") || self.name.starts_with("neo4j_db_")
    }
}

fn cpu_limit(i: &InstanceRecord) -> f64 {
    (f64::from(gigabytes(&i.memory).unwrap_or(1)) / 4.0).max(0.5)
}

fn storage_bytes(i: &InstanceRecord) -> f64 {
    f64::from(gigabytes(&i.storage).unwrap_or(2)) * 1_073_741_824.0
}

/// A counter that grows by about `per_minute` each minute from an instance-specific start.
fn counter(seed: u64, minute: u64, per_minute: u64) -> f64 {
    ((minute % 1_000_000) * per_minute + seed % 1000) as f64
}

macro_rules! family {
    ($name:literal, $aggregation:literal, $kind:literal, $help:literal, $value:expr) => {
        Family {
            name: $name,
            aggregation: $aggregation,
            kind: $kind,
            help: $help,
            value: $value,
        }
    };
}

/// The reference's metrics with their one aggregation each (shared/aura-api.md §10).
const FAMILIES: &[Family] = &[
    family!(
        "neo4j_aura_out_of_memory_errors_total",
        "SUM",
        "counter",
        "Out-of-memory errors of the instance.",
        |_, s, m| (m / 1440 + s % 2) as f64
    ),
    family!(
        "neo4j_db_query_execution_success_total",
        "SUM",
        "counter",
        "Queries executed successfully.",
        |_, s, m| counter(s, m, 600)
    ),
    family!(
        "neo4j_db_query_execution_failure_total",
        "SUM",
        "counter",
        "Queries that failed.",
        |_, s, m| counter(s, m, 2)
    ),
    family!(
        "neo4j_aura_cpu_limit",
        "MAX",
        "gauge",
        "CPU available to the instance, in cores.",
        |i, _, _| cpu_limit(i)
    ),
    family!(
        "neo4j_aura_cpu_usage",
        "MAX",
        "gauge",
        "CPU used by the instance, in cores.",
        |i, s, m| cpu_limit(i) * (0.1 + 0.6 * wobble(s, m, 1))
    ),
    family!(
        "neo4j_aura_storage_limit",
        "MAX",
        "gauge",
        "Storage available to the instance, in bytes.",
        |i, _, _| storage_bytes(i)
    ),
    family!(
        "neo4j_dbms_vm_heap_used_ratio",
        "MAX",
        "gauge",
        "Share of the JVM heap in use.",
        |_, s, m| 0.3 + 0.5 * wobble(s, m, 2)
    ),
    family!(
        "neo4j_dbms_bolt_connections_running",
        "MAX",
        "gauge",
        "Bolt connections executing work.",
        |_, s, m| (20.0 * wobble(s, m, 3)).round()
    ),
    family!(
        "neo4j_dbms_bolt_connections_idle",
        "MAX",
        "gauge",
        "Bolt connections open but idle.",
        |_, s, m| (40.0 * wobble(s, m, 4)).round()
    ),
    family!(
        "neo4j_dbms_bolt_connections_closed_total",
        "MAX",
        "counter",
        "Bolt connections closed.",
        |_, s, m| counter(s, m, 30)
    ),
    family!(
        "neo4j_dbms_bolt_connections_opened_total",
        "MAX",
        "counter",
        "Bolt connections opened.",
        |_, s, m| counter(s, m, 31)
    ),
    family!(
        "neo4j_dbms_vm_gc_time_g1_young_generation_total",
        "MAX",
        "counter",
        "Time spent in young-generation GC, in milliseconds.",
        |_, s, m| counter(s, m, 120)
    ),
    family!(
        "neo4j_dbms_vm_gc_time_g1_old_generation_total",
        "MAX",
        "counter",
        "Time spent in old-generation GC, in milliseconds.",
        |_, s, m| counter(s, m, 5)
    ),
    family!(
        "neo4j_database_cypher_replan_events_total",
        "MAX",
        "counter",
        "Cypher replan events.",
        |_, s, m| counter(s, m, 1)
    ),
    family!(
        "neo4j_database_transaction_active_read",
        "MAX",
        "gauge",
        "Active read transactions.",
        |_, s, m| (10.0 * wobble(s, m, 5)).round()
    ),
    family!(
        "neo4j_database_transaction_active_write",
        "MAX",
        "gauge",
        "Active write transactions.",
        |_, s, m| (4.0 * wobble(s, m, 6)).round()
    ),
    family!(
        "neo4j_database_transaction_committed_total",
        "MAX",
        "counter",
        "Committed transactions.",
        |_, s, m| counter(s, m, 550)
    ),
    family!(
        "neo4j_database_transaction_peak_concurrent_total",
        "MAX",
        "counter",
        "Peak of concurrent transactions.",
        |_, s, _| (12 + s % 20) as f64
    ),
    family!(
        "neo4j_database_transaction_rollbacks_total",
        "MAX",
        "counter",
        "Rolled-back transactions.",
        |_, s, m| counter(s, m, 3)
    ),
    family!(
        "neo4j_database_check_point_events_total",
        "MAX",
        "counter",
        "Checkpoint events.",
        |_, s, m| (m / 15 + s % 10) as f64
    ),
    family!(
        "neo4j_database_check_point_total_time_total",
        "MAX",
        "counter",
        "Time spent checkpointing, in milliseconds.",
        |_, s, m| ((m / 15) * 800 + s % 1000) as f64
    ),
    family!(
        "neo4j_database_check_point_duration",
        "MAX",
        "gauge",
        "Duration of the last checkpoint, in milliseconds.",
        |_, s, m| (200.0 + 1200.0 * wobble(s, m, 7)).round()
    ),
    family!(
        "neo4j_database_count_relationship",
        "MAX",
        "gauge",
        "Relationships in the database.",
        |_, s, m| ((s % 4_000_000) + m % 1_000_000 * 7) as f64
    ),
    family!(
        "neo4j_database_count_node",
        "MAX",
        "gauge",
        "Nodes in the database.",
        |_, s, m| ((s % 1_000_000) + m % 1_000_000 * 2) as f64
    ),
    family!(
        "neo4j_database_store_size_database",
        "MAX",
        "gauge",
        "Storage used by the database, in bytes.",
        |i, s, m| (storage_bytes(i) * (0.1 + 0.3 * wobble(s, m / 60, 8))).round()
    ),
    family!(
        "neo4j_dbms_page_cache_evictions_total",
        "MAX",
        "counter",
        "Page cache evictions.",
        |_, s, m| counter(s, m, 40)
    ),
    family!(
        "neo4j_db_query_execution_internal_latency_q99",
        "MAX",
        "gauge",
        "99th percentile of query latency, in milliseconds.",
        |_, s, m| (60.0 + 240.0 * wobble(s, m, 9)).round()
    ),
    family!(
        "neo4j_db_query_execution_internal_latency_q75",
        "MAX",
        "gauge",
        "75th percentile of query latency, in milliseconds.",
        |_, s, m| (15.0 + 45.0 * wobble(s, m, 9)).round()
    ),
    family!(
        "neo4j_db_query_execution_internal_latency_q50",
        "MAX",
        "gauge",
        "Median query latency, in milliseconds.",
        |_, s, m| (3.0 + 12.0 * wobble(s, m, 9)).round()
    ),
    family!(
        "neo4j_database_transaction_last_committed_tx_id_total",
        "MAX",
        "counter",
        "Id of the last committed transaction.",
        |_, s, m| counter(s, m, 550)
    ),
    family!(
        "neo4j_dbms_page_cache_hit_ratio_per_minute",
        "AVG",
        "gauge",
        "Page cache hit ratio over the last minute.",
        |_, s, m| 0.95 + 0.05 * wobble(s, m, 10)
    ),
    family!(
        "neo4j_dbms_page_cache_usage_ratio",
        "MIN",
        "gauge",
        "Share of the page cache in use.",
        |_, s, m| 0.5 + 0.45 * wobble(s, m, 11)
    ),
];

fn prometheus(instances: &[&InstanceRecord], minute: u64) -> Response {
    let timestamp_ms = minute * 60_000;
    let mut text = String::new();
    for family in FAMILIES {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for instance in instances {
            let value = (family.value)(instance, seed(&instance.id), minute);
            let database = if family.per_database() {
                ",database=\"neo4j\""
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "{}{{aggregation=\"{}\"{database},instance_id=\"{}\"}} {value} {timestamp_ms}",
                family.name, family.aggregation, instance.id
            );
        }
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/aura-api.md §10: one aggregation per metric, as listed.
    #[test]
    fn every_family_has_one_of_the_reference_aggregations() {
        let mut names = std::collections::BTreeSet::new();
        for family in FAMILIES {
            assert!(names.insert(family.name), "{} twice", family.name);
            assert!(["SUM", "MAX", "AVG", "MIN"].contains(&family.aggregation));
        }
        assert_eq!(names.len(), 32);
    }
}
