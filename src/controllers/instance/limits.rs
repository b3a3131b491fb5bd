//! What a ClusterAuraCredential allows an AuraInstance: its tenant, its type and memory, and
//! how many instances one namespace may have with it (see [`crate::controllers::tenancy::access`]).
//! Checked on every pass before any Aura call that changes something.

use kube::ResourceExt;
use kube::api::ListParams;

use super::{Pass, Result};
use crate::aura::{self, InstanceId, TenantId};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::tenancy::access::refused;
use crate::crd::AuraInstance;
use crate::crd::conditions::{self, READY};

impl Pass<'_> {
    /// Refuses a tenant, type, memory or count the credential in use does not allow.
    pub(super) async fn check_credential_use(&self, tenant: Option<&TenantId>) -> Result<()> {
        if let Some(tenant) = tenant {
            let spec = &self.obj.spec;
            let field = match (&spec.tenant_name, &spec.tenant_id) {
                (Some(_), _) => "tenantName",
                (None, Some(_)) => "tenantId",
                (None, None) => "instanceId",
            };
            self.restrictions
                .check_tenant(Some(tenant.as_str()), field)?;
        }
        self.restrictions.check_instance(&self.obj.spec)?;
        if self.status.instance_id.is_none() {
            self.check_instance_count().await?;
        }
        Ok(())
    }

    /// Refuses a data source (`field`: source or restore.from) in a tenant the credential does
    /// not allow, so that its data cannot be copied out of that tenant. One read of the source
    /// instance, only when the credential limits tenants.
    pub(super) async fn check_source_tenant(
        &self,
        aura: &aura::Client,
        source: &InstanceId,
        field: &str,
    ) -> Result<()> {
        if !self.restrictions.limits_tenants() {
            return Ok(());
        }
        let found = aura.instances().get(source).await?;
        let tenant = found.tenant_id.as_ref().map(TenantId::as_str);
        self.restrictions.check_tenant(tenant, field)?;
        Ok(())
    }

    /// Refuses a new instance (to create or adopt) beyond the credential's limit per namespace.
    /// The namespace's AuraInstances that use the credential count if they hold an Aura
    /// instance or were created before this one, so the oldest keep the credential whatever the
    /// order of their passes. Read from the API server, not the cache: only a resource created
    /// in the same second (and sorting first by name) can slip past, by one.
    async fn check_instance_count(&self) -> Result<()> {
        let (Some(max), Some(credential)) = (
            self.restrictions.max_instances(),
            self.restrictions.credential(),
        ) else {
            return Ok(());
        };
        let others = self.api.list(&ListParams::default()).await?;
        let ahead = ahead(&self.obj, &others.items, credential);
        if ahead < max as usize {
            return Ok(());
        }
        Err(over_limit(&self.namespace(), ahead, credential, max).into())
    }
}

/// How many of `others` (the namespace's AuraInstances) count before `obj` against the
/// per-namespace limit of ClusterAuraCredential `credential`: those using it that hold an Aura
/// instance or were created before `obj`, so the oldest keep the credential whatever the order
/// of their passes.
pub fn ahead(obj: &AuraInstance, others: &[AuraInstance], credential: &str) -> usize {
    others
        .iter()
        .filter(|other| uses(other, credential) && comes_after(obj, other))
        .count()
}

/// The refusal of one instance too many.
pub fn over_limit(namespace: &str, ahead: usize, credential: &str, max: u32) -> Error {
    refused(
        Reason::CredentialLimitExceeded,
        "credentialRef",
        format!(
            "namespace {namespace:?} already has {ahead} AuraInstances using ClusterAuraCredential \
             {credential:?}, as many as its limits.maxInstancesPerNamespace ({max}) allows"
        ),
    )
}

/// Whether `other` (another live AuraInstance) counts before `obj`.
fn comes_after(obj: &AuraInstance, other: &AuraInstance) -> bool {
    if other.uid() == obj.uid() || other.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let holds = other
        .status
        .as_ref()
        .is_some_and(|s| s.instance_id.is_some() || s.create_intent.is_some());
    let created = |o: &AuraInstance| {
        let at = o.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (at, o.name_any())
    };
    holds || created(other) < created(obj)
}

/// Whether `instance` is refused by a limit of its credential (the count among them) and not
/// being deleted itself.
pub(super) fn refused_for_count(instance: &AuraInstance) -> bool {
    instance.metadata.deletion_timestamp.is_none()
        && instance.status.as_ref().is_some_and(|status| {
            conditions::find(&status.conditions, READY).is_some_and(|ready| {
                ready.status == "False" && ready.reason == Reason::CredentialLimitExceeded.as_str()
            })
        })
}

/// Whether `other` counts against the same credential's per-namespace limit as `instance`.
pub(super) fn counts_with(other: &AuraInstance, instance: &AuraInstance) -> bool {
    other.uid() != instance.uid()
        && other.namespace() == instance.namespace()
        && instance
            .spec
            .credential_ref
            .as_ref()
            .is_some_and(|r| uses(other, &r.name))
}

/// Whether an AuraInstance names the ClusterAuraCredential `name`.
fn uses(instance: &AuraInstance, name: &str) -> bool {
    instance
        .spec
        .credential_ref
        .as_ref()
        .is_some_and(|r| r.name == name)
}
