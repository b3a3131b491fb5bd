//! Logging in to an Aura database over Bolt with the neo4rs driver (issue 22): to verify that a
//! connection Secret's password works, and to change it.
//!
//! TLS is always verified: against the system's roots, or only against `extra_ca_file` when it
//! is set (neo4rs takes one CA file instead of the system roots; the emulator's CA is the use).
//! Errors are sorted into the two answers the operator acts on: the database refused the
//! credentials, or it could not be reached (network, TLS, a paused instance).

use std::path::PathBuf;
use std::time::Duration;

use neo4rs::{ConfigBuilder, Graph, query};
use secrecy::{ExposeSecret, SecretString};

/// How the operator logs in to databases.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Verify connection Secrets at all (off for clusters without egress to port 7687).
    pub verify: bool,
    /// A CA to trust instead of the system roots (the emulator's, in tests and the sandbox).
    pub extra_ca_file: Option<PathBuf>,
    /// How long one connection attempt may take.
    pub timeout: Duration,
}

impl Default for DatabaseSettings {
    /// Verification off: library users and tests turn it on; `aura-operator run` has it on.
    fn default() -> Self {
        Self {
            verify: false,
            extra_ca_file: None,
            timeout: Duration::from_secs(10),
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
    /// Nothing answered, TLS failed, or the connection dropped.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    /// The database answered a statement with an error.
    #[error("the database refused the statement: {0}")]
    Refused(String),
}

impl DatabaseError {
    fn from_driver(error: neo4rs::Error) -> Self {
        match error {
            neo4rs::Error::AuthenticationError(message) => Self::Unauthorized(message),
            neo4rs::Error::Neo4j(e) if e.code().starts_with("Neo.ClientError.Security.") => {
                Self::Unauthorized(e.message().to_owned())
            }
            neo4rs::Error::Neo4j(e) => Self::Refused(format!("{}: {}", e.code(), e.message())),
            other => Self::Unreachable(other.to_string()),
        }
    }
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

/// Logs in to `db` and runs `statement` to its end, within the timeout.
async fn run(
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
    run(settings, admin, "system", statement).await
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
    run(settings, login, "system", statement).await
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
