//! [`Engine`]: what every pass shares that is not about tenants, and the controllers' timing.

use std::sync::Arc;
use std::time::Duration;

use super::memory::Memory;
use super::{admission, cadence, clock};
use crate::aura::PollBackoff;
use crate::metrics::Metrics;

/// The field manager of every write this operator makes.
pub const FIELD_MANAGER: &str = "aura-operator";

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

/// What every pass shares that is not about tenants: the Kubernetes client, timing, memory,
/// slots, the clock and the metrics.
pub struct Engine {
    pub kube: kube::Client,
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
    /// What time it is for schedules and expiry (tests move it).
    pub clock: clock::Clock,
    /// Per kind, a way to count cached resources by Aura status at scrape time.
    status_sources: std::sync::Mutex<Vec<(&'static str, StatusSource)>>,
}

/// Reads the statuses of a controller's cached resources.
pub type StatusSource = Box<dyn Fn() -> Vec<crate::metrics::Seen> + Send + Sync>;

impl Engine {
    pub fn new(
        kube: kube::Client,
        timing: Timing,
        metrics: Arc<Metrics>,
        clock: clock::Clock,
    ) -> Self {
        Self {
            reporting_instance: std::env::var("POD_NAME")
                .unwrap_or_else(|_| FIELD_MANAGER.to_owned()),
            kube,
            timing,
            memory: Memory::default(),
            admission: admission::Admission::new(timing.concurrency),
            stopping: Stopping::default(),
            cadence: cadence::Cadence::new(timing.resync),
            metrics,
            clock,
            status_sources: std::sync::Mutex::default(),
        }
    }

    /// Registers how to read the statuses of a kind's cached resources (from its reflector).
    pub fn add_status_source(&self, kind: &'static str, source: StatusSource) {
        self.status_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((kind, source));
    }

    /// Refreshes the gauges of this engine that are read rather than counted: resources by
    /// status, and passes waiting for a slot.
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
    }
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
