//! The plan of one AuraSnapshot: the controller's checks, then where Aura is with the snapshot
//! the resource records ([`snapshot::outcome`]), or the snapshot it would take.

use super::instance::{refused, suspended};
use super::report::{Action, Entry};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::snapshot::{self, Outcome};
use crate::controllers::suspend;
use crate::crd::AuraSnapshot;
use crate::crd::instance::ManagementPolicy;

/// The plan of `obj` (the file's spec), given the cluster's copy.
pub fn plan(entry: Entry, obj: &AuraSnapshot, cluster: Option<&AuraSnapshot>) -> Entry {
    if let Err(err) = obj.validate() {
        return refused(entry, &err);
    }
    if suspend::is_on(obj) {
        return suspended(entry);
    }
    let status = cluster.and_then(|c| c.status.clone()).unwrap_or_default();
    if let (Some(id), Some(state)) = (&status.snapshot_id, &status.status) {
        let entry = entry.with_id(Some(id.clone()));
        return match snapshot::outcome(state) {
            Outcome::Completed => Entry {
                action: Action::NoChange,
                ..entry
            },
            Outcome::Taking(state) => Entry {
                action: Action::Wait,
                changes: vec![format!("Aura is taking the snapshot ({state})")],
                ..entry
            },
            Outcome::Failed(state) => entry.with_note(
                crate::controllers::Reason::SnapshotFailed.as_str(),
                format!("Aura reports snapshot {id} {state}; it cannot be used"),
            ),
        };
    }
    if obj.spec.management_policy == ManagementPolicy::Observe {
        let id = obj.spec.snapshot_id.clone().unwrap_or_default();
        return Entry {
            changes: vec![format!("observes snapshot {id} (managementPolicy Observe)")],
            ..entry
        };
    }
    let of = match (&obj.spec.instance_id, &obj.spec.instance_ref) {
        (Some(id), _) => format!("Aura instance {id}"),
        (None, Some(reference)) => format!("the instance of AuraInstance {}", reference.name),
        (None, None) => String::new(),
    };
    Entry {
        action: Action::Create,
        changes: vec![format!("takes a snapshot of {of}")],
        ..entry
    }
}
