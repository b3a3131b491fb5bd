//! Prometheus metrics of the operator, served at `/metrics`.
//!
//! Labels are fixed words (a kind, an error category, a route template, a status), never text
//! from an error or a resource name, so the number of series stays small and stable.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

use crate::aura::{CallObserver, Priority};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: &'static str,
    /// `ok`, or the error category.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuraLabels {
    pub method: String,
    pub route: &'static str,
    /// The HTTP status, or `transport` when no response arrived.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    pub client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialPriorityLabels {
    pub client_id: String,
    /// `interactive` or `background`, as in [`PriorityLabels`].
    pub priority: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub kind: &'static str,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

/// A resource's Ready condition: its status (`True`, `False`, `Unknown`, or `None` before the
/// first pass) and reason (one of the closed list of [`crate::controllers::Reason`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    pub kind: &'static str,
    pub ready: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PriorityLabels {
    /// `interactive` (changes users made) or `background` (polls and drift checks).
    pub priority: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub kind: &'static str,
    pub reason: String,
}

/// What the operator reads off a cached resource for the gauges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Aura's status word, `pending` before the first observation; None for a kind without
    /// one (ClusterAuraCredential).
    pub status: Option<String>,
    /// The Ready condition's status and reason (`None` before the first pass).
    pub ready: String,
    pub reason: String,
    /// The Stalled condition's reason while it is True: only a person can help.
    pub stalled: Option<String>,
}

impl Seen {
    /// The Ready and Stalled parts, from a resource's conditions.
    pub fn of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Self {
        use crate::crd::conditions::{STALLED, find, is_true};
        let ready = find(conditions, crate::crd::conditions::READY);
        Self {
            status: None,
            ready: ready.map_or_else(|| "None".to_owned(), |c| c.status.clone()),
            reason: ready.map_or_else(|| "None".to_owned(), |c| c.reason.clone()),
            stalled: is_true(conditions, STALLED)
                .then(|| find(conditions, STALLED).map(|c| c.reason.clone()))
                .flatten(),
        }
    }
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    declared: Vec<(String, MetricType)>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub aura_requests: Family<AuraLabels, Counter>,
    pub aura_latency: Family<RouteLabels, Histogram>,
    pub budget_available: Family<CredentialLabels, Gauge>,
    pub budget_effective: Family<CredentialLabels, Gauge>,
    pub resources: Family<StatusLabels, Gauge>,
    pub resources_by_reason: Family<ReadyLabels, Gauge>,
    pub stalled: Family<ReasonLabels, Gauge>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub time_to_ready: Family<KindLabels, Histogram>,
    pub drift: Family<KindLabels, Counter>,
    pub budget_wait: Family<PriorityLabels, Histogram>,
    pub secret_writes: Family<KindLabels, Counter>,
    pub drift_check_gaps: Histogram,
    pub drift_check_interval: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub passes_waiting: Family<PriorityLabels, Gauge>,
    pub budget_admitted: Family<CredentialLabels, Counter>,
    pub budget_waiting: Family<CredentialPriorityLabels, Gauge>,
}

/// Registers families and remembers each one's name and type: an empty family is left out of
/// the exposition, yet dashboards and alerts may name it (see [`Metrics::series_names`]).
struct Declare {
    registry: Registry,
    declared: Vec<(String, MetricType)>,
}

impl Declare {
    fn add<M: Metric + TypedMetric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.registry.register(name, help, metric.clone());
        self.declared
            .push((format!("aura_operator_{name}"), M::TYPE));
        metric
    }
}

/// A family of histograms with the buckets `new` gives.
fn histograms<L>(new: fn() -> Histogram) -> Family<L, Histogram>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(new)
}

