//! Password rotation of the database user in the connection Secret (issue 22).
//!
//! Asked for by a new value of the annotation [`ROTATE_ANNOTATION`] or due by
//! `connectionSecret.rotation.every`. The steps, each safe to cut short:
//!
//! 1. escrow: a new strong password goes into the Secret under [`secret::PENDING_KEY`], beside
//!    the current one, which applications keep using;
//! 2. `ALTER CURRENT USER SET PASSWORD FROM <current> TO <new>` over Bolt;
//! 3. log in with the new password;
//! 4. record the rotation in the status, then publish: the new password becomes the Secret's
//!    password and the pending key goes (the content hash changes; Event `PasswordRotated`).
//!
//! A pass that finds a pending password finishes the job: if the new one logs in, the database
//! changed and it is published; if only the current one does, the change is made again. So a
//! kill at any step leaves a Secret whose password (or, for a moment, its pending one, which
//! the next pass promotes) logs in.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use secrecy::SecretString;

use super::secret::{self, Pending};
use super::{Pass, Result};
use crate::aura::{Instance, InstanceStatus};
use crate::controllers::pass::News;
use crate::controllers::secrets;
use crate::crd::instance::PasswordRotationStatus;
use crate::database::{self, DatabaseError, Login};

/// Annotation whose every new value asks for one rotation.
pub const ROTATE_ANNOTATION: &str = "aura.neo4j.io/rotate-password";

/// Length of generated passwords: 32 letters and digits, about 190 bits.
const PASSWORD_LENGTH: usize = 32;

/// A new random password.
fn generate() -> SecretString {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let text: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(PASSWORD_LENGTH)
        .map(char::from)
        .collect();
    SecretString::from(text)
}

/// Why a rotation runs now.
enum Cause {
    Asked(String),
    Scheduled,
}

