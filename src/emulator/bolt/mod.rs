//! Bolt over TLS for emulated instances (issue 22), so that the operator and users can log in
//! to an instance with a real Neo4j driver.
//!
//! With `EmulatorConfig::bolt` on, the emulator makes a CA at start (written to
//! `bolt_ca_file`, see [`tls`]) and every instance it creates gets a listener of its own on
//! `127.0.0.1`; its `connection_url` becomes `neo4j+s://127.0.0.1:<port>`. Aura instances have
//! a host each, the emulator a port each. A connection is refused (closed at once) while the
//! instance is not `running`, as a paused Aura instance cannot be reached.
//!
//! Users and passwords live in the instance record (`neo4j` with the password of the create
//! response); the session understands `RETURN <n>`, `SHOW USERS` and the user administration
//! of [`statements`]. Effects apply at once: an explicit transaction is accepted but not
//! isolated or rolled back. Refused logins count towards Neo4j's auth rate limit
//! ([`lockout`]): a user refused too often in a row is locked, and every login of it then gets
//! `AuthenticationRateLimit`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod handshake;
mod lockout;
mod messages;
mod packstream;
mod session;
mod statements;
mod tls;
pub mod users;

pub use lockout::{AuthLockPolicy, Lockouts};
pub use tls::default_ca_file;

use super::server::Shared;
use super::state::InstanceStatus;

/// The TLS identity and shutdown signal every instance listener shares.
#[derive(Debug)]
pub struct BoltHub {
    tls: tls::BoltTls,
    shutdown: watch::Receiver<bool>,
}

impl BoltHub {
    /// Makes the CA and writes it to `ca_file`.
    pub fn new(ca_file: &Path, shutdown: watch::Receiver<bool>) -> std::io::Result<Self> {
        let tls = tls::generate(ca_file).map_err(std::io::Error::other)?;
        Ok(Self { tls, shutdown })
    }

    pub fn ca_file(&self) -> &PathBuf {
        &self.tls.ca_file
    }
}

/// Whether the instance exists, is `running` (the only state that accepts connections) and
/// its network is not cut.
pub(crate) fn instance_is_up(shared: &Shared, instance_id: &str) -> bool {
    shared
        .store()
        .instance(instance_id)
        .is_some_and(|i| i.status == InstanceStatus::Running && !i.bolt_cut)
}

/// Opens the listener of a new instance and returns its port. The listener ends with the
/// emulator, or within a second after the instance is gone.
pub(crate) fn open(shared: &Arc<Shared>, instance_id: &str) -> std::io::Result<u16> {
    let Some(hub) = &shared.bolt else {
        return Err(std::io::Error::other("the emulator runs without Bolt"));
    };
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let listener = TcpListener::from_std(listener)?;
    let shutdown = hub.shutdown.clone();
    tokio::spawn(accept_loop(
        listener,
        shared.clone(),
        instance_id.to_string(),
        shutdown,
    ));
    Ok(port)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    instance_id: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut look = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
            _ = look.tick() => {
                if shared.store().instance(&instance_id).is_none() {
                    return;
                }
                continue;
            }
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        if shared.store().instance(&instance_id).is_none() {
            return;
        }
        if !instance_is_up(&shared, &instance_id) {
            drop(stream);
            continue;
        }
        tokio::spawn(connection(stream, shared.clone(), instance_id.clone()));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, instance_id: String) {
    let Some(hub) = &shared.bolt else {
        return;
    };
    let Ok(tls) = hub.tls.acceptor.accept(stream).await else {
        return;
    };
    session::serve(tls, shared.clone(), instance_id).await;
}
