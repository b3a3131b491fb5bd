//! What the operator keeps in memory between reconciles.
//!
//! Nothing here is needed for correctness after a restart (the resources and Aura are the
//! source of truth); it saves Aura calls and keeps a password safe while a Secret write is
//! retried.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::aura::{PollBackoff, Tenant, TenantId};

/// How long a tenant's instance configurations are trusted.
const TENANT_TTL: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct Memory {
    /// Per resource UID, woken when someone changes the resource; only while a pass of it waits
    /// to be superseded (see [`Memory::superseded`] and [`Memory::pass_ended`]).
    changes: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Keyed `{owner UID}/{instance id}`; ordered so that [`Memory::forget`] finds an owner's
    /// passwords without a scan of them all.
    passwords: Mutex<BTreeMap<String, SecretString>>,
    polls: Mutex<HashMap<String, Poll>>,
    failures: Mutex<HashMap<String, u32>>,
    tenants: Mutex<HashMap<TenantId, (Instant, Tenant)>>,
    tenant_fetches: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
    recorded_instances: Mutex<HashMap<String, String>>,
    /// Per resource UID, a settled pass's next look at Aura, what of the resource it saw (its
    /// [`worth_a_pass`](super::watch::worth_a_pass) hash; see [`Memory::quiet_for`]) and
    /// when it ended (for the gap to the next look).
    settled: Mutex<HashMap<String, Settled>>,
    /// Resource UIDs whose next pass was brought by a ClusterAuraCredential's Ready changing.
    nudged: Mutex<HashSet<String>>,
    /// Per resource UID, the last Bolt login check: a fingerprint of what it logged in with and
    /// when (see [`Memory::login_check_due`]).
    login_checks: Mutex<HashMap<String, (u64, Instant)>>,
}

/// What the last pass of a settled resource left.
#[derive(Clone, Copy)]
struct Settled {
    due: Instant,
    seen: u64,
    looked: Instant,
}

/// The polling schedule of one busy resource.
struct Poll {
    state: String,
    /// Polls made in this state: the next interval grows with it.
    count: u32,
    /// When the poll scheduled last is due.
    due: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Memory {
    /// Remembers the password of an instance for the resource `owner` (its UID), from Aura's
    /// create answer or the resource's own Secret. Keyed by owner too, so that a resource that
    /// adopts another resource's instance never receives its password.
    pub fn keep_password(&self, owner: &str, instance_id: &str, password: SecretString) {
        lock(&self.passwords).insert(format!("{owner}/{instance_id}"), password);
    }

    pub fn password(&self, owner: &str, instance_id: &str) -> Option<SecretString> {
        lock(&self.passwords)
            .get(&format!("{owner}/{instance_id}"))
            .cloned()
    }

    pub fn forget_password(&self, owner: &str, instance_id: &str) {
        lock(&self.passwords).remove(&format!("{owner}/{instance_id}"));
    }

    /// The next poll interval for `key` while it stays in `state`; the interval grows with each
    /// poll and starts over when the state changes. A pass that comes before the scheduled poll
    /// is due (brought by a watch event, such as the operator's own Secret write) keeps that
    /// schedule instead of growing it: otherwise a few early passes while Aura creates would
    /// stretch the first polls from seconds to most of a minute.
    pub fn next_poll(&self, key: &str, state: &str, backoff: PollBackoff) -> Duration {
        let now = Instant::now();
        let mut polls = lock(&self.polls);
        let entry = polls.entry(key.to_owned()).or_insert_with(|| Poll {
            state: state.to_owned(),
            count: 0,
            due: now,
        });
        if entry.state != state {
            *entry = Poll {
                state: state.to_owned(),
                count: 0,
                due: now,
            };
        }
        if entry.due > now {
            return entry.due - now;
        }
        let mut interval = backoff.initial;
        for _ in 0..entry.count {
            interval = backoff.next(interval);
        }
        entry.count = entry.count.saturating_add(1);
        entry.due = now + interval;
        interval
    }

    pub fn reset_polls(&self, key: &str) {
        lock(&self.polls).remove(key);
    }

    /// Counts a failed reconcile of `key` and returns how many in a row.
    pub fn failed(&self, key: &str) -> u32 {
        let mut failures = lock(&self.failures);
        let count = failures.entry(key.to_owned()).or_default();
        *count = count.saturating_add(1);
        *count
    }

    pub fn succeeded(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    pub fn tenant(&self, id: &TenantId) -> Option<Tenant> {
        let tenants = lock(&self.tenants);
        tenants
            .get(id)
            .filter(|(at, _)| at.elapsed() < TENANT_TTL)
            .map(|(_, t)| t.clone())
    }

    pub fn keep_tenant(&self, tenant: Tenant) {
        lock(&self.tenants).insert(tenant.id.clone(), (Instant::now(), tenant));
    }

    /// Held while a tenant is fetched, so that passes starting together (a restart, a big apply)
    /// wait for the first fetch and find it remembered instead of all spending a call on it.
    pub fn tenant_fetch_gate(&self, id: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.tenant_fetches).entry(id.clone()).or_default())
    }