fn latency_buckets() -> Histogram {
    Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

fn pass_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

fn ready_buckets() -> Histogram {
    Histogram::new([
        1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
    ])
}

fn gap_buckets() -> Histogram {
    Histogram::new([
        10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ])
}

fn wait_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut d = Declare {
            registry: Registry::with_prefix("aura_operator"),
            declared: Vec::new(),
        };
        let reconciles = d.add(
            "reconciles",
            "Reconcile passes by kind and result (ok or error category)",
            Family::default(),
        );
        let aura_requests = d.add(
            "aura_requests",
            "Aura API requests by method, route template and result",
            Family::default(),
        );
        let aura_latency = d.add(
            "aura_request_duration_seconds",
            "Aura API request latency by route template",
            histograms(latency_buckets),
        );
        let budget_available = d.add(
            "aura_rate_budget_available",
            "Aura requests the credential's budget admits right now",
            Family::default(),
        );
        let budget_effective = d.add(
            "aura_rate_budget_effective_per_minute",
            "Requests per minute the credential's budget allows now: the configured rate, or less while Aura answers 429",
            Family::default(),
        );
        let budget_wait = d.add(
            "aura_rate_budget_wait_seconds",
            "Time an Aura request waited for its credential's rate budget, by priority",
            histograms(wait_buckets),
        );
        let resources = d.add(
            "resources",
            "Managed resources by kind and Aura status",
            Family::default(),
        );
        let resources_by_reason = d.add(
            "resources_ready",
            "Managed resources by kind and their Ready condition's status and reason",
            Family::default(),
        );
        let stalled = d.add(
            "resources_stalled",
            "Resources whose Stalled condition is True (only a person can help), by kind and reason",
            Family::default(),
        );
        let reconcile_duration = d.add(
            "reconcile_duration_seconds",
            "Time a reconcile pass takes, from its start to its status written, waits for the Aura budget included",
            histograms(pass_buckets),
        );
        let time_to_ready = d.add(
            "time_to_ready_seconds",
            "Time from a resource's creation to the first Ready the operator writes for it",
            histograms(ready_buckets),
        );
        let drift = d.add(
            "drift_detected",
            "Times Aura was found to differ from a spec that had not changed (put back under Full, reported under Observe)",
            Family::default(),
        );
        let secret_writes = d.add(
            "secret_writes",
            "Connection Secret (and ConfigMap) writes, by the kind of the resource they belong to",
            Family::default(),
        );
        let drift_check_gaps = d.add(
            "drift_check_gap_seconds",
            "Time between two looks at the same settled resource (the drift check); above --resync-seconds when the Aura budget cannot look at every resource that often",
            gap_buckets(),
        );
        let drift_check_interval = d.add(
            "drift_check_interval_seconds",
            "Median of the recent gaps between looks at settled resources: the drift-check interval achieved",
            Gauge::<f64, std::sync::atomic::AtomicU64>::default(),
        );
        let passes_waiting = d.add(
            "passes_waiting",
            "Passes waiting for a slot, by priority: interactive (changes) or background (polls, drift checks)",
            Family::default(),
        );
        let budget_admitted = d.add(
            "aura_rate_budget_admitted",
            "Requests the credential's rate budget let through; rate() x 60 / the effective rate is its utilisation",
            Family::default(),
        );
        let budget_waiting = d.add(
            "aura_rate_budget_waiting",
            "Aura requests queued for the credential's rate budget right now, by priority",
            Family::default(),
        );
        Self {
            registry: d.registry,
            declared: d.declared,
            reconciles,
            aura_requests,
            aura_latency,
            budget_available,
            budget_effective,
            resources,
            resources_by_reason,
            stalled,
            reconcile_duration,
            time_to_ready,
            drift,
            budget_wait,
            secret_writes,
            drift_check_gaps,
            drift_check_interval,
            passes_waiting,
            budget_admitted,
            budget_waiting,
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts a reconcile pass by how it ended: `ok`, `waiting` (for something that is not
    /// ready yet), or the reason it failed.
    pub fn reconciled(&self, kind: &'static str, result: &str) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind,
                result: result.to_owned(),
            })
            .inc();
    }

    /// Sets the gauges of `kind` from every cached resource of it: by Aura status, and by Ready
    /// status and reason. The caller clears the families first, so a status nobody has any more
    /// disappears instead of staying at its last count.
    pub fn set_resources(&self, kind: &'static str, seen: &[Seen]) {
        for item in seen {
            if let Some(status) = &item.status {
                self.resources
                    .get_or_create(&StatusLabels {
                        kind,
                        status: status.clone(),
                    })
                    .inc();
            }
            if let Some(reason) = &item.stalled {
                self.stalled
                    .get_or_create(&ReasonLabels {
                        kind,
                        reason: reason.clone(),
                    })
                    .inc();
            }
            self.resources_by_reason
                .get_or_create(&ReadyLabels {
                    kind,
                    ready: item.ready.clone(),
                    reason: item.reason.clone(),
                })
                .inc();
        }
    }

    /// Records a pass's duration.
    pub fn pass_took(&self, kind: &'static str, took: Duration) {
        self.reconcile_duration
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
    }

    /// Records the time from a resource's creation to its first Ready.
    pub fn first_ready(&self, kind: &'static str, after: Duration) {
        self.time_to_ready
            .get_or_create(&KindLabels { kind })
            .observe(after.as_secs_f64());
    }

    /// Counts a difference between Aura and an unchanged spec.
    pub fn drift_detected(&self, kind: &'static str) {
        self.drift.get_or_create(&KindLabels { kind }).inc();
    }

    /// Records the gap between two looks at one settled resource.
    pub fn drift_check_gap(&self, gap: Duration) {
        self.drift_check_gaps.observe(gap.as_secs_f64());
    }

    /// Sets the drift-check interval achieved lately.
    pub fn drift_check_interval(&self, seconds: f64) {
        self.drift_check_interval.set(seconds);
    }

    /// Counts a connection Secret or ConfigMap write.
    pub fn secret_written(&self, kind: &'static str) {
        self.secret_writes.get_or_create(&KindLabels { kind }).inc();
    }

    /// Every sample name `/metrics` can carry (counters with `_total`, histograms with
    /// `_bucket`, `_sum` and `_count`), empty families included: what a dashboard or an alert
    /// may name.
    pub fn series_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for (name, kind) in &self.declared {
            let suffixes: &[&str] = match kind {
                MetricType::Counter => &["_total"],
                MetricType::Histogram => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
        }
        names
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Feeds Aura client calls into the metrics.
pub struct AuraCallMetrics(pub Arc<Metrics>);

impl CallObserver for AuraCallMetrics {
    fn on_attempt(
        &self,
        method: &Method,
        route: &'static str,
        status: Option<StatusCode>,
        elapsed: Duration,
    ) {
        let result = status.map_or_else(|| "transport".to_owned(), |s| s.as_u16().to_string());
        self.0
            .aura_requests
            .get_or_create(&AuraLabels {
                method: method.to_string(),
                route,
                result,
            })
            .inc();
        self.0
            .aura_latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    fn on_budget_wait(&self, priority: Priority, waited: Duration) {
        let priority = match priority {
            Priority::Interactive => "interactive",
            Priority::Background => "background",
        };
        self.0
            .budget_wait
            .get_or_create(&PriorityLabels { priority })
            .observe(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_call_records_appear_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.reconciled("AuraInstance", "ok");
        metrics.reconciled("AuraInstance", "InvalidSpec");
        let observer = AuraCallMetrics(Arc::clone(&metrics));
        observer.on_attempt(
            &Method::GET,
            "/instances/{instanceId}",
            Some(StatusCode::OK),
            Duration::from_millis(40),
        );
        observer.on_attempt(&Method::POST, "/instances", None, Duration::from_millis(5));
        let running = Seen {
            status: Some("running".to_owned()),
            ready: "True".to_owned(),
            reason: "Running".to_owned(),
            stalled: None,
        };
        let refused = Seen {
            status: Some("pending".to_owned()),
            ready: "False".to_owned(),
            reason: "InvalidSpec".to_owned(),
            stalled: Some("InvalidSpec".to_owned()),
        };
        metrics.set_resources(
            "AuraInstance",
            &[running.clone(), running.clone(), running, refused],
        );
        observer.on_budget_wait(Priority::Background, Duration::from_secs(2));
        metrics.pass_took("AuraInstance", Duration::from_millis(30));
        metrics.first_ready("AuraInstance", Duration::from_secs(42));
        metrics.drift_detected("AuraInstance");
        metrics.secret_written("GdsSession");
        metrics
            .budget_effective
            .get_or_create(&CredentialLabels {
                client_id: "id-1".to_owned(),
            })
            .set(62);
        let text = metrics.encode();
        for line in [
            r#"aura_operator_reconciles_total{kind="AuraInstance",result="ok"} 1"#,
            r#"aura_operator_reconciles_total{kind="AuraInstance",result="InvalidSpec"} 1"#,
            r#"aura_operator_aura_requests_total{method="GET",route="/instances/{instanceId}",result="200"} 1"#,
            r#"aura_operator_aura_requests_total{method="POST",route="/instances",result="transport"} 1"#,
            r#"aura_operator_resources{kind="AuraInstance",status="running"} 3"#,
            r#"aura_operator_aura_rate_budget_effective_per_minute{client_id="id-1"} 62"#,
            r#"aura_operator_resources_ready{kind="AuraInstance",ready="True",reason="Running"} 3"#,
            r#"aura_operator_resources_stalled{kind="AuraInstance",reason="InvalidSpec"} 1"#,
            r#"aura_operator_aura_rate_budget_wait_seconds_count{priority="background"} 1"#,
            r#"aura_operator_reconcile_duration_seconds_count{kind="AuraInstance"} 1"#,
            r#"aura_operator_time_to_ready_seconds_sum{kind="AuraInstance"} 42.0"#,
            r#"aura_operator_drift_detected_total{kind="AuraInstance"} 1"#,
            r#"aura_operator_secret_writes_total{kind="GdsSession"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
