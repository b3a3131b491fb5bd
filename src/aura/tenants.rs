//! Tenants (Aura projects): list, get, metrics integration, and lookup by name.

use serde::{Deserialize, Serialize};

use super::client::{Call, Client};
use super::embedded::get_one;
use super::error::{Error, Result};
use super::ids::TenantId;
use super::values::{CloudProvider, InstanceType};

/// An entry of `GET /tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TenantSummary {
    pub id: TenantId,
    #[serde(default)]
    pub name: String,
}

/// A tenant with the instance shapes it may create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub instance_configurations: Vec<InstanceConfiguration>,
}

/// One allowed combination for creating an instance in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct InstanceConfiguration {
    pub cloud_provider: CloudProvider,
    pub region: String,
    #[serde(default)]
    pub region_name: Option<String>,
    #[serde(rename = "type")]
    pub instance_type: InstanceType,
    pub memory: String,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// The shape of an instance someone wants, to be checked against a tenant's configurations.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub cloud_provider: &'a CloudProvider,
    pub region: &'a str,
    pub instance_type: &'a InstanceType,
    pub version: &'a str,
    pub memory: &'a str,
}

impl Tenant {
    /// Checks `shape` against the tenant's instance configurations, narrowing field by field so
    /// that the error names the first field no configuration offers, and lists what would fit.
    pub fn check_shape(&self, shape: Shape<'_>) -> Result<&InstanceConfiguration> {
        let mut options: Vec<&InstanceConfiguration> =
            self.instance_configurations.iter().collect();
        narrow(
            &mut options,
            "cloud_provider",
            shape.cloud_provider.as_str(),
            |c| c.cloud_provider.as_str(),
        )?;
        narrow(&mut options, "region", shape.region, |c| c.region.as_str())?;
        narrow(&mut options, "type", shape.instance_type.as_str(), |c| {
            c.instance_type.as_str()
        })?;
        // A configuration without a version offers any version.
        options.retain(|c| c.version.as_deref().is_none_or(|v| v == shape.version));
        if options.is_empty() {
            return Err(Error::invalid(
                "version",
                format!(
                    "{:?} is not offered by the tenant for this combination",
                    shape.version
                ),
            ));
        }
        narrow(&mut options, "memory", shape.memory, |c| c.memory.as_str())?;
        Ok(options[0])
    }
}

fn narrow<'a, 'w>(
    options: &mut Vec<&'a InstanceConfiguration>,
    field: &'static str,
    wanted: &'w str,
    value: impl for<'c> Fn(&'c InstanceConfiguration) -> &'c str,
) -> Result<()> {
    let mut offered: Vec<&str> = options.iter().map(|c| value(c)).collect();
    offered.sort_unstable();
    offered.dedup();
    options.retain(|c| value(c) == wanted);
    if options.is_empty() {
        let offered = if offered.is_empty() {
            "nothing".to_owned()
        } else {
            offered.join(", ")
        };
        return Err(Error::invalid(
            field,
            format!(
                "{wanted:?} is not offered by the tenant for this combination (offered: {offered})"
            ),
        ));
    }
    Ok(())
}

/// `GET /tenants/{id}/metrics-integration`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MetricsIntegration {
    /// The Prometheus endpoint of the tenant's instances.
    pub endpoint: String,
}

/// `client.tenants()`.
pub struct Tenants<'c> {
    pub(crate) client: &'c Client,
}

impl Tenants<'_> {
    /// All tenants the credential can see.
    pub async fn list(&self) -> Result<Vec<TenantSummary>> {
        self.client
            .send(Call::get("/tenants", "/tenants"))
            .await?
            .data()
    }

    /// One tenant with its instance configurations.
    pub async fn get(&self, id: &TenantId) -> Result<Tenant> {
        let call = Call::get("/tenants/{tenantId}", format!("/tenants/{id}"));
        get_one(self.client, call).await
    }

    /// The tenant's Prometheus metrics endpoint.
    pub async fn metrics_integration(&self, id: &TenantId) -> Result<MetricsIntegration> {
        let call = Call::get(
            "/tenants/{tenantId}/metrics-integration",
            format!("/tenants/{id}/metrics-integration"),
        );
        self.client.send(call).await?.data()
    }

    /// The id of the tenant called `name` (exact match). Tenant names are not unique, so a name
    /// that matches several tenants is an error rather than a guess.
    pub async fn find_id_by_name(&self, name: &str) -> Result<TenantId> {
        if name.trim().is_empty() {
            return Err(Error::invalid("tenant_name", "must not be empty"));
        }
        let tenants = self.list().await?;
        resolve_name(&tenants, name)
    }
}

fn resolve_name(tenants: &[TenantSummary], name: &str) -> Result<TenantId> {
    let matches: Vec<&TenantSummary> = tenants.iter().filter(|t| t.name == name).collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => {
            let known: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
            Err(Error::invalid(
                "tenant_name",
                format!(
                    "no tenant is called {name:?} (tenants visible: {})",
                    known.join(", ")
                ),
            ))
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|t| t.id.as_str()).collect();
            Err(Error::invalid(
                "tenant_name",
                format!(
                    "{} tenants are called {name:?} ({}); give the tenant id instead",
                    many.len(),
                    ids.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, name: &str) -> TenantSummary {
        TenantSummary {
            id: TenantId::new(id).unwrap(),
            name: name.into(),
        }
    }

    #[test]
    fn names_resolve_to_exactly_one_tenant_or_a_clear_error() {
        let a = "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10";
        let b = "7b3d6c2f-1c6a-4d64-8e5a-3a6c2a4d0b21";
        let tenants = vec![summary(a, "Prod"), summary(b, "Dev"), summary(b, "Dev")];
        assert_eq!(resolve_name(&tenants, "Prod").unwrap().as_str(), a);
        let none = resolve_name(&tenants, "Staging").unwrap_err().to_string();
        assert!(
            none.contains("`tenant_name`") && none.contains("Prod"),
            "{none}"
        );
        let many = resolve_name(&tenants, "Dev").unwrap_err().to_string();
        assert!(many.contains("2 tenants"), "{many}");
    }

    #[test]
    fn shape_check_names_the_first_field_no_configuration_offers() {
        let tenant: Tenant = serde_json::from_value(serde_json::json!({
            "id": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10", "name": "t",
            "instance_configurations": [
                {"cloud_provider":"gcp","region":"europe-west1","region_name":"Belgium","type":"professional-db","memory":"2GB","storage":"4GB","version":"5"},
                {"cloud_provider":"gcp","region":"europe-west1","region_name":"Belgium","type":"professional-db","memory":"4GB","storage":"8GB","version":"5"}
            ]
        }))
        .unwrap();
        let shape = |region, memory| Shape {
            cloud_provider: &CloudProvider::Gcp,
            region,
            instance_type: &InstanceType::ProfessionalDb,
            version: "5",
            memory,
        };
        assert_eq!(
            tenant
                .check_shape(shape("europe-west1", "4GB"))
                .unwrap()
                .storage
                .as_deref(),
            Some("8GB")
        );
        let err = tenant
            .check_shape(shape("us-east-1", "4GB"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`region`") && err.contains("europe-west1"),
            "{err}"
        );
        let err = tenant
            .check_shape(shape("europe-west1", "8GB"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`memory`") && err.contains("2GB, 4GB"),
            "{err}"
        );
    }
}
