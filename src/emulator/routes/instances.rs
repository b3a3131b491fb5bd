//! Instance endpoints: list, create, get, patch, delete, pause, resume, upgrade, overwrite,
//! sizing.
//!
//! Choices where the reference leaves questions open:
//! - Create requires `name, tenant_id, cloud_provider, region, type, memory`; `version` is
//!   optional and defaults to "5" (shared/aura-api.md §10, "Create `version`"). Fields are checked in the
//!   order tenant_id, cloud_provider, region, type, version, memory, storage, name, and the first
//!   offending one is named in `field` with reason `invalid-field`.
//! - A second free-db in a tenant → 400 `free-db-limit-reached`, field `type`.
//! - `customer_managed_key_id` must name a `ready` key of the same tenant; clone sources must
//!   exist, and a source snapshot must be `Completed` and exportable (400, field named).
//! - `connection_url` is `null` while `creating` (as in Aura fixtures).
//! - PATCH answers 200 when only `name` changes (no status change) and 202 + `updating` otherwise;
//!   a paused instance is patched in place and stays `paused`. New values show at once.
//!   Secondaries on tiers other than enterprise/business-critical, or CDC on free-db →
//!   400 `tenant-incapable-of-action`. An empty patch → 400 `validation-error`.
//! - Wrong (stable) state: pause when paused → 409 `db-already-paused`; resume when running → 409
//!   `db-not-paused`; overwrite or snapshot restore on a paused instance → 409 `db-paused`;
//!   pausing a free-db → 400 `free-db-cannot-be-paused`. Any transient status → 409
//!   `ongoing-database-operation`.
//! - Overwrite answers with the Instance form (status `overwriting`) by default, or with
//!   `{"data": "<job id>"}` when the run-time setting `overwrite_answer` is `job` (§4.4, §10).
//! - For the configured window after a create, `GET /instances/{id}` answers 404 `db-not-found`
//!   and lists leave the instance out (§10). Other calls, and clone sources, see it at once.
//! - An instance created from a source goes `creating` → `loading` → `running`.
//! - Upgrade (`POST /instances/{id}/upgrade`, §10) needs a running `professional-db` instance
//!   (otherwise 400 `upgrade-not-possible`, field `type`); its body is empty, or names `memory`
//!   and `storage` together (one alone → 400 `invalid-field`). The type becomes
//!   `business-critical` and the Graph Analytics plugin is removed at once, as PATCH shows new
//!   values at once; the instance is `updating` for the update timing, then `running`.
//! - `loading failed` and `suspended` (set through the control API) refuse everything but delete
//!   with 409 `db-loading-failed` / `db-suspended`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::data;
use crate::emulator::clock::rfc3339;
use crate::emulator::config::InstanceConfiguration;
use crate::emulator::error::{ApiError, parse_json};
use crate::emulator::server::Shared;
use crate::emulator::settings::OverwriteAnswer;
use crate::emulator::state::{
    InstanceRecord, InstanceStatus, Outcome, SnapshotStatus, State as Store, random_hex,
    random_password,
};
use crate::emulator::values::{
    CDC_MODES, CLOUD_PROVIDERS, INSTANCE_MEMORY, INSTANCE_TYPES, STORAGE, gigabytes, required,
    validate_name,
};

/// The full Instance object (§4.1). Never contains a password.
/// The answer to an operation Aura has started on an instance: 202 and the instance as it is.
pub fn accepted(instance: &InstanceRecord, origin: &str) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, data(instance_json(instance, origin)))
}

/// Aura's `neo4j+s://<id>.databases.neo4j.io`, or the instance's Bolt listener when the
/// emulator serves Bolt (one port per instance where Aura has one host per instance).
fn connection_url(instance: &InstanceRecord) -> String {
    match instance.bolt_port {
        Some(port) => format!("neo4j+s://127.0.0.1:{port}"),
        None => format!("neo4j+s://{}.databases.neo4j.io", instance.id),
    }
}

