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
use prometheus_client::registry::Registry;

use crate::aura::CallObserver;

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
pub struct StatusLabels {
    pub kind: &'static str,
    pub status: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub aura_requests: Family<AuraLabels, Counter>,
    pub aura_latency: Family<RouteLabels, Histogram>,
    pub budget_available: Family<CredentialLabels, Gauge>,
    pub budget_effective: Family<CredentialLabels, Gauge>,
    pub resources: Family<StatusLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aura_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconcile passes by kind and result (ok or error category)",
            reconciles.clone(),
        );
        let aura_requests = Family::<AuraLabels, Counter>::default();
        registry.register(
            "aura_requests",
            "Aura API requests by method, route template and result",
            aura_requests.clone(),
        );
        let aura_latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        registry.register(
            "aura_request_duration_seconds",
            "Aura API request latency by route template",
            aura_latency.clone(),
        );
        let budget_available = Family::<CredentialLabels, Gauge>::default();
        registry.register(
            "aura_rate_budget_available",
            "Aura requests the credential's budget admits right now",
            budget_available.clone(),
        );
        let budget_effective = Family::<CredentialLabels, Gauge>::default();
        registry.register(
            "aura_rate_budget_effective_per_minute",
            "Requests per minute the credential's budget allows now: the configured rate, or less while Aura answers 429",
            budget_effective.clone(),
        );
        let resources = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "resources",
            "Managed resources by kind and Aura status",
            resources.clone(),
        );
        Self {
            registry,
            reconciles,
            aura_requests,
            aura_latency,
            budget_available,
            budget_effective,
            resources,
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

    /// Sets the number of resources of `kind` in each status (all statuses of the kind at once).
    pub fn set_resources<'a>(
        &self,
        kind: &'static str,
        counts: impl IntoIterator<Item = (&'a str, i64)>,
    ) {
        for (status, count) in counts {
            self.resources
                .get_or_create(&StatusLabels {
                    kind,
                    status: status.to_owned(),
                })
                .set(count);
        }
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
        metrics.set_resources("AuraInstance", [("running", 3)]);
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
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
