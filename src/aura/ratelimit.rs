//! One request budget per Aura credential, shared by every caller of that credential.
//!
//! Aura allows a fixed number of requests per minute (125 by default). Many reconcilers sharing
//! one credential must never push Aura into answering 429 themselves, so every request, token
//! requests included, first takes a slot here.
//!
//! The budget is a token bucket in its GCRA form (one "theoretical arrival time" instead of a
//! token count). It admits at most `burst` requests at once and then one every
//! `window / (per_minute - burst)`, so that no window of a minute ever sees more than
//! `per_minute` admissions, even with the burst spent at its start. Waiters queue in two classes:
//! [`Priority::Interactive`] (work a user just asked for) is always served before
//! [`Priority::Background`] (polling, periodic resync), and each class is first come, first served.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// The window Aura counts requests in, with a margin for clock and network jitter.
const WINDOW: Duration = Duration::from_millis(60_250);

/// Who waits first when the budget is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// A change someone asked for; served before background work.
    #[default]
    Interactive,
    /// Polling and resync; waits while interactive requests are queued.
    Background,
}

/// Rate settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests Aura allows per minute for this credential.
    pub per_minute: u32,
    /// Requests that may go at once before spacing applies (taken out of `per_minute`).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_minute: 125,
            burst: 5,
        }
    }
}

impl RateLimit {
    /// Time between admissions once the burst is spent.
    fn interval(self) -> Duration {
        let spaced = self.per_minute.saturating_sub(self.burst).max(1);
        WINDOW / spaced
    }
}

/// A shared request budget. Cheap to clone through `Arc`.
#[derive(Debug)]
pub struct RateBudget {
    limit: RateLimit,
    interval: Duration,
    tolerance: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The instant the bucket is empty again at the sustained rate (GCRA's TAT).
    tat: Instant,
    interactive: VecDeque<oneshot::Sender<()>>,
    background: VecDeque<oneshot::Sender<()>>,
    dispatcher_running: bool,
    admitted: u64,
}

impl RateBudget {
    /// A budget of its own, not shared with anyone.
    pub fn new(limit: RateLimit) -> Arc<Self> {
        let limit = RateLimit {
            per_minute: limit.per_minute.max(1),
            burst: limit.burst.clamp(1, limit.per_minute.max(1)),
        };
        let interval = limit.interval();
        Arc::new(Self {
            limit,
            interval,
            tolerance: interval * (limit.burst - 1),
            state: Mutex::new(State {
                tat: Instant::now(),
                interactive: VecDeque::new(),
                background: VecDeque::new(),
                dispatcher_running: false,
                admitted: 0,
            }),
        })
    }

    /// The budget of a credential, shared by every client built for it in this process.
    ///
    /// The first client built for a credential fixes its limit.
    pub fn for_credential(key: &str, limit: RateLimit) -> Arc<Self> {
        static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<RateBudget>>>> =
            LazyLock::new(Default::default);
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, budget| budget.strong_count() > 0);
        if let Some(budget) = registry.get(key).and_then(Weak::upgrade) {
            return budget;
        }
        let budget = Self::new(limit);
        registry.insert(key.to_owned(), Arc::downgrade(&budget));
        budget
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Requests admitted so far.
    pub fn admitted(&self) -> u64 {
        self.lock().admitted
    }

    /// Requests that could be admitted right now without waiting.
    pub fn available(&self) -> u32 {
        let state = self.lock();
        let now = Instant::now();
        let debt = state.tat.saturating_duration_since(now);
        if debt > self.tolerance {
            return 0;
        }
        let spare = self.tolerance - debt;
        1 + (spare.as_nanos() / self.interval.as_nanos().max(1)) as u32
    }

    /// Waits for a slot. Cancel-safe: a dropped waiter gives its place up.
    pub async fn acquire(self: &Arc<Self>, priority: Priority) {
        let rx = {
            let mut state = self.lock();
            let queued = !state.interactive.is_empty() || !state.background.is_empty();
            if !queued && self.try_admit(&mut state, Instant::now()).is_ok() {
                return;
            }
            let (tx, rx) = oneshot::channel();
            match priority {
                Priority::Interactive => state.interactive.push_back(tx),
                Priority::Background => state.background.push_back(tx),
            }
            if !state.dispatcher_running {
                state.dispatcher_running = true;
                tokio::spawn(Arc::clone(self).dispatch());
            }
            rx
        };
        // The dispatcher never drops a sender without sending, except when the runtime stops.
        let _ = rx.await;
    }

