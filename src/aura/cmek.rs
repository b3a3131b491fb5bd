//! Customer-managed encryption keys: list, get, create, delete.

use http::Method;
use serde::{Deserialize, Serialize};

use super::client::{Call, Client};
use super::embedded::get_one;
use super::error::{Error, Result};
use super::ids::{CmekId, TenantId};
use super::values::{CloudProvider, CmekStatus, InstanceType};

/// An entry of `GET /customer-managed-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CmekSummary {
    pub id: CmekId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

/// A customer-managed key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Cmek {
    pub id: CmekId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    /// The cloud KMS key (ARN or URI).
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default, rename = "type")]
    pub instance_type: Option<InstanceType>,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub status: Option<CmekStatus>,
}

/// The body of `POST /customer-managed-keys` (Aura calls the type `instance_type` here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateCmek {
    pub key_id: String,
    pub name: String,
    pub cloud_provider: CloudProvider,
    pub instance_type: InstanceType,
    pub region: String,
    pub tenant_id: TenantId,
}

/// `client.cmeks()`.
pub struct Cmeks<'c> {
    pub(crate) client: &'c Client,
}

impl Cmeks<'_> {
    /// All keys, optionally of one tenant.
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<CmekSummary>> {
        let mut call = Call::get("/customer-managed-keys", "/customer-managed-keys");
        if let Some(tenant) = tenant {
            call = call.query("tenantId", tenant);
        }
        self.client.send(call).await?.data()
    }

    /// One key.
    pub async fn get(&self, id: &CmekId) -> Result<Cmek> {
        let call = Call::get(
            "/customer-managed-keys/{cmekId}",
            format!("/customer-managed-keys/{id}"),
        );
        get_one(self.client, call).await
    }

    /// Registers a key; it starts `pending`.
    pub async fn create(&self, request: &CreateCmek) -> Result<Cmek> {
        for (field, value) in [
            ("key_id", &request.key_id),
            ("name", &request.name),
            ("region", &request.region),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid(field, "must not be empty"));
            }
        }
        let call = Call::new(
            Method::POST,
            "/customer-managed-keys",
            "/customer-managed-keys",
            false,
        )
        .json(request)?;
        self.client.send(call).await?.data()
    }

    /// Deletes a key. Aura refuses while an instance uses it; 404 counts as done.
    pub async fn delete(&self, id: &CmekId) -> Result<()> {
        let call = Call::new(
            Method::DELETE,
            "/customer-managed-keys/{cmekId}",
            format!("/customer-managed-keys/{id}"),
            true,
        );
        match self.client.send(call).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }
}
