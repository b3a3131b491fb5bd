//! Password rotation of the connection Secret's database user (issue 22).
//!
//! Asked for by a new value of the annotation [`ROTATE_ANNOTATION`] or due by
//! `connectionSecret.rotation.every`. The steps, each safe to cut short:
//!
//! 1. escrow: the new credentials go into the Secret under [`secret::PENDING_KEY`] (and
//!    [`secret::PENDING_USER_KEY`]), beside the current ones, which applications keep using;
//! 2. the database changes: `ALTER CURRENT USER SET PASSWORD FROM <current> TO <new>`
//!    (strategy AdminUser), or, logged in as the admin, `ALTER USER` / `CREATE USER` of the idle
//!    application user (strategy TwoUsers);
//! 3. log in with the new credentials;
//! 4. record the rotation in the status, then publish: the new credentials become the Secret's
//!    and the pending keys go (the content hash changes; Event `PasswordRotated`).
//!
//! A pass that finds pending credentials finishes the job: if they log in they are published;
//! if the database refuses them, the change is made again (dropped if the database refuses
//! it). So a kill at any step leaves a Secret whose credentials (or, for a moment, its pending
//! ones, which the next pass promotes) log in. An answer that says nothing about a password (the
//! database unreachable, the user locked by Neo4j's auth rate limit, a login the
//! [`LoginGuard`](crate::database::LoginGuard) holds back) is "unknown, try later": the
//! escrow stays as it is and the resource is woken when the answer may change.
//!
//! A change of strategy on a live resource (or `rotation` removed) is [`super::strategy`]'s;
//! rotations wait while a switch is under way.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use secrecy::SecretString;

use super::secret::{self, Escrowed, Pending};
use super::strategy::same_credentials;
use super::{Pass, Result};
use crate::aura::{Instance, InstanceStatus};
use crate::controllers::connection::secrets;
use crate::controllers::machinery::FIELD_MANAGER;
use crate::controllers::reconciler::pass::News;
use crate::crd::common::RotationStrategy;
use crate::crd::instance::PasswordRotationStatus;
use crate::database::{self, Login};

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
    /// Strategy TwoUsers while the Secret still holds the admin user.
    FirstApplicationUser,
}

/// Whose password changes.
enum Target {
    /// The Secret's user changes its own.
    Own,
    /// The admin sets the password of an application user.
    Application { admin: Login, user: String },
}

