//! Aura's Prometheus metrics integration: fetch an endpoint, read a value, sum up instance health.
//!
//! The endpoint (from an instance's `metrics_integration_url` or the tenant's metrics
//! integration) answers the Prometheus text format and wants the same bearer token as the API.

use std::collections::BTreeMap;

use url::Url;

use super::client::{Call, Client, Target};
use super::config::check_scheme;
use super::error::{Error, Result};
use super::ids::InstanceId;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape, samples grouped by metric name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub by_name: BTreeMap<String, Vec<Sample>>,
}

impl Metrics {
    /// Parses the Prometheus text exposition format. Lines that are not samples are skipped;
    /// a malformed sample line is an error naming its line number.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut metrics = Self::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line).map_err(|e| format!("line {}: {e}", number + 1))?;
            metrics
                .by_name
                .entry(sample.name.clone())
                .or_default()
                .push(sample);
        }
        Ok(metrics)
    }

    /// The value of `name` whose labels include all of `filter`. With several matches, the
    /// first is returned; an absent metric is `None`.
    pub fn value(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, filter).next().map(|s| s.value)
    }

    /// All samples of `name` whose labels include all of `filter`.
    pub fn matching<'a>(
        &'a self,
        name: &str,
        filter: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(move |s| {
                filter
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
    }
}

