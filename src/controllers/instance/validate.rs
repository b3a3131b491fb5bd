//! Resolving the tenant and checking the spec against what the tenant offers.

use super::{Pass, Result};
use crate::aura::{self, Shape, Tenant, TenantId};
use crate::controllers::connection::convert::{provider, tier};
use crate::controllers::connection::formats;
use crate::controllers::machinery::error::Error;
use crate::crd::instance::{AuraInstanceSpec, InstanceType, ManagementPolicy};

/// Spec field name (camelCase, as the user wrote it) for an Aura field name.
pub fn spec_field(aura_field: &str) -> &str {
    match aura_field {
        "cloud_provider" => "cloudProvider",
        "instance_type" => "type",
        "secondaries_count" => "secondariesCount",
        "cdc_enrichment_mode" => "cdcEnrichmentMode",
        "customer_managed_key_id" => "customerManagedKeyId",
        "graph_analytics_plugin" => "graphAnalyticsPlugin",
        "vector_optimized" => "vectorOptimized",
        "tenant_id" => "tenantId",
        "tenant_name" => "tenantName",
        "instance_id" => "instanceId",
        other => other,
    }
}

/// Turns an argument error of the Aura client into a spec error naming the spec field.
pub fn as_spec_error(err: aura::Error) -> Error {
    Error::from_request(err, |field| spec_field(field).to_owned())
}

/// Checks that need no Aura call.
/// A prefix that makes plain Neo4j user names (`<prefix>_a`): a letter, then letters, digits
/// or underscores, 1 to 60 characters.
fn check_user_prefix(prefix: &str) -> Result<(), Error> {
    let mut chars = prefix.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if starts && rest && prefix.len() <= 60 {
        return Ok(());
    }
    Err(Error::invalid(
        "connectionSecret.rotation.userPrefix",
        format!(
            "{prefix:?} must start with a letter and hold only letters, digits and underscores \
             (at most 60 characters)"
        ),
    ))
}

pub fn check_spec(spec: &AuraInstanceSpec) -> Result<(), Error> {
    formats::validate(&spec.connection_secret, formats::Kind::Instance)?;
    if spec.management_policy == ManagementPolicy::Observe && spec.instance_id.is_none() {
        return Err(Error::invalid(
            "instanceId",
            "managementPolicy Observe needs the id of an existing Aura instance; the operator \
             never creates one while it only observes",
        ));
    }
    if spec.paused && spec.instance_type == InstanceType::FreeDb {
        return Err(Error::invalid(
            "paused",
            "free instances cannot be paused (Aura pauses them itself when idle)",
        ));
    }
    if let Some(schedule) = &spec.schedule {
        if spec.instance_type == InstanceType::FreeDb {
            return Err(Error::invalid(
                "schedule",
                "free instances cannot be paused (Aura pauses them itself when idle)",
            ));
        }
        super::schedule::Schedule::parse(schedule)?;
    }
    if let Some(after) = &spec.expire_after {
        super::expiry::parse(after)?;
    }
    if let Some(rotation) = &spec.connection_secret.rotation {
        if spec.management_policy == ManagementPolicy::Observe {
            return Err(Error::invalid(
                "connectionSecret.rotation",
                "managementPolicy Observe never changes the database password; remove rotation \
                 or let the operator manage the instance",
            ));
        }
        if let Some(every) = &rotation.every {
            super::expiry::parse_duration("connectionSecret.rotation.every", every)?;
        }
        if let Some(prefix) = &rotation.user_prefix {
            check_user_prefix(prefix)?;
        }
    }
    if spec.graph_analytics_plugin == Some(true)
        && spec.instance_type != InstanceType::ProfessionalDb
    {
        return Err(Error::invalid(
            "graphAnalyticsPlugin",
            "can only be enabled on professional-db instances",
        ));
    }
    if let Some(storage) = &spec.storage {
        aura::values::check_in("storage", storage, aura::INSTANCE_STORAGE)
            .map_err(as_spec_error)?;
    }
    if let Some(key) = &spec.customer_managed_key_id {
        aura::CmekId::new(key.as_str()).map_err(|_| {
            Error::invalid("customerManagedKeyId", format!("{key:?} is not a UUID"))
        })?;
    }
    Ok(())
}

/// Checks the spec's provider, region, type, version and memory against what the tenant
/// offers (its instance configurations).
pub fn check_shape(spec: &AuraInstanceSpec, tenant: &Tenant) -> Result<(), Error> {
    let shape = Shape {
        cloud_provider: &provider(spec.cloud_provider),
        region: &spec.region,
        instance_type: &tier(spec.instance_type),
        version: &spec.version,
        memory: &spec.memory,
    };
    tenant.check_shape(shape).map_err(as_spec_error)?;
    Ok(())
}

