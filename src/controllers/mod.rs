//! The controllers: the only place that talks to both Kubernetes and Aura.
//!
//! Each reconcile reads as the same steps: resolve references, validate (pure), plan (pure),
//! act (one Aura call or one Kubernetes write at a time, each idempotent), report status.
//!
//! The folders are layers; a module imports only from its own folder or from a layer below it
//! (`tests/integration/layers.rs` fails on any other import):
//! 1. [`machinery`]: what every pass runs on, knowing nothing of tenants or Secrets' contents;
//! 2. [`connection`]: what a connection Secret holds and how it is written;
//! 3. [`tenancy`]: credentials, who may use them, claims on Aura objects, installations;
//! 4. [`reconciler`]: the loop every kind runs, joining the three;
//! 5. the kinds: [`instance`], [`snapshot`], [`gds_session`], and the status of
//!    ClusterAuraCredentials ([`cluster_credential`]).

pub mod cluster_credential;
pub mod connection;
pub mod gds_session;
pub mod instance;
pub mod machinery;
pub mod reconciler;
pub mod snapshot;
pub mod tenancy;

use std::sync::Arc;

pub use machinery::error::{Error, Result, Retry, Stop, Wait};
pub use machinery::reasons::Reason;
pub use machinery::{FIELD_MANAGER, Timing};
pub use reconciler::Context;
pub use tenancy::access::NamespaceAllow;
pub use tenancy::credentials::{
    AuraClients, AuraSettings, CredentialSource, DefaultCredential, Grant, SecretLocation,
};
pub use tenancy::installation::InstallationClass;

/// Runs every controller of the operator until `shutdown` resolves: the three kinds, and the
/// pass that lifts holds on credentials Secrets no resource needs any more.
pub async fn run_all<S>(ctx: Arc<Context>, namespace: Option<&str>, shutdown: S)
where
    S: Future<Output = ()> + Clone + Send + Sync + 'static,
{
    use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};
    let stopper = {
        let ctx = Arc::clone(&ctx);
        let shutdown = shutdown.clone();
        async move {
            shutdown.await;
            ctx.stopping.stop();
        }
    };
    tokio::join!(
        stopper,
        reconciler::run::<AuraInstance>(ctx.clone(), namespace, shutdown.clone()),
        reconciler::run::<AuraSnapshot>(ctx.clone(), namespace, shutdown.clone()),
        reconciler::run::<GdsSession>(ctx.clone(), namespace, shutdown.clone()),
        tenancy::credential_hold::run(ctx.kube.clone(), ctx.timing, namespace, shutdown),
    );
}
