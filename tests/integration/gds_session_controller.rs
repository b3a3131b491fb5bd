//! The GdsSession controller end to end: the real `Controller` against the in-memory API server
//! and the Aura emulator, beside the AuraInstance controller it refers to.

use std::time::Duration;

use crate::support;
use crate::support::operator::{
    NS, Operator, aura_status, condition, instance, is_ready, ready_reason, resource, secret_value,
};
use aura_operator::aura::{Session, SessionFilter};
use aura_operator::crd::{AuraInstance, GdsSession};
use aura_operator::emulator::{DEFAULT_TENANT_ID, Fault};
use http::Method;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;

const CREATE: &str = "/v1/graph-analytics/sessions";

fn session(name: &str, spec: serde_json::Value) -> serde_json::Value {
    resource("GdsSession", name, spec)
}

fn standalone(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp", "region": "europe-west1"
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

async fn aura_sessions(op: &Operator) -> Vec<Session> {
    support::client(&op.emu)
        .sessions()
        .list(&SessionFilter::default())
        .await
        .unwrap()
}

fn status(obj: &GdsSession) -> &aura_operator::crd::GdsSessionStatus {
    obj.status.as_ref().unwrap()
}

fn creates(op: &Operator) -> u64 {
    op.emu.handle().stats().count_route("POST", CREATE)
}

#[tokio::test]
async fn an_attached_session_gets_one_secret_enough_for_a_gds_client() {
    let op = Operator::start().await;
    op.apply(instance("graph", json!({}))).await;
    let db = op.wait_for("graph", "Ready", is_ready).await;
    let instance_id = db.status.unwrap().instance_id.unwrap();
    op.create::<GdsSession>(session(
        "analysis",
        json!({"instanceRef": {"name": "graph"}, "memory": "8GB", "ttl": "30m"}),
    ))
    .await;
    let ready = op
        .wait_for_any::<GdsSession>("analysis", "Ready", is_ready)
        .await;
    let st = status(&ready);
    let id = st.session_id.clone().expect("session id recorded");
    assert!(id.starts_with(&instance_id), "{id}");
    assert_eq!(st.status.as_ref().map(|s| s.as_str()), Some("Ready"));
    assert_eq!(st.memory.as_deref(), Some("8GB"));
    assert_eq!(st.instance_id.as_deref(), Some(instance_id.as_str()));
    assert!(st.expires_at.is_some() && st.host.is_some());
    assert!(st.create_intent.is_none());
    assert_eq!(st.connection_secret.as_deref(), Some("analysis-gds"));
    let name = st.session_name.clone().unwrap();
    assert!(name.starts_with("default-analysis-"), "{name}");

    let secret = op.secret("analysis-gds").expect("session Secret");
    assert_eq!(secret_value(&secret, "GDS_SESSION_ID"), Some(id.clone()));
    let host = secret_value(&secret, "GDS_SESSION_HOST").unwrap();
    assert_eq!(
        secret_value(&secret, "GDS_SESSION_URI"),
        Some(format!("neo4j+s://{host}"))
    );
    let db_secret = op.secret("graph-connection").unwrap();
    for key in [
        "NEO4J_URI",
        "NEO4J_USERNAME",
        "NEO4J_PASSWORD",
        "AURA_INSTANCEID",
    ] {
        assert_eq!(
            secret_value(&secret, key),
            secret_value(&db_secret, key),
            "{key} copied from the instance's Secret"
        );
    }
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "GdsSession");

    let sessions = aura_sessions(&op).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ttl.as_deref(), Some("1800s"));
    assert_eq!(creates(&op), 1);
    let reasons = op.event_reasons();
    for reason in ["Created", "SecretWritten", "Ready"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} in {reasons:?}"
        );
    }
}

#[tokio::test]
async fn a_standalone_session_is_sized_by_aura_from_graph_statistics() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session(
        "sized",
        standalone(json!({"graph": {
            "nodeCount": 50_000_000, "relationshipCount": 200_000_000,
            "nodePropertyCount": 2, "algorithmCategories": ["node-embedding"]
        }})),
    ))
    .await;
    let ready = op
        .wait_for_any::<GdsSession>("sized", "Ready", is_ready)
        .await;
    let st = status(&ready);
    let estimate = st.estimate.clone().expect("estimate recorded");
    assert!(estimate.estimated_memory.ends_with("MiB"));
    assert_eq!(
        st.memory.as_deref(),
        Some(estimate.recommended_size.as_str())
    );
    assert_eq!(st.tenant_id.as_deref(), Some(DEFAULT_TENANT_ID));
    let sessions = aura_sessions(&op).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].memory, estimate.recommended_size);
    assert!(sessions[0].instance_id.is_none());
    assert_eq!(
        op.emu
            .handle()
            .stats()
            .count_route("POST", "/v1/graph-analytics/sessions/sizing"),
        1
    );
    let secret = op.secret("sized-gds").unwrap();
    assert!(secret_value(&secret, "NEO4J_PASSWORD").is_none());
}

