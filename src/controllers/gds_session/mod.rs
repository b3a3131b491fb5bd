//! The GdsSession controller.
//!
//! One pass: resolve where the session runs (an instance, or a tenant and region) and the
//! credential (from the referenced AuraInstance when the resource names none), settle its memory
//! (given, or Aura's recommendation for the graph statistics), make sure the session exists
//! ([`ensure`]), write its Secret once it is Ready ([`secret`]), and report. Aura's create is
//! get-or-create by name, so resending it is safe; the operator still records its intent first,
//! so that a deletion in the middle of a create finds and deletes the session.
//!
//! Expired sessions follow `expiredPolicy` (see [`ensure`]). Deleting the resource deletes the
//! session in Aura (a 404 counts as done), unless another GdsSession holds the session's claim
//! (see [`claims`]): a session is managed by one resource only.
//!
//! Observe-only (`managementPolicy: Observe`, see [`observe_only`]): the session is found by
//! name and only read; nothing is created, recreated or deleted, and no claim is taken.

mod ensure;
mod observe_only;
mod secret;

pub use ensure::{instance_field, spec_tenant, tenant_field};
pub use observe_only::placement_field;

use crate::aura::{self, SessionFilter, SessionId};
use crate::controllers::machinery::error::{Error, Result};
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::pass::{self, Verdict};
use crate::controllers::tenancy::claims::{self, AuraObject, Claim};
use crate::controllers::tenancy::credential_hold;
use crate::controllers::tenancy::credentials::CredentialSource;
use crate::controllers::tenancy::references::{self, Reasons, ReferencedInstance};
use crate::crd::common::CredentialsSecretRef;
use crate::crd::instance::ManagementPolicy;
use crate::crd::{GdsSession, gds_session};

/// Finalizer that keeps a resource until its Aura session is deleted.
pub const FINALIZER: &str = "aura.neo4j.io/gds-session";

impl Reconciler for GdsSession {
    const KIND: &'static str = "GdsSession";
    const FINALIZER: Option<&'static str> = Some(FINALIZER);
    const OWNS_SECRETS: bool = true;
    type Observed = Observed;
    type Step = Step;

    fn status_word(&self) -> Option<String> {
        let status = self.status.as_ref()?.status.as_ref()?;
        Some(status.to_string()).filter(|s| !s.is_empty())
    }

    fn credentials_held(&self) -> Option<&CredentialsSecretRef> {
        credential_hold::session_credentials(self)
    }

    fn credential_ref(&self) -> Option<&crate::crd::credential::CredentialRef> {
        self.spec.credential_ref.as_ref()
    }

    fn validate(&self) -> Result<(), Error> {
        validate(&self.spec)
    }

    async fn observe(pass: &mut Pass<'_>) -> Result<Observed> {
        let referenced = pass.referenced_instance().await?;
        let credentials = pass.credentials(referenced.as_ref());
        let aura = pass.aura(&credentials).await?;
        pass.status.credentials_secret_ref = credentials.secret().cloned();
        pass.status.credential_ref = credentials.cluster();
        if !pass.observe_only() {
            pass.forget_drift();
            let found = pass.ensure_session(&aura, referenced.as_ref()).await?;
            if let ensure::Found::Session(session) = &found {
                pass.observe(session);
            }
            return Ok(Observed {
                found,
                referenced,
                drift: None,
            });
        }
        let found = pass.observe_session(&aura, referenced.as_ref()).await?;
        let drift = match &found {
            ensure::Found::Session(session) => {
                pass.observe(session);
                let drift = observe_only::differences(&pass.obj.spec, session);
                pass.record_drift(Self::KIND, &drift).await;
                Some(drift)
            }
            _ => {
                pass.forget_drift();
                None
            }
        };
        Ok(Observed {
            found,
            referenced,
            drift,
        })
    }