pub fn instance_json(instance: &InstanceRecord, origin: &str) -> Value {
    let connection_url =
        (instance.status != InstanceStatus::Creating).then(|| connection_url(instance));
    let mut body = json!({
        "id": instance.id,
        "name": instance.name,
        "status": instance.status.as_str(),
        "tenant_id": instance.tenant_id,
        "cloud_provider": instance.cloud_provider,
        "region": instance.region,
        "type": instance.instance_type,
        "connection_url": connection_url,
        "memory": instance.memory,
        "storage": instance.storage,
        "created_at": rfc3339(instance.created_at),
        "secondaries_count": instance.secondaries_count,
        "cdc_enrichment_mode": instance.cdc_enrichment_mode,
        "vector_optimized": instance.vector_optimized,
        "graph_analytics_plugin": instance.graph_analytics_plugin,
    });
    // shared/aura-api.md §4.1 ("only when metrics integration exists") and §10 (tiers).
    if super::metrics::has_metrics(instance) {
        body["metrics_integration_url"] = json!(format!(
            "{origin}/api/v1/{}/{}/metrics",
            instance.tenant_id, instance.id
        ));
    }
    if let Some(key) = &instance.customer_managed_key_id {
        body["customer_managed_key_id"] = json!(key);
    }
    if instance.instance_type == "free-db" {
        body["graph_nodes"] = json!("0");
        body["graph_relationships"] = json!("0");
    }
    body
}

/// Rejects mutating calls while a transition is in flight.
pub fn ensure_settled(instance: &InstanceRecord) -> Result<(), ApiError> {
    if instance.status.is_transient() {
        return Err(ApiError::ongoing_operation(instance.status.as_str()));
    }
    Ok(())
}

/// Stable statuses that refuse everything but delete.
pub fn ensure_usable(instance: &InstanceRecord) -> Result<(), ApiError> {
    ensure_settled(instance)?;
    match instance.status {
        InstanceStatus::LoadingFailed => Err(ApiError::conflict(
            "db-loading-failed",
            "Loading data into the database failed; delete it or overwrite it",
        )),
        InstanceStatus::Suspended => Err(ApiError::conflict(
            "db-suspended",
            "The database is suspended",
        )),
        _ => Ok(()),
    }
}

/// Mutating calls other than pause/resume/patch/delete need a running instance.
pub fn ensure_running(instance: &InstanceRecord) -> Result<(), ApiError> {
    ensure_usable(instance)?;
    if instance.status == InstanceStatus::Paused {
        return Err(ApiError::conflict(
            "db-paused",
            "The database is paused; resume it first",
        ));
    }
    Ok(())
}

fn find<'a>(store: &'a mut Store, id: &str) -> Result<&'a mut InstanceRecord, ApiError> {
    store
        .instance_mut(id)
        .ok_or_else(|| ApiError::db_not_found(id))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Query(query): Query<ListQuery>,
) -> Json<Value> {
    let now = shared.clock.now();
    let store = shared.store();
    let items: Vec<Value> = store
        .instances
        .iter()
        .filter(|i| i.is_visible(now, store.invisible_after_create))
        .filter(|i| query.tenant_id.as_ref().is_none_or(|t| &i.tenant_id == t))
        .map(|i| {
            json!({
                "id": i.id,
                "name": i.name,
                "tenant_id": i.tenant_id,
                "cloud_provider": i.cloud_provider,
                "created_at": rfc3339(i.created_at),
            })
        })
        .collect();
    data(json!(items))
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = shared.clock.now();
    let store = shared.store();
    let instance = store
        .visible_instance(&id, now)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    Ok(data(instance_json(instance, &shared.origin)))
}

/// The Neo4j version of a create that names none (shared/aura-api.md §10).
const DEFAULT_VERSION: &str = "5";

