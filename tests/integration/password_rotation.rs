//! Password rotation (issue 22): on demand by annotation and on a schedule, escrowed in the
//! Secret before the database changes it, and finished after a restart at any step.

use std::time::Duration;

use crate::support::operator::{Operator, condition, instance, secret_value, user_patch};
use aura_operator::crd::AuraInstance;
use aura_operator::database::{self, DatabaseError, Login};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Patch;
use secrecy::SecretString;
use serde_json::json;

const PENDING: &str = "aura-operator.pending-password";
const ROTATE: &str = "aura.neo4j.io/rotate-password";

fn password(secret: &Secret) -> String {
    secret_value(secret, "NEO4J_PASSWORD").expect("a password in the Secret")
}

fn content_hash(secret: &Secret) -> String {
    secret.metadata.annotations.as_ref().unwrap()["aura.neo4j.io/content-hash"].clone()
}

fn handled(obj: &AuraInstance) -> Option<String> {
    obj.status
        .as_ref()?
        .password_rotation
        .as_ref()?
        .handled_request
        .clone()
}

fn refused(obj: &AuraInstance) -> Option<String> {
    obj.status
        .as_ref()?
        .password_rotation
        .as_ref()?
        .refused
        .clone()
}

/// Logs in to the instance of `secret` with `password`, as an application would.
async fn log_in(op: &Operator, secret: &Secret, password: &str) -> Result<(), DatabaseError> {
    let login = Login {
        uri: secret_value(secret, "NEO4J_URI").unwrap(),
        username: "neo4j".to_owned(),
        password: SecretString::from(password.to_owned()),
    };
    database::verify(&op.database, &login).await
}

/// Waits for an Event with `reason` (published right after the status write of its pass).
async fn event(op: &Operator, reason: &str) {
    crate::support::wait_for(reason, Duration::from_secs(10), || {
        let seen = op.event_reasons().iter().any(|r| r == reason);
        if seen {
            Ok(())
        } else {
            Err("no such Event yet".to_owned())
        }
    })
    .await;
}

async fn annotate(op: &Operator, name: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {ROTATE: value}}});
    op.instances()
        .patch(name, &user_patch(), &Patch::Merge(&patch))
        .await
        .expect("annotated");
}

async fn verified(op: &Operator, name: &str) -> AuraInstance {
    op.wait_for(name, "ConnectionVerified True", |obj| {
        condition(obj, "ConnectionVerified").is_some_and(|c| c.status == "True")
    })
    .await
}

/// Waits until the rotation asked as `value` is published: handled, no pending key left.
async fn rotated(op: &Operator, name: &str, value: &str) -> Secret {
    op.wait_for(name, "rotation handled", |obj| {
        handled(obj).as_deref() == Some(value)
    })
    .await;
    published(op, name).await
}

/// Waits until the Secret of `name` holds no pending password.
async fn published(op: &Operator, name: &str) -> Secret {
    crate::support::wait_for("the pending key to go", Duration::from_secs(10), || {
        let secret = op
            .secret(&format!("{name}-connection"))
            .ok_or("no Secret")?;
        let pending = secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(PENDING));
        if pending {
            Err("still pending".to_owned())
        } else {
            Ok(secret)
        }
    })
    .await
}

#[tokio::test]
async fn a_new_annotation_value_rotates_the_password_and_publishes_it() {
    let op = Operator::start_verifying().await;
    op.apply(instance("rotating", json!({}))).await;
    verified(&op, "rotating").await;
    let before = op.secret("rotating-connection").unwrap();
    let old = password(&before);

    annotate(&op, "rotating", "first").await;
    let after = rotated(&op, "rotating", "first").await;
    let new = password(&after);
    assert_ne!(new, old);
    assert!(new.len() >= 32 && new.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(
        content_hash(&after),
        content_hash(&before),
        "consumers see a change"
    );
    log_in(&op, &after, &new)
        .await
        .expect("the new password logs in");
    let refused_old = log_in(&op, &after, &old).await;
    assert!(
        matches!(refused_old, Err(DatabaseError::Unauthorized(_))),
        "{refused_old:?}"
    );
    event(&op, "PasswordRotated").await;
    let obj = verified(&op, "rotating").await;
    assert!(
        obj.status
            .unwrap()
            .password_rotation
            .unwrap()
            .last_rotated
            .is_some()
    );

    // The same value again asks for nothing; a new one rotates once more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(password(&op.secret("rotating-connection").unwrap()), new);
    annotate(&op, "rotating", "second").await;
    let again = rotated(&op, "rotating", "second").await;
    assert_ne!(password(&again), new);
}

#[tokio::test]
async fn a_schedule_rotates_when_the_interval_has_passed() {
    let op = Operator::start_verifying().await;
    let spec = json!({"connectionSecret": {"rotation": {"every": "720h"}}});
    op.apply(instance("scheduled", spec)).await;
    verified(&op, "scheduled").await;
    let first = password(&op.secret("scheduled-connection").unwrap());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        password(&op.secret("scheduled-connection").unwrap()),
        first,
        "not due yet"
    );

    op.clock.advance(Duration::from_secs(721 * 3600));
    op.wait_for("scheduled", "a scheduled rotation", |obj| {
        obj.status
            .as_ref()
            .and_then(|s| s.password_rotation.as_ref())
            .is_some_and(|r| r.last_rotated.is_some())
    })
    .await;
    let secret = published(&op, "scheduled").await;
    let second = password(&secret);
    assert_ne!(second, first);
    log_in(&op, &secret, &second)
        .await
        .expect("the rotated password logs in");
}

