//! Lifecycle controls end to end: `managementPolicy: Observe` (read, report drift, change
//! nothing — for AuraInstance, AuraSnapshot and GdsSession) and the `aura.neo4j.io/suspend`
//! annotation (no Aura call at all), counted on the emulator's request statistics.

use std::time::Duration;

use crate::support::operator::{
    Operator, aura_status, condition, instance, is_ready, ready_reason, resource, secret_value,
    user_patch,
};
use aura_operator::crd::{AuraInstance, AuraSnapshot, GdsSession};
use aura_operator::emulator::DEFAULT_TENANT_ID;
use kube::api::Patch;
use serde_json::json;

const SUSPEND: &str = "aura.neo4j.io/suspend";

/// Aura requests that could change something: every method but GET, and but the token request
/// (a POST that reads a credential, changing nothing in Aura).
fn changing_calls(op: &Operator) -> u64 {
    op.emu
        .handle()
        .stats()
        .requests
        .iter()
        .filter(|r| r.method != "GET" && r.route != "/oauth/token")
        .map(|r| r.count)
        .sum()
}

fn count(op: &Operator, method: &str, route: &str) -> u64 {
    op.emu.handle().stats().count_route(method, route)
}

fn drifted(obj: &AuraInstance) -> Option<String> {
    condition(obj, "Drifted")
        .filter(|c| c.status == "True")
        .map(|c| c.message.clone())
}

/// Whether the Synced condition judged the resource's current generation with `reason`.
fn synced_now(obj: &AuraInstance, reason: &str) -> bool {
    condition(obj, "Synced")
        .is_some_and(|c| c.reason == reason && c.observed_generation == obj.metadata.generation)
}

async fn annotate(op: &Operator, name: &str, value: Option<&str>) {
    let patch = json!({"metadata": {"annotations": {SUSPEND: value}}});
    op.instances()
        .patch(name, &user_patch(), &Patch::Merge(&patch))
        .await
        .expect("annotated");
}

fn live(op: &Operator, id: &str) -> bool {
    op.emu
        .handle()
        .instances()
        .iter()
        .any(|i| i.id == id && i.status != "destroying")
}