impl Pass<'_> {
    /// Finishes a rotation a restart interrupted, or rotates when asked or due. Returns what
    /// logs in with the Secret afterwards.
    pub(super) async fn rotate_password(
        &mut self,
        instance: &Instance,
        login: Option<Login>,
    ) -> Result<Option<Login>> {
        let Some(cause) = self.rotation_cause() else {
            return self.finish_pending(instance, login).await;
        };
        if let Some(refusal) = self.rotation_refusal(login.as_ref()) {
            self.refuse_rotation(&cause, refusal);
            return Ok(login);
        }
        let Some(login) = login else {
            return Ok(None);
        };
        if instance.status != InstanceStatus::Running {
            // Paused or busy: the rotation waits for the instance to run.
            return Ok(Some(login));
        }
        if self.pending_in_secret().await?.is_some() {
            return self.finish_pending(instance, Some(login)).await;
        }
        let new = generate();
        self.write_secret_with(instance, None, Pending::Escrow(new.clone()))
            .await?;
        self.change_to(instance, login, new, &cause).await
    }

    /// The rotation asked for (a new annotation value) or due by the schedule, if any; a
    /// future due time is asked to wake the resource.
    fn rotation_cause(&mut self) -> Option<Cause> {
        let done = self.status.password_rotation.clone().unwrap_or_default();
        let asked = self.obj.annotations().get(ROTATE_ANNOTATION).cloned();
        if let Some(value) = asked.filter(|v| done.handled_request.as_ref() != Some(v)) {
            return Some(Cause::Asked(value));
        }
        let every = self
            .obj
            .spec
            .connection_secret
            .rotation
            .as_ref()?
            .every
            .as_deref()?;
        let every = super::expiry::parse_duration("connectionSecret.rotation.every", every).ok()?;
        let since = done
            .last_rotated
            .or_else(|| self.obj.metadata.creation_timestamp.clone())?;
        let due = since.0.checked_add(every).ok()?;
        if self.ctx.clock.now() >= due {
            return Some(Cause::Scheduled);
        }
        self.wake_by(due);
        None
    }

    /// Why this resource cannot rotate now, for a person to read.
    fn rotation_refusal(&self, login: Option<&Login>) -> Option<String> {
        if self.observe_only() {
            return Some("managementPolicy Observe never changes the database password".to_owned());
        }
        if !self.ctx.database.verify {
            return Some(
                "the operator runs with --verify-connections=false (no Bolt egress), and a \
                 rotation logs in over Bolt"
                    .to_owned(),
            );
        }
        if login.is_none() {
            return Some(format!(
                "Secret {} holds no password to log in with (an adopted instance whose password \
                 the operator never had): put the current one there first",
                secret::name(&self.obj)
            ));
        }
        None
    }

    /// Records a refusal (once per refusal and request) with a Warning Event.
    fn refuse_rotation(&mut self, cause: &Cause, refusal: String) {
        let status = self
            .status
            .password_rotation
            .get_or_insert_with(Default::default);
        if let Cause::Asked(value) = cause {
            status.handled_request = Some(value.clone());
        }
        if status.refused.as_ref() == Some(&refusal) {
            return;
        }
        status.refused = Some(refusal.clone());
        self.announce(News::warning(
            "RotationRefused",
            format!("password rotation refused: {refusal}"),
        ));
    }

    async fn pending_in_secret(&self) -> Result<Option<SecretString>> {
        let existing = secrets::read(&self.secrets, &secret::name(&self.obj)).await?;
        Ok(existing.as_ref().and_then(secret::pending_password))
    }

    /// Changes the database password to the escrowed `new`, checks it and publishes it. A
    /// database that cannot be reached leaves the escrow for a later pass.
    async fn change_to(
        &mut self,
        instance: &Instance,
        login: Login,
        new: SecretString,
        cause: &Cause,
    ) -> Result<Option<Login>> {
        match database::change_own_password(&self.ctx.database, &login, &new).await {
            Ok(()) => {}
            Err(DatabaseError::Unreachable(_)) => return Ok(Some(login)),
            Err(refused) => {
                // The current password no longer works or the database said no: the escrow is
                // of no use, and ConnectionVerified tells the rest.
                self.write_secret_with(instance, None, Pending::Drop)
                    .await?;
                self.refuse_rotation(cause, format!("the database refused the change: {refused}"));
                return Ok(Some(login));
            }
        }
        match database::verify(&self.ctx.database, &login.with_password(&new)).await {
            Ok(()) => self.publish(instance, new, cause).await,
            // Kept in escrow: the next pass logs in with it and publishes it.
            Err(_) => Ok(Some(login)),
        }
    }

    /// A pending password left by an interrupted rotation: published if it logs in; the change
    /// made again if only the current password does; dropped if neither does.
    async fn finish_pending(
        &mut self,
        instance: &Instance,
        login: Option<Login>,
    ) -> Result<Option<Login>> {
        let Some(login) = login else {
            return Ok(None);
        };
        let able = self.ctx.database.verify && !self.observe_only();
        if instance.status != InstanceStatus::Running || !able {
            return Ok(Some(login));
        }
        let Some(new) = self.pending_in_secret().await? else {
            return Ok(Some(login));
        };
        let cause = self.interrupted_cause();
        match database::verify(&self.ctx.database, &login.with_password(&new)).await {
            Ok(()) => self.publish(instance, new, &cause).await,
            Err(DatabaseError::Unreachable(_)) => Ok(Some(login)),
            Err(_) => self.change_to(instance, login, new, &cause).await,
        }
    }

    /// What the interrupted rotation was for: the annotation value not yet recorded, if any.
    fn interrupted_cause(&self) -> Cause {
        let done = self.status.password_rotation.clone().unwrap_or_default();
        match self.obj.annotations().get(ROTATE_ANNOTATION) {
            Some(value) if done.handled_request.as_ref() != Some(value) => {
                Cause::Asked(value.clone())
            }
            _ => Cause::Scheduled,
        }
    }

    /// Records the rotation in the status, then makes `new` the Secret's password: a restart
    /// between the two finds the pending key and publishes it.
    async fn publish(
        &mut self,
        instance: &Instance,
        new: SecretString,
        cause: &Cause,
    ) -> Result<Option<Login>> {
        let handled = match cause {
            Cause::Asked(value) => Some(value.clone()),
            Cause::Scheduled => self
                .status
                .password_rotation
                .as_ref()
                .and_then(|r| r.handled_request.clone()),
        };
        self.status.password_rotation = Some(PasswordRotationStatus {
            last_rotated: Some(Time(self.ctx.clock.now())),
            handled_request: handled,
            refused: None,
        });
        self.save().await?;
        let login = self
            .write_secret_with(instance, None, Pending::Publish(new))
            .await?;
        let why = match cause {
            Cause::Asked(value) => format!("asked by {ROTATE_ANNOTATION}={value}"),
            Cause::Scheduled => "on schedule".to_owned(),
        };
        let note = format!(
            "rotated the database password ({why}) and published it in Secret {}; \
             connections opened with the old password stay open, new ones need the new one",
            secret::name(&self.obj)
        );
        self.announce(News::normal("PasswordRotated", note));
        Ok(login)
    }
}
