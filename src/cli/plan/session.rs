//! The plan of one GdsSession: the controller's checks (its `validate`, the credential it would
//! use), then its step for the session the resource records ([`gds_session::step_for`]: from
//! its status, or read live with `--refresh`), or the session it would create.

use kube::ResourceExt;

use super::Planner;
use super::instance::{refused, suspended};
use super::report::{Action, Entry};
use crate::aura::{SessionId, SessionStatus};
use crate::controllers::gds_session::{self, Step};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::suspend;
use crate::controllers::{CredentialSource, Error};
use crate::crd::GdsSession;
use crate::crd::gds_session::ExpiredPolicy;
use crate::crd::instance::ManagementPolicy;

impl Planner {
    /// The plan of `obj` (the file's spec), given the cluster's copy.
    pub async fn session(
        &mut self,
        entry: Entry,
        obj: &GdsSession,
        cluster: Option<&GdsSession>,
    ) -> Entry {
        if let Err(err) = obj.validate() {
            return refused(entry, &err);
        }
        if suspend::is_on(obj) {
            return suspended(entry);
        }
        match self.session_state(obj, cluster).await {
            Ok(Some((id, state))) => recorded(entry.with_id(Some(id.clone())), obj, &id, &state),
            Ok(None) => unrecorded(entry, obj),
            Err(err) => refused(entry, &err),
        }
    }

    /// The recorded session and its Aura status (live with `--refresh`: a session Aura no
    /// longer knows counts as Deleted, as in the controller), after the credential the resource
    /// would use is granted; None when no session is recorded.
    async fn session_state(
        &mut self,
        obj: &GdsSession,
        cluster: Option<&GdsSession>,
    ) -> Result<Option<(String, SessionStatus)>, Error> {
        let spec = &obj.spec;
        let status = cluster.and_then(|c| c.status.clone()).unwrap_or_default();
        let namespace = obj.namespace().unwrap_or_default();
        let own = CredentialSource::named(
            spec.credentials_secret_ref.as_ref(),
            spec.credential_ref.as_ref(),
        )
        .or_else(|| {
            CredentialSource::named(
                status.credentials_secret_ref.as_ref(),
                status.credential_ref.as_ref(),
            )
        });
        let reference = spec.instance_ref.as_ref().map(|r| r.name.as_str());
        let source = self.credential_for(&namespace, own, reference).await?;
        let grant = self.aura.grant(&namespace, &source).await?;
        let (Some(id), Some(state)) = (status.session_id, status.status) else {
            return Ok(None);
        };
        if !self.refresh || state.has_ended() {
            return Ok(Some((id, state)));
        }
        let session = SessionId::new(id.as_str()).map_err(Error::Aura)?;
        match grant.client.sessions().get(&session).await {
            Ok(live) => Ok(Some((id, live.status))),
            Err(e) if e.is_not_found() => Ok(Some((id, SessionStatus::Deleted))),
            Err(e) => Err(e.into()),
        }
    }
}

/// The entry for a recorded session in Aura status `state`.
fn recorded(entry: Entry, obj: &GdsSession, id: &str, state: &SessionStatus) -> Entry {
    if state.has_ended() && obj.spec.expired_policy == ExpiredPolicy::Recreate {
        return creation(entry, obj);
    }
    if state.has_ended() {
        return entry.with_note(
            crate::controllers::Reason::Expired.as_str(),
            format!("GDS session {id} is {state} in Aura; expiredPolicy is Report"),
        );
    }
    match gds_session::step_for(state, String::new()) {
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
    }
}

/// The entry for a resource with no session recorded: the one it observes, or the one it
/// would create.
fn unrecorded(entry: Entry, obj: &GdsSession) -> Entry {
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
