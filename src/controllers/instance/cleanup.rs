//! The cleanup pass, run when the resource is deleted.
//!
//! It never validates the spec, so a broken spec cannot block deletion. With `Retain` it lets
//! go at once. With `Delete` it deletes the Aura instance and keeps the finalizer until Aura
//! reports it gone (404 or 410 count as gone), unless deletion protection is on.

use super::{Outcome, Pass, Result};
use crate::aura::{self, InstanceId, TenantId};
use crate::controllers::{Error, events};
use crate::crd::instance::DeletionPolicy;

impl Pass<'_> {
    pub(super) async fn cleanup(&mut self) -> Result<Outcome> {
        self.ctx.memory.forget(&self.key());
        let known = self.status.instance_id.clone();
        let intent = self.status.create_intent.clone();
        if known.is_none() && intent.is_none() {
            return Ok(Outcome::Gone);
        }
        if self.obj.spec.deletion_policy == DeletionPolicy::Retain {
            if let Some(id) = &known {
                events::normal(
                    self.ctx,
                    &*self.obj,
                    "Retained",
                    format!("deletionPolicy is Retain: Aura instance {id} keeps running"),
                )
                .await;
            }
            return Ok(Outcome::Gone);
        }
        if self.obj.spec.deletion_protection {
            return Err(Error::NeedsAttention {
                reason: "DeletionProtected",
                message: "deletionProtection is on: the Aura instance is kept and this resource stays until \
                          deletionProtection is set to false or deletionPolicy to Retain"
                    .to_owned(),
            });
        }
        // Deletion talks to Aura on the user's behalf: it goes first in the budget queue.
        let aura = self
            .aura()
            .await?
            .with_priority(aura::Priority::Interactive);
        let ids = match (known, intent) {
            (Some(id), _) => vec![id],
            // A create may have reached Aura without being recorded: find it by its name.
            (None, Some(intent)) => {
                let tenant = TenantId::new(intent.tenant_id.as_str()).map_err(Error::Aura)?;
                aura.instances()
                    .list(Some(&tenant))
                    .await?
                    .into_iter()
                    .filter(|s| s.name == intent.aura_name)
                    .map(|s| s.id.to_string())
                    .collect()
            }
            (None, None) => Vec::new(),
        };
        let mut waiting = Vec::new();
        for id in ids {
            if !self.delete_in_aura(&aura, &id).await? {
                waiting.push(id);
            }
        }
        if waiting.is_empty() {
            return Ok(Outcome::Gone);
        }
        Err(Error::Waiting {
            reason: "DeletingInAura",
            message: format!(
                "waiting for Aura to finish deleting instance {}",
                waiting.join(", ")
            ),
            retry: self.ctx.timing.poll.initial,
        })
    }

    /// Deletes one instance; true once Aura no longer has it.
    async fn delete_in_aura(&mut self, aura: &aura::Client, id: &str) -> Result<bool> {
        let Ok(instance_id) = InstanceId::new(id) else {
            return Ok(true);
        };
        match aura.instances().get(&instance_id).await {
            Err(e) if e.is_not_found() => {
                self.ctx.memory.forget_password(&self.key(), id);
                events::normal(
                    self.ctx,
                    &*self.obj,
                    "Deleted",
                    format!("Aura instance {id} is gone"),
                )
                .await;
                Ok(true)
            }
            Err(e) => Err(e.into()),
            Ok(instance) if instance.status.is_being_deleted() => Ok(false),
            Ok(_) => match aura.instances().delete(&instance_id).await {
                Ok(aura::Deletion::AlreadyGone) => Ok(true),
                Ok(aura::Deletion::Accepted(_)) => {
                    events::normal(
                        self.ctx,
                        &*self.obj,
                        "DeleteRequested",
                        format!("deleting Aura instance {id}"),
                    )
                    .await;
                    Ok(false)
                }
                Err(e) if e.is_busy() => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }
}