    /// Remembers that the resource `owner` (its UID) has its instance id recorded in its status.
    pub fn instance_recorded(&self, owner: &str, instance_id: &str) {
        lock(&self.recorded_instances).insert(owner.to_owned(), instance_id.to_owned());
    }

    /// The instance id this operator recorded for `owner`, even if the cached copy of the
    /// resource does not show it yet.
    pub fn recorded_instance(&self, owner: &str) -> Option<String> {
        lock(&self.recorded_instances).get(owner).cloned()
    }

    /// Forgets the instance id recorded for `owner` once the cached copy of the resource shows
    /// it (`recorded` is what the pass read from that copy): from then on the cache says it.
    pub fn instance_seen(&self, owner: &str, recorded: &str) {
        let mut recorded_instances = lock(&self.recorded_instances);
        if recorded_instances
            .get(owner)
            .is_some_and(|id| id == recorded)
        {
            recorded_instances.remove(owner);
        }
    }

    /// Records that a pass left `owner` settled, having seen it as `seen` (its
    /// [`worth_a_pass`](super::watch::worth_a_pass) hash), until its next look at `due`.
    /// Returns the time since the previous pass that left it settled, if the one before this
    /// did: the gap between two drift checks.
    pub fn settled(&self, owner: &str, due: Instant, seen: u64) -> Option<Duration> {
        let looked = Instant::now();
        let entry = Settled { due, seen, looked };
        lock(&self.settled)
            .insert(owner.to_owned(), entry)
            .map(|before| looked.saturating_duration_since(before.looked))
    }

    /// Whether the last pass of `owner` left it settled.
    pub fn is_settled(&self, owner: &str) -> bool {
        lock(&self.settled).contains_key(owner)
    }

    /// Records that the last pass of `owner` did not leave it settled.
    pub fn unsettled(&self, owner: &str) {
        lock(&self.settled).remove(owner);
    }

    /// Records that a ClusterAuraCredential's Ready change brings a pass of `owner`.
    pub fn nudged(&self, owner: &str) {
        lock(&self.nudged).insert(owner.to_owned());
    }

    /// Records that a change of `owner`'s own brings its next pass: no nudge to wait for.
    pub fn unnudged(&self, owner: &str) {
        lock(&self.nudged).remove(owner);
    }

    /// How long a pass of `owner` (seen now as `seen`) may wait: only when a credential's nudge
    /// brought it, the last pass left it settled, nothing of it changed since, and its next look
    /// at Aura is not due yet. Takes the nudge either way.
    pub fn quiet_for(&self, owner: &str, seen: u64) -> Option<Duration> {
        if !lock(&self.nudged).remove(owner) {
            return None;
        }
        let settled = *lock(&self.settled).get(owner)?;
        if settled.seen != seen {
            return None;
        }
        let left = settled.due.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Wakes the passes of `owner` that wait to be superseded.
    pub fn changed(&self, owner: &str) {
        if let Some(notify) = lock(&self.changes).get(owner) {
            notify.notify_waiters();
        }
    }

    /// Resolves when `owner` is changed after this call: a background pass (a poll or a drift
    /// check) races this against its work, so that a user's change does not wait behind a pass
    /// queued for the Aura budget with an older copy of the resource.
    pub fn superseded(&self, owner: &str) -> impl Future<Output = ()> + Send + 'static {
        let notify = Arc::clone(lock(&self.changes).entry(owner.to_owned()).or_default());
        // Registered now, not at the first poll, so a change right after this call counts.
        let mut notified = Box::pin(notify.notified_owned());
        notified.as_mut().enable();
        notified
    }

    /// Called when a pass that raced [`Memory::superseded`] has ended and dropped its future:
    /// the notifier of `owner` goes unless another pass still waits on it, so that there is
    /// one only while a background pass is in flight, not one for every resource for ever.
    pub fn pass_ended(&self, owner: &str) {
        let mut changes = lock(&self.changes);
        if changes
            .get(owner)
            .is_some_and(|notify| Arc::strong_count(notify) == 1)
        {
            changes.remove(owner);
        }
    }

    /// Forgets everything about a resource that is gone.
    /// Whether the connection of `key` should be checked again: never checked by this process,
    /// checked with other credentials (`fingerprint`), or last checked `every` ago or more.
    pub fn login_check_due(&self, key: &str, fingerprint: u64, every: Duration) -> bool {
        lock(&self.login_checks)
            .get(key)
            .is_none_or(|(seen, at)| *seen != fingerprint || at.elapsed() >= every)
    }

