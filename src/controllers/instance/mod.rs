//! The AuraInstance controller.
//!
//! One pass: resolve the credential and tenant, validate the spec against what the tenant
//! offers, make sure the Aura instance exists (crash-safe, see [`create`]), make sure its
//! connection Secret is written, then take at most one step towards the spec ([`plan`]) and
//! report. While Aura is busy the resource is polled with growing intervals; once settled it is
//! compared with Aura again every resync interval, which is how drift is noticed.

mod act;
mod cleanup;
mod create;
pub mod plan;
mod report;
pub mod secret;
mod validate;

use crate::controllers::secrets;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use super::{Context, credential_hold, finalizer, pass};
use crate::aura;
use crate::crd::AuraInstance;

/// Finalizer that keeps a resource until its Aura side is dealt with.
pub const FINALIZER: &str = "aura.neo4j.io/instance";

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let results = pass::controller(&ctx, namespace, "AuraInstance", |o: &AuraInstance| {
        o.status.as_ref().and_then(|s| s.status.clone())
    })
    .owns(pass::scoped::<Secret>(&ctx, namespace), secrets::managed())
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, Arc::clone(&ctx));
    pass::drive(&ctx, "AuraInstance", results).await;
}

/// One pass over one AuraInstance.
pub async fn reconcile(obj: Arc<AuraInstance>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = obj
        .namespace()
        .ok_or_else(|| Error::invalid("metadata.namespace", "AuraInstance is namespaced"))?;
    let api: Api<AuraInstance> = Api::namespaced(ctx.kube.clone(), &namespace);
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
pub fn error_policy(obj: Arc<AuraInstance>, err: &Error, ctx: Arc<Context>) -> Action {
    pass::error_policy(&*obj, err, &ctx)
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
    /// The Aura side is gone (after cleanup); nothing to report.
    Gone,
}

/// The state of one pass over an AuraInstance; its steps are in this module's files.
pub(crate) type Pass<'c> = pass::Pass<'c, AuraInstance>;

impl Pass<'_> {
    /// Whether this pass may be abandoned when the resource changes meanwhile: a background pass
    /// over a settled instance (its id recorded, no create and no restore in flight), whose every
    /// step is safe to cut short and redo — a read, an idempotent PATCH, or a pause or resume
    /// that the next pass would see under way.
    fn may_be_superseded(&self) -> bool {
        !self.user_driven()
            && self.status.instance_id.is_some()
            && self.status.create_intent.is_none()
            && !self.restore_pending()
    }

    /// The Aura client for this resource, queued by urgency. A live resource whose deletion will
    /// call Aura holds its credentials Secret until then (see [`credential_hold`]).
    async fn aura(&self) -> Result<aura::Client> {
        let hold = self.obj.meta().deletion_timestamp.is_none()
            && credential_hold::needs_for_cleanup(&self.obj);
        let client = self
            .ctx
            .aura
            .for_resource_held(
                &self.ctx.kube,
                &self.obj.namespace().unwrap_or_default(),
                self.obj.spec.credentials_secret_ref.as_ref(),
                hold,
            )
            .await?;
        Ok(client.with_priority(self.priority()))
    }

    /// How long until the next pass after `outcome`.
    fn requeue(&self, outcome: &Outcome) -> Action {
        match outcome {
            Outcome::Settled | Outcome::Stuck(_) => pass::next_pass(self.ctx, &self.key(), None),
            Outcome::Busy(state) => pass::next_pass(self.ctx, &self.key(), Some(state)),
            Outcome::Gone => Action::await_change(),
        }
    }
}
