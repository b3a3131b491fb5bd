//! `AuraInstance`: one Aura database instance, declared in Kubernetes.
//!
//! The doc comments on these types become the CRD's schema descriptions, which is what
//! `kubectl explain auraInstance.spec` shows; they are written for the person applying the YAML.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An Aura database instance, with its connection details written to a Secret.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aura.neo4j.io",
    version = "v1alpha1",
    kind = "AuraInstance",
    namespaced,
    status = "AuraInstanceStatus",
    shortname = "aurai",
    category = "aura",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Memory","type":"string","jsonPath":".status.memory"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Instance","type":"string","priority":1,"jsonPath":".status.instanceId"}"#,
    printcolumn = r#"{"name":"Credential","type":"string","priority":1,"jsonPath":".spec.credentialRef.name"}"#,
    printcolumn = r#"{"name":"Drifted","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Drifted\")].status"}"#,
    printcolumn = r#"{"name":"Schedule","type":"string","priority":1,"jsonPath":".status.schedule.wants"}"#,
    printcolumn = r#"{"name":"Expires","type":"date","priority":1,"jsonPath":".status.expiry.expiresAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    cel,
    validation = Rule::new("!(has(self.credentialRef) && has(self.credentialsSecretRef))").message("set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both"),
    validation = Rule::new("has(self.tenantId) || has(self.tenantName) || has(self.instanceId)").message("set tenantId or tenantName (or instanceId to adopt an existing instance)"),
    validation = Rule::new("!(has(self.tenantId) && has(self.tenantName))").message("set tenantId or tenantName, not both"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.instanceId)").message("managementPolicy Observe needs instanceId: the operator only watches an instance that already exists, it never creates one"),
    validation = Rule::new("!has(self.schedule) || self.type != 'free-db'").message("schedule: free instances cannot be paused (Aura pauses them itself when idle)"),
    validation = Rule::new("self.cloudProvider == oldSelf.cloudProvider").message("cloudProvider is immutable: Aura cannot move an instance to another cloud; create a new AuraInstance"),
    validation = Rule::new("self.region == oldSelf.region").message("region is immutable: Aura cannot move an instance to another region; create a new AuraInstance"),
    validation = Rule::new("self.type == oldSelf.type || (oldSelf.type == 'professional-db' && self.type == 'business-critical')").message("type is immutable, except professional-db to business-critical (an upgrade in place): Aura cannot change the tier of an instance otherwise"),
    validation = Rule::new("self.version == oldSelf.version").message("version is immutable"),
    validation = Rule::new("has(self.tenantId) == has(oldSelf.tenantId) && (!has(self.tenantId) || self.tenantId == oldSelf.tenantId)").message("tenantId is immutable"),
    validation = Rule::new("has(self.tenantName) == has(oldSelf.tenantName) && (!has(self.tenantName) || self.tenantName == oldSelf.tenantName)").message("tenantName is immutable"),
    validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId) && (!has(self.instanceId) || self.instanceId == oldSelf.instanceId)").message("instanceId is immutable"),
    validation = Rule::new("has(self.customerManagedKeyId) == has(oldSelf.customerManagedKeyId) && (!has(self.customerManagedKeyId) || self.customerManagedKeyId == oldSelf.customerManagedKeyId)").message("customerManagedKeyId is immutable"),
    validation = Rule::new("has(self.source) == has(oldSelf.source) && (!has(self.source) || self.source == oldSelf.source)").message("source is immutable: it only applies when the instance is created; use restore to load data into an existing instance")
)]
pub struct AuraInstanceSpec {
    /// Aura tenant (project) id to create the instance in. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,

    /// Aura tenant (project) name, looked up through the API; must match exactly one tenant.
    /// Use instead of tenantId. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,

    /// Cloud provider. Immutable.
    pub cloud_provider: CloudProvider,

    /// Provider region, e.g. europe-west1 or us-east-1; must be offered by the tenant. Immutable.
    #[schemars(length(min = 1))]
    pub region: String,

    /// Aura product tier. Immutable, with one exception: professional-db may become
    /// business-critical, which upgrades the instance in place (same id and data; Aura removes
    /// the Graph Analytics plugin). Every other change is refused.
    #[serde(rename = "type")]
    pub instance_type: InstanceType,

    /// Neo4j major version. Immutable.
    #[serde(default = "default_version")]
    #[schemars(regex(pattern = r"^[0-9]+$"))]
    pub version: String,

