//! The controllers: the only place that talks to both Kubernetes and Aura.
//!
//! Each reconcile reads as the same steps: resolve references, validate (pure), plan (pure),
//! act (one Aura call or one Kubernetes write at a time, each idempotent), report status.

pub mod access;
pub mod admission;
pub mod cadence;
pub mod claims;
pub mod clock;
pub mod cluster_credential;
pub mod convert;
pub mod credential_hold;
pub mod credentials;
pub mod drift;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod formats;
pub mod gds_session;
pub mod installation;
pub mod instance;
pub mod memory;
pub mod naming;
pub mod pass;
pub mod reasons;
pub mod reconciler;
pub mod references;
pub mod secrets;
pub mod snapshot;
pub mod status;
pub mod suspend;

use std::sync::Arc;
use std::time::Duration;

use crate::aura::PollBackoff;
use crate::metrics::Metrics;
pub use access::NamespaceAllow;
pub use credentials::{
    AuraClients, AuraSettings, CredentialSource, DefaultCredential, Grant, SecretLocation,
};
pub use error::{Error, Result, Retry, Stop, Wait};
pub use installation::InstallationClass;
use memory::Memory;
pub use reasons::Reason;

/// The field manager of every write this operator makes.
pub const FIELD_MANAGER: &str = "aura-operator";

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
        credential_hold::run(ctx, namespace, shutdown),
    );
}

/// `shutdown`, held until `store` has its first full list. kube-runtime's applier keeps its
/// runner waiting for a ready store, so a shutdown that ends the watch before that first list
/// leaves the controller waiting forever and the process never exits (seen when `sandbox
/// --wait-ready` was decided within a millisecond of starting). The list is quick when the API
/// server answers; when it does not, `cli::run` gives up waiting after a while.
pub(crate) fn once_listed<K>(
    shutdown: impl Future<Output = ()> + Send + 'static,
    store: kube::runtime::reflector::Store<K>,
) -> impl Future<Output = ()> + Send + Sync + 'static
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    use futures::FutureExt;
    async move {
        shutdown.await;
        let _ = store.wait_until_ready().await;
    }
    .boxed()
    .shared()
}

/// Timing of the controllers.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often a settled resource is compared with Aura again, to notice drift.
    pub resync: Duration,
    /// Polling while Aura is busy: starts at `initial`, grows to `max`.
    pub poll: PollBackoff,
    /// Longest wait after an error that a spec change can fix.
    pub spec_error_retry: Duration,
    /// First wait after a transient error (Aura or Kubernetes unreachable); doubles on repeats.
    pub error_retry: Duration,
    /// How long after a create Aura may still answer 404 for the new instance (it does for about
    /// two seconds): within it a 404 is "not visible yet" and a missing instance is not created
    /// again. Generous, because mistaking a new instance for a deleted one orphans it.
    pub visibility_grace: Duration,
    /// User-driven passes at once (background ones: half as many); see [`admission`].
    pub concurrency: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(300),
            poll: PollBackoff {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(60),
                factor: 1.5,
            },
            spec_error_retry: Duration::from_secs(600),
            error_retry: Duration::from_secs(10),
            visibility_grace: Duration::from_secs(60),
            concurrency: admission::DEFAULT_CONCURRENCY,
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub kube: kube::Client,
    pub aura: AuraClients,
    /// Who wrote an Event: this pod's name, or the operator's name outside a pod.
    pub reporting_instance: String,
    pub timing: Timing,
    /// What the operator remembers between passes (passwords in flight, poll counts).
    pub memory: Memory,
    /// Slots for passes, so that memory follows them rather than the fleet.
    pub admission: admission::Admission,
    /// Whether the operator is stopping (see [`Stopping`]).
    pub stopping: Stopping,
    /// How often settled resources are really looked at (the budget may not allow the resync).
    pub cadence: cadence::Cadence,
    /// Counters and gauges served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Which resource manages which Aura object (Leases in the operator's namespace).
    pub claims: claims::Claims,
    /// What time it is for schedules and expiry (tests move it).
    pub clock: clock::Clock,
    /// Whether and how connection Secrets are verified by logging in over Bolt.
    pub database: crate::database::DatabaseSettings,
    /// Per kind, a way to count cached resources by Aura status at scrape time.
    status_sources: std::sync::Mutex<Vec<(&'static str, StatusSource)>>,
}

