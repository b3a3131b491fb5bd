//! Observe-only (`spec.managementPolicy: Observe`): read the instance, mirror it in the status
//! and the connection Secret, and report how it differs from the spec — never change it.
//!
//! Nothing here calls Aura except to read: no create (the instance must be named by
//! `spec.instanceId`), no claim (watching does not stop another resource from managing it), and
//! the plan's only step is [`Step::Observe`](super::plan::Step::Observe), which `act` reports.
//! The drift is computed by [`plan::differences`], from the same comparison `Full` acts on.

use super::{Observed, Outcome, Pass, Result};
use crate::aura::{InstanceId, InstanceStatus};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::News;
use crate::crd::instance::ManagementPolicy;

impl Pass<'_> {
    /// Whether this resource only observes its instance.
    pub(super) fn observe_only(&self) -> bool {
        self.obj.spec.management_policy == ManagementPolicy::Observe
    }

    /// Reads the instance `spec.instanceId` names and records what Aura reports; writes the
    /// connection Secret (and ConfigMap) with what is known.
    pub(super) async fn observe_read_only(&mut self) -> Result<Observed> {
        let Some(id) = self.obj.spec.instance_id.clone() else {
            // validate() refuses this first; kept so that no path here can create.
            return Err(Error::invalid("instanceId", "managementPolicy Observe needs it").into());
        };
        let aura = self.aura().await?;
        let instance_id = InstanceId::new(id.as_str()).map_err(|_| {
            Error::invalid("instanceId", format!("{id:?} is not an Aura instance id"))
        })?;
        let instance = match aura.instances().get(&instance_id).await {
            Ok(instance) => instance,
            Err(e) if e.is_not_found() => return Err(not_found(&id).into()),
            Err(e) => return Err(e.into()),
        };
        let tenant = instance.tenant_id.as_ref().map(|t| t.as_str());
        self.restrictions.check_tenant(tenant, "instanceId")?;
        self.check_adopted_placement(&instance)?;
        if self.status.tenant_id.is_none() {
            self.status.tenant_id = instance.tenant_id.as_ref().map(ToString::to_string);
        }
        self.status.origin.get_or_insert(self.origin_by_spec());
        if self.status.instance_id.is_none() {
            self.status.instance_id = Some(id.clone());
            let note = format!(
                "observing Aura instance {id}: managementPolicy is Observe, nothing in Aura is changed"
            );
            self.announce(News::normal("Observing", note));
        }
        let login = self.write_secret(&instance, None).await?;
        self.write_config_map(&instance).await?;
        self.observe(&instance);
        // Only to refuse a rotation asked by annotation: observing never changes the password.
        self.rotate_password(&instance, login).await?;
        Ok(Observed { aura, instance })
    }

    /// Records the drift in the Drifted condition (see
    /// [`drift`](crate::controllers::reconciler::drift)) and says how the pass ended; calls
    /// nothing.
    pub(super) async fn report_drift(&mut self, differences: Vec<String>) -> Outcome {
        self.record_drift("AuraInstance", &differences).await;
        let status = self
            .status
            .status
            .clone()
            .unwrap_or(InstanceStatus::Creating);
        Outcome::Observed {
            status,
            differences,
        }
    }
}

/// The refusal when the instance an observe-only resource names is not in Aura.
pub fn not_found(id: &str) -> Error {
    Error::NeedsAttention {
        reason: Reason::InstanceNotFound,
        message: format!(
            "Aura has no instance {id} visible to this credential; under managementPolicy \
             Observe the operator never creates one"
        ),
    }
}
