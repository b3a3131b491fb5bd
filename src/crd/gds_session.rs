//! `GdsSession`: an ephemeral Aura Graph Data Science session, declared in Kubernetes.
//!
//! The session runs next to an instance (attached) or on its own in a tenant and region
//! (standalone). Its memory is given, or estimated by Aura from graph statistics. The operator
//! writes the session's address to a Secret and deletes the session when the resource goes.
//! With `managementPolicy: Observe` it only reads an existing session found by `name`.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::instance::{
    CloudProvider, ConnectionSecretSpec, CredentialsSecretRef, LocalRef, ManagementPolicy,
};

/// A Graph Data Science session in Aura, with its address written to a Secret.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aura.neo4j.io",
    version = "v1alpha1",
    kind = "GdsSession",
    namespaced,
    status = "GdsSessionStatus",
    shortname = "gds",
    category = "aura",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Memory","type":"string","jsonPath":".status.memory"}"#,
    printcolumn = r#"{"name":"Expires","type":"string","jsonPath":".status.expiresAt"}"#,
    printcolumn = r#"{"name":"Session","type":"string","priority":1,"jsonPath":".status.sessionId"}"#,
    printcolumn = r#"{"name":"Credential","type":"string","priority":1,"jsonPath":".spec.credentialRef.name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    cel,
    validation = Rule::new("!(has(self.credentialRef) && has(self.credentialsSecretRef))").message("set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.name)").message("managementPolicy Observe needs name: the operator only watches a session that already exists, found by its name, it never creates one"),
    validation = Rule::new("has(self.memory) != has(self.graph) || ((has(self.managementPolicy) && self.managementPolicy == 'Observe') && !has(self.memory))").message("set memory, or graph statistics for Aura to estimate it; exactly one (under managementPolicy Observe, at most one)"),
    validation = Rule::new("(has(self.instanceRef) || has(self.instanceId)) != (has(self.tenantId) || has(self.tenantName)) || ((has(self.managementPolicy) && self.managementPolicy == 'Observe') && !has(self.instanceRef) && !has(self.instanceId))").message("attach the session to an instance (instanceRef or instanceId) or place it standalone (tenantId or tenantName with cloudProvider and region); exactly one (under managementPolicy Observe, at most one)"),
    validation = Rule::new("!(has(self.instanceRef) && has(self.instanceId))").message("set instanceRef or instanceId, not both"),
    validation = Rule::new("!(has(self.tenantId) && has(self.tenantName))").message("set tenantId or tenantName, not both"),
    validation = Rule::new("!(has(self.tenantId) || has(self.tenantName)) || (has(self.cloudProvider) && has(self.region)) || (has(self.managementPolicy) && self.managementPolicy == 'Observe')").message("a standalone session needs cloudProvider and region"),
    validation = Rule::new("!has(self.databaseId) || has(self.instanceRef) || has(self.instanceId)").message("databaseId applies to attached sessions only"),
    validation = Rule::new("has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)").message("name is immutable"),
    validation = Rule::new("has(self.memory) == has(oldSelf.memory) && (!has(self.memory) || self.memory == oldSelf.memory)").message("memory is immutable: Aura cannot resize a session; create another GdsSession"),
    validation = Rule::new("has(self.graph) == has(oldSelf.graph) && (!has(self.graph) || self.graph == oldSelf.graph)").message("graph is immutable: Aura cannot resize a session; create another GdsSession"),
    validation = Rule::new("has(self.ttl) == has(oldSelf.ttl) && (!has(self.ttl) || self.ttl == oldSelf.ttl)").message("ttl is immutable: it is fixed when the session is created"),
    validation = Rule::new("has(self.instanceRef) == has(oldSelf.instanceRef) && (!has(self.instanceRef) || self.instanceRef == oldSelf.instanceRef)").message("instanceRef is immutable"),
    validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId) && (!has(self.instanceId) || self.instanceId == oldSelf.instanceId)").message("instanceId is immutable"),
    validation = Rule::new("has(self.databaseId) == has(oldSelf.databaseId) && (!has(self.databaseId) || self.databaseId == oldSelf.databaseId)").message("databaseId is immutable"),
    validation = Rule::new("has(self.tenantId) == has(oldSelf.tenantId) && (!has(self.tenantId) || self.tenantId == oldSelf.tenantId)").message("tenantId is immutable"),
    validation = Rule::new("has(self.tenantName) == has(oldSelf.tenantName) && (!has(self.tenantName) || self.tenantName == oldSelf.tenantName)").message("tenantName is immutable"),
    validation = Rule::new("has(self.cloudProvider) == has(oldSelf.cloudProvider) && (!has(self.cloudProvider) || self.cloudProvider == oldSelf.cloudProvider)").message("cloudProvider is immutable"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)").message("region is immutable"),
    validation = Rule::new("!has(self.connectionSecret) || !has(self.connectionSecret.format) || self.connectionSecret.format in ['aura', 'service-binding']").message("a GdsSession's connectionSecret.format is aura or service-binding (or use keys)")
)]
pub struct GdsSessionSpec {
    /// Session name in Aura. Defaults to <namespace>-<name>-<8 hex characters of this
    /// resource's UID>. Aura's create is get-or-create by name within a project: two resources
    /// naming the same session share it. Required under managementPolicy Observe: the session
    /// observed is the one of this name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,

