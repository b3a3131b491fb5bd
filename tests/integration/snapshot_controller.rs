//! The AuraSnapshot controller end to end: the real `Controller` against the in-memory API
//! server and the Aura emulator, beside the AuraInstance controller it refers to.

use std::time::Duration;

use crate::support;
use crate::support::operator::{
    Operator, aura_status, condition, instance, is_ready, ready_reason, resource,
};
use aura_operator::aura::{InstanceId, SnapshotId};
use aura_operator::crd::{AuraInstance, AuraSnapshot};
use aura_operator::emulator::{Fault, SnapshotProfile, SnapshotStatus};
use http::Method;
use serde_json::json;

const TAKE: &str = "/v1/instances/*/snapshots";
const TAKE_ROUTE: &str = "/v1/instances/{id}/snapshots";

fn snapshot(name: &str, spec: serde_json::Value) -> serde_json::Value {
    resource("AuraSnapshot", name, spec)
}

/// An AuraInstance `name`, running, and its Aura id.
async fn running_instance(op: &Operator, name: &str) -> String {
    op.apply(instance(name, json!({}))).await;
    let ready = op.wait_for(name, "Ready", is_ready).await;
    ready.status.unwrap().instance_id.unwrap()
}

/// The instance's snapshots in Aura today.
async fn aura_snapshots(op: &Operator, id: &str) -> Vec<aura_operator::aura::Snapshot> {
    support::client(&op.emu)
        .snapshots(&InstanceId::new(id).unwrap())
        .list(None)
        .await
        .unwrap()
}

fn status(snap: &AuraSnapshot) -> &aura_operator::crd::AuraSnapshotStatus {
    snap.status.as_ref().unwrap()
}

#[tokio::test]
async fn a_snapshot_of_a_referenced_instance_is_taken_once_and_reported_completed() {
    let op = Operator::start().await;
    let id = running_instance(&op, "orders").await;
    op.create::<AuraSnapshot>(snapshot(
        "orders-now",
        json!({"instanceRef": {"name": "orders"}}),
    ))
    .await;
    let done = op
        .wait_for_any::<AuraSnapshot>("orders-now", "Ready", is_ready)
        .await;
    let st = status(&done);
    assert_eq!(st.instance_id.as_deref(), Some(id.as_str()));
    assert_eq!(st.status.as_ref().map(|s| s.as_str()), Some("Completed"));
    assert_eq!(st.profile.as_deref(), Some("AdHoc"));
    assert_eq!(st.exportable, Some(true));
    assert!(st.timestamp.is_some());
    assert!(st.create_intent.is_none(), "the intent is cleared");
    assert_eq!(condition(&done, "Ready").unwrap().reason, "Completed");
    let listed = aura_snapshots(&op, &id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        Some(listed[0].snapshot_id.to_string()),
        st.snapshot_id.clone()
    );
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
    let reasons = op.event_reasons();
    assert!(
        reasons.iter().any(|r| r == "SnapshotRequested"),
        "{reasons:?}"
    );
    // Settled: later passes read, never take again.
    op.after_passes("AuraSnapshot", 2).await;
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
}

#[tokio::test]
async fn a_snapshot_waits_while_the_instance_is_paused_and_is_taken_after_resume() {
    let op = Operator::start().await;
    op.apply(instance("sleepy", json!({"paused": true}))).await;
    op.wait_for("sleepy", "paused", |o: &AuraInstance| {
        is_ready(o) && aura_status(o) == Some("paused")
    })
    .await;
    op.create::<AuraSnapshot>(snapshot("nap", json!({"instanceRef": {"name": "sleepy"}})))
        .await;
    let waiting = op
        .wait_for_any::<AuraSnapshot>("nap", "waiting", |s| ready_reason(s, "InstancePaused"))
        .await;
    assert!(
        condition(&waiting, "Ready")
            .unwrap()
            .message
            .contains("paused")
    );
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 0);
    op.patch_spec("sleepy", json!({"paused": false})).await;
    op.wait_for_any::<AuraSnapshot>("nap", "Ready", is_ready)
        .await;
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
}

