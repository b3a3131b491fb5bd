//! The embedded Aura API client. It knows nothing about Kubernetes.
//!
//! ```no_run
//! # async fn demo() -> aura_operator::aura::Result<()> {
//! use aura_operator::aura::{ClientBuilder, Credentials};
//! let client = ClientBuilder::new(Credentials::new("client-id", "client-secret".to_owned())?).build()?;
//! for instance in client.instances().list(None).await? {
//!     println!("{} {}", instance.id, instance.name);
//! }
//! # Ok(()) }
//! ```
//!
//! What every call gets for free ([`client`]): an OAuth token cached and refreshed before it
//! expires, one refresh and resend on 401/403, the credential's shared rate budget
//! ([`ratelimit`]), retries with backoff for requests that are safe to resend ([`retry`]), and
//! one error type that keeps transport, API, decode and argument errors apart ([`error`]).
//!
//! Choices where Aura's behaviour is not settled (see `shared/aura-api.md`, "Open questions"):
//! - an expired token may be answered with 401 or 403: both trigger one refresh and resend;
//! - overwrite may answer an instance or a job id: [`OverwriteStarted`] holds either;
//! - PATCH may answer 200 or 202: both decode to the instance;
//! - delete may report `destroying` or `deleting`: both are [`InstanceStatus::is_being_deleted`];
//!   a delete answered 404 or 410 is [`Deletion::AlreadyGone`];
//! - session objects may carry `tenant_id` or `project_id`, `database_id` or `database_uuid`;
//! - `graph_nodes`/`graph_relationships` may be strings or numbers;
//! - a single-resource GET answered 2xx with errors beside the data is not found, as in the Aura
//!   CLI ([`Error::EmbeddedErrors`]).
//!
//! Surface compared with the Go client (LackOfMorals/aura-client v1.10.0), which covers tenants,
//! metrics integration, instances (list, get, create, update, delete, pause, resume, overwrite),
//! snapshots (list, create, get, restore), customer-managed keys and GDS sessions (list, get,
//! create, delete, sizing), plus a Prometheus health summary. Beyond it, this client covers:
//! - `POST /instances/sizing` ([`Instances::sizing`], shared/aura-api.md §3, §10);
//! - `POST /instances/{id}/upgrade`, professional-db → business-critical in place, with an empty
//!   body ([`Instances::upgrade`], §3, §10);
//! - get-or-create of GDS sessions told apart (202 new / 200 existing, [`SessionCreated`]) and the
//!   `errors` Aura sends beside session data ([`Session::problems`](sessions::Session));
//! - both overwrite answers ([`OverwriteStarted`], §4.4 and §10);
//! - a Prometheus health summary over Aura's reference metric names that says which were missing
//!   ([`InstanceHealth::missing`], §10).

pub mod auth;
pub mod client;
pub mod cmek;
pub mod config;
mod embedded;
pub mod error;
pub mod ids;
pub mod instances;
pub mod prometheus;
pub mod ratelimit;
mod redact;
pub mod retry;
pub mod sessions;
pub mod snapshots;
pub mod tenants;
pub mod values;
pub mod wait;

pub use auth::Credentials;
pub use client::{CallObserver, Client};
pub use cmek::{Cmek, CmekSummary, Cmeks, CreateCmek};
pub use config::{ClientBuilder, DEFAULT_BASE_URL};
pub use error::{ApiError, Error, ErrorCategory, Result};
pub use ids::{CmekId, InstanceId, SessionId, SnapshotId, TenantId};
pub use instances::{
    CreateInstance, CreatedInstance, Deletion, Instance, InstanceSizing, InstanceSizingRequest,
    InstanceSummary, Instances, OverwriteStarted, UpdateInstance,
};
pub use prometheus::{HealthStatus, InstanceHealth, Metrics, Prometheus};
pub use ratelimit::{Priority, RateBudget, RateLimit};
pub use retry::RetryPolicy;
pub use sessions::{
    CreateSession, Placement, Session, SessionCreated, SessionFilter, Sessions, SizeEstimate,
    SizeEstimateRequest,
};
pub use snapshots::{Snapshot, Snapshots};
pub use tenants::{InstanceConfiguration, Shape, Tenant, TenantSummary, Tenants};
pub use values::*;
pub use wait::{PollBackoff, WaitError, poll_until};

impl Client {
    /// Tenants (projects).
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants { client: self }
    }

    /// Instances.
    pub fn instances(&self) -> Instances<'_> {
        Instances { client: self }
    }

    /// Snapshots of one instance.
    pub fn snapshots<'c>(&'c self, instance: &'c InstanceId) -> Snapshots<'c> {
        Snapshots {
            client: self,
            instance,
        }
    }

    /// Customer-managed encryption keys.
    pub fn cmeks(&self) -> Cmeks<'_> {
        Cmeks { client: self }
    }

    /// Graph Analytics sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { client: self }
    }

    /// Prometheus metrics endpoints.
    pub fn prometheus(&self) -> Prometheus<'_> {
        Prometheus { client: self }
    }
}
