//! The ConnectionVerified condition: the operator logs in with the connection Secret's
//! username and password over Bolt (TLS verified) and runs `RETURN 1`.
//!
//! It checks after the Secret is first written (create, adopt), whenever what the Secret would
//! log in with changes, when the instance comes back to `running`, and otherwise at most once
//! per resync interval (the time of the last check is kept in memory, not in the status, so
//! that a check that finds nothing new writes nothing). A refused password makes Ready False
//! (see [`Pass::verdict`]); a database that cannot be reached does not, because the operator's
//! network path is not the applications' (a cluster without egress to port 7687, a firewall
//! rule for the operator's namespace) and a passing outage is not the Secret's fault. Nor does
//! a user locked by Neo4j's auth rate limit (`AuthenticationRateLimited`): the lock says nothing
//! of the password, and the check comes back after it. The logins themselves go through the
//! context's [`LoginGuard`](crate::database::LoginGuard), so a refused password is not tried
//! again at every resync.

use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use secrecy::ExposeSecret;

use super::{Pass, secret};
use crate::aura::{Instance, InstanceStatus};
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::News;
use crate::crd::conditions::{self, CONNECTION_VERIFIED, Desired};
use crate::database::{self, DatabaseError, Login};

/// What a check with `login` of an instance (running or not) would check, as one number.
fn fingerprint(login: &Login, running: bool) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    login.uri.hash(&mut hasher);
    login.username.hash(&mut hasher);
    login.password.expose_secret().hash(&mut hasher);
    running.hash(&mut hasher);
    hasher.finish()
}

impl Pass<'_> {
    /// Whether this resource's Secret is checked at all (the operator flag, then the spec).
    pub(super) fn verifies_connection(&self) -> bool {
        self.ctx.database.verify && self.obj.spec.connection_secret.verify != Some(false)
    }

    /// Checks the connection if due and records the result in ConnectionVerified. Without a
    /// password (or with checks off) the condition is dropped: PasswordUnavailable says the rest.
    pub(super) async fn check_connection(&mut self, instance: &Instance, login: Option<Login>) {
        let Some(login) = login.filter(|_| self.verifies_connection()) else {
            self.forget_connection_check();
            return;
        };
        let running = instance.status == InstanceStatus::Running;
        let key = self.key();
        let print = fingerprint(&login, running);
        if !self
            .ctx
            .memory
            .login_check_due(&key, print, self.ctx.timing.resync)
        {
            return;
        }
        let result = match instance.status {
            InstanceStatus::Running => database::verify(&self.ctx.database, &login).await,
            InstanceStatus::Paused => Err(DatabaseError::Unreachable(
                "Aura reports the instance paused; nobody can log in until it resumes".to_owned(),
            )),
            // Aura is at work: the next settled pass checks.
            _ => return,
        };
        match &result {
            // Nothing learnt: the condition stays, and a pass comes back to check.
            Err(held @ DatabaseError::HeldBack { .. }) => return self.retry_login_after(held),
            // Checked again once the lock had time to pass, not only at the resync.
            Err(locked @ DatabaseError::RateLimited(_)) => self.retry_login_after(locked),
            _ => self.ctx.memory.login_checked(&key, print),
        }
        self.record_connection(&login, result);
    }

    /// Wakes this resource when a login that `error` kept from an answer may get one.
    pub(super) fn retry_login_after(&mut self, error: &DatabaseError) {
        let Some(wait) = error.retry_in(&self.ctx.database) else {
            return;
        };
        let wait = jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::ZERO);
        if let Ok(at) = self.ctx.clock.now().checked_add(wait) {
            self.wake_by(at);
        }
    }

    fn record_connection(&mut self, login: &Login, result: Result<(), DatabaseError>) {
        let secret = secret::name(&self.obj);
        let user = &login.username;
        let (reason, message) = match &result {
            Ok(()) => (
                Reason::LoggedIn,
                format!("logged in as {user} with Secret {secret} over TLS and ran RETURN 1"),
            ),
            Err(DatabaseError::Unreachable(why)) => (
                Reason::Unreachable,
                format!(
                    "could not reach {} over Bolt to check Secret {secret}: {why}. Ready is left \
                     as it is",
                    login.uri
                ),
            ),
            Err(locked @ (DatabaseError::RateLimited(_) | DatabaseError::HeldBack { .. })) => (
                Reason::AuthenticationRateLimited,
                format!(
                    "the database has locked user {user} after too many refused logins in a row \
                     ({locked}): it refuses every password until the lock passes, so the \
                     password in Secret {secret} is neither confirmed nor refused. Someone logs \
                     in as {user} with a wrong password; the operator logs in again after the \
                     lock. Ready is left as it is"
                ),
            ),
            Err(refused) => (
                Reason::AuthenticationFailed,
                format!(
                    "the database refused user {user} with the password in Secret {secret} \
                     ({refused}): put the current password there, or reset it in the Aura \
                     console and put that one there"
                ),
            ),
        };
        let verified = result.is_ok();
        let desired = Desired {
            type_: CONNECTION_VERIFIED,
            status: verified,
            reason: reason.as_str(),
            message: message.clone(),
        };
        let Some(was) = self.set_condition(desired) else {
            return;
        };
        if !verified {
            self.announce(News::warning(reason.as_str(), message));
        } else if was.is_some() {
            self.announce(News::normal(reason.as_str(), message));
        }
    }

    /// Sets a condition of this resource; when its reason changed, returns the reason it had
    /// (None: it was absent), for the caller to announce.
    pub(super) fn set_condition(&mut self, desired: Desired<'_>) -> Option<Option<String>> {
        let reason = desired.reason.to_owned();
        let generation = self.obj.meta().generation;
        let conds = &mut self.status.conditions;
        let was = conditions::set_after(conds, desired, generation, Time(jiff::Timestamp::now()));
        (was.as_deref() != Some(reason.as_str())).then_some(was)
    }

    /// Drops ConnectionVerified: nothing is checked for this resource now.
    pub(super) fn forget_connection_check(&mut self) {
        let conds = &mut self.status.conditions;
        conds.retain(|c| c.type_ != CONNECTION_VERIFIED);
    }

    /// Whether the last check found the password refused.
    pub(super) fn authentication_failed(&self) -> Option<String> {
        conditions::find(&self.status.conditions, CONNECTION_VERIFIED)
            .filter(|c| c.reason == Reason::AuthenticationFailed.as_str())
            .map(|c| c.message.clone())
    }
}
