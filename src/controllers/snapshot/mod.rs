//! The AuraSnapshot controller.
//!
//! One pass: resolve the instance (and the credential, from the referenced AuraInstance when
//! the resource names none), make sure the snapshot has been requested exactly once (crash-safe,
//! see [`take`]), then report its Aura status. Pending and in-progress snapshots are polled with
//! growing intervals; a Completed one is looked at again every resync interval, to notice Aura
//! dropping it at the end of its retention.
//!
//! There is no finalizer: Aura cannot delete a snapshot, so deleting the resource only removes
//! it from Kubernetes.

mod take;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use super::references::{self, Reasons};
use super::{Context, pass};
use crate::aura::{InstanceId, Snapshot, SnapshotStatus};
use crate::crd::AuraSnapshot;
use crate::crd::conditions::{Desired, READY};
use crate::crd::instance::CredentialsSecretRef;

pub use take::recognise;

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let results = pass::controller(&ctx, namespace, "AuraSnapshot", |o: &AuraSnapshot| {
        o.status.as_ref().and_then(|s| s.status.clone())
    })
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, Arc::clone(&ctx));
    pass::drive(&ctx, "AuraSnapshot", results).await;
}

/// One pass over one AuraSnapshot.
pub async fn reconcile(obj: Arc<AuraSnapshot>, ctx: Arc<Context>) -> Result<Action> {
    if obj.meta().deletion_timestamp.is_some() {
        // Nothing to undo in Aura (it has no snapshot delete).
        ctx.memory.forget(&obj.uid().unwrap_or_default());
        return Ok(Action::await_change());
    }
    if obj.namespace().is_none() {
        return Err(Error::invalid(
            "metadata.namespace",
            "AuraSnapshot is namespaced",
        ));
    }
    let mut pass = Pass::new(obj, &ctx);
    let (key, may) = (pass.key(), pass.may_be_superseded());
    match pass::unless_superseded(&ctx, &key, may, pass.apply()).await {
        Some(outcome) => pass.report(outcome).await,
        None => Ok(pass::rerun_now()),
    }
}

/// Backs off per resource (see [`pass::error_policy`]).
pub fn error_policy(obj: Arc<AuraSnapshot>, err: &Error, ctx: Arc<Context>) -> Action {
    pass::error_policy(&*obj, err, &ctx)
}

/// How a pass that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The snapshot is Completed.
    Completed,
    /// Aura is still taking it (`Pending`, `InProgress`).
    Taking(String),
    /// Aura gave up on it (`Failed`, `Cancelled`); it will not change any more.
    Failed(String),
}

/// Reasons for an instanceRef that does not resolve yet.
const INSTANCE_REF: Reasons = Reasons {
    missing: "InstanceRefNotFound",
    not_ready: "InstanceRefNotReady",
};

/// The state of one pass over an AuraSnapshot.
type Pass<'c> = pass::Pass<'c, AuraSnapshot>;

impl Pass<'_> {
    /// Whether this pass may be abandoned when the resource changes meanwhile: a background
    /// re-read of a snapshot already recorded (nothing in flight to lose).
    fn may_be_superseded(&self) -> bool {
        !self.user_driven()
            && self.status.snapshot_id.is_some()
            && self.status.create_intent.is_none()
    }

    async fn apply(&mut self) -> Result<Outcome> {
        let (instance, credentials) = self.resolve_instance().await?;
        let aura = self
            .ctx
            .aura
            .for_resource(&self.ctx.kube, &self.namespace(), credentials.as_ref())
            .await?
            .with_priority(self.priority());
        self.status.instance_id = Some(instance.to_string());
        let snapshot = self.ensure_snapshot(&aura, &instance).await?;
        self.observe(&snapshot);
        Ok(match &snapshot.status {
            SnapshotStatus::Completed => Outcome::Completed,
            SnapshotStatus::Failed | SnapshotStatus::Cancelled => {
                Outcome::Failed(snapshot.status.to_string())
            }
            other => Outcome::Taking(other.to_string()),
        })
    }

    /// The instance to snapshot and the credential to use. Once the instance is known, a
    /// referenced AuraInstance that has gone does not stop the snapshot from being reported.
    async fn resolve_instance(&self) -> Result<(InstanceId, Option<CredentialsSecretRef>)> {
        let spec = &self.obj.spec;
        let own = spec.credentials_secret_ref.clone();
        match (&spec.instance_id, &spec.instance_ref) {
            (Some(id), _) => {
                let id = InstanceId::new(id.as_str()).map_err(|_| {
                    Error::invalid("instanceId", format!("{id:?} is not an Aura instance id"))
                })?;
                Ok((id, own))
            }
            (None, Some(reference)) => {
                let found = references::aura_instance(
                    self.ctx,
                    &self.namespace(),
                    &reference.name,
                    &self.key(),
                    INSTANCE_REF,
                )
                .await;
                match (found, &self.status.instance_id) {
                    (Ok(found), _) => {
                        let credentials = own.or_else(|| found.credentials().cloned());
                        Ok((found.id, credentials))
                    }
                    (Err(Error::Waiting { .. }), Some(known)) => {
                        Ok((InstanceId::new(known.as_str()).map_err(Error::Aura)?, own))
                    }
                    (Err(err), _) => Err(err),
                }
            }
            (None, None) => Err(Error::invalid(
                "instanceRef",
                "name the instance: set instanceRef or instanceId",
            )),
        }
    }

    fn observe(&mut self, snapshot: &Snapshot) {
        self.status.snapshot_id = Some(snapshot.snapshot_id.to_string());
        self.status.status = Some(snapshot.status.to_string());
        if let Some(profile) = &snapshot.profile {
            self.status.profile = Some(profile.to_string());
        }
        if snapshot.timestamp.is_some() {
            self.status.timestamp = snapshot.timestamp.clone();
        }
        if snapshot.exportable.is_some() {
            self.status.exportable = snapshot.exportable;
        }
    }

    /// Writes what the pass found and decides the next pass.
    async fn report(&mut self, result: Result<Outcome>) -> Result<Action> {
        let ready = match &result {
            Ok(outcome) => Ok(self.ready_condition(outcome)),
            Err(err) => Err(err),
        };
        pass::report(
            self,
            ready,
            "the snapshot is completed; it can be a restore or clone source",
        )
        .await;
        let key = self.key();
        result.map(|outcome| match outcome {
            Outcome::Taking(state) => pass::next_pass(self.ctx, &key, Some(&state)),
            Outcome::Completed | Outcome::Failed(_) => pass::next_pass(self.ctx, &key, None),
        })
    }

    fn ready_condition(&self, outcome: &Outcome) -> Desired<'static> {
        let id = self.status.snapshot_id.clone().unwrap_or_default();
        match outcome {
            Outcome::Completed => {
                Desired::yes(READY, "Completed", format!("snapshot {id} is completed"))
            }
            Outcome::Taking(state) => Desired::no(
                READY,
                "InProgress",
                format!("waiting for Aura: snapshot {id} is {state}"),
            ),
            Outcome::Failed(state) => Desired::no(
                READY,
                "SnapshotFailed",
                format!(
                    "Aura reports snapshot {id} {state}; it cannot be used. Delete this AuraSnapshot \
                     and create another to try again"
                ),
            ),
        }
    }
}
