//! The connection Secret: what applications mount to reach the instance.
//!
//! Its keys follow `connectionSecret.format` (by default the names of the credentials file Aura
//! offers for download: `NEO4J_URI`, `NEO4J_USERNAME`, `NEO4J_PASSWORD`, `AURA_INSTANCEID`,
//! `AURA_INSTANCENAME`) or the user's own templates. The password exists only in Aura's create
//! answer, so this Secret is where it lives; the operator also keeps it in memory while it runs,
//! to recreate the Secret with the same content if someone deletes it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use secrecy::{ExposeSecret, SecretString};

use crate::controllers::connection::formats::{Fields, KeyProblem, Kind, Layout};
use crate::controllers::connection::marks;
use crate::controllers::connection::secrets::{Existing, INSTANCE_ID_LABEL, MANAGED_BY, owned};
use crate::crd::AuraInstance;

/// The Secret key holding a rotation's new password between its escrow and its publication
/// (not an environment variable name, so `envFrom` leaves it out).
pub const PENDING_KEY: &str = "aura-operator.pending-password";
/// Beside it, for strategy TwoUsers: the user that password is for.
pub const PENDING_USER_KEY: &str = "aura-operator.pending-username";

/// A rotation's new credentials, escrowed in the Secret. `user` is `None` when the Secret's
/// own user changes its password.
#[derive(Clone)]
pub struct Escrowed {
    pub user: Option<String>,
    pub password: SecretString,
}

/// What a Secret write does with a rotation's pending password.
pub enum Pending {
    /// Keep whatever the Secret holds.
    Keep,
    /// Escrow these credentials before the database changes to them.
    Escrow(Escrowed),
    /// The database has changed to it: it becomes the password, the pending keys go.
    Publish(SecretString),
    /// The pending password is of no use: remove it.
    Drop,
}

fn text(existing: &Existing, key: &str) -> Option<String> {
    let value = existing.secret.data.as_ref()?.get(key)?;
    String::from_utf8(value.0.clone()).ok()
}

/// The pending credentials a Secret holds, if any.
pub fn pending_password(existing: &Existing) -> Option<Escrowed> {
    Some(Escrowed {
        password: SecretString::from(text(existing, PENDING_KEY)?),
        user: text(existing, PENDING_USER_KEY),
    })
}

/// Adds the pending credentials to a desired Secret, after its content hash was computed: the
/// escrow changes nothing applications read.
pub fn add_pending(secret: &mut Secret, new: &Escrowed) {
    let data = secret.data.get_or_insert_with(Default::default);
    let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
    data.insert(PENDING_KEY.to_owned(), bytes(new.password.expose_secret()));
    if let Some(user) = &new.user {
        data.insert(PENDING_USER_KEY.to_owned(), bytes(user));
    }
}

/// Removes the pending keys from the Secret `name` (a key another write left is not removed
/// by server-side apply alone).
pub async fn remove_pending(secrets: &Api<Secret>, name: &str) -> kube::Result<()> {
    let patch = serde_json::json!({ "data": { PENDING_KEY: null, PENDING_USER_KEY: null } });
    let params = PatchParams {
        field_manager: Some(crate::controllers::machinery::FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    secrets.patch(name, &params, &Patch::Merge(&patch)).await?;
    Ok(())
}

/// The Secret holding the admin user's credentials under rotation strategy TwoUsers.
pub fn admin_name(instance: &AuraInstance) -> String {
    format!("{}-admin", name(instance))
}

/// The admin Secret: `NEO4J_USERNAME` and `NEO4J_PASSWORD`, owned by the AuraInstance.
pub fn build_admin(instance: &AuraInstance, username: &str, password: &SecretString) -> Secret {
    let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
    let data = [
        ("NEO4J_USERNAME".to_owned(), bytes(username)),
        ("NEO4J_PASSWORD".to_owned(), bytes(password.expose_secret())),
    ];
    let mut labels: BTreeMap<_, _> = [
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (INSTANCE_LABEL.to_owned(), instance.name_any()),
    ]
    .into();
    marks::mark_as_owner(&mut labels, instance);
    Secret {
        metadata: ObjectMeta {
            name: Some(admin_name(instance)),
            namespace: instance.namespace(),
            labels: Some(labels),
            owner_references: instance.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data.into_iter().collect()),
        ..Secret::default()
    }
}

/// The username and password an admin Secret holds.
pub fn admin_credentials(existing: &Existing) -> Option<(String, SecretString)> {
    let user = text(existing, "NEO4J_USERNAME")?;
    Some((user, SecretString::from(text(existing, "NEO4J_PASSWORD")?)))
}

/// Label naming the AuraInstance a Secret belongs to.
pub const INSTANCE_LABEL: &str = "aura.neo4j.io/instance";

/// The Secret's name for this resource.
pub fn name(instance: &AuraInstance) -> String {
    instance.connection_secret_name()
}

/// The layout of this resource's Secret.
pub fn layout(instance: &AuraInstance) -> Layout {
    Layout::of(&instance.spec.connection_secret, Kind::Instance)
}

/// What goes into the Secret.
pub struct Contents<'a> {
    pub instance_id: &'a str,
    pub aura_name: &'a str,
    pub uri: Option<&'a str>,
    pub username: &'a str,
    pub password: Option<&'a SecretString>,
}

impl Contents<'_> {
    fn fields(&self) -> Fields {
        let mut fields = Fields::default();
        fields.set("instance_id", self.instance_id);
        fields.set("instance_name", self.aura_name);
        fields.set("username", self.username);
        if let Some(uri) = self.uri {
            fields.set("uri", uri);
        }
        if let Some(password) = self.password {
            fields.set("password", password.expose_secret());
        }
        fields
    }
}

/// The desired Secret, owned by the AuraInstance, in the layout its spec asks for.
pub fn build(instance: &AuraInstance, contents: &Contents<'_>) -> Result<Secret, KeyProblem> {
    let layout = layout(instance);
    let data = layout.render(&contents.fields())?;
    let mut secret = owned(
        instance,
        name(instance),
        &instance.spec.connection_secret,
        (INSTANCE_LABEL, instance.name_any()),
        &layout,
        data,
    );
    if let Some(labels) = &mut secret.metadata.labels {
        labels.insert(
            INSTANCE_ID_LABEL.to_owned(),
            contents.instance_id.to_owned(),
        );
    }
    Ok(secret)
}