#[derive(Debug, Default, Deserialize)]
struct CreateInstance {
    name: Option<String>,
    tenant_id: Option<String>,
    cloud_provider: Option<String>,
    region: Option<String>,
    #[serde(rename = "type")]
    instance_type: Option<String>,
    version: Option<String>,
    memory: Option<String>,
    storage: Option<String>,
    customer_managed_key_id: Option<String>,
    vector_optimized: Option<bool>,
    graph_analytics_plugin: Option<bool>,
    source_instance_id: Option<String>,
    source_snapshot_id: Option<String>,
}

/// Narrows the tenant's configurations field by field, naming the first field with no match.
fn matching_configuration<'a>(
    configurations: &'a [InstanceConfiguration],
    request: &CreateInstance,
) -> Result<&'a InstanceConfiguration, ApiError> {
    let provider = known("cloud_provider", &request.cloud_provider, CLOUD_PROVIDERS)?;
    let rows: Vec<_> = configurations.iter().collect();
    let rows = narrow(
        rows,
        "cloud_provider",
        provider,
        |c| &c.cloud_provider,
        "this tenant",
    )?;
    let region = required("region", &request.region)?;
    let rows = narrow(rows, "region", region, |c| &c.region, provider)?;
    let kind = known("type", &request.instance_type, INSTANCE_TYPES)?;
    let rows = narrow(
        rows,
        "type",
        kind,
        |c| &c.instance_type,
        &format!("{provider} {region}"),
    )?;
    // shared/aura-api.md §10: `version` is optional, default "5".
    let version = request.version.as_deref().unwrap_or(DEFAULT_VERSION);
    let rows = narrow(rows, "version", version, |c| &c.version, kind)?;
    let memory = known("memory", &request.memory, INSTANCE_MEMORY)?;
    let rows = narrow(rows, "memory", memory, |c| &c.memory, kind)?;
    Ok(rows[0])
}

/// A required field whose value must be one of `allowed`.
fn known<'r>(
    field: &str,
    value: &'r Option<String>,
    allowed: &[&str],
) -> Result<&'r str, ApiError> {
    let value = required(field, value)?;
    if !allowed.contains(&value) {
        return Err(ApiError::invalid_field(
            field,
            format!("unknown {field} {value}"),
        ));
    }
    Ok(value)
}

/// Keeps the configurations whose `field` is `wanted`; none left is a 400 naming the field.
fn narrow<'a>(
    rows: Vec<&'a InstanceConfiguration>,
    field: &str,
    wanted: &str,
    value: impl Fn(&InstanceConfiguration) -> &String,
    scope: &str,
) -> Result<Vec<&'a InstanceConfiguration>, ApiError> {
    let rows: Vec<_> = rows.into_iter().filter(|c| value(c) == wanted).collect();
    if rows.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} {wanted} is not available for {scope}"),
        ));
    }
    Ok(rows)
}

/// Storage must be a known size at least as large as the configuration's default.
fn validate_storage(storage: &str, minimum: &str) -> Result<(), ApiError> {
    let too_small = gigabytes(storage) < gigabytes(minimum);
    if !STORAGE.contains(&storage) || too_small {
        return Err(ApiError::invalid_field(
            "storage",
            format!("storage {storage} is not valid here (minimum {minimum})"),
        ));
    }
    Ok(())
}

