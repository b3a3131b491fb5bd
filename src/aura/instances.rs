//! Instances: list, get, create, update, delete, pause, resume, upgrade, overwrite, sizing.

use http::Method;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use super::client::{Call, Client};
use super::embedded::get_one;
use super::error::{Error, Result};
use super::ids::{CmekId, InstanceId, SnapshotId, TenantId};
use super::values::{
    AlgorithmCategory, CdcEnrichmentMode, CloudProvider, INSTANCE_MEMORY, INSTANCE_STORAGE,
    InstanceStatus, InstanceType, VERSIONS, check_in,
};

/// The body of `POST /instances/sizing` (shared/aura-api.md §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSizingRequest {
    pub node_count: u64,
    pub relationship_count: u64,
    pub algorithm_categories: Vec<AlgorithmCategory>,
    pub instance_type: InstanceType,
}

/// Aura's answer to `POST /instances/sizing` (shared/aura-api.md §10).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct InstanceSizing {
    /// True when no instance size is large enough.
    pub did_exceed_maximum: bool,
    /// E.g. `"3GB"`.
    pub min_required_memory: String,
    /// An instance memory size, e.g. `"4GB"`.
    pub recommended_size: String,
}

/// Aura rejects longer instance names (the Go client checks the same limit).
pub const MAX_NAME_LEN: usize = 30;

/// An instance as `GET /instances/{id}` describes it. Optional fields are absent on some tiers
/// or while the instance is being created.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Instance {
    pub id: InstanceId,
    #[serde(default)]
    pub name: String,
    pub status: InstanceStatus,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(default)]
    pub region: Option<String>,
    /// Business-critical instances sometimes omit it.
    #[serde(default, rename = "type")]
    pub instance_type: Option<InstanceType>,
    /// `null` while the instance is being created.
    #[serde(default)]
    pub connection_url: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub metrics_integration_url: Option<String>,
    #[serde(default)]
    pub customer_managed_key_id: Option<CmekId>,
    /// Free instances only; Aura sends a string or a number.
    #[serde(default, deserialize_with = "lenient_count")]
    pub graph_nodes: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub graph_relationships: Option<u64>,
    #[serde(default)]
    pub secondaries_count: Option<u32>,
    #[serde(default)]
    pub cdc_enrichment_mode: Option<CdcEnrichmentMode>,
    #[serde(default)]
    pub vector_optimized: Option<bool>,
    #[serde(default)]
    pub graph_analytics_plugin: Option<bool>,
}

/// An entry of `GET /instances`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct InstanceSummary {
    pub id: InstanceId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// The body of `POST /instances`. Build it, then [`Instances::create`] validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateInstance {
    pub name: String,
    pub tenant_id: TenantId,
    pub cloud_provider: CloudProvider,
    pub region: String,
    #[serde(rename = "type")]
    pub instance_type: InstanceType,
    pub version: String,
    pub memory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_managed_key_id: Option<CmekId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_optimized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_analytics_plugin: Option<bool>,
    /// Create as a clone of this instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_instance_id: Option<InstanceId>,
    /// Create from this snapshot (of `source_instance_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_snapshot_id: Option<SnapshotId>,
}