fn parse_sample(line: &str) -> std::result::Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("sample without a value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let value_text = rest
        .split_whitespace()
        .next()
        .ok_or("sample without a value")?;
    let value = match value_text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse().map_err(|_| format!("bad value {other:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Reads `key="value",…}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut text: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> std::result::Result<&'a str, String> {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = text.find('=').ok_or("label without '='")?;
        let key = text[..eq].trim();
        text = text[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = text.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated escape".into()),
                },
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        labels.insert(key.to_owned(), value);
        text = text[end + 1..].trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// Names of the metrics the health summary reads (Aura's metrics-integration names).
pub mod names {
    pub const CPU_USAGE: &str = "neo4j_aura_cpu_usage";
    pub const CPU_LIMIT: &str = "neo4j_aura_cpu_limit";
    pub const HEAP_USAGE_RATIO: &str = "neo4j_dbms_vm_heap_used_ratio";
    pub const PAGE_CACHE_HIT_RATIO: &str = "neo4j_dbms_page_cache_hit_ratio_per_minute";
    /// A counter: a rate needs two scrapes.
    pub const QUERIES: &str = "neo4j_db_query_execution_success_total";
    pub const QUERY_LATENCY_MS: &str = "neo4j_db_query_execution_latency_millis";
    pub const CONNECTIONS_RUNNING: &str = "neo4j_dbms_bolt_connections_running";
    pub const CONNECTIONS_MAX: &str = "neo4j_dbms_bolt_connections_max";
}

/// A one-look summary of an instance's health, in the spirit of the Go client's.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHealth {
    pub instance_id: InstanceId,
    pub cpu_usage_percent: Option<f64>,
    pub memory_usage_percent: Option<f64>,
    /// Only known when two scrapes were compared ([`Prometheus::instance_health_over`]).
    pub queries_per_second: Option<f64>,
    pub query_latency_ms: Option<f64>,
    pub connections_active: Option<f64>,
    pub connections_max: Option<f64>,
    pub page_cache_hit_percent: Option<f64>,
    /// `Healthy`, `Warning`, or `Unknown` when no health metric was present.
    pub overall: HealthStatus,
    /// One line per threshold crossed.
    pub issues: Vec<String>,
}

/// Overall verdict of [`InstanceHealth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Healthy,
    Warning,
    /// None of the health metrics were present.
    Unknown,
}

/// The value of `name` for `instance`. Aura reports each series once per `aggregation` (MAX,
/// MIN, AVG); the health view is a worst-case view, so MAX is used where it exists.
fn worst(metrics: &Metrics, instance: &InstanceId, name: &str) -> Option<f64> {
    let only = [("instance_id", instance.as_str())];
    let samples: Vec<&Sample> = metrics
        .matching(name, &only)
        .filter(|s| s.value.is_finite())
        .collect();
    let aggregated = samples.iter().any(|s| s.labels.contains_key("aggregation"));
    samples
        .iter()
        .filter(|s| !aggregated || s.labels.get("aggregation").map(String::as_str) == Some("MAX"))
        .map(|s| s.value)
        .reduce(f64::max)
}

impl InstanceHealth {
    /// Reads the health metrics of `instance` from one scrape and applies the thresholds:
    /// CPU over 80 %, heap over 85 %, connections over 80 % of the maximum, page-cache hits
    /// under 50 %.
    pub fn from_metrics(instance: &InstanceId, metrics: &Metrics) -> Self {
        let get = |name| worst(metrics, instance, name);
        let cpu = get(names::CPU_USAGE)
            .zip(get(names::CPU_LIMIT))
            .filter(|(_, limit)| *limit > 0.0)
            .map(|(used, limit)| 100.0 * used / limit);
        let mut health = Self {
            instance_id: instance.clone(),
            cpu_usage_percent: cpu,
            memory_usage_percent: get(names::HEAP_USAGE_RATIO).map(|r| 100.0 * r),
            queries_per_second: None,
            query_latency_ms: get(names::QUERY_LATENCY_MS),
            connections_active: get(names::CONNECTIONS_RUNNING),
            connections_max: get(names::CONNECTIONS_MAX),
            page_cache_hit_percent: get(names::PAGE_CACHE_HIT_RATIO).map(|r| 100.0 * r),
            overall: HealthStatus::Healthy,
            issues: Vec::new(),
        };
        health.assess();
        health
    }

    /// Like [`from_metrics`](Self::from_metrics) on `later`, plus the query rate from the
    /// query counter's growth since `earlier`, taken `elapsed` before.
    pub fn from_scrapes(
        instance: &InstanceId,
        earlier: &Metrics,
        later: &Metrics,
        elapsed: std::time::Duration,
    ) -> Self {
        let mut health = Self::from_metrics(instance, later);
        let secs = elapsed.as_secs_f64();
        health.queries_per_second = worst(earlier, instance, names::QUERIES)
            .zip(worst(later, instance, names::QUERIES))
            .filter(|_| secs > 0.0)
            // A counter that went down was reset; its new value is the growth since the reset.
            .map(|(before, after)| {
                if after >= before {
                    (after - before) / secs
                } else {
                    after / secs
                }
            });
        health
    }

    fn assess(&mut self) {
        let mut issues = Vec::new();
        if let Some(cpu) = self.cpu_usage_percent.filter(|c| *c > 80.0) {
            issues.push(format!(
                "CPU at {cpu:.0}% of the limit: consider a larger instance"
            ));
        }
        if let Some(mem) = self.memory_usage_percent.filter(|m| *m > 85.0) {
            issues.push(format!("heap at {mem:.0}%: consider more memory"));
        }
        if let (Some(active), Some(max)) = (self.connections_active, self.connections_max)
            && max > 0.0
            && active / max > 0.8
        {
            issues.push(format!(
                "{active:.0} of {max:.0} connections in use: check client pooling"
            ));
        }
        if let Some(hits) = self.page_cache_hit_percent.filter(|h| *h < 50.0) {
            issues.push(format!(
                "page cache hit rate {hits:.0}%: the working set does not fit in memory"
            ));
        }
        let anything = self.cpu_usage_percent.is_some()
            || self.memory_usage_percent.is_some()
            || self.page_cache_hit_percent.is_some()
            || self.connections_active.is_some();
        self.overall = match (anything, issues.is_empty()) {
            (false, _) => HealthStatus::Unknown,
            (true, true) => HealthStatus::Healthy,
            (true, false) => HealthStatus::Warning,
        };
        self.issues = issues;
    }
}

/// `client.prometheus()`.
pub struct Prometheus<'c> {
    pub(crate) client: &'c Client,
}

