//! The Secrets this operator writes for applications: the keys they carry, the labels that
//! mark them, and how they are written (server-side apply), read back, compared and released.
//! Each kind decides its Secret's content, in the format its spec asks for (see
//! [`super::formats`]); every Secret carries a hash of its content, so that
//! consumers can tell when it changed.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use secrecy::SecretString;

use super::formats::{self, FIELD_KEYS_ANNOTATION, Fields, Layout};
use super::marks;
use crate::crd::common::ConnectionSecretSpec;

/// Annotation with a hash of the Secret's data, changed whenever the data changes: what tools
/// that roll consumers on a change (Reloader and the like) can key on.
pub const CONTENT_HASH_ANNOTATION: &str = "aura.neo4j.io/content-hash";
/// Annotation listing the keys of the Secret's layout: after a format change, the keys to
/// remove.
pub const KEYS_ANNOTATION: &str = "aura.neo4j.io/keys";

/// Label on every Secret this operator writes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "aura-operator");
/// Selects the Secrets this operator writes (of every installation: the watch adds its class).
pub fn managed() -> String {
    format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
}

/// Label naming the Aura instance a Secret connects to: how a Secret kept after its resource
/// went (`deletionPolicy: Retain`) is found again, by people and by a resource adopting it.
pub const INSTANCE_ID_LABEL: &str = "aura.neo4j.io/instance-id";

/// A Secret as read back, and what it says about an instance.
pub struct Existing {
    pub secret: Secret,
}

impl Existing {
    /// The details the Secret holds, wherever its format put them.
    pub fn fields(&self) -> Fields {
        let empty = BTreeMap::new();
        let data = self.secret.data.as_ref().unwrap_or(&empty);
        let field_keys = self
            .secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FIELD_KEYS_ANNOTATION));
        formats::read_back(data, field_keys.map(String::as_str))
    }

    /// The details, if the Secret is about `instance_id`: by its instance-id label, or (for a
    /// Secret without one, written by hand) by the instance id it holds.
    fn fields_for(&self, instance_id: &str) -> Option<Fields> {
        let fields = self.fields();
        let label = self
            .secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_ID_LABEL));
        let about = label
            .map(String::as_str)
            .or_else(|| fields.get("instance_id"));
        (about == Some(instance_id)).then_some(fields)
    }

    /// The stored username, if the Secret is about `instance_id` and holds one.
    pub fn username_for(&self, instance_id: &str) -> Option<String> {
        self.fields_for(instance_id)?
            .get("username")
            .map(str::to_owned)
    }

    /// The stored password, if the Secret is about `instance_id` and holds one.
    pub fn password_for(&self, instance_id: &str) -> Option<SecretString> {
        let fields = self.fields_for(instance_id)?;
        Some(SecretString::from(fields.get("password")?.to_owned()))
    }

    /// Keys the Secret's layout had (its keys annotation; for a Secret written before formats,
    /// the `aura` keys of `kind`) that `desired`'s layout does not have, and that are still
    /// there. A key left out of `desired` only because its value is unknown is not stale.
    fn stale_keys(&self, desired: &Secret, kind: formats::Kind) -> Vec<String> {
        let annotation = |s: &Secret| {
            s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KEYS_ANNOTATION))
                .cloned()
        };
        let had = annotation(&self.secret).unwrap_or_else(|| {
            Layout::of(&ConnectionSecretSpec::default(), kind)
                .key_names()
                .join(",")
        });
        let keeps = annotation(desired).unwrap_or_default();
        let keeps: Vec<&str> = keeps.split(',').collect();
        let present = self.secret.data.as_ref();
        had.split(',')
            .filter(|k| !k.is_empty() && !keeps.contains(k))
            .filter(|k| present.is_some_and(|d| d.contains_key(*k)))
            .map(str::to_owned)
            .collect()
    }

    /// The content hash the Secret carries, or (written before hashes) of its data.
    fn content_hash(&self) -> String {
        let annotated = self
            .secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONTENT_HASH_ANNOTATION));
        match annotated {
            Some(hash) => hash.clone(),
            None => formats::content_hash(self.secret.data.as_ref().unwrap_or(&BTreeMap::new())),
        }
    }

    /// Whether the Secret already has exactly this content, labels (its class label, or its
    /// lack of one, included) and owner.
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
            && marks::same_class(&self.secret, desired)
            && self.secret.metadata.owner_references == desired.metadata.owner_references
            && self.secret.metadata.deletion_timestamp.is_none()
    }
}

