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
//!
//! Observe-only (`spec.managementPolicy: Observe`): the snapshot must be named by
//! `spec.snapshotId`; the pass only reads it (and, for a credential limited to tenants, its
//! instance) and mirrors it. No path under Observe reaches [`take`]'s request.

mod take;

use crate::aura::{self, InstanceId, Snapshot, SnapshotStatus};
use crate::controllers::machinery::error::{Error, Result, Stop};
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::pass::{self, Verdict};
use crate::controllers::tenancy::credentials::CredentialSource;
use crate::controllers::tenancy::references::{self, Reasons};
use crate::crd::AuraSnapshot;
use crate::crd::common::CredentialsSecretRef;
use crate::crd::instance::ManagementPolicy;

pub use take::recognise;

impl Reconciler for AuraSnapshot {
    const KIND: &'static str = "AuraSnapshot";
    /// Aura cannot delete a snapshot: deleting the resource only forgets it.
    const FINALIZER: Option<&'static str> = None;
    const OWNS_SECRETS: bool = false;
    type Observed = Snapshot;
    type Step = Outcome;

    fn status_word(&self) -> Option<String> {
        Some(self.status.as_ref()?.status.as_ref()?.to_string())
    }

    /// A snapshot's deletion needs no Aura call, so it holds nothing.
    fn credentials_held(&self) -> Option<&CredentialsSecretRef> {
        None
    }

    fn credential_ref(&self) -> Option<&crate::crd::credential::CredentialRef> {
        self.spec.credential_ref.as_ref()
    }

    fn validate(&self) -> Result<(), Error> {
        if self.spec.instance_id.is_none() && self.spec.instance_ref.is_none() {
            return Err(Error::invalid(
                "instanceRef",
                "name the instance: set instanceRef or instanceId",
            ));
        }
        if self.spec.management_policy == ManagementPolicy::Observe
            && self.spec.snapshot_id.is_none()
        {
            return Err(Error::invalid(
                "snapshotId",
                "managementPolicy Observe needs the id of an existing snapshot; the operator \
                 never takes one while it only observes",
            ));
        }
        Ok(())
    }

    async fn observe(pass: &mut Pass<'_>) -> Result<Snapshot> {
        let (instance, credentials) = pass.resolve_instance().await?;
        let source = credentials.unwrap_or(CredentialSource::Default);
        let grant = pass
            .ctx
            .aura
            .for_resource(&pass.ctx.kube, &pass.namespace(), &source)
            .await?;
        pass.restrictions = grant.restrictions;
        let aura = grant.client.with_priority(pass.priority());
        if pass.status.snapshot_id.is_none() {
            pass.check_tenant(&aura, &instance).await?;
        }
        pass.status.instance_id = Some(instance.to_string());
        let snapshot = pass.ensure_snapshot(&aura, &instance).await?;
        pass.observe(&snapshot);
        Ok(snapshot)
    }

    /// Nothing more to do once the snapshot is asked for: where Aura is with it.
    fn plan(_: &Pass<'_>, snapshot: &Snapshot) -> Outcome {
        outcome(&snapshot.status)
    }

    async fn act(pass: &mut Pass<'_>, _: Snapshot, outcome: Outcome) -> Result<Verdict> {
        Ok(pass.verdict(&outcome))
    }

    async fn clean_up(_: &mut Pass<'_>) -> Result<()> {
        Ok(())
    }

    /// A background re-read of a snapshot already recorded (nothing in flight to lose).
    fn may_be_superseded(pass: &Pass<'_>) -> bool {
        !pass.user_driven()
            && pass.status.snapshot_id.is_some()
            && pass.status.create_intent.is_none()
    }

    fn ready_note(pass: &Pass<'_>) -> String {
        let note = "the snapshot is completed; it can be a restore or clone source";
        if pass.observe_only() {
            return format!("{note} (observing only: managementPolicy Observe)");
        }
        note.to_owned()
    }
}