fn validate_create(
    store: &Store,
    request: &CreateInstance,
    now: std::time::Instant,
) -> Result<(String, String), ApiError> {
    let tenant_id = required("tenant_id", &request.tenant_id)?;
    let tenant = store.tenant(tenant_id).ok_or_else(|| {
        ApiError::invalid_field("tenant_id", format!("tenant {tenant_id} not found"))
    })?;
    let configuration = matching_configuration(&tenant.instance_configurations, request)?;
    let storage = match &request.storage {
        Some(storage) => {
            validate_storage(storage, &configuration.storage)?;
            storage.clone()
        }
        None => configuration.storage.clone(),
    };
    let name = request.name.clone().unwrap_or_default();
    validate_name("name", &name)?;
    if configuration.instance_type == "free-db"
        && store
            .instances
            .iter()
            .any(|i| i.tenant_id == tenant.id && i.instance_type == "free-db")
    {
        return Err(ApiError::field(
            "type",
            "free-db-limit-reached",
            "Only one free instance is allowed per tenant",
        ));
    }
    if let Some(key_id) = &request.customer_managed_key_id {
        let usable = store
            .cmek(key_id)
            .is_some_and(|k| k.tenant_id == tenant.id && k.status(now) == "ready");
        if !usable {
            return Err(ApiError::invalid_field(
                "customer_managed_key_id",
                format!(
                    "customer managed key {key_id} does not exist, is not ready or belongs to another tenant"
                ),
            ));
        }
    }
    if let Some(source) = &request.source_instance_id
        && store.instance(source).is_none()
    {
        return Err(ApiError::invalid_field(
            "source_instance_id",
            format!("instance {source} not found"),
        ));
    }
    Ok((name, storage))
}

/// A snapshot usable as a clone or overwrite source: exists, `Completed` and exportable.
pub fn check_source_snapshot(
    shared: &Shared,
    store: &Store,
    snapshot_id: &str,
) -> Result<(), ApiError> {
    let usable = store
        .snapshot(snapshot_id)
        .is_some_and(|s| s.exportable && s.status(shared.clock.now()) == SnapshotStatus::Completed);
    if !usable {
        return Err(ApiError::invalid_field(
            "source_snapshot_id",
            format!(
                "snapshot {snapshot_id} does not exist or is not a completed, exportable snapshot"
            ),
        ));
    }
    Ok(())
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: CreateInstance = parse_json(&body)?;
    let now = shared.clock.now();
    let mut store = shared.store();
    let (name, storage) = validate_create(&store, &request, now)?;
    if let Some(snapshot_id) = &request.source_snapshot_id {
        check_source_snapshot(&shared, &store, snapshot_id)?;
    }
    let id = random_hex(8);
    let mut instance = InstanceRecord {
        id: id.clone(),
        name,
        tenant_id: request.tenant_id.clone().unwrap_or_default(),
        cloud_provider: request.cloud_provider.clone().unwrap_or_default(),
        region: request.region.clone().unwrap_or_default(),
        instance_type: request.instance_type.clone().unwrap_or_default(),
        version: request
            .version
            .clone()
            .unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
        memory: request.memory.clone().unwrap_or_default(),
        storage,
        created_at: shared.clock.wall(),
        created_instant: now,
        paused_at: None,
        status: InstanceStatus::Creating,
        pending: None,
        customer_managed_key_id: request.customer_managed_key_id.clone(),
        secondaries_count: 0,
        cdc_enrichment_mode: "OFF".into(),
        vector_optimized: request.vector_optimized.unwrap_or(false),
        graph_analytics_plugin: request.graph_analytics_plugin.unwrap_or(false),
        users: Default::default(),
        bolt_port: None,
        bolt_cut: false,
    };
    let password = random_password();
    let neo4j = secrecy::SecretString::from(password.clone());
    instance.users.insert("neo4j".to_string(), neo4j);
    if shared.bolt.is_some() {
        let port = crate::emulator::bolt::open(&shared, &id).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        instance.bolt_port = Some(port);
    }
    let from_source = request.source_instance_id.is_some() || request.source_snapshot_id.is_some();
    let then = if from_source {
        Outcome::Load(store.timings.loading)
    } else {
        Outcome::Become(InstanceStatus::Running)
    };
    instance.begin(InstanceStatus::Creating, then, now, store.timings.create);
    let body = json!({
        "id": instance.id,
        "name": instance.name,
        "tenant_id": instance.tenant_id,
        "cloud_provider": instance.cloud_provider,
        "region": instance.region,
        "type": instance.instance_type,
        "connection_url": connection_url(&instance),
        "username": "neo4j",
        "password": password,
        "vector_optimized": instance.vector_optimized,
        "graph_analytics_plugin": instance.graph_analytics_plugin,
    });
    store.instances.push(instance);
    store.instances_created += 1;
    Ok((StatusCode::ACCEPTED, data(body)))
}

