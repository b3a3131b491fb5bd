//! Types every kind shares: where the Aura credential comes from, and how the Secret a
//! resource writes for applications is named and labelled.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the Aura API credential comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Secret name, in the resource's namespace.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key of the client id.
    #[serde(default = "default_client_id_key")]
    pub client_id_key: String,
    /// Key of the client secret.
    #[serde(default = "default_client_secret_key")]
    pub client_secret_key: String,
}

pub fn default_client_id_key() -> String {
    "clientId".to_owned()
}

pub fn default_client_secret_key() -> String {
    "clientSecret".to_owned()
}

/// The connection Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSecretSpec {
    /// Secret name. Defaults to <resource name>-connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Extra labels on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
