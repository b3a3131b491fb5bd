//! Logging in to an Aura database over Bolt with the neo4rs driver (issue 22): to verify that a
//! connection Secret's password works, and to change it.
//!
//! TLS is always verified: against the system's roots, or only against `extra_ca_file` when it
//! is set (neo4rs takes one CA file instead of the system roots; the emulator's CA is the use).
//! Errors are sorted into the two answers the operator acts on: the database refused the
//! credentials, or it could not be reached (network, TLS, a paused instance); a user locked by
//! Neo4j's auth rate limit is a third answer, a wait. With a [`LoginGuard`] every login first
//! asks it, so that the operator's own attempts never lock a user (see [`guard`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use neo4rs::{ConfigBuilder, Graph, query};
use secrecy::{ExposeSecret, SecretString};

mod guard;

pub use guard::LoginGuard;

/// How the operator logs in to databases.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Verify connection Secrets at all (off for clusters without egress to port 7687).
    pub verify: bool,
    /// A CA to trust instead of the system roots (the emulator's, in tests and the sandbox).
    pub extra_ca_file: Option<PathBuf>,
    /// How long one connection attempt may take.
    pub timeout: Duration,
    /// After a refused login of a user, how long no other login of that user is tried; and how
    /// long a user the database reported locked is left alone. Longer than Neo4j's
    /// `dbms.security.auth_lock_time` (5 s by default).
    pub lock_wait: Duration,
    /// How long a password the database refused is not tried again (unless the Secret changes
    /// to another one, or the operator sets that user's password).
    pub refused_retry: Duration,
    /// The operator's memory of refused and locked logins; `None` logs in without restraint
    /// (the controllers' context always installs one of its own).
    pub guard: Option<Arc<LoginGuard>>,
}

impl Default for DatabaseSettings {
    /// Verification off: library users and tests turn it on; `aura-operator run` has it on.
    fn default() -> Self {
        Self {
            verify: false,
            extra_ca_file: None,
            timeout: Duration::from_secs(10),
            lock_wait: Duration::from_secs(30),
            refused_retry: Duration::from_secs(15 * 60),
            guard: None,
        }
    }
}

/// What a login needs. `Debug` leaves the password out.
#[derive(Clone)]
pub struct Login {
    pub uri: String,
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("uri", &self.uri)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// The same user on the same database with another password.
    pub fn with_password(&self, password: &SecretString) -> Self {
        Self {
            password: password.clone(),
            ..self.clone()
        }
    }
}

/// Why a login or a statement did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseError {
    /// The database refused the username and password.
    #[error("the database refused the credentials: {0}")]
    Unauthorized(String),
    /// The database locked the user after too many refused logins in a row (Neo4j's
    /// `AuthenticationRateLimit`): it refuses every password, the right one too, until the
    /// lock passes. Says nothing about whether the password is right.
    #[error("the database locked the user after repeated failed logins: {0}")]
    RateLimited(String),
    /// Nothing answered, TLS failed, or the connection dropped.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    /// Not tried: the operator holds back a login of this user for `retry_in`, so as not to
    /// lock it (see [`guard`]). Says nothing about the password.
    #[error("login not tried: {why}")]
    HeldBack { why: String, retry_in: Duration },
    /// The database answered a statement with an error.
    #[error("the database refused the statement: {0}")]
    Refused(String),
}

impl DatabaseError {
    /// Whether this answer says nothing about the password (the database unreachable, the user
    /// locked, a login held back): "unknown, try later", never "this password does not work".
    pub fn is_wait(&self) -> bool {
        !matches!(self, Self::Unauthorized(_) | Self::Refused(_))
    }

