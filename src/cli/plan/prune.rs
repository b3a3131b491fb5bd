//! `--prune`: resources in the cluster that the files do not name, and what deleting them
//! would do in Aura, by the same rules as the controllers' cleanup (deletionPolicy, Observe,
//! deletionProtection, the confirmation an adopted instance needs).

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::cluster::Cluster;
use super::report::{Action, Entry};
use crate::crd::instance::{
    CONFIRM_DELETE_ANNOTATION, DeletionPolicy, InstanceOrigin, ManagementPolicy,
};
use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};

/// (kind, namespace, name) of every resource the files name.
pub type Named = BTreeSet<(String, String, String)>;

/// The entries for resources of `namespaces` the files do not name.
pub async fn unnamed(
    cluster: &mut Cluster,
    namespaces: &BTreeSet<String>,
    named: &Named,
) -> kube::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let absent =
        |kind: &str, (ns, name): (String, String)| !named.contains(&(kind.to_owned(), ns, name));
    for ns in namespaces {
        for obj in cluster.all::<AuraInstance>(ns).await? {
            if absent("AuraInstance", key(&obj)) {
                entries.push(instance(&obj));
            }
        }
        for obj in cluster.all::<AuraSnapshot>(ns).await? {
            if absent("AuraSnapshot", key(&obj)) {
                let entry = entry("AuraSnapshot", &obj, Action::NoChange);
                let id = obj.status.as_ref().and_then(|s| s.snapshot_id.clone());
                entries.push(entry.with_id(id).with_note(
                    "Pruned",
                    "Aura cannot delete a snapshot: only the resource goes",
                ));
            }
        }
        for obj in cluster.all::<GdsSession>(ns).await? {
            if absent("GdsSession", key(&obj)) {
                entries.push(session(&obj));
            }
        }
    }
    Ok(entries)
}

fn key<K: kube::Resource>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

fn entry<K: kube::Resource>(kind: &str, obj: &K, action: Action) -> Entry {
    let (ns, name) = key(obj);
    Entry::new(kind, &ns, &name, "cluster", action)
}

/// What deleting an AuraInstance does to its Aura instance.
fn instance(obj: &AuraInstance) -> Entry {
    let status = obj.status.clone().unwrap_or_default();
    let Some(id) = status.instance_id.clone() else {
        let keep = entry("AuraInstance", obj, Action::NoChange);
        return keep.with_note("Pruned", "it has no Aura instance: only the resource goes");
    };
    let spec = &obj.spec;
    let adopted = status.origin.unwrap_or(match spec.instance_id {
        Some(_) => InstanceOrigin::Adopted,
        None => InstanceOrigin::Created,
    }) == InstanceOrigin::Adopted;
    let confirmed = obj
        .annotations()
        .get(CONFIRM_DELETE_ANNOTATION)
        .is_some_and(|v| v.trim() == id);
    let (action, message) = if spec.management_policy == ManagementPolicy::Observe {
        (
            Action::NoChange,
            format!("managementPolicy Observe: Aura instance {id} is kept"),
        )
    } else if spec.deletion_policy == DeletionPolicy::Retain {
        (
            Action::NoChange,
            format!("deletionPolicy Retain: Aura instance {id} is kept"),
        )
    } else if spec.deletion_protection {
        (
            Action::NoChange,
            "deletionProtection is on: the instance is kept and the resource stays".to_owned(),
        )
    } else if adopted && !confirmed {
        (
            Action::NoChange,
            format!(
                "deletionPolicy Delete, but {id} was adopted and {CONFIRM_DELETE_ANNOTATION} does \
                 not confirm it: the instance is kept"
            ),
        )
    } else {
        (
            Action::Delete,
            format!("deletionPolicy Delete: Aura instance {id} and its data are deleted"),
        )
    };
    entry("AuraInstance", obj, action)
        .with_id(Some(id))
        .with_note("Pruned", message)
}

/// What deleting a GdsSession does to its session.
fn session(obj: &GdsSession) -> Entry {
    let id = obj.status.as_ref().and_then(|s| s.session_id.clone());
    let observe = obj.spec.management_policy == ManagementPolicy::Observe;
    let (action, message) = match (&id, observe) {
        (None, _) => (
            Action::NoChange,
            "it has no session: only the resource goes".to_owned(),
        ),
        (Some(id), true) => (
            Action::NoChange,
            format!("managementPolicy Observe: GDS session {id} is kept"),
        ),
        (Some(id), false) => (
            Action::Delete,
            format!("GDS session {id} is deleted in Aura"),
        ),
    };
    entry("GdsSession", obj, action)
        .with_id(id)
        .with_note("Pruned", message)
}
