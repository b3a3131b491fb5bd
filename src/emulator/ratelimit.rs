//! A sliding-window rate limiter keyed by credential (client id).
//!
//! Aura documents 125 requests per minute. The emulator keeps, per client id, the instants of the
//! requests it admitted in the last 60 s. Every endpoint counts (token requests too, keyed by the
//! client id in the Basic header). Rejected requests are not added to the window, so `Retry-After`
//! is exact: after that many seconds enough admitted requests have left the window for one more.
//! The limit can change at run time; the windows are kept, so lowering it takes effect at once.
//!
//! Aura does not document how exact its `Retry-After` is, and one real Aura answered every 429
//! with `Retry-After: 2` while its window stayed full for most of a minute (issue 20). The
//! limiter can answer that way too ([`RateLimiter::set_fixed_retry_after`]), so clients are tested
//! against a header that understates the wait.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Requests per window; `None` admits everything.
    limit: Option<u32>,
    windows: HashMap<String, VecDeque<Instant>>,
    /// Seconds every 429 announces, whatever the real wait; `None` announces the exact wait.
    fixed_retry_after: Option<u64>,
}

impl RateLimiter {
    /// A limiter admitting `limit` requests per key and window; `None` or 0 turns it off.
    pub fn new(limit: Option<u32>) -> Self {
        Self {
            limit: limit.filter(|l| *l > 0),
            windows: HashMap::new(),
            fixed_retry_after: None,
        }
    }

    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Changes the limit; `None` or 0 turns the limiter off.
    pub fn set_limit(&mut self, limit: Option<u32>) {
        self.limit = limit.filter(|l| *l > 0);
    }

    /// `Retry-After` seconds every 429 carries from now on, however long the window stays full
    /// (at least 1); `None` goes back to the exact wait.
    pub fn set_fixed_retry_after(&mut self, seconds: Option<u64>) {
        self.fixed_retry_after = seconds.map(|s| s.max(1));
    }

    pub fn fixed_retry_after(&self) -> Option<u64> {
        self.fixed_retry_after
    }

    /// Admits the request, or returns how many whole seconds (at least 1) the client should wait:
    /// the exact wait, or the fixed `Retry-After` when one is set.
    /// Requests are recorded while the limiter is off too, so turning it on counts the last
    /// minute, as Aura's always-on limit would.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        let window = self.windows.entry(key.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        let limit = self.limit.map_or(usize::MAX, |l| l as usize);
        if window.len() < limit {
            window.push_back(now);
            return Ok(());
        }
        // One more fits once all but `limit - 1` of the admitted requests have left the window;
        // after a lowered limit that is later than when the oldest leaves.
        let freeing = window[window.len() - limit];
        let wait = (freeing + WINDOW).saturating_duration_since(now);
        let exact = wait.as_secs_f64().ceil().max(1.0) as u64;
        Err(self.fixed_retry_after.unwrap_or(exact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_over_the_limit_and_recovers_after_the_window() {
        let mut limiter = RateLimiter::new(Some(2));
        let start = Instant::now();
        assert!(limiter.check("a", start).is_ok());
        assert!(limiter.check("a", start).is_ok());
        assert_eq!(limiter.check("a", start), Err(60));
        assert!(limiter.check("b", start).is_ok());
        assert!(limiter.check("a", start + WINDOW).is_ok());
    }

    #[test]
    fn after_lowering_the_limit_retry_after_waits_for_enough_requests_to_leave() {
        let mut limiter = RateLimiter::new(Some(10));
        let start = Instant::now();
        for second in 0..4 {
            let at = start + Duration::from_secs(second * 10);
            assert!(limiter.check("a", at).is_ok());
        }
        // Admitted at 0, 10, 20 and 30 s; with a limit of 2 the one at 20 s must leave first.
        limiter.set_limit(Some(2));
        let now = start + Duration::from_secs(35);
        assert_eq!(limiter.check("a", now), Err(45));
        assert!(limiter.check("a", start + Duration::from_secs(80)).is_ok());
    }

    #[test]
    fn a_fixed_retry_after_is_announced_while_the_window_stays_full() {
        let mut limiter = RateLimiter::new(Some(1));
        let start = Instant::now();
        assert!(limiter.check("a", start).is_ok());
        limiter.set_fixed_retry_after(Some(2));
        assert_eq!(limiter.check("a", start), Err(2));
        // Honouring it does not help: the window is still full after 2 s.
        assert_eq!(limiter.check("a", start + Duration::from_secs(2)), Err(2));
        assert!(limiter.check("a", start + WINDOW).is_ok());
        limiter.set_fixed_retry_after(None);
        assert_eq!(limiter.check("a", start + WINDOW), Err(60));
    }

    #[test]
    fn zero_or_none_turns_the_limiter_off() {
        let mut limiter = RateLimiter::new(Some(1));
        let now = Instant::now();
        assert!(limiter.check("a", now).is_ok());
        assert!(limiter.check("a", now).is_err());
        limiter.set_limit(Some(0));
        assert_eq!(limiter.limit(), None);
        assert!(limiter.check("a", now).is_ok());
        limiter.set_limit(Some(2));
        assert!(
            limiter.check("a", now).is_err(),
            "the request admitted while off counts"
        );
    }
}