    /// Session memory, e.g. 8GB (2GB, 4GB, 8GB, 16GB, 24GB, 32GB, 48GB, 64GB, 96GB, 128GB,
    /// 192GB, 256GB, 384GB or 512GB). Set this or graph. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+GB$"), length(max = 8))]
    pub memory: Option<String>,

    /// Statistics of the graph to project; the operator asks Aura for a size estimate and uses
    /// the recommended size. Set this or memory. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphStatistics>,

    /// Time to live after the last activity, e.g. 30m, 2h, 1h30m (Aura's default is 1h, the
    /// longest 7 days; a session ends 7 days after creation regardless). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(h|m|s))+$"), length(max = 16))]
    pub ttl: Option<String>,

    /// Attach the session to the instance of this AuraInstance (in this namespace). Its
    /// credentials Secret is used unless credentialsSecretRef is set here, and its connection
    /// keys are copied into this session's Secret. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<LocalRef>,

    /// Attach the session to this Aura instance (8 hex characters). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub instance_id: Option<String>,

    /// Database of the attached instance (multi-database instances). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub database_id: Option<String>,

    /// Tenant (project) id of a standalone session. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    pub tenant_id: Option<String>,

    /// Tenant (project) name of a standalone session, looked up through the API. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub tenant_name: Option<String>,

    /// Cloud provider of a standalone session. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<CloudProvider>,

    /// Region of a standalone session, e.g. europe-west1. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub region: Option<String>,

    /// Secret in this namespace holding the Aura API credential (keys clientId and clientSecret
    /// unless renamed here). Defaults to the referenced AuraInstance's, then to the
    /// operator-wide default credential (if the operator allows it for this namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<CredentialsSecretRef>,

    /// ClusterAuraCredential (cluster-scoped, created by an administrator) whose Aura API
    /// credential to use, if it allows this namespace; its Secret stays out of reach of this
    /// namespace. Excludes credentialsSecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<crate::crd::credential::CredentialRef>,

    /// What to do when the session expires (its time to live ran out) or disappears from Aura:
    /// Report (default) marks the resource Expired and leaves it; Recreate creates the session
    /// again (a new, empty session: projected graphs are lost).
    #[serde(default)]
    pub expired_policy: ExpiredPolicy,

    /// Full (default): the operator creates the session, recreates it by expiredPolicy, and
    /// deletes it when this resource is deleted. Observe: it only reads the live session called
    /// name (within the instance or tenant given, if any) — status and Secret mirror Aura, the
    /// Drifted condition lists where Aura differs from this spec — and never creates,
    /// recreates or deletes a session, not even when this resource is deleted. Observe needs
    /// name; memory (or graph) and the placement are then optional, and expiredPolicy is
    /// ignored.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// The Secret the session's address is written to. Name defaults to <resource name>-gds.
    /// Formats: aura (default: GDS_SESSION_ID, GDS_SESSION_NAME, GDS_SESSION_HOST,
    /// GDS_SESSION_URI, and the attached instance's NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD,
    /// AURA_INSTANCEID), service-binding, or keys of your own.
    #[serde(default)]
    pub connection_secret: ConnectionSecretSpec,
}