#[tokio::test]
async fn a_lost_answer_is_recognised_instead_of_taking_a_second_snapshot() {
    let op = Operator::start().await;
    let id = running_instance(&op, "lossy").await;
    // Aura takes the snapshot; its answer never arrives.
    op.emu
        .handle()
        .inject(Fault::on(Some(Method::POST), TAKE).times(1).drop_after());
    op.create::<AuraSnapshot>(snapshot("lost", json!({"instanceId": id})))
        .await;
    let done = op
        .wait_for_any::<AuraSnapshot>("lost", "Ready", is_ready)
        .await;
    let listed = aura_snapshots(&op, &id).await;
    assert_eq!(listed.len(), 1, "exactly one snapshot: {listed:?}");
    assert_eq!(
        status(&done).snapshot_id,
        Some(listed[0].snapshot_id.to_string())
    );
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
    assert!(op.event_reasons().iter().any(|r| r == "Recovered"));
}

#[tokio::test]
async fn throttling_server_errors_and_expired_tokens_converge_on_one_snapshot() {
    let op = Operator::start().await;
    let id = running_instance(&op, "faulty").await;
    let handle = op.emu.handle();
    handle.inject(
        Fault::on(Some(Method::POST), TAKE)
            .respond(429)
            .retry_after(1),
    );
    handle.inject(Fault::on(Some(Method::POST), TAKE).respond(503).times(2));
    handle.inject(
        Fault::on(Some(Method::GET), "/v1/instances/*/snapshots/*")
            .respond(500)
            .times(2),
    );
    handle.expire_all_tokens();
    op.create::<AuraSnapshot>(snapshot("bumpy", json!({"instanceId": id})))
        .await;
    op.wait_for_any::<AuraSnapshot>("bumpy", "Ready", is_ready)
        .await;
    assert_eq!(aura_snapshots(&op, &id).await.len(), 1);
}

#[tokio::test]
async fn a_restart_with_an_intent_but_no_snapshot_takes_exactly_one() {
    let mut op = Operator::stopped(support::fast_config(), support::operator::timing()).await;
    op.restart();
    let id = running_instance(&op, "base").await;
    op.crash().await;
    // A pass recorded its intent, then the operator stopped before asking Aura.
    op.create::<AuraSnapshot>(snapshot("half", json!({"instanceId": id})))
        .await;
    let since = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let intent = json!({"status": {"createIntent": {"instanceId": id, "since": since}}});
    op.snapshots()
        .patch_status(
            "half",
            &Default::default(),
            &kube::api::Patch::Merge(&intent),
        )
        .await
        .unwrap();
    op.restart();
    op.wait_for_any::<AuraSnapshot>("half", "Ready", is_ready)
        .await;
    assert_eq!(aura_snapshots(&op, &id).await.len(), 1);
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
}

#[tokio::test]
async fn an_older_ad_hoc_snapshot_is_never_taken_for_the_one_asked_for() {
    let mut op = Operator::stopped(support::fast_config(), support::operator::timing()).await;
    op.restart();
    let id = running_instance(&op, "busy").await;
    op.crash().await;
    // Someone took an on-demand snapshot a minute before this resource recorded its intent.
    let now = jiff::Timestamp::now();
    let earlier = now - jiff::SignedDuration::from_secs(60);
    let theirs = op
        .emu
        .handle()
        .add_snapshot(
            &id,
            SnapshotProfile::AdHoc,
            SnapshotStatus::Completed,
            earlier,
        )
        .unwrap();
    op.create::<AuraSnapshot>(snapshot("mine", json!({"instanceId": id})))
        .await;
    let intent = json!({"status": {"createIntent": {
        "instanceId": id, "since": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }}});
    op.snapshots()
        .patch_status(
            "mine",
            &Default::default(),
            &kube::api::Patch::Merge(&intent),
        )
        .await
        .unwrap();
    op.restart();
    let done = op
        .wait_for_any::<AuraSnapshot>("mine", "Ready", is_ready)
        .await;
    assert_ne!(status(&done).snapshot_id.as_deref(), Some(theirs.as_str()));
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 1);
}

