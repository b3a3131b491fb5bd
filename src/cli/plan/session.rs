//! The plan of one GdsSession: the controller's checks (its `validate`, the credential it would
//! use), then its step for the session the resource records ([`gds_session::step_for`]: from
//! its status, or read live with `--refresh`), or the session it would create.

use kube::ResourceExt;

use super::Planner;
use super::instance::{refused, suspended};
use super::report::{Action, Entry};
use crate::aura::{self, InstanceId, Session, SessionFilter, SessionId, SessionStatus};
use crate::controllers::gds_session::{self, Step};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::suspend;
use crate::controllers::{CredentialSource, Error};
use crate::crd::gds_session::{ExpiredPolicy, GdsSessionStatus};
use crate::crd::instance::ManagementPolicy;
use crate::crd::{AuraInstance, GdsSession};

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
        let found = self.recorded_session(&grant.client, &status).await?;
        if grant.restrictions.limits_tenants() {
            let placed = self.placed_in(obj, &status, &grant.client, found.as_ref());
            if let Some((tenant, field)) = placed.await? {
                grant.restrictions.check_tenant(tenant.as_deref(), field)?;
            }
        }
        Ok(found)
    }

    /// The session the status records and its Aura status (live with `--refresh`).
    async fn recorded_session(
        &self,
        aura: &aura::Client,
        status: &GdsSessionStatus,
    ) -> Result<Option<(String, SessionStatus)>, Error> {
        let (Some(id), Some(state)) = (status.session_id.clone(), status.status.clone()) else {
            return Ok(None);
        };
        if !self.refresh || state.has_ended() {
            return Ok(Some((id, state)));
        }
        let session = SessionId::new(id.as_str()).map_err(Error::Aura)?;
        match aura.sessions().get(&session).await {
            Ok(live) => Ok(Some((id, live.status))),
            Err(e) if e.is_not_found() => Ok(Some((id, SessionStatus::Deleted))),
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant the controller checks against the credential's allowlist, and the spec field
    /// its refusal names, where a pass checks it: for a session it would create, its instance's
    /// tenant (attached) or the spec's (standalone); under Observe, the tenant of the live
    /// session of `spec.name` it would find (the first time only: a recorded one is not checked
    /// again). None where the controller checks nothing, or cannot yet (an instanceRef whose
    /// AuraInstance has no instance).
    async fn placed_in(
        &mut self,
        obj: &GdsSession,
        status: &GdsSessionStatus,
        aura: &aura::Client,
        found: Option<&(String, SessionStatus)>,
    ) -> Result<Option<(Option<String>, &'static str)>, Error> {
        let spec = &obj.spec;
        if spec.management_policy == ManagementPolicy::Observe {
            if found.is_some_and(|(_, state)| !state.has_ended()) {
                return Ok(None);
            }
            let observed = self.observed_session(obj, aura).await?;
            let tenant = observed.map(|s| s.tenant().map(ToString::to_string));
            return Ok(tenant.map(|t| (t, gds_session::placement_field(spec))));
        }
        let creates = found.is_none_or(|(_, state)| {
            state.has_ended() && spec.expired_policy == ExpiredPolicy::Recreate
        });
        if !creates {
            return Ok(None);
        }
        if spec.instance_ref.is_none() && spec.instance_id.is_none() {
            let tenant = match &status.tenant_id {
                Some(known) => Some(known.clone()),
                None => gds_session::spec_tenant(spec, aura)
                    .await?
                    .map(|t| t.to_string()),
            };
            return Ok(tenant.map(|t| (Some(t), gds_session::tenant_field(spec))));
        }
        let Some(id) = self.attached_instance(obj).await? else {
            return Ok(None);
        };
        let tenant = match self.aura.instance(aura, &id).await? {
            Some(instance) => instance.tenant_id.map(|t| t.to_string()),
            // The controller refuses it for another reason: Aura shows no such instance.
            None => return Ok(None),
        };
        Ok(Some((tenant, gds_session::instance_field(spec))))
    }

    /// The Aura instance a session attaches to: the one the referenced AuraInstance records
    /// (None while it has none: the controller waits), or `instanceId`.
    async fn attached_instance(&mut self, obj: &GdsSession) -> Result<Option<InstanceId>, Error> {
        let id = match &obj.spec.instance_ref {
            Some(reference) => {
                let namespace = obj.namespace().unwrap_or_default();
                let found: Option<AuraInstance> =
                    self.cluster.find(&namespace, &reference.name).await?;
                found.and_then(|i| i.status).and_then(|s| s.instance_id)
            }
            None => obj.spec.instance_id.clone(),
        };
        Ok(id.and_then(|id| InstanceId::new(id.as_str()).ok()))
    }

    /// The live session of `spec.name` an Observe pass would find: listed within the instance
    /// or tenant the spec names, as the controller lists; None unless exactly one is live.
    async fn observed_session(
        &mut self,
        obj: &GdsSession,
        aura: &aura::Client,
    ) -> Result<Option<Session>, Error> {
        let Some(name) = &obj.spec.name else {
            return Ok(None);
        };
        let instance_id = self.attached_instance(obj).await?;
        if obj.spec.instance_ref.is_some() && instance_id.is_none() {
            return Ok(None);
        }
        let filter = SessionFilter {
            tenant_id: gds_session::spec_tenant(&obj.spec, aura).await?,
            instance_id,
            include_deleted: false,
        };
        let mut live: Vec<Session> = aura
            .sessions()
            .list(&filter)
            .await?
            .into_iter()
            .filter(|s| &s.name == name && !s.status.has_ended())
            .collect();
        Ok(live.pop().filter(|_| live.is_empty()))
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
