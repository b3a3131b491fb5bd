//! Health as GitOps tools read it, through the real Controllers: each state an AuraInstance (and
//! a snapshot, a session) goes through must read right under kstatus's documented computation
//! (Flux) and under the Argo CD health script docs/src/install.md gives.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use serde_json::json;

use crate::support::operator::{
    HasConditions, Operator, aura_status, condition, instance, is_ready, ready_reason, resource,
};
use aura_operator::crd::{AuraInstance, AuraSnapshot, GdsSession};
use aura_operator::emulator::{InstanceStatus, SnapshotStatus, Timings};

/// kstatus's result for a resource (sigs.k8s.io/cli-utils `pkg/kstatus/status`), as Flux's
/// health checks use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KStatus {
    InProgress,
    Failed,
    Current,
}

fn is(conditions: &[Condition], type_: &str, status: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == status)
}

/// kstatus's generic computation, in its order: a status that has not seen the latest
/// generation is in progress; then `Reconciling` True is in progress and `Stalled` True has
/// failed; then `Ready` False is in progress and anything else current.
fn kstatus(generation: Option<i64>, observed: Option<i64>, conditions: &[Condition]) -> KStatus {
    if observed.is_some() && observed != generation {
        return KStatus::InProgress;
    }
    if is(conditions, "Reconciling", "True") {
        return KStatus::InProgress;
    }
    if is(conditions, "Stalled", "True") {
        return KStatus::Failed;
    }
    if is(conditions, "Ready", "False") {
        return KStatus::InProgress;
    }
    KStatus::Current
}

/// The Argo CD health script of docs/src/install.md (`resource.customizations.health.aura.neo4j.io_*`), the
/// same rules in Rust: Argo CD has no built-in health for these kinds.
fn argo_cd(
    generation: Option<i64>,
    observed: Option<i64>,
    conditions: &[Condition],
) -> &'static str {
    if is(conditions, "Stalled", "True") {
        return "Degraded";
    }
    if observed != generation || is(conditions, "Reconciling", "True") {
        return "Progressing";
    }
    if is(conditions, "Ready", "True") {
        return "Healthy";
    }
    "Progressing"
}

/// What both tools read from a resource.
fn read<K: Resource + HasConditions>(obj: &K, observed: Option<i64>) -> (KStatus, &'static str) {
    let generation = obj.meta().generation;
    let conditions = obj.conditions();
    (
        kstatus(generation, observed, conditions),
        argo_cd(generation, observed, conditions),
    )
}

fn read_instance(obj: &AuraInstance) -> (KStatus, &'static str) {
    read(obj, obj.status.as_ref().and_then(|s| s.observed_generation))
}

/// Stalled is never True beside Ready or Reconciling, and both are always written.
fn consistent<K: HasConditions>(obj: &K) {
    let conds = obj.conditions();
    for type_ in ["Reconciling", "Stalled"] {
        assert!(
            condition(obj, type_).is_some(),
            "{type_} is written: {conds:?}"
        );
    }
    if is(conds, "Stalled", "True") {
        assert!(!is(conds, "Ready", "True") && !is(conds, "Reconciling", "True"));
    }
}

fn instance_id(obj: &AuraInstance) -> String {
    obj.status.as_ref().unwrap().instance_id.clone().unwrap()
}

/// Aura transitions that last until the test moves the emulator clock.
const SLOW: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn an_instance_reads_in_progress_while_aura_works_and_current_once_there() {
    let op = Operator::start().await;
    op.emu.handle().set_timings(Timings::uniform(SLOW));
    op.apply(instance("orders", json!({}))).await;

    let creating = op
        .wait_for("orders", "creating, Reconciling", |i| {
            aura_status(i) == Some("creating") && is(i.conditions(), "Reconciling", "True")
        })
        .await;
    consistent(&creating);
    assert_eq!(
        read_instance(&creating),
        (KStatus::InProgress, "Progressing")
    );

    op.emu.handle().advance_clock(SLOW * 2);
    let running = op.wait_for("orders", "Ready", is_ready).await;
    consistent(&running);
    assert_eq!(read_instance(&running), (KStatus::Current, "Healthy"));
    assert!(is(running.conditions(), "Reconciling", "False"));
    assert!(is(running.conditions(), "Stalled", "False"));

    // A resize: whether or not a pass has acted on it yet, the tools see progress.
    op.patch_spec("orders", json!({"memory": "4GB"})).await;
    let just_changed = op.wait_for("orders", "read", |_| true).await;
    assert_eq!(read_instance(&just_changed).0, KStatus::InProgress);
    let resizing = op
        .wait_for("orders", "updating", |i| aura_status(i) == Some("updating"))
        .await;
    consistent(&resizing);
    assert_eq!(
        read_instance(&resizing),
        (KStatus::InProgress, "Progressing")
    );
    op.emu.handle().advance_clock(SLOW * 2);
    let resized = op
        .wait_for("orders", "Ready at 4GB", |i| {
            is_ready(i) && i.status.as_ref().unwrap().memory.as_deref() == Some("4GB")
        })
        .await;
    assert_eq!(read_instance(&resized), (KStatus::Current, "Healthy"));

    // Paused because the spec says so: healthy, not in progress, not stalled.
    op.patch_spec("orders", json!({"paused": true})).await;
    op.wait_for("orders", "pausing", |i| aura_status(i) == Some("pausing"))
        .await;
    op.emu.handle().advance_clock(SLOW * 2);
    let paused = op
        .wait_for("orders", "Ready Paused", |i| {
            ready_reason(i, "Paused") && is_ready(i)
        })
        .await;
    consistent(&paused);
    assert_eq!(read_instance(&paused), (KStatus::Current, "Healthy"));
}