/// Statistics of the graph a session will hold, for Aura's size estimate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphStatistics {
    /// Number of nodes.
    #[schemars(range(min = 1))]
    pub node_count: u64,
    /// Number of relationships.
    #[serde(default)]
    pub relationship_count: u64,
    /// Number of distinct node labels.
    #[serde(default)]
    pub node_label_count: u64,
    /// Number of node properties to project.
    #[serde(default)]
    pub node_property_count: u64,
    /// Number of relationship properties to project.
    #[serde(default)]
    pub relationship_property_count: u64,
    /// Algorithm categories that will run; some (node embeddings, link prediction) need more
    /// memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 6))]
    pub algorithm_categories: Vec<AlgorithmCategory>,
}

/// An algorithm category, as Aura's size estimate knows them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmCategory {
    Centrality,
    CommunityDetection,
    NodeEmbedding,
    PathFinding,
    Similarity,
    LinkPrediction,
}

/// What happens when the session expires or disappears from Aura.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ExpiredPolicy {
    /// Report Expired (Ready False) and create nothing.
    #[default]
    Report,
    /// Create the session again.
    Recreate,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GdsSessionStatus {
    /// Aura id of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Session name in Aura.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// Aura status: Creating, Ready, Failed, Expired, Deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::aura::SessionStatus>,
    /// Host of the session; GDS clients connect to neo4j+s://<host>.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// When Aura ends the session at the latest (RFC 3339); inactivity beyond the time to live
    /// ends it sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Memory of the session as Aura reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Aura's size estimate, when the memory was estimated from graph statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<MemoryEstimate>,
    /// Aura instance the session is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Tenant of a standalone session (resolved from tenantName when that is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name of the Secret with the session's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<String>,
    /// The Secret to bind, as the Service Binding specification reads it (set with format
    /// service-binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<super::common::Binding>,
    /// The credentials Secret the session was created with (its own, or its instanceRef's):
    /// deleting the session uses it even when the referenced AuraInstance is gone by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<CredentialsSecretRef>,
    /// The ClusterAuraCredential the session was created with (its own, or its instanceRef's),
    /// kept for its deletion like credentialsSecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<crate::crd::credential::CredentialRef>,
    /// Set before the create call and kept until the session id is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<SessionIntent>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the session is Ready and its Secret usable. Synced: the last reconcile succeeded. Reconciling (kstatus): True
    /// while the operator works towards the spec. Stalled (kstatus): True when only a person can
    /// help (the reason and message say what to do); both False otherwise. Drifted
    /// (managementPolicy Observe only): True when Aura's session differs from the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Aura's size estimate for the graph statistics in the spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryEstimate {
    /// Memory Aura estimates the graph needs, e.g. 3072MiB.
    pub estimated_memory: String,
    /// Session size Aura recommends; the session is created with it.
    pub recommended_size: String,
}

/// A session create the operator is about to make, or made without seeing the answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionIntent {
    /// The session name the create is sent with.
    pub session_name: String,
    /// When the intent was recorded.
    pub since: Time,
}

