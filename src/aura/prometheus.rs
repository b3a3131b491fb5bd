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

/// Names of the metrics the health summary reads: those of Aura's metrics reference
/// (shared/aura-api.md §10), each with its one aggregation noted.
pub mod names {
    /// MAX, cores.
    pub const CPU_USAGE: &str = "neo4j_aura_cpu_usage";
    /// MAX, cores.
    pub const CPU_LIMIT: &str = "neo4j_aura_cpu_limit";
    /// MAX, 0..1.
    pub const HEAP_USED_RATIO: &str = "neo4j_dbms_vm_heap_used_ratio";
    /// AVG, 0..1.
    pub const PAGE_CACHE_HIT_RATIO: &str = "neo4j_dbms_page_cache_hit_ratio_per_minute";
    /// MIN, 0..1.
    pub const PAGE_CACHE_USAGE_RATIO: &str = "neo4j_dbms_page_cache_usage_ratio";
    /// MAX, milliseconds.
    pub const QUERY_LATENCY_Q50: &str = "neo4j_db_query_execution_internal_latency_q50";
    /// MAX, milliseconds.
    pub const QUERY_LATENCY_Q99: &str = "neo4j_db_query_execution_internal_latency_q99";
    /// MAX.
    pub const CONNECTIONS_RUNNING: &str = "neo4j_dbms_bolt_connections_running";
    /// MAX.
    pub const CONNECTIONS_IDLE: &str = "neo4j_dbms_bolt_connections_idle";
    /// SUM, a counter.
    pub const OUT_OF_MEMORY_ERRORS: &str = "neo4j_aura_out_of_memory_errors_total";
    /// SUM, a counter.
    pub const QUERY_FAILURES: &str = "neo4j_db_query_execution_failure_total";
    /// SUM, a counter: a rate needs two scrapes.
    pub const QUERIES: &str = "neo4j_db_query_execution_success_total";

    /// Every metric [`super::InstanceHealth::from_metrics`] reads, in the order of
    /// [`super::InstanceHealth::missing`].
    pub const HEALTH: &[&str] = &[
        CPU_USAGE,
        CPU_LIMIT,
        HEAP_USED_RATIO,
        PAGE_CACHE_HIT_RATIO,
        PAGE_CACHE_USAGE_RATIO,
        QUERY_LATENCY_Q50,
        QUERY_LATENCY_Q99,
        CONNECTIONS_RUNNING,
        CONNECTIONS_IDLE,
        OUT_OF_MEMORY_ERRORS,
        QUERY_FAILURES,
    ];
}

/// A one-look summary of an instance's health, in the spirit of the Go client's.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHealth {
    pub instance_id: InstanceId,
    /// CPU usage as a share of the CPU limit.
    pub cpu_usage_percent: Option<f64>,
    /// JVM heap in use.
    pub heap_used_percent: Option<f64>,
    pub page_cache_hit_percent: Option<f64>,
    pub page_cache_usage_percent: Option<f64>,
    pub query_latency_q50_ms: Option<f64>,
    pub query_latency_q99_ms: Option<f64>,
    pub connections_running: Option<f64>,
    pub connections_idle: Option<f64>,
    /// Out-of-memory errors, a counter.
    pub out_of_memory_errors: Option<f64>,
    /// Failed queries, a counter.
    pub query_failures: Option<f64>,
    /// Only known when two scrapes were compared ([`InstanceHealth::from_scrapes`]).
    pub queries_per_second: Option<f64>,
    /// The health metrics ([`names::HEALTH`]) the scrape had no sample of for this instance.
    pub missing: Vec<&'static str>,
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

/// The value of `name` for `instance`. Aura sends each metric with one aggregation (label
/// `aggregation`, shared/aura-api.md §10), and database metrics once per database: with several
/// samples the health view takes the worst, i.e. the largest.
fn worst(metrics: &Metrics, instance: &InstanceId, name: &str) -> Option<f64> {
    let only = [("instance_id", instance.as_str())];
    metrics
        .matching(name, &only)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .reduce(f64::max)
}