impl Pass<'_> {
    fn strategy(&self) -> RotationStrategy {
        let rotation = self.obj.spec.connection_secret.rotation.as_ref();
        rotation.and_then(|r| r.strategy).unwrap_or_default()
    }

    /// The two application users of strategy TwoUsers.
    pub(super) fn application_users(&self) -> [String; 2] {
        let rotation = self.obj.spec.connection_secret.rotation.as_ref();
        let prefix = rotation
            .and_then(|r| r.user_prefix.as_deref())
            .unwrap_or("app");
        [format!("{prefix}_a"), format!("{prefix}_b")]
    }

    /// Takes a switch of strategy as far as it goes (see [`super::strategy`]); once none is
    /// under way, finishes a rotation a restart interrupted, or rotates when asked or due.
    /// Returns what logs in with the Secret afterwards.
    pub(super) async fn rotate_password(
        &mut self,
        instance: &Instance,
        login: Option<Login>,
    ) -> Result<Option<Login>> {
        let (login, hold) = self.follow_strategy(instance, login).await?;
        let login = match hold {
            Some(_) => login,
            None => self.rotate(instance, login).await?,
        };
        self.report_strategy(hold, login.as_ref());
        Ok(login)
    }

    /// Whether `login` is an application user: of the spec's pair, or one a rotation published
    /// (the pair of an earlier `userPrefix`).
    fn holds_application_user(&self, login: &Login) -> bool {
        let done = self.status.password_rotation.as_ref();
        self.application_users().contains(&login.username)
            || done.is_some_and(|r| {
                r.user.as_ref() == Some(&login.username)
                    || r.retiring_users.contains(&login.username)
            })
    }

    /// Finishes a rotation a restart interrupted, or rotates when asked or due.
    async fn rotate(&mut self, instance: &Instance, login: Option<Login>) -> Result<Option<Login>> {
        let Some(cause) = self.rotation_cause(login.as_ref()) else {
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
        let target = match self.target(&login).await? {
            Ok(target) => target,
            Err(refusal) => {
                self.refuse_rotation(&cause, refusal);
                return Ok(Some(login));
            }
        };
        let new = Escrowed {
            user: match &target {
                Target::Own => None,
                Target::Application { user, .. } => Some(user.clone()),
            },
            password: generate(),
        };
        self.write_secret_with(instance, None, Pending::Escrow(new.clone()))
            .await?;
        self.change_to(instance, login, &target, new, &cause).await
    }

    /// The rotation asked for (a new annotation value), needed (TwoUsers while the Secret holds
    /// the admin) or due by the schedule, if any; a future due time wakes the resource.
    fn rotation_cause(&mut self, login: Option<&Login>) -> Option<Cause> {
        let done = self.status.password_rotation.clone().unwrap_or_default();
        let asked = self.obj.annotations().get(ROTATE_ANNOTATION).cloned();
        if let Some(value) = asked.filter(|v| done.handled_request.as_ref() != Some(v)) {
            return Some(Cause::Asked(value));
        }
        let on_admin = login.is_none_or(|l| !self.application_users().contains(&l.username));
        if self.strategy() == RotationStrategy::TwoUsers && on_admin && !self.observe_only() {
            return Some(Cause::FirstApplicationUser);
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

    async fn pending_in_secret(&self) -> Result<Option<Escrowed>> {
        let existing = secrets::read(&self.secrets, &secret::name(&self.obj)).await?;
        Ok(existing.as_ref().and_then(secret::pending_password))
    }

    /// Whose password this rotation changes; with TwoUsers, the idle application user, set by
    /// the admin (whose credentials move to the admin Secret first, while the connection Secret
    /// still holds them). `Err` is a refusal.
    async fn target(&mut self, login: &Login) -> Result<std::result::Result<Target, String>> {
        if self.strategy() == RotationStrategy::AdminUser {
            return Ok(Ok(Target::Own));
        }
        let [a, b] = self.application_users();
        let user = if login.username == a { b } else { a };
        match self.admin_login(login).await? {
            Some(admin) => Ok(Ok(Target::Application { admin, user })),
            None => Ok(Err(format!(
                "the admin Secret {} is missing, so the operator cannot log in as the admin to \
                 set the application users' passwords: recreate it with NEO4J_USERNAME and \
                 NEO4J_PASSWORD",
                secret::admin_name(&self.obj)
            ))),
        }
    }

    /// The admin's credentials from the admin Secret; written there first from `login` while
    /// the connection Secret still holds the admin (not an application user). A stored copy
    /// that differs from the Secret's admin login (an AdminUser rotation since, or a password
    /// set by hand) is replaced only when the Secret's login works, so no working admin
    /// password is ever overwritten by one that does not.
    async fn admin_login(&mut self, login: &Login) -> Result<Option<Login>> {
        let name = secret::admin_name(&self.obj);
        let stored = self.stored_admin(&login.uri).await?;
        if self.holds_application_user(login) {
            return Ok(stored);
        }
        if let Some(stored) = stored {
            // Only the same user with a newer password that works replaces the stored copy.
            let settings = &self.ctx.database;
            if stored.username != login.username
                || same_credentials(&stored, login)
                || database::verify(settings, login).await.is_err()
            {
                return Ok(Some(stored));
            }
        }
        // Recorded before the write: a switch back to AdminUser then knows to delete it.
        let status = self
            .status
            .password_rotation
            .get_or_insert_with(Default::default);
        status.admin_secret = Some(name.clone());
        self.save().await?;
        let admin = secret::build_admin(&self.obj, &login.username, &login.password);
        let mut body = serde_json::to_value(&admin).map_err(kube::Error::SerdeError)?;
        body["apiVersion"] = "v1".into();
        body["kind"] = "Secret".into();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.secrets
            .patch(&name, &params, &Patch::Apply(body))
            .await?;
        Ok(Some(login.clone()))
    }

    /// Makes the database take the escrowed credentials, checks them and publishes them. A
    /// database that cannot be reached leaves the escrow for a later pass.
    async fn change_to(
        &mut self,
        instance: &Instance,
        login: Login,
        target: &Target,
        new: Escrowed,
        cause: &Cause,
    ) -> Result<Option<Login>> {
        let settings = &self.ctx.database;
        let changed = match target {
            Target::Own => database::change_own_password(settings, &login, &new.password).await,
            Target::Application { admin, user } => {
                database::set_user_password(settings, admin, user, &new.password).await
            }
        };
        match changed {
            Ok(()) => {}
            // Unreachable, locked or held back: nothing changed; the escrow waits for a pass.
            Err(wait) if wait.is_wait() => {
                self.retry_login_after(&wait);
                return Ok(Some(login));
            }
            Err(refused) => {
                // The password in use no longer works or the database said no: the escrow is
                // of no use, and ConnectionVerified tells the rest.
                self.write_secret_with(instance, None, Pending::Drop)
                    .await?;
                self.refuse_rotation(cause, format!("the database refused the change: {refused}"));
                return Ok(Some(login));
            }
        }
        match database::verify(&self.ctx.database, &escrowed_login(&login, &new)).await {
            Ok(()) => self.publish(instance, new, cause).await,
            // Kept in escrow: the next pass logs in with it and publishes it.
            Err(error) => {
                self.retry_login_after(&error);
                Ok(Some(login))
            }
        }
    }

    /// Pending credentials left by an interrupted rotation: published if they log in; the
    /// change made again if not.
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
        match database::verify(&self.ctx.database, &escrowed_login(&login, &new)).await {
            Ok(()) => return self.publish(instance, new, &cause).await,
            // A lock (or the guard) says nothing of whether the database took the escrowed
            // password: it is kept, never given up or changed again, until a login answers.
            Err(wait) if wait.is_wait() => {
                self.retry_login_after(&wait);
                return Ok(Some(login));
            }
            Err(_) => {}
        }
        let target = match &new.user {
            None => Target::Own,
            Some(user) => match self.admin_login(&login).await? {
                Some(admin) => Target::Application {
                    admin,
                    user: user.clone(),
                },
                None => {
                    self.write_secret_with(instance, None, Pending::Drop)
                        .await?;
                    return Ok(Some(login));
                }
            },
        };
        self.change_to(instance, login, &target, new, &cause).await
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

    /// Records the rotation in the status, then makes `new` the Secret's credentials: a restart
    /// between the two finds the pending keys and publishes them.
    async fn publish(
        &mut self,
        instance: &Instance,
        new: Escrowed,
        cause: &Cause,
    ) -> Result<Option<Login>> {
        let before = self.status.password_rotation.clone().unwrap_or_default();
        let handled = match cause {
            Cause::Asked(value) => Some(value.clone()),
            _ => before.handled_request.clone(),
        };
        // An own password change keeps the user (an application user after `rotation` was
        // removed).
        self.status.password_rotation = Some(PasswordRotationStatus {
            last_rotated: Some(Time(self.ctx.clock.now())),
            handled_request: handled,
            refused: None,
            user: new.user.clone().or_else(|| before.user.clone()),
            ..before.clone()
        });
        self.save().await?;
        let login = self
            .write_secret_with(
                instance,
                new.user.as_deref(),
                Pending::Publish(new.password),
            )
            .await?;
        let why = match cause {
            Cause::Asked(value) => format!("asked by {ROTATE_ANNOTATION}={value}"),
            Cause::Scheduled => "on schedule".to_owned(),
            Cause::FirstApplicationUser => "strategy TwoUsers".to_owned(),
        };
        let secret = secret::name(&self.obj);
        let note = match (&new.user, before.user) {
            (None, _) => format!(
                "rotated the database password ({why}) and published it in Secret {secret}; \
                 connections opened with the old password stay open, new ones need the new one"
            ),
            (Some(user), previous) => format!(
                "set a new password on user {user} ({why}) and published it in Secret {secret}; \
                 the previous credentials ({}) keep working until the next rotation",
                previous.unwrap_or_else(|| "the admin user".to_owned())
            ),
        };
        self.announce(News::normal("PasswordRotated", note));
        Ok(login)
    }
}

/// `login` with the escrowed user (if any) and password.
fn escrowed_login(login: &Login, new: &Escrowed) -> Login {
    Login {
        username: new.user.clone().unwrap_or_else(|| login.username.clone()),
        ..login.with_password(&new.password)
    }
}