    /// Memory size, e.g. 2GB; must be offered by the tenant for this tier and region. Changing it
    /// resizes the instance in place.
    #[schemars(regex(pattern = r"^[0-9]+GB$"))]
    pub memory: String,

    /// Storage size, e.g. 4GB. When unset, Aura's default for the memory size applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+GB$"))]
    pub storage: Option<String>,

    /// Optimise the instance for vector search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_optimized: Option<bool>,

    /// Enable the Graph Analytics plugin (professional-db only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_analytics_plugin: Option<bool>,

    /// Number of secondaries (enterprise and business-critical tiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 15))]
    pub secondaries_count: Option<u32>,

    /// Change-data-capture enrichment mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdc_enrichment_mode: Option<CdcEnrichmentMode>,

    /// Customer-managed encryption key id. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_managed_key_id: Option<String>,

    /// Name shown in the Aura console. Defaults to <namespace>-<name>. The operator shortens it
    /// and appends a suffix derived from this resource's UID (Aura allows 30 characters), which
    /// is how it recognises an instance it created if it is restarted mid-create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 60))]
    pub aura_name: Option<String>,

    /// Pause the instance (true) or keep it running (false). Free instances cannot be paused.
    /// When true it wins over schedule.
    #[serde(default)]
    pub paused: bool,

    /// Pause and resume the instance on a schedule, for example nights and weekends of a
    /// development instance (a paused instance is billed less). Applies while paused is false.
    /// The instance is paused when the last pause time is later than the last resume time.
    /// Aura resumes an instance paused for 30 days by itself; the operator notices and pauses it
    /// again if the schedule (or paused) says so. Not for free instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<PauseSchedule>,

    /// Delete this resource by itself this long after it was created, for preview environments:
    /// a duration such as 72h, 7d or 1d12h (units w, d, h, m, s; a day is 24 hours). deletionPolicy
    /// then decides what happens in Aura. status.expiry.expiresAt shows when; a Warning Event
    /// ExpiresSoon comes an hour before (a quarter of the duration, if that is shorter). Change it
    /// to extend the life of the resource, remove it to keep the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(w|d|h|m|s))+$"), length(max = 32))]
    pub expire_after: Option<String>,

    /// Secret in this namespace holding the Aura API credential (keys clientId and clientSecret
    /// unless renamed here). Without it and credentialRef, the operator-wide default credential is
    /// used, if the operator allows it for this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<CredentialsSecretRef>,

    /// ClusterAuraCredential (cluster-scoped, created by an administrator) whose Aura API
    /// credential to use, if it allows this namespace; its Secret stays out of reach of this
    /// namespace. Excludes credentialsSecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<crate::crd::credential::CredentialRef>,

    /// Adopt this existing Aura instance (8 hex characters) instead of creating one. Its
    /// password is unknown to the operator: put it in the connection Secret yourself. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub instance_id: Option<String>,

    /// Full (default): the operator creates, changes, pauses, restores and (by deletionPolicy)
    /// deletes the instance to match this spec. Observe: it only reads — status mirrors Aura, the
    /// Drifted condition lists every field where Aura differs from this spec, the connection
    /// Secret is written with what is known (no password unless one is kept) — and it never
    /// changes anything in Aura, not even when this resource is deleted, whatever
    /// deletionPolicy says. Observe needs instanceId. Ready True under Observe means "observed,
    /// settled and as this spec says"; it does not promise a password (see
    /// status.passwordStored). Switching back to Full makes the next pass act on the drift.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// What happens in Aura when this resource is deleted: Retain (default) leaves the instance
    /// running in Aura; Delete destroys it with all its data. An instance adopted through
    /// instanceId (not created by this resource) is deleted only with a second key: the
    /// annotation aura.neo4j.io/confirm-delete set to its instance id; without it the resource
    /// goes, the instance stays and its connection Secret is kept, as with Retain. An instance
    /// another resource manages is never deleted by this one.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// While true, deleting this resource with deletionPolicy Delete does not delete the Aura
    /// instance: the resource stays Terminating, with a DeletionProtected condition, until this is
    /// set to false (or the policy to Retain).
    #[serde(default)]
    pub deletion_protection: bool,

