//! Polling until Aura reaches a state, with growing intervals.
//!
//! Aura's transitions take seconds to minutes and are only observable by polling. Polling at a
//! fixed short interval burns the shared rate budget; this polls quickly at first (most
//! transitions in tests and small instances are short) and then backs off to a ceiling.

use std::time::Duration;

use tokio::time::Instant;

use super::Client;
use super::error::{Error, Result};
use super::ids::{InstanceId, SnapshotId};
use super::instances::Instance;
use super::snapshots::Snapshot;
use super::values::InstanceStatus;

/// Poll intervals: start at `initial`, multiply by `factor` after each poll, stop at `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollBackoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl Default for PollBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            factor: 1.5,
        }
    }
}

impl PollBackoff {
    /// The interval after `interval`.
    pub fn next(&self, interval: Duration) -> Duration {
        interval.mul_f64(self.factor.max(1.0)).min(self.max)
    }
}

/// Why waiting stopped without the wanted state.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed; `last` says what was seen last.
    #[error("gave up after {waited:?}: {last}")]
    TimedOut { waited: Duration, last: String },
    /// The check itself failed with an error that waiting will not fix.
    #[error(transparent)]
    Aura(#[from] Error),
}

/// Calls `check` until it returns `Ok(Some(_))`, an error that is not transient, or `timeout`.
/// `check` returns `Ok(None)` with a description of the current state to keep waiting.
pub async fn poll_until<T, F, Fut>(
    timeout: Duration,
    backoff: PollBackoff,
    mut check: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>>>,
{
    let start = Instant::now();
    let mut interval = backoff.initial;
    loop {
        let last = match check().await {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(state)) => state,
            Err(err) if err.category().is_transient() => err.to_string(),
            Err(err) => return Err(WaitError::Aura(err)),
        };
        let waited = start.elapsed();
        if waited + interval > timeout {
            return Err(WaitError::TimedOut { waited, last });
        }
        tokio::time::sleep(interval).await;
        interval = backoff.next(interval);
    }
}

impl Client {
    /// Polls an instance until its status is one of `wanted`.
    pub async fn wait_for_instance(
        &self,
        id: &InstanceId,
        wanted: &[InstanceStatus],
        timeout: Duration,
        backoff: PollBackoff,
    ) -> Result<Instance, WaitError> {
        poll_until(timeout, backoff, || async {
            let instance = self.instances().get(id).await?;
            if wanted.contains(&instance.status) {
                Ok(Ok(instance))
            } else {
                Ok(Err(format!("instance {id} is {}", instance.status)))
            }
        })
        .await
    }

    /// Polls an instance until Aura no longer knows it (404/410).
    pub async fn wait_for_instance_gone(
        &self,
        id: &InstanceId,
        timeout: Duration,
        backoff: PollBackoff,
    ) -> Result<(), WaitError> {
        poll_until(timeout, backoff, || async {
            match self.instances().get(id).await {
                Ok(instance) => Ok(Err(format!("instance {id} is {}", instance.status))),
                Err(err) if err.is_not_found() => Ok(Ok(())),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// Polls a snapshot until it is `Completed`, `Failed` or `Cancelled`.
    pub async fn wait_for_snapshot(
        &self,
        instance: &InstanceId,
        snapshot: &SnapshotId,
        timeout: Duration,
        backoff: PollBackoff,
    ) -> Result<Snapshot, WaitError> {
        poll_until(timeout, backoff, || async {
            let found = self.snapshots(instance).get(snapshot).await?;
            if found.status.is_final() {
                Ok(Ok(found))
            } else {
                Ok(Err(format!("snapshot {snapshot} is {}", found.status)))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_grow_to_the_ceiling() {
        let b = PollBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
            factor: 2.0,
        };
        let mut i = b.initial;
        let mut seen = vec![i];
        for _ in 0..4 {
            i = b.next(i);
            seen.push(i);
        }
        let secs: Vec<u64> = seen.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 4, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stops_at_the_deadline_with_the_last_state() {
        let b = PollBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
            factor: 2.0,
        };
        let mut polls = 0;
        let result: Result<(), WaitError> = poll_until(Duration::from_secs(6), b, || {
            polls += 1;
            let n = polls;
            async move { Ok(Err(format!("poll {n}"))) }
        })
        .await;
        match result {
            Err(WaitError::TimedOut { last, .. }) => assert_eq!(last, format!("poll {polls}")),
            other => panic!("{other:?}"),
        }
        assert_eq!(polls, 4, "polls at 0, 1, 3, 5 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_ends_the_wait_at_once() {
        let mut polls = 0;
        let result: Result<(), WaitError> =
            poll_until(Duration::from_secs(60), PollBackoff::default(), || {
                polls += 1;
                async { Err(Error::invalid("x", "bad")) }
            })
            .await;
        assert!(matches!(result, Err(WaitError::Aura(_))));
        assert_eq!(polls, 1);
    }
}