/// A restart finds the state a kill left; `prepare` makes that state while the operator is
/// down. Afterwards the Secret's password must log in and nothing be pending.
async fn restart_finishes(
    prepare: impl AsyncFnOnce(&Operator, &str, &str, &SecretString),
) -> (Operator, String) {
    let mut op = Operator::start_verifying().await;
    op.apply(instance("killed", json!({}))).await;
    let obj = verified(&op, "killed").await;
    let id = obj.status.unwrap().instance_id.unwrap();
    op.crash().await;
    let escrowed = "escrowed-before-the-kill-0123456789";
    let patch = json!({"stringData": {PENDING: escrowed}});
    op.secrets()
        .patch("killed-connection", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    annotate(&op, "killed", "after-kill").await;
    prepare(&op, "killed", &id, &SecretString::from(escrowed.to_owned())).await;
    op.restart();
    let secret = rotated(&op, "killed", "after-kill").await;
    let now = password(&secret);
    log_in(&op, &secret, &now)
        .await
        .expect("the Secret's password logs in");
    (op, now)
}

#[tokio::test]
async fn a_kill_after_the_escrow_resumes_with_the_escrowed_password() {
    // The database still has the old password: the change is made with the escrowed one.
    let (_, now) = restart_finishes(async |_, _, _, _| {}).await;
    assert_eq!(now, "escrowed-before-the-kill-0123456789");
}

#[tokio::test]
async fn a_kill_after_the_database_changed_promotes_the_pending_password() {
    let (op, now) = restart_finishes(async |op: &Operator, _, id: &str, _| {
        op.emu
            .handle()
            .set_database_password(id, "neo4j", "escrowed-before-the-kill-0123456789")
            .unwrap();
    })
    .await;
    assert_eq!(now, "escrowed-before-the-kill-0123456789");
    event(&op, "PasswordRotated").await;
}

#[tokio::test]
async fn a_kill_after_the_status_was_recorded_still_publishes() {
    let (_, now) = restart_finishes(async |op: &Operator, name: &str, id: &str, _| {
        op.emu
            .handle()
            .set_database_password(id, "neo4j", "escrowed-before-the-kill-0123456789")
            .unwrap();
        let status = json!({"status": {"passwordRotation": {"handledRequest": "after-kill"}}});
        op.instances()
            .patch_status(name, &user_patch(), &Patch::Merge(&status))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(now, "escrowed-before-the-kill-0123456789");
}

#[tokio::test]
async fn kills_at_any_moment_of_a_rotation_leave_a_password_that_logs_in() {
    for kill_after in [0u64, 2, 5, 10, 20, 40, 80] {
        let mut op = Operator::start_verifying().await;
        op.apply(instance("cycle", json!({}))).await;
        verified(&op, "cycle").await;
        let value = format!("kill-{kill_after}");
        annotate(&op, "cycle", &value).await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash().await;
        // Right after the kill: the password, or the pending one, logs in.
        let secret = op.secret("cycle-connection").unwrap();
        let current = log_in(&op, &secret, &password(&secret)).await;
        let pending = secret_value(&secret, PENDING);
        eprintln!(
            "killed after {kill_after} ms: current password logs in: {}, pending key: {}",
            current.is_ok(),
            pending.is_some()
        );
        if current.is_err() {
            let pending = pending.expect("a pending password when the current one fails");
            log_in(&op, &secret, &pending)
                .await
                .unwrap_or_else(|e| panic!("killed after {kill_after} ms: {e}"));
        }
        op.restart();
        let after = rotated(&op, "cycle", &value).await;
        log_in(&op, &after, &password(&after))
            .await
            .unwrap_or_else(|e| panic!("killed after {kill_after} ms: {e}"));
    }
}

#[tokio::test]
async fn observe_only_and_passwordless_adopted_resources_refuse_with_a_reason() {
    let op = Operator::start_verifying().await;
    let (id, _) = op.made_in_aura("watched").await;
    let observed = json!({"instanceId": id, "managementPolicy": "Observe"});
    op.apply(instance("watcher", observed)).await;
    annotate(&op, "watcher", "please").await;
    let obj = op
        .wait_for("watcher", "refused", |obj| refused(obj).is_some())
        .await;
    assert!(
        refused(&obj).unwrap().contains("Observe"),
        "{:?}",
        refused(&obj)
    );
    assert_eq!(handled(&obj).as_deref(), Some("please"));

    let (other, _) = op.made_in_aura("no-password").await;
    op.apply(instance("adopter", json!({"instanceId": other})))
        .await;
    annotate(&op, "adopter", "please").await;
    let obj = op
        .wait_for("adopter", "refused", |obj| refused(obj).is_some())
        .await;
    assert!(
        refused(&obj).unwrap().contains("no password"),
        "{:?}",
        refused(&obj)
    );
    event(&op, "RotationRefused").await;
}

#[tokio::test]
async fn a_rotation_schedule_on_an_observe_only_resource_is_an_invalid_spec() {
    let op = Operator::start_verifying().await;
    let (id, _) = op.made_in_aura("watched-2").await;
    let spec = json!({
        "instanceId": id,
        "managementPolicy": "Observe",
        "connectionSecret": {"rotation": {"every": "720h"}}
    });
    op.apply(instance("watcher-2", spec)).await;
    let obj = op
        .wait_for("watcher-2", "InvalidSpec", |obj| {
            condition(obj, "Ready").is_some_and(|c| c.reason == "InvalidSpec")
        })
        .await;
    let message = &condition(&obj, "Ready").unwrap().message;
    assert!(message.contains("connectionSecret.rotation"), "{message}");
}
