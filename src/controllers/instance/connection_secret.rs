//! Writing the connection Secret: its password from the Secret itself, memory or a Secret kept
//! from an earlier resource; a rotation's pending password carried, escrowed, published or
//! dropped (see [`super::rotation`]); and what logs in with it afterwards.

use k8s_openapi::api::core::v1::Secret;

use super::secret::{self, Contents, Pending};
use super::{Pass, Result};
use crate::aura::Instance;
use crate::controllers::connection::marks;
use crate::controllers::connection::secrets::{self, CONTENT_HASH_ANNOTATION, Existing};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::events;
use crate::controllers::reconciler::pass::News;
use crate::crd::instance::{Binding, SecretFormat};
use crate::database::Login;

impl Pass<'_> {
    /// Writes the connection Secret if it is missing or differs, and returns what logs in with
    /// it (when it has a password and a URI). The password comes from the Secret itself, else
    /// from memory (a deleted Secret is written again with it): a password someone put in the
    /// Secret is theirs to choose, and ConnectionVerified tells whether it works.
    pub(super) async fn write_secret(
        &mut self,
        instance: &Instance,
        username: Option<&str>,
    ) -> Result<Option<Login>> {
        self.write_secret_with(instance, username, Pending::Keep)
            .await
    }

    /// [`Self::write_secret`], with what becomes of a rotation's pending password (see
    /// [`super::rotation`]): kept as it is, escrowed, published as the password, or dropped.
    pub(super) async fn write_secret_with(
        &mut self,
        instance: &Instance,
        username: Option<&str>,
        pending: Pending,
    ) -> Result<Option<Login>> {
        let name = secret::name(&self.obj);
        let id = instance.id.to_string();
        let existing = secrets::read(&self.secrets, &name).await?;
        let had_pending = existing.as_ref().and_then(secret::pending_password);
        let (published, pending) = match pending {
            Pending::Keep => (None, had_pending.clone()),
            Pending::Escrow(new) => (None, Some(new)),
            Pending::Publish(new) => (Some(new), None),
            Pending::Drop => (None, None),
        };
        let mut password = published
            .or_else(|| existing.as_ref().and_then(|e| e.password_for(&id)))
            .or_else(|| self.ctx.memory.password(&self.key(), &id));
        let mut kept_username = None;
        if password.is_none() && self.obj.spec.instance_id.is_some() {
            (password, kept_username) = self.password_kept_for(&id).await?;
        }
        if let Some(password) = &password {
            self.ctx
                .memory
                .keep_password(&self.key(), &id, password.clone());
        }
        let uri = instance
            .connection_url
            .clone()
            .or_else(|| self.status.connection_url.clone());
        // Aura's create answer names the user; later passes keep what the Secret says (or, for
        // a Secret written again, the application user a rotation last published).
        let rotated_user = (self.status.password_rotation.as_ref()).and_then(|r| r.user.clone());
        let username = username
            .map(str::to_owned)
            .or_else(|| existing.as_ref().and_then(|e| e.username_for(&id)))
            .or(rotated_user)
            .or(kept_username)
            .unwrap_or_else(|| "neo4j".to_owned());
        let contents = Contents {
            instance_id: &id,
            aura_name: &instance.name,
            uri: uri.as_deref(),
            username: &username,
            password: password.as_ref(),
        };
        let mut desired = secret::build(&self.obj, &contents).map_err(Error::from)?;
        if let Some(new) = &pending {
            secret::add_pending(&mut desired, new);
        }
        let drop_pending = pending.is_none() && had_pending.is_some();
        self.apply_secret(&name, existing.as_ref(), &desired, drop_pending)
            .await?;
        self.status.binding = (self.obj.spec.connection_secret.format
            == Some(SecretFormat::ServiceBinding))
        .then(|| Binding { name: name.clone() });
        self.status.connection_secret = Some(name);
        self.status.password_stored = Some(password.is_some());
        Ok(password.zip(uri).map(|(password, uri)| Login {
            uri,
            username,
            password,
        }))
    }

    /// Writes `desired` unless `existing` already is it (and no pending key is to go).
    async fn apply_secret(
        &mut self,
        name: &str,
        existing: Option<&Existing>,
        desired: &Secret,
        drop_pending: bool,
    ) -> Result<()> {
        if !drop_pending && existing.is_some_and(|e| e.matches(desired)) {
            return Ok(());
        }
        let changed = secrets::content_changes(existing, desired);
        let moved = existing.is_some_and(|e| !marks::same_class(&e.secret, desired));
        let kind = crate::controllers::connection::formats::Kind::Instance;
        let manager = crate::controllers::machinery::FIELD_MANAGER;
        secrets::write(&self.secrets, desired, existing, kind, manager).await?;
        self.ctx.metrics.secret_written("AuraInstance");
        if drop_pending {
            secret::remove_pending(&self.secrets, name).await?;
        }
        if moved {
            // Another class (or an older version, before classes marked Secrets) wrote it: the
            // admin Secret, never written again in full, moves with it.
            let admin = secret::admin_name(&self.obj);
            marks::remark(&self.secrets, &admin, &*self.obj).await?;
        }
        self.tell_secret_written(name, existing.is_none(), changed);
        Ok(())
    }

    /// Says what a write of the connection Secret did: wrote it again after someone deleted
    /// it, or changed its content (so that consumers reload).
    fn tell_secret_written(&mut self, name: &str, was_missing: bool, changed: bool) {
        if was_missing && self.status.password_stored == Some(true) {
            let note = format!("connection Secret {name} was missing; wrote it again");
            self.announce(News::normal("SecretRecreated", note));
        } else if changed {
            let note = format!(
                "connection Secret {name} has new content (annotation {CONTENT_HASH_ANNOTATION}); \
                 applications reading it should reload"
            );
            self.announce(News::normal("ConnectionSecretChanged", note));
        }
    }
}

impl Pass<'_> {
    /// The password (and username) of an adopted instance, from a Secret an earlier resource
    /// left behind when it was deleted with `deletionPolicy: Retain`.
    async fn password_kept_for(
        &self,
        id: &str,
    ) -> Result<(Option<secrecy::SecretString>, Option<String>)> {
        let Some(kept) = secrets::find_released(&self.secrets, id).await? else {
            return Ok((None, None));
        };
        let kept_name = kept.secret.metadata.name.clone().unwrap_or_default();
        events::normal(
            self.ctx,
            &*self.obj,
            "PasswordRecovered",
            format!(
                "took the password of Aura instance {id} from Secret {kept_name}, kept when its \
                 earlier resource was deleted"
            ),
        )
        .await;
        Ok((kept.password_for(id), kept.username_for(id)))
    }
}