#[derive(Debug, Default, Deserialize)]
struct PatchInstance {
    name: Option<String>,
    memory: Option<String>,
    storage: Option<String>,
    secondaries_count: Option<u32>,
    cdc_enrichment_mode: Option<String>,
    vector_optimized: Option<bool>,
    graph_analytics_plugin: Option<bool>,
}

impl PatchInstance {
    fn only_renames(&self) -> bool {
        self.memory.is_none()
            && self.storage.is_none()
            && self.secondaries_count.is_none()
            && self.cdc_enrichment_mode.is_none()
            && self.vector_optimized.is_none()
            && self.graph_analytics_plugin.is_none()
    }
}

/// Largest number of secondaries accepted; Aura's limit is undocumented.
const MAX_SECONDARIES: u32 = 15;

/// Validates a patch against the instance and its tenant; returns the storage to apply.
fn validate_patch(
    store: &Store,
    instance: &InstanceRecord,
    patch: &PatchInstance,
) -> Result<Option<String>, ApiError> {
    if let Some(name) = &patch.name {
        validate_name("name", name)?;
    }
    let mut storage = patch.storage.clone();
    if let Some(memory) = &patch.memory {
        let row = store.tenant(&instance.tenant_id).and_then(|t| {
            t.instance_configurations.iter().find(|c| {
                c.cloud_provider == instance.cloud_provider
                    && c.region == instance.region
                    && c.instance_type == instance.instance_type
                    && c.version == instance.version
                    && &c.memory == memory
            })
        });
        let Some(row) = row.filter(|_| INSTANCE_MEMORY.contains(&memory.as_str())) else {
            return Err(ApiError::invalid_field(
                "memory",
                format!("memory {memory} is not available for this instance"),
            ));
        };
        match &patch.storage {
            Some(requested) => validate_storage(requested, &row.storage)?,
            // Growing memory grows storage to the tier minimum; storage never shrinks on its own.
            None if gigabytes(&row.storage) > gigabytes(&instance.storage) => {
                storage = Some(row.storage.clone())
            }
            None => {}
        }
    } else if let Some(requested) = &patch.storage {
        validate_storage(requested, &instance.storage)?;
    }
    if let Some(count) = patch.secondaries_count {
        let capable = matches!(
            instance.instance_type.as_str(),
            "enterprise-db" | "enterprise-ds" | "business-critical"
        );
        if !capable && count > 0 {
            return Err(ApiError::bad_request(
                "tenant-incapable-of-action",
                format!(
                    "secondaries are not available for {}",
                    instance.instance_type
                ),
            ));
        }
        if count > MAX_SECONDARIES {
            return Err(ApiError::invalid_field(
                "secondaries_count",
                format!("at most {MAX_SECONDARIES} secondaries"),
            ));
        }
    }
    if let Some(mode) = &patch.cdc_enrichment_mode {
        if !CDC_MODES.contains(&mode.as_str()) {
            return Err(ApiError::invalid_field(
                "cdc_enrichment_mode",
                "cdc_enrichment_mode must be OFF, DIFF or FULL",
            ));
        }
        if instance.instance_type == "free-db" && mode != "OFF" {
            return Err(ApiError::bad_request(
                "tenant-incapable-of-action",
                "CDC is not available for free-db",
            ));
        }
    }
    Ok(storage)
}