    /// What to do when the operator finds an instance it created but whose password it never
    /// stored (it was stopped between Aura's answer and writing the Secret). Recreate (default)
    /// deletes that empty, unusable instance and creates another; Wait reports it and waits for
    /// a person.
    #[serde(default)]
    pub lost_password_policy: LostPasswordPolicy,

    /// The Secret the connection details are written to, and in which format.
    #[serde(default)]
    pub connection_secret: ConnectionSecretSpec,

    /// Also write the details that are not secret (NEO4J_URI, NEO4J_HOST, AURA_INSTANCEID,
    /// AURA_INSTANCENAME) to a ConfigMap, for tools that may not read Secrets. Off unless set;
    /// `{}` names it <resource name>-connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_config_map: Option<ConnectionConfigMapSpec>,

    /// Create the instance with the data of another instance or a snapshot. Only used when the
    /// instance is created. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DataSource>,

    /// Load data into the existing instance from a snapshot (restore) or another instance
    /// (overwrite). Carried out once per requestId: change requestId to ask again. This
    /// replaces all data in the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreRequest>,
}

fn default_version() -> String {
    "5".to_owned()
}

/// Cloud provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudProvider {
    Gcp,
    Aws,
    Azure,
}

/// Aura product tier.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceType {
    FreeDb,
    ProfessionalDb,
    ProfessionalDs,
    EnterpriseDb,
    EnterpriseDs,
    BusinessCritical,
}

/// Change-data-capture enrichment mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CdcEnrichmentMode {
    Off,
    Diff,
    Full,
}

/// What deleting the resource does to the Aura instance.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the Aura instance (and its data, and its bill).
    #[default]
    Retain,
    /// Delete the Aura instance and its data.
    Delete,
}

/// When to pause and resume an instance: two cron expressions in one time zone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseSchedule {
    /// When to pause: five cron fields (minute hour day-of-month month day-of-week), for example
    /// "0 20 * * 1-5" for 20:00 on weekdays. Ranges, lists, steps, names (MON, JAN) and L, # and
    /// W are understood.
    #[schemars(
        regex(pattern = r"^\s*(@[a-z]+|\S+(\s+\S+){4})\s*$"),
        length(max = 128)
    )]
    pub pause: String,
    /// When to resume, in the same form, for example "0 7 * * 1-5" for 07:00 on weekdays.
    #[schemars(
        regex(pattern = r"^\s*(@[a-z]+|\S+(\s+\S+){4})\s*$"),
        length(max = 128)
    )]
    pub resume: String,
    /// IANA time zone the times are in, for example Europe/Berlin; UTC if unset. Daylight
    /// saving time is followed: 07:00 stays 07:00 local time all year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
}

/// What the schedule asks for at the moment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ScheduledState {
    /// Between a pause time and the next resume time.
    Paused,
    /// Between a resume time and the next pause time (or before the first pause).
    Running,
}

/// The schedule as the last pass read it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// What the schedule asks for now (spec.paused true still wins).
    pub wants: ScheduledState,
    /// The next pause time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_pause: Option<Time>,
    /// The next resume time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_resume: Option<Time>,
}

/// What the operator did about password rotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordRotationStatus {
    /// When the password was last rotated (published in the Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotated: Option<Time>,
    /// The value of the annotation aura.neo4j.io/rotate-password last dealt with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_request: Option<String>,
    /// Why the last rotation asked for was refused; absent when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// strategy TwoUsers: the application user the connection Secret holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The Secret holding the admin user's credentials (<connection Secret>-admin): recorded
    /// before the operator writes it, cleared once a switch back to AdminUser deleted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_secret: Option<String>,
    /// A switch back to AdminUser: the application users it drops once the connection Secret
    /// holds the admin user again (recorded before that Secret changes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring_users: Vec<String>,
}

/// When the resource deletes itself (spec.expireAfter).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpiryStatus {
    /// creationTimestamp plus spec.expireAfter.
    pub expires_at: Time,
    /// Whether the ExpiresSoon Warning Event was sent for this expiresAt.
    #[serde(default)]
    pub warned: bool,
}

/// How far the operator manages the Aura object: fully, or only by reading it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, change and delete the Aura object to match the spec.
    #[default]
    Full,
    /// Only read the Aura object and report how it differs from the spec; never change it.
    Observe,
}

/// How the resource came to manage its instance; deleting an adopted one needs a confirmation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum InstanceOrigin {
    /// This resource created the instance.
    Created,
    /// The instance existed and was adopted through `spec.instanceId`.
    Adopted,
}