/// Where Aura is with the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The snapshot is Completed.
    Completed,
    /// Aura is still taking it (`Pending`, `InProgress`).
    Taking(String),
    /// Aura gave up on it (`Failed`, `Cancelled`); it will not change any more.
    Failed(String),
}

/// Where Aura is with a snapshot in `status` (pure; `aura-operator plan` reads it too).
pub fn outcome(status: &SnapshotStatus) -> Outcome {
    match status {
        SnapshotStatus::Completed => Outcome::Completed,
        SnapshotStatus::Failed | SnapshotStatus::Cancelled => Outcome::Failed(status.to_string()),
        other => Outcome::Taking(other.to_string()),
    }
}

/// Reasons for an instanceRef that does not resolve yet.
const INSTANCE_REF: Reasons = Reasons {
    missing: Reason::InstanceRefNotFound,
    not_ready: Reason::InstanceRefNotReady,
};

/// The state of one pass over an AuraSnapshot.
type Pass<'c> = pass::Pass<'c, AuraSnapshot>;

impl Pass<'_> {
    /// Whether this resource only reads the snapshot `spec.snapshotId` names.
    fn observe_only(&self) -> bool {
        self.obj.spec.management_policy == ManagementPolicy::Observe
    }

    /// The instance to snapshot and the credential to use. Once the instance is known, a
    /// referenced AuraInstance that has gone does not stop the snapshot from being reported.
    async fn resolve_instance(&self) -> Result<(InstanceId, Option<CredentialSource>)> {
        let spec = &self.obj.spec;
        let own = CredentialSource::named(
            spec.credentials_secret_ref.as_ref(),
            spec.credential_ref.as_ref(),
        );
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
                        let credentials = own.or_else(|| found.credentials());
                        Ok((found.id, credentials))
                    }
                    (Err(Stop::Wait(_)), Some(known)) => {
                        Ok((InstanceId::new(known.as_str()).map_err(Error::Aura)?, own))
                    }
                    (Err(err), _) => Err(err),
                }
            }
            (None, None) => Err(Error::invalid(
                "instanceRef",
                "name the instance: set instanceRef or instanceId",
            )
            .into()),
        }
    }

    /// Refuses, before the snapshot is taken, an instance in a tenant the credential does not
    /// allow (one read of the instance, only when the credential limits tenants).
    async fn check_tenant(&self, aura: &aura::Client, instance: &InstanceId) -> Result<()> {
        if !self.restrictions.limits_tenants() {
            return Ok(());
        }
        let field = match self.obj.spec.instance_id {
            Some(_) => "instanceId",
            None => "instanceRef",
        };
        let found = match aura.instances().get(instance).await {
            Ok(found) => found,
            // Left to the steps that follow, which say so naming the field.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let tenant = found.tenant_id.as_ref().map(|t| t.as_str());
        self.restrictions.check_tenant(tenant, field)?;
        Ok(())
    }

    fn observe(&mut self, snapshot: &Snapshot) {
        self.status.snapshot_id = Some(snapshot.snapshot_id.to_string());
        self.status.status = Some(snapshot.status.clone());
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

    fn verdict(&self, outcome: &Outcome) -> Verdict {
        let id = self.status.snapshot_id.clone().unwrap_or_default();
        match outcome {
            Outcome::Completed if self.observe_only() => Verdict::ready(
                Reason::Completed,
                format!("snapshot {id} is completed; observing only (managementPolicy Observe)"),
            ),
            Outcome::Completed => {
                Verdict::ready(Reason::Completed, format!("snapshot {id} is completed"))
            }
            Outcome::Taking(state) => {
                Verdict::busy(state, format!("waiting for Aura: snapshot {id} is {state}"))
            }
            Outcome::Failed(state) => Verdict::stalled(
                Reason::SnapshotFailed,
                format!(
                    "Aura reports snapshot {id} {state}; it cannot be used. Delete this AuraSnapshot \
                     and create another to try again"
                ),
            ),
        }
    }
}
