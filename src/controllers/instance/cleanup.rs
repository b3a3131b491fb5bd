//! The cleanup pass, run when the resource is deleted.
//!
//! It never validates the spec, so a broken spec cannot block deletion. With `Retain` it lets
//! go at once. With `Delete` it deletes the Aura instance and keeps the finalizer until Aura
//! reports it gone (404 or 410 count as gone), unless deletion protection is on.

use super::{Pass, Result, secret};
use crate::aura::{self, InstanceId, TenantId};
use crate::controllers::secrets;
use crate::controllers::{Error, Reason, Wait, events};
use crate::crd::instance::DeletionPolicy;

impl Pass<'_> {
    pub(super) async fn cleanup(&mut self) -> Result<()> {
        self.ctx.memory.forget(&self.key());
        let known = self.status.instance_id.clone();
        let intent = self.status.create_intent.clone();
        if known.is_none() && intent.is_none() {
            return Ok(());
        }
        if self.obj.spec.deletion_policy == DeletionPolicy::Retain {
            if let Some(id) = &known {
                self.retain(id).await?;
            }
            return Ok(());
        }
        if self.obj.spec.deletion_protection {
            return Err(Error::NeedsAttention {
                reason: Reason::DeletionProtected,
                message: "deletionProtection is on: the Aura instance is kept and this resource stays until \
                          deletionProtection is set to false or deletionPolicy to Retain"
                    .to_owned(),
            }
            .into());
        }
        // Deletion talks to Aura on the user's behalf: it goes first in the budget queue.
        let aura = self
            .aura()
            .await?
            .with_priority(aura::Priority::Interactive);
        if let Some(tenant) = self.status.tenant_id.as_deref() {
            self.restrictions.check_tenant(Some(tenant), "tenantId")?;
        }
        let ids = match known {
            Some(id) => vec![id],
            None => self.created_unrecorded(&aura).await?,
        };
        let mut waiting = Vec::new();
        for id in ids {
            if !self.delete_in_aura(&aura, &id).await? {
                waiting.push(id);
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        let message = format!(
            "waiting for Aura to finish deleting instance {}",
            waiting.join(", ")
        );
        Err(Wait {
            reason: Reason::DeletingInAura,
            message,
            retry: self.ctx.timing.poll.initial,
        }
        .into())
    }

    /// Instances a create may have made without being recorded, found by the intent's name. A
    /// create sent moments ago may not be listed yet: finding none then is a wait, since
    /// deleting nothing could leave it running with no resource.
    async fn created_unrecorded(&self, aura: &aura::Client) -> Result<Vec<String>> {
        let Some(intent) = &self.status.create_intent else {
            return Ok(Vec::new());
        };
        let tenant = TenantId::new(intent.tenant_id.as_str()).map_err(Error::Aura)?;
        let ids: Vec<String> = aura
            .instances()
            .list(Some(&tenant))
            .await?
            .into_iter()
            .filter(|s| s.name == intent.aura_name)
            .map(|s| s.id.to_string())
            .collect();
        if ids.is_empty() && self.within_grace(&intent.since) {
            let what = format!("an instance named {:?}", intent.aura_name);
            return Err(self.not_visible_yet(&what).into());
        }
        Ok(ids)
    }

    /// Keeps the Aura instance and what it takes to use it: the connection Secret is released
    /// from this resource, so the garbage collector leaves it and its password in place.
    async fn retain(&mut self, id: &str) -> Result<()> {
        let name = secret::name(&self.obj);
        let kept = secrets::release(&self.secrets, &name).await?;
        let note = if kept {
            format!(
                "deletionPolicy is Retain: Aura instance {id} keeps running; its connection Secret \
                 {name} is kept (label {}={id})",
                secrets::INSTANCE_ID_LABEL
            )
        } else {
            format!("deletionPolicy is Retain: Aura instance {id} keeps running")
        };
        events::normal(self.ctx, &*self.obj, "Retained", note).await;
        Ok(())
    }

    /// Deletes one instance; true once Aura no longer has it.
    async fn delete_in_aura(&mut self, aura: &aura::Client, id: &str) -> Result<bool> {
        let Ok(instance_id) = InstanceId::new(id) else {
            return Ok(true);
        };
        match aura.instances().get(&instance_id).await {
            // A new instance Aura does not show yet is not gone: wait for it, then delete it.
            Err(e) if e.is_not_found() && self.may_be_invisible() => Ok(false),
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
