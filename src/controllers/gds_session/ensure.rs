//! Making sure the session exists: placement, memory, create, and the expired-session policy.
//!
//! Create protocol: the intent (the exact session name) goes into the status before the create
//! call; Aura's create is get-or-create by name, so a pass that finds an intent but no session
//! id simply sends the same create again and gets the same session back. The id is recorded as
//! soon as Aura answers.
//!
//! Expired-session policy: a session whose Aura status is `Expired` or `Deleted`, or that Aura no
//! longer knows (404), has ended. With `expiredPolicy: Report` (the default) the resource reports
//! `Expired` (Ready False, reason Expired) and the operator makes no more Aura calls for it until
//! the spec changes. With `Recreate` it creates a new session under the same name; projected
//! graphs do not survive, so a client must project again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::{Pass, Result};
use crate::aura::{
    self, CreateSession, InstanceId, InstanceStatus, Placement, Session, SessionId, SessionStatus,
    SizeEstimateRequest, TenantId,
};
use crate::controllers::connection::convert::provider;
use crate::controllers::connection::naming;
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::error::Wait;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::News;
use crate::controllers::tenancy::claims::{self, AuraObject, Claim};
use crate::controllers::tenancy::references::ReferencedInstance;
use crate::crd::gds_session::{self, ExpiredPolicy, GdsSessionSpec, MemoryEstimate, SessionIntent};

/// What `ensure_session` found.
pub(super) enum Found {
    /// A live session (Creating, Ready or Failed).
    Session(Box<Session>),
    /// The session ended (`Expired` or `Deleted`) and the policy is to report it (or the
    /// resource only observes).
    Ended(String),
    /// Observe-only: Aura has no live session of the spec's name (the message says so).
    Missing(String),
}

/// Spec field name for an Aura field name.
fn spec_field(aura_field: &str) -> String {
    match aura_field {
        "instance_id" => "instanceId".to_owned(),
        "database_id" => "databaseId".to_owned(),
        "tenant_id" | "project_id" => "tenantId".to_owned(),
        "tenant_name" => "tenantName".to_owned(),
        "cloud_provider" => "cloudProvider".to_owned(),
        "node_count" => "graph.nodeCount".to_owned(),
        "relationship_count" => "graph.relationshipCount".to_owned(),
        "algorithm_categories" | "algorithms" => "graph.algorithmCategories".to_owned(),
        other => other.to_owned(),
    }
}

fn as_spec_error(err: aura::Error) -> Error {
    Error::from_request(err, spec_field)
}

