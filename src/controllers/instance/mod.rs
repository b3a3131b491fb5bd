//! The AuraInstance controller.
//!
//! One pass: resolve the credential and tenant, validate the spec against what the tenant
//! offers, make sure the Aura instance exists (crash-safe, see [`create`]) and that this
//! resource alone manages it (its claim, see [`claims`](crate::controllers::tenancy::claims)),
//! make sure its connection Secret is written, then take at most one step towards the spec
//! ([`plan`]) and report. While Aura is busy the resource is polled with growing intervals; once
//! settled it is compared with Aura again every resync interval, which is how drift is noticed.

mod act;
mod cleanup;
mod config_map;
mod connection_secret;
pub mod create;
mod expiry;
pub mod limits;
pub mod observe_only;
pub mod plan;
pub mod report;
pub mod rotation;
mod schedule;
pub mod secret;
mod strategy;
pub mod validate;
mod verify;

use kube::{Resource, ResourceExt};

use crate::aura;
use crate::controllers::machinery::error::{Error, Result};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::pass;
use crate::controllers::reconciler::pass::Verdict;
use crate::controllers::tenancy::credential_hold;
use crate::controllers::tenancy::credentials::CredentialSource;
use crate::crd::AuraInstance;
use crate::crd::common::CredentialsSecretRef;

/// Finalizer that keeps a resource until its Aura side is dealt with.
pub const FINALIZER: &str = "aura.neo4j.io/instance";

impl Reconciler for AuraInstance {
    const KIND: &'static str = "AuraInstance";
    const FINALIZER: Option<&'static str> = Some(FINALIZER);
    const OWNS_SECRETS: bool = true;
    type Observed = Observed;
    type Step = plan::Step;

    fn status_word(&self) -> Option<String> {
        Some(self.status.as_ref()?.status.as_ref()?.to_string())
    }

    fn credentials_held(&self) -> Option<&CredentialsSecretRef> {
        self.spec.credentials_secret_ref.as_ref()
    }

    fn credential_ref(&self) -> Option<&crate::crd::credential::CredentialRef> {
        self.spec.credential_ref.as_ref()
    }

    fn validate(&self) -> Result<(), Error> {
        validate::check_spec(&self.spec)
    }

    async fn observe(pass: &mut Pass<'_>) -> Result<Observed> {
        // Both before any Aura call: neither needs Aura, and an expiry must not wait for it.
        pass.check_expiry().await?;
        pass.follow_schedule().await?;
        if pass.observe_only() {
            return pass.observe_read_only().await;
        }
        pass.observe_instance().await
    }

    fn plan(pass: &Pass<'_>, observed: &Observed) -> plan::Step {
        pass.plan(observed)
    }

    async fn act(pass: &mut Pass<'_>, observed: Observed, step: plan::Step) -> Result<Verdict> {
        let outcome = pass.act(&observed.aura, &observed.instance, step).await?;
        Ok(pass.verdict(&outcome))
    }

    async fn clean_up(pass: &mut Pass<'_>) -> Result<()> {
        pass.cleanup().await
    }

    /// A background pass over a settled instance (its id recorded, no create and no restore in
    /// flight), whose every step is safe to cut short and redo — a read, an idempotent PATCH,
    /// or a pause or resume that the next pass would see under way.
    fn may_be_superseded(pass: &Pass<'_>) -> bool {
        !pass.user_driven()
            && pass.status.instance_id.is_some()
            && pass.status.create_intent.is_none()
            && !pass.restore_pending()
    }

    const LIMITED_BY_PEERS: bool = true;

    /// Refused by its credential's `maxInstancesPerNamespace`, and `gone` counted against it.
    fn waits_for_room_left_by(&self, gone: &Self) -> bool {
        limits::refused_for_count(self) && limits::counts_with(gone, self)
    }

    fn ready_note(_: &Pass<'_>) -> String {
        "the instance is ready; its connection Secret is usable".to_owned()
    }
}

/// What a pass found: the instance as Aura reports it, and the client that asked.
pub struct Observed {
    aura: aura::Client,
    instance: aura::Instance,
}

/// How a pass that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The instance is as specified.
    Settled,
    /// Aura is working on the instance (`state` is the Aura status or our step).
    Busy(String),
    /// Aura reports a status the operator cannot act on.
    Stuck(aura::InstanceStatus),
    /// Observe-only: the instance as Aura reports it, and where it differs from the spec.
    Observed {
        status: aura::InstanceStatus,
        differences: Vec<String>,
    },
}

/// The state of one pass over an AuraInstance; its steps are in this module's files.
pub(crate) type Pass<'c> = pass::Pass<'c, AuraInstance>;

impl Pass<'_> {
    /// The Aura client for this resource, queued by urgency; keeps what its credential
    /// restricts. A live resource whose deletion will call Aura holds its credentials Secret
    /// until then (see [`credential_hold`]).
    async fn aura(&mut self) -> Result<aura::Client> {
        let hold = self.obj.meta().deletion_timestamp.is_none()
            && !self.observe_only()
            && credential_hold::needs_for_cleanup(&self.obj);
        let source = CredentialSource::named(
            self.obj.spec.credentials_secret_ref.as_ref(),
            self.obj.spec.credential_ref.as_ref(),
        )
        .unwrap_or(CredentialSource::Default);
        let namespace = self.obj.namespace().unwrap_or_default();
        let grant = self
            .ctx
            .aura
            .for_resource_held(&self.ctx.kube, &namespace, &source, hold)
            .await?;
        self.restrictions = grant.restrictions;
        Ok(grant.client.with_priority(self.priority()))
    }
}
