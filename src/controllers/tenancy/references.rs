//! Following a reference to another resource of this operator in the same namespace.
//!
//! A reference that does not resolve yet (the resource is missing, or has no Aura object yet)
//! is a wait, not a failure: the other resource may be applied in the same `kubectl apply`.

use kube::Api;

use super::credentials::CredentialSource;
use crate::aura::{InstanceId, SnapshotId, SnapshotStatus};
use crate::controllers::machinery::Engine;
use crate::controllers::machinery::error::{Error, Result, Wait};
use crate::controllers::machinery::pacing::growing_wait;
use crate::controllers::machinery::reasons::Reason;
use crate::crd::{AuraInstance, AuraSnapshot};

/// Condition reasons for a reference that does not resolve yet.
#[derive(Debug, Clone, Copy)]
pub struct Reasons {
    /// The referenced resource does not exist.
    pub missing: Reason,
    /// It exists but has no usable Aura object yet.
    pub not_ready: Reason,
}

fn wait(ctx: &Engine, waiter: &str, reason: Reason, message: String) -> Wait {
    Wait {
        reason,
        message,
        retry: growing_wait(ctx, waiter, reason.as_str()),
    }
}

/// An AuraInstance named by a reference, with its Aura instance id.
pub struct ReferencedInstance {
    pub resource: AuraInstance,
    pub id: InstanceId,
}

impl ReferencedInstance {
    /// The credential the referenced instance names, for resources that name none of their own.
    pub fn credentials(&self) -> Option<CredentialSource> {
        let spec = &self.resource.spec;
        CredentialSource::named(
            spec.credentials_secret_ref.as_ref(),
            spec.credential_ref.as_ref(),
        )
    }

    /// The tenant the AuraInstance recorded for its instance.
    pub fn tenant(&self) -> Option<&str> {
        self.resource.status.as_ref()?.tenant_id.as_deref()
    }

    /// The Aura status the AuraInstance last reported (`running`, `paused`, ...).
    pub fn aura_status(&self) -> Option<&crate::aura::InstanceStatus> {
        self.resource.status.as_ref()?.status.as_ref()
    }
}

/// The AuraInstance `name` in `namespace`, once it has an Aura instance.
pub async fn aura_instance(
    ctx: &Engine,
    namespace: &str,
    name: &str,
    waiter: &str,
    reasons: Reasons,
) -> Result<ReferencedInstance> {
    let api: Api<AuraInstance> = Api::namespaced(ctx.kube.clone(), namespace);
    let resource = api.get_opt(name).await?.ok_or_else(|| {
        let message = format!("AuraInstance {name:?} does not exist");
        wait(ctx, waiter, reasons.missing, message)
    })?;
    let id = resource
        .status
        .as_ref()
        .and_then(|s| s.instance_id.clone())
        .ok_or_else(|| {
            let message = format!("AuraInstance {name:?} has no Aura instance yet");
            wait(ctx, waiter, reasons.not_ready, message)
        })?;
    let id = InstanceId::new(id).map_err(Error::Aura)?;
    Ok(ReferencedInstance { resource, id })
}

/// The instance and snapshot of the AuraSnapshot `name` in `namespace`, once it is Completed.
pub async fn completed_snapshot(
    ctx: &Engine,
    namespace: &str,
    name: &str,
    waiter: &str,
    reasons: Reasons,
) -> Result<(InstanceId, SnapshotId)> {
    let api: Api<AuraSnapshot> = Api::namespaced(ctx.kube.clone(), namespace);
    let snapshot = api.get_opt(name).await?.ok_or_else(|| {
        let message = format!("AuraSnapshot {name:?} does not exist");
        wait(ctx, waiter, reasons.missing, message)
    })?;
    let Some((instance, snap)) = snapshot.completed_source() else {
        let status = snapshot.status.as_ref().and_then(|s| s.status.clone());
        let state = status
            .as_ref()
            .map_or_else(|| "not taken yet".to_owned(), ToString::to_string);
        if status.is_some_and(|s| matches!(s, SnapshotStatus::Failed | SnapshotStatus::Cancelled)) {
            return Err(Error::NeedsAttention {
                reason: Reason::SourceSnapshotFailed,
                message: format!(
                    "AuraSnapshot {name:?} is {state}: it cannot be a source; name another snapshot"
                ),
            }
            .into());
        }
        let message = format!("AuraSnapshot {name:?} is not Completed yet ({state})");
        return Err(wait(ctx, waiter, reasons.not_ready, message).into());
    };
    Ok((
        InstanceId::new(instance).map_err(Error::Aura)?,
        SnapshotId::new(snap).map_err(Error::Aura)?,
    ))
}
