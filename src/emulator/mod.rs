//! A local emulator of the Neo4j Aura REST API v1, served over real HTTP.
//!
//! It exists so that the Aura client and the operator can be tested end to end, including the
//! unpleasant parts (token expiry, 409s during transitions, rate limiting, 5xx, dropped
//! connections), without an Aura account. Start it with [`start`] and drive it from tests through
//! [`EmulatorHandle`], or run `aura-operator emulator` (see [`cli`]).
//!
//! What it emulates (see `/work/shared/aura-api.md`):
//! - `POST /oauth/token` and everything under `/v1` (tenants, metrics integration, instances with
//!   pause/resume/upgrade/overwrite/snapshots/restore, customer-managed keys, GDS sessions and sizing,
//!   and the older `POST /v1/instances/sizing`);
//! - a Prometheus endpoint per tenant and per instance ([`routes`] `metrics` lists the series);
//! - `/_emulator/faults` (POST a [`FaultSpec`], DELETE to clear), `/_emulator/stats`,
//!   `/_emulator/settings` (GET, PATCH a [`SettingsPatch`]) and
//!   `POST /_emulator/instances/{id}/status` (body `{"status": "suspended"}`),
//!   `POST /_emulator/snapshots/{id}/status` (body `{"status": "Failed"}`) and
//!   `POST /_emulator/sessions/{id}/status` (body `{"status": "Failed", "reason": "OutOfMemory"}`).
//!
//! Statuses change lazily on the emulator clock (see [`state`]); nothing runs in the background.
//! As Aura does, a paid instance paused for 30 days resumes by itself (`resuming`, then `running`).
//! Secrets (client secrets, tokens, passwords) are never logged. Database passwords are kept in
//! the instance record only for the Bolt listener ([`bolt`]) to check logins against; no API
//! answer other than the create response contains one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub mod bolt;
pub mod cli;
mod clock;
pub mod config;
mod error;
pub mod faults;
mod ratelimit;
mod routes;
mod server;
pub mod settings;
pub mod state;
pub mod stats;
mod values;

pub use bolt::AuthLockPolicy;
pub use config::{
    Credential, EmulatorConfig, InstanceConfiguration, SeedFile, TenantSeed, Timings,
};
pub use config::{DEFAULT_INVISIBLE_AFTER_CREATE, DEFAULT_TENANT_ID, SECOND_TENANT_ID};
pub use faults::{Fault, FaultAction, FaultSpec};
pub use settings::{OverwriteAnswer, Settings, SettingsPatch};
pub use state::{InstanceStatus, SnapshotProfile, SnapshotStatus};
pub use stats::{Call, RequestCount, Stats};

use server::{Shared, lock};
use state::{InstanceRecord, SnapshotRecord};

/// Starts the emulator on `listen` (use `127.0.0.1:0` for an ephemeral port).
pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let bolt = match config.bolt {
        true => {
            let ca_file =
                (config.bolt_ca_file.clone()).unwrap_or_else(|| bolt::default_ca_file(addr.port()));
            Some(bolt::BoltHub::new(&ca_file, shutdown_rx.clone())?)
        }
        false => None,
    };
    let shared = Arc::new(Shared::new(config, addr, bolt));
    let router = routes::router(shared.clone());
    let task = tokio::spawn(server::accept_loop(listener, router, shutdown_rx));
    Ok(RunningEmulator {
        addr,
        shared,
        shutdown,
        task,
    })
}

/// A started emulator. Dropping it leaves the server running until the runtime ends; call
/// [`RunningEmulator::shutdown`] to stop it.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin, e.g. `http://127.0.0.1:8787`, for clients that add `/v1` themselves.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API base URL, e.g. `http://127.0.0.1:8787/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The token URL, e.g. `http://127.0.0.1:8787/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The PEM file of the CA that signs the Bolt listeners' certificate; `None` without Bolt.
    pub fn bolt_ca_file(&self) -> Option<&std::path::Path> {
        self.shared.bolt.as_ref().map(|b| b.ca_file().as_path())
    }

    pub fn handle(&self) -> EmulatorHandle {
        EmulatorHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// What tests may see of an instance: no password (the emulator does not keep it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub status: String,
    pub instance_type: String,
    pub cloud_provider: String,
    pub region: String,
    pub memory: String,
    pub storage: String,
}

/// An [`EmulatorHandle`] call named an instance the emulator does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no instance {0} in the emulator")]
pub struct UnknownInstance(pub String);

/// An [`EmulatorHandle`] call named a snapshot or session the emulator does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {kind} {id} in the emulator")]
pub struct UnknownResource {
    pub kind: &'static str,
    pub id: String,
}

/// Fixes a snapshot's status (e.g. `Failed`) until it is deleted with its instance.
pub(crate) fn force_snapshot_status(
    shared: &Shared,
    snapshot_id: &str,
    status: SnapshotStatus,
) -> Result<(), UnknownResource> {
    let mut store = shared.store();
    let snapshot = store
        .snapshots
        .iter_mut()
        .find(|s| s.snapshot_id == snapshot_id)
        .ok_or_else(|| UnknownResource {
            kind: "snapshot",
            id: snapshot_id.to_string(),
        })?;
    snapshot.fixed_status = Some(status);
    Ok(())
}