pub async fn patch(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: PatchInstance = parse_json(&body)?;
    let now = shared.clock.now();
    let mut store = shared.store();
    let current = store
        .instance(&id)
        .cloned()
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    ensure_usable(&current)?;
    if request.name.is_none() && request.only_renames() {
        return Err(ApiError::bad_request(
            "validation-error",
            "the request changes nothing",
        ));
    }
    let storage = validate_patch(&store, &current, &request)?;
    let after = store.timings.update;
    let instance = find(&mut store, &id)?;
    if let Some(name) = request.name.clone() {
        instance.name = name;
    }
    if let Some(memory) = request.memory.clone() {
        instance.memory = memory;
    }
    if let Some(storage) = storage {
        instance.storage = storage;
    }
    if let Some(count) = request.secondaries_count {
        instance.secondaries_count = count;
    }
    if let Some(mode) = request.cdc_enrichment_mode.clone() {
        instance.cdc_enrichment_mode = mode;
    }
    if let Some(flag) = request.vector_optimized {
        instance.vector_optimized = flag;
    }
    if let Some(flag) = request.graph_analytics_plugin {
        instance.graph_analytics_plugin = flag;
    }
    if request.only_renames() {
        return Ok((
            StatusCode::OK,
            data(instance_json(instance, &shared.origin)),
        ));
    }
    if instance.status == InstanceStatus::Running {
        instance.begin(
            InstanceStatus::Updating,
            Outcome::Become(InstanceStatus::Running),
            now,
            after,
        );
    }
    Ok(accepted(instance, &shared.origin))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = shared.clock.now();
    let mut store = shared.store();
    let after = store.timings.delete;
    let instance = find(&mut store, &id)?;
    ensure_settled(instance)?;
    instance.begin(InstanceStatus::Destroying, Outcome::Remove, now, after);
    Ok(accepted(instance, &shared.origin))
}

pub async fn pause(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = shared.clock.now();
    let mut store = shared.store();
    let after = store.timings.pause;
    let instance = find(&mut store, &id)?;
    ensure_usable(instance)?;
    if instance.instance_type == "free-db" {
        return Err(ApiError::bad_request(
            "free-db-cannot-be-paused",
            "Free instances cannot be paused",
        ));
    }
    if instance.status == InstanceStatus::Paused {
        return Err(ApiError::conflict(
            "db-already-paused",
            "The database is already paused",
        ));
    }
    instance.begin(
        InstanceStatus::Pausing,
        Outcome::Become(InstanceStatus::Paused),
        now,
        after,
    );
    Ok(accepted(instance, &shared.origin))
}

pub async fn resume(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = shared.clock.now();
    let mut store = shared.store();
    let after = store.timings.resume;
    let instance = find(&mut store, &id)?;
    ensure_usable(instance)?;
    if instance.status != InstanceStatus::Paused {
        return Err(ApiError::conflict(
            "db-not-paused",
            "The database is not paused",
        ));
    }
    instance.begin(
        InstanceStatus::Resuming,
        Outcome::Become(InstanceStatus::Running),
        now,
        after,
    );
    Ok(accepted(instance, &shared.origin))
}

/// The optional body of an upgrade: new memory and storage, together or not at all.
#[derive(Debug, Default, Deserialize)]
struct UpgradeRequest {
    memory: Option<String>,
    storage: Option<String>,
}

pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: UpgradeRequest = if body.is_empty() {
        UpgradeRequest::default()
    } else {
        parse_json(&body)?
    };
    let sizes = match (request.memory, request.storage) {
        (Some(memory), Some(storage)) => Some((memory, storage)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ApiError::invalid_field(
                "storage",
                "give memory and storage together",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "memory",
                "give memory and storage together",
            ));
        }
    };
    let now = shared.clock.now();
    let mut store = shared.store();
    let after = store.timings.update;
    let instance = find(&mut store, &id)?;
    ensure_running(instance)?;
    if instance.instance_type != "professional-db" {
        return Err(ApiError::field(
            "type",
            "upgrade-not-possible",
            format!(
                "only professional-db instances can be upgraded, not {}",
                instance.instance_type
            ),
        ));
    }
    instance.instance_type = "business-critical".to_owned();
    instance.graph_analytics_plugin = false;
    if let Some((memory, storage)) = sizes {
        instance.memory = memory;
        instance.storage = storage;
    }
    instance.begin(
        InstanceStatus::Updating,
        Outcome::Become(InstanceStatus::Running),
        now,
        after,
    );
    Ok(accepted(instance, &shared.origin))
}

