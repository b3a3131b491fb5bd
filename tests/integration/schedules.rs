//! Calendar controls end to end, on the controllers' clock moved by the test (never by waiting):
//! pause and resume schedules in a time zone, Aura's own resume after 30 days paused, and expiry
//! of preview environments. Aura calls are counted on the emulator.

use std::time::Duration;

use crate::support::operator::{
    NS, Operator, aura_status, condition, instance, is_ready, ready_reason, user_patch,
};
use aura_operator::crd::AuraInstance;
use aura_operator::crd::instance::ScheduledState;
use jiff::Timestamp;
use kube::api::Patch;
use serde_json::json;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn count(op: &Operator, method: &str, route: &str) -> u64 {
    op.emu.handle().stats().count_route(method, route)
}

fn pauses(op: &Operator) -> u64 {
    count(op, "POST", "/v1/instances/{id}/pause")
}

fn resumes(op: &Operator) -> u64 {
    count(op, "POST", "/v1/instances/{id}/resume")
}

/// The notes of the Events with `reason`, oldest first.
fn notes(op: &Operator, reason: &str) -> Vec<String> {
    op.api
        .list("events.k8s.io", "events", Some(NS))
        .iter()
        .filter(|e| e["reason"] == reason)
        .filter_map(|e| e["note"].as_str().map(str::to_owned))
        .collect()
}

fn wants(obj: &AuraInstance) -> Option<ScheduledState> {
    Some(obj.status.as_ref()?.schedule.as_ref()?.wants)
}

fn expires_at(obj: &AuraInstance) -> Timestamp {
    obj.status
        .as_ref()
        .unwrap()
        .expiry
        .as_ref()
        .unwrap()
        .expires_at
        .0
}

fn instance_id(obj: &AuraInstance) -> String {
    obj.status.as_ref().unwrap().instance_id.clone().unwrap()
}

/// Weekday office hours in Berlin: paused from 20:00 to 07:00 and over the weekend.
fn office_hours() -> serde_json::Value {
    json!({"pause": "0 20 * * 1-5", "resume": "0 7 * * 1-5", "timeZone": "Europe/Berlin"})
}

async fn settled_in(op: &Operator, name: &str, status: &str) -> AuraInstance {
    let what = format!("Ready and {status}");
    op.wait_for(name, &what, |i| {
        is_ready(i) && aura_status(i) == Some(status)
    })
    .await
}

#[tokio::test]
async fn a_schedule_pauses_nights_and_resumes_mornings_in_its_time_zone() {
    let op = Operator::start().await;
    // Wednesday 2 December 2026, 19:59 in Berlin (UTC+1).
    op.clock.set(at("2026-12-02T18:59:00Z"));
    op.apply(instance("dev", json!({"schedule": office_hours()})))
        .await;
    let day = settled_in(&op, "dev", "running").await;
    let schedule = day.status.as_ref().unwrap().schedule.clone().unwrap();
    assert_eq!(schedule.wants, ScheduledState::Running);
    assert_eq!(schedule.next_pause.unwrap().0, at("2026-12-02T19:00:00Z"));
    assert_eq!(schedule.next_resume.unwrap().0, at("2026-12-03T06:00:00Z"));
    assert_eq!((pauses(&op), resumes(&op)), (0, 0));

    // 20:00 in Berlin: one pause, one Event, and Ready stays True (paused as scheduled).
    op.clock.advance(Duration::from_secs(61));
    let night = settled_in(&op, "dev", "paused").await;
    assert_eq!(wants(&night), Some(ScheduledState::Paused));
    assert!(
        ready_reason(&night, "Paused"),
        "{:?}",
        condition(&night, "Ready")
    );
    let paused = notes(&op, "SchedulePause");
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert!(
        paused[0].contains("2026-12-03T06:00:00Z"),
        "names the resume time: {paused:?}"
    );

    // Thursday 07:00 in Berlin: one resume.
    op.clock.set(at("2026-12-03T06:00:05Z"));
    settled_in(&op, "dev", "running").await;
    assert_eq!(notes(&op, "ScheduleResume").len(), 1);

    // Friday 20:00 to Monday 07:00: paused all weekend, with no call in between.
    op.clock.set(at("2026-12-04T19:00:05Z"));
    settled_in(&op, "dev", "paused").await;
    op.clock.set(at("2026-12-06T12:00:00Z"));
    op.after_passes("AuraInstance", 3).await;
    let sunday = op.instances().get("dev").await.unwrap();
    assert_eq!(aura_status(&sunday), Some("paused"));
    assert_eq!(
        sunday
            .status
            .as_ref()
            .unwrap()
            .schedule
            .as_ref()
            .unwrap()
            .next_resume
            .as_ref()
            .unwrap()
            .0,
        at("2026-12-07T06:00:00Z")
    );
    op.clock.set(at("2026-12-07T06:00:05Z"));
    settled_in(&op, "dev", "running").await;
    assert_eq!(
        (pauses(&op), resumes(&op)),
        (2, 2),
        "one call per transition"
    );

    // spec.paused wins: the Monday-evening pause and the Tuesday-morning resume change nothing.
    op.patch_spec("dev", json!({"paused": true})).await;
    settled_in(&op, "dev", "paused").await;
    op.clock.set(at("2026-12-07T19:00:05Z"));
    op.wait_for("dev", "the schedule says paused", |i| {
        wants(i) == Some(ScheduledState::Paused)
    })
    .await;
    op.clock.set(at("2026-12-08T06:00:05Z"));
    op.wait_for("dev", "the schedule says running", |i| {
        wants(i) == Some(ScheduledState::Running)
    })
    .await;
    op.after_passes("AuraInstance", 3).await;
    let held = op.instances().get("dev").await.unwrap();
    assert_eq!(aura_status(&held), Some("paused"));
    assert_eq!((pauses(&op), resumes(&op)), (3, 2));
    let resumed = notes(&op, "ScheduleResume");
    assert!(
        resumed
            .last()
            .unwrap()
            .contains("spec.paused is true and wins"),
        "{resumed:?}"
    );
}

