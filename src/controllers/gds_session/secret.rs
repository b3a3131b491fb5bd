//! The session Secret: everything a GDS client needs to reach the session.
//!
//! Default keys: `GDS_SESSION_ID`, `GDS_SESSION_NAME`, `GDS_SESSION_HOST` and `GDS_SESSION_URI`
//! (`neo4j+s://<host>`). For a session attached through `instanceRef` to an AuraInstance managed
//! here, the instance's details (URI, username, password, id) are read from its connection
//! Secret, whatever its format, so that one Secret is enough for a GDS client. The format
//! (service-binding, or the user's templates) is laid out by [`formats`]; writing, reading and
//! comparing Secrets is shared ([`secrets`]).
//!
//! [`formats`]: crate::controllers::connection::formats
//! [`secrets`]: crate::controllers::connection::secrets

use kube::ResourceExt;

use super::{Pass, Result};
use crate::aura::Session;
use crate::controllers::connection::formats::{Fields, Kind, Layout};
use crate::controllers::connection::secrets::{self as shared, CONTENT_HASH_ANNOTATION};
use crate::controllers::machinery::FIELD_MANAGER;
use crate::controllers::machinery::error::Error;
use crate::controllers::reconciler::pass::News;
use crate::controllers::tenancy::references::ReferencedInstance;
use crate::crd::GdsSession;
use crate::crd::common::{Binding, SecretFormat};

/// Label naming the GdsSession a Secret belongs to.
pub const SESSION_LABEL: &str = "aura.neo4j.io/gds-session";

/// The Secret's name for this resource.
pub fn name(session: &GdsSession) -> String {
    session
        .spec
        .connection_secret
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-gds", session.name_any()))
}

/// The session's own details.
fn session_fields(session: &Session) -> Fields {
    let mut fields = Fields::default();
    fields.set("session_id", session.id.as_str());
    fields.set("session_name", session.name.as_str());
    if let Some(host) = session.host.as_deref() {
        fields.set("session_host", host);
    }
    if let Some(uri) = session.bolt_url() {
        fields.set("session_uri", uri);
    }
    fields
}

impl Pass<'_> {
    /// Writes the session Secret if it is missing or differs. Nothing in it is logged.
    pub(super) async fn write_secret(
        &mut self,
        session: &Session,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<()> {
        let mut fields = session_fields(session);
        if let Some(instance) = referenced {
            let instance_secret = instance.resource.connection_secret_name();
            if let Some(existing) = shared::read(&self.secrets, &instance_secret).await? {
                fields.take_instance_details(&existing.fields());
            }
        }
        let spec = &self.obj.spec.connection_secret;
        let layout = Layout::of(spec, Kind::Session);
        let data = layout.render(&fields).map_err(Error::from)?;
        let name = name(&self.obj);
        let desired = shared::owned(
            &*self.obj,
            name.clone(),
            spec,
            (SESSION_LABEL, self.obj.name_any()),
            &layout,
            data,
        );
        let existing = shared::read(&self.secrets, &name).await?;
        let up_to_date = existing.as_ref().is_some_and(|e| e.matches(&desired));
        if !up_to_date {
            let changed = shared::content_changes(existing.as_ref(), &desired);
            shared::write(
                &self.secrets,
                &desired,
                existing.as_ref(),
                Kind::Session,
                FIELD_MANAGER,
            )
            .await?;
            self.ctx.metrics.secret_written("GdsSession");
            self.tell_secret_written(&name, existing.is_none(), changed);
        }
        let binding = self.obj.spec.connection_secret.format == Some(SecretFormat::ServiceBinding);
        self.status.binding = binding.then(|| Binding { name: name.clone() });
        self.status.connection_secret = Some(name);
        Ok(())
    }

    fn tell_secret_written(&mut self, name: &str, created: bool, changed: bool) {
        if created {
            let note = format!("the session's address is in Secret {name}");
            self.announce(News::normal("SecretWritten", note));
        } else if changed {
            let note = format!(
                "Secret {name} has new content (annotation {CONTENT_HASH_ANNOTATION}); \
                 applications reading it should reload"
            );
            self.announce(News::normal("ConnectionSecretChanged", note));
        }
    }
}