    /// Records a connection check of `key` with credentials `fingerprint`, now.
    pub fn login_checked(&self, key: &str, fingerprint: u64) {
        lock(&self.login_checks).insert(key.to_owned(), (fingerprint, Instant::now()));
    }

    pub fn forget(&self, key: &str) {
        lock(&self.changes).remove(key);
        lock(&self.settled).remove(key);
        lock(&self.nudged).remove(key);
        lock(&self.login_checks).remove(key);
        let prefix = format!("{key}/");
        let mut passwords = lock(&self.passwords);
        let owned: Vec<String> = passwords
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            passwords.remove(&k);
        }
        drop(passwords);
        lock(&self.recorded_instances).remove(key);
        lock(&self.polls).remove(key);
        lock(&self.failures).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: PollBackoff = PollBackoff {
        initial: Duration::from_secs(2),
        max: Duration::from_secs(5),
        factor: 2.0,
    };

    #[tokio::test(start_paused = true)]
    async fn only_a_nudge_of_a_settled_unchanged_resource_waits_until_its_look_is_due() {
        let memory = Memory::default();
        let due = Instant::now() + Duration::from_secs(10);
        assert_eq!(memory.quiet_for("a", 1), None, "no nudge: a pass");
        memory.nudged("a");
        assert_eq!(memory.quiet_for("a", 1), None, "not settled: a pass");
        memory.settled("a", due, 1);
        memory.nudged("a");
        assert_eq!(memory.quiet_for("a", 2), None, "changed since: a pass");
        memory.nudged("a");
        memory.unnudged("a");
        assert_eq!(
            memory.quiet_for("a", 1),
            None,
            "its own Secret changed: a pass"
        );
        memory.nudged("a");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(memory.quiet_for("a", 1), Some(Duration::from_secs(6)));
        assert_eq!(memory.quiet_for("a", 1), None, "the nudge is taken");
        memory.nudged("a");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(memory.quiet_for("a", 1), None, "due: a pass");
    }

    #[tokio::test(start_paused = true)]
    async fn polls_grow_while_the_state_holds_and_restart_when_it_changes() {
        let memory = Memory::default();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let wait = memory.next_poll("uid", "creating", BACKOFF);
            seen.push(wait.as_secs());
            tokio::time::advance(wait).await;
        }
        assert_eq!(seen, [2, 4, 5, 5]);
        assert_eq!(memory.next_poll("uid", "updating", BACKOFF).as_secs(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_before_the_poll_is_due_keeps_the_schedule() {
        let memory = Memory::default();
        assert_eq!(memory.next_poll("uid", "creating", BACKOFF).as_secs(), 2);
        // Two passes brought early by watch events: the poll stays 2 s after the first.
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            memory.next_poll("uid", "creating", BACKOFF),
            Duration::from_millis(1500)
        );
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(
            memory.next_poll("uid", "creating", BACKOFF),
            Duration::from_millis(500)
        );
        // The poll itself, when due, grows the interval once.
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(memory.next_poll("uid", "creating", BACKOFF).as_secs(), 4);
    }

    #[test]
    fn forgetting_a_resource_forgets_its_passwords_and_no_other() {
        let memory = Memory::default();
        memory.keep_password("uid-a", "i1", SecretString::from("p1"));
        memory.keep_password("uid-a", "i2", SecretString::from("p2"));
        memory.keep_password("uid-ab", "i3", SecretString::from("p3"));
        memory.keep_password("uid-b", "i4", SecretString::from("p4"));
        memory.forget("uid-a");
        assert!(memory.password("uid-a", "i1").is_none());
        assert!(memory.password("uid-a", "i2").is_none());
        assert!(memory.password("uid-ab", "i3").is_some());
        assert!(memory.password("uid-b", "i4").is_some());
    }

    #[test]
    fn a_recorded_instance_is_forgotten_once_the_cache_shows_it() {
        let memory = Memory::default();
        memory.instance_recorded("uid", "i1");
        memory.instance_seen("uid", "other");
        assert_eq!(memory.recorded_instance("uid").as_deref(), Some("i1"));
        memory.instance_seen("uid", "i1");
        assert_eq!(memory.recorded_instance("uid"), None);
    }

    #[tokio::test]
    async fn a_notifier_lives_only_while_a_pass_waits_on_it() {
        let memory = Memory::default();
        let first = memory.superseded("uid");
        let second = memory.superseded("uid");
        drop(first);
        memory.pass_ended("uid");
        assert_eq!(
            lock(&memory.changes).len(),
            1,
            "the second pass still waits"
        );
        memory.changed("uid");
        second.await;
        memory.pass_ended("uid");
        assert!(lock(&memory.changes).is_empty());
    }
}