/// Whether writing `desired` changes the content of the Secret that `existing` is: a new
/// content hash, which consumers are told about.
pub fn content_changes(existing: Option<&Existing>, desired: &Secret) -> bool {
    let desired_hash = desired
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CONTENT_HASH_ANNOTATION));
    existing.is_some_and(|e| Some(&e.content_hash()) != desired_hash)
}

/// A Secret owned by `owner` (deleted with it unless released first, watched through
/// `.owns()`), with the operator's label, the owner's installation class, `kind_label`, what
/// `spec` adds, and the annotations saying where each detail is in `data` (laid out by
/// `layout`) and the hash of `data`.
pub fn owned<K: Resource<DynamicType = ()>>(
    owner: &K,
    name: String,
    spec: &ConnectionSecretSpec,
    kind_label: (&str, String),
    layout: &Layout,
    data: BTreeMap<String, ByteString>,
) -> Secret {
    let mut labels = spec.labels.clone();
    labels.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    labels.insert(kind_label.0.to_owned(), kind_label.1);
    marks::mark_as_owner(&mut labels, owner);
    let mut annotations = spec.annotations.clone();
    annotations.insert(FIELD_KEYS_ANNOTATION.to_owned(), layout.field_keys());
    annotations.insert(KEYS_ANNOTATION.to_owned(), layout.key_names().join(","));
    annotations.insert(
        CONTENT_HASH_ANNOTATION.to_owned(),
        formats::content_hash(&data),
    );
    Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: owner.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Lets an owned object (a Secret, a ConfigMap) outlive its resource: without the owner
/// reference the garbage collector keeps it when the resource goes. Returns false if there was
/// no object to keep.
pub async fn release<K>(api: &Api<K>, name: &str) -> kube::Result<bool>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "metadata": { "ownerReferences": null } });
    let params = crate::controllers::machinery::finalizer::params();
    match api.patch(name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// A Secret kept after its resource went (no owner) that holds the password of `instance_id`.
pub async fn find_released(api: &Api<Secret>, instance_id: &str) -> kube::Result<Option<Existing>> {
    let selector = format!("{},{INSTANCE_ID_LABEL}={instance_id}", managed());
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

/// Writes the Secret with server-side apply, then removes the keys of an earlier layout that
/// this one no longer has (a format change): the new keys, password included, are in place
/// before the old ones go. The Secret is never logged.
pub async fn write(
    api: &Api<Secret>,
    secret: &Secret,
    existing: Option<&Existing>,
    kind: formats::Kind,
    field_manager: &str,
) -> kube::Result<()> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let params = PatchParams::apply(field_manager).force();
    let mut body = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    body["apiVersion"] = "v1".into();
    body["kind"] = "Secret".into();
    let written = api.patch(&name, &params, &Patch::Apply(body)).await?;
    marks::unmark_if_kept(api, &written, secret).await?;
    let stale = existing
        .map(|e| e.stale_keys(secret, kind))
        .unwrap_or_default();
    if !stale.is_empty() {
        // A real API server already dropped keys only this manager applied; keys another
        // writer set (a Secret made by hand, then adopted) need saying.
        let removed: serde_json::Map<String, serde_json::Value> = stale
            .into_iter()
            .map(|k| (k, serde_json::Value::Null))
            .collect();
        let patch = serde_json::json!({ "data": removed });
        let params = PatchParams {
            field_manager: Some(field_manager.to_owned()),
            ..PatchParams::default()
        };
        api.patch(&name, &params, &Patch::Merge(&patch)).await?;
    }
    Ok(())
}