impl CreateInstance {
    /// The required fields; the optional ones start empty. Version defaults to "5".
    pub fn new(
        name: impl Into<String>,
        tenant_id: TenantId,
        cloud_provider: CloudProvider,
        region: impl Into<String>,
        instance_type: InstanceType,
        memory: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            tenant_id,
            cloud_provider,
            region: region.into(),
            instance_type,
            version: "5".to_owned(),
            memory: memory.into(),
            storage: None,
            customer_managed_key_id: None,
            vector_optimized: None,
            graph_analytics_plugin: None,
            source_instance_id: None,
            source_snapshot_id: None,
        }
    }

    /// Checks every field that can be checked without asking Aura.
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name)?;
        if !self.cloud_provider.is_known() {
            CloudProvider::parse_known(self.cloud_provider.as_str())?;
        }
        if !self.instance_type.is_known() {
            InstanceType::parse_known(self.instance_type.as_str())?;
        }
        if self.region.trim().is_empty() {
            return Err(Error::invalid("region", "must not be empty"));
        }
        check_in("version", &self.version, VERSIONS)?;
        check_in("memory", &self.memory, INSTANCE_MEMORY)?;
        if let Some(storage) = &self.storage {
            check_in("storage", storage, INSTANCE_STORAGE)?;
        }
        if self.graph_analytics_plugin == Some(true)
            && self.instance_type != InstanceType::ProfessionalDb
        {
            return Err(Error::invalid(
                "graph_analytics_plugin",
                "can only be enabled on professional-db instances",
            ));
        }
        if self.source_snapshot_id.is_some() && self.source_instance_id.is_none() {
            return Err(Error::invalid(
                "source_instance_id",
                "is required when source_snapshot_id is set",
            ));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.trim() != name {
        return Err(Error::invalid(
            "name",
            "must not start or end with white space",
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            format!(
                "{} characters is longer than Aura's limit of {MAX_NAME_LEN}",
                name.chars().count()
            ),
        ));
    }
    Ok(())
}

/// What `POST /instances` answers: the new instance and its one-time password.
///
/// The password is returned here and never again; `Debug` hides it.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedInstance {
    pub id: InstanceId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default, rename = "type")]
    pub instance_type: Option<InstanceType>,
    #[serde(default)]
    pub connection_url: Option<String>,
    #[serde(default = "default_username")]
    pub username: String,
    pub password: SecretString,
}

fn default_username() -> String {
    "neo4j".to_owned()
}

/// The body of `PATCH /instances/{id}`: only the fields that change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateInstance {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondaries_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdc_enrichment_mode: Option<CdcEnrichmentMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_optimized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_analytics_plugin: Option<bool>,
}

impl UpdateInstance {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks values against Aura's value sets.
    pub fn validate(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::invalid("update", "names no field to change"));
        }
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if let Some(memory) = &self.memory {
            check_in("memory", memory, INSTANCE_MEMORY)?;
        }
        if let Some(storage) = &self.storage {
            check_in("storage", storage, INSTANCE_STORAGE)?;
        }
        if let Some(mode) = &self.cdc_enrichment_mode
            && !mode.is_known()
        {
            CdcEnrichmentMode::parse_known(mode.as_str())?;
        }
        Ok(())
    }
}

/// How Aura answered a delete.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// Accepted; the instance is `destroying` (or `deleting`) and will disappear.
    Accepted(Box<Instance>),
    /// It was already gone (404 or 410): the delete is done.
    AlreadyGone,
}

/// How Aura answered an overwrite. Sources disagree on the body, so both forms are accepted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OverwriteStarted {
    /// The target instance, now `overwriting`.
    Instance(Box<Instance>),
    /// A job id.
    Job(String),
}

/// `client.instances()`.
pub struct Instances<'c> {
    pub(crate) client: &'c Client,
}

impl Instance {
    /// An instance known only by id and name, in the `creating` state Aura puts a new one in:
    /// what a client has before Aura reports anything more.
    pub fn creating(id: InstanceId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            status: InstanceStatus::Creating,
            tenant_id: None,
            cloud_provider: None,
            region: None,
            instance_type: None,
            connection_url: None,
            memory: None,
            storage: None,
            created_at: None,
            metrics_integration_url: None,
            customer_managed_key_id: None,
            graph_nodes: None,
            graph_relationships: None,
            secondaries_count: None,
            cdc_enrichment_mode: None,
            vector_optimized: None,
            graph_analytics_plugin: None,
        }
    }
}

