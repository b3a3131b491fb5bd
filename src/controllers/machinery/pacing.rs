//! When the next pass over a resource comes: polls that grow while Aura is busy, and looks at
//! settled resources spread evenly over the resync interval.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use super::engine::Engine;

/// How long until the next pass: a settled resource is compared with Aura again after the
/// resync interval; a busy one is polled with intervals that grow while `state` holds. Either
/// comes sooner when the spec's calendar asks (`wake_at`, a second after it, so that the pass
/// finds the new time has come).
pub fn next_pass(
    engine: &Engine,
    key: &str,
    busy_state: Option<&str>,
    wake_at: Option<jiff::Timestamp>,
) -> Duration {
    let after = match busy_state {
        // Settled again: exactly one interval after this look, so looks never come closer.
        None if engine.memory.is_settled(key) => engine.timing.resync,
        // Just settled (created, changed, or first seen after a restart): at its own moment of
        // the interval, so that resources settling together do not look again together.
        None => {
            engine.memory.reset_polls(key);
            spread(key, engine.timing.resync, engine.clock.now())
        }
        Some(state) => engine.memory.next_poll(key, state, engine.timing.poll),
    };
    let wake = wake_at.map(|at| engine.clock.until(at) + Duration::from_secs(1));
    wake.map_or(after, |wake| wake.min(after))
}

/// The wait until a resource that has just settled looks at Aura again: about `every`, at a
/// moment of the interval that its `key` alone decides. Resources that settle together (a
/// thousand applied at once, or all of them after a restart) would otherwise look again
/// together, once per interval, in bursts that queue behind the Aura budget; with a phase of its
/// own, each comes at its own time, so the looks are spread evenly and the budget is spent at a
/// steady rate. The wait is between half and one and a half intervals (exactly `every` for a
/// look made at its phase); later looks of a resource that stays settled come one interval
/// apart, which keeps the phase.
pub fn spread(key: &str, every: Duration, now: jiff::Timestamp) -> Duration {
    let period = every.as_millis().max(1) as u64;
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let phase = hasher.finish() % period;
    let position = (now.as_millisecond().rem_euclid(period as i64)) as u64;
    let mut wait = (phase + period - position) % period;
    if wait < period / 2 {
        wait += period;
    }
    Duration::from_millis(wait)
}

/// A growing wait while something outside the resource (an instance, a referenced resource)
/// is not ready: the same schedule as polling a busy resource.
pub fn growing_wait(engine: &Engine, key: &str, state: &str) -> Duration {
    engine.memory.next_poll(key, state, engine.timing.poll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_that_settle_together_look_again_spread_over_the_interval() {
        let every = Duration::from_secs(60);
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let mut buckets = [0u32; 10];
        for i in 0..1_000 {
            let wait = spread(&format!("uid-{i}"), every, now);
            assert!(wait >= every / 2 && wait < every * 3 / 2, "{wait:?}");
            // Where in the interval the look lands.
            let at = (now.as_millisecond() as u128 + wait.as_millis()) % every.as_millis();
            buckets[(at * 10 / every.as_millis()) as usize] += 1;
        }
        // 100 a bucket on average; a burst would put most of them in one.
        for count in buckets {
            assert!((60..=140).contains(&count), "{buckets:?}");
        }
    }

    #[test]
    fn a_resource_in_step_looks_again_after_exactly_one_interval() {
        let every = Duration::from_secs(300);
        let start = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let first = spread("uid-7", every, start);
        let looked = start + jiff::SignedDuration::try_from(first).unwrap();
        assert_eq!(spread("uid-7", every, looked), every);
        // A pass a little late still keeps the phase: the next wait is a little shorter.
        let late = looked + jiff::SignedDuration::from_secs(4);
        assert_eq!(spread("uid-7", every, late), every - Duration::from_secs(4));
    }
}
