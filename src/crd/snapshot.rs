//! `AuraSnapshot`: one on-demand snapshot of an Aura instance, declared in Kubernetes.
//!
//! A snapshot is taken once, when the resource is first reconciled; the resource then reports
//! its progress and, once `Completed`, can be named as the source of a restore or a clone
//! (`snapshotRef` in an AuraInstance's `source` or `restore.from`). Aura cannot delete snapshots,
//! so deleting the resource only removes it from Kubernetes. With `managementPolicy: Observe` the
//! operator never takes a snapshot: it only reads the one `snapshotId` names.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::instance::{CredentialsSecretRef, LocalRef, ManagementPolicy};

/// An on-demand snapshot of an Aura instance (or an existing snapshot, adopted by id).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aura.neo4j.io",
    version = "v1alpha1",
    kind = "AuraSnapshot",
    namespaced,
    status = "AuraSnapshotStatus",
    shortname = "aurasnap",
    category = "aura",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Instance","type":"string","jsonPath":".status.instanceId"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Credential","type":"string","priority":1,"jsonPath":".spec.credentialRef.name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    cel,
    validation = Rule::new("!(has(self.credentialRef) && has(self.credentialsSecretRef))").message("set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both"),
    validation = Rule::new("has(self.instanceRef) != has(self.instanceId)").message("name the instance: set exactly one of instanceRef and instanceId"),
    validation = Rule::new("has(self.instanceRef) == has(oldSelf.instanceRef) && (!has(self.instanceRef) || self.instanceRef == oldSelf.instanceRef)").message("instanceRef is immutable: a snapshot belongs to one instance; create another AuraSnapshot"),
    validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId) && (!has(self.instanceId) || self.instanceId == oldSelf.instanceId)").message("instanceId is immutable: a snapshot belongs to one instance; create another AuraSnapshot"),
    validation = Rule::new("has(self.snapshotId) == has(oldSelf.snapshotId) && (!has(self.snapshotId) || self.snapshotId == oldSelf.snapshotId)").message("snapshotId is immutable"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.snapshotId)").message("managementPolicy Observe needs snapshotId: the operator only watches a snapshot that already exists, it never takes one")
)]
pub struct AuraSnapshotSpec {
    /// AuraInstance in this namespace whose instance is snapshotted. Its credentials Secret is
    /// used unless credentialsSecretRef is set here. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<LocalRef>,

    /// Aura id (8 hex characters) of the instance to snapshot, for an instance not managed by
    /// an AuraInstance. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub instance_id: Option<String>,

    /// Adopt this existing snapshot (for example a scheduled one) instead of taking a new one,
    /// so that it can be named as a restore or clone source. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub snapshot_id: Option<String>,

    /// Full (default): the operator takes the snapshot, or adopts the one snapshotId names.
    /// Observe: it only reads the snapshot snapshotId names (required) and mirrors it in the
    /// status; it never asks Aura for a snapshot. Aura cannot delete snapshots, so deleting the
    /// resource changes nothing in Aura under either policy.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

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
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuraSnapshotStatus {
    /// Aura id of the snapshotted instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Aura id of the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// Aura status: Pending, InProgress, Completed, Failed (or Cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::aura::SnapshotStatus>,
    /// AdHoc (taken on demand) or Scheduled (taken by Aura's schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When Aura took the snapshot (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Whether the snapshot can be the source of a clone or an overwrite of another instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// Set before the snapshot is requested and kept until its id is recorded: after a restart,
    /// the operator recognises the snapshot it asked for instead of taking a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<SnapshotIntent>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the snapshot is Completed and usable as a source. Synced: the last reconcile
    /// succeeded. Reconciling (kstatus): True
    /// while the operator works towards the spec. Stalled (kstatus): True when only a person can
    /// help (the reason and message say what to do); both False otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A snapshot request the operator is about to send, or sent without seeing the answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotIntent {
    /// The instance the snapshot is requested for.
    pub instance_id: String,
    /// When the intent was recorded, before the request was sent. The snapshot Aura takes for
    /// it has a timestamp at or after this time (to the second).
    pub since: Time,
}

impl AuraSnapshot {
    /// The instance and snapshot ids, once the snapshot is `Completed`.
    pub fn completed_source(&self) -> Option<(&str, &str)> {
        let status = self.status.as_ref()?;
        if status.status != Some(crate::aura::SnapshotStatus::Completed) {
            return None;
        }
        Some((
            status.instance_id.as_deref()?,
            status.snapshot_id.as_deref()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_instance_is_named_exactly_once() {
        let by_ref = json!({"instanceRef": {"name": "orders"}});
        assert!(AuraSnapshotSpec::validate_cel(&by_ref, None).is_ok());
        let by_id = json!({"instanceId": "c9f0d13a"});
        assert!(AuraSnapshotSpec::validate_cel(&by_id, None).is_ok());
        let both = json!({"instanceId": "c9f0d13a", "instanceRef": {"name": "orders"}});
        let err = AuraSnapshotSpec::validate_cel(&both, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exactly one of instanceRef and instanceId"),
            "{err}"
        );
        assert!(AuraSnapshotSpec::validate_cel(&json!({}), None).is_err());
    }

    #[test]
    fn the_instance_and_snapshot_cannot_change() {
        let old = json!({"instanceId": "c9f0d13a"});
        let new = json!({"instanceId": "0000aaaa"});
        let err = AuraSnapshotSpec::validate_cel(&new, Some(&old))
            .unwrap_err()
            .to_string();
        assert!(err.contains("instanceId is immutable"), "{err}");
        let adopted =
            json!({"instanceId": "c9f0d13a", "snapshotId": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"});
        let err = AuraSnapshotSpec::validate_cel(&adopted, Some(&old))
            .unwrap_err()
            .to_string();
        assert!(err.contains("snapshotId is immutable"), "{err}");
        let creds = json!({"instanceId": "c9f0d13a", "credentialsSecretRef": {"name": "other"}});
        assert!(AuraSnapshotSpec::validate_cel(&creds, Some(&old)).is_ok());
    }

    #[test]
    fn observe_needs_a_snapshot_id() {
        let observe = json!({"instanceId": "c9f0d13a", "managementPolicy": "Observe"});
        let err = AuraSnapshotSpec::validate_cel(&observe, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Observe needs snapshotId"), "{err}");
        let named = json!({"instanceId": "c9f0d13a", "managementPolicy": "Observe",
                           "snapshotId": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"});
        assert!(AuraSnapshotSpec::validate_cel(&named, None).is_ok());
        let parsed: AuraSnapshotSpec = serde_json::from_value(named).unwrap();
        assert_eq!(parsed.management_policy, ManagementPolicy::Observe);
        let full: AuraSnapshotSpec =
            serde_json::from_value(json!({"instanceId": "c9f0d13a"})).unwrap();
        assert_eq!(full.management_policy, ManagementPolicy::Full);
    }

    #[test]
    fn only_a_completed_snapshot_is_a_source() {
        let mut snap = AuraSnapshot::new(
            "s",
            serde_json::from_value(json!({"instanceId": "c9f0d13a"})).unwrap(),
        );
        snap.status = Some(AuraSnapshotStatus {
            instance_id: Some("c9f0d13a".into()),
            snapshot_id: Some("6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10".into()),
            status: Some(crate::aura::SnapshotStatus::InProgress),
            ..Default::default()
        });
        assert_eq!(snap.completed_source(), None);
        snap.status.as_mut().unwrap().status = Some(crate::aura::SnapshotStatus::Completed);
        assert_eq!(
            snap.completed_source(),
            Some(("c9f0d13a", "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"))
        );
    }
}
