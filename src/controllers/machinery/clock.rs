//! The controllers' clock: wall time plus an offset that tests move, so that schedules and
//! expiry can be tried at any hour of any day without waiting for it.
//!
//! Only what the spec ties to the calendar reads this clock (pause and resume schedules, expiry).
//! Polling, back-off and Kubernetes timestamps stay on real time: they measure how long the
//! operator waited, not what time it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// A shared handle: clones read and move the same clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<Mutex<SignedDuration>>,
}

impl Clock {
    fn offset(&self) -> SignedDuration {
        // A poisoned lock only means a panic elsewhere; the offset itself is always valid.
        *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What time it is.
    pub fn now(&self) -> Timestamp {
        let real = Timestamp::now();
        real.checked_add(self.offset()).unwrap_or(real)
    }

    /// Makes it `to` now; time goes on from there.
    pub fn set(&self, to: Timestamp) {
        let offset = to.duration_since(Timestamp::now());
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) = offset;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset = offset.saturating_add(by);
    }

    /// How long from now until `at` (zero when it has passed).
    pub fn until(&self, at: Timestamp) -> Duration {
        Duration::try_from(at.duration_since(self.now())).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_keeps_going_and_advances() {
        let clock = Clock::default();
        let monday = "2026-12-07T06:59:00Z".parse::<Timestamp>().unwrap();
        clock.set(monday);
        let now = clock.now();
        assert!(now >= monday && now.duration_since(monday) < SignedDuration::from_secs(5));
        let copy = clock.clone();
        copy.advance(Duration::from_secs(3600));
        assert!(clock.now().duration_since(monday) >= SignedDuration::from_secs(3600));
        assert_eq!(clock.until(monday), Duration::ZERO);
        assert!(clock.until(clock.now() + SignedDuration::from_secs(60)) > Duration::ZERO);
    }
}
