//! The cleanup pass, run when the resource is deleted.
//!
//! It never validates the spec, so a broken spec cannot block deletion. With `Retain` it lets
//! go at once. With `Delete` it deletes the Aura instance and keeps the finalizer until Aura
//! reports it gone (404 or 410 count as gone), unless deletion protection is on. Two more
//! guards keep an instance that is not this resource's to destroy:
//! - an instance adopted through `spec.instanceId` is deleted only with a second key, the
//!   annotation `aura.neo4j.io/confirm-delete` repeating its id (a typo in one place, or a
//!   `deletionPolicy` copied from a template, must not destroy someone else's database);
//!   without it the instance is kept as with `Retain`, with an Event saying how to confirm;
//! - an instance another resource holds the claim on (see [`claims`]) is never deleted.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::{Pass, Result, secret};
use crate::aura::{self, InstanceId, TenantId};
use crate::controllers::connection::secrets;
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::error::Wait;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::tenancy::claims::{self, AuraObject, Claim};
use crate::crd::instance::{CONFIRM_DELETE_ANNOTATION, DeletionPolicy, InstanceOrigin};

impl Pass<'_> {
    pub(super) async fn cleanup(&mut self) -> Result<()> {
        self.ctx.memory.forget(&self.key());
        let known = self.status.instance_id.clone();
        let intent = self.status.create_intent.clone();
        if known.is_none() && intent.is_none() {
            return Ok(());
        }
        // Observe-only never changes Aura, whatever deletionPolicy says.
        if self.obj.spec.deletion_policy == DeletionPolicy::Retain || self.observe_only() {
            if let Some(id) = &known {
                self.retain(id, Reason::DeleteNotConfirmed, None).await?;
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
        if let Some(id) = &known
            && self.adopted()
            && !self.delete_confirmed(id)
        {
            let why = format!(
                "deletionPolicy is Delete, but Aura instance {id} was adopted (not created by this \
                 resource) and the annotation {CONFIRM_DELETE_ANNOTATION}: {id} does not confirm it: \
                 the instance is kept. To delete an adopted instance, set both before deleting the \
                 resource"
            );
            self.retain(id, Reason::DeleteNotConfirmed, Some(why))
                .await?;
            return Ok(());
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
            if let Claim::HeldBy(other) =
                claims::claim(&self.ctx.claims, &*self.obj, AuraObject::Instance, &id).await?
            {
                let why = claims::already_managed::<crate::crd::AuraInstance>(
                    AuraObject::Instance,
                    &id,
                    &other,
                );
                self.retain(&id, Reason::AlreadyManaged, Some(why.to_string()))
                    .await?;
                continue;
            }
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

    /// Whether the instance was adopted rather than created by this resource.
    fn adopted(&self) -> bool {
        let origin = self.status.origin.unwrap_or_else(|| self.origin_by_spec());
        origin == InstanceOrigin::Adopted
    }

    /// Whether the second key is there: the confirmation annotation repeats the instance id.
    fn delete_confirmed(&self, id: &str) -> bool {
        self.obj
            .annotations()
            .get(CONFIRM_DELETE_ANNOTATION)
            .is_some_and(|v| v.trim() == id)
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
    /// from this resource, so the garbage collector leaves it and its password in place. `why`
    /// (a Warning Event with `reason`) says why an instance is kept despite `deletionPolicy:
    /// Delete`; without it the policy is Retain.
    async fn retain(&mut self, id: &str, reason: Reason, why: Option<String>) -> Result<()> {
        let name = secret::name(&self.obj);
        let kept = secrets::release(&self.secrets, &name).await?;
        // Rotation strategy TwoUsers keeps the admin password apart: it stays too.
        secrets::release(&self.secrets, &secret::admin_name(&self.obj)).await?;
        if let Some(config_map) = self.status.connection_config_map.clone() {
            let api: kube::Api<ConfigMap> =
                kube::Api::namespaced(self.ctx.kube.clone(), &self.namespace());
            secrets::release(&api, &config_map).await?;
        }
        let secret_note = if kept {
            format!(
                "; its connection Secret {name} is kept (label {}={id})",
                secrets::INSTANCE_ID_LABEL
            )
        } else {
            String::new()
        };
        match why {
            Some(why) => {
                let note = format!("{why}{secret_note}");
                events::warning(self.ctx, &*self.obj, reason.as_str(), note).await;
            }
            None => {
                let why = if self.observe_only() {
                    "managementPolicy is Observe (deletion changes nothing in Aura)"
                } else {
                    "deletionPolicy is Retain"
                };
                let note = format!("{why}: Aura instance {id} keeps running{secret_note}");
                events::normal(self.ctx, &*self.obj, "Retained", note).await;
            }
        }
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