/// The annotation that confirms the deletion of an adopted instance: its value must be the
/// instance id (see `deletionPolicy`).
pub const CONFIRM_DELETE_ANNOTATION: &str = "aura.neo4j.io/confirm-delete";

/// What to do with an instance whose password was lost before it was stored.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LostPasswordPolicy {
    /// Delete the unusable new instance and create another.
    #[default]
    Recreate,
    /// Report it and leave it alone.
    Wait,
}

impl AuraInstance {
    /// The name of the connection Secret: the spec's, or `<name>-connection`.
    pub fn connection_secret_name(&self) -> String {
        self.spec
            .connection_secret
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-connection", kube::ResourceExt::name_any(self)))
    }

    /// The name of the ConfigMap with the details that are not secret, when one is asked for.
    pub fn connection_config_map_name(&self) -> Option<String> {
        let spec = self.spec.connection_config_map.as_ref()?;
        Some(
            spec.name
                .clone()
                .unwrap_or_else(|| format!("{}-connection", kube::ResourceExt::name_any(self))),
        )
    }
}

/// The ConfigMap with the details that are not secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionConfigMapSpec {
    /// ConfigMap name. Defaults to <resource name>-connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
}

pub use super::common::{
    Binding, ConnectionSecretSpec, CredentialsSecretRef, SecretFormat, default_client_id_key,
    default_client_secret_key,
};

/// A source of data: an instance (by Aura id or by AuraInstance in this namespace), optionally
/// one of its snapshots; or an AuraSnapshot in this namespace, which names both.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("[has(self.instanceId), has(self.instanceRef)].filter(x, x).size() <= 1").message("set at most one of instanceId and instanceRef"))]
#[x_kube(validation = Rule::new("has(self.instanceId) || has(self.instanceRef) || has(self.snapshotRef)").message("name the source instance (instanceId or instanceRef) or snapshot (snapshotRef)"))]
#[x_kube(validation = Rule::new("!has(self.snapshotRef) || !(has(self.instanceId) || has(self.instanceRef) || has(self.snapshotId))").message("snapshotRef names both the instance and the snapshot: set it alone"))]
pub struct DataSource {
    /// Aura id of the source instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub instance_id: Option<String>,
    /// AuraInstance in this namespace whose instance is the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<LocalRef>,
    /// Aura id of a snapshot of the source instance. Without a snapshot, Aura copies the
    /// source's current data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub snapshot_id: Option<String>,
    /// AuraSnapshot in this namespace whose snapshot is the source. The operator waits until
    /// it is Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<LocalRef>,
}

/// A one-time data load into an existing instance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    /// Any string; each distinct value is carried out once. Change it to restore again.
    #[schemars(length(min = 1, max = 63))]
    pub request_id: String,
    /// Where the data comes from. A snapshot of this same instance is a restore; anything else
    /// is an overwrite.
    pub from: DataSource,
}

/// A resource in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Resource name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuraInstanceStatus {
    /// Aura instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Tenant the instance lives in (resolved from tenantName when that is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name of the instance in Aura.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aura_name: Option<String>,
    /// Aura status: creating, running, pausing, paused, resuming, updating, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::aura::InstanceStatus>,
    /// Bolt URI of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_url: Option<String>,
    /// Memory as Aura reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Storage as Aura reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Name of the connection Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<String>,
    /// Whether the connection Secret holds the database password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_stored: Option<bool>,
    /// Name of the ConfigMap with the details that are not secret, when one is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_config_map: Option<String>,
    /// The Secret to bind, as the Service Binding specification reads it (set with format
    /// service-binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    /// Set before the create call and kept until the instance id is recorded: after a restart,
    /// the operator looks for an instance with this Aura name before creating another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<CreateIntent>,
    /// When this operator created (or found after a lost answer) the instance. Aura can answer
    /// 404 for a moment after a create; within a grace period of this time such a 404 means
    /// "not visible yet", not "deleted".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// Created: this resource created the instance. Adopted: it existed and was adopted
    /// through spec.instanceId, so deleting it in Aura needs the confirm-delete annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<InstanceOrigin>,
    /// The pause schedule as last read: what it asks for now and its next times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleStatus>,
    /// When this resource deletes itself (set while spec.expireAfter is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryStatus>,
    /// The restore request last carried out (or being carried out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreStatus>,
    /// Password rotation: when it last happened, the rotate-password annotation value last
    /// dealt with, why the last rotation asked for was refused, and what strategy TwoUsers set
    /// up (the application user in the Secret, the admin Secret, users a switch back drops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotation: Option<PasswordRotationStatus>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the instance runs as specified and the Secret is usable. Synced: the last
    /// reconcile succeeded (False with reason Suspended while the annotation
    /// aura.neo4j.io/suspend is "true"). Reconciling (kstatus): True while the operator works
    /// towards the spec. Stalled (kstatus): True when only a person can help (the reason and
    /// message say what to do); both False otherwise. Drifted (managementPolicy Observe only):
    /// which fields differ between Aura and the spec. Their reasons are listed in the
    /// documentation's troubleshooting page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A create the operator is about to make, or made without seeing the answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIntent {
    /// The exact Aura name the instance is created with.
    pub aura_name: String,
    /// Tenant it is created in.
    pub tenant_id: String,
    /// When the intent was recorded, or the create last sent.
    pub since: Time,
}

