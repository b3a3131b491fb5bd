//! The in-memory store and its lazy lifecycle.
//!
//! No background tasks move objects between statuses. Each object records the transition it is in
//! and the instant that transition completes; [`State::settle`] applies every due transition and is
//! called whenever the store is locked for a request. Reads are therefore deterministic: an object's
//! status depends only on the emulator clock, which tests can move forward.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::config::{TenantSeed, Timings};

/// Instance statuses the emulator produces (§6). `destroying` is used for deletes, as in the enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    Creating,
    Loading,
    #[serde(rename = "loading failed")]
    LoadingFailed,
    Running,
    Pausing,
    Paused,
    Resuming,
    Updating,
    Overwriting,
    Restoring,
    Destroying,
    Suspending,
    Suspended,
}

impl InstanceStatus {
    pub const ALL: [Self; 13] = [
        Self::Creating,
        Self::Loading,
        Self::LoadingFailed,
        Self::Running,
        Self::Pausing,
        Self::Paused,
        Self::Resuming,
        Self::Updating,
        Self::Overwriting,
        Self::Restoring,
        Self::Destroying,
        Self::Suspending,
        Self::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Loading => "loading",
            Self::LoadingFailed => "loading failed",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Resuming => "resuming",
            Self::Updating => "updating",
            Self::Overwriting => "overwriting",
            Self::Restoring => "restoring",
            Self::Destroying => "destroying",
            Self::Suspending => "suspending",
            Self::Suspended => "suspended",
        }
    }

    /// The status Aura spells `text`, e.g. `loading failed`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// An operation is in flight: every mutating call gets 409 `ongoing-database-operation`.
    pub fn is_transient(self) -> bool {
        !matches!(
            self,
            Self::Running | Self::Paused | Self::LoadingFailed | Self::Suspended
        )
    }
}

/// What happens when an instance's pending transition completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Become(InstanceStatus),
    /// Become `loading` for this long, then `running` (instances created from a source).
    Load(Duration),
    Remove,
}

#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub done_at: Instant,
    pub outcome: Outcome,
}

/// How long Aura lets a paid instance stay paused before it resumes it by itself (billing docs;
/// shared/aura-api.md). Free instances cannot be paused through the API at all.
pub const AUTO_RESUME_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// A stored instance. Its database users' passwords are `SecretString`s, so `Debug` of the record
/// cannot print them; only the create response ever contains one.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub instance_type: String,
    pub version: String,
    pub memory: String,
    pub storage: String,
    pub created_at: Timestamp,
    /// Creation on the emulator clock, for the window in which GETs do not see the instance yet.
    pub created_instant: Instant,
    pub status: InstanceStatus,
    pub pending: Option<Pending>,
    /// When a pause completed, on the emulator clock: Aura resumes a paid instance paused for
    /// [`AUTO_RESUME_AFTER`] by itself.
    pub paused_at: Option<Instant>,
    pub customer_managed_key_id: Option<String>,
    pub secondaries_count: u32,
    pub cdc_enrichment_mode: String,
    pub vector_optimized: bool,
    pub graph_analytics_plugin: bool,
    /// Database users and passwords, checked by the Bolt listener.
    pub users: super::bolt::users::Users,
    /// The instance's Bolt listener port, when the emulator serves Bolt.
    pub bolt_port: Option<u16>,
    /// Tests cut the network to the listener: connections are closed at once, as a paused one.
    pub bolt_cut: bool,
}

impl InstanceRecord {
    /// Starts a transition: the instance shows `during` until `after` has passed.
    pub fn begin(
        &mut self,
        during: InstanceStatus,
        outcome: Outcome,
        now: Instant,
        after: Duration,
    ) {
        self.status = during;
        self.paused_at = None;
        self.pending = Some(Pending {
            done_at: now + after,
            outcome,
        });
    }

    /// Whether reads see the instance yet: not until `window` has passed since its creation.
    pub fn is_visible(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.created_instant) >= window
    }

    /// Completes every step of the pending transition that is due at `now`; true when the
    /// instance is to be removed.
    fn settle(&mut self, now: Instant, resume_takes: Duration) -> bool {
        while let Some(pending) = self.pending.filter(|p| now >= p.done_at) {
            self.pending = None;
            match pending.outcome {
                Outcome::Become(status) => {
                    self.status = status;
                    self.paused_at = (status == InstanceStatus::Paused).then_some(pending.done_at);
                }
                // Measured from the end of `creating`, so a big clock jump passes both steps.
                Outcome::Load(after) => self.begin(
                    InstanceStatus::Loading,
                    Outcome::Become(InstanceStatus::Running),
                    pending.done_at,
                    after,
                ),
                Outcome::Remove => return true,
            }
        }
        if let Some(paused_at) = self.paused_at
            && self.status == InstanceStatus::Paused
            && now >= paused_at + AUTO_RESUME_AFTER
        {
            // Measured from the end of the 30 days, so a big clock jump passes both steps.
            self.paused_at = None;
            self.begin(
                InstanceStatus::Resuming,
                Outcome::Become(InstanceStatus::Running),
                paused_at + AUTO_RESUME_AFTER,
                resume_takes,
            );
            return self.settle(now, resume_takes);
        }
        false
    }

    /// Puts the instance in `status` at once, cancelling any transition in flight; the status
    /// stays until a request or another call changes it.
    pub fn force(&mut self, status: InstanceStatus) {
        self.status = status;
        self.pending = None;
        self.paused_at = None;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SnapshotProfile {
    AdHoc,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SnapshotStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone)]