#[tokio::test]
async fn deleting_the_resource_deletes_the_session_in_aura() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session("brief", standalone(json!({"memory": "4GB"}))))
        .await;
    op.wait_for_any::<GdsSession>("brief", "Ready", is_ready)
        .await;
    op.delete_any::<GdsSession>("brief").await;
    op.wait_gone_any::<GdsSession>("brief").await;
    assert!(aura_sessions(&op).await.is_empty());
    assert!(
        op.secret("brief-gds").is_none(),
        "the Secret is garbage-collected"
    );
}

#[tokio::test]
async fn deleting_an_owning_job_deletes_the_session_too() {
    let op = Operator::start().await;
    // A stand-in for the Job: any object whose deletion should end the session.
    let job: ConfigMap = op
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "train-job", "namespace": NS}}))
        .await;
    let mut obj = session("job-session", standalone(json!({"memory": "4GB"})));
    obj["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "train-job",
        "uid": job.metadata.uid.clone().unwrap()
    }]);
    op.create::<GdsSession>(obj).await;
    op.wait_for_any::<GdsSession>("job-session", "Ready", is_ready)
        .await;
    op.delete_any::<ConfigMap>("train-job").await;
    op.wait_gone_any::<GdsSession>("job-session").await;
    assert!(aura_sessions(&op).await.is_empty());
}

#[tokio::test]
async fn an_expired_session_is_reported_and_not_recreated_by_default() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session(
        "short",
        standalone(json!({"memory": "4GB", "ttl": "1m"})),
    ))
    .await;
    op.wait_for_any::<GdsSession>("short", "Ready", is_ready)
        .await;
    op.emu.handle().advance_clock(Duration::from_secs(120));
    let expired = op
        .wait_for_any::<GdsSession>("short", "Expired", |s| ready_reason(s, "Expired"))
        .await;
    assert_eq!(
        status(&expired).status.as_ref().map(|s| s.as_str()),
        Some("Expired")
    );
    assert!(
        condition(&expired, "Ready")
            .unwrap()
            .message
            .contains("expiredPolicy")
    );
    op.after_passes("GdsSession", 2).await;
    assert_eq!(creates(&op), 1, "no new session without Recreate");
    assert!(op.event_reasons().iter().any(|r| r == "Expired"));
}

/// On a real API server a write takes milliseconds; a deletion that came meanwhile superseded
/// the pass that had noticed the expiry, and its `Expired` Event was lost (issue 20). Here the
/// writes that follow the notice (the Event, the status) are slowed down as on a loaded
/// server, and the resource is deleted while the first of them is on its way.
#[tokio::test]
async fn a_session_deleted_as_its_expiry_is_noticed_still_reports_expired_once() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session(
        "fleeting",
        standalone(json!({"memory": "4GB", "ttl": "1m"})),
    ))
    .await;
    op.wait_for_any::<GdsSession>("fleeting", "Ready", is_ready)
        .await;
    let slow = Duration::from_millis(300);
    op.api
        .delay_next("create", "events.k8s.io", "events", 20, slow);
    op.api
        .delay_next("patch", "aura.neo4j.io", "gdssessions", 20, slow);
    op.emu.handle().advance_clock(Duration::from_secs(120));
    support::wait_for(
        "the first write after the expiry is noticed",
        Duration::from_secs(10),
        || match op.api.counters().delayed {
            0 => Err("no write yet".to_owned()),
            _ => Ok(()),
        },
    )
    .await;
    op.delete_any::<GdsSession>("fleeting").await;
    op.wait_gone_any::<GdsSession>("fleeting").await;
    let reasons = op.event_reasons();
    let expired = reasons.iter().filter(|r| *r == "Expired").count();
    assert_eq!(expired, 1, "Expired Events in {reasons:?}");
    assert!(
        aura_sessions(&op).await.is_empty(),
        "the deletion reached Aura"
    );
}

#[tokio::test]
async fn with_the_recreate_policy_an_expired_session_is_created_again() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session(
        "phoenix",
        standalone(json!({"memory": "4GB", "ttl": "1m", "expiredPolicy": "Recreate"})),
    ))
    .await;
    let first = op
        .wait_for_any::<GdsSession>("phoenix", "Ready", is_ready)
        .await;
    let first_id = status(&first).session_id.clone().unwrap();
    op.emu.handle().advance_clock(Duration::from_secs(120));
    let second = op
        .wait_for_any::<GdsSession>("phoenix", "Ready with a new session", |s| {
            is_ready(s)
                && s.status
                    .as_ref()
                    .and_then(|st| st.session_id.as_deref())
                    .is_some_and(|id| id != first_id)
        })
        .await;
    let second_id = status(&second).session_id.clone().unwrap();
    let secret = op.secret("phoenix-gds").unwrap();
    assert_eq!(secret_value(&secret, "GDS_SESSION_ID"), Some(second_id));
    assert!(op.event_reasons().iter().any(|r| r == "Recreating"));
}