    /// Hands out slots to queued waiters, interactive first, until both queues are empty.
    async fn dispatch(self: Arc<Self>) {
        loop {
            let wait = {
                let mut state = self.lock();
                drop_cancelled(&mut state);
                if state.interactive.is_empty() && state.background.is_empty() {
                    state.dispatcher_running = false;
                    return;
                }
                match self.try_admit(&mut state, Instant::now()) {
                    Ok(()) => {
                        let waiter = state
                            .interactive
                            .pop_front()
                            .or_else(|| state.background.pop_front());
                        if let Some(waiter) = waiter
                            && waiter.send(()).is_err()
                        {
                            // The waiter left between the check and now: give the slot back.
                            state.tat -= self.interval;
                            state.admitted -= 1;
                        }
                        continue;
                    }
                    Err(wait) => wait,
                }
            };
            // Re-checked after the sleep, so an interactive waiter arriving meanwhile goes first.
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a slot if one is free at `now`, or says how long until one is.
    fn try_admit(&self, state: &mut State, now: Instant) -> Result<(), Duration> {
        let tat = state.tat.max(now);
        let debt = tat - now;
        if debt > self.tolerance {
            return Err(debt - self.tolerance);
        }
        state.tat = tat + self.interval;
        state.admitted += 1;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn drop_cancelled(state: &mut State) {
    state.interactive.retain(|tx| !tx.is_closed());
    state.background.retain(|tx| !tx.is_closed());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32, burst: u32) -> RateLimit {
        RateLimit { per_minute, burst }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_requests_are_spaced() {
        let budget = RateBudget::new(limit(65, 5));
        let start = Instant::now();
        for _ in 0..5 {
            budget.acquire(Priority::Interactive).await;
        }
        assert_eq!(Instant::now(), start, "the burst must not wait");
        budget.acquire(Priority::Interactive).await;
        let waited = Instant::now() - start;
        let interval = WINDOW / 60;
        // Tokio's timer has millisecond resolution.
        assert!(
            waited >= interval && waited <= interval + Duration::from_millis(2),
            "after the burst, one slot per interval: waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_ever_admits_more_than_the_budget() {
        let budget = RateBudget::new(limit(125, 5));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..400 {
            budget.acquire(Priority::Background).await;
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 125,
                "{in_window} admissions in the minute from {t:?}"
            );
        }
        let last_minute = times
            .iter()
            .filter(|t| **t >= times[399] - Duration::from_secs(60))
            .count();
        assert!(last_minute >= 115, "sustained rate too low: {last_minute}");
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_waiters_overtake_background_ones() {
        let budget = RateBudget::new(limit(60, 1));
        budget.acquire(Priority::Background).await; // spend the burst
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (b, o) = (Arc::clone(&budget), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                b.acquire(Priority::Background).await;
                o.lock().unwrap().push(format!("bg{i}"));
            }));
            tokio::task::yield_now().await;
        }
        let (b, o) = (Arc::clone(&budget), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            b.acquire(Priority::Interactive).await;
            o.lock().unwrap().push("user".to_owned());
        }));
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], "user", "{order:?}");
        assert_eq!(&order[1..], ["bg0", "bg1", "bg2", "bg3", "bg4"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_does_not_use_a_slot() {
        let budget = RateBudget::new(limit(60, 1));
        budget.acquire(Priority::Interactive).await;
        let b = Arc::clone(&budget);
        let waiter = tokio::spawn(async move { b.acquire(Priority::Interactive).await });
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(budget.admitted(), 1);
        assert!(budget.available() >= 1);
    }

    #[test]
    fn clients_of_one_credential_share_one_budget() {
        let a = RateBudget::for_credential("https://x/oauth/token|id-1", RateLimit::default());
        let b = RateBudget::for_credential("https://x/oauth/token|id-1", limit(10, 1));
        let c = RateBudget::for_credential("https://x/oauth/token|id-2", RateLimit::default());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(b.limit(), RateLimit::default());
    }
}