impl Instances<'_> {
    /// All instances the credential can see, optionally of one tenant.
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<InstanceSummary>> {
        let mut call = Call::get("/instances", "/instances");
        if let Some(tenant) = tenant {
            call = call.query("tenantId", tenant);
        }
        self.client.send(call).await?.data()
    }

    /// One instance. A 404 soon after the create may only mean Aura does not show it yet (§10);
    /// a 2xx with errors beside the data is also not found ([`Error::EmbeddedErrors`]).
    pub async fn get(&self, id: &InstanceId) -> Result<Instance> {
        let call = Call::get("/instances/{instanceId}", format!("/instances/{id}"));
        get_one(self.client, call).await
    }

    /// Creates an instance. Never resent after it may have reached Aura: on an error with
    /// [`Error::request_may_have_acted`], look for the instance (by name) before creating again.
    pub async fn create(&self, request: &CreateInstance) -> Result<CreatedInstance> {
        request.validate()?;
        let call = Call::new(Method::POST, "/instances", "/instances", false).json(request)?;
        self.client.send(call).await?.data()
    }

    /// Changes mutable fields. Aura answers 202 (or 200 for a rename); both return the instance.
    pub async fn update(&self, id: &InstanceId, request: &UpdateInstance) -> Result<Instance> {
        request.validate()?;
        // Setting absolute values twice is harmless, so a lost PATCH may be resent.
        let call = Call::new(
            Method::PATCH,
            "/instances/{instanceId}",
            format!("/instances/{id}"),
            true,
        )
        .json(request)?;
        self.client.send(call).await?.data()
    }

    /// Deletes an instance. A 404 or 410 means it is already gone, which counts as done.
    pub async fn delete(&self, id: &InstanceId) -> Result<Deletion> {
        let call = Call::new(
            Method::DELETE,
            "/instances/{instanceId}",
            format!("/instances/{id}"),
            true,
        );
        match self.client.send(call).await {
            Ok(reply) => Ok(Deletion::Accepted(Box::new(reply.data()?))),
            Err(err) if err.is_not_found() => Ok(Deletion::AlreadyGone),
            Err(err) => Err(err),
        }
    }

    /// Pauses a running instance.
    pub async fn pause(&self, id: &InstanceId) -> Result<Instance> {
        self.action(id, "/instances/{instanceId}/pause", "pause")
            .await
    }

    /// Resumes a paused instance.
    pub async fn resume(&self, id: &InstanceId) -> Result<Instance> {
        self.action(id, "/instances/{instanceId}/resume", "resume")
            .await
    }

    /// Upgrades a `professional-db` instance to `business-critical` in place (same id; Aura
    /// removes the Graph Analytics plugin), keeping its memory and storage: the body is empty
    /// (shared/aura-api.md §3, §10). Aura answers as for pause and resume: 202 and the instance
    /// in a transient status (`updating` is assumed; the answer is not settled by the sources);
    /// the new type shows once the instance runs again. Never resent: a second upgrade of an
    /// instance already upgraded is refused.
    pub async fn upgrade(&self, id: &InstanceId) -> Result<Instance> {
        self.action(id, "/instances/{instanceId}/upgrade", "upgrade")
            .await
    }

    async fn action(&self, id: &InstanceId, route: &'static str, verb: &str) -> Result<Instance> {
        let call = Call::new(
            Method::POST,
            route,
            format!("/instances/{id}/{verb}"),
            false,
        );
        self.client.send(call).await?.data()
    }

    /// Replaces the data of `id` with a fresh copy of `source`'s.
    pub async fn overwrite_from_instance(
        &self,
        id: &InstanceId,
        source: &InstanceId,
    ) -> Result<OverwriteStarted> {
        self.overwrite(id, serde_json::json!({ "source_instance_id": source }))
            .await
    }

    /// Replaces the data of `id` with snapshot `snapshot` of instance `source`.
    /// Aura wants the snapshot's instance too; pass `id` itself for one of its own snapshots.
    pub async fn overwrite_from_snapshot(
        &self,
        id: &InstanceId,
        source: &InstanceId,
        snapshot: &SnapshotId,
    ) -> Result<OverwriteStarted> {
        let body =
            serde_json::json!({ "source_instance_id": source, "source_snapshot_id": snapshot });
        self.overwrite(id, body).await
    }

    /// Asks Aura what size of instance a graph needs (`POST /instances/sizing`,
    /// shared/aura-api.md §3 and §10). Not in the Go client's surface.
    pub async fn sizing(&self, request: &InstanceSizingRequest) -> Result<InstanceSizing> {
        if request.node_count == 0 {
            return Err(Error::invalid("node_count", "must be greater than zero"));
        }
        // A pure computation on Aura's side: safe to resend.
        let call = Call::new(Method::POST, "/instances/sizing", "/instances/sizing", true)
            .json(request)?;
        self.client.send(call).await?.data()
    }

    async fn overwrite(
        &self,
        id: &InstanceId,
        body: serde_json::Value,
    ) -> Result<OverwriteStarted> {
        let call = Call::new(
            Method::POST,
            "/instances/{instanceId}/overwrite",
            format!("/instances/{id}/overwrite"),
            false,
        )
        .json(&body)?;
        self.client.send(call).await?.data()
    }
}

