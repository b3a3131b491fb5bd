//! The operator's metrics follow what its controllers do: a new instance counts its passes,
//! its first Ready, its Secret write and its budget waits; a change made in the Aura console is
//! counted as drift; the Ready gauge follows the resource's reason.

use std::time::Duration;

use crate::support;
use crate::support::operator::{Operator, instance, is_ready};
use serde_json::json;

/// The value of the series `line_start` (metric name and labels), if the exposition has it.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn an_instance_is_counted_from_creation_to_ready_and_its_drift_too() {
    let op = Operator::start().await;
    op.apply(instance("counted", json!({}))).await;
    let ready = op.wait_for("counted", "Ready", is_ready).await;
    let text = op.refreshed_metrics();
    let kind = r#"{kind="AuraInstance"}"#;
    assert_eq!(
        value(
            &text,
            &format!("aura_operator_time_to_ready_seconds_count{kind}")
        ),
        Some(1.0),
        "one first Ready:\n{text}"
    );
    let passes = value(
        &text,
        &format!("aura_operator_reconcile_duration_seconds_count{kind}"),
    )
    .unwrap_or_default();
    assert!(passes >= 2.0, "the create's passes are timed: {passes}");
    assert_eq!(
        value(&text, &format!("aura_operator_secret_writes_total{kind}")),
        Some(1.0),
        "the connection Secret, written once"
    );
    assert_eq!(
        value(
            &text,
            r#"aura_operator_resources_ready{kind="AuraInstance",ready="True",reason="Running"}"#
        ),
        Some(1.0)
    );
    let waits = value(
        &text,
        r#"aura_operator_aura_rate_budget_wait_seconds_count{priority="interactive"}"#,
    )
    .unwrap_or_default();
    assert!(
        waits >= 1.0,
        "the create's calls waited for the budget (if only 0 s)"
    );
    assert_eq!(
        value(&text, &format!("aura_operator_drift_detected_total{kind}")),
        None,
        "no drift yet"
    );
    // The credential's budget queue, per priority: empty once the instance is Ready.
    let queued: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("aura_operator_aura_rate_budget_waiting{"))
        .collect();
    assert_eq!(queued.len(), 2, "one series per priority:\n{text}");
    for priority in ["interactive", "background"] {
        let line = queued
            .iter()
            .find(|line| line.contains(&format!(r#"priority="{priority}""#)))
            .unwrap_or_else(|| panic!("no {priority} queue: {queued:?}"));
        assert!(line.contains("client_id=\""), "{line}");
        assert!(line.ends_with(" 0"), "nothing queued after Ready: {line}");
    }

    // Someone resizes the instance in the Aura console; the resync puts it back.
    let id =
        aura_operator::aura::InstanceId::new(ready.status.unwrap().instance_id.unwrap()).unwrap();
    let change = aura_operator::aura::UpdateInstance {
        memory: Some("8GB".into()),
        ..Default::default()
    };
    let console = support::client(&op.emu);
    console.instances().update(&id, &change).await.unwrap();
    support::wait_for("the drift to be counted", Duration::from_secs(10), || {
        let text = op.metrics_text();
        match value(&text, &format!("aura_operator_drift_detected_total{kind}")) {
            Some(n) if n >= 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Putting memory back is not a first Ready again, whatever Ready did meanwhile.
    let text = op.metrics_text();
    assert_eq!(
        value(
            &text,
            &format!("aura_operator_time_to_ready_seconds_count{kind}")
        ),
        Some(1.0)
    );
}

fn exported_series() -> std::collections::BTreeSet<String> {
    aura_operator::metrics::Metrics::new().series_names()
}

/// Every `aura_operator_*` name in a PromQL text.
fn named_series(promql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = promql;
    while let Some(at) = rest.find("aura_operator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

fn chart_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/aura-operator/files")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_dashboard_and_the_alerts_name_only_exported_metrics() {
    let exported = exported_series();
    assert!(
        exported.contains("aura_operator_reconciles_total"),
        "{exported:?}"
    );
    let dashboard: serde_json::Value = serde_json::from_str(&chart_file("dashboard.json")).unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        queries.extend(
            targets
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_owned()),
        );
    }
    let alerts: serde_json::Value = serde_norway::from_str(&chart_file("alerts.yaml")).unwrap();
    for rule in alerts["groups"][0]["rules"].as_array().expect("rules") {
        queries.push(rule["expr"].as_str().unwrap().to_owned());
    }
    let mut unknown = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for query in &queries {
        for name in named_series(query) {
            if !exported.contains(&name) {
                unknown.push(format!("{name} in {query}"));
            }
            used.insert(name);
        }
    }
    assert!(unknown.is_empty(), "not exported: {unknown:#?}");
    // Issues 23 and 24's lists: each of them is on the dashboard or in an alert.
    for wanted in [
        "aura_operator_reconcile_duration_seconds_bucket",
        "aura_operator_time_to_ready_seconds_bucket",
        "aura_operator_resources_ready",
        "aura_operator_drift_detected_total",
        "aura_operator_aura_request_duration_seconds_bucket",
        "aura_operator_aura_rate_budget_wait_seconds_bucket",
        "aura_operator_secret_writes_total",
        "aura_operator_drift_check_interval_seconds",
        "aura_operator_drift_check_gap_seconds_bucket",
        "aura_operator_passes_waiting",
        "aura_operator_aura_rate_budget_admitted_total",
        "aura_operator_aura_rate_budget_waiting",
    ] {
        assert!(used.contains(wanted), "{wanted} is shown nowhere");
    }
}

#[test]
fn the_name_check_catches_a_misspelt_metric() {
    assert_eq!(
        named_series("rate(aura_operator_reconcile_total[5m]) / aura_operator_resources"),
        ["aura_operator_reconcile_total", "aura_operator_resources"]
    );
    assert!(!exported_series().contains("aura_operator_reconcile_total"));
}
