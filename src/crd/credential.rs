//! `ClusterAuraCredential`: an Aura API credential a cluster administrator hands out to chosen
//! namespaces, for chosen tenants, within limits that protect the bill.
//!
//! An Aura API key carries every right of its owner in every project and never expires, so a
//! key must not be usable by whoever can create an AuraInstance somewhere. The key stays in a
//! Secret of a namespace namespace users never need to read (the operator's own unless
//! `spec.secretRef.namespace` names another); this cluster-scoped resource says who may use it
//! and for what. Resources name it with `spec.credentialRef`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{default_client_id_key, default_client_secret_key};
use super::instance::InstanceType;

/// An Aura API credential that resources of the allowed namespaces may name
/// (`spec.credentialRef`), for the allowed tenants and within the limits.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aura.neo4j.io",
    version = "v1alpha1",
    kind = "ClusterAuraCredential",
    status = "ClusterAuraCredentialStatus",
    shortname = "auracred",
    category = "aura",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".spec.secretRef.name"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","priority":1,"jsonPath":".spec.allowedNamespaces.names"}"#,
    printcolumn = r#"{"name":"Tenants","type":"string","priority":1,"jsonPath":".spec.allowedTenants"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuraCredentialSpec {
    /// The Secret holding the Aura API key: in the namespace `namespace` names, else in the
    /// namespace of the operator installation that serves this credential (namespace users need
    /// no access to it).
    pub secret_ref: OperatorSecretRef,

    /// Namespaces whose resources may use this credential: those listed by name, and those
    /// whose labels match the selector. Any other namespace is refused (CredentialNotAllowed).
    pub allowed_namespaces: AllowedNamespaces,

    /// Aura tenant (project) ids resources may use this credential for; "*" allows every
    /// tenant the key can reach. A tenantName is looked up (a read) and then checked; an
    /// adopted instance's or a referenced instance's tenant is read from Aura and checked
    /// before anything changes.
    #[schemars(
        length(min = 1),
        inner(regex(
            pattern = r"^(\*|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
        ))
    )]
    pub allowed_tenants: Vec<String>,

    /// Limits on the AuraInstances that use this credential, to protect the bill. Unset
    /// limits do not apply.
    #[serde(default)]
    pub limits: CredentialLimits,
}

/// The Secret of an Aura API key, kept away from namespace users.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorSecretRef {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the Secret. Unset: the namespace of the operator installation that serves
    /// this credential (its `--operator-namespace`, the Helm release namespace), so that two
    /// installations in different namespaces would each look in their own: name it whenever
    /// more than one installation runs. The operator must be allowed to read Secrets there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub namespace: Option<String>,
    /// Key of the client id.
    #[serde(default = "default_client_id_key")]
    pub client_id_key: String,
    /// Key of the client secret.
    #[serde(default = "default_client_secret_key")]
    pub client_secret_key: String,
}

/// Which namespaces may use a credential: listed by name, or selected by their labels.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
// `has` first: on a real server `size(self.names)` with no `names` is an evaluation error
// ("no such key"), which reaches the user instead of the message.
#[x_kube(validation = Rule::new("(has(self.names) && size(self.names) > 0) || has(self.selector)").message("name the allowed namespaces (names) or select them by label (selector)"))]
pub struct AllowedNamespaces {
    /// Namespace names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// A label selector over namespaces (as in a NetworkPolicy's namespaceSelector). An empty
    /// selector ({}) selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// Limits on the AuraInstances that use a credential.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialLimits {
    /// Instance types (tiers) that may be created or adopted. Unset: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_types: Vec<InstanceType>,
    /// The largest memory an instance may have, e.g. 8GB (also caps resizes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+GB$"))]
    pub max_memory: Option<String>,
    /// The most AuraInstances one namespace may have that use this credential; the oldest
    /// ones keep it, a newer one beyond the limit is refused before it creates or adopts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_instances_per_namespace: Option<u32>,
}

/// Whether the credential's Secret is usable; the secret itself is never shown.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuraCredentialStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the Secret exists and has both keys (True, reason Ready), or not (False, reason
    /// CredentialsInvalid, the message says what is missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A reference to a ClusterAuraCredential.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct CredentialRef {
    /// ClusterAuraCredential name.
    #[schemars(length(min = 1))]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn allowed_namespaces_must_name_or_select_some() {
        assert!(AllowedNamespaces::validate_cel(&json!({"names": ["team-a"]}), None).is_ok());
        let selector = json!({"selector": {"matchLabels": {"team": "a"}}});
        assert!(AllowedNamespaces::validate_cel(&selector, None).is_ok());
        let err = AllowedNamespaces::validate_cel(&json!({"names": []}), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("name the allowed namespaces"), "{err}");
    }

    #[test]
    fn a_minimal_credential_parses_with_no_limits() {
        let spec: ClusterAuraCredentialSpec = serde_json::from_value(json!({
            "secretRef": {"name": "team-a-aura"},
            "allowedNamespaces": {"names": ["team-a"]},
            "allowedTenants": ["*"]
        }))
        .unwrap();
        assert_eq!(spec.secret_ref.client_id_key, "clientId");
        assert_eq!(spec.limits, CredentialLimits::default());
    }
}