#[tokio::test]
async fn a_schedule_aura_cannot_follow_is_refused_naming_the_field_before_any_create() {
    let op = Operator::start().await;
    // Five fields, so the CRD's pattern lets it through; hour 25 does not exist.
    let schedule = json!({"pause": "0 25 * * 1-5", "resume": "0 7 * * 1-5"});
    op.apply(instance("dev", json!({"schedule": schedule})))
        .await;
    let refused = op
        .wait_for("dev", "InvalidSpec", |i| ready_reason(i, "InvalidSpec"))
        .await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(message.contains("spec.schedule.pause"), "{message}");
    assert_eq!(count(&op, "POST", "/v1/instances"), 0);

    op.patch_spec(
        "dev",
        json!({"schedule": {"pause": "0 20 * * 1-5", "timeZone": "Mars/Olympus"}}),
    )
    .await;
    let refused = op
        .wait_for("dev", "InvalidSpec on timeZone", |i| {
            condition(i, "Ready").is_some_and(|c| c.message.contains("spec.schedule.timeZone"))
        })
        .await;
    assert!(ready_reason(&refused, "InvalidSpec"));
    assert_eq!(count(&op, "POST", "/v1/instances"), 0);
}

#[tokio::test]
async fn an_instance_aura_resumes_after_thirty_days_is_paused_again() {
    let op = Operator::start().await;
    op.apply(instance("idle", json!({"paused": true}))).await;
    let paused = settled_in(&op, "idle", "paused").await;
    let id = instance_id(&paused);
    assert_eq!((pauses(&op), resumes(&op)), (1, 0));

    // Aura's own clock: 30 days paused, and it resumes the instance by itself.
    op.emu
        .handle()
        .advance_clock(30 * DAY + Duration::from_secs(60));
    let warned = op
        .wait_for("idle", "the ResumedByAura Event", |_| {
            !notes(&op, "ResumedByAura").is_empty()
        })
        .await;
    assert_eq!(instance_id(&warned), id);
    // The Event comes before the status of its pass is written: wait for the pause itself.
    let again = op
        .wait_for("idle", "paused again", |i| {
            pauses(&op) == 2 && is_ready(i) && aura_status(i) == Some("paused")
        })
        .await;
    assert_eq!(instance_id(&again), id);
    assert_eq!(
        (pauses(&op), resumes(&op)),
        (2, 0),
        "paused once more, never resumed by the operator"
    );
    let warning = notes(&op, "ResumedByAura");
    assert_eq!(warning.len(), 1, "{warning:?}");
    assert!(warning[0].contains("30 days"), "{warning:?}");

    // A resume the operator makes itself (the spec asks) is not taken for Aura's.
    op.patch_spec("idle", json!({"paused": false})).await;
    settled_in(&op, "idle", "running").await;
    assert_eq!(notes(&op, "ResumedByAura").len(), 1);
}