impl Pass<'_> {
    /// The session this resource stands for, created as needed.
    pub(super) async fn ensure_session(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<Found> {
        if let Some(id) = self.status.session_id.clone() {
            // Resources recorded before claims existed get theirs here, on their next pass.
            claims::require(&self.ctx.claims, &*self.obj, AuraObject::Session, &id).await?;
            let ended = self.status.status.as_ref().filter(|s| s.has_ended());
            if let Some(state) = ended
                && self.obj.spec.expired_policy == ExpiredPolicy::Report
            {
                // Already reported; an ended session does not come back.
                return Ok(Found::Ended(state.to_string()));
            }
            let session_id = SessionId::new(id.as_str()).map_err(Error::Aura)?;
            let state = match aura.sessions().get(&session_id).await {
                Ok(session) if !session.status.has_ended() => {
                    return Ok(Found::Session(Box::new(session)));
                }
                Ok(session) => session.status,
                Err(e) if e.is_not_found() => SessionStatus::Deleted,
                Err(e) => return Err(e.into()),
            };
            return self.ended(aura, referenced, &id, state).await;
        }
        self.create(aura, referenced)
            .await
            .map(|s| Found::Session(Box::new(s)))
    }

    /// Applies the expired-session policy to a session that ended.
    async fn ended(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
        id: &str,
        state: SessionStatus,
    ) -> Result<Found> {
        match self.obj.spec.expired_policy {
            ExpiredPolicy::Report => {
                self.status.status = Some(state.clone());
                self.announce(News::warning(
                    "Expired",
                    format!("GDS session {id} is {state} in Aura; expiredPolicy is Report"),
                ));
                Ok(Found::Ended(state.to_string()))
            }
            ExpiredPolicy::Recreate => {
                self.announce(News::normal(
                    "Recreating",
                    format!("GDS session {id} is {state} in Aura; expiredPolicy is Recreate"),
                ));
                self.status.session_id = None;
                self.status.status = None;
                self.status.host = None;
                self.status.expires_at = None;
                self.save().await?;
                self.create(aura, referenced)
                    .await
                    .map(|s| Found::Session(Box::new(s)))
            }
        }
    }

    /// The session name in Aura: the spec's, or `<namespace>-<name>-<UID fingerprint>`.
    fn session_name(&self) -> String {
        match &self.obj.spec.name {
            Some(name) => name.clone(),
            None => format!(
                "{}-{}-{}",
                self.namespace(),
                self.obj.name_any(),
                naming::fingerprint(&self.obj.uid().unwrap_or_default())
            ),
        }
    }

    /// Gets or creates the session, with the intent recorded first.
    async fn create(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<Session> {
        let request = CreateSession {
            name: self.session_name(),
            placement: self.placement(aura, referenced).await?,
            memory: self.memory(aura).await?,
            // Checked by validate.
            ttl: self
                .obj
                .spec
                .ttl
                .as_deref()
                .and_then(gds_session::parse_ttl),
        };
        let resumed = self.record_intent(&request.name).await?;
        let answer = match aura.sessions().create(&request).await {
            Ok(answer) => answer,
            Err(e) => {
                if !e.request_may_have_acted() && !resumed {
                    self.status.create_intent = None;
                    self.save().await?;
                }
                if e.reason() == Some("instance-not-running") {
                    return Err(self.instance_not_running("not running").into());
                }
                return Err(as_spec_error(e).into());
            }
        };
        let session = answer.session;
        self.claim_created(&session.id).await?;
        if session.status.has_ended() {
            // Aura handed back the ended session of that name: remove it so the next create
            // makes a new one.
            aura.sessions().delete(&session.id).await?;
            let message = format!(
                "Aura answered with ended session {}; deleted it to create a new one",
                session.id
            );
            return Err(self.wait(Reason::RecreatingSession, message).into());
        }
        self.status.session_id = Some(session.id.to_string());
        self.status.session_name = Some(request.name.clone());
        self.status.create_intent = None;
        self.observe(&session);
        self.save().await?;
        let (reason, note) = created_note(&request.name, &session, answer.created, resumed);
        events::normal(self.ctx, &*self.obj, reason, note).await;
        Ok(session)
    }

    /// Claims the session Aura answered a create with. Aura's create is get-or-create by name,
    /// so two resources naming the same session both get it: the one that claims it second
    /// records its id (so that it does not ask Aura again) and is refused.
    async fn claim_created(&mut self, id: &SessionId) -> Result<()> {
        let claim = claims::claim(
            &self.ctx.claims,
            &*self.obj,
            AuraObject::Session,
            id.as_str(),
        )
        .await?;
        let Claim::HeldBy(other) = claim else {
            return Ok(());
        };
        self.status.session_id = Some(id.to_string());
        self.status.create_intent = None;
        self.save().await?;
        Err(claims::already_managed::<crate::crd::GdsSession>(
            AuraObject::Session,
            id.as_str(),
            &other,
        )
        .into())
    }

    /// Records the intent to create the session `name` before asking Aura; returns whether it
    /// was recorded already (an earlier pass asked and did not hear back).
    async fn record_intent(&mut self, name: &str) -> Result<bool> {
        if let Some(intent) = &self.status.create_intent
            && intent.session_name == name
        {
            return Ok(true);
        }
        self.status.create_intent = Some(SessionIntent {
            session_name: name.to_owned(),
            since: Time(jiff::Timestamp::now()),
        });
        self.save().await?;
        Ok(false)
    }

    /// The instance the spec attaches the session to: the referenced AuraInstance's, or
    /// `instanceId`; None for a standalone session.
    pub(super) fn attached_to(
        &self,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<Option<InstanceId>> {
        Ok(match (referenced, &self.obj.spec.instance_id) {
            (Some(found), _) => Some(found.id.clone()),
            (None, Some(id)) => Some(InstanceId::new(id.as_str()).map_err(|_| {
                Error::invalid("instanceId", format!("{id:?} is not an Aura instance id"))
            })?),
            (None, None) => None,
        })
    }

    /// The tenant the spec names: `tenantId`, or `tenantName` looked up; None when it names none.
    pub(super) async fn spec_tenant(&self, aura: &aura::Client) -> Result<Option<TenantId>> {
        Ok(spec_tenant(&self.obj.spec, aura).await?)
    }

    /// Where the session runs. An attached session waits while its instance is not running.
    async fn placement(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<Placement> {
        match self.attached_to(referenced)? {
            Some(instance_id) => self.attached(aura, instance_id).await,
            None => self.standalone(aura).await,
        }
    }

    /// On an instance, which must be running.
    async fn attached(
        &mut self,
        aura: &aura::Client,
        instance_id: InstanceId,
    ) -> Result<Placement> {
        let spec = &self.obj.spec;
        let field = instance_field(spec);
        let instance = aura.instances().get(&instance_id).await.map_err(|e| {
            if !e.is_not_found() {
                return Error::Aura(e);
            }
            let message = format!("Aura has no instance {instance_id} visible to this credential");
            Error::invalid(field, message)
        })?;
        let tenant = instance.tenant_id.as_ref().map(|t| t.as_str());
        self.restrictions.check_tenant(tenant, field)?;
        if instance.status != InstanceStatus::Running {
            return Err(self.instance_not_running(instance.status.as_str()).into());
        }
        self.status.instance_id = Some(instance_id.to_string());
        Ok(Placement::Attached {
            instance_id,
            database_id: spec.database_id.clone(),
        })
    }

    /// In a tenant and region of its own (validate saw to it that they are given).
    async fn standalone(&mut self, aura: &aura::Client) -> Result<Placement> {
        let tenant_id = match &self.status.tenant_id {
            Some(known) => TenantId::new(known.as_str()).map_err(Error::Aura)?,
            None => self
                .spec_tenant(aura)
                .await?
                .ok_or_else(|| Error::invalid("instanceRef", "name an instance or a tenant"))?,
        };
        let spec = &self.obj.spec;
        self.restrictions
            .check_tenant(Some(tenant_id.as_str()), tenant_field(spec))?;
        self.status.tenant_id = Some(tenant_id.to_string());
        let (Some(cloud_provider), Some(region)) = (spec.cloud_provider, spec.region.clone())
        else {
            return Err(Error::invalid("region", "is required for a standalone session").into());
        };
        Ok(Placement::Standalone {
            tenant_id,
            cloud_provider: provider(cloud_provider),
            region,
        })
    }

    fn instance_not_running(&self, status: &str) -> Wait {
        self.wait(
            Reason::InstanceNotRunning,
            format!("the instance is {status}: a session can only attach to a running instance"),
        )
    }

    /// The memory to create the session with: the spec's, or Aura's recommendation for the
    /// graph statistics (asked once and kept in the status).
    async fn memory(&mut self, aura: &aura::Client) -> Result<String> {
        let spec = &self.obj.spec;
        if let Some(memory) = &spec.memory {
            if !aura::SESSION_MEMORY.contains(&memory.as_str()) {
                return Err(Error::invalid(
                    "memory",
                    format!(
                        "{memory:?} is not a session size ({})",
                        aura::SESSION_MEMORY.join(", ")
                    ),
                )
                .into());
            }
            return Ok(memory.clone());
        }
        let Some(graph) = &spec.graph else {
            return Err(Error::invalid("memory", "set memory or graph").into());
        };
        if let Some(estimate) = &self.status.estimate {
            return Ok(estimate.recommended_size.clone());
        }
        let request = SizeEstimateRequest {
            node_count: graph.node_count,
            node_label_count: graph.node_label_count,
            node_property_count: graph.node_property_count,
            relationship_count: graph.relationship_count,
            relationship_property_count: graph.relationship_property_count,
            algorithm_categories: graph
                .algorithm_categories
                .iter()
                .map(|c| {
                    let wire = serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    aura::AlgorithmCategory::from_wire(&wire)
                })
                .collect(),
        };
        let estimate = aura
            .sessions()
            .estimate(&request)
            .await
            .map_err(as_spec_error)?;
        events::normal(
            self.ctx,
            &*self.obj,
            "MemoryEstimated",
            format!(
                "Aura estimates {} for this graph and recommends {}",
                estimate.estimated_memory, estimate.recommended_size
            ),
        )
        .await;
        self.status.estimate = Some(MemoryEstimate {
            estimated_memory: estimate.estimated_memory,
            recommended_size: estimate.recommended_size.clone(),
        });
        Ok(estimate.recommended_size)
    }
}

/// The spec field that attaches a session to its instance, as a refusal names it (pure:
/// `aura-operator plan` names the same field).
pub fn instance_field(spec: &GdsSessionSpec) -> &'static str {
    match spec.instance_id {
        Some(_) => "instanceId",
        None => "instanceRef",
    }
}

/// The spec field that names a standalone session's tenant, as a refusal names it.
pub fn tenant_field(spec: &GdsSessionSpec) -> &'static str {
    match spec.tenant_name {
        Some(_) => "tenantName",
        None => "tenantId",
    }
}

/// The tenant `spec` names: `tenantId`, or `tenantName` looked up (a read); None when it names
/// none. Shared with `aura-operator plan`.
pub async fn spec_tenant(
    spec: &GdsSessionSpec,
    aura: &aura::Client,
) -> std::result::Result<Option<TenantId>, Error> {
    Ok(match (&spec.tenant_id, &spec.tenant_name) {
        (Some(id), _) => Some(
            TenantId::new(id.as_str())
                .map_err(|_| Error::invalid("tenantId", format!("{id:?} is not a UUID")))?,
        ),
        (None, Some(name)) => Some(
            aura.tenants()
                .find_id_by_name(name)
                .await
                .map_err(as_spec_error)?,
        ),
        (None, None) => None,
    })
}

/// The Event for a session create Aura answered: new, found after a lost answer, or one that
/// existed under that name before.
fn created_note(
    name: &str,
    session: &Session,
    created: bool,
    resumed: bool,
) -> (&'static str, String) {
    let id = &session.id;
    match (created, resumed) {
        (true, _) => ("Created", format!("created GDS session {name:?} ({id})")),
        (false, true) => (
            "Recovered",
            format!("found GDS session {name:?} created by an earlier pass; recorded it"),
        ),
        (false, false) => (
            "Adopted",
            format!(
                "a GDS session named {name:?} already existed ({id}); this resource now manages \
                 it and deletes it when deleted"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aura_field_names_become_spec_field_names() {
        let err = as_spec_error(aura::Error::InvalidArgument {
            field: "node_count",
            problem: "must be greater than zero".into(),
        });
        assert_eq!(
            err.to_string(),
            "spec.graph.nodeCount: must be greater than zero"
        );
        assert_eq!(spec_field("ttl"), "ttl");
    }
}
