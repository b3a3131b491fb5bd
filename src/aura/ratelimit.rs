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
//!
//! Other tools may use the same credential, so Aura can still refuse with 429. A refusal is
//! news for every caller of the credential, not just the one that got it, so the budget reacts
//! once for all of them (see [`RateBudget::on_rate_limited`]):
//! - it pauses: nothing is admitted until Aura's `Retry-After` has passed (10 s without one), and
//!   admissions then restart one at a time, without a burst;
//! - it halves its effective rate (never below 5 a minute), because one refusal suggests the
//!   share left to us is smaller than configured;
//! - it climbs back linearly while Aura answers, from the floor to the configured rate in five
//!   minutes, so that a single refusal costs a few minutes of caution rather than for ever.
//!
//! Aura does not document how exact its `Retry-After` is, and one Aura answered every 429 with
//! `Retry-After: 2` while its one-minute window stayed full (issue 20). Taken at its word, such a
//! header earns a 429 every two seconds until the window empties. So the budget checks the header
//! against what happens next: if the first requests sent after a pause are refused again, before
//! Aura has answered any of them, the pause was too short and the header understates. The budget
//! then stops relying on it: every pause lasts at least Aura's whole window, the one wait known to
//! suffice (a minute without a request leaves none of ours in a window of a minute), until the
//! rate has climbed back to the configured one (five minutes of answers), when the header is
//! trusted again. Probing shorter pauses (doubling them, say) would cost a 429 per probe, and
//! 429s are what the budget exists to avoid; a minute's stall is the price, paid only while the
//! header is known to mislead. The rate still halves with each new refusal, as above.
//!
//! An exact header never triggers this: the request after its pause is answered.
//!
//! The effective rate only ever tightens the configured one (longer spacing, smaller burst), so
//! the promise of at most `per_minute` admissions in any minute still holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// The window Aura counts requests in, with a margin for clock and network jitter.
const WINDOW: Duration = Duration::from_millis(60_250);

/// Pause after a 429 without `Retry-After`. Aura counts over a minute, so some slot frees within
/// it; a sixth of that keeps callers off a window Aura just called full without stalling the
/// operator for the whole minute on one refusal. Repeated refusals shrink the rate as well.
const DEFAULT_PAUSE: Duration = Duration::from_secs(10);

/// Longest pause honoured. A `Retry-After` beyond two of Aura's windows is more likely a proxy's
/// guess than Aura's limiter, and would stall every caller of the credential.
const MAX_PAUSE: Duration = Duration::from_secs(120);

/// Lowest effective rate. Enough for a token and a reconcile pass a minute, so the operator
/// still makes progress when another tool takes nearly all of the credential's share, while
/// adding at most a handful of refused requests a minute if Aura keeps refusing.
const FLOOR_PER_MINUTE: u32 = 5;

/// Least pause once `Retry-After` has proved to understate: Aura counts requests over a minute,
/// so after a minute without a request its window holds none of ours.
const DISTRUSTED_PAUSE: Duration = WINDOW;

/// Time to climb from (nearly) zero back to the configured rate while Aura keeps answering.
/// Halving and then climbing over minutes (AIMD) settles near the share Aura actually leaves us.
const RECOVERY: Duration = Duration::from_secs(300);

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

/// A slot the budget gave out. Handed back with a 429 so that refusals of requests admitted
/// before the last slow-down do not slow down again: they were caused by the old rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    epoch: u64,
}

