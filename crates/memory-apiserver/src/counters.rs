//! What the server has been asked to do, for tests that assert on traffic (a controller that
//! loops hot shows up as a climbing write count), and the failures a test has asked it to inject.

use std::collections::{BTreeMap, BTreeSet};

/// One kind of write: verb (`create`, `update`, `patch`, `delete`, `deletecollection`), resource
/// type and subresource (`""` for the main resource, `"status"` for the status subresource).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteKey {
    pub verb: String,
    pub group: String,
    pub plural: String,
    pub subresource: String,
}

/// One kind of write as seen by field management: which `fieldManager` the request named, the
/// verb and patch type, and where it went. Deletes carry no field manager and are not counted here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldManagerKey {
    /// The request's `fieldManager` query parameter; `None` when it carried none (the stored
    /// `managedFields` entry then names the User-Agent's product, or `unknown`).
    pub field_manager: Option<String>,
    /// `create`, `update` or `patch`.
    pub verb: String,
    /// For patches `apply`, `merge`, `strategic-merge` or `json` (`unsupported` for another
    /// content type); `""` for create and update.
    pub patch_type: String,
    pub group: String,
    pub plural: String,
    /// `""` for the main resource, `"status"` for the status subresource.
    pub subresource: String,
}

/// A snapshot of the request counters. Every request that reaches a resource is counted,
/// including ones that fail or change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub writes: BTreeMap<WriteKey, u64>,
    /// Creates, updates and patches (any subresource) by the `fieldManager` they carried.
    pub field_managers: BTreeMap<FieldManagerKey, u64>,
    /// GETs of a single object (including `.../status`).
    pub gets: u64,
    /// LIST requests answered (not watches).
    pub lists_served: u64,
    /// WATCH streams opened (including ones answered with a 410 ERROR event).
    pub watches_opened: u64,
    /// Requests held back by an injected latency (counted when they arrive, before the wait).
    pub delayed: u64,
}

impl Counters {
    /// Writes of one verb to one subresource (`""` for the main resource).
    pub fn write_count(&self, verb: &str, group: &str, plural: &str, subresource: &str) -> u64 {
        let key = WriteKey {
            verb: verb.to_string(),
            group: group.to_string(),
            plural: plural.to_string(),
            subresource: subresource.to_string(),
        };
        self.writes.get(&key).copied().unwrap_or(0)
    }

    /// Writes of one verb to a resource type, main resource and subresources together.
    pub fn writes_of(&self, verb: &str, group: &str, plural: &str) -> u64 {
        self.writes
            .iter()
            .filter(|(k, _)| k.verb == verb && k.group == group && k.plural == plural)
            .map(|(_, n)| n)
            .sum()
    }

    /// Every write to a resource type, whatever the verb.
    pub fn all_writes_to(&self, group: &str, plural: &str) -> u64 {
        self.writes
            .iter()
            .filter(|(k, _)| k.group == group && k.plural == plural)
            .map(|(_, n)| n)
            .sum()
    }

    /// Creates, updates and patches of a resource type (main resource and subresources) that
    /// carried this `fieldManager`; `None` counts the writes that carried none.
    pub fn writes_by_field_manager(
        &self,
        field_manager: Option<&str>,
        group: &str,
        plural: &str,
    ) -> u64 {
        self.field_manager_writes_to(group, plural)
            .filter(|(k, _)| k.field_manager.as_deref() == field_manager)
            .map(|(_, n)| n)
            .sum()
    }

    /// Creates, updates and patches of a resource type that carried no `fieldManager` at all.
    pub fn writes_without_field_manager(&self, group: &str, plural: &str) -> u64 {
        self.writes_by_field_manager(None, group, plural)
    }

    /// Creates, updates and patches of a resource type that did not carry `fieldManager=manager`
    /// (another manager or none): `0` means every such write named `manager`.
    pub fn writes_not_by_field_manager(&self, manager: &str, group: &str, plural: &str) -> u64 {
        self.field_manager_writes_to(group, plural)
            .filter(|(k, _)| k.field_manager.as_deref() != Some(manager))
            .map(|(_, n)| n)
            .sum()
    }

    /// The distinct `fieldManager` values (`None` for "none given") that wrote a resource type.
    pub fn field_managers_of(&self, group: &str, plural: &str) -> BTreeSet<Option<String>> {
        self.field_manager_writes_to(group, plural)
            .map(|(k, _)| k.field_manager.clone())
            .collect()
    }

    /// Every field-manager count for a resource type, for assertion messages.
    pub fn field_manager_writes_to<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
    ) -> impl Iterator<Item = (&'a FieldManagerKey, u64)> + 'a {
        self.field_managers
            .iter()
            .filter(move |(k, _)| k.group == group && k.plural == plural)
            .map(|(k, n)| (k, *n))
    }

    pub(crate) fn record_field_manager(&mut self, key: FieldManagerKey) {
        *self.field_managers.entry(key).or_default() += 1;
    }

    pub(crate) fn record_write(
        &mut self,
        verb: &str,
        group: &str,
        plural: &str,
        subresource: &str,
    ) {
        let key = WriteKey {
            verb: verb.to_string(),
            group: group.to_string(),
            plural: plural.to_string(),
            subresource: subresource.to_string(),
        };
        *self.writes.entry(key).or_default() += 1;
    }
}

/// A pending injected failure: the next `remaining` requests matching it answer `status`.
/// `"*"` as verb or plural matches any.
#[derive(Debug, Clone)]
pub struct Fault {
    pub verb: String,
    pub group: String,
    pub plural: String,
    pub remaining: u32,
    pub status: u16,
}

impl Fault {
    fn matches(&self, verb: &str, group: &str, plural: &str) -> bool {
        (self.verb == "*" || self.verb == verb)
            && (self.plural == "*" || (self.group == group && self.plural == plural))
    }
}

/// A pending injected latency: the next `remaining` requests matching it wait `delay` before the
/// server looks at them, as on a real API server where a write takes milliseconds. A request
/// its client abandons meanwhile never happens. `"*"` as verb or plural matches any.
#[derive(Debug, Clone)]
pub struct Latency {
    pub verb: String,
    pub group: String,
    pub plural: String,
    pub remaining: u32,
    pub delay: std::time::Duration,
}

/// Consumes one use of the first matching latency, returning how long to wait.
pub(crate) fn take_latency(
    latencies: &mut Vec<Latency>,
    verb: &str,
    group: &str,
    plural: &str,
) -> Option<std::time::Duration> {
    let latency = latencies.iter_mut().find(|l| {
        l.remaining > 0
            && (l.verb == "*" || l.verb == verb)
            && (l.plural == "*" || (l.group == group && l.plural == plural))
    })?;
    latency.remaining -= 1;
    let delay = latency.delay;
    latencies.retain(|l| l.remaining > 0);
    Some(delay)
}

/// Consumes one use of the first matching fault, returning the status to answer with.
pub(crate) fn take_fault(
    faults: &mut Vec<Fault>,
    verb: &str,
    group: &str,
    plural: &str,
) -> Option<u16> {
    let fault = faults
        .iter_mut()
        .find(|f| f.remaining > 0 && f.matches(verb, group, plural))?;
    fault.remaining -= 1;
    let status = fault.status;
    faults.retain(|f| f.remaining > 0);
    Some(status)
}