/// Parses a time to live such as `30m`, `2h` or `1h30m` (units h, m, s).
pub fn parse_ttl(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut seconds: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = match rest[digits..].chars().next()? {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(number.checked_mul(unit)?)?;
        rest = &rest[digits + 1..];
    }
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn attached() -> Value {
        json!({"instanceRef": {"name": "orders"}, "memory": "8GB"})
    }

    fn standalone() -> Value {
        json!({"tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
               "region": "europe-west1", "graph": {"nodeCount": 1000000, "relationshipCount": 5000000}})
    }

    fn cel(spec: &Value, old: Option<&Value>) -> Result<(), String> {
        GdsSessionSpec::validate_cel(spec, old).map_err(|e| e.to_string())
    }

    #[test]
    fn attached_and_standalone_specs_are_valid() {
        assert_eq!(cel(&attached(), None), Ok(()));
        assert_eq!(cel(&standalone(), None), Ok(()));
        let parsed: GdsSessionSpec = serde_json::from_value(attached()).unwrap();
        assert_eq!(parsed.expired_policy, ExpiredPolicy::Report);
    }

    #[test]
    fn a_session_takes_only_the_formats_that_fit_it() {
        for format in ["aura", "service-binding"] {
            let mut spec = attached();
            spec["connectionSecret"] = json!({"format": format});
            assert_eq!(cel(&spec, None), Ok(()), "{format}");
        }
        for format in ["spring-boot", "jdbc", "dotenv"] {
            let mut spec = attached();
            spec["connectionSecret"] = json!({"format": format});
            let err = cel(&spec, None).unwrap_err();
            assert!(err.contains("aura or service-binding"), "{format}: {err}");
        }
    }

    #[test]
    fn memory_and_graph_exclude_each_other() {
        let mut both = attached();
        both["graph"] = json!({"nodeCount": 10});
        assert!(cel(&both, None).unwrap_err().contains("exactly one"));
        let mut neither = attached();
        neither.as_object_mut().unwrap().remove("memory");
        assert!(cel(&neither, None).unwrap_err().contains("set memory"));
    }

    #[test]
    fn placement_is_attached_or_standalone_and_complete() {
        let mut both = standalone();
        both["instanceId"] = json!("c9f0d13a");
        assert!(cel(&both, None).unwrap_err().contains("attach the session"));
        let mut no_region = standalone();
        no_region.as_object_mut().unwrap().remove("region");
        assert!(
            cel(&no_region, None)
                .unwrap_err()
                .contains("cloudProvider and region")
        );
        let mut db = standalone();
        db["databaseId"] = json!("neo4j");
        assert!(cel(&db, None).unwrap_err().contains("databaseId"));
    }

    #[test]
    fn the_session_shape_cannot_change_but_the_policy_can() {
        let mut bigger = attached();
        bigger["memory"] = json!("16GB");
        assert!(
            cel(&bigger, Some(&attached()))
                .unwrap_err()
                .contains("memory is immutable")
        );
        let mut policy = attached();
        policy["expiredPolicy"] = json!("Recreate");
        assert_eq!(cel(&policy, Some(&attached())), Ok(()));
    }

    #[test]
    fn observe_needs_a_name_and_no_size_or_placement() {
        let observe = json!({"managementPolicy": "Observe"});
        let err = cel(&observe, None).unwrap_err();
        assert!(err.contains("Observe needs name"), "{err}");
        let named = json!({"managementPolicy": "Observe", "name": "fraud-analysis"});
        assert_eq!(cel(&named, None), Ok(()));
        let mut in_tenant = named.clone();
        in_tenant["tenantId"] = json!("a1b2c3d4-0000-4000-8000-000000000001");
        assert_eq!(
            cel(&in_tenant, None),
            Ok(()),
            "no cloudProvider or region needed"
        );
        let mut both_sizes = named.clone();
        both_sizes["memory"] = json!("8GB");
        both_sizes["graph"] = json!({"nodeCount": 10});
        assert!(cel(&both_sizes, None).unwrap_err().contains("at most one"));
        let mut both_places = in_tenant.clone();
        both_places["instanceId"] = json!("c9f0d13a");
        assert!(cel(&both_places, None).unwrap_err().contains("at most one"));
        // Full still needs a size and a placement.
        let mut full = named.clone();
        full["managementPolicy"] = json!("Full");
        assert!(cel(&full, None).is_err());
    }

    #[test]
    fn ttls_read_like_go_durations() {
        assert_eq!(parse_ttl("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_ttl("1d"), None);
        assert_eq!(parse_ttl("m"), None);
        assert_eq!(parse_ttl(""), None);
    }
}