#[tokio::test]
async fn an_expired_preview_deletes_itself_after_a_warning_and_deletion_policy_applies() {
    let op = Operator::start().await;
    op.apply(instance(
        "preview",
        json!({"expireAfter": "2h", "deletionPolicy": "Delete"}),
    ))
    .await;
    let ready = op.wait_for("preview", "Ready", is_ready).await;
    let id = instance_id(&ready);
    let created = ready.metadata.creation_timestamp.clone().unwrap().0;
    let expiry = ready.status.as_ref().unwrap().expiry.clone().unwrap();
    assert_eq!(
        expiry.expires_at.0,
        created
            .checked_add(jiff::SignedDuration::from_hours(2))
            .unwrap()
    );
    assert!(!expiry.warned);

    // Half an hour before (a quarter of two hours, shorter than an hour): one Warning, however
    // many passes come.
    op.clock.advance(Duration::from_secs(5400 - 120));
    op.after_passes("AuraInstance", 2).await;
    assert!(notes(&op, "ExpiresSoon").is_empty(), "not yet");
    op.clock.advance(Duration::from_secs(180));
    op.wait_for("preview", "warned", |i| {
        i.status
            .as_ref()
            .unwrap()
            .expiry
            .as_ref()
            .is_some_and(|e| e.warned)
    })
    .await;
    op.after_passes("AuraInstance", 3).await;
    let soon = notes(&op, "ExpiresSoon");
    assert_eq!(soon.len(), 1, "{soon:?}");
    assert!(soon[0].contains("deletionPolicy is Delete"), "{soon:?}");
    assert!(op.instances().get("preview").await.is_ok());

    // Past the time: the resource goes, and with Delete its instance too.
    op.clock.advance(Duration::from_secs(1800));
    op.wait_gone("preview").await;
    assert!(
        !op.emu
            .handle()
            .instances()
            .iter()
            .any(|i| i.id == id && i.status != "destroying"),
        "the instance is deleted in Aura"
    );
    let expired = notes(&op, "Expired");
    assert!(
        expired.iter().any(|n| n.contains("expireAfter 2h")),
        "{expired:?}"
    );
}

#[tokio::test]
async fn extending_expiry_keeps_the_resource_and_retain_keeps_the_instance() {
    let op = Operator::start().await;
    op.apply(instance("preview", json!({"expireAfter": "2h"})))
        .await;
    let ready = op.wait_for("preview", "Ready", is_ready).await;
    let id = instance_id(&ready);
    let first = expires_at(&ready);

    // Extended to a day before the two hours are up: the new time, a new warning later.
    op.patch_spec("preview", json!({"expireAfter": "1d"})).await;
    let extended = op
        .wait_for("preview", "a later expiresAt", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.expiry.as_ref())
                .is_some_and(|e| e.expires_at.0 > first)
        })
        .await;
    let later = expires_at(&extended);
    assert_eq!(
        later.duration_since(first),
        jiff::SignedDuration::from_hours(22)
    );
    op.clock.advance(Duration::from_secs(3 * 3600));
    op.after_passes("AuraInstance", 3).await;
    assert!(
        op.instances().get("preview").await.is_ok(),
        "not expired at 3h"
    );
    assert!(notes(&op, "ExpiresSoon").is_empty());

    // deletionPolicy Retain (the default): the resource goes at its time, the instance stays.
    op.clock.advance(DAY);
    op.wait_gone("preview").await;
    assert!(
        op.emu
            .handle()
            .instances()
            .iter()
            .any(|i| i.id == id && i.status == "running"),
        "Retain keeps the instance in Aura"
    );
    assert_eq!(count(&op, "DELETE", "/v1/instances/{id}"), 0);
}

#[tokio::test]
async fn a_suspended_resource_neither_expires_nor_follows_its_schedule() {
    let op = Operator::start().await;
    op.clock.set(at("2026-12-02T12:00:00Z"));
    op.apply(instance(
        "held",
        json!({"expireAfter": "1h", "schedule": office_hours()}),
    ))
    .await;
    settled_in(&op, "held", "running").await;
    let patch = json!({"metadata": {"annotations": {"aura.neo4j.io/suspend": "true"}}});
    op.instances()
        .patch("held", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    op.wait_for("held", "Suspended", |i| {
        condition(i, "Synced").is_some_and(|c| c.reason == "Suspended")
    })
    .await;
    op.clock.advance(DAY);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = op.instances().get("held").await.expect("still there");
    assert_eq!(aura_status(&held), Some("running"));
    assert_eq!(pauses(&op), 0);
}

/// The pass comes at the scheduled time, not at the next resync: with an hour between resyncs,
/// a pause due in seconds still happens within seconds.
#[tokio::test]
async fn a_scheduled_pause_comes_on_time_whatever_the_resync_interval() {
    let timing = aura_operator::controllers::Timing {
        resync: Duration::from_secs(3600),
        ..crate::support::operator::timing()
    };
    let op = Operator::start_with(crate::support::fast_config(), timing).await;
    // 15 s before 20:00 in Berlin: room for the create even on a loaded machine.
    op.clock.set(at("2026-12-02T18:59:45Z"));
    op.apply(instance("dev", json!({"schedule": office_hours()})))
        .await;
    settled_in(&op, "dev", "running").await;
    assert!(
        op.clock.now() < at("2026-12-02T19:00:00Z"),
        "created before 20:00"
    );
    let night = op
        .wait_for_within("dev", "paused at 20:00", Duration::from_secs(45), |i| {
            aura_status(i) == Some("paused")
        })
        .await;
    assert_eq!(wants(&night), Some(ScheduledState::Paused));
}