#[derive(Debug, Default, Deserialize)]
struct OverwriteRequest {
    source_instance_id: Option<String>,
    source_snapshot_id: Option<String>,
}

pub async fn overwrite(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: OverwriteRequest = parse_json(&body)?;
    let now = shared.clock.now();
    let mut store = shared.store();
    let target = store
        .instance(&id)
        .ok_or_else(|| ApiError::db_not_found(&id))?;
    ensure_running(target)?;
    if request.source_instance_id.is_none() && request.source_snapshot_id.is_none() {
        return Err(ApiError::field(
            "source_instance_id",
            "validation-error",
            "source_instance_id or source_snapshot_id is required",
        ));
    }
    if let Some(source) = &request.source_instance_id
        && store.instance(source).is_none()
    {
        return Err(ApiError::invalid_field(
            "source_instance_id",
            format!("instance {source} not found"),
        ));
    }
    if let Some(snapshot_id) = &request.source_snapshot_id {
        check_source_snapshot(&shared, &store, snapshot_id)?;
    }
    let after = store.timings.overwrite;
    let answer = store.overwrite_answer;
    let instance = find(&mut store, &id)?;
    instance.begin(
        InstanceStatus::Overwriting,
        Outcome::Become(InstanceStatus::Running),
        now,
        after,
    );
    Ok(match answer {
        OverwriteAnswer::Instance => accepted(instance, &shared.origin),
        // shared/aura-api.md §10: the Go client's `{"data": "<job id>"}`.
        OverwriteAnswer::Job => (
            StatusCode::ACCEPTED,
            data(json!(uuid::Uuid::new_v4().to_string())),
        ),
    })
}

#[derive(Debug, Default, Deserialize)]
struct InstanceSizingRequest {
    node_count: Option<u64>,
    relationship_count: Option<u64>,
    #[serde(default)]
    algorithm_categories: Vec<String>,
    instance_type: Option<String>,
}

/// `POST /v1/instances/sizing` (shared/aura-api.md §10: `{node_count, relationship_count,
/// algorithm_categories, instance_type}` → `{did_exceed_maximum, min_required_memory,
/// recommended_size}`): the same formula as the GDS session sizing, mapped onto the instance
/// memory sizes. `instance_type`, when given, must be a known type (400 naming it); it does not
/// change the estimate.
pub async fn sizing(_caller: Caller, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: InstanceSizingRequest = parse_json(&body)?;
    let nodes = request
        .node_count
        .ok_or_else(|| ApiError::invalid_field("node_count", "node_count is required"))?;
    let relationships = request.relationship_count.ok_or_else(|| {
        ApiError::invalid_field("relationship_count", "relationship_count is required")
    })?;
    if let Some(kind) = &request.instance_type
        && !INSTANCE_TYPES.contains(&kind.as_str())
    {
        return Err(ApiError::invalid_field(
            "instance_type",
            format!("unknown instance_type {kind}"),
        ));
    }
    let estimate =
        super::sessions::estimate_mib(nodes, 0, relationships, 0, &request.algorithm_categories);
    let recommended = INSTANCE_MEMORY
        .iter()
        .find(|m| u64::from(gigabytes(m).unwrap_or(0)) * 1024 >= estimate);
    Ok(data(json!({
        "did_exceed_maximum": recommended.is_none(),
        "min_required_memory": format!("{}GB", estimate.div_ceil(1024).max(1)),
        "recommended_size": recommended.copied().unwrap_or("512GB"),
    })))
}