/// Makes a GDS session `Failed` with `reason` until it is deleted.
pub(crate) fn fail_session(
    shared: &Shared,
    session_id: &str,
    reason: &str,
) -> Result<(), UnknownResource> {
    let mut store = shared.store();
    let session = store
        .sessions
        .iter_mut()
        .find(|s| s.id == session_id)
        .ok_or_else(|| UnknownResource {
            kind: "session",
            id: session_id.to_string(),
        })?;
    session.failure = Some(reason.to_string());
    Ok(())
}

/// Sets (or creates) a database user's password, as the Aura console would.
pub(crate) fn set_database_password(
    shared: &Shared,
    instance_id: &str,
    user: &str,
    password: &str,
) -> Result<(), UnknownInstance> {
    let mut store = shared.store();
    let instance = store
        .instance_mut(instance_id)
        .ok_or_else(|| UnknownInstance(instance_id.to_string()))?;
    let secret = secrecy::SecretString::from(password.to_string());
    instance.users.insert(user.to_string(), secret);
    Ok(())
}

/// Controls a running emulator from Rust: faults, clock, timings, tokens, and read-only state.
#[derive(Debug, Clone)]
pub struct EmulatorHandle {
    shared: Arc<Shared>,
}

pub(crate) fn stats_of(shared: &Shared) -> Stats {
    let created = shared.store().instances_created;
    lock(&shared.counters).snapshot(created)
}

fn view(i: &InstanceRecord) -> InstanceView {
    InstanceView {
        id: i.id.clone(),
        name: i.name.clone(),
        tenant_id: i.tenant_id.clone(),
        status: i.status.as_str().to_string(),
        instance_type: i.instance_type.clone(),
        cloud_provider: i.cloud_provider.clone(),
        region: i.region.clone(),
        memory: i.memory.clone(),
        storage: i.storage.clone(),
    }
}

/// Every instance, including those still invisible to the API after their creation.
pub(crate) fn instance_views(shared: &Shared) -> Vec<InstanceView> {
    shared.store().instances.iter().map(view).collect()
}

/// Puts an instance in `status` at once, cancelling any transition in flight.
pub(crate) fn force_status(
    shared: &Shared,
    id: &str,
    status: InstanceStatus,
) -> Result<InstanceView, UnknownInstance> {
    let mut store = shared.store();
    let instance = store
        .instance_mut(id)
        .ok_or_else(|| UnknownInstance(id.to_string()))?;
    instance.force(status);
    Ok(view(instance))
}

