//! What the server has been asked to do, for tests that assert on traffic (a controller that
//! loops hot shows up as a climbing write count), and the failures a test has asked it to inject.

use std::collections::BTreeMap;

/// One kind of write: verb (`create`, `update`, `patch`, `delete`, `deletecollection`), resource
/// type and subresource (`""` for the main resource, `"status"` for the status subresource).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteKey {
    pub verb: String,
    pub group: String,
    pub plural: String,
    pub subresource: String,
}

/// A snapshot of the request counters. Every request that reaches a resource is counted,
/// including ones that fail or change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub writes: BTreeMap<WriteKey, u64>,
    /// GETs of a single object (including `.../status`).
    pub gets: u64,
    /// LIST requests answered (not watches).
    pub lists_served: u64,
    /// WATCH streams opened (including ones answered with a 410 ERROR event).
    pub watches_opened: u64,
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
