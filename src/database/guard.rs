//! The operator's own restraint on database logins, so that it never adds to a lock of Neo4j's
//! auth rate limit (after `dbms.security.auth_max_failed_attempts`, 3 by default, refused logins
//! of a user in a row, every login of that user is refused for `dbms.security.auth_lock_time`,
//! the right password too, and so the applications are locked out as well).
//!
//! The policy, per database and user, in this process's memory:
//! - a password the database refused is not tried again until the Secret holds another one, the
//!   operator itself sets that user's password, or [`DatabaseSettings::refused_retry`] passes;
//!   meanwhile the refusal is the answer;
//! - after any refused login of a user, no login of that user for
//!   [`DatabaseSettings::lock_wait`]: at most one failed attempt per user per lock window;
//! - a user the database reports locked is not logged in as until `lock_wait` has passed.
//!
//! A login that succeeds (or gets as far as a statement) clears the user's record, as it resets
//! Neo4j's count. Passwords are kept only as keyed hashes whose key is made per process.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::{DatabaseError, DatabaseSettings, Login};

#[derive(Default)]
struct UserRecord {
    /// The database reported the user locked: no login before this.
    locked_until: Option<Instant>,
    /// The last refused login of the user, with any password.
    last_refused: Option<Instant>,
    /// Refused passwords (keyed hashes) and when.
    refused: HashMap<u64, Instant>,
}

/// Per database URI and user, what the operator's logins learnt. `Debug` shows a count only.
#[derive(Default)]
pub struct LoginGuard {
    keys: std::collections::hash_map::RandomState,
    users: Mutex<HashMap<(String, String), UserRecord>>,
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard")
            .field("users", &self.lock().len())
            .finish()
    }
}

fn key(login: &Login) -> (String, String) {
    (login.uri.clone(), login.username.clone())
}

fn left(until: Instant, now: Instant) -> Option<Duration> {
    let left = until.saturating_duration_since(now);
    (!left.is_zero()).then_some(left)
}

impl LoginGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), UserRecord>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fingerprint(&self, login: &Login) -> u64 {
        self.keys.hash_one(login.password.expose_secret())
    }

    /// Whether the operator may log in with `login` now; `Err` is the answer it gives instead.
    pub fn admit(&self, settings: &DatabaseSettings, login: &Login) -> Result<(), DatabaseError> {
        let now = Instant::now();
        let print = self.fingerprint(login);
        let users = self.lock();
        let Some(record) = users.get(&key(login)) else {
            return Ok(());
        };
        let user = &login.username;
        if let Some(retry_in) = record.locked_until.and_then(|t| left(t, now)) {
            return Err(DatabaseError::HeldBack {
                why: format!(
                    "the database locked user {user} after repeated refused logins; the \
                     operator logs in as {user} again once the lock has had time to pass"
                ),
                retry_in,
            });
        }
        if let Some(at) = record.refused.get(&print)
            && left(*at + settings.refused_retry, now).is_some()
        {
            return Err(DatabaseError::Unauthorized(format!(
                "the database refused this password for user {user}; the operator tries it \
                 again only when the Secret holds another password or after {}s, so that it \
                 never locks {user} out",
                settings.refused_retry.as_secs()
            )));
        }
        if let Some(retry_in) = record
            .last_refused
            .and_then(|at| left(at + settings.lock_wait, now))
        {
            return Err(DatabaseError::HeldBack {
                why: format!(
                    "a login of user {user} was refused moments ago, and the operator makes at \
                     most one failed login per user in {}s",
                    settings.lock_wait.as_secs()
                ),
                retry_in,
            });
        }
        Ok(())
    }

    /// Learns from the outcome of a login with `login` that [`admit`](Self::admit) let through.
    pub fn record<T>(
        &self,
        settings: &DatabaseSettings,
        login: &Login,
        result: &Result<T, DatabaseError>,
    ) {
        let now = Instant::now();
        let print = self.fingerprint(login);
        let mut users = self.lock();
        match result {
            // Logged in (a statement's refusal comes after the login).
            Ok(_) | Err(DatabaseError::Refused(_)) => {
                users.remove(&key(login));
            }
            Err(DatabaseError::Unauthorized(_)) => {
                let record = users.entry(key(login)).or_default();
                record.last_refused = Some(now);
                record.refused.insert(print, now);
            }
            Err(DatabaseError::RateLimited(_)) => {
                users.entry(key(login)).or_default().locked_until = Some(now + settings.lock_wait);
            }
            Err(DatabaseError::Unreachable(_) | DatabaseError::HeldBack { .. }) => {}
        }
    }

    /// The operator set the password of `user` at `uri`: passwords refused before may work now.
    pub fn password_changed(&self, uri: &str, user: &str) {
        self.lock().remove(&(uri.to_owned(), user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings() -> DatabaseSettings {
        DatabaseSettings {
            lock_wait: Duration::from_secs(30),
            refused_retry: Duration::from_secs(900),
            ..DatabaseSettings::default()
        }
    }

    fn login(password: &str) -> Login {
        Login {
            uri: "neo4j+s://db".into(),
            username: "neo4j".into(),
            password: SecretString::from(password.to_owned()),
        }
    }

    fn refused() -> Result<(), DatabaseError> {
        Err(DatabaseError::Unauthorized("no".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_password_is_not_tried_again_and_others_wait_a_lock_window() {
        let (guard, s) = (LoginGuard::default(), settings());
        guard.admit(&s, &login("wrong-one")).unwrap();
        guard.record(&s, &login("wrong-one"), &refused());
        assert!(matches!(
            guard.admit(&s, &login("wrong-one")),
            Err(DatabaseError::Unauthorized(_))
        ));
        assert!(matches!(
            guard.admit(&s, &login("another")),
            Err(DatabaseError::HeldBack { .. })
        ));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(guard.admit(&s, &login("another")).is_ok());
        assert!(guard.admit(&s, &login("wrong-one")).is_err());
        tokio::time::advance(Duration::from_secs(900)).await;
        assert!(guard.admit(&s, &login("wrong-one")).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_holds_every_password_back_and_a_change_clears_refusals() {
        let (guard, s) = (LoginGuard::default(), settings());
        let locked: Result<(), _> = Err(DatabaseError::RateLimited("locked".into()));
        guard.record(&s, &login("right-one"), &locked);
        assert!(matches!(
            guard.admit(&s, &login("right-one")),
            Err(DatabaseError::HeldBack { .. })
        ));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(guard.admit(&s, &login("right-one")).is_ok());
        guard.record(&s, &login("pending"), &refused());
        guard.password_changed("neo4j+s://db", "neo4j");
        assert!(guard.admit(&s, &login("pending")).is_ok());
    }

    #[test]
    fn debug_shows_no_password() {
        let (guard, s) = (LoginGuard::default(), settings());
        guard.record(&s, &login("secret-password"), &refused());
        let shown = format!("{guard:?}");
        assert!(!shown.contains("secret-password"), "{shown}");
    }
}