/// Reads a count that Aura sends either as a number or as a numeric string.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Count>::deserialize(d)? {
        Some(Count::Number(n)) => Some(n),
        Some(Count::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10").unwrap()
    }

    fn request() -> CreateInstance {
        CreateInstance::new(
            "orders",
            tenant(),
            CloudProvider::Gcp,
            "europe-west1",
            InstanceType::ProfessionalDb,
            "2GB",
        )
    }

    #[test]
    fn create_request_serialises_only_what_is_set() {
        let body = serde_json::to_value(request()).unwrap();
        assert_eq!(body["type"], "professional-db");
        assert_eq!(body["version"], "5");
        assert!(body.get("storage").is_none());
        assert!(body.get("source_instance_id").is_none());
    }

    #[test]
    fn create_validation_names_the_field() {
        type Mutation = Box<dyn Fn(&mut CreateInstance)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("name", Box::new(|r| r.name = " padded ".into())),
            ("name", Box::new(|r| r.name = "x".repeat(31))),
            ("memory", Box::new(|r| r.memory = "3GB".into())),
            ("storage", Box::new(|r| r.storage = Some("5GB".into()))),
            ("version", Box::new(|r| r.version = "6".into())),
            ("region", Box::new(|r| r.region = "".into())),
            (
                "type",
                Box::new(|r| r.instance_type = InstanceType::Other("mega".into())),
            ),
            (
                "cloud_provider",
                Box::new(|r| r.cloud_provider = CloudProvider::Other("ibm".into())),
            ),
            (
                "graph_analytics_plugin",
                Box::new(|r| {
                    r.instance_type = InstanceType::EnterpriseDb;
                    r.graph_analytics_plugin = Some(true);
                }),
            ),
        ];
        assert!(request().validate().is_ok());
        for (field, mutate) in cases {
            let mut r = request();
            mutate(&mut r);
            let err = r.validate().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{field}`")),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn instance_decodes_with_missing_fields_and_string_counts() {
        let instance: Instance = serde_json::from_str(
            r#"{"id":"c9f0d13a","name":"x","status":"creating","connection_url":null,
                "graph_nodes":"120","graph_relationships":7,"type":"free-db"}"#,
        )
        .unwrap();
        assert_eq!(instance.status, InstanceStatus::Creating);
        assert_eq!(instance.connection_url, None);
        assert_eq!(instance.graph_nodes, Some(120));
        assert_eq!(instance.graph_relationships, Some(7));
    }

    #[test]
    fn created_instance_debug_hides_the_password() {
        let created: CreatedInstance = serde_json::from_str(
            r#"{"id":"c9f0d13a","name":"x","username":"neo4j","password":"pw-do-not-print"}"#,
        )
        .unwrap();
        let text = format!("{created:?}");
        assert!(!text.contains("pw-do-not-print"), "{text}");
    }

    #[test]
    fn overwrite_accepts_an_instance_or_a_job_id() {
        let job: OverwriteStarted = serde_json::from_str(r#""job-42""#).unwrap();
        assert_eq!(job, OverwriteStarted::Job("job-42".into()));
        let inst: OverwriteStarted =
            serde_json::from_str(r#"{"id":"c9f0d13a","status":"overwriting"}"#).unwrap();
        assert!(
            matches!(inst, OverwriteStarted::Instance(i) if i.status == InstanceStatus::Overwriting)
        );
    }

    #[test]
    fn empty_update_is_rejected() {
        let err = UpdateInstance::default().validate().unwrap_err();
        assert!(err.to_string().contains("`update`"));
        let bad = UpdateInstance {
            memory: Some("7GB".into()),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("`memory`"));
    }
}
