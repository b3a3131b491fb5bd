//! What the operator keeps in memory between reconciles.
//!
//! Nothing here is needed for correctness after a restart (the resources and Aura are the
//! source of truth); it saves Aura calls and keeps a password safe while a Secret write is
//! retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::aura::{PollBackoff, Tenant, TenantId};

/// How long a tenant's instance configurations are trusted.
const TENANT_TTL: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct Memory {
    /// Per resource UID, woken when someone changes the resource.
    changes: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    passwords: Mutex<HashMap<String, SecretString>>,
    polls: Mutex<HashMap<String, (String, u32)>>,
    failures: Mutex<HashMap<String, u32>>,
    tenants: Mutex<HashMap<TenantId, (Instant, Tenant)>>,
    tenant_fetches: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
    recorded_instances: Mutex<HashMap<String, String>>,
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
    /// poll and starts over when the state changes.
    pub fn next_poll(&self, key: &str, state: &str, backoff: PollBackoff) -> Duration {
        let mut polls = lock(&self.polls);
        let entry = polls
            .entry(key.to_owned())
            .or_insert_with(|| (state.to_owned(), 0));
        if entry.0 != state {
            *entry = (state.to_owned(), 0);
        }
        let mut interval = backoff.initial;
        for _ in 0..entry.1 {
            interval = backoff.next(interval);
        }
        entry.1 = entry.1.saturating_add(1);
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

    /// Forgets everything about a resource that is gone.
    pub fn forget(&self, key: &str) {
        lock(&self.changes).remove(key);
        lock(&self.recorded_instances).remove(key);
        lock(&self.polls).remove(key);
        lock(&self.failures).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_grow_while_the_state_holds_and_restart_when_it_changes() {
        let memory = Memory::default();
        let b = PollBackoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(5),
            factor: 2.0,
        };
        let seen: Vec<u64> = (0..4)
            .map(|_| memory.next_poll("uid", "creating", b).as_secs())
            .collect();
        assert_eq!(seen, [2, 4, 5, 5]);
        assert_eq!(memory.next_poll("uid", "updating", b).as_secs(), 2);
    }
}
