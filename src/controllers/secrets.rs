//! The Secrets this operator writes for applications: the keys they carry, the labels that
//! mark them, and how they are written (server-side apply), read back, compared and released.
//! Each kind decides its Secret's content; the AuraInstance's connection keys follow the
//! credentials file Aura offers for download, and a GdsSession's Secret repeats them.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use secrecy::SecretString;

use crate::crd::common::ConnectionSecretSpec;

pub const URI: &str = "NEO4J_URI";
pub const USERNAME: &str = "NEO4J_USERNAME";
pub const PASSWORD: &str = "NEO4J_PASSWORD";
pub const INSTANCE_ID: &str = "AURA_INSTANCEID";
pub const INSTANCE_NAME: &str = "AURA_INSTANCENAME";

/// Label on every Secret this operator writes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "aura-operator");
/// Watches only the Secrets this operator writes.
pub fn managed() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1))
}

/// Label naming the Aura instance a Secret connects to: how a Secret kept after its resource
/// went (`deletionPolicy: Retain`) is found again, by people and by a resource adopting it.
pub const INSTANCE_ID_LABEL: &str = "aura.neo4j.io/instance-id";

/// A Secret as read back, and what it says about an instance.
pub struct Existing {
    pub secret: Secret,
}

impl Existing {
    fn value(&self, key: &str) -> Option<&[u8]> {
        self.secret
            .data
            .as_ref()?
            .get(key)
            .map(|b| b.0.as_slice())
            .filter(|b| !b.is_empty())
    }

    /// The stored username, if the Secret is about `instance_id` and holds one.
    pub fn username_for(&self, instance_id: &str) -> Option<String> {
        if self.value(INSTANCE_ID)? != instance_id.as_bytes() {
            return None;
        }
        String::from_utf8(self.value(USERNAME)?.to_vec()).ok()
    }

    /// The stored password, if the Secret is about `instance_id` and holds one.
    pub fn password_for(&self, instance_id: &str) -> Option<SecretString> {
        if self.value(INSTANCE_ID)? != instance_id.as_bytes() {
            return None;
        }
        let password = std::str::from_utf8(self.value(PASSWORD)?).ok()?;
        Some(SecretString::from(password.to_owned()))
    }

    /// Whether the Secret already has exactly this content, labels and owner.
    pub fn matches(&self, desired: &Secret) -> bool {
        let ours = desired.data.as_ref().into_iter().flatten();
        let have = self.secret.data.as_ref();
        let data_same = ours
            .into_iter()
            .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v));
        let subset = |want: &Option<BTreeMap<String, String>>,
                      got: &Option<BTreeMap<String, String>>| {
            want.iter()
                .flatten()
                .all(|(k, v)| got.as_ref().and_then(|g| g.get(k)) == Some(v))
        };
        data_same
            && subset(&desired.metadata.labels, &self.secret.metadata.labels)
            && subset(
                &desired.metadata.annotations,
                &self.secret.metadata.annotations,
            )
            && self.secret.metadata.owner_references == desired.metadata.owner_references
            && self.secret.metadata.deletion_timestamp.is_none()
    }
}

/// A Secret owned by `owner` (deleted with it unless released first, watched through
/// `.owns()`), with the operator's label, `kind_label`, and what `spec` adds.
pub fn owned<K: Resource<DynamicType = ()>>(
    owner: &K,
    name: String,
    spec: &ConnectionSecretSpec,
    kind_label: (&str, String),
    data: BTreeMap<String, ByteString>,
) -> Secret {
    let mut labels = spec.labels.clone();
    labels.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    labels.insert(kind_label.0.to_owned(), kind_label.1);
    Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: owner.namespace(),
            labels: Some(labels),
            annotations: (!spec.annotations.is_empty()).then(|| spec.annotations.clone()),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Lets the Secret outlive its resource: without the owner reference the garbage collector
/// keeps it when the resource goes. Returns false if there was no Secret to keep.
pub async fn release(api: &Api<Secret>, name: &str) -> kube::Result<bool> {
    let patch = serde_json::json!({ "metadata": { "ownerReferences": null } });
    let params = super::finalizer::params();
    match api.patch(name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// A Secret kept after its resource went (no owner) that holds the password of `instance_id`.
pub async fn find_released(api: &Api<Secret>, instance_id: &str) -> kube::Result<Option<Existing>> {
    let selector = format!(
        "{}={},{INSTANCE_ID_LABEL}={instance_id}",
        MANAGED_BY.0, MANAGED_BY.1
    );
    let found = api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await?;
    Ok(found
        .items
        .into_iter()
        .filter(|s| {
            s.metadata
                .owner_references
                .as_ref()
                .is_none_or(Vec::is_empty)
        })
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .map(|secret| Existing { secret })
        .find(|e| e.password_for(instance_id).is_some()))
}

/// Reads the Secret, if it exists.
pub async fn read(api: &Api<Secret>, name: &str) -> kube::Result<Option<Existing>> {
    Ok(api.get_opt(name).await?.map(|secret| Existing { secret }))
}

/// Writes the Secret with server-side apply. The Secret is never logged.
pub async fn write(api: &Api<Secret>, secret: &Secret, field_manager: &str) -> kube::Result<()> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let params = PatchParams::apply(field_manager).force();
    let mut body = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    body["apiVersion"] = "v1".into();
    body["kind"] = "Secret".into();
    api.patch(&name, &params, &Patch::Apply(body)).await?;
    Ok(())
}
