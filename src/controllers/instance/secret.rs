//! The connection Secret: what applications mount to reach the instance.
//!
//! Keys follow the credentials file Aura offers for download (`NEO4J_URI`, `NEO4J_USERNAME`,
//! `NEO4J_PASSWORD`, `AURA_INSTANCEID`, `AURA_INSTANCENAME`). The password exists only in Aura's
//! create answer, so this Secret is where it lives; the operator also keeps it in memory while it
//! runs, to recreate the Secret with the same content if someone deletes it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use secrecy::{ExposeSecret, SecretString};

use crate::controllers::secrets::{
    INSTANCE_ID, INSTANCE_ID_LABEL, INSTANCE_NAME, PASSWORD, URI, USERNAME, owned,
};
use crate::crd::AuraInstance;

/// Label naming the AuraInstance a Secret belongs to.
pub const INSTANCE_LABEL: &str = "aura.neo4j.io/instance";

/// The Secret's name for this resource.
pub fn name(instance: &AuraInstance) -> String {
    instance.connection_secret_name()
}

/// What goes into the Secret.
pub struct Contents<'a> {
    pub instance_id: &'a str,
    pub aura_name: &'a str,
    pub uri: Option<&'a str>,
    pub username: &'a str,
    pub password: Option<&'a SecretString>,
}

/// The desired Secret, owned by the AuraInstance.
pub fn build(instance: &AuraInstance, contents: &Contents<'_>) -> Secret {
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        data.insert(key.to_owned(), ByteString(value.as_bytes().to_vec()));
    };
    put(INSTANCE_ID, contents.instance_id);
    put(INSTANCE_NAME, contents.aura_name);
    put(USERNAME, contents.username);
    if let Some(uri) = contents.uri {
        put(URI, uri);
    }
    if let Some(password) = contents.password {
        put(PASSWORD, password.expose_secret());
    }
    let mut secret = owned(
        instance,
        name(instance),
        &instance.spec.connection_secret,
        (INSTANCE_LABEL, instance.name_any()),
        data,
    );
    if let Some(labels) = &mut secret.metadata.labels {
        labels.insert(
            INSTANCE_ID_LABEL.to_owned(),
            contents.instance_id.to_owned(),
        );
    }
    secret
}
