//! How many passes run at once.
//!
//! kube-runtime's Controller starts a pass for every due resource at once. At 1,000 resources
//! applied together that was ~1,500 passes in flight, each a ~6 KiB future held twice by the
//! runtime, plus one HTTP connection with its buffers for every request in flight: most of the
//! operator's peak memory, spent on passes that only waited for the Aura budget or the API
//! server. Here a pass first waits for a slot, in a future of a few hundred bytes, and only then
//! builds its real (boxed) future; so memory follows the slots, not the fleet.
//!
//! Two pools keep user-driven work first: changes someone made (a new generation, a deletion)
//! take a slot from their own pool, so they never wait behind polls and drift checks, which share
//! a smaller pool of their own. A pass waiting for a slot gives way when its resource changes
//! (see [`super::supersede::unless_superseded`]): nothing has been done yet, so the newer copy
//! simply runs instead.

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Passes at once by default: enough to keep a real API server and Aura's budget busy (a pass
/// takes a few round trips of tens of milliseconds), few enough that the passes' memory is a
/// small fixed cost (about 40 KiB a slot with its connection). In the 10,000-instance benchmark
/// 64 slots converged as fast as unbounded passes (153 s against 170 s on a loaded machine; 32
/// took 216 s) at 92 MiB peak against 540 MiB.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Slots for passes, user-driven ones apart from background ones.
pub struct Admission {
    user_driven: Arc<Semaphore>,
    background: Arc<Semaphore>,
    /// Passes waiting for a slot, per pool: the queue depth `/metrics` shows.
    waiting_user_driven: Arc<AtomicUsize>,
    waiting_background: Arc<AtomicUsize>,
}

/// Counts a pass as waiting while it lives, also when the wait is dropped (superseded).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counter))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// `concurrency` user-driven passes at once, and half as many background ones (at least one).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            user_driven: Arc::new(Semaphore::new(concurrency)),
            background: Arc::new(Semaphore::new((concurrency / 2).max(1))),
            waiting_user_driven: Arc::default(),
            waiting_background: Arc::default(),
        }
    }

    /// Passes waiting for a slot now: (user-driven, background).
    pub fn waiting(&self) -> (usize, usize) {
        (
            self.waiting_user_driven.load(Ordering::Relaxed),
            self.waiting_background.load(Ordering::Relaxed),
        )
    }

    /// Waits for a slot; the pass holds it until the permit is dropped.
    pub async fn admit(&self, user_driven: bool) -> OwnedSemaphorePermit {
        let (pool, waiting) = if user_driven {
            (&self.user_driven, &self.waiting_user_driven)
        } else {
            (&self.background, &self.waiting_background)
        };
        let _waiting = Waiting::start(waiting);
        Arc::clone(pool)
            .acquire_owned()
            .await
            .expect("the pass semaphores are never closed")
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(DEFAULT_CONCURRENCY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_passes_never_take_the_slots_of_user_driven_ones() {
        let admission = Admission::new(4);
        let mut background = Vec::new();
        for _ in 0..2 {
            background.push(admission.admit(false).await);
        }
        // The background pool (half of 4) is full ...
        let more_background =
            tokio::time::timeout(std::time::Duration::from_millis(50), admission.admit(false))
                .await;
        assert!(more_background.is_err(), "a third background pass got in");
        // ... while all four user-driven slots are free.
        let mut user = Vec::new();
        for _ in 0..4 {
            user.push(admission.admit(true).await);
        }
        let fifth =
            tokio::time::timeout(std::time::Duration::from_millis(50), admission.admit(true)).await;
        assert!(fifth.is_err(), "a fifth user-driven pass got in");
        drop(user.pop());
        let admitted =
            tokio::time::timeout(std::time::Duration::from_millis(50), admission.admit(true)).await;
        assert!(admitted.is_ok(), "a freed slot was not handed on");
    }

    #[tokio::test]
    async fn passes_waiting_for_a_slot_are_counted_until_admitted_or_dropped() {
        let admission = Arc::new(Admission::new(2));
        let held = admission.admit(false).await;
        assert_eq!(admission.waiting(), (0, 0));
        let queued = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit(false).await })
        };
        let dropped = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit(false).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(admission.waiting(), (0, 2));
        // A superseded pass drops its wait.
        dropped.abort();
        let _ = dropped.await;
        assert_eq!(admission.waiting(), (0, 1));
        drop(held);
        let _slot = queued.await.unwrap();
        assert_eq!(admission.waiting(), (0, 0));
    }
}
