//! The optional connection ConfigMap: the details that are not secret (`NEO4J_URI`,
//! `NEO4J_HOST`, `AURA_INSTANCEID`, `AURA_INSTANCENAME`), for tools that may not read Secrets.
//!
//! Owned by the AuraInstance like the Secret (and marked with its installation class like it),
//! and released like it on `deletionPolicy: Retain` (the instance keeps running, so what points
//! at it stays true). Not watched: a deleted ConfigMap comes back at the next pass, at the
//! latest one resync interval later. Dropping `connectionConfigMap` from the spec deletes the
//! ConfigMap the status names.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::secret::INSTANCE_LABEL;
use super::{Pass, Result};
use crate::aura::Instance;
use crate::controllers::connection::marks;
use crate::controllers::connection::secrets::{INSTANCE_ID_LABEL, MANAGED_BY};
use crate::controllers::machinery::FIELD_MANAGER;
use crate::crd::AuraInstance;

/// The desired ConfigMap for `aura` (as Aura reports it, `uri` as last known), owned by the
/// AuraInstance.
pub fn build(
    resource: &AuraInstance,
    name: String,
    aura: &Instance,
    uri: Option<&str>,
) -> ConfigMap {
    let id = aura.id.to_string();
    let mut data = BTreeMap::new();
    data.insert("AURA_INSTANCEID".to_owned(), id.clone());
    data.insert("AURA_INSTANCENAME".to_owned(), aura.name.clone());
    if let Some(uri) = uri {
        data.insert("NEO4J_URI".to_owned(), uri.to_owned());
        if let Some(host) = url::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            data.insert("NEO4J_HOST".to_owned(), host);
        }
    }
    let mut labels = BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (INSTANCE_LABEL.to_owned(), resource.name_any()),
        (INSTANCE_ID_LABEL.to_owned(), id),
    ]);
    marks::mark_as_owner(&mut labels, resource);
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: resource.namespace(),
            labels: Some(labels),
            owner_references: resource.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Whether `have` already carries what `want` says (data, labels and class label, owner).
fn matches(have: &ConfigMap, want: &ConfigMap) -> bool {
    let labels_there = want
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| have.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    have.data == want.data
        && labels_there
        && marks::same_class(have, want)
        && have.metadata.owner_references == want.metadata.owner_references
        && have.metadata.deletion_timestamp.is_none()
}

impl Pass<'_> {
    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.ctx.kube.clone(), &self.namespace())
    }

    /// Writes the ConfigMap if asked for and missing or different; deletes one no longer
    /// asked for (or renamed).
    pub(super) async fn write_config_map(&mut self, instance: &Instance) -> Result<()> {
        let wanted = self.obj.connection_config_map_name();
        if let Some(old) = self.status.connection_config_map.clone()
            && wanted.as_ref() != Some(&old)
        {
            self.delete_config_map(&old).await?;
            self.status.connection_config_map = None;
        }
        let Some(name) = wanted else {
            return Ok(());
        };
        let api = self.config_maps();
        let uri = instance
            .connection_url
            .as_deref()
            .or(self.status.connection_url.as_deref());
        let desired = build(&self.obj, name.clone(), instance, uri);
        let existing = api.get_opt(&name).await?;
        if !existing.is_some_and(|have| matches(&have, &desired)) {
            let mut body = serde_json::to_value(&desired).map_err(kube::Error::SerdeError)?;
            body["apiVersion"] = "v1".into();
            body["kind"] = "ConfigMap".into();
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let written = api.patch(&name, &params, &Patch::Apply(body)).await?;
            marks::unmark_if_kept(&api, &written, &desired).await?;
            self.ctx.metrics.secret_written("AuraInstance");
        }
        self.status.connection_config_map = Some(name);
        Ok(())
    }

    /// Deletes a ConfigMap this resource wrote, if it is still this resource's.
    async fn delete_config_map(&self, name: &str) -> Result<()> {
        let api = self.config_maps();
        let Some(have) = api.get_opt(name).await? else {
            return Ok(());
        };
        let ours = have
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == self.obj.meta().uid.as_ref());
        if ours {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
