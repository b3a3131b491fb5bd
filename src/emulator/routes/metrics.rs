//! The metrics integration: `GET /v1/tenants/{id}/metrics-integration` and the Prometheus
//! endpoints it points at (`/api/v1/{tenant}/metrics` and `/api/v1/{tenant}/{instance}/metrics`,
//! the same shape as Aura's customer metrics API). Both need a bearer token.
//!
//! Series (all labelled `instance_id` and `aggregation`, one sample per aggregation MAX/MIN/AVG,
//! for each running instance): `neo4j_aura_cpu_usage`, `neo4j_aura_cpu_limit`,
//! `neo4j_dbms_vm_heap_used_ratio`, `neo4j_aura_memory_usage_ratio`,
//! `neo4j_dbms_page_cache_hit_ratio_per_minute`, `neo4j_db_query_execution_success_total`
//! (counter), `neo4j_db_query_execution_latency_millis`, `neo4j_dbms_bolt_connections_running`,
//! `neo4j_dbms_bolt_connections_idle`, `neo4j_dbms_bolt_connections_max`,
//! `neo4j_database_count_node`, `neo4j_aura_storage_limit`, `neo4j_database_store_size_total_bytes`.
//! Values are derived from the instance id and the emulator clock's minute, so they are stable
//! within a minute and the counter only grows.

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
        .any(|i| i.tenant_id == tenant_id && i.status == InstanceStatus::Running);
    if !eligible {
        return Err(ApiError::bad_request(
            "tenant-incapable-of-action",
            "The tenant has no running instance to collect metrics from",
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
        .filter(|i| i.tenant_id == tenant_id && i.status == InstanceStatus::Running)
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
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&InstanceRecord, u64, u64) -> f64,
}

fn cpu_limit(i: &InstanceRecord) -> f64 {
    (f64::from(gigabytes(&i.memory).unwrap_or(1)) / 4.0).max(0.5)
}

const FAMILIES: &[Family] = &[
    Family {
        name: "neo4j_aura_cpu_usage",
        help: "CPU used by the instance, in cores.",
        kind: "gauge",
        value: |i, s, m| cpu_limit(i) * (0.1 + 0.6 * wobble(s, m, 1)),
    },
    Family {
        name: "neo4j_aura_cpu_limit",
        help: "CPU available to the instance, in cores.",
        kind: "gauge",
        value: |i, _, _| cpu_limit(i),
    },
    Family {
        name: "neo4j_dbms_vm_heap_used_ratio",
        help: "Share of the JVM heap in use.",
        kind: "gauge",
        value: |_, s, m| 0.3 + 0.5 * wobble(s, m, 2),
    },
    Family {
        name: "neo4j_aura_memory_usage_ratio",
        help: "Share of the instance memory in use.",
        kind: "gauge",
        value: |_, s, m| 0.4 + 0.4 * wobble(s, m, 3),
    },
    Family {
        name: "neo4j_dbms_page_cache_hit_ratio_per_minute",
        help: "Page cache hit ratio over the last minute.",
        kind: "gauge",
        value: |_, s, m| 0.95 + 0.05 * wobble(s, m, 4),
    },
    Family {
        name: "neo4j_db_query_execution_success_total",
        help: "Queries executed successfully since start.",
        kind: "counter",
        value: |_, s, m| (m % 100_000 * 600 + s % 1000) as f64,
    },
    Family {
        name: "neo4j_db_query_execution_latency_millis",
        help: "Query latency in milliseconds.",
        kind: "gauge",
        value: |_, s, m| (5.0 + 95.0 * wobble(s, m, 5)).round(),
    },
    Family {
        name: "neo4j_dbms_bolt_connections_running",
        help: "Bolt connections executing work.",
        kind: "gauge",
        value: |_, s, m| (20.0 * wobble(s, m, 6)).round(),
    },
    Family {
        name: "neo4j_dbms_bolt_connections_idle",
        help: "Bolt connections open but idle.",
        kind: "gauge",
        value: |_, s, m| (40.0 * wobble(s, m, 7)).round(),
    },
    Family {
        name: "neo4j_dbms_bolt_connections_max",
        help: "Maximum bolt connections allowed.",
        kind: "gauge",
        value: |i, _, _| f64::from(gigabytes(&i.memory).unwrap_or(1)) * 100.0,
    },
    Family {
        name: "neo4j_database_count_node",
        help: "Nodes in the database.",
        kind: "gauge",
        value: |_, s, _| (s % 1_000_000) as f64,
    },
    Family {
        name: "neo4j_aura_storage_limit",
        help: "Storage available to the instance, in bytes.",
        kind: "gauge",
        value: |i, _, _| f64::from(gigabytes(&i.storage).unwrap_or(2)) * 1_073_741_824.0,
    },
    Family {
        name: "neo4j_database_store_size_total_bytes",
        help: "Storage used by the database, in bytes.",
        kind: "gauge",
        value: |i, s, _| {
            (f64::from(gigabytes(&i.storage).unwrap_or(2))
                * 1_073_741_824.0
                * (0.1 + 0.3 * wobble(s, 0, 8)))
            .round()
        },
    },
];

const AGGREGATIONS: &[(&str, f64)] = &[("MAX", 1.0), ("AVG", 0.85), ("MIN", 0.7)];

fn prometheus(instances: &[&InstanceRecord], minute: u64) -> Response {
    let mut text = String::new();
    for family in FAMILIES {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for instance in instances {
            let base = (family.value)(instance, seed(&instance.id), minute);
            for (aggregation, factor) in AGGREGATIONS {
                // Limits and counters are the same in every aggregation.
                let value = if family.kind == "counter"
                    || family.name.ends_with("_limit")
                    || family.name.ends_with("_max")
                {
                    base
                } else {
                    base * factor
                };
                let _ = writeln!(
                    text,
                    "{}{{aggregation=\"{aggregation}\",instance_id=\"{}\"}} {value}",
                    family.name, instance.id
                );
            }
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
