//! A sliding-window rate limiter keyed by credential (client id).
//!
//! Aura documents 125 requests per minute. The emulator keeps, per client id, the instants of the
//! requests it admitted in the last 60 s. Every endpoint counts (token requests too, keyed by the
//! client id in the Basic header). Rejected requests are not added to the window, so `Retry-After`
//! is exact: after that many seconds the oldest admitted request has left the window.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admits the request, or returns how many whole seconds (at least 1) the client should wait.
    pub fn check(&mut self, key: &str, limit: u32, now: Instant) -> Result<(), u64> {
        let window = self.windows.entry(key.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() < limit as usize {
            window.push_back(now);
            return Ok(());
        }
        let oldest = window.front().copied().unwrap_or(now);
        let wait = (oldest + WINDOW).saturating_duration_since(now);
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_over_the_limit_and_recovers_after_the_window() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        assert!(limiter.check("a", 2, start).is_ok());
        assert!(limiter.check("a", 2, start).is_ok());
        assert_eq!(limiter.check("a", 2, start), Err(60));
        assert!(limiter.check("b", 2, start).is_ok());
        assert!(limiter.check("a", 2, start + WINDOW).is_ok());
    }
}
