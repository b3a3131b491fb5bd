//! The plan of one GdsSession: the controller's checks, then its step for the session the
//! resource records ([`gds_session::step_for`]), or the session it would create.

use super::instance::{refused, suspended};
use super::report::{Action, Entry};
use crate::controllers::gds_session::{self, Step};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::suspend;
use crate::crd::GdsSession;
use crate::crd::gds_session::ExpiredPolicy;
use crate::crd::instance::ManagementPolicy;

/// The plan of `obj` (the file's spec), given the cluster's copy.
pub fn plan(entry: Entry, obj: &GdsSession, cluster: Option<&GdsSession>) -> Entry {
    if let Err(err) = obj.validate() {
        return refused(entry, &err);
    }
    if suspend::is_on(obj) {
        return suspended(entry);
    }
    let status = cluster.and_then(|c| c.status.clone()).unwrap_or_default();
    let recorded = status.session_id.clone().zip(status.status.clone());
    if let Some((id, state)) = recorded {
        let entry = entry.with_id(Some(id.clone()));
        if state.has_ended() && obj.spec.expired_policy == ExpiredPolicy::Recreate {
            return creation(entry, obj);
        }
        if state.has_ended() {
            return entry.with_note(
                crate::controllers::Reason::Expired.as_str(),
                format!("GDS session {id} is {state} in Aura; expiredPolicy is Report"),
            );
        }
        return match gds_session::step_for(&state, String::new()) {
            Step::Wait(state) => Entry {
                action: Action::Wait,
                changes: vec![format!("Aura is starting the session ({state})")],
                ..entry
            },
            Step::Failed(_) => entry.with_note(
                crate::controllers::Reason::SessionFailed.as_str(),
                format!("Aura reports GDS session {id} Failed"),
            ),
            _ => entry,
        };
    }
    if obj.spec.management_policy == ManagementPolicy::Observe {
        let name = obj.spec.name.clone().unwrap_or_default();
        return Entry {
            changes: vec![format!(
                "observes session {name:?} (managementPolicy Observe)"
            )],
            ..entry
        };
    }
    creation(entry, obj)
}

/// The session the controller would create.
fn creation(entry: Entry, obj: &GdsSession) -> Entry {
    let spec = &obj.spec;
    let memory = spec
        .memory
        .clone()
        .unwrap_or_else(|| "sized by Aura from spec.graph".to_owned());
    let placement = match (&spec.instance_ref, &spec.instance_id) {
        (Some(reference), _) => format!("attached to AuraInstance {}", reference.name),
        (None, Some(id)) => format!("attached to Aura instance {id}"),
        (None, None) => format!("standalone in {}", spec.region.clone().unwrap_or_default()),
    };
    let mut changes = vec![format!("memory: {memory}"), placement];
    if let Some(ttl) = &spec.ttl {
        changes.push(format!("ttl: {ttl}"));
    }
    Entry {
        action: Action::Create,
        changes,
        ..entry
    }
}
