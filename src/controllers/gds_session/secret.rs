//! The session Secret: everything a GDS client needs to reach the session.
//!
//! Keys: `GDS_SESSION_ID`, `GDS_SESSION_NAME`, `GDS_SESSION_HOST` and `GDS_SESSION_URI`
//! (`neo4j+s://<host>`). For a session attached through `instanceRef` to an AuraInstance managed
//! here, the instance's connection keys (`NEO4J_URI`, `NEO4J_USERNAME`, `NEO4J_PASSWORD`,
//! `AURA_INSTANCEID`) are copied from its connection Secret, so that one Secret is enough for a
//! GDS client. Writing, reading and comparing Secrets is shared ([`crate::controllers::secrets`]).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use super::{Pass, Result};
use crate::aura::Session;
use crate::controllers::references::ReferencedInstance;
use crate::controllers::secrets as shared;
use crate::controllers::{FIELD_MANAGER, events};
use crate::crd::GdsSession;

pub const SESSION_ID: &str = "GDS_SESSION_ID";
pub const SESSION_NAME: &str = "GDS_SESSION_NAME";
pub const SESSION_HOST: &str = "GDS_SESSION_HOST";
pub const SESSION_URI: &str = "GDS_SESSION_URI";
/// Label naming the GdsSession a Secret belongs to.
pub const SESSION_LABEL: &str = "aura.neo4j.io/gds-session";

/// Keys copied from the attached instance's connection Secret.
const INSTANCE_KEYS: [&str; 4] = [
    shared::URI,
    shared::USERNAME,
    shared::PASSWORD,
    shared::INSTANCE_ID,
];

/// The Secret's name for this resource.
pub fn name(session: &GdsSession) -> String {
    session
        .spec
        .connection_secret
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-gds", session.name_any()))
}

/// The desired Secret, owned by the GdsSession.
fn build(owner: &GdsSession, data: BTreeMap<String, ByteString>) -> Secret {
    shared::owned(
        owner,
        name(owner),
        &owner.spec.connection_secret,
        (SESSION_LABEL, owner.name_any()),
        data,
    )
}

impl Pass<'_> {
    /// Writes the session Secret if it is missing or differs. Nothing in it is logged.
    pub(super) async fn write_secret(
        &mut self,
        session: &Session,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<()> {
        let mut data = BTreeMap::new();
        let mut put = |key: &str, value: &[u8]| {
            data.insert(key.to_owned(), ByteString(value.to_vec()));
        };
        put(SESSION_ID, session.id.as_str().as_bytes());
        put(SESSION_NAME, session.name.as_bytes());
        if let Some(host) = session.host.as_deref().filter(|h| !h.is_empty()) {
            put(SESSION_HOST, host.as_bytes());
        }
        if let Some(uri) = session.bolt_url() {
            put(SESSION_URI, uri.as_bytes());
        }
        if let Some(instance) = referenced {
            let instance_secret = instance.resource.connection_secret_name();
            if let Some(existing) = shared::read(&self.secrets, &instance_secret).await? {
                let values = existing.secret.data.unwrap_or_default();
                for key in INSTANCE_KEYS {
                    if let Some(value) = values.get(key) {
                        put(key, &value.0);
                    }
                }
            }
        }
        let name = name(&self.obj);
        let desired = build(&self.obj, data);
        let existing = shared::read(&self.secrets, &name).await?;
        let up_to_date = existing.as_ref().is_some_and(|e| e.matches(&desired));
        if !up_to_date {
            shared::write(&self.secrets, &desired, FIELD_MANAGER).await?;
            if existing.is_none() {
                events::normal(
                    self.ctx,
                    &*self.obj,
                    "SecretWritten",
                    format!("the session's address is in Secret {name}"),
                )
                .await;
            }
        }
        self.status.connection_secret = Some(name);
        Ok(())
    }
}
