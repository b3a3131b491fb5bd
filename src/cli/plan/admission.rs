//! What the API server would say to the manifest: its CRD's schema, defaults and CEL rules,
//! including the rules that compare with the object in the cluster (an immutable region), by
//! the same in-memory API server `sandbox` serves, in this process. A manifest it refuses is
//! reported as refused, not planned; one it admits is planned with its defaults filled in, as
//! the controller would see it.

use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use memory_apiserver::ApiServer;
use serde_json::Value;

/// The refusal, as the API server words it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: String,
    pub message: String,
}

/// A private API server with the operator's CRDs.
pub struct Admission {
    api: ApiServer,
}

impl Admission {
    pub fn new() -> Self {
        let api = ApiServer::new();
        for (_, crd) in crate::cli::crd::all() {
            let crd = serde_json::to_value(crd).unwrap_or_default();
            if let Err(e) = api.install_crd(crd) {
                tracing::warn!(error = %e, "a CRD could not be installed for plan's checks");
            }
        }
        Self { api }
    }

    /// `object` as the API server would store it in `namespace`: created, or (when `current`,
    /// the object in the cluster, is given) an update of it, so that transition rules apply.
    pub async fn admit(
        &self,
        namespace: &str,
        object: &Value,
        current: Option<&Value>,
    ) -> Result<Value, Refusal> {
        self.api.create_namespace(namespace);
        let api = self.api_for(namespace, object)?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let result = match current {
            Some(current) => self.update(&api, current, object).await,
            None => create(&api, object).await,
        };
        let _ = api.delete(name, &DeleteParams::default()).await;
        result
    }

    async fn update(
        &self,
        api: &Api<DynamicObject>,
        current: &Value,
        object: &Value,
    ) -> Result<Value, Refusal> {
        let stored = create(api, &bare(current)).await?;
        let mut next: DynamicObject = parse(bare(object))?;
        next.metadata.resource_version = stored["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        let name = next.metadata.name.clone().unwrap_or_default();
        let updated = api
            .replace(&name, &PostParams::default(), &next)
            .await
            .map_err(refusal)?;
        Ok(serde_json::to_value(updated).unwrap_or_default())
    }

    fn api_for(&self, namespace: &str, object: &Value) -> Result<Api<DynamicObject>, Refusal> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let info = self
            .api
            .resource_for_kind(group, version, kind)
            .ok_or_else(|| Refusal {
                reason: "NotFound".to_owned(),
                message: format!("no matches for kind {kind:?} in version {api_version:?}"),
            })?;
        let resource = ApiResource::from_gvk_with_plural(&gvk, &info.plural);
        Ok(Api::namespaced_with(
            self.api.client(),
            namespace,
            &resource,
        ))
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new()
    }
}

async fn create(api: &Api<DynamicObject>, object: &Value) -> Result<Value, Refusal> {
    let object: DynamicObject = parse(bare(object))?;
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(refusal)?;
    Ok(serde_json::to_value(created).unwrap_or_default())
}

/// The object as a user would write it: apiVersion, kind, name, labels, annotations and spec.
fn bare(object: &Value) -> Value {
    let meta = &object["metadata"];
    let mut metadata = serde_json::Map::new();
    for key in ["name", "labels", "annotations"] {
        if !meta[key].is_null() {
            metadata.insert(key.to_owned(), meta[key].clone());
        }
    }
    serde_json::json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "metadata": metadata,
        "spec": object["spec"],
    })
}

fn parse(object: Value) -> Result<DynamicObject, Refusal> {
    serde_json::from_value(object).map_err(|e| Refusal {
        reason: "BadRequest".to_owned(),
        message: format!("not a Kubernetes object: {e}"),
    })
}

fn refusal(err: kube::Error) -> Refusal {
    match err {
        kube::Error::Api(status) => Refusal {
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => Refusal {
            reason: "Error".to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instance(region: &str, memory: &str) -> Value {
        json!({
            "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
            "metadata": {"name": "orders"},
            "spec": {"tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
                     "region": region, "type": "professional-db", "memory": memory}
        })
    }

    #[tokio::test]
    async fn schema_and_transition_rules_refuse_as_the_api_server_does() {
        let admission = Admission::new();
        let admitted = admission
            .admit("team-a", &instance("europe-west1", "2GB"), None)
            .await
            .unwrap();
        assert_eq!(
            admitted["spec"]["managementPolicy"], "Full",
            "defaults filled in"
        );
        let refused = admission
            .admit("team-a", &instance("europe-west1", "lots"), None)
            .await
            .unwrap_err();
        assert!(refused.message.contains("spec.memory"), "{refused:?}");
        let current = instance("europe-west1", "2GB");
        let moved = admission
            .admit("team-a", &instance("us-east1", "2GB"), Some(&current))
            .await
            .unwrap_err();
        assert!(moved.message.contains("region is immutable"), "{moved:?}");
        let resized = admission
            .admit("team-a", &instance("europe-west1", "4GB"), Some(&current))
            .await
            .unwrap();
        assert_eq!(resized["spec"]["memory"], "4GB");
    }
}
