//! The emulator's clock: real time plus an offset that tests can move forward.
//!
//! All lifecycle deadlines, token expiry, session TTLs and the rate-limit window read this clock,
//! so `advance_clock` makes an hour pass without sleeping. Injected delays use real time, because
//! they exist to exercise client timeouts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    fn offset(&self) -> Duration {
        // A poisoned lock only means a panic elsewhere; the offset itself is always valid.
        *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += by;
    }

    /// Monotonic "now" for deadlines.
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Wall-clock "now" for timestamps shown to clients.
    pub fn wall(&self) -> Timestamp {
        let offset = SignedDuration::try_from(self.offset()).unwrap_or(SignedDuration::ZERO);
        Timestamp::now()
            .checked_add(offset)
            .unwrap_or_else(|_| Timestamp::now())
    }
}

/// RFC 3339 in UTC with whole seconds, the form Aura uses (`2024-09-12T13:51:45Z`).
pub fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The UTC calendar date of a timestamp, for the snapshot `date` filter.
pub fn utc_date(ts: Timestamp) -> jiff::civil::Date {
    ts.to_zoned(jiff::tz::TimeZone::UTC).date()
}