#[tokio::test]
async fn a_restart_at_every_moment_of_taking_leaves_one_snapshot() {
    for kill_after in [0u64, 10, 25, 50, 100, 200] {
        let mut op = Operator::start().await;
        let id = running_instance(&op, "cycle").await;
        op.create::<AuraSnapshot>(snapshot(
            "cycle-snap",
            json!({"instanceRef": {"name": "cycle"}}),
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash_and_restart().await;
        let done = op
            .wait_for_any::<AuraSnapshot>("cycle-snap", "Ready", is_ready)
            .await;
        let listed = aura_snapshots(&op, &id).await;
        assert_eq!(listed.len(), 1, "killed after {kill_after} ms: {listed:?}");
        assert_eq!(
            status(&done).snapshot_id,
            Some(listed[0].snapshot_id.to_string()),
            "killed after {kill_after} ms"
        );
    }
}

#[tokio::test]
async fn an_existing_scheduled_snapshot_is_adopted_and_restores_an_instance_by_name() {
    let op = Operator::start().await;
    let id = running_instance(&op, "prod").await;
    let scheduled = op.scheduled_snapshot_of(&id);
    op.create::<AuraSnapshot>(snapshot(
        "nightly",
        json!({"instanceRef": {"name": "prod"}, "snapshotId": scheduled}),
    ))
    .await;
    let adopted = op
        .wait_for_any::<AuraSnapshot>("nightly", "Ready", is_ready)
        .await;
    assert_eq!(status(&adopted).profile.as_deref(), Some("Scheduled"));
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 0);
    assert!(op.event_reasons().iter().any(|r| r == "Adopted"));

    op.patch_spec(
        "prod",
        json!({"restore": {"requestId": "r1", "from": {"snapshotRef": {"name": "nightly"}}}}),
    )
    .await;
    let restored = op
        .wait_for("prod", "restored", |o| {
            is_ready(o)
                && o.status
                    .as_ref()
                    .and_then(|s| s.restore.as_ref())
                    .is_some_and(|r| {
                        r.phase == aura_operator::crd::instance::RestorePhase::Completed
                    })
        })
        .await;
    assert_eq!(
        restored.status.unwrap().instance_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        op.emu
            .handle()
            .stats()
            .count_route("POST", "/v1/instances/{id}/snapshots/{snapshot_id}/restore"),
        1
    );
}

#[tokio::test]
async fn a_clone_from_a_snapshot_ref_waits_until_the_snapshot_is_completed() {
    let op = Operator::start().await;
    op.apply(instance(
        "copy",
        json!({"source": {"snapshotRef": {"name": "later"}}}),
    ))
    .await;
    op.wait_for("copy", "waiting for its source", |o| {
        ready_reason(o, "SourceNotFound")
    })
    .await;
    assert_eq!(
        op.emu.handle().stats().count_route("POST", "/v1/instances"),
        0
    );
    let id = running_instance(&op, "original").await;
    op.create::<AuraSnapshot>(snapshot(
        "later",
        json!({"instanceRef": {"name": "original"}}),
    ))
    .await;
    op.wait_for_any::<AuraSnapshot>("later", "Ready", is_ready)
        .await;
    let copy = op.wait_for("copy", "Ready", is_ready).await;
    assert_ne!(
        copy.status.unwrap().instance_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        op.emu.handle().stats().count_route("POST", "/v1/instances"),
        2
    );
}

#[tokio::test]
async fn deleting_the_resource_leaves_the_snapshot_in_aura() {
    let op = Operator::start().await;
    let id = running_instance(&op, "keep").await;
    op.create::<AuraSnapshot>(snapshot("kept", json!({"instanceId": id})))
        .await;
    op.wait_for_any::<AuraSnapshot>("kept", "Ready", is_ready)
        .await;
    op.delete_any::<AuraSnapshot>("kept").await;
    op.wait_gone_any::<AuraSnapshot>("kept").await;
    assert_eq!(aura_snapshots(&op, &id).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_instance_or_snapshot_is_reported_on_its_field() {
    let op = Operator::start().await;
    op.create::<AuraSnapshot>(snapshot("nowhere", json!({"instanceId": "0badc0de"})))
        .await;
    let failed = op
        .wait_for_any::<AuraSnapshot>("nowhere", "rejected", |s| ready_reason(s, "InvalidSpec"))
        .await;
    let message = &condition(&failed, "Ready").unwrap().message;
    assert!(message.starts_with("spec.instanceId:"), "{message}");

    let id = running_instance(&op, "real").await;
    let missing = SnapshotId::new("6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10").unwrap();
    op.create::<AuraSnapshot>(snapshot(
        "ghost",
        json!({"instanceId": id, "snapshotId": missing.to_string()}),
    ))
    .await;
    let failed = op
        .wait_for_any::<AuraSnapshot>("ghost", "rejected", |s| ready_reason(s, "InvalidSpec"))
        .await;
    let message = &condition(&failed, "Ready").unwrap().message;
    assert!(message.starts_with("spec.snapshotId:"), "{message}");
    assert!(op.event_reasons().iter().any(|r| r == "InvalidSpec"));
    assert_eq!(op.emu.handle().stats().count_route("POST", TAKE_ROUTE), 0);
}