pub struct SnapshotRecord {
    pub snapshot_id: String,
    pub instance_id: String,
    pub profile: SnapshotProfile,
    pub timestamp: Timestamp,
    pub exportable: bool,
    /// `Pending` until this instant, then `InProgress`.
    pub in_progress_at: Instant,
    /// `Completed` from this instant (unless `fixed_status` says otherwise).
    pub completed_at: Instant,
    /// Set for snapshots added through the handle with an explicit status.
    pub fixed_status: Option<SnapshotStatus>,
}

impl SnapshotRecord {
    pub fn status(&self, now: Instant) -> SnapshotStatus {
        if let Some(fixed) = self.fixed_status {
            fixed
        } else if now >= self.completed_at {
            SnapshotStatus::Completed
        } else if now >= self.in_progress_at {
            SnapshotStatus::InProgress
        } else {
            SnapshotStatus::Pending
        }
    }
}

#[derive(Debug, Clone)]
pub struct CmekRecord {
    pub id: String,
    pub name: String,
    pub created: Timestamp,
    pub cloud_provider: String,
    pub key_id: String,
    pub region: String,
    pub instance_type: String,
    pub tenant_id: String,
    pub ready_at: Instant,
}

impl CmekRecord {
    pub fn status(&self, now: Instant) -> &'static str {
        if now >= self.ready_at {
            "ready"
        } else {
            "pending"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Creating,
    Ready,
    Expired,
    /// Only on demand ([`SessionRecord::failure`]).
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::Ready => "Ready",
            Self::Expired => "Expired",
            Self::Failed => "Failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub name: String,
    pub memory: String,
    pub instance_id: Option<String>,
    pub database_id: Option<String>,
    pub tenant_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub expiry_date: Timestamp,
    pub ttl: Duration,
    /// The TTL as the client sent it, echoed back (Aura echoes Go duration strings).
    pub ttl_text: String,
    pub ready_at: Instant,
    pub last_activity: Instant,
    /// Seven days after creation, whatever the TTL.
    pub hard_expiry: Instant,
    /// Set through the control API: the session is `Failed` with this reason (e.g.
    /// `OutOfMemory`, shared/aura-api.md §4.7) until deleted.
    pub failure: Option<String>,
}

impl SessionRecord {
    pub fn status(&self, now: Instant) -> SessionStatus {
        if self.failure.is_some() {
            SessionStatus::Failed
        } else if now >= self.last_activity + self.ttl || now >= self.hard_expiry {
            SessionStatus::Expired
        } else if now < self.ready_at {
            SessionStatus::Creating
        } else {
            SessionStatus::Ready
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub client_id: String,
    pub expires_at: Instant,
}

/// Everything the emulator knows. Guarded by one mutex in [`super::server::Shared`].
///
/// `Debug` is written by hand so that issued tokens never reach a log line.
#[derive(Default)]
pub struct State {
    pub tenants: Vec<TenantSeed>,
    pub timings: Timings,
    /// How long after its creation an instance stays invisible to GETs and lists (§10).
    pub invisible_after_create: Duration,
    pub tokens: HashMap<String, TokenRecord>,
    /// In creation order, so lists are stable.
    pub instances: Vec<InstanceRecord>,
    pub snapshots: Vec<SnapshotRecord>,
    pub cmeks: Vec<CmekRecord>,
    pub sessions: Vec<SessionRecord>,
    pub instances_created: u64,
    /// The body of a successful overwrite (shared/aura-api.md §4.4, §10).
    pub overwrite_answer: crate::emulator::settings::OverwriteAnswer,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("tenants", &self.tenants.len())
            .field("invisible_after_create", &self.invisible_after_create)
            .field("tokens", &self.tokens.len())
            .field("instances", &self.instances)
            .field("snapshots", &self.snapshots.len())
            .field("cmeks", &self.cmeks.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl State {
    pub fn new(
        tenants: Vec<TenantSeed>,
        timings: Timings,
        invisible_after_create: Duration,
    ) -> Self {
        Self {
            tenants,
            timings,
            invisible_after_create,
            ..Self::default()
        }
    }

    /// Applies every transition that is due at `now`; deleted instances take their snapshots along.
    pub fn settle(&mut self, now: Instant) {
        let removed: Vec<String> = self
            .instances
            .iter_mut()
            .filter_map(|i| i.settle(now, self.timings.resume).then(|| i.id.clone()))
            .collect();
        if !removed.is_empty() {
            self.instances.retain(|i| !removed.contains(&i.id));
            self.snapshots.retain(|s| !removed.contains(&s.instance_id));
        }
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantSeed> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn instance(&self, id: &str) -> Option<&InstanceRecord> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The instance as a GET sees it: absent during the window after its creation.
    pub fn visible_instance(&self, id: &str, now: Instant) -> Option<&InstanceRecord> {
        self.instance(id)
            .filter(|i| i.is_visible(now, self.invisible_after_create))
    }

    pub fn instance_mut(&mut self, id: &str) -> Option<&mut InstanceRecord> {
        self.instances.iter_mut().find(|i| i.id == id)
    }

    pub fn snapshot(&self, id: &str) -> Option<&SnapshotRecord> {
        self.snapshots.iter().find(|s| s.snapshot_id == id)
    }

    pub fn cmek(&self, id: &str) -> Option<&CmekRecord> {
        self.cmeks.iter().find(|k| k.id == id)
    }
}

/// Random lower-case hex of the given length (instance ids, session id suffixes, tokens).
pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A random password for the create response: 32 alphanumeric characters.
pub fn random_password() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}