    fn plan(_: &Pass<'_>, observed: &Observed) -> Step {
        let session = match &observed.found {
            ensure::Found::Session(session) => session,
            ensure::Found::Ended(state) => return Step::Ended(state.clone()),
            ensure::Found::Missing(why) => return Step::Missing(why.clone()),
        };
        let problems = session
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.reason, p.message))
            .collect::<Vec<_>>()
            .join("; ");
        step_for(&session.status, problems)
    }

    async fn act(pass: &mut Pass<'_>, observed: Observed, step: Step) -> Result<Verdict> {
        if let (Step::WriteSecret, ensure::Found::Session(session)) = (&step, &observed.found) {
            pass.write_secret(session, observed.referenced.as_ref())
                .await?;
        }
        if let (Step::WriteSecret, Some(drift)) = (&step, &observed.drift)
            && !drift.is_empty()
        {
            return Ok(Verdict::stalled(
                Reason::Drifted,
                format!(
                    "Aura's session differs from the spec and managementPolicy Observe changes \
                     nothing: {}",
                    drift.join("; ")
                ),
            ));
        }
        Ok(pass.verdict(&step))
    }

    async fn clean_up(pass: &mut Pass<'_>) -> Result<()> {
        pass.cleanup().await
    }

    /// A background pass over a recorded session, whose steps — a read, the Secret apply, a
    /// get-or-create by the same name — are safe to cut short and redo.
    fn may_be_superseded(pass: &Pass<'_>) -> bool {
        !pass.user_driven()
            && pass.status.session_id.is_some()
            && pass.status.create_intent.is_none()
    }

    fn ready_note(pass: &Pass<'_>) -> String {
        let observing = if pass.observe_only() {
            " (observing only: managementPolicy Observe)"
        } else {
            ""
        };
        format!(
            "the session is ready; its address is in Secret {}{observing}",
            secret::name(&pass.obj)
        )
    }
}

/// Checks of the spec alone: a time to live that parses, a size or the statistics to size it
/// from, and a placement.
fn validate(spec: &gds_session::GdsSessionSpec) -> Result<(), Error> {
    crate::controllers::connection::formats::validate(
        &spec.connection_secret,
        crate::controllers::connection::formats::Kind::Session,
    )?;
    // The session's Secret carries the instance's user: an AuraInstance checks and rotates it.
    if spec.connection_secret.rotation.is_some() || spec.connection_secret.verify.is_some() {
        return Err(Error::invalid(
            "connectionSecret",
            "verify and rotation belong to the AuraInstance whose password the session uses; \
             remove them here",
        ));
    }
    if let Some(text) = &spec.ttl
        && gds_session::parse_ttl(text).is_none()
    {
        return Err(Error::invalid(
            "ttl",
            format!("{text:?} is not a duration such as 30m or 2h"),
        ));
    }
    let observe = spec.management_policy == ManagementPolicy::Observe;
    if observe && spec.name.is_none() {
        return Err(Error::invalid(
            "name",
            "managementPolicy Observe needs the name of an existing session; the operator \
             never creates one while it only observes",
        ));
    }
    match (&spec.memory, &spec.graph) {
        (Some(memory), _) if !aura::SESSION_MEMORY.contains(&memory.as_str()) => {
            return Err(Error::invalid(
                "memory",
                format!(
                    "{memory:?} is not a session size ({})",
                    aura::SESSION_MEMORY.join(", ")
                ),
            ));
        }
        (None, None) if !observe => return Err(Error::invalid("memory", "set memory or graph")),
        _ => {}
    }
    // Under Observe the placement only narrows the search: any of it, or none, will do.
    if observe || spec.instance_ref.is_some() || spec.instance_id.is_some() {
        return Ok(());
    }
    if spec.tenant_id.is_none() && spec.tenant_name.is_none() {
        return Err(Error::invalid(
            "instanceRef",
            "attach the session to an instance or name a tenant for a standalone one",
        ));
    }
    if spec.cloud_provider.is_none() {
        return Err(Error::invalid(
            "cloudProvider",
            "is required for a standalone session",
        ));
    }
    if spec.region.is_none() {
        return Err(Error::invalid(
            "region",
            "is required for a standalone session",
        ));
    }
    Ok(())
}

/// What a pass found: the session (or that it ended), and the AuraInstance it is attached to
/// through `instanceRef`.
pub struct Observed {
    found: ensure::Found,
    referenced: Option<ReferencedInstance>,
    /// Observe-only: where Aura's session differs from the spec (None under Full).
    drift: Option<Vec<String>>,
}

