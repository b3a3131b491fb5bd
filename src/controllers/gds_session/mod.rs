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
//! session in Aura (a 404 counts as done).

mod ensure;
mod secret;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::error::{Error, Result};
use super::references::{self, Reasons, ReferencedInstance};
use super::{Context, credential_hold, events, finalizer, pass};
use crate::aura::{self, SessionFilter, SessionId};
use crate::crd::GdsSession;
use crate::crd::conditions::{Desired, READY};
use crate::crd::instance::CredentialsSecretRef;

/// Finalizer that keeps a resource until its Aura session is deleted.
pub const FINALIZER: &str = "aura.neo4j.io/gds-session";

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let results = pass::controller(&ctx, namespace, "GdsSession", |o: &GdsSession| {
        o.status.as_ref().and_then(|s| s.status.clone())
    })
    .owns(
        pass::scoped::<Secret>(&ctx, namespace),
        crate::controllers::secrets::managed(),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, Arc::clone(&ctx));
    pass::drive(&ctx, "GdsSession", results).await;
}

/// One pass over one GdsSession.
pub async fn reconcile(obj: Arc<GdsSession>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = obj
        .namespace()
        .ok_or_else(|| Error::invalid("metadata.namespace", "GdsSession is namespaced"))?;
    let api: Api<GdsSession> = Api::namespaced(ctx.kube.clone(), &namespace);
    finalizer::run(&api, FINALIZER, obj, |event| async {
        match event {
            finalizer::Event::Apply(obj) => {
                let mut pass = Pass::new(obj, &ctx);
                let (key, may) = (pass.key(), pass.may_be_superseded());
                match pass::unless_superseded(&ctx, &key, may, pass.apply()).await {
                    Some(outcome) => pass.report(outcome).await,
                    None => Ok(pass::rerun_now()),
                }
            }
            finalizer::Event::Cleanup(obj) => {
                let mut pass = Pass::new(obj, &ctx);
                let outcome = pass.cleanup().await;
                pass.report(outcome).await
            }
        }
    })
    .await
}

/// Backs off per resource (see [`pass::error_policy`]).
pub fn error_policy(obj: Arc<GdsSession>, err: &Error, ctx: Arc<Context>) -> Action {
    pass::error_policy(&*obj, err, &ctx)
}

/// How a pass that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The session is Ready and its Secret written.
    Ready,
    /// Aura is starting the session (`state` is its Aura status).
    Starting(String),
    /// Aura reports the session Failed (with Aura's explanation).
    Failed(String),
    /// The session expired or was deleted in Aura, and the policy is to report it.
    Ended(String),
    /// The session is deleted (after cleanup); nothing to report.
    Gone,
}

/// Reasons for an instanceRef that does not resolve yet.
const INSTANCE_REF: Reasons = Reasons {
    missing: "InstanceRefNotFound",
    not_ready: "InstanceRefNotReady",
};

/// The state of one pass over a GdsSession; its steps are in this module's files.
type Pass<'c> = pass::Pass<'c, GdsSession>;