#[tokio::test]
async fn observe_reports_drift_and_never_changes_aura_even_across_full_and_deletion() {
    let op = Operator::start().await;
    let (id, _password) = op.made_in_aura("watched").await;
    let before = changing_calls(&op);
    // Everything that would make a Full resource act: another memory, paused, Delete confirmed.
    let mut yaml = instance(
        "watcher",
        json!({"instanceId": id, "managementPolicy": "Observe", "memory": "4GB",
               "paused": true, "deletionPolicy": "Delete"}),
    );
    yaml["metadata"]["annotations"] = json!({"aura.neo4j.io/confirm-delete": id});
    op.apply(yaml).await;
    let seen = op
        .wait_for("watcher", "Drifted True", |o| {
            drifted(o).is_some() && ready_reason(o, "Drifted")
        })
        .await;
    let message = drifted(&seen).unwrap();
    assert!(
        message.contains(r#"memory: Aura has "2GB", the spec says "4GB""#),
        "{message}"
    );
    assert!(message.contains("paused"), "{message}");
    let status = seen.status.as_ref().unwrap();
    assert_eq!(status.instance_id.as_deref(), Some(id.as_str()));
    assert_eq!(status.memory.as_deref(), Some("2GB"), "status mirrors Aura");
    assert_eq!(aura_status(&seen), Some("running"));
    assert_eq!(status.password_stored, Some(false));
    let secret = op.secret("watcher-connection").expect("connection Secret");
    assert_eq!(
        secret_value(&secret, "AURA_INSTANCEID").as_deref(),
        Some(id.as_str())
    );
    assert!(secret_value(&secret, "NEO4J_URI").is_some());
    assert_eq!(secret_value(&secret, "NEO4J_PASSWORD"), None);
    assert!(op.event_reasons().iter().any(|r| r == "Drifted"));
    // Several resync passes (1 s apart in tests) compare again; none acts.
    op.after_passes("AuraInstance", 3).await;
    assert_eq!(
        changing_calls(&op),
        before,
        "Observe made a changing Aura call"
    );

    // Full: the operator now acts on the same drift, and the Drifted condition goes. (Ready
    // stays False: as for any adoption, nobody put the password in the Secret.)
    op.patch_spec("watcher", json!({"managementPolicy": "Full"}))
        .await;
    let full = op
        .wait_for_within(
            "watcher",
            "resized and paused",
            Duration::from_secs(30),
            |o| {
                ready_reason(o, "PasswordUnavailable")
                    && aura_status(o) == Some("paused")
                    && o.status.as_ref().and_then(|s| s.memory.as_deref()) == Some("4GB")
            },
        )
        .await;
    assert!(condition(&full, "Drifted").is_none(), "Full drops Drifted");
    assert_eq!(count(&op, "PATCH", "/v1/instances/{id}"), 1);
    assert_eq!(count(&op, "POST", "/v1/instances/{id}/pause"), 1);

    // Observe again, with a spec Aura does not match: reported, not acted on.
    op.patch_spec(
        "watcher",
        json!({"managementPolicy": "Observe", "memory": "8GB", "paused": false}),
    )
    .await;
    let again = op
        .wait_for("watcher", "drift of the new generation", |o| {
            drifted(o).is_some_and(|m| m.contains(r#""8GB""#) && m.contains("paused"))
                && synced_now(o, "ReconcileSucceeded")
        })
        .await;
    assert!(!is_ready(&again));
    let after_full = changing_calls(&op);
    op.after_passes("AuraInstance", 3).await;
    assert_eq!(
        changing_calls(&op),
        after_full,
        "Observe made a changing Aura call"
    );

    // Deleting an Observe resource changes nothing in Aura, whatever deletionPolicy says.
    op.delete("watcher").await;
    op.wait_gone("watcher").await;
    assert!(live(&op, &id), "the observed instance keeps running");
    assert_eq!(count(&op, "DELETE", "/v1/instances/{id}"), 0);
    assert_eq!(changing_calls(&op), after_full);
    assert!(
        op.secret("watcher-connection").is_some(),
        "its Secret is kept"
    );
}

#[tokio::test]
async fn observe_without_an_instance_id_is_invalid_and_calls_nothing() {
    // The API server's CEL rule refuses this; an object stored before the rule existed meets
    // the controller's own guard behind it.
    let op = Operator::start().await;
    op.create_past_cel::<AuraInstance>(instance(
        "nameless",
        json!({"managementPolicy": "Observe"}),
    ))
    .await;
    let seen = op
        .wait_for("nameless", "InvalidSpec", |o| {
            ready_reason(o, "InvalidSpec")
        })
        .await;
    let message = &condition(&seen, "Ready").unwrap().message;
    assert!(message.starts_with("spec.instanceId:"), "{message}");
    assert_eq!(op.emu.handle().stats().total_requests, 0);
    assert!(op.emu.handle().instances().is_empty(), "nothing created");
}

#[tokio::test]
async fn a_suspended_instance_makes_no_aura_call_until_the_annotation_goes() {
    let op = Operator::start().await;
    op.apply(instance("held", json!({}))).await;
    op.wait_for("held", "Ready", is_ready).await;
    annotate(&op, "held", Some("true")).await;
    op.wait_for("held", "Suspended", |o| synced_now(o, "Suspended"))
        .await;
    let calls = op.emu.handle().stats().total_requests;
    op.patch_spec("held", json!({"memory": "4GB"})).await;
    let held = op
        .wait_for("held", "the change judged as suspended", |o| {
            synced_now(o, "Suspended")
        })
        .await;
    assert!(is_ready(&held), "Ready keeps what the last real pass found");
    // Longer than a resync interval (1 s in tests): no poll either.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        op.emu.handle().stats().total_requests,
        calls,
        "a suspended resource called Aura"
    );
    assert!(op.event_reasons().iter().any(|r| r == "Suspended"));

    annotate(&op, "held", None).await;
    op.wait_for("held", "resized after resuming", |o| {
        is_ready(o) && o.status.as_ref().and_then(|s| s.memory.as_deref()) == Some("4GB")
    })
    .await;
    assert_eq!(count(&op, "PATCH", "/v1/instances/{id}"), 1);
    assert!(op.event_reasons().iter().any(|r| r == "Resumed"));
}

#[tokio::test]
async fn a_suspended_instance_being_deleted_waits_with_its_finalizer() {
    let op = Operator::start().await;
    op.apply(instance("doomed", json!({"deletionPolicy": "Delete"})))
        .await;
    let ready = op.wait_for("doomed", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();
    annotate(&op, "doomed", Some("true")).await;
    op.wait_for("doomed", "Suspended", |o| synced_now(o, "Suspended"))
        .await;
    op.delete("doomed").await;
    op.wait_for("doomed", "deletion waits", |o| {
        condition(o, "Synced").is_some_and(|c| c.message.contains("deletion waits"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = op.instances().get("doomed").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    assert!(
        still
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == "aura.neo4j.io/instance")),
        "the finalizer stays while suspended"
    );
    assert!(live(&op, &id));
    assert_eq!(count(&op, "DELETE", "/v1/instances/{id}"), 0);

    annotate(&op, "doomed", None).await;
    op.wait_gone("doomed").await;
    assert_eq!(count(&op, "DELETE", "/v1/instances/{id}"), 1);
}

#[tokio::test]
async fn a_snapshot_suspended_from_the_start_is_taken_only_once_resumed() {
    // Suspend is generic: the same check stops a kind that is not an AuraInstance.
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    op.wait_for("orders", "Ready", is_ready).await;
    let mut yaml = resource(
        "AuraSnapshot",
        "paused-snap",
        json!({"instanceRef": {"name": "orders"}}),
    );
    yaml["metadata"]["annotations"] = json!({SUSPEND: "true"});
    op.create::<AuraSnapshot>(yaml).await;
    let held = op
        .wait_for_any::<AuraSnapshot>("paused-snap", "Suspended", |o| {
            condition(o, "Synced").is_some_and(|c| c.reason == "Suspended")
        })
        .await;
    assert_eq!(
        condition(&held, "Ready").map(|c| c.reason.as_str()),
        Some("Suspended"),
        "a resource suspended before its first pass says so in Ready too"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&op, "POST", "/v1/instances/{id}/snapshots"), 0);

    let patch = json!({"metadata": {"annotations": {SUSPEND: null}}});
    op.snapshots()
        .patch("paused-snap", &user_patch(), &Patch::Merge(&patch))
        .await
        .expect("annotation removed");
    op.wait_for_any::<AuraSnapshot>("paused-snap", "Ready", is_ready)
        .await;
    assert_eq!(count(&op, "POST", "/v1/instances/{id}/snapshots"), 1);
}

/// Whether kstatus's Stalled condition is True with `reason`.
fn stalled_with<K: crate::support::operator::HasConditions>(obj: &K, reason: &str) -> bool {
    condition(obj, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
}

#[tokio::test]
async fn an_observed_snapshot_is_read_and_never_taken_even_on_deletion() {
    let op = Operator::start().await;
    let (id, _) = op.made_in_aura("nightly").await;
    let scheduled = op.scheduled_snapshot_of(&id);
    let before = changing_calls(&op);
    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "watched-snap",
        json!({"instanceId": id, "snapshotId": scheduled, "managementPolicy": "Observe"}),
    ))
    .await;
    let ready = op
        .wait_for_any::<AuraSnapshot>("watched-snap", "Ready", is_ready)
        .await;
    let status = ready.status.as_ref().unwrap();
    assert_eq!(status.snapshot_id.as_deref(), Some(scheduled.as_str()));
    assert_eq!(status.instance_id.as_deref(), Some(id.as_str()));
    assert_eq!(status.profile.as_deref(), Some("Scheduled"), "mirrors Aura");
    assert!(
        condition(&ready, "Ready")
            .unwrap()
            .message
            .contains("managementPolicy Observe")
    );
    assert!(op.event_reasons().iter().any(|r| r == "Observing"));
    op.after_passes("AuraSnapshot", 2).await;
    op.delete_any::<AuraSnapshot>("watched-snap").await;
    op.wait_gone_any::<AuraSnapshot>("watched-snap").await;
    assert_eq!(count(&op, "POST", "/v1/instances/{id}/snapshots"), 0);
    assert_eq!(
        changing_calls(&op),
        before,
        "Observe made a changing Aura call"
    );
}

#[tokio::test]
async fn an_observed_snapshot_aura_lacks_or_none_named_is_refused_and_none_is_taken() {
    let op = Operator::start().await;
    let (id, _) = op.made_in_aura("bare").await;
    let before = changing_calls(&op);
    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "phantom",
        json!({"instanceId": id, "managementPolicy": "Observe",
               "snapshotId": "00000000-0000-4000-8000-000000000000"}),
    ))
    .await;
    // The API server's CEL rule refuses Observe without snapshotId; one stored before the rule
    // existed meets the controller's own guard behind it.
    op.create_past_cel::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "unnamed",
        json!({"instanceId": id, "managementPolicy": "Observe"}),
    ))
    .await;
    for name in ["phantom", "unnamed"] {
        let refused = op
            .wait_for_any::<AuraSnapshot>(name, "InvalidSpec", |o| {
                ready_reason(o, "InvalidSpec") && stalled_with(o, "InvalidSpec")
            })
            .await;
        let message = &condition(&refused, "Ready").unwrap().message;
        assert!(message.starts_with("spec.snapshotId:"), "{name}: {message}");
    }
    op.after_passes("AuraSnapshot", 2).await;
    assert_eq!(count(&op, "POST", "/v1/instances/{id}/snapshots"), 0);
    assert_eq!(changing_calls(&op), before, "nothing is taken");
}