#[tokio::test]
async fn loading_failed_and_suspended_instances_read_failed_until_aura_recovers() {
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    let ready = op.wait_for("orders", "Ready", is_ready).await;
    let id = instance_id(&ready);

    op.emu.handle().fail_loading(&id).unwrap();
    let failed = op
        .wait_for("orders", "Ready LoadingFailed", |i| {
            ready_reason(i, "LoadingFailed")
        })
        .await;
    consistent(&failed);
    assert!(!is_ready(&failed));
    assert_eq!(
        condition(&failed, "Stalled").unwrap().reason,
        "LoadingFailed"
    );
    assert_eq!(read_instance(&failed), (KStatus::Failed, "Degraded"));

    // Repaired in Aura: healthy again, Stalled False.
    op.emu
        .handle()
        .set_instance_status(&id, InstanceStatus::Running)
        .unwrap();
    let repaired = op.wait_for("orders", "Ready", is_ready).await;
    consistent(&repaired);
    assert_eq!(read_instance(&repaired), (KStatus::Current, "Healthy"));

    op.emu.handle().suspend(&id).unwrap();
    let suspended = op
        .wait_for("orders", "Ready AuraSuspended", |i| {
            ready_reason(i, "AuraSuspended")
        })
        .await;
    consistent(&suspended);
    assert_eq!(read_instance(&suspended), (KStatus::Failed, "Degraded"));
}

#[tokio::test]
async fn an_invalid_spec_reads_failed_for_its_generation() {
    let op = Operator::start().await;
    op.apply(instance("orders", json!({"memory": "3GB"}))).await;
    let invalid = op
        .wait_for("orders", "Ready InvalidSpec", |i| {
            ready_reason(i, "InvalidSpec")
        })
        .await;
    consistent(&invalid);
    let status = invalid.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, invalid.metadata.generation);
    assert!(is(invalid.conditions(), "Stalled", "True"));
    assert_eq!(read_instance(&invalid), (KStatus::Failed, "Degraded"));

    // Fixed: progress, then current.
    op.patch_spec("orders", json!({"memory": "2GB"})).await;
    let fixed = op.wait_for("orders", "Ready", is_ready).await;
    assert_eq!(read_instance(&fixed), (KStatus::Current, "Healthy"));
}

#[tokio::test]
async fn snapshots_and_sessions_carry_the_same_health() {
    let op = Operator::start().await;
    op.apply(instance("graph", json!({}))).await;
    op.wait_for("graph", "Ready", is_ready).await;

    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "nightly",
        json!({"instanceRef": {"name": "graph"}}),
    ))
    .await;
    let done = op
        .wait_for_any::<AuraSnapshot>("nightly", "Ready", is_ready)
        .await;
    consistent(&done);
    let observed = done.status.as_ref().and_then(|s| s.observed_generation);
    assert_eq!(read(&done, observed), (KStatus::Current, "Healthy"));

    op.create::<GdsSession>(resource(
        "GdsSession",
        "analysis",
        json!({"instanceRef": {"name": "graph"}, "memory": "8GB", "ttl": "30m"}),
    ))
    .await;
    let session = op
        .wait_for_any::<GdsSession>("analysis", "Ready", is_ready)
        .await;
    consistent(&session);
    let observed = session.status.as_ref().and_then(|s| s.observed_generation);
    assert_eq!(read(&session, observed), (KStatus::Current, "Healthy"));
    let session_id = session.status.as_ref().unwrap().session_id.clone().unwrap();

    op.emu
        .handle()
        .fail_session(&session_id, "OutOfMemory")
        .unwrap();
    let failed = op
        .wait_for_any::<GdsSession>("analysis", "SessionFailed", |s| {
            ready_reason(s, "SessionFailed")
        })
        .await;
    consistent(&failed);
    let observed = failed.status.as_ref().and_then(|s| s.observed_generation);
    assert_eq!(read(&failed, observed), (KStatus::Failed, "Degraded"));

    let snapshot_id = done.status.as_ref().unwrap().snapshot_id.clone().unwrap();
    op.emu
        .handle()
        .set_snapshot_status(&snapshot_id, SnapshotStatus::Failed)
        .unwrap();
    let broken = op
        .wait_for_any::<AuraSnapshot>("nightly", "SnapshotFailed", |s| {
            ready_reason(s, "SnapshotFailed")
        })
        .await;
    let observed = broken.status.as_ref().and_then(|s| s.observed_generation);
    assert_eq!(read(&broken, observed), (KStatus::Failed, "Degraded"));
}