impl InstanceHealth {
    /// Reads the health metrics of `instance` from one scrape and applies the thresholds:
    /// CPU over 80 % of the limit, heap over 85 %, page-cache hits under 50 %, any
    /// out-of-memory error, q99 latency over one second.
    pub fn from_metrics(instance: &InstanceId, metrics: &Metrics) -> Self {
        let get = |name| worst(metrics, instance, name);
        let cpu = get(names::CPU_USAGE)
            .zip(get(names::CPU_LIMIT))
            .filter(|(_, limit)| *limit > 0.0)
            .map(|(used, limit)| 100.0 * used / limit);
        let mut health = Self {
            instance_id: instance.clone(),
            cpu_usage_percent: cpu,
            heap_used_percent: get(names::HEAP_USED_RATIO).map(|r| 100.0 * r),
            page_cache_hit_percent: get(names::PAGE_CACHE_HIT_RATIO).map(|r| 100.0 * r),
            page_cache_usage_percent: get(names::PAGE_CACHE_USAGE_RATIO).map(|r| 100.0 * r),
            query_latency_q50_ms: get(names::QUERY_LATENCY_Q50),
            query_latency_q99_ms: get(names::QUERY_LATENCY_Q99),
            connections_running: get(names::CONNECTIONS_RUNNING),
            connections_idle: get(names::CONNECTIONS_IDLE),
            out_of_memory_errors: get(names::OUT_OF_MEMORY_ERRORS),
            query_failures: get(names::QUERY_FAILURES),
            queries_per_second: None,
            missing: names::HEALTH
                .iter()
                .copied()
                .filter(|name| get(name).is_none())
                .collect(),
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
        if let Some(heap) = self.heap_used_percent.filter(|m| *m > 85.0) {
            issues.push(format!("heap at {heap:.0}%: consider more memory"));
        }
        if let Some(hits) = self.page_cache_hit_percent.filter(|h| *h < 50.0) {
            issues.push(format!(
                "page cache hit rate {hits:.0}%: the working set does not fit in memory"
            ));
        }
        if let Some(oom) = self.out_of_memory_errors.filter(|n| *n > 0.0) {
            issues.push(format!(
                "{oom:.0} out-of-memory errors: consider more memory"
            ));
        }
        if let Some(q99) = self.query_latency_q99_ms.filter(|ms| *ms > 1000.0) {
            issues.push(format!("q99 query latency {q99:.0} ms"));
        }
        let anything = self.missing.len() < names::HEALTH.len();
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
neo4j_aura_cpu_usage{instance_id="c9f0d13a",aggregation="MAX"} 1.8 1700000000000
neo4j_aura_cpu_limit{instance_id="c9f0d13a",aggregation="MAX"} 2
neo4j_aura_cpu_usage{instance_id="0000aaaa",aggregation="MAX"} 0.1
neo4j_dbms_page_cache_hit_ratio_per_minute{instance_id="c9f0d13a",aggregation="AVG"} 0.4
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
        assert!(health.missing.contains(&names::QUERY_LATENCY_Q99));
        assert!(!health.missing.contains(&names::CPU_USAGE));

        let later = Metrics::parse(
            "neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"SUM\",database=\"neo4j\"} 700\n\
             neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"SUM\",database=\"system\"} 1",
        )
        .unwrap();
        let earlier = Metrics::parse(
            "neo4j_db_query_execution_success_total{instance_id=\"c9f0d13a\",aggregation=\"SUM\",database=\"neo4j\"} 100",
        )
        .unwrap();
        let rated =
            InstanceHealth::from_scrapes(&id, &earlier, &later, std::time::Duration::from_secs(60));
        assert_eq!(
            rated.queries_per_second,
            Some(10.0),
            "the busiest database, 600 queries in 60 s"
        );

        let other = InstanceId::new("0000aaaa").unwrap();
        let health = InstanceHealth::from_metrics(&other, &m);
        assert_eq!(health.cpu_usage_percent, None, "no limit reported for it");
        assert_eq!(health.missing.len(), names::HEALTH.len() - 1);
        assert_eq!(health.overall, HealthStatus::Healthy);
        let absent = InstanceId::new("0000bbbb").unwrap();
        let health = InstanceHealth::from_metrics(&absent, &m);
        assert_eq!(health.missing.len(), names::HEALTH.len());
        assert_eq!(health.overall, HealthStatus::Unknown);
    }
}