/// A standalone session made in Aura directly (as in the Aura console or by a GDS client): its
/// id.
async fn session_made_in_aura(op: &Operator, name: &str, ttl: Duration) -> String {
    use aura_operator::aura::{CloudProvider, CreateSession, Placement, TenantId};
    let request = CreateSession {
        name: name.to_owned(),
        memory: "4GB".to_owned(),
        ttl: Some(ttl),
        placement: Placement::Standalone {
            tenant_id: TenantId::new(DEFAULT_TENANT_ID).unwrap(),
            cloud_provider: CloudProvider::Gcp,
            region: "europe-west1".to_owned(),
        },
    };
    let created = crate::support::client(&op.emu)
        .sessions()
        .create(&request)
        .await
        .unwrap();
    created.session.id.to_string()
}

#[tokio::test]
async fn an_observed_session_is_read_and_never_recreated_or_deleted() {
    let op = Operator::start().await;
    let session_id = session_made_in_aura(&op, "console-analysis", Duration::from_secs(60)).await;
    let before = changing_calls(&op);

    // Observe it, expecting more memory than it has: reported, not acted on.
    op.create::<GdsSession>(resource(
        "GdsSession",
        "watcher",
        json!({"managementPolicy": "Observe", "name": "console-analysis",
               "tenantId": DEFAULT_TENANT_ID, "memory": "8GB", "expiredPolicy": "Recreate"}),
    ))
    .await;
    let seen = op
        .wait_for_any::<GdsSession>("watcher", "Drifted", |o| {
            ready_reason(o, "Drifted") && stalled_with(o, "Drifted")
        })
        .await;
    let drifted = condition(&seen, "Drifted").expect("Drifted condition");
    assert_eq!(drifted.status, "True");
    assert!(
        drifted
            .message
            .contains(r#"memory: Aura has "4GB", the spec says "8GB""#),
        "{}",
        drifted.message
    );
    let status = seen.status.as_ref().unwrap();
    assert_eq!(status.session_id.as_deref(), Some(session_id.as_str()));
    assert_eq!(status.memory.as_deref(), Some("4GB"), "status mirrors Aura");
    let secret = op.secret("watcher-gds").expect("session Secret");
    assert_eq!(
        secret_value(&secret, "GDS_SESSION_ID").as_deref(),
        Some(session_id.as_str())
    );
    assert!(op.event_reasons().iter().any(|r| r == "Observing"));
    op.after_passes("GdsSession", 3).await;
    assert_eq!(
        changing_calls(&op),
        before,
        "Observe made a changing Aura call"
    );

    // The session expires: reported, not recreated, whatever expiredPolicy says.
    op.emu.handle().advance_clock(Duration::from_secs(120));
    op.wait_for_any::<GdsSession>("watcher", "Expired", |o| ready_reason(o, "Expired"))
        .await;
    op.after_passes("GdsSession", 2).await;
    assert_eq!(changing_calls(&op), before, "Observe recreated the session");

    // Deleting the watcher deletes nothing in Aura (nobody else claims this session).
    op.delete_any::<GdsSession>("watcher").await;
    op.wait_gone_any::<GdsSession>("watcher").await;
    assert_eq!(count(&op, "DELETE", "/v1/graph-analytics/sessions/{id}"), 0);
    assert_eq!(changing_calls(&op), before);
}

#[tokio::test]
async fn observing_a_session_another_resource_manages_needs_no_claim() {
    let op = Operator::start().await;
    op.create::<GdsSession>(resource(
        "GdsSession",
        "owner",
        json!({"name": "shared-analysis", "tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp",
               "region": "europe-west1", "memory": "4GB"}),
    ))
    .await;
    let owner = op
        .wait_for_any::<GdsSession>("owner", "Ready", is_ready)
        .await;
    let session_id = owner.status.unwrap().session_id.unwrap();
    let before = changing_calls(&op);
    op.create::<GdsSession>(resource(
        "GdsSession",
        "onlooker",
        json!({"managementPolicy": "Observe", "name": "shared-analysis", "memory": "4GB"}),
    ))
    .await;
    let seen = op
        .wait_for_any::<GdsSession>("onlooker", "InSync", |o| {
            is_ready(o) && ready_reason(o, "InSync")
        })
        .await;
    assert_eq!(
        seen.status.as_ref().unwrap().session_id.as_deref(),
        Some(session_id.as_str())
    );
    let drifted = condition(&seen, "Drifted").expect("Drifted condition");
    assert_eq!(drifted.status, "False");
    // Later passes (1 s apart in tests) read the recorded session again, still without a claim.
    op.after_passes("GdsSession", 3).await;
    let later = op
        .sessions()
        .get("onlooker")
        .await
        .expect("onlooker still there");
    assert!(
        ready_reason(&later, "InSync"),
        "{:?}",
        condition(&later, "Ready")
    );
    assert!(
        !op.event_reasons().iter().any(|r| r == "AlreadyManaged"),
        "observing needs no claim"
    );
    op.delete_any::<GdsSession>("onlooker").await;
    op.wait_gone_any::<GdsSession>("onlooker").await;
    assert_eq!(changing_calls(&op), before);
    op.wait_for_any::<GdsSession>("owner", "still Ready", is_ready)
        .await;
}

#[tokio::test]
async fn an_observed_session_that_does_not_exist_is_stalled_and_nothing_is_created() {
    let op = Operator::start().await;
    op.create::<GdsSession>(resource(
        "GdsSession",
        "ghost",
        json!({"managementPolicy": "Observe", "name": "nowhere", "memory": "4GB"}),
    ))
    .await;
    // Without name (the CEL rule refuses it; one stored before the rule existed): the
    // controller's own guard.
    op.create_past_cel::<GdsSession>(resource(
        "GdsSession",
        "nameless",
        json!({"managementPolicy": "Observe"}),
    ))
    .await;
    let missing = op
        .wait_for_any::<GdsSession>("ghost", "SessionNotFound", |o| {
            ready_reason(o, "SessionNotFound") && stalled_with(o, "SessionNotFound")
        })
        .await;
    let message = &condition(&missing, "Ready").unwrap().message;
    assert!(message.contains(r#"named "nowhere""#), "{message}");
    assert!(message.contains("never creates"), "{message}");
    let nameless = op
        .wait_for_any::<GdsSession>("nameless", "InvalidSpec", |o| {
            ready_reason(o, "InvalidSpec")
        })
        .await;
    let message = &condition(&nameless, "Ready").unwrap().message;
    assert!(message.starts_with("spec.name:"), "{message}");
    op.after_passes("GdsSession", 2).await;
    for name in ["ghost", "nameless"] {
        op.delete_any::<GdsSession>(name).await;
        op.wait_gone_any::<GdsSession>(name).await;
    }
    assert_eq!(changing_calls(&op), 0, "Observe made a changing Aura call");
    assert!(op.secret("ghost-gds").is_none());
}
