//! Types every kind shares: where the Aura credential comes from, and how the Secret a
//! resource writes for applications is named and labelled.

use std::collections::BTreeMap;

use kube::KubeSchema;
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

/// The connection Secret: its name, labels, annotations, and which keys it holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("!(has(self.format) && has(self.keys))").message("set format or keys, not both"))]
// Only the length of keys is checked here: a regex over map keys (which cannot carry a
// maxLength) would exceed the API server's CEL cost budget. The operator checks the characters.
#[x_kube(validation = Rule::new("!has(self.keys) || self.keys.all(k, size(k) >= 1 && size(k) <= 253)").message("every key of keys must be 1 to 253 characters (letters, digits, '-', '_' and '.')"))]
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
    /// The keys the Secret holds (see the values); changing it rewrites the Secret and keeps
    /// the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<SecretFormat>,
    /// Keys of your own instead of a format: Secret key -> template. Templates use Jinja
    /// syntax over the connection details: {{ uri }}, {{ host }}, {{ username }},
    /// {{ password }}, {{ instance_id }}, {{ instance_name }}, {{ database }} (a GdsSession
    /// adds {{ session_id }}, {{ session_name }}, {{ session_host }}, {{ session_uri }}).
    /// Example: SPRING_NEO4J_URI: "{{ uri }}". For an AuraInstance one key must be exactly
    /// "{{ password }}": the password exists nowhere else, so the operator reads it back from
    /// there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub keys: BTreeMap<String, String>,
    /// AuraInstance: log in over Bolt (port 7687, TLS verified) with the Secret's username and
    /// password after each change and once per resync interval, and report it in the
    /// ConnectionVerified condition (Ready is False while the database refuses the password).
    /// Default true; false never connects. The operator's --verify-connections=false turns it
    /// off for every resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// AuraInstance: rotate the database password on a schedule (and at once whenever the
    /// annotation aura.neo4j.io/rotate-password gets a new value, with or without this field).
    /// The new password is kept in the Secret (key aura-operator.pending-password) before the
    /// database changes it, so a restart at any step leaves a password that logs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationSpec>,
}

/// When the operator rotates the database password of an AuraInstance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationSpec {
    /// Rotate this long after the last rotation (or the resource's creation): 720h, 30d, 1w.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Whose password changes. AdminUser (default): the Secret's own user (neo4j) changes its
    /// password; new connections made with the old one fail until applications reload.
    /// TwoUsers: applications get their own users <userPrefix>_a and <userPrefix>_b, used in
    /// turn: each rotation sets a new password on the idle one and publishes it, so connections
    /// made with the previous credentials keep working until the next rotation. The admin
    /// password then lives in the Secret <connection Secret name>-admin. Changing it on a live
    /// resource switches (condition RotationStrategy): to TwoUsers as a new resource would; back
    /// to AdminUser, the Secret gets the admin user again (checked by logging in), then the two
    /// users are dropped and the admin Secret deleted. Removing rotation keeps the user the
    /// Secret holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// TwoUsers: the prefix of the two users' names (default app: app_a and app_b).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_prefix: Option<String>,
}

/// Whose password a rotation changes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RotationStrategy {
    /// The Secret's own (admin) user changes its password.
    #[default]
    AdminUser,
    /// Two application users, used in turn.
    TwoUsers,
}

/// The keys the Secret holds, in a convention applications already read. aura (default): one
/// key per detail, named as in Aura's credentials file (NEO4J_URI, NEO4J_USERNAME,
/// NEO4J_PASSWORD, AURA_INSTANCEID, AURA_INSTANCENAME). spring-boot: SPRING_NEO4J_URI,
/// SPRING_NEO4J_AUTHENTICATION_USERNAME and _PASSWORD. jdbc: JDBC_URL (jdbc:neo4j+s://...),
/// JDBC_USERNAME, JDBC_PASSWORD. dotenv: one key, credentials.env, holding Aura's whole
/// credentials file. service-binding: the Service Binding specification's keys (type,
/// provider, uri, host, username, password), with status.binding naming the Secret. Changing
/// it rewrites the Secret and keeps the password.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SecretFormat {
    /// NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, AURA_INSTANCEID, AURA_INSTANCENAME.
    #[default]
    Aura,
    /// Spring Boot's SPRING_NEO4J_* environment variables.
    SpringBoot,
    /// JDBC_URL, JDBC_USERNAME, JDBC_PASSWORD.
    Jdbc,
    /// Aura's credentials file as one key, credentials.env.
    Dotenv,
    /// The Service Binding specification's keys, to be mounted as files.
    ServiceBinding,
}

impl SecretFormat {
    /// The name written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aura => "aura",
            Self::SpringBoot => "spring-boot",
            Self::Jdbc => "jdbc",
            Self::Dotenv => "dotenv",
            Self::ServiceBinding => "service-binding",
        }
    }
}

/// What the Service Binding specification reads from a provisioned service's status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Binding {
    /// Name of the Secret to bind.
    pub name: String,
}