impl EmulatorHandle {
    /// Adds a fault rule; it fires for the next `times` matching requests.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    pub fn stats(&self) -> Stats {
        stats_of(&self.shared)
    }

    /// Starts keeping every request with its time and concrete path (for benchmarks that
    /// need per-instance timings; tests count with [`stats`](Self::stats)).
    pub fn start_journal(&self) {
        lock(&self.shared.counters).start_journal();
    }

    /// The requests kept since the journal started or was last taken.
    pub fn take_journal(&self) -> Vec<Call> {
        lock(&self.shared.counters).take_journal()
    }

    /// Instances with their current status, in creation order.
    pub fn instances(&self) -> Vec<InstanceView> {
        instance_views(&self.shared)
    }

    /// Moves the emulator clock forward: transitions, token expiry, session TTLs and the
    /// rate-limit window all see the jump.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Timings for transitions started from now on.
    pub fn set_timings(&self, timings: Timings) {
        self.shared.store().timings = timings;
    }

    /// The window after a create in which `GET /instances/{id}` answers 404 and lists leave the
    /// instance out. Applies at once, to existing instances too; `Duration::ZERO` turns it off.
    pub fn set_invisible_after_create(&self, window: Duration) {
        self.shared.store().invisible_after_create = window;
    }

    /// Changes the rate limit for every later request; `None` (or 0) turns the limiter off.
    /// Requests already admitted stay in the window.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        self.shared.set_rate_limit(per_minute);
    }

    /// Requests per credential per minute now in force; `None` when the limiter is off.
    pub fn rate_limit(&self) -> Option<u32> {
        self.shared.rate_limit()
    }

    /// Makes every later 429 of the rate limiter carry `Retry-After: seconds` (at least 1) however
    /// long the window stays full, as one real Aura did (issue 20): a header that understates the
    /// wait. `None` goes back to the exact wait, the default.
    pub fn set_fixed_retry_after(&self, seconds: Option<u64>) {
        self.shared.set_fixed_retry_after(seconds);
    }

    /// What a successful overwrite answers from now on: the Instance object (the default, as in
    /// the Aura CLI's fixtures) or `{"data": "<job id>"}` (as the Go client expects);
    /// shared/aura-api.md §4.4 and §10.
    pub fn set_overwrite_answer(&self, answer: OverwriteAnswer) {
        self.shared.store().overwrite_answer = answer;
    }

    /// The run-time settings now in force.
    pub fn settings(&self) -> Settings {
        settings::current(&self.shared)
    }

    /// Puts an instance in `status` at once, cancelling any transition in flight. The status
    /// stays until a request changes it; an in-flight status set this way never ends by itself.
    pub fn set_instance_status(
        &self,
        id: &str,
        status: InstanceStatus,
    ) -> Result<InstanceView, UnknownInstance> {
        force_status(&self.shared, id, status)
    }

    /// Makes the instance `loading failed`, as when a clone or import fails.
    pub fn fail_loading(&self, id: &str) -> Result<InstanceView, UnknownInstance> {
        self.set_instance_status(id, InstanceStatus::LoadingFailed)
    }

    /// Makes the instance `suspended`, as Aura does for billing or admin reasons.
    pub fn suspend(&self, id: &str) -> Result<InstanceView, UnknownInstance> {
        self.set_instance_status(id, InstanceStatus::Suspended)
    }

    /// Fixes the status of a snapshot, e.g. `Failed` (shared/aura-api.md §5: snapshot statuses
    /// include `Failed`); it no longer moves with the clock.
    pub fn set_snapshot_status(
        &self,
        snapshot_id: &str,
        status: SnapshotStatus,
    ) -> Result<(), UnknownResource> {
        force_snapshot_status(&self.shared, snapshot_id, status)
    }

    /// Makes a GDS session `Failed`, with an `errors` entry of `reason` (e.g. `OutOfMemory`,
    /// shared/aura-api.md §4.7), until it is deleted.
    pub fn fail_session(&self, session_id: &str, reason: &str) -> Result<(), UnknownResource> {
        fail_session(&self.shared, session_id, reason)
    }

    /// Sets a database user's password as the Aura console (or another client) would: existing
    /// connections stay open, new logins need the new password. Creates the user if missing.
    pub fn set_database_password(
        &self,
        instance_id: &str,
        user: &str,
        password: &str,
    ) -> Result<(), UnknownInstance> {
        set_database_password(&self.shared, instance_id, user, password)
    }

    /// Bolt logins of `user` on the instance that did not succeed (wrong password, or the
    /// user locked by the auth rate limit), since the emulator started.
    pub fn failed_logins(&self, instance_id: &str, user: &str) -> u64 {
        lock(&self.shared.bolt_logins).failed_total(instance_id, user)
    }

    /// Cuts (or restores) the network path to an instance's Bolt listener: connections are
    /// closed at once while Aura still reports the instance running.
    pub fn cut_bolt(&self, instance_id: &str, cut: bool) -> Result<(), UnknownInstance> {
        let mut store = self.shared.store();
        let instance = store
            .instance_mut(instance_id)
            .ok_or_else(|| UnknownInstance(instance_id.to_string()))?;
        instance.bolt_cut = cut;
        Ok(())
    }

    /// Removes a database user, as an administrator in the console would (nothing if missing).
    pub fn drop_database_user(&self, instance_id: &str, user: &str) -> Result<(), UnknownInstance> {
        let mut store = self.shared.store();
        let instance = store
            .instance_mut(instance_id)
            .ok_or_else(|| UnknownInstance(instance_id.to_string()))?;
        instance.users.remove(user);
        Ok(())
    }

    /// The database users of an instance, by name (no passwords).
    pub fn database_users(&self, instance_id: &str) -> Result<Vec<String>, UnknownInstance> {
        let store = self.shared.store();
        let instance = store
            .instance(instance_id)
            .ok_or_else(|| UnknownInstance(instance_id.to_string()))?;
        Ok(instance.users.keys().cloned().collect())
    }

    /// Makes every issued token expired, as if an hour had passed for tokens only.
    pub fn expire_all_tokens(&self) {
        let now = self.shared.clock.now();
        for token in self.shared.store().tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// Adds a snapshot with a fixed profile and status (e.g. a `Scheduled`, `Completed` one from
    /// an earlier day) and returns its id.
    pub fn add_snapshot(
        &self,
        instance_id: &str,
        profile: SnapshotProfile,
        status: SnapshotStatus,
        timestamp: jiff::Timestamp,
    ) -> Result<String, UnknownInstance> {
        let now = self.shared.clock.now();
        let mut store = self.shared.store();
        if store.instance(instance_id).is_none() {
            return Err(UnknownInstance(instance_id.to_string()));
        }
        let snapshot_id = uuid::Uuid::new_v4().to_string();
        store.snapshots.push(SnapshotRecord {
            snapshot_id: snapshot_id.clone(),
            instance_id: instance_id.to_string(),
            profile,
            timestamp,
            exportable: true,
            in_progress_at: now,
            completed_at: now,
            fixed_status: Some(status),
        });
        Ok(snapshot_id)
    }
}