impl Pass<'_> {
    /// Whether this pass may be abandoned when the resource changes meanwhile (a deletion, say):
    /// a background pass over a recorded session, whose steps — a read, the Secret apply, a
    /// get-or-create by the same name — are safe to cut short and redo.
    fn may_be_superseded(&self) -> bool {
        !self.user_driven()
            && self.status.session_id.is_some()
            && self.status.create_intent.is_none()
    }

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
    fn credentials(&self, referenced: Option<&ReferencedInstance>) -> Option<CredentialsSecretRef> {
        self.obj
            .spec
            .credentials_secret_ref
            .as_ref()
            .or_else(|| referenced.and_then(ReferencedInstance::credentials))
            .or(self.status.credentials_secret_ref.as_ref())
            .cloned()
    }

    /// The Aura client for `credentials`. A live session holds a credentials Secret of its
    /// namespace until its deletion has reached Aura (see [`credential_hold`]).
    async fn aura(&self, credentials: Option<&CredentialsSecretRef>) -> Result<aura::Client> {
        let hold = self.obj.metadata.deletion_timestamp.is_none();
        let client = self
            .ctx
            .aura
            .for_resource_held(&self.ctx.kube, &self.namespace(), credentials, hold)
            .await?;
        Ok(client.with_priority(self.priority()))
    }

    /// The apply pass.
    async fn apply(&mut self) -> Result<Outcome> {
        let referenced = self.referenced_instance().await?;
        let credentials = self.credentials(referenced.as_ref());
        let aura = self.aura(credentials.as_ref()).await?;
        self.status.credentials_secret_ref = credentials;
        let session = match self.ensure_session(&aura, referenced.as_ref()).await? {
            ensure::Found::Session(session) => session,
            ensure::Found::Ended(state) => return Ok(Outcome::Ended(state)),
        };
        self.observe(&session);
        match &session.status {
            aura::SessionStatus::Ready => {
                self.write_secret(&session, referenced.as_ref()).await?;
                Ok(Outcome::Ready)
            }
            aura::SessionStatus::Failed => {
                let why = session
                    .problems
                    .iter()
                    .map(|p| format!("{}: {}", p.reason, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(Outcome::Failed(why))
            }
            other => Ok(Outcome::Starting(if other.as_str().is_empty() {
                "Starting".to_owned()
            } else {
                other.to_string()
            })),
        }
    }

    fn observe(&mut self, session: &aura::Session) {
        self.status.session_id = Some(session.id.to_string());
        self.status.session_name = Some(session.name.clone()).filter(|n| !n.is_empty());
        self.status.status = Some(session.status.to_string()).filter(|s| !s.is_empty());
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
    async fn cleanup(&mut self) -> Result<Outcome> {
        // A referenced AuraInstance deleted first must not block this deletion: fall back to
        // the credential the session was created with.
        let referenced = self.referenced_instance().await.ok().flatten();
        let credentials = self.credentials(referenced.as_ref());
        self.delete_in_aura(credentials.as_ref()).await?;
        // Done with Aura: the credentials Secret need not wait for this session any more.
        if let Some(credentials) = &credentials {
            credential_hold::release_if_unused(
                self.ctx,
                &self.namespace(),
                &credentials.name,
                &self.key(),
            )
            .await?;
        }
        Ok(Outcome::Gone)
    }

    /// Deletes the session (and any a lost create answer may have made) in Aura.
    async fn delete_in_aura(&mut self, credentials: Option<&CredentialsSecretRef>) -> Result<()> {
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

    /// Writes what the pass found and decides the next pass.
    async fn report(&mut self, result: Result<Outcome>) -> Result<Action> {
        let ready = match &result {
            Ok(Outcome::Gone) => return Ok(Action::await_change()),
            Ok(outcome) => Ok(self.ready_condition(outcome)),
            Err(err) => Err(err),
        };
        let note = format!(
            "the session is ready; its address is in Secret {}",
            secret::name(&self.obj)
        );
        pass::report(self, ready, &note).await;
        let key = self.key();
        result.map(|outcome| match outcome {
            Outcome::Starting(state) => pass::next_pass(self.ctx, &key, Some(&state)),
            _ => pass::next_pass(self.ctx, &key, None),
        })
    }

    fn ready_condition(&self, outcome: &Outcome) -> Desired<'static> {
        let id = self.status.session_id.clone().unwrap_or_default();
        match outcome {
            Outcome::Ready => Desired::yes(READY, "Ready", format!("session {id} is ready")),
            Outcome::Starting(state) => Desired::no(
                READY,
                "InProgress",
                format!("waiting for Aura: session {id} is {state}"),
            ),
            Outcome::Failed(why) => Desired::no(
                READY,
                "SessionFailed",
                format!("Aura reports session {id} Failed: {why}"),
            ),
            Outcome::Ended(state) => Desired::no(
                READY,
                "Expired",
                format!(
                    "session {id} is {state} in Aura; expiredPolicy is Report, so no new session is \
                     created (set expiredPolicy: Recreate, or delete and apply this resource again)"
                ),
            ),
            Outcome::Gone => Desired::no(READY, "Gone", "the session is deleted"),
        }
    }
}
