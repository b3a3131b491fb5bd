//! The installation-class label on the objects the operator owns (connection Secrets, admin
//! Secrets, connection ConfigMaps): each carries its owner's class, so that an installation's
//! watch of its owned objects selects its own by label, as its watch of resources does (see
//! [`installation`](crate::controllers::tenancy::installation)). Here, below the tenancy layer,
//! because the Secrets are written here; the class itself is the tenancy layer's.
//!
//! The owner's label, not the installation's own class: an installation serves only resources
//! of its class, so the two agree, and the builders of owned objects need nothing but the owner.

use std::collections::BTreeMap;
use std::fmt::Debug;

use kube::api::{Api, Patch};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// The label that names the installation class serving an object.
pub const CLASS_LABEL: &str = "aura.neo4j.io/installation-class";

/// The class an object is marked for; None: the default installation's.
pub fn class_of(obj: &impl ResourceExt) -> Option<&str> {
    obj.labels().get(CLASS_LABEL).map(String::as_str)
}

/// Marks `labels` (of an object `owner` owns) with the owner's class: the owner's label, or
/// none (a label the user's own labels carried included: the class is not theirs to choose).
pub fn mark_as_owner(labels: &mut BTreeMap<String, String>, owner: &impl ResourceExt) {
    match class_of(owner) {
        Some(class) => labels.insert(CLASS_LABEL.to_owned(), class.to_owned()),
        None => labels.remove(CLASS_LABEL),
    };
}

/// Whether `existing` is marked for the class `desired` is (both unmarked included): a
/// resource moved to another class, or a Secret written before owned objects were marked,
/// is written again once.
pub fn same_class(existing: &impl ResourceExt, desired: &impl ResourceExt) -> bool {
    class_of(existing) == class_of(desired)
}

/// Takes the class label off `written` (the object as a server-side apply of `desired` left it)
/// when `desired` has none but the label stayed: apply drops a label its field manager stops
/// sending only if no other manager set it too (an older version, a person, `kubectl label`).
/// No write when there is nothing to take off.
pub async fn unmark_if_kept<K>(api: &Api<K>, written: &K, desired: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if same_class(written, desired) {
        return Ok(());
    }
    let patch = serde_json::json!({ "metadata": { "labels": { CLASS_LABEL: null } } });
    api.patch(&written.name_any(), &merge_params(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Gives the object `name`, if it exists and is marked otherwise, the class of `owner`: for an
/// owned object no pass writes in full (the admin Secret, written once), moved with the rest.
pub async fn remark<K, O>(api: &Api<K>, name: &str, owner: &O) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    O: ResourceExt,
{
    let Some(have) = api.get_opt(name).await? else {
        return Ok(());
    };
    if class_of(&have) == class_of(owner) {
        return Ok(());
    }
    let patch = serde_json::json!({ "metadata": { "labels": { CLASS_LABEL: class_of(owner) } } });
    api.patch(name, &merge_params(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn merge_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(crate::controllers::machinery::FIELD_MANAGER.to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::ObjectMeta;

    use super::*;

    fn marked(labels: BTreeMap<String, String>) -> Secret {
        let metadata = ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        };
        Secret {
            metadata,
            ..Secret::default()
        }
    }

    fn owner(class: Option<&str>) -> Secret {
        let label = class.map(|c| (CLASS_LABEL.to_owned(), c.to_owned()));
        marked(label.into_iter().collect())
    }

    #[test]
    fn an_owned_object_takes_its_owners_class_and_only_that() {
        let mut labels = BTreeMap::from([(CLASS_LABEL.to_owned(), "chosen".to_owned())]);
        mark_as_owner(&mut labels, &owner(Some("blue")));
        assert_eq!(labels.get(CLASS_LABEL).map(String::as_str), Some("blue"));
        let blue = marked(labels.clone());
        mark_as_owner(&mut labels, &owner(None));
        assert!(!labels.contains_key(CLASS_LABEL), "{labels:?}");
        let unmarked = marked(labels);
        assert!(!same_class(&blue, &unmarked));
        assert!(same_class(&unmarked, &owner(None)));
        assert!(same_class(&blue, &owner(Some("blue"))));
        assert!(!same_class(&blue, &owner(Some("green"))));
    }
}
