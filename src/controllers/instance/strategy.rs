//! Switching `connectionSecret.rotation.strategy` on a live resource, and removing `rotation`.
//!
//! - TwoUsers → AdminUser: the admin's credentials (from `<connection Secret>-admin`) are
//!   checked by logging in, the application users to drop are recorded in
//!   `status.passwordRotation.retiringUsers`, then the connection Secret gets the admin user
//!   back (published, so consumers reload), the operator logs in with it, drops the application
//!   users and only then deletes the admin Secret. The admin's password is in the admin Secret
//!   or in the connection Secret (verified) at every step, so a kill anywhere loses nothing and
//!   leaves a Secret that logs in; the next pass goes on from what it finds.
//! - AdminUser → TwoUsers: as for a new TwoUsers resource (see [`super::rotation`]): the admin's
//!   credentials go to the admin Secret first, then `<prefix>_a` is created and published.
//! - `rotation` removed: nothing changes in the database; the Secret keeps the user it holds
//!   (an application user keeps working, the admin Secret stays), and the condition says so.
//!
//! The condition `RotationStrategy` reports which user the Secret holds against the strategy;
//! its reasons are the closed list [`StrategyReason`].

use kube::api::DeleteParams;
use secrecy::ExposeSecret;

use super::secret::{self, Pending};
use super::{Pass, Result};
use crate::aura::{Instance, InstanceStatus};
use crate::controllers::connection::secrets;
use crate::controllers::reconciler::pass::News;
use crate::crd::common::RotationStrategy;
use crate::crd::conditions::{Desired, ROTATION_STRATEGY};
use crate::database::{self, DatabaseError, Login};

/// Why the strategy's switch did not finish in this pass (rotations wait meanwhile).
pub(super) enum Hold {
    /// It goes on by itself (the instance is not running, the database cannot be reached).
    Waiting(String),
    /// It needs a person (the message says what to fix).
    Refused(String),
}

/// The reasons of the `RotationStrategy` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyReason {
    /// True: the Secret holds the admin user, as strategy AdminUser wants.
    AdminUser,
    /// True: the Secret holds an application user and the admin's credentials are kept apart.
    TwoUsers,
    /// True: `rotation` is absent and the Secret keeps the user it holds.
    RotationOff,
    /// False: a switch is under way and goes on by itself.
    Switching,
    /// False: a switch needs a person (the message says what).
    SwitchRefused,
}

impl StrategyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdminUser => "AdminUser",
            Self::TwoUsers => "TwoUsers",
            Self::RotationOff => "RotationOff",
            Self::Switching => "Switching",
            Self::SwitchRefused => "SwitchRefused",
        }
    }
}

/// Whether a condition reason `was` means the Secret held another strategy's user (AdminUser,
/// or no rotation): not a new resource's first application user.
fn switched_from(was: Option<&str>) -> bool {
    [StrategyReason::AdminUser, StrategyReason::RotationOff]
        .iter()
        .any(|r| was == Some(r.as_str()))
}

/// Whether two logins are the same user with the same password.
pub(super) fn same_credentials(a: &Login, b: &Login) -> bool {
    a.username == b.username && a.password.expose_secret() == b.password.expose_secret()
}

/// `user` and its partner when it is one of a pair (`x_a`, `x_b`); else `user` alone.
fn pair_of(user: &str) -> Vec<String> {
    match user.strip_suffix("_a").or_else(|| user.strip_suffix("_b")) {
        Some(stem) => vec![format!("{stem}_a"), format!("{stem}_b")],
        None => vec![user.to_owned()],
    }
}