/// A shared request budget. Cheap to clone through `Arc`.
#[derive(Debug)]
pub struct RateBudget {
    limit: RateLimit,
    floor: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The instant the bucket is empty again at the sustained rate (GCRA's TAT).
    tat: Instant,
    interactive: VecDeque<oneshot::Sender<Admission>>,
    background: VecDeque<oneshot::Sender<Admission>>,
    dispatcher_running: bool,
    admitted: u64,
    /// Requests per minute currently allowed, between the floor and `limit.per_minute`.
    effective: u32,
    /// Spacing and burst tolerance at the effective rate.
    shape: Shape,
    /// Nothing is admitted before this instant.
    paused_until: Instant,
    /// Bumped by each slow-down.
    epoch: u64,
    /// Recovery has been credited up to this instant.
    recovered_to: Instant,
    /// The pause set by the last slow-down.
    last_pause: Duration,
    /// Aura answered a request admitted in the current epoch (after the last pause ended).
    answered_in_epoch: bool,
    /// Least pause after a 429: zero while Aura's `Retry-After` is trusted, [`DISTRUSTED_PAUSE`]
    /// once it proved too short.
    min_pause: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    interval: Duration,
    tolerance: Duration,
}

impl RateBudget {
    /// A budget of its own, not shared with anyone.
    pub fn new(limit: RateLimit) -> Arc<Self> {
        let limit = RateLimit {
            per_minute: limit.per_minute.max(1),
            burst: limit.burst.clamp(1, limit.per_minute.max(1)),
        };
        let now = Instant::now();
        Arc::new(Self {
            limit,
            floor: FLOOR_PER_MINUTE.min(limit.per_minute),
            state: Mutex::new(State {
                tat: now,
                interactive: VecDeque::new(),
                background: VecDeque::new(),
                dispatcher_running: false,
                admitted: 0,
                effective: limit.per_minute,
                shape: shape(limit, limit.per_minute),
                paused_until: now,
                epoch: 0,
                recovered_to: now,
                last_pause: Duration::ZERO,
                answered_in_epoch: true,
                min_pause: Duration::ZERO,
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

    /// Requests per minute the budget currently allows: the configured rate, or less after Aura
    /// refused requests.
    pub fn effective_per_minute(&self) -> u32 {
        self.lock().effective
    }

    /// Least pause after a 429: zero while Aura's `Retry-After` is trusted, a minute once it
    /// proved to understate the wait.
    pub fn learned_pause(&self) -> Duration {
        self.lock().min_pause
    }

    /// How long admissions stay paused after Aura's last 429 (zero when not paused).
    pub fn paused_for(&self) -> Duration {
        self.lock()
            .paused_until
            .saturating_duration_since(Instant::now())
    }

    /// Requests that could be admitted right now without waiting.
    pub fn available(&self) -> u32 {
        let state = self.lock();
        let now = Instant::now();
        let Shape {
            interval,
            tolerance,
        } = state.shape;
        let debt = state.tat.saturating_duration_since(now);
        if debt > tolerance {
            return 0;
        }
        let spare = tolerance - debt;
        1 + (spare.as_nanos() / interval.as_nanos().max(1)) as u32
    }

    /// Requests queued for a slot now, interactive and background (waiters that gave up are
    /// not counted): how far behind the budget the callers are.
    pub fn waiting(&self) -> (usize, usize) {
        let state = self.lock();
        let live = |queue: &VecDeque<oneshot::Sender<Admission>>| {
            queue.iter().filter(|tx| !tx.is_closed()).count()
        };
        (live(&state.interactive), live(&state.background))
    }

    /// Waits for a slot. Cancel-safe: a dropped waiter gives its place up.
    pub async fn acquire(self: &Arc<Self>, priority: Priority) -> Admission {
        let rx = {
            let mut state = self.lock();
            let queued = !state.interactive.is_empty() || !state.background.is_empty();
            if !queued && let Ok(admission) = try_admit(&mut state, Instant::now()) {
                return admission;
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
        match rx.await {
            Ok(admission) => admission,
            Err(_) => Admission {
                epoch: self.lock().epoch,
            },
        }
    }

    /// Aura answered 429 to a request admitted as `admission`: pause every caller of the
    /// credential for `retry_after` (10 s when absent, at most 2 min), and halve the effective
    /// rate unless the request was admitted before the last slow-down. Requests already in
    /// flight go on; only new admissions wait.
    ///
    /// A request admitted after the last pause ended, refused before Aura answered any other
    /// such request, shows that the pause (Aura's `Retry-After`) was too short: the pause doubles
    /// instead, and lasts Aura's whole window (see the module documentation).
    pub fn on_rate_limited(&self, admission: Admission, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut pause = retry_after.unwrap_or(DEFAULT_PAUSE).min(MAX_PAUSE);
        let mut state = self.lock();
        let new_refusal = admission.epoch == state.epoch;
        if new_refusal {
            // Only the header can have made the last pause too short: a missing header pauses
            // for DEFAULT_PAUSE, and a learned pause is already the whole window.
            if state.epoch > 0 && !state.answered_in_epoch {
                state.min_pause = DISTRUSTED_PAUSE;
            }
            pause = pause.max(state.min_pause);
            state.last_pause = pause;
            state.answered_in_epoch = false;
        }
        state.paused_until = state.paused_until.max(now + pause);
        if new_refusal {
            state.epoch += 1;
            state.effective = (state.effective / 2).max(self.floor);
            state.shape = shape(self.limit, state.effective);
            state.recovered_to = state.paused_until;
        }
        // At the end of the pause one request may go, then the rest at the effective spacing:
        // a burst then would meet a window Aura has only just begun to empty.
        let restart = state.paused_until + state.shape.tolerance;
        state.tat = state.tat.max(restart);
        tracing::debug!(
            effective_per_minute = state.effective,
            pause_ms = pause.as_millis() as u64,
            "Aura answered 429; pausing every caller of the credential"
        );
    }

    /// Aura answered a request admitted as `admission` with something other than 429, so the
    /// current rate is not too high: the effective rate climbs back towards the configured one,
    /// by one request a minute per `RECOVERY / per_minute` of time since the pause ended. Answers
    /// during a pause (to requests sent before it) do not count. Once the configured rate is
    /// reached, a learned pause is forgotten and `Retry-After` trusted again.
    pub fn on_answered(&self, admission: Admission) {
        let now = Instant::now();
        let mut state = self.lock();
        if admission.epoch == state.epoch {
            state.answered_in_epoch = true;
        }
        if state.effective >= self.limit.per_minute || now < state.paused_until {
            return;
        }
        let from = state.recovered_to.max(state.paused_until);
        let step = RECOVERY / self.limit.per_minute;
        let steps = now.saturating_duration_since(from).as_nanos() / step.as_nanos().max(1);
        let room = self.limit.per_minute - state.effective;
        if steps >= u128::from(room) {
            state.effective = self.limit.per_minute;
            state.recovered_to = now;
            state.min_pause = Duration::ZERO;
        } else if steps > 0 {
            // Fewer than `room` (a u32) steps.
            let steps = steps as u32;
            state.effective += steps;
            state.recovered_to = from + step * steps;
        } else {
            return;
        }
        state.shape = shape(self.limit, state.effective);
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
                match try_admit(&mut state, Instant::now()) {
                    Ok(admission) => {
                        let waiter = state
                            .interactive
                            .pop_front()
                            .or_else(|| state.background.pop_front());
                        if let Some(waiter) = waiter
                            && waiter.send(admission).is_err()
                        {
                            // The waiter left between the check and now: give the slot back.
                            let interval = state.shape.interval;
                            state.tat -= interval;
                            state.admitted -= 1;
                        }
                        continue;
                    }
                    Err(wait) => wait,
                }
            };
            // Re-checked after the sleep, so an interactive waiter arriving meanwhile goes first,
            // and a pause that began meanwhile is honoured.
            tokio::time::sleep(wait).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Takes a slot if one is free at `now`, or says how long until one is.
fn try_admit(state: &mut State, now: Instant) -> Result<Admission, Duration> {
    let Shape {
        interval,
        tolerance,
    } = state.shape;
    let tat = state.tat.max(now);
    let debt = tat - now;
    if debt > tolerance {
        return Err(debt - tolerance);
    }
    state.tat = tat + interval;
    state.admitted += 1;
    Ok(Admission { epoch: state.epoch })
}

/// Spacing and burst at `effective` requests a minute. The burst shrinks in proportion, so a
/// lower rate is never more bursty than the configured one: with a longer interval and a smaller
/// tolerance, every admission is one the configured budget would have made too.
fn shape(limit: RateLimit, effective: u32) -> Shape {
    let burst = u64::from(limit.burst) * u64::from(effective) / u64::from(limit.per_minute);
    // At most `limit.burst`, a u32.
    let burst = burst.clamp(1, u64::from(limit.burst)) as u32;
    let interval = RateLimit {
        per_minute: effective,
        burst,
    }
    .interval();
    Shape {
        interval,
        tolerance: interval * (burst - 1),
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
    async fn the_queue_is_counted_by_priority_without_waiters_that_gave_up() {
        let budget = RateBudget::new(limit(60, 1));
        budget.acquire(Priority::Background).await; // spend the burst
        let spawn = |priority| {
            let b = Arc::clone(&budget);
            tokio::spawn(async move { b.acquire(priority).await })
        };
        let background: Vec<_> = (0..3).map(|_| spawn(Priority::Background)).collect();
        let interactive = spawn(Priority::Interactive);
        tokio::task::yield_now().await;
        assert_eq!(budget.waiting(), (1, 3));
        background[0].abort();
        tokio::task::yield_now().await;
        assert_eq!(budget.waiting(), (1, 2));
        interactive.await.unwrap();
        assert_eq!(budget.waiting(), (0, 2));
        for waiter in background.into_iter().skip(1) {
            waiter.await.unwrap();
        }
        assert_eq!(budget.waiting(), (0, 0));
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

    /// Admissions of `callers` concurrent waiters, as offsets from now.
    async fn admit_all(budget: &Arc<RateBudget>, callers: usize) -> Vec<Duration> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|i| {
                let b = Arc::clone(budget);
                let priority = if i % 2 == 0 {
                    Priority::Interactive
                } else {
                    Priority::Background
                };
                tokio::spawn(async move {
                    b.acquire(priority).await;
                    Instant::now() - start
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_caller_until_retry_after_then_restarts_without_a_burst() {
        let budget = RateBudget::new(limit(600, 10));
        let refused = budget.acquire(Priority::Interactive).await;
        assert_eq!(budget.available(), 9);
        budget.on_rate_limited(refused, Some(Duration::from_secs(30)));
        assert_eq!(budget.paused_for(), Duration::from_secs(30));
        assert_eq!(budget.available(), 0, "the unspent burst is frozen too");

        let times = admit_all(&budget, 4).await;
        assert!(
            times[0] >= Duration::from_secs(30),
            "nobody goes before Retry-After: {times:?}"
        );
        // Halved to 300/min with a burst of 5: one slot per WINDOW / 295, no burst after the pause.
        // Tokio's timer has millisecond resolution.
        let interval = WINDOW / 295 - Duration::from_millis(1);
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= interval, "spaced: {times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_the_pause_is_the_default_and_long_ones_are_capped() {
        let budget = RateBudget::new(limit(600, 10));
        let a = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(a, None);
        assert_eq!(budget.paused_for(), DEFAULT_PAUSE);
        budget.on_rate_limited(a, Some(Duration::from_secs(86_400)));
        assert_eq!(budget.paused_for(), MAX_PAUSE);
        // A shorter Retry-After never cuts a pause short.
        budget.on_rate_limited(a, Some(Duration::from_secs(1)));
        assert_eq!(budget.paused_for(), MAX_PAUSE);
    }

    #[tokio::test(start_paused = true)]
    async fn each_new_refusal_halves_the_rate_down_to_the_floor() {
        let budget = RateBudget::new(limit(600, 10));
        // Three requests in flight together, all refused: one slow-down, not three.
        let in_flight = [
            budget.acquire(Priority::Interactive).await,
            budget.acquire(Priority::Interactive).await,
            budget.acquire(Priority::Interactive).await,
        ];
        for admission in in_flight {
            budget.on_rate_limited(admission, Some(Duration::from_secs(1)));
        }
        assert_eq!(budget.effective_per_minute(), 300);

        let mut rates = Vec::new();
        for _ in 0..8 {
            let admission = budget.acquire(Priority::Interactive).await;
            budget.on_rate_limited(admission, Some(Duration::ZERO));
            rates.push(budget.effective_per_minute());
        }
        assert_eq!(rates, [150, 75, 37, 18, 9, 5, 5, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_climbs_back_slowly_while_aura_answers() {
        let budget = RateBudget::new(limit(600, 10));
        let a = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(a, Some(Duration::from_secs(10)));
        assert_eq!(budget.effective_per_minute(), 300);

        // Answers to requests sent before the pause say nothing about the new rate.
        tokio::time::sleep(Duration::from_secs(5)).await;
        budget.on_answered(a);
        assert_eq!(budget.effective_per_minute(), 300);

        // 600/min over RECOVERY (5 min) is +2/min per second, counted from the end of the pause.
        tokio::time::sleep(Duration::from_secs(5 + 60)).await;
        budget.on_answered(a);
        assert_eq!(budget.effective_per_minute(), 420);
        tokio::time::sleep(Duration::from_millis(250)).await;
        budget.on_answered(a);
        assert_eq!(
            budget.effective_per_minute(),
            420,
            "under one step: nothing yet"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        budget.on_answered(a);
        assert_eq!(budget.effective_per_minute(), 421, "remainders are kept");
        tokio::time::sleep(Duration::from_secs(100)).await;
        budget.on_answered(a);
        assert_eq!(
            budget.effective_per_minute(),
            600,
            "never above the configured rate"
        );

        // Without answers there is nothing to learn from, so nothing is credited.
        let b = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(b, Some(Duration::ZERO));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(budget.effective_per_minute(), 300);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_refused_again_once_honoured_is_not_trusted_until_the_rate_recovers() {
        let budget = RateBudget::new(limit(600, 10));
        let first = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(first, Some(Duration::from_secs(2)));
        assert_eq!(
            budget.paused_for(),
            Duration::from_secs(2),
            "trusted at first"
        );

        // The first request after the pause is refused again with the same header: it understated.
        let next = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(next, Some(Duration::from_secs(2)));
        assert_eq!(budget.paused_for(), DISTRUSTED_PAUSE, "Aura's whole window");
        assert_eq!(budget.learned_pause(), DISTRUSTED_PAUSE);
        assert_eq!(
            budget.effective_per_minute(),
            150,
            "halved each time as before"
        );
        // A longer header is still honoured.
        let next = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(next, Some(Duration::from_secs(90)));
        assert_eq!(budget.paused_for(), Duration::from_secs(90));

        // Answered after the pause: the header is still not trusted at the next refusal.
        let answered = budget.acquire(Priority::Interactive).await;
        budget.on_answered(answered);
        let refused = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(refused, Some(Duration::from_secs(2)));
        assert_eq!(budget.paused_for(), DISTRUSTED_PAUSE);

        // Five minutes of answers bring back the configured rate, and trust in the header.
        tokio::time::sleep(DISTRUSTED_PAUSE + RECOVERY).await;
        let answered = budget.acquire(Priority::Interactive).await;
        budget.on_answered(answered);
        assert_eq!(budget.effective_per_minute(), 600);
        assert_eq!(budget.learned_pause(), Duration::ZERO);
        let refused = budget.acquire(Priority::Interactive).await;
        budget.on_rate_limited(refused, Some(Duration::from_secs(2)));
        assert_eq!(budget.paused_for(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_exact_retry_after_is_honoured_as_it_is() {
        // Each pause is followed by an answer, so no header is ever shown to understate.
        let budget = RateBudget::new(limit(600, 10));
        for wait in [30, 3, 1, 7] {
            let refused = budget.acquire(Priority::Interactive).await;
            budget.on_rate_limited(refused, Some(Duration::from_secs(wait)));
            assert_eq!(budget.paused_for(), Duration::from_secs(wait));
            let answered = budget.acquire(Priority::Interactive).await;
            budget.on_answered(answered);
        }
        assert_eq!(budget.learned_pause(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_and_recovery_never_let_a_minute_exceed_the_budget() {
        let budget = RateBudget::new(limit(125, 5));
        let start = Instant::now();
        let mut times = Vec::new();
        for i in 0..600 {
            let admission = budget.acquire(Priority::Background).await;
            times.push(Instant::now() - start);
            if i % 97 == 0 {
                budget.on_rate_limited(admission, Some(Duration::from_secs(1)));
            } else {
                budget.on_answered(admission);
            }
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
        assert_eq!(budget.admitted(), 600);
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_waiters_still_go_first_after_a_pause() {
        let budget = RateBudget::new(limit(60, 1));
        let refused = budget.acquire(Priority::Background).await;
        budget.on_rate_limited(refused, Some(Duration::from_secs(20)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [
            ("bg0", Priority::Background),
            ("bg1", Priority::Background),
            ("user", Priority::Interactive),
        ] {
            let (b, o) = (Arc::clone(&budget), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                b.acquire(priority).await;
                o.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["user", "bg0", "bg1"]);
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
