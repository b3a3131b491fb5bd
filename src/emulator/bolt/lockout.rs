//! Neo4j's native auth rate limit: after `max_failed` refused logins of a user in a row, that
//! user is locked for `lock_time`, and while locked every login (the right password too) is
//! refused with `Neo.ClientError.Security.AuthenticationRateLimit`.
//!
//! Modelled on Neo4j's own bookkeeping (per user name, known or not): a login while locked is
//! neither counted nor checked; once `lock_time` has passed since the last refusal one attempt
//! is let through, and a wrong password then locks again at once (the count is still at or
//! above the limit); a successful login resets the count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The two settings (`dbms.security.auth_max_failed_attempts`, `dbms.security.auth_lock_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLockPolicy {
    /// Refused logins in a row that lock the user; 0 turns locking off.
    pub max_failed: u32,
    pub lock_time: Duration,
}

impl Default for AuthLockPolicy {
    /// Neo4j's defaults: 3 attempts, 5 seconds.
    fn default() -> Self {
        Self {
            max_failed: 3,
            lock_time: Duration::from_secs(5),
        }
    }
}

/// What a login attempt comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    LoggedIn,
    /// Wrong user or password.
    Refused,
    /// The user is locked: nothing was checked.
    Locked,
}

#[derive(Debug, Default, Clone, Copy)]
struct Record {
    in_a_row: u32,
    last_refused: Option<Instant>,
    /// Every refused or locked-out attempt, for tests to count.
    failed_total: u64,
}

/// Per instance and user, the failed logins so far.
#[derive(Debug, Default)]
pub struct Lockouts {
    records: HashMap<(String, String), Record>,
}

impl Lockouts {
    /// Settles one login of `user` on `instance` whose password is `correct` or not.
    pub fn attempt(
        &mut self,
        policy: AuthLockPolicy,
        instance: &str,
        user: &str,
        correct: bool,
        now: Instant,
    ) -> Verdict {
        let record = self
            .records
            .entry((instance.to_owned(), user.to_owned()))
            .or_default();
        if locked(policy, record, now) {
            record.failed_total += 1;
            return Verdict::Locked;
        }
        if correct {
            record.in_a_row = 0;
            return Verdict::LoggedIn;
        }
        record.in_a_row += 1;
        record.last_refused = Some(now);
        record.failed_total += 1;
        Verdict::Refused
    }

    /// Logins of `user` on `instance` that did not succeed (refused or locked out), ever.
    pub fn failed_total(&self, instance: &str, user: &str) -> u64 {
        self.records
            .get(&(instance.to_owned(), user.to_owned()))
            .map_or(0, |r| r.failed_total)
    }
}

fn locked(policy: AuthLockPolicy, record: &Record, now: Instant) -> bool {
    if policy.max_failed == 0 || record.in_a_row < policy.max_failed {
        return false;
    }
    record
        .last_refused
        .is_some_and(|at| now.saturating_duration_since(at) < policy.lock_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: AuthLockPolicy = AuthLockPolicy {
        max_failed: 3,
        lock_time: Duration::from_secs(5),
    };

    fn run(locks: &mut Lockouts, at: Instant, correct: bool) -> Verdict {
        locks.attempt(SHORT, "i1", "neo4j", correct, at)
    }

    #[test]
    fn three_refusals_in_a_row_lock_out_the_right_password_too() {
        let mut locks = Lockouts::default();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(run(&mut locks, t, false), Verdict::Refused);
        }
        assert_eq!(run(&mut locks, t, true), Verdict::Locked);
        let later = t + Duration::from_secs(4);
        assert_eq!(run(&mut locks, later, true), Verdict::Locked);
        // Attempts while locked do not lengthen the lock.
        let after = t + Duration::from_secs(5);
        assert_eq!(run(&mut locks, after, true), Verdict::LoggedIn);
        assert_eq!(locks.failed_total("i1", "neo4j"), 5);
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut locks = Lockouts::default();
        let t = Instant::now();
        run(&mut locks, t, false);
        run(&mut locks, t, false);
        assert_eq!(run(&mut locks, t, true), Verdict::LoggedIn);
        run(&mut locks, t, false);
        run(&mut locks, t, false);
        assert_eq!(run(&mut locks, t, true), Verdict::LoggedIn);
    }

    #[test]
    fn a_wrong_password_after_the_lock_locks_again_at_once() {
        let mut locks = Lockouts::default();
        let t = Instant::now();
        for _ in 0..3 {
            run(&mut locks, t, false);
        }
        let after = t + Duration::from_secs(6);
        assert_eq!(run(&mut locks, after, false), Verdict::Refused);
        assert_eq!(run(&mut locks, after, true), Verdict::Locked);
    }

    #[test]
    fn users_and_instances_are_locked_apart_and_zero_turns_it_off() {
        let mut locks = Lockouts::default();
        let t = Instant::now();
        for _ in 0..3 {
            run(&mut locks, t, false);
        }
        assert_eq!(
            locks.attempt(SHORT, "i1", "app_a", true, t),
            Verdict::LoggedIn
        );
        assert_eq!(
            locks.attempt(SHORT, "i2", "neo4j", true, t),
            Verdict::LoggedIn
        );
        let off = AuthLockPolicy {
            max_failed: 0,
            ..SHORT
        };
        for _ in 0..5 {
            assert_eq!(
                locks.attempt(off, "i3", "neo4j", false, t),
                Verdict::Refused
            );
        }
        assert_eq!(
            locks.attempt(off, "i3", "neo4j", true, t),
            Verdict::LoggedIn
        );
    }
}
