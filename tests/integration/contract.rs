//! The contract with Aura as its other clients see it (issue 11): each test pins one behaviour
//! of the emulator, through our client where our client can express the call, and names the
//! section of shared/aura-api.md the fact comes from.

use std::time::Duration;

use crate::support::*;
use aura_operator::aura::{
    CloudProvider, CreateInstance, InstanceId, InstanceStatus, InstanceType, OverwriteStarted,
    SessionId, TenantId,
};
use aura_operator::emulator::{
    DEFAULT_TENANT_ID, EmulatorConfig, OverwriteAnswer, RunningEmulator,
};
use serde_json::{Value, json};

fn tenant() -> TenantId {
    TenantId::new(DEFAULT_TENANT_ID).unwrap()
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        invisible_after_create: Duration::ZERO,
        ..fast_config()
    }
}

fn create_request(name: &str, kind: InstanceType, memory: &str) -> CreateInstance {
    CreateInstance::new(
        name,
        tenant(),
        CloudProvider::Gcp,
        "europe-west1",
        kind,
        memory,
    )
}

/// Requests our client cannot express (it always sends `version`, never `database_uuid`),
/// sent as another client would.
struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    async fn new(emu: &RunningEmulator) -> Self {
        let _already = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let body: Value = http
            .post(emu.token_url())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http,
            base: emu.base_url(),
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn running(client: &aura_operator::aura::Client, id: &InstanceId) {
    client
        .wait_for_instance(id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
}

// shared/aura-api.md §10 ("Create `version`"): optional, default "5".
#[tokio::test]
async fn create_without_version_is_accepted_as_version_5() {
    let emu = start(config()).await;
    let raw = Raw::new(&emu).await;
    let (status, body) = raw
        .post(
            "/instances",
            json!({
                "name": "no-version", "tenant_id": DEFAULT_TENANT_ID, "cloud_provider": "gcp",
                "region": "europe-west1", "type": "professional-db", "memory": "2GB",
            }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = InstanceId::new(body["data"]["id"].as_str().unwrap()).unwrap();
    let client = client(&emu);
    assert_eq!(
        client.instances().get(&id).await.unwrap().name,
        "no-version"
    );
    // A version that is given must still be one the tenant offers.
    let (status, body) = raw
        .post(
            "/instances",
            json!({
                "name": "bad-version", "tenant_id": DEFAULT_TENANT_ID, "cloud_provider": "gcp",
                "region": "europe-west1", "type": "professional-db", "memory": "2GB",
                "version": "3",
            }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "version");
}

// shared/aura-api.md §10 ("GDS create"): `"ttl": ""` means not given, default 1 h (§5).
#[tokio::test]
async fn gds_create_with_an_empty_ttl_gets_the_default() {
    let emu = start(config()).await;
    let raw = Raw::new(&emu).await;
    let (status, body) = raw
        .post(
            "/graph-analytics/sessions",
            json!({
                "name": "go-style", "memory": "4GB", "ttl": "",
                "tenant_id": DEFAULT_TENANT_ID, "cloud_provider": "gcp", "region": "europe-west1",
            }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = SessionId::new(body["data"]["id"].as_str().unwrap()).unwrap();
    let client = client(&emu);
    let session = client.sessions().get(&id).await.unwrap();
    assert_eq!(session.ttl.as_deref(), Some("3600s"), "{session:?}");
}

// shared/aura-api.md §10 ("GDS create"): `database_uuid` is the Go client's `database_id`.
#[tokio::test]
async fn gds_create_accepts_database_uuid_and_echoes_both_names() {
    let emu = start(config()).await;
    let client = client(&emu);
    let id = client
        .instances()
        .create(&create_request("host", InstanceType::ProfessionalDb, "2GB"))
        .await
        .unwrap()
        .id;
    running(&client, &id).await;
    let raw = Raw::new(&emu).await;
    let (status, body) = raw
        .post(
            "/graph-analytics/sessions",
            json!({
                "name": "attached", "memory": "4GB", "instance_id": id.as_str(),
                "database_uuid": "db-7",
            }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["database_id"], "db-7");
    assert_eq!(body["data"]["database_uuid"], "db-7");
    let session_id = SessionId::new(body["data"]["id"].as_str().unwrap()).unwrap();
    let session = client.sessions().get(&session_id).await.unwrap();
    assert_eq!(session.database(), Some("db-7"));
}

async fn overwrite_answer(answer: Option<OverwriteAnswer>) -> OverwriteStarted {
    let emu = start(config()).await;
    if let Some(answer) = answer {
        emu.handle().set_overwrite_answer(answer);
    }
    let client = client(&emu);
    let mut ids = Vec::new();
    for name in ["source", "target"] {
        let id = client
            .instances()
            .create(&create_request(name, InstanceType::ProfessionalDb, "2GB"))
            .await
            .unwrap()
            .id;
        running(&client, &id).await;
        ids.push(id);
    }
    let started = client
        .instances()
        .overwrite_from_instance(&ids[1], &ids[0])
        .await
        .unwrap();
    // Whatever the answer, the overwrite happened.
    let target = client.instances().get(&ids[1]).await.unwrap();
    assert_eq!(target.status, InstanceStatus::Overwriting);
    running(&client, &ids[1]).await;
    started
}

// shared/aura-api.md §4.4 and §10 ("Overwrite answer"): the CLI's fixtures show the Instance
// object (the default); the Go client expects `{"data": "<job id>"}`. Our client takes both.
#[tokio::test]
async fn the_overwrite_answer_is_the_instance_by_default() {
    match overwrite_answer(None).await {
        OverwriteStarted::Instance(i) => assert_eq!(i.status, InstanceStatus::Overwriting),
        other => panic!("expected the Instance form, got {other:?}"),
    }
}

// shared/aura-api.md §4.4 and §10 ("Overwrite answer").
#[tokio::test]
async fn the_overwrite_answer_can_be_a_job_id() {
    match overwrite_answer(Some(OverwriteAnswer::Job)).await {
        OverwriteStarted::Job(job) => assert!(!job.is_empty()),
        other => panic!("expected the job-id form, got {other:?}"),
    }
}

// shared/aura-api.md §4.4 and §10: the same switch over the control API, for users' own CI.
#[tokio::test]
async fn the_overwrite_answer_is_a_run_time_setting_of_the_control_api() {
    let emu = start(config()).await;
    let http = reqwest::Client::new();
    let settings = format!("{}/_emulator/settings", emu.origin());
    let before: Value = http
        .get(&settings)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before["overwrite_answer"], "instance");
    let after: Value = http
        .patch(&settings)
        .json(&json!({ "overwrite_answer": "job" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["overwrite_answer"], "job");
    assert_eq!(
        emu.handle().settings().overwrite_answer,
        OverwriteAnswer::Job
    );
}

async fn running_instance_of(
    emu: &RunningEmulator,
    kind: InstanceType,
) -> (aura_operator::aura::Client, aura_operator::aura::Instance) {
    let client = client(emu);
    let id = client
        .instances()
        .create(&create_request("observed", kind, "4GB"))
        .await
        .unwrap()
        .id;
    let instance = client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    (client, instance)
}

// shared/aura-api.md §10 ("Metrics integration"): the reference's names, one aggregation each
// as label `aggregation`, `instance_id`, `database` on database metrics, and a timestamp.
#[tokio::test]
async fn metrics_use_the_reference_names_with_one_aggregation_each() {
    let emu = start(config()).await;
    let (client, instance) = running_instance_of(&emu, InstanceType::EnterpriseDb).await;
    let url = instance
        .metrics_integration_url
        .expect("enterprise-db has metrics");
    let metrics = client.prometheus().fetch(&url).await.unwrap();
    let expected = [
        ("neo4j_aura_out_of_memory_errors_total", "SUM"),
        ("neo4j_db_query_execution_success_total", "SUM"),
        ("neo4j_db_query_execution_failure_total", "SUM"),
        ("neo4j_aura_cpu_limit", "MAX"),
        ("neo4j_aura_cpu_usage", "MAX"),
        ("neo4j_dbms_vm_heap_used_ratio", "MAX"),
        ("neo4j_dbms_bolt_connections_running", "MAX"),
        ("neo4j_dbms_bolt_connections_idle", "MAX"),
        ("neo4j_db_query_execution_internal_latency_q50", "MAX"),
        ("neo4j_db_query_execution_internal_latency_q99", "MAX"),
        ("neo4j_database_count_node", "MAX"),
        ("neo4j_database_store_size_database", "MAX"),
        ("neo4j_dbms_page_cache_hit_ratio_per_minute", "AVG"),
        ("neo4j_dbms_page_cache_usage_ratio", "MIN"),
    ];
    for (name, aggregation) in expected {
        let samples: Vec<_> = metrics.matching(name, &[]).collect();
        assert_eq!(samples.len(), 1, "{name}: one sample, one aggregation");
        let labels = &samples[0].labels;
        assert_eq!(labels["aggregation"], aggregation, "{name}");
        assert_eq!(labels["instance_id"], instance.id.as_str(), "{name}");
        let database_metric = name.starts_with("neo4j_db_") || name.starts_with("neo4j_database_");
        assert_eq!(labels.contains_key("database"), database_metric, "{name}");
    }
    for invented in [
        "neo4j_db_query_execution_latency_millis",
        "neo4j_dbms_bolt_connections_max",
        "neo4j_aura_memory_usage_ratio",
        "neo4j_database_store_size_total_bytes",
    ] {
        assert!(
            metrics.matching(invented, &[]).next().is_none(),
            "{invented}"
        );
    }
    // Every sample line carries a timestamp (the parser keeps only the value).
    let text = reqwest::Client::new()
        .get(&url)
        .bearer_auth(Raw::new(&emu).await.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<&str> = line.rsplitn(3, ' ').collect();
        assert!(fields[0].parse::<u64>().is_ok(), "no timestamp: {line}");
    }

    // The health summary reads them all.
    let health = client
        .prometheus()
        .instance_health(&instance.id, &url)
        .await
        .unwrap();
    assert!(health.missing.is_empty(), "{health:?}");
    assert!(health.query_latency_q50_ms.is_some() && health.query_latency_q99_ms.is_some());
    assert!(health.connections_running.is_some() && health.connections_idle.is_some());
}

// shared/aura-api.md §10: plausible values that move over time (the emulator clock's minute).
#[tokio::test]
async fn metric_values_move_with_the_clock_and_counters_grow() {
    let emu = start(config()).await;
    let (client, instance) = running_instance_of(&emu, InstanceType::BusinessCritical).await;
    let url = instance
        .metrics_integration_url
        .expect("business-critical has metrics");
    let name = "neo4j_db_query_execution_success_total";
    let before = client.prometheus().fetch(&url).await.unwrap();
    let mut moved = false;
    let mut earlier = before.clone();
    for _ in 0..5 {
        emu.handle().advance_clock(Duration::from_secs(60));
        let later = client.prometheus().fetch(&url).await.unwrap();
        assert!(later.value(name, &[]).unwrap() > earlier.value(name, &[]).unwrap());
        let ratio = |m: &aura_operator::aura::Metrics| {
            m.value("neo4j_dbms_vm_heap_used_ratio", &[]).unwrap()
        };
        assert!((0.0..=1.0).contains(&ratio(&later)));
        moved |= ratio(&later) != ratio(&earlier);
        earlier = later;
    }
    assert!(moved, "the heap ratio never changed over five minutes");
    let health = aura_operator::aura::InstanceHealth::from_scrapes(
        &instance.id,
        &before,
        &earlier,
        Duration::from_secs(300),
    );
    assert!(health.queries_per_second.is_some_and(|q| q > 0.0));
}

// shared/aura-api.md §10: no metrics for other tiers; the emulator answers 400
// `tenant-incapable-of-action` (the reason §3 gives for the metrics integration), not 404.
#[tokio::test]
async fn metrics_are_refused_for_tiers_aura_does_not_offer_them_for() {
    let emu = start(config()).await;
    let (client, instance) = running_instance_of(&emu, InstanceType::ProfessionalDb).await;
    assert_eq!(instance.metrics_integration_url, None);
    let err = client
        .tenants()
        .metrics_integration(&tenant())
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("tenant-incapable-of-action"),
        "{err:?}"
    );
    let url = format!(
        "{}/api/v1/{DEFAULT_TENANT_ID}/{}/metrics",
        emu.origin(),
        instance.id
    );
    let err = client.prometheus().fetch(&url).await.unwrap_err();
    let shown = format!("{err:?}");
    assert!(
        shown.contains("400") && shown.contains("tenant-incapable-of-action"),
        "{shown}"
    );
}

// shared/aura-api.md §10 ("Sizing"): `POST /instances/sizing` with {node_count,
// relationship_count, algorithm_categories, instance_type} answers {did_exceed_maximum,
// min_required_memory, recommended_size}.
#[tokio::test]
async fn instance_sizing_answers_the_reference_shape() {
    use aura_operator::aura::{AlgorithmCategory, INSTANCE_MEMORY, InstanceSizingRequest};
    let emu = start(config()).await;
    let client = client(&emu);
    let small = client
        .instances()
        .sizing(&InstanceSizingRequest {
            node_count: 1_000_000,
            relationship_count: 5_000_000,
            algorithm_categories: vec![AlgorithmCategory::Centrality],
            instance_type: InstanceType::ProfessionalDs,
        })
        .await
        .unwrap();
    assert!(!small.did_exceed_maximum);
    assert!(
        INSTANCE_MEMORY.contains(&small.recommended_size.as_str()),
        "{small:?}"
    );
    assert!(small.min_required_memory.ends_with("GB"), "{small:?}");
    let huge = client
        .instances()
        .sizing(&InstanceSizingRequest {
            node_count: 100_000_000_000,
            relationship_count: 500_000_000_000,
            algorithm_categories: vec![AlgorithmCategory::NodeEmbedding],
            instance_type: InstanceType::EnterpriseDs,
        })
        .await
        .unwrap();
    assert!(huge.did_exceed_maximum, "{huge:?}");
    let stats = emu.handle().stats();
    assert_eq!(stats.count("POST", "/v1/instances/sizing", 200), 2);
}

async fn control_post(emu: &RunningEmulator, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator{path}", emu.origin()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

// shared/aura-api.md §6 and §10 ("Statuses that are neither running nor in flight"):
// `loading failed` and `suspended`, set over the control API, as our client sees them.
#[tokio::test]
async fn instances_can_be_put_in_loading_failed_and_suspended_over_the_control_api() {
    let emu = start(config()).await;
    let (client, instance) = running_instance_of(&emu, InstanceType::ProfessionalDb).await;
    for (status, expected) in [
        ("loading failed", InstanceStatus::LoadingFailed),
        ("suspended", InstanceStatus::Suspended),
    ] {
        let path = format!("/instances/{}/status", instance.id);
        let (code, body) = control_post(&emu, &path, json!({ "status": status })).await;
        assert_eq!(code, 200, "{body}");
        let seen = client.instances().get(&instance.id).await.unwrap();
        assert_eq!(seen.status, expected);
        assert!(client.instances().pause(&instance.id).await.is_err());
    }
}

// shared/aura-api.md §5 (snapshot statuses include `Failed`): on demand over the control API.
#[tokio::test]
async fn a_snapshot_can_be_made_failed_over_the_control_api() {
    let emu = start(config()).await;
    let (client, instance) = running_instance_of(&emu, InstanceType::ProfessionalDb).await;
    let snapshot = client.snapshots(&instance.id).create().await.unwrap();
    let path = format!("/snapshots/{snapshot}/status");
    let (code, body) = control_post(&emu, &path, json!({ "status": "Failed" })).await;
    assert_eq!(code, 200, "{body}");
    let seen = client
        .wait_for_snapshot(&instance.id, &snapshot, WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(seen.status, aura_operator::aura::SnapshotStatus::Failed);
    emu.handle().advance_clock(Duration::from_secs(3600));
    let later = client.snapshots(&instance.id).get(&snapshot).await.unwrap();
    assert_eq!(
        later.status,
        aura_operator::aura::SnapshotStatus::Failed,
        "it stays"
    );
    let (code, _) = control_post(
        &emu,
        "/snapshots/00000000-0000-4000-8000-000000000000/status",
        json!({ "status": "Failed" }),
    )
    .await;
    assert_eq!(code, 404);
}

// shared/aura-api.md §4.7 and §5: a session `Failed`, with the sibling `errors` entry.
#[tokio::test]
async fn a_session_can_be_made_failed_over_the_control_api() {
    use aura_operator::aura::{CreateSession, Placement, SessionStatus};
    let emu = start(config()).await;
    let client = client(&emu);
    let id = client
        .sessions()
        .create(&CreateSession {
            name: "doomed".into(),
            memory: "4GB".into(),
            ttl: None,
            placement: Placement::Standalone {
                tenant_id: tenant(),
                cloud_provider: CloudProvider::Gcp,
                region: "europe-west1".into(),
            },
        })
        .await
        .unwrap()
        .session
        .id;
    let path = format!("/sessions/{id}/status");
    let (code, body) = control_post(&emu, &path, json!({ "status": "Failed" })).await;
    assert_eq!(code, 200, "{body}");
    let session = client.sessions().get(&id).await.unwrap();
    assert_eq!(session.status, SessionStatus::Failed);
    assert_eq!(session.problems[0].reason, "OutOfMemory", "{session:?}");
    let (code, _) = control_post(&emu, &path, json!({ "status": "Ready" })).await;
    assert_eq!(code, 400, "only Failed can be set");
    assert!(client.sessions().delete(&id).await.unwrap());
}

/// Kills the child emulator however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Issue 11 and shared/aura-api.md §2 (base URL `https://api.neo4j.io/v1`, token endpoint not under
// `/v1`, §1): the banner of `aura-operator emulator` names the origin and the /v1 base URL apart,
// and both work for what they are labelled for.
#[tokio::test]
async fn the_emulator_banner_prints_a_working_origin_and_v1_base_url() {
    use std::io::BufRead;
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_aura-operator"))
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    while banner.len() < 5 {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no full banner; got {banner:?}"));
        banner.push(line);
    }
    let value = |label: &str| {
        banner
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no {label:?} in {banner:?}"))
            .to_owned()
    };
    let origin = value("origin");
    let base = value("API base URL");
    assert!(!origin.ends_with("/v1"), "{banner:?}");
    assert_eq!(base, format!("{origin}/v1"), "{banner:?}");
    assert_eq!(value("token URL"), format!("{origin}/oauth/token"));

    // Our client takes the base URL; a client that adds /v1 itself takes the origin.
    let credentials =
        aura_operator::aura::Credentials::new(value("client id"), CLIENT_SECRET.to_owned())
            .unwrap();
    let ours = aura_operator::aura::ClientBuilder::new(credentials)
        .base_url(base)
        .allow_insecure_http(true)
        .build()
        .unwrap();
    assert!(!ours.tenants().list().await.unwrap().is_empty());
    let _already = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(value("token URL"))
        .basic_auth(value("client id"), Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = http
        .get(format!("{origin}/v1/tenants"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

// shared/aura-api.md §10 ("Upgrade"): professional-db → business-critical in place; the body is
// empty, or names memory and storage together.
#[tokio::test]
async fn upgrade_takes_memory_and_storage_together_or_neither() {
    let emu = start(config()).await;
    let client = client(&emu);
    let created = client
        .instances()
        .create(&create_request(
            "tiered",
            InstanceType::ProfessionalDb,
            "2GB",
        ))
        .await
        .unwrap();
    running(&client, &created.id).await;
    let raw = Raw::new(&emu).await;
    let path = format!("/instances/{}/upgrade", created.id);
    let (status, body) = raw.post(&path, json!({"memory": "4GB"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "storage", "{body}");
    let (status, body) = raw
        .post(&path, json!({"memory": "4GB", "storage": "8GB"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["id"], created.id.to_string());
    assert_eq!(body["data"]["status"], "updating");
    assert_eq!(body["data"]["type"], "business-critical");
    assert_eq!(body["data"]["memory"], "4GB");
    running(&client, &created.id).await;
    let (status, body) = raw.post(&path, json!({})).await;
    assert_eq!(
        status, 400,
        "a business-critical instance is not upgraded again: {body}"
    );
    assert_eq!(
        body["errors"][0]["reason"], "upgrade-not-possible",
        "{body}"
    );
}