impl Prometheus<'_> {
    /// Fetches and parses a metrics endpoint.
    pub async fn fetch(&self, endpoint: &str) -> Result<Metrics> {
        let url = Url::parse(endpoint)
            .map_err(|e| Error::invalid("metrics_url", format!("{endpoint:?}: {e}")))?;
        check_scheme("metrics_url", &url, self.client.allow_insecure_http())?;
        let call = Call {
            target: Target::Absolute(url),
            ..Call::get("{metricsEndpoint}", String::new())
        };
        let reply = self.client.send(call).await?;
        let text =
            std::str::from_utf8(&reply.body).map_err(|e| reply.decode_error(e.to_string()))?;
        Metrics::parse(text).map_err(|e| reply.decode_error(e))
    }

    /// Fetches `endpoint` and sums up the health of `instance`.
    pub async fn instance_health(
        &self,
        instance: &InstanceId,
        endpoint: &str,
    ) -> Result<InstanceHealth> {
        let metrics = self.fetch(endpoint).await?;
        Ok(InstanceHealth::from_metrics(instance, &metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"
# HELP neo4j_aura_cpu_usage CPU usage (cores)
# TYPE neo4j_aura_cpu_usage gauge
neo4j_aura_cpu_usage{instance_id="c9f0d13a",aggregation="MAX"} 1.8
neo4j_aura_cpu_limit{instance_id="c9f0d13a"} 2
neo4j_aura_cpu_usage{instance_id="0000aaaa",aggregation="MAX"} 0.1
neo4j_dbms_page_cache_hit_ratio_per_minute{instance_id="c9f0d13a"} 0.4
neo4j_dbms_bolt_connections_running{instance_id="c9f0d13a",note="a \"quoted\", value"} 3 1700000000000
weird_metric +Inf
"#;

    #[test]
    fn text_format_parses_labels_escapes_and_timestamps() {
        let m = Metrics::parse(SCRAPE).unwrap();
        assert_eq!(
            m.value("neo4j_aura_cpu_usage", &[("instance_id", "0000aaaa")]),
            Some(0.1)
        );
        let conn = m
            .matching("neo4j_dbms_bolt_connections_running", &[])
            .next()
            .unwrap();
        assert_eq!(conn.labels["note"], "a \"quoted\", value");
        assert_eq!(conn.value, 3.0);
        assert_eq!(m.value("weird_metric", &[]), Some(f64::INFINITY));
        assert_eq!(m.value("absent", &[]), None);
    }

    #[test]
    fn malformed_lines_are_errors_with_a_line_number() {
        let err = Metrics::parse("ok 1\nbroken{a=\"x\" 2\n").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
        assert!(Metrics::parse("x notanumber").is_err());
    }

    #[test]
    fn health_flags_high_cpu_and_low_cache_hits_for_the_right_instance() {
        let m = Metrics::parse(SCRAPE).unwrap();
        let id = InstanceId::new("c9f0d13a").unwrap();
        let health = InstanceHealth::from_metrics(&id, &m);
        assert_eq!(health.cpu_usage_percent.map(|c| c.round()), Some(90.0));
        assert_eq!(health.overall, HealthStatus::Warning);
        assert_eq!(health.issues.len(), 2, "{:?}", health.issues);

        let later = Metrics::parse(
            "neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"MAX\"} 700\n\
             neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"MIN\"} 1",
        )
        .unwrap();
        let earlier = Metrics::parse(
            "neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"MAX\"} 100",
        )
        .unwrap();
        let rated =
            InstanceHealth::from_scrapes(&id, &earlier, &later, std::time::Duration::from_secs(60));
        assert_eq!(
            rated.queries_per_second,
            Some(10.0),
            "MAX series, 600 queries in 60 s"
        );

        let other = InstanceId::new("0000aaaa").unwrap();
        let health = InstanceHealth::from_metrics(&other, &m);
        assert_eq!(health.cpu_usage_percent, None, "no limit reported for it");
        assert_eq!(health.overall, HealthStatus::Unknown);
    }
}