/// The tenant the spec names: its id, or the id of the tenant of that name (one call). None
/// when it names neither (adopting an instance: the instance tells).
pub async fn tenant_of(
    spec: &AuraInstanceSpec,
    aura: &aura::Client,
) -> Result<Option<TenantId>, Error> {
    let id = match (&spec.tenant_id, &spec.tenant_name) {
        (Some(id), _) => TenantId::new(id.as_str())
            .map_err(|_| Error::invalid("tenantId", format!("{id:?} is not a UUID")))?,
        (None, Some(name)) => aura
            .tenants()
            .find_id_by_name(name)
            .await
            .map_err(as_spec_error)?,
        (None, None) => return Ok(None),
    };
    Ok(Some(id))
}

/// Reads what a tenant offers; a tenant Aura does not know is a spec error naming the field.
/// The controllers and `aura-operator plan` read it the same way.
pub async fn fetch_tenant(aura: &aura::Client, id: &TenantId) -> Result<Tenant, Error> {
    aura.tenants().get(id).await.map_err(|e| {
        if e.is_not_found() {
            unknown_tenant(id)
        } else {
            Error::Aura(e)
        }
    })
}

/// The refusal of a tenant Aura does not know.
pub fn unknown_tenant(id: &TenantId) -> Error {
    Error::invalid("tenantId", format!("Aura knows no tenant {id}"))
}

impl Pass<'_> {
    /// The tenant the instance lives in: as recorded, as given, or looked up by name. `None` only
    /// when adopting an instance without naming its tenant (the instance tells).
    pub(super) async fn resolve_tenant(&mut self, aura: &aura::Client) -> Result<Option<TenantId>> {
        if let Some(id) = &self.status.tenant_id {
            return Ok(TenantId::new(id.as_str()).ok());
        }
        let Some(id) = tenant_of(&self.obj.spec, aura).await? else {
            return Ok(None);
        };
        self.status.tenant_id = Some(id.to_string());
        Ok(Some(id))
    }

    /// Checks the spec's shape against the tenant's instance configurations (cached).
    pub(super) async fn check_against_tenant(
        &self,
        aura: &aura::Client,
        tenant: &TenantId,
    ) -> Result<()> {
        let spec = &self.obj.spec;
        check_spec(spec)?;
        let tenant = match self.ctx.memory.tenant(tenant) {
            Some(known) => known,
            None => self.fetch_tenant_once(aura, tenant).await?,
        };
        check_shape(spec, &tenant)?;
        Ok(())
    }

    /// Fetches and remembers a tenant, one pass at a time: the passes that waited find it
    /// remembered. Without the gate, a thousand resources applied at once each spent a call on
    /// the same tenant before the first answer was in.
    async fn fetch_tenant_once(&self, aura: &aura::Client, id: &TenantId) -> Result<Tenant> {
        let gate = self.ctx.memory.tenant_fetch_gate(id);
        let _one_at_a_time = gate.lock().await;
        if let Some(known) = self.ctx.memory.tenant(id) {
            return Ok(known);
        }
        let fetched = fetch_tenant(aura, id).await?;
        self.ctx.memory.keep_tenant(fetched.clone());
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_user_prefix_must_make_plain_user_names() {
        assert!(check_user_prefix("app").is_ok());
        assert!(check_user_prefix("svc_orders2").is_ok());
        for bad in ["", "2app", "app-x", "app x", &"a".repeat(61)] {
            let err = check_user_prefix(bad).expect_err(bad);
            assert!(err.to_string().contains("userPrefix"), "{err}");
        }
    }

    #[test]
    fn free_instances_cannot_be_paused() {
        let spec: AuraInstanceSpec = serde_json::from_value(json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
            "region": "europe-west1", "type": "free-db", "memory": "1GB", "paused": true
        }))
        .unwrap();
        let err = check_spec(&spec).unwrap_err();
        assert_eq!(
            err.reason(),
            crate::controllers::machinery::reasons::Reason::InvalidSpec
        );
        assert!(err.to_string().starts_with("spec.paused:"), "{err}");
    }

    #[test]
    fn observe_without_an_instance_id_names_the_field() {
        let spec: AuraInstanceSpec = serde_json::from_value(json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
            "region": "europe-west1", "type": "professional-db", "memory": "2GB",
            "managementPolicy": "Observe"
        }))
        .unwrap();
        let err = check_spec(&spec).unwrap_err();
        assert_eq!(
            err.reason(),
            crate::controllers::machinery::reasons::Reason::InvalidSpec
        );
        assert!(err.to_string().starts_with("spec.instanceId:"), "{err}");
    }

    #[test]
    fn aura_field_names_become_spec_field_names() {
        let err = as_spec_error(aura::Error::InvalidArgument {
            field: "cloud_provider",
            problem: "nope".into(),
        });
        assert_eq!(err.to_string(), "spec.cloudProvider: nope");
    }
}