    /// When a login may get another answer than this lock or hold-back; `None` for other
    /// answers (an unreachable database is retried on the usual schedule).
    pub fn retry_in(&self, settings: &DatabaseSettings) -> Option<Duration> {
        match self {
            Self::RateLimited(_) => Some(settings.lock_wait),
            Self::HeldBack { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    fn from_driver(error: neo4rs::Error) -> Self {
        match error {
            // neo4rs keeps only the message of a refused HELLO, not its code.
            neo4rs::Error::AuthenticationError(message) if is_rate_limit(&message) => {
                Self::RateLimited(message)
            }
            neo4rs::Error::AuthenticationError(message) => Self::Unauthorized(message),
            neo4rs::Error::Neo4j(e) if e.code() == RATE_LIMIT_CODE => {
                Self::RateLimited(e.message().to_owned())
            }
            neo4rs::Error::Neo4j(e) if e.code().starts_with("Neo.ClientError.Security.") => {
                Self::Unauthorized(e.message().to_owned())
            }
            neo4rs::Error::Neo4j(e) => Self::Refused(format!("{}: {}", e.code(), e.message())),
            other => Self::Unreachable(other.to_string()),
        }
    }
}

/// Neo4j's code for a login refused because the user is locked.
const RATE_LIMIT_CODE: &str = "Neo.ClientError.Security.AuthenticationRateLimit";

/// Whether a refused login's message is Neo4j's for a locked user ("The client has provided
/// incorrect authentication details too many times in a row."): the driver drops the code.
fn is_rate_limit(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("too many times in a row") || message.contains("authenticationratelimit")
}

fn graph(settings: &DatabaseSettings, login: &Login, db: &str) -> Result<Graph, DatabaseError> {
    // neo4rs builds its TLS configuration with the process-wide rustls provider.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let mut config = ConfigBuilder::default()
        .uri(login.uri.as_str())
        .user(login.username.as_str())
        .password(login.password.expose_secret())
        .db(db)
        .max_connections(1)
        .connection_timeout(settings.timeout);
    if let Some(ca) = &settings.extra_ca_file {
        config = config.with_client_certificate(ca);
    }
    let config = config
        .build()
        .map_err(|e| DatabaseError::Unreachable(e.to_string()))?;
    Graph::connect(config).map_err(DatabaseError::from_driver)
}

/// Runs `attempt` (a login with `login` and what follows) if the guard lets it, and tells the
/// guard how it went.
async fn guarded<T>(
    settings: &DatabaseSettings,
    login: &Login,
    attempt: impl Future<Output = Result<T, DatabaseError>>,
) -> Result<T, DatabaseError> {
    let Some(guard) = &settings.guard else {
        return attempt.await;
    };
    guard.admit(settings, login)?;
    let result = attempt.await;
    guard.record(settings, login, &result);
    result
}

/// Logs in to `db` and runs `statement` to its end, within the timeout.
async fn run(
    settings: &DatabaseSettings,
    login: &Login,
    db: &str,
    statement: neo4rs::Query,
) -> Result<(), DatabaseError> {
    // Boxed: the driver's futures are large, and nesting them inline overflows test stacks.
    let attempt = Box::pin(run_unguarded(settings, login, db, statement));
    guarded(settings, login, attempt).await
}

async fn run_unguarded(
    settings: &DatabaseSettings,
    login: &Login,
    db: &str,
    statement: neo4rs::Query,
) -> Result<(), DatabaseError> {
    let graph = graph(settings, login, db)?;
    match tokio::time::timeout(settings.timeout, graph.run(statement)).await {
        Ok(result) => result.map_err(DatabaseError::from_driver),
        Err(_) => Err(DatabaseError::Unreachable("timed out".to_owned())),
    }
}

/// Logs in and runs `RETURN 1`: the check that the credentials work.
pub async fn verify(settings: &DatabaseSettings, login: &Login) -> Result<(), DatabaseError> {
    run(settings, login, "neo4j", query("RETURN 1")).await
}

/// The database's users, as `admin` sees them (`SHOW USERS` on the system database).
async fn users(settings: &DatabaseSettings, admin: &Login) -> Result<Vec<String>, DatabaseError> {
    guarded(settings, admin, Box::pin(users_unguarded(settings, admin))).await
}

async fn users_unguarded(
    settings: &DatabaseSettings,
    admin: &Login,
) -> Result<Vec<String>, DatabaseError> {
    let graph = graph(settings, admin, "system")?;
    let read = async {
        let mut rows = graph.execute(query("SHOW USERS")).await?;
        let mut names = Vec::new();
        while let Some(row) = rows.next().await? {
            names.extend(row.get::<String>("user").ok());
        }
        Ok::<_, neo4rs::Error>(names)
    };
    match tokio::time::timeout(settings.timeout, read).await {
        Ok(result) => result.map_err(DatabaseError::from_driver),
        Err(_) => Err(DatabaseError::Unreachable("timed out".to_owned())),
    }
}

/// As `admin`, gives `user` the password `new` on the system database: `ALTER USER` if the
/// user exists, `CREATE USER` if not.
pub async fn set_user_password(
    settings: &DatabaseSettings,
    admin: &Login,
    user: &str,
    new: &SecretString,
) -> Result<(), DatabaseError> {
    let name = quoted_name(user);
    let verb = if users(settings, admin).await?.iter().any(|u| u == user) {
        "ALTER USER"
    } else {
        "CREATE USER"
    };
    let text = format!("{verb} {name} SET PASSWORD $password CHANGE NOT REQUIRED");
    let statement = query(&text).param("password", new.expose_secret());
    run(settings, admin, "system", statement).await?;
    forget_refusals(settings, &admin.uri, user);
    Ok(())
}

/// The operator set `user`'s password: what its guard knew of that user's refusals is stale.
fn forget_refusals(settings: &DatabaseSettings, uri: &str, user: &str) {
    if let Some(guard) = &settings.guard {
        guard.password_changed(uri, user);
    }
}

/// Changes the logged-in user's own password (`ALTER CURRENT USER`, on the system database).
pub async fn change_own_password(
    settings: &DatabaseSettings,
    login: &Login,
    new: &SecretString,
) -> Result<(), DatabaseError> {
    let statement = query("ALTER CURRENT USER SET PASSWORD FROM $old TO $new")
        .param("old", login.password.expose_secret())
        .param("new", new.expose_secret());
    run(settings, login, "system", statement).await?;
    forget_refusals(settings, &login.uri, &login.username);
    Ok(())
}

/// As `admin`, removes `user` if it exists (`DROP USER ... IF EXISTS`, on the system database):
/// running it again after a restart changes nothing.
pub async fn drop_user(
    settings: &DatabaseSettings,
    admin: &Login,
    user: &str,
) -> Result<(), DatabaseError> {
    let text = format!("DROP USER {} IF EXISTS", quoted_name(user));
    run(settings, admin, "system", query(&text)).await
}

/// A user name as a Cypher identifier: backticked, inner backticks doubled.
fn quoted_name(user: &str) -> String {
    format!("`{}`", user.replace('`', "``"))
}
