//! The connection Secret: what applications mount to reach the instance.
//!
//! Its keys follow `connectionSecret.format` (by default the names of the credentials file Aura
//! offers for download: `NEO4J_URI`, `NEO4J_USERNAME`, `NEO4J_PASSWORD`, `AURA_INSTANCEID`,
//! `AURA_INSTANCENAME`) or the user's own templates. The password exists only in Aura's create
//! answer, so this Secret is where it lives; the operator also keeps it in memory while it runs,
//! to recreate the Secret with the same content if someone deletes it.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use secrecy::{ExposeSecret, SecretString};

use crate::controllers::formats::{Fields, KeyProblem, Kind, Layout};
use crate::controllers::secrets::{INSTANCE_ID_LABEL, owned};
use crate::crd::AuraInstance;

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