/// What to do with the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// It is Ready: write its Secret.
    WriteSecret,
    /// Aura is starting it (`state` is its Aura status).
    Wait(String),
    /// Aura reports it Failed (with Aura's explanation).
    Failed(String),
    /// It expired or was deleted in Aura, and the policy is to report it (or the resource only
    /// observes).
    Ended(String),
    /// Observe-only: there is no live session of that name (the message says so).
    Missing(String),
}

/// The step for a live session in `status` (pure; `aura-operator plan` reads it too);
/// `problems` is Aura's explanation of a failure.
pub fn step_for(status: &aura::SessionStatus, problems: String) -> Step {
    match status {
        aura::SessionStatus::Ready => Step::WriteSecret,
        aura::SessionStatus::Failed => Step::Failed(problems),
        other if other.as_str().is_empty() => Step::Wait("Starting".to_owned()),
        other => Step::Wait(other.to_string()),
    }
}

/// Reasons for an instanceRef that does not resolve yet.
const INSTANCE_REF: Reasons = Reasons {
    missing: Reason::InstanceRefNotFound,
    not_ready: Reason::InstanceRefNotReady,
};

/// The state of one pass over a GdsSession; its steps are in this module's files.
type Pass<'c> = pass::Pass<'c, GdsSession>;

impl Pass<'_> {
    /// The referenced AuraInstance, once it has an Aura instance (None when the session names
    /// an instance id or is standalone).
    async fn referenced_instance(&self) -> Result<Option<ReferencedInstance>> {
        let Some(reference) = &self.obj.spec.instance_ref else {
            return Ok(None);
        };
        references::aura_instance(
            self.ctx,
            &self.namespace(),
            &reference.name,
            &self.key(),
            INSTANCE_REF,
        )
        .await
        .map(Some)
    }

    /// The credential for this resource: its own, else the referenced AuraInstance's, else the
    /// one it was created with (the reference may be gone when the session is deleted), else
    /// the operator's default.
    fn credentials(&self, referenced: Option<&ReferencedInstance>) -> CredentialSource {
        let spec = &self.obj.spec;
        let status = &self.status;
        CredentialSource::named(
            spec.credentials_secret_ref.as_ref(),
            spec.credential_ref.as_ref(),
        )
        .or_else(|| referenced.and_then(ReferencedInstance::credentials))
        .or_else(|| {
            CredentialSource::named(
                status.credentials_secret_ref.as_ref(),
                status.credential_ref.as_ref(),
            )
        })
        .unwrap_or(CredentialSource::Default)
    }

    /// The Aura client for `credentials`, keeping what the credential restricts. A live
    /// session holds a credentials Secret of its namespace until its deletion has reached Aura
    /// (see [`credential_hold`]).
    async fn aura(&mut self, credentials: &CredentialSource) -> Result<aura::Client> {
        // Observe's deletion makes no Aura call, so it needs no hold.
        let hold = self.obj.metadata.deletion_timestamp.is_none() && !self.observe_only();
        let grant = self
            .ctx
            .aura
            .for_resource_held(&self.ctx.kube, &self.namespace(), credentials, hold)
            .await?;
        self.restrictions = grant.restrictions;
        Ok(grant.client.with_priority(self.priority()))
    }

    fn observe(&mut self, session: &aura::Session) {
        self.status.session_id = Some(session.id.to_string());
        self.status.session_name = Some(session.name.clone()).filter(|n| !n.is_empty());
        self.status.status = Some(session.status.clone()).filter(|s| !s.as_str().is_empty());
        if session.host.as_deref().is_some_and(|h| !h.is_empty()) {
            self.status.host = session.host.clone();
        }
        if session.expiry_date.is_some() {
            self.status.expires_at = session.expiry_date.clone();
        }
        if !session.memory.is_empty() {
            self.status.memory = Some(session.memory.clone());
        }
        if let Some(instance) = &session.instance_id {
            self.status.instance_id = Some(instance.to_string());
        }
        if let Some(tenant) = session.tenant() {
            self.status.tenant_id = Some(tenant.to_string());
        }
    }

    /// The cleanup pass: deletes the session in Aura. Never validates the spec, so a broken
    /// spec cannot block deletion.
    async fn cleanup(&mut self) -> Result<()> {
        if self.observe_only() {
            return self.leave_in_aura().await;
        }
        // A referenced AuraInstance deleted first must not block this deletion: fall back to
        // the credential the session was created with.
        let referenced = self.referenced_instance().await.ok().flatten();
        let credentials = self.credentials(referenced.as_ref());
        self.delete_in_aura(&credentials).await
    }

    /// Observe-only's cleanup: no Aura call, whatever happened before (a session this resource
    /// created while Full is left too).
    async fn leave_in_aura(&mut self) -> Result<()> {
        self.ctx.memory.forget(&self.key());
        if let Some(id) = &self.status.session_id {
            let note = format!(
                "managementPolicy is Observe (deletion changes nothing in Aura): GDS session {id} \
                 is left as it is"
            );
            events::normal(self.ctx, &*self.obj, "Retained", note).await;
        }
        Ok(())
    }

    /// Deletes the session (and any a lost create answer may have made) in Aura.
    async fn delete_in_aura(&mut self, credentials: &CredentialSource) -> Result<()> {
        self.ctx.memory.forget(&self.key());
        let known = self.status.session_id.clone();
        let intent = self.status.create_intent.clone();
        if known.is_none() && intent.is_none() {
            return Ok(());
        }
        let aura = self
            .aura(credentials)
            .await?
            .with_priority(aura::Priority::Interactive);
        let ids: Vec<SessionId> = match (known, intent) {
            (Some(id), _) => SessionId::new(id).into_iter().collect(),
            // A create may have reached Aura without being recorded: find it by its name.
            (None, Some(intent)) => aura
                .sessions()
                .list(&SessionFilter::default())
                .await?
                .into_iter()
                .filter(|s| s.name == intent.session_name)
                .map(|s| s.id)
                .collect(),
            (None, None) => Vec::new(),
        };
        for id in ids {
            if let Claim::HeldBy(other) = claims::claim(
                &self.ctx.claims,
                &*self.obj,
                AuraObject::Session,
                id.as_str(),
            )
            .await?
            {
                let why =
                    claims::already_managed::<GdsSession>(AuraObject::Session, id.as_str(), &other);
                events::warning(
                    self.ctx,
                    &*self.obj,
                    Reason::AlreadyManaged.as_str(),
                    why.to_string(),
                )
                .await;
                continue;
            }
            let deleted = aura.sessions().delete(&id).await?;
            let note = if deleted {
                format!("deleted GDS session {id}")
            } else {
                format!("GDS session {id} was already gone")
            };
            events::normal(self.ctx, &*self.obj, "Deleted", note).await;
        }
        Ok(())
    }

    /// The verdict of a pass that ran to its end after `step`.
    fn verdict(&self, step: &Step) -> Verdict {
        let id = self.status.session_id.clone().unwrap_or_default();
        match step {
            Step::WriteSecret if self.observe_only() => Verdict::ready(
                Reason::InSync,
                format!(
                    "session {id} is ready and as specified; observing only (managementPolicy \
                     Observe)"
                ),
            ),
            Step::WriteSecret => Verdict::ready(Reason::Ready, format!("session {id} is ready")),
            Step::Wait(state) => {
                Verdict::busy(state, format!("waiting for Aura: session {id} is {state}"))
            }
            Step::Failed(why) => Verdict::stalled(
                Reason::SessionFailed,
                format!("Aura reports session {id} Failed: {why}"),
            ),
            Step::Ended(state) if self.observe_only() => Verdict::stalled(
                Reason::Expired,
                format!(
                    "session {id} is {state} in Aura; managementPolicy Observe creates nothing \
                     (expiredPolicy does not apply): a new live session of this name is picked \
                     up when one exists"
                ),
            ),
            Step::Missing(why) => Verdict::stalled(Reason::SessionNotFound, why.clone()),
            Step::Ended(state) => Verdict::stalled(
                Reason::Expired,
                format!(
                    "session {id} is {state} in Aura; expiredPolicy is Report, so no new session is \
                     created (set expiredPolicy: Recreate, or delete and apply this resource again)"
                ),
            ),
        }
    }
}
