//! Request statistics for tests and benchmarks.

use std::collections::BTreeMap;

use serde::Serialize;

/// Status recorded for a request whose connection a fault closed without an answer.
pub const DROPPED: u16 = 0;

/// Requests seen for one (method, route template, status); status 0 means the connection was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub count: u64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub requests: Vec<RequestCount>,
    pub total_requests: u64,
    pub rate_limited: u64,
    pub instances_created: u64,
    pub faults_fired: u64,
    pub dropped_connections: u64,
}

impl Stats {
    /// Requests for a method and route template (e.g. `/v1/instances/{id}`) that ended with `status`.
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.route == route && r.status == status)
            .map(|r| r.count)
            .sum()
    }

    /// All requests for a method and route template, whatever their status.
    pub fn count_route(&self, method: &str, route: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.route == route)
            .map(|r| r.count)
            .sum()
    }
}

/// One request as the journal keeps it (see [`EmulatorHandle::start_journal`]).
///
/// [`EmulatorHandle::start_journal`]: super::EmulatorHandle::start_journal
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When the answer was decided (the real time, not the emulator's clock).
    pub at: std::time::Instant,
    pub method: String,
    /// The concrete path, ids included.
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    pub rate_limited: u64,
    pub faults_fired: u64,
    pub dropped_connections: u64,
    /// Every request with its time and path, while a benchmark asks for it.
    journal: Option<Vec<Call>>,
}

impl Counters {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        *self
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        if status == DROPPED {
            self.dropped_connections += 1;
        }
        if status == 429 {
            self.rate_limited += 1;
        }
    }

    /// Keeps `path` in the journal, if one is kept.
    pub fn journal(&mut self, method: &str, path: &str, status: u16) {
        if let Some(journal) = &mut self.journal {
            journal.push(Call {
                at: std::time::Instant::now(),
                method: method.to_owned(),
                path: path.to_owned(),
                status,
            });
        }
    }

    /// Starts (or restarts) the journal, empty.
    pub fn start_journal(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// The journal so far; it goes on, empty.
    pub fn take_journal(&mut self) -> Vec<Call> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn snapshot(&self, instances_created: u64) -> Stats {
        Stats {
            requests: self
                .requests
                .iter()
                .map(|((method, route, status), count)| RequestCount {
                    method: method.clone(),
                    route: route.clone(),
                    status: *status,
                    count: *count,
                })
                .collect(),
            total_requests: self.requests.values().sum(),
            rate_limited: self.rate_limited,
            instances_created,
            faults_fired: self.faults_fired,
            dropped_connections: self.dropped_connections,
        }
    }
}