/// Where a restore request is. It is sent at most once: `Sending` is recorded before the call,
/// and a pass that finds it (the operator stopped in between) makes it `Unknown`, never resends.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RestorePhase {
    /// Recorded, about to be sent.
    Sending,
    /// Accepted by Aura; the instance is loading.
    Requested,
    /// The instance is running again with the data.
    Completed,
    /// Aura refused it.
    Failed,
    /// The operator stopped while sending it: it may or may not have reached Aura.
    Unknown,
}

/// Progress of a restore request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The requestId.
    pub request_id: String,
    /// Where the request is.
    pub phase: RestorePhase,
    /// What was loaded, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn spec() -> Value {
        json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001",
            "cloudProvider": "gcp",
            "region": "europe-west1",
            "type": "professional-db",
            "version": "5",
            "memory": "2GB"
        })
    }

    fn update(change: impl Fn(&mut Value)) -> Result<(), String> {
        let old = spec();
        let mut new = spec();
        change(&mut new);
        AuraInstanceSpec::validate_cel(&new, Some(&old)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_minimal_spec_parses_with_safe_defaults() {
        let parsed: AuraInstanceSpec = serde_json::from_value(spec()).unwrap();
        assert_eq!(parsed.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(parsed.lost_password_policy, LostPasswordPolicy::Recreate);
        assert!(!parsed.paused && !parsed.deletion_protection);
        assert!(AuraInstanceSpec::validate_cel(&spec(), None).is_ok());
    }

    fn with_secret(secret: Value) -> Result<(), String> {
        let mut new = spec();
        new["connectionSecret"] = secret;
        AuraInstanceSpec::validate_cel(&new, None).map_err(|e| e.to_string())
    }

    #[test]
    fn the_api_server_refuses_a_format_with_keys_and_overlong_keys() {
        assert_eq!(with_secret(json!({"format": "spring-boot"})), Ok(()));
        assert_eq!(
            with_secret(json!({"keys": {"P": "{{ password }}"}})),
            Ok(())
        );
        let both = with_secret(json!({"format": "jdbc", "keys": {"P": "{{ password }}"}}));
        assert!(both.unwrap_err().contains("set format or keys, not both"));
        let long = with_secret(json!({"keys": {"k".repeat(254): "{{ password }}"}}));
        assert!(long.unwrap_err().contains("1 to 253 characters"));
        let empty = with_secret(json!({"keys": {"": "{{ password }}"}}));
        assert!(empty.is_err());
    }

    #[test]
    fn placement_changes_are_rejected_with_a_message_naming_the_field() {
        for (field, value) in [
            ("region", "us-central1"),
            ("cloudProvider", "aws"),
            ("type", "enterprise-db"),
        ] {
            let err = update(|s| s[field] = json!(value)).unwrap_err();
            assert!(
                err.contains(&format!("{field} is immutable")),
                "{field}: {err}"
            );
        }
        let err = update(|s| {
            s.as_object_mut().unwrap().remove("tenantId");
            s["tenantName"] = json!("Prod");
        })
        .unwrap_err();
        assert!(err.contains("tenantId is immutable"), "{err}");
    }

    #[test]
    fn professional_may_become_business_critical_and_nothing_else() {
        assert_eq!(update(|s| s["type"] = json!("business-critical")), Ok(()));
        let from = |old: &str, new: &str| {
            let mut before = spec();
            before["type"] = json!(old);
            let mut after = spec();
            after["type"] = json!(new);
            AuraInstanceSpec::validate_cel(&after, Some(&before)).map_err(|e| e.to_string())
        };
        for (old, new) in [
            ("business-critical", "professional-db"),
            ("professional-ds", "business-critical"),
            ("enterprise-db", "business-critical"),
            ("free-db", "professional-db"),
            ("professional-db", "enterprise-db"),
        ] {
            let err = from(old, new).unwrap_err();
            assert!(err.contains("type is immutable"), "{old} -> {new}: {err}");
        }
        assert_eq!(from("business-critical", "business-critical"), Ok(()));
    }

    #[test]
    fn mutable_fields_may_change() {
        assert_eq!(update(|s| s["memory"] = json!("8GB")), Ok(()));
        assert_eq!(update(|s| s["paused"] = json!(true)), Ok(()));
        assert_eq!(update(|s| s["deletionPolicy"] = json!("Delete")), Ok(()));
    }

    #[test]
    fn tenant_must_be_given_once() {
        let mut both = spec();
        both["tenantName"] = json!("Prod");
        let err = AuraInstanceSpec::validate_cel(&both, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
        let mut neither = spec();
        neither.as_object_mut().unwrap().remove("tenantId");
        assert!(AuraInstanceSpec::validate_cel(&neither, None).is_err());
        neither["instanceId"] = json!("c9f0d13a");
        assert!(
            AuraInstanceSpec::validate_cel(&neither, None).is_ok(),
            "adoption needs no tenant"
        );
    }

    #[test]
    fn observe_needs_an_instance_id() {
        let mut observe = spec();
        observe["managementPolicy"] = json!("Observe");
        let err = AuraInstanceSpec::validate_cel(&observe, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Observe needs instanceId"), "{err}");
        observe["instanceId"] = json!("c9f0d13a");
        assert!(AuraInstanceSpec::validate_cel(&observe, None).is_ok());
        let mut full = spec();
        full["managementPolicy"] = json!("Full");
        assert!(AuraInstanceSpec::validate_cel(&full, None).is_ok());
    }

    #[test]
    fn a_free_instance_cannot_have_a_pause_schedule() {
        let mut scheduled = spec();
        scheduled["schedule"] = json!({"pause": "0 20 * * 1-5", "resume": "0 7 * * 1-5"});
        assert!(AuraInstanceSpec::validate_cel(&scheduled, None).is_ok());
        scheduled["type"] = json!("free-db");
        let err = AuraInstanceSpec::validate_cel(&scheduled, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("schedule: free instances cannot be paused"),
            "{err}"
        );
    }

    #[test]
    fn a_cluster_credential_and_a_credentials_secret_exclude_each_other() {
        let mut one = spec();
        one["credentialRef"] = json!({"name": "team-data"});
        assert!(AuraInstanceSpec::validate_cel(&one, None).is_ok());
        let mut both = one.clone();
        both["credentialsSecretRef"] = json!({"name": "aura-credentials"});
        let err = AuraInstanceSpec::validate_cel(&both, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
        assert!(err.contains("credentialRef"), "{err}");
    }

    #[test]
    fn a_data_source_names_one_instance_and_one_snapshot_at_most() {
        let ok = json!({"instanceRef": {"name": "prod"}, "snapshotId": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"});
        let snapshot_only = json!({"snapshotId": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"});
        assert!(
            DataSource::validate_cel(&snapshot_only, None).is_err(),
            "Aura needs the snapshot's instance"
        );
        assert!(DataSource::validate_cel(&ok, None).is_ok());
        let twice = json!({"instanceId": "c9f0d13a", "instanceRef": {"name": "prod"}});
        let err = DataSource::validate_cel(&twice, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at most one of instanceId and instanceRef"),
            "{err}"
        );
        assert!(DataSource::validate_cel(&json!({}), None).is_err());
    }

    #[test]
    fn a_snapshot_ref_stands_alone() {
        let by_ref = json!({"snapshotRef": {"name": "nightly"}});
        assert!(DataSource::validate_cel(&by_ref, None).is_ok());
        let mixed = json!({"snapshotRef": {"name": "nightly"}, "instanceId": "c9f0d13a"});
        let err = DataSource::validate_cel(&mixed, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("set it alone"), "{err}");
    }
}