#[tokio::test]
async fn a_session_waits_while_its_instance_is_paused() {
    let op = Operator::start().await;
    op.apply(instance("resting", json!({"paused": true}))).await;
    op.wait_for("resting", "paused", |o: &AuraInstance| {
        is_ready(o) && aura_status(o) == Some("paused")
    })
    .await;
    op.create::<GdsSession>(session(
        "patient",
        json!({"instanceRef": {"name": "resting"}, "memory": "4GB"}),
    ))
    .await;
    op.wait_for_any::<GdsSession>("patient", "waiting", |s| {
        ready_reason(s, "InstanceNotRunning")
    })
    .await;
    assert_eq!(creates(&op), 0);
    op.patch_spec("resting", json!({"paused": false})).await;
    op.wait_for_any::<GdsSession>("patient", "Ready", is_ready)
        .await;
}

#[tokio::test]
async fn a_lost_create_answer_and_server_errors_converge_on_one_session() {
    let op = Operator::start().await;
    let handle = op.emu.handle();
    handle.inject(Fault::on(Some(Method::POST), CREATE).drop_after());
    handle.inject(
        Fault::on(Some(Method::POST), CREATE)
            .respond(429)
            .retry_after(1),
    );
    handle.inject(Fault::on(Some(Method::GET), "/v1/graph-analytics/sessions/*").respond(503));
    handle.expire_all_tokens();
    op.create::<GdsSession>(session("rough", standalone(json!({"memory": "4GB"}))))
        .await;
    op.wait_for_any::<GdsSession>("rough", "Ready", is_ready)
        .await;
    assert_eq!(aura_sessions(&op).await.len(), 1);
}

#[tokio::test]
async fn a_restart_at_every_moment_of_creation_leaves_one_session() {
    for kill_after in [0u64, 10, 25, 50, 100, 200] {
        let mut op = Operator::start().await;
        op.create::<GdsSession>(session("cycle", standalone(json!({"memory": "4GB"}))))
            .await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash_and_restart().await;
        let ready = op
            .wait_for_any::<GdsSession>("cycle", "Ready", is_ready)
            .await;
        let sessions = aura_sessions(&op).await;
        assert_eq!(sessions.len(), 1, "killed after {kill_after} ms");
        assert_eq!(
            status(&ready).session_id,
            Some(sessions[0].id.to_string()),
            "killed after {kill_after} ms"
        );
    }
}

#[tokio::test]
async fn an_invalid_memory_size_is_reported_on_the_field_without_a_create() {
    let op = Operator::start().await;
    op.create::<GdsSession>(session("odd", standalone(json!({"memory": "3GB"}))))
        .await;
    let failed = op
        .wait_for_any::<GdsSession>("odd", "rejected", |s| ready_reason(s, "InvalidSpec"))
        .await;
    let message = &condition(&failed, "Ready").unwrap().message;
    assert!(message.starts_with("spec.memory:"), "{message}");
    assert_eq!(creates(&op), 0);
    assert!(op.event_reasons().iter().any(|r| r == "InvalidSpec"));
}

#[tokio::test]
async fn a_deletion_goes_ahead_of_polls_queued_for_the_aura_budget() {
    // One Aura request every ~0.1 s, and resyncs every 200 ms for 24 sessions: background
    // passes queue for the budget about 2 s deep.
    let timing = aura_operator::controllers::Timing {
        resync: Duration::from_millis(200),
        // Fewer slots than resources: most background passes wait for a slot, not only for
        // the budget, and the change must get past both queues.
        concurrency: 4,
        ..support::operator::timing()
    };
    let mut op = Operator::stopped(support::fast_config(), timing).await;
    op.budget = aura_operator::aura::RateLimit {
        per_minute: 600,
        burst: 1,
    };
    op.restart();
    let names: Vec<String> = (0..24).map(|i| format!("notebook-{i}")).collect();
    for name in &names {
        op.create::<GdsSession>(session(name, standalone(json!({"memory": "4GB"}))))
            .await;
    }
    for name in &names {
        op.wait_for_any::<GdsSession>(name, "Ready", is_ready).await;
    }
    // A round of resyncs: background passes now queue for the budget.
    op.after_passes("GdsSession", 24).await;
    let deletes = |op: &Operator| {
        op.emu
            .handle()
            .stats()
            .count_route("DELETE", "/v1/graph-analytics/sessions/{id}")
    };
    assert_eq!(deletes(&op), 0);

    let started = std::time::Instant::now();
    op.delete_any::<GdsSession>("notebook-7").await;
    let handle = op.emu.handle();
    support::wait_for(
        "the deletion to reach Aura",
        Duration::from_secs(10),
        || match handle
            .stats()
            .count_route("DELETE", "/v1/graph-analytics/sessions/{id}")
        {
            0 => Err("no DELETE".to_owned()),
            _ => Ok(()),
        },
    )
    .await;
    let waited = started.elapsed();
    // Behind the queue it would take about 2 s; ahead of it, two budget slots.
    assert!(
        waited < Duration::from_millis(1200),
        "the deletion waited {waited:?} behind background polls"
    );
    op.wait_gone_any::<GdsSession>("notebook-7").await;
}