/// Set when the operator is asked to stop: background passes that may be cut short give up
/// instead of waiting for the Aura budget, so that a stop is not held up by a queue of looks at
/// settled resources (a saturated budget held a SIGTERM for over 10 s in benches/capacity.rs).
#[derive(Default)]
pub struct Stopping {
    set: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stopping {
    pub fn stop(&self) {
        self.set.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves once [`stop`](Self::stop) was called (at once if it was already).
    pub async fn wait(&self) {
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if self.set.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// Reads the statuses of a controller's cached resources.
pub type StatusSource = Box<dyn Fn() -> Vec<crate::metrics::Seen> + Send + Sync>;

impl Context {
    /// A context whose claims live in the namespace `default`.
    pub fn new(kube: kube::Client, aura: AuraClients, timing: Timing) -> Arc<Self> {
        Self::with_metrics(kube, aura, timing, Metrics::new(), "default")
    }

    /// A context serving `metrics`, whose claims (see [`claims`]) live in `operator_namespace`.
    pub fn with_metrics(
        kube: kube::Client,
        aura: AuraClients,
        timing: Timing,
        metrics: Arc<Metrics>,
        operator_namespace: &str,
    ) -> Arc<Self> {
        Self::with_clock(
            kube,
            aura,
            timing,
            metrics,
            operator_namespace,
            clock::Clock::default(),
            crate::database::DatabaseSettings::default(),
        )
    }

    /// Like [`with_metrics`](Self::with_metrics), reading the time from `clock`.
    pub fn with_clock(
        kube: kube::Client,
        aura: AuraClients,
        timing: Timing,
        metrics: Arc<Metrics>,
        operator_namespace: &str,
        clock: clock::Clock,
        database: crate::database::DatabaseSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            reporting_instance: std::env::var("POD_NAME")
                .unwrap_or_else(|_| FIELD_MANAGER.to_owned()),
            kube,
            aura,
            timing,
            memory: Memory::default(),
            admission: admission::Admission::new(timing.concurrency),
            stopping: Stopping::default(),
            cadence: cadence::Cadence::new(timing.resync),
            claims: claims::Claims::new(operator_namespace),
            clock,
            database,
            metrics,
            status_sources: std::sync::Mutex::default(),
        })
    }

    /// Registers how to read the statuses of a kind's cached resources (from its reflector).
    pub fn add_status_source(&self, kind: &'static str, source: StatusSource) {
        self.status_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((kind, source));
    }

    /// Refreshes the gauges that are read rather than counted: resources by status, and what
    /// each credential's rate budget admits right now and at what rate.
    pub fn refresh_gauges(&self) {
        let sources = self
            .status_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.metrics.resources.clear();
        self.metrics.resources_by_reason.clear();
        self.metrics.stalled.clear();
        for (kind, source) in sources.iter() {
            self.metrics.set_resources(kind, &source());
        }
        let (user_driven, background) = self.admission.waiting();
        for (priority, count) in [("interactive", user_driven), ("background", background)] {
            let labels = crate::metrics::PriorityLabels { priority };
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            self.metrics
                .passes_waiting
                .get_or_create(&labels)
                .set(count);
        }
        for (client_id, budget) in self.aura.budgets() {
            let labels = crate::metrics::CredentialLabels { client_id };
            // A counter that follows the budget's own count of requests let through.
            let admitted = self.metrics.budget_admitted.get_or_create(&labels);
            admitted.inc_by(budget.admitted().saturating_sub(admitted.get()));
            self.metrics
                .budget_available
                .get_or_create(&labels)
                .set(i64::from(budget.available()));
            self.metrics
                .budget_effective
                .get_or_create(&labels)
                .set(i64::from(budget.effective_per_minute()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_a_stop_ends_when_it_comes_or_at_once_after_it() {
        let stopping = Arc::new(Stopping::default());
        let waiter = {
            let stopping = Arc::clone(&stopping);
            tokio::spawn(async move { stopping.wait().await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no stop yet");
        stopping.stop();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the waiter saw the stop")
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_millis(50), stopping.wait())
            .await
            .expect("a wait after the stop ends at once");
    }
}