impl Pass<'_> {
    /// A wait (woken when it may end) for an answer that says nothing of the password: the
    /// database unreachable, the user locked, a login held back; `None` for a refusal.
    fn waiting_on(&mut self, error: &DatabaseError) -> Option<Hold> {
        if !error.is_wait() {
            return None;
        }
        self.retry_login_after(error);
        Some(Hold::Waiting(format!(
            "switching back to strategy AdminUser waits for the database: {error}"
        )))
    }

    /// The spec asks for AdminUser while what strategy TwoUsers set up (an application user in
    /// the Secret, the admin Secret, users to drop) is still there.
    fn leaving_two_users(&self) -> bool {
        let Some(rotation) = &self.obj.spec.connection_secret.rotation else {
            return false;
        };
        if rotation.strategy.unwrap_or_default() != RotationStrategy::AdminUser {
            return false;
        }
        self.status.password_rotation.as_ref().is_some_and(|r| {
            r.user.is_some() || r.admin_secret.is_some() || !r.retiring_users.is_empty()
        })
    }

    /// Takes the switch back to AdminUser as far as it goes in this pass. Returns what logs in
    /// with the Secret afterwards and, unless the switch is done (or not asked for), why not.
    pub(super) async fn follow_strategy(
        &mut self,
        instance: &Instance,
        login: Option<Login>,
    ) -> Result<(Option<Login>, Option<Hold>)> {
        if self.observe_only() || !self.leaving_two_users() {
            return Ok((login, None));
        }
        let secret = secret::name(&self.obj);
        if !self.ctx.database.verify {
            let why = format!(
                "spec.connectionSecret.rotation.strategy is AdminUser, but the operator runs \
                 with --verify-connections=false (no Bolt egress) and switching back logs in \
                 over Bolt; Secret {secret} keeps the user it holds"
            );
            return Ok((login, Some(Hold::Refused(why))));
        }
        let Some(login) = login else {
            let why = format!("Secret {secret} holds no password to log in with");
            return Ok((None, Some(Hold::Refused(why))));
        };
        if instance.status != InstanceStatus::Running {
            let why = format!(
                "switching back to strategy AdminUser waits for the instance to run (Aura \
                 reports it {})",
                instance.status
            );
            return Ok((Some(login), Some(Hold::Waiting(why))));
        }
        let login = match self.publish_admin(instance, login).await? {
            Ok(login) => login,
            Err((login, hold)) => return Ok((Some(login), Some(hold))),
        };
        let hold = self.retire_two_users(&login).await?;
        Ok((Some(login), hold))
    }

    /// The admin's credentials from the admin Secret, for the database at `uri`.
    pub(super) async fn stored_admin(&self, uri: &str) -> Result<Option<Login>> {
        let name = secret::admin_name(&self.obj);
        let existing = secrets::read(&self.secrets, &name).await?;
        Ok(existing
            .as_ref()
            .and_then(secret::admin_credentials)
            .map(|(username, password)| Login {
                uri: uri.to_owned(),
                username,
                password,
            }))
    }

    /// Adds the application users this switch drops to the status (kept across passes).
    fn note_retiring(&mut self, login: &Login, admin_user: Option<&str>) {
        let mut users: Vec<String> = self.application_users().into();
        let status = self
            .status
            .password_rotation
            .get_or_insert_with(Default::default);
        if let Some(user) = &status.user {
            users.extend(pair_of(user));
        }
        if admin_user.is_some_and(|admin| admin != login.username) {
            users.extend(pair_of(&login.username));
        }
        users.append(&mut status.retiring_users);
        users.retain(|u| Some(u.as_str()) != admin_user);
        users.sort();
        users.dedup();
        status.retiring_users = users;
    }

    /// Makes the connection Secret hold the admin user (from the admin Secret, checked by
    /// logging in) unless it does. `Err` keeps the Secret's login, with why.
    async fn publish_admin(
        &mut self,
        instance: &Instance,
        login: Login,
    ) -> Result<std::result::Result<Login, (Login, Hold)>> {
        let admin_secret = secret::admin_name(&self.obj);
        let Some(admin) = self.stored_admin(&login.uri).await? else {
            self.note_retiring(&login, None);
            let on_application_user = (self.status.password_rotation.as_ref())
                .is_some_and(|r| r.retiring_users.contains(&login.username));
            if !on_application_user {
                // The Secret holds the admin itself: nothing to publish.
                return Ok(Ok(login));
            }
            let why = format!(
                "spec.connectionSecret.rotation.strategy is AdminUser, but Secret \
                 {admin_secret} is missing, so the operator cannot give Secret {} the admin \
                 user back: recreate {admin_secret} with the admin's NEO4J_USERNAME and \
                 NEO4J_PASSWORD (the connection Secret keeps user {} meanwhile)",
                secret::name(&self.obj),
                login.username
            );
            return Ok(Err((login, Hold::Refused(why))));
        };
        self.note_retiring(&login, Some(&admin.username));
        if same_credentials(&admin, &login) {
            return Ok(Ok(login));
        }
        // The Secret's own admin password is the newer one if it logs in (set by hand).
        let settings = &self.ctx.database;
        if admin.username == login.username && database::verify(settings, &login).await.is_ok() {
            return Ok(Ok(login));
        }
        if let Err(error) = database::verify(settings, &admin).await {
            let hold = self.waiting_on(&error).unwrap_or_else(|| {
                Hold::Refused(format!(
                    "the database refused the admin's credentials in Secret {admin_secret} \
                     (NEO4J_USERNAME {}, NEO4J_PASSWORD): {error}. Put the admin's current \
                     password there; Secret {} keeps user {} meanwhile",
                    admin.username,
                    secret::name(&self.obj),
                    login.username
                ))
            });
            return Ok(Err((login, hold)));
        }
        // Recorded first: a restart finds the users to drop even if the Secret changed.
        if let Some(status) = &mut self.status.password_rotation {
            status.user = None;
        }
        self.save().await?;
        let published = self
            .write_secret_with(
                instance,
                Some(&admin.username),
                Pending::Publish(admin.password.clone()),
            )
            .await?;
        Ok(Ok(published.unwrap_or(admin)))
    }

    /// With the Secret holding the admin: logs in with it, drops the retiring application users
    /// and deletes the admin Secret, in that order. Returns why it stopped, if it did.
    async fn retire_two_users(&mut self, login: &Login) -> Result<Option<Hold>> {
        let secret = secret::name(&self.obj);
        let settings = &self.ctx.database;
        if let Err(error) = database::verify(settings, login).await {
            return Ok(Some(self.waiting_on(&error).unwrap_or_else(|| {
                Hold::Refused(format!(
                    "the database refused user {} with the password in Secret {secret} \
                     ({error}); the admin Secret {} is kept: put its password in {secret}",
                    login.username,
                    secret::admin_name(&self.obj)
                ))
            })));
        }
        let status = self.status.password_rotation.clone().unwrap_or_default();
        for user in status
            .retiring_users
            .iter()
            .filter(|u| **u != login.username)
        {
            if let Err(error) = database::drop_user(settings, login, user).await {
                return Ok(Some(self.waiting_on(&error).unwrap_or_else(|| {
                    Hold::Refused(format!(
                        "switching back to strategy AdminUser: the database refused to drop \
                         application user {user} ({error}); status.passwordRotation.\
                         retiringUsers lists the users still to drop"
                    ))
                })));
            }
        }
        let admin_secret = secret::admin_name(&self.obj);
        match self
            .secrets
            .delete(&admin_secret, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(status) = &mut self.status.password_rotation {
            status.user = None;
            status.admin_secret = None;
            status.retiring_users.clear();
        }
        let dropped = status.retiring_users.join(", ");
        self.announce(News::normal(
            "StrategySwitched",
            format!(
                "spec.connectionSecret.rotation.strategy AdminUser: Secret {secret} holds the \
                 admin user {} again (it logged in); dropped application users {dropped} and \
                 deleted Secret {admin_secret}; rotations now change the admin's own password",
                login.username
            ),
        ));
        Ok(None)
    }

    /// Sets the `RotationStrategy` condition from this pass's outcome, with an Event when its
    /// reason changes to something a person should hear about.
    pub(super) fn report_strategy(&mut self, hold: Option<Hold>, login: Option<&Login>) {
        let state = (!self.observe_only())
            .then(|| self.strategy_state(hold, login))
            .flatten();
        let Some((reason, message)) = state else {
            self.status
                .conditions
                .retain(|c| c.type_ != ROTATION_STRATEGY);
            return;
        };
        let status = matches!(
            reason,
            StrategyReason::AdminUser | StrategyReason::TwoUsers | StrategyReason::RotationOff
        );
        let desired = Desired {
            type_: ROTATION_STRATEGY,
            status,
            reason: reason.as_str(),
            message: message.clone(),
        };
        let Some(was) = self.set_condition(desired) else {
            return;
        };
        let news = match reason {
            StrategyReason::SwitchRefused => News::warning("StrategySwitchRefused", message),
            StrategyReason::RotationOff => News::normal("RotationStopped", message),
            StrategyReason::TwoUsers if switched_from(was.as_deref()) => {
                News::normal("StrategySwitched", message)
            }
            _ => return,
        };
        self.announce(news);
    }

    /// The condition's reason and message; `None` drops the condition (no rotation, nothing of
    /// TwoUsers left).
    fn strategy_state(
        &self,
        hold: Option<Hold>,
        login: Option<&Login>,
    ) -> Option<(StrategyReason, String)> {
        match hold {
            Some(Hold::Waiting(why)) => return Some((StrategyReason::Switching, why)),
            Some(Hold::Refused(why)) => return Some((StrategyReason::SwitchRefused, why)),
            None => {}
        }
        let secret = secret::name(&self.obj);
        let admin_secret = secret::admin_name(&self.obj);
        let done = self.status.password_rotation.clone().unwrap_or_default();
        let Some(rotation) = &self.obj.spec.connection_secret.rotation else {
            let holds = match (&done.user, &done.admin_secret) {
                (Some(user), _) => format!("keeps application user {user}, which goes on working"),
                (None, Some(_)) => "keeps the admin user".to_owned(),
                (None, None) => return None,
            };
            return Some((
                StrategyReason::RotationOff,
                format!(
                    "spec.connectionSecret.rotation is absent: Secret {secret} {holds} (the \
                     rotate-password annotation changes that user's own password); the admin's \
                     credentials stay in Secret {admin_secret}. Set \
                     spec.connectionSecret.rotation.strategy: AdminUser to go back to the admin \
                     user"
                ),
            ));
        };
        if rotation.strategy.unwrap_or_default() == RotationStrategy::AdminUser {
            let user = login.map_or_else(
                || "the admin user".to_owned(),
                |l| format!("the admin user {}", l.username),
            );
            return Some((
                StrategyReason::AdminUser,
                format!("Secret {secret} holds {user}; rotations change its own password"),
            ));
        }
        if let Some(user) = &done.user {
            return Some((
                StrategyReason::TwoUsers,
                format!(
                    "Secret {secret} holds application user {user}; the admin's credentials are \
                     in Secret {admin_secret}"
                ),
            ));
        }
        let first = &self.application_users()[0];
        Some(match done.refused {
            Some(why) => (
                StrategyReason::SwitchRefused,
                format!("strategy TwoUsers cannot publish application user {first}: {why}"),
            ),
            None => (
                StrategyReason::Switching,
                format!(
                    "strategy TwoUsers: application user {first} is published once the instance \
                     runs and the operator reaches it over Bolt"
                ),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::pair_of;

    #[test]
    fn pairs_follow_the_suffix() {
        assert_eq!(pair_of("app_b"), ["app_a", "app_b"]);
        assert_eq!(pair_of("svc_x_a"), ["svc_x_a", "svc_x_b"]);
        assert_eq!(pair_of("reader"), ["reader"]);
    }
}
