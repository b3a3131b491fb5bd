//! When to send a failed request again, and how long to wait first.
//!
//! Only requests that cannot do harm twice are resent after they may have reached Aura. Two
//! failures are always safe to resend, whatever the method: a connection that was never made,
//! and a 429 (Aura refused the request before acting on it). `POST /instances` therefore gets
//! another try only in those two cases; any other failure reaches the caller with
//! [`Error::request_may_have_acted`](super::Error::request_may_have_acted) telling it whether to
//! look for the instance before creating again.
//!
//! A 429 is also reported to the credential's [`RateBudget`](super::RateBudget), which pauses
//! every caller until `Retry-After` (or for Aura's whole minute once the header has proved to
//! understate the wait); the wait here only paces this caller's own resend.

use std::time::Duration;

use http::StatusCode;
use rand::Rng;

/// Retry settings. The defaults follow Aura's guidance: a few tries, exponential backoff with a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Resends after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Wait before the first resend; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of one wait computed from the backoff.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out: the error goes to the caller, which can
    /// schedule its own retry instead of holding a task for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// What went wrong with one attempt, as far as the retry decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No connection was made: the request never left.
    NotSent,
    /// The request may have been received (timeout, reset, unreadable body).
    Lost,
    /// Aura answered with this status.
    Status(StatusCode),
    /// Sending again cannot help (e.g. a response over the size limit).
    Final,
}

impl RetryPolicy {
    /// The wait before resend number `retry` (0-based), or `None` to give up.
    pub(crate) fn next_delay(
        &self,
        retry: u32,
        failure: Failure,
        idempotent: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if retry >= self.max_retries || !Self::worth_resending(failure, idempotent) {
            return None;
        }
        let backoff = self.backoff(retry);
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait.max(backoff)),
            None => Some(backoff),
        }
    }

    fn worth_resending(failure: Failure, idempotent: bool) -> bool {
        match failure {
            Failure::NotSent => true,
            Failure::Lost => idempotent,
            Failure::Final => false,
            Failure::Status(StatusCode::TOO_MANY_REQUESTS) => true,
            Failure::Status(status) => {
                idempotent
                    && matches!(
                        status,
                        StatusCode::INTERNAL_SERVER_ERROR
                            | StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    )
            }
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that many callers
    /// that failed together do not come back together.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

/// Reads `Retry-After` as delay-seconds or as an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    let secs = when.as_second().saturating_sub(now.as_second()).max(0);
    Some(Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn create_is_resent_only_when_it_cannot_have_acted() {
        let p = policy();
        let post = false;
        assert!(p.next_delay(0, Failure::NotSent, post, None).is_some());
        assert!(
            p.next_delay(
                0,
                Failure::Status(StatusCode::TOO_MANY_REQUESTS),
                post,
                None
            )
            .is_some()
        );
        assert!(p.next_delay(0, Failure::Lost, post, None).is_none());
        assert!(
            p.next_delay(0, Failure::Status(StatusCode::BAD_GATEWAY), post, None)
                .is_none()
        );
    }

    #[test]
    fn idempotent_requests_are_resent_on_5xx_but_not_on_other_4xx() {
        let p = policy();
        for code in [500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                p.next_delay(0, Failure::Status(status), true, None)
                    .is_some(),
                "{code}"
            );
        }
        for code in [400, 404, 409, 501] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                p.next_delay(0, Failure::Status(status), true, None)
                    .is_none(),
                "{code}"
            );
        }
    }

    #[test]
    fn retries_stop_at_the_configured_count() {
        let p = policy();
        assert!(p.next_delay(2, Failure::Lost, true, None).is_some());
        assert!(p.next_delay(3, Failure::Lost, true, None).is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        for retry in 0..10 {
            let d = p
                .next_delay(retry.min(2), Failure::Lost, true, None)
                .unwrap();
            let ceiling = (p.base_delay * (1 << retry.min(2))).min(p.max_delay);
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_until_it_is_too_long() {
        let p = policy();
        let d = p
            .next_delay(
                0,
                Failure::Status(StatusCode::TOO_MANY_REQUESTS),
                true,
                Some(Duration::from_secs(3)),
            )
            .unwrap();
        assert_eq!(d, Duration::from_secs(3));
        let too_long = Some(Duration::from_secs(60));
        assert!(
            p.next_delay(
                0,
                Failure::Status(StatusCode::TOO_MANY_REQUESTS),
                true,
                too_long
            )
            .is_none()
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
