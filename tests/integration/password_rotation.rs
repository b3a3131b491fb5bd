//! Password rotation (issue 22): on demand by annotation and on a schedule, escrowed in the
//! Secret before the database changes it, and finished after a restart at any step.

use std::time::Duration;

use crate::support::fast_config;
use crate::support::operator::{
    Operator, condition, instance, secret_value, user_patch, user_post,
};
use aura_operator::crd::AuraInstance;
use aura_operator::database::{self, DatabaseError, Login};
use aura_operator::emulator::{AuthLockPolicy, EmulatorConfig};
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

/// Logs in to the instance of `secret` as neo4j with `password`, as an application would.
async fn log_in(op: &Operator, secret: &Secret, password: &str) -> Result<(), DatabaseError> {
    log_in_as(op, secret, "neo4j", password).await
}

async fn log_in_as(
    op: &Operator,
    secret: &Secret,
    user: &str,
    password: &str,
) -> Result<(), DatabaseError> {
    let login = Login {
        uri: secret_value(secret, "NEO4J_URI").unwrap(),
        username: user.to_owned(),
        password: SecretString::from(password.to_owned()),
    };
    database::verify(&op.database, &login).await
}

/// The user and password a Secret holds.
fn credentials(secret: &Secret) -> (String, String) {
    let user = secret_value(secret, "NEO4J_USERNAME").expect("a username");
    (user, password(secret))
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

/// An emulator with Bolt whose auth lock is Neo4j's (3 refusals in a row) but lasts 3 s.
fn short_lock() -> EmulatorConfig {
    EmulatorConfig {
        bolt: true,
        bolt_auth_lock: AuthLockPolicy {
            max_failed: 3,
            lock_time: Duration::from_secs(3),
        },
        ..fast_config()
    }
}

#[tokio::test]
async fn a_lock_met_while_finishing_a_rotation_is_waited_out_and_the_pending_password_kept() {
    let mut op = Operator::start_verifying_with(short_lock()).await;
    op.apply(instance("recovering", json!({}))).await;
    let obj = verified(&op, "recovering").await;
    let id = obj.status.unwrap().instance_id.unwrap();
    op.crash().await;
    let before = op.secret("recovering-connection").unwrap();
    let old = password(&before);
    let escrowed = "escrowed-before-the-kill-0123456789";
    let patch = json!({"stringData": {PENDING: escrowed}});
    op.secrets()
        .patch(
            "recovering-connection",
            &user_patch(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    annotate(&op, "recovering", "after-kill").await;
    // The kill came after the database took the escrowed password; the applications still
    // log in with the published (old) one, are refused, and lock the user.
    op.emu
        .handle()
        .set_database_password(&id, "neo4j", escrowed)
        .unwrap();
    for _ in 0..3 {
        assert!(log_in(&op, &before, &old).await.is_err());
    }
    assert!(matches!(
        log_in(&op, &before, escrowed).await,
        Err(DatabaseError::RateLimited(_))
    ));
    op.restart();
    let secret = rotated(&op, "recovering", "after-kill").await;
    assert_eq!(
        password(&secret),
        escrowed,
        "the lock made neither password log in for a while; the escrowed one is still the one"
    );
    log_in(&op, &secret, escrowed)
        .await
        .expect("the published password logs in");
    assert!(
        !op.event_reasons().iter().any(|r| r == "RotationRefused"),
        "{:?}",
        op.event_reasons()
    );
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

/// Asks `name` (applied with `spec`) for a rotation and returns the refusal it records.
async fn refusal_of(op: &Operator, name: &str, spec: serde_json::Value) -> String {
    op.apply(instance(name, spec)).await;
    annotate(op, name, "please").await;
    let obj = op
        .wait_for(name, "refused", |obj| refused(obj).is_some())
        .await;
    assert_eq!(
        handled(&obj).as_deref(),
        Some("please"),
        "the request is dealt with"
    );
    refused(&obj).unwrap()
}

#[tokio::test]
async fn observe_only_and_passwordless_adopted_resources_refuse_with_a_reason() {
    let op = Operator::start_verifying().await;
    let (id, _) = op.made_in_aura("watched").await;
    let observed = json!({"instanceId": id, "managementPolicy": "Observe"});
    let why = refusal_of(&op, "watcher", observed).await;
    assert!(why.contains("Observe"), "{why}");

    let (other, _) = op.made_in_aura("no-password").await;
    let why = refusal_of(&op, "adopter", json!({"instanceId": other})).await;
    assert!(why.contains("no password"), "{why}");
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

fn two_users() -> serde_json::Value {
    json!({"connectionSecret": {"rotation": {"strategy": "TwoUsers"}}})
}

/// Waits until the Secret of `name` holds `user` with nothing pending.
async fn holds_user(op: &Operator, name: &str, user: &str) -> Secret {
    crate::support::wait_for(user, Duration::from_secs(15), || {
        let secret = op
            .secret(&format!("{name}-connection"))
            .ok_or("no Secret")?;
        let pending = secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(PENDING));
        let now = secret_value(&secret, "NEO4J_USERNAME");
        if pending || now.as_deref() != Some(user) {
            return Err(format!("holds {now:?}, pending {pending}"));
        }
        Ok(secret)
    })
    .await
}

#[tokio::test]
async fn two_users_alternate_and_the_previous_credentials_keep_working() {
    let op = Operator::start_verifying().await;
    op.apply(instance("pair", two_users())).await;
    let first = holds_user(&op, "pair", "app_a").await;
    let admin = op
        .secret("pair-connection-admin")
        .expect("the admin Secret");
    let (admin_user, admin_password) = credentials(&admin);
    assert_eq!(admin_user, "neo4j");
    log_in(&op, &first, &admin_password)
        .await
        .expect("the admin logs in");
    let (_, a1) = credentials(&first);
    log_in_as(&op, &first, "app_a", &a1)
        .await
        .expect("app_a logs in");
    verified(&op, "pair").await;

    annotate(&op, "pair", "1").await;
    let second = holds_user(&op, "pair", "app_b").await;
    let (_, b1) = credentials(&second);
    log_in_as(&op, &second, "app_b", &b1)
        .await
        .expect("app_b logs in");
    log_in_as(&op, &second, "app_a", &a1)
        .await
        .expect("the previous credentials still log in for one interval");
    assert_ne!(content_hash(&second), content_hash(&first));

    annotate(&op, "pair", "2").await;
    let third = holds_user(&op, "pair", "app_a").await;
    let (_, a2) = credentials(&third);
    assert_ne!(a2, a1);
    log_in_as(&op, &third, "app_a", &a2)
        .await
        .expect("app_a's new password");
    let old = log_in_as(&op, &third, "app_a", &a1).await;
    assert!(
        matches!(old, Err(DatabaseError::Unauthorized(_))),
        "{old:?}"
    );
    log_in_as(&op, &third, "app_b", &b1)
        .await
        .expect("app_b until the next rotation");
    let id = op
        .instances()
        .get("pair")
        .await
        .unwrap()
        .status
        .unwrap()
        .instance_id
        .unwrap();
    let users = op.emu.handle().database_users(&id).unwrap();
    assert_eq!(users, vec!["app_a", "app_b", "neo4j"]);
    log_in(&op, &third, &admin_password)
        .await
        .expect("the admin password is unchanged");
}

#[tokio::test]
async fn a_kill_after_escrowing_the_idle_user_publishes_it_after_restart() {
    two_user_kill(false).await;
}

#[tokio::test]
async fn a_kill_after_the_idle_user_changed_publishes_it_after_restart() {
    two_user_kill(true).await;
}

/// The state a kill leaves after the escrow of app_b (and, if `changed`, after the database
/// took its password), then a restart.
async fn two_user_kill(changed: bool) {
    let mut op = Operator::start_verifying().await;
    op.apply(instance("pair-killed", two_users())).await;
    holds_user(&op, "pair-killed", "app_a").await;
    verified(&op, "pair-killed").await;
    op.crash().await;
    let escrowed = "escrowed-for-app-b-0123456789";
    let patch =
        json!({"stringData": {PENDING: escrowed, "aura-operator.pending-username": "app_b"}});
    op.secrets()
        .patch(
            "pair-killed-connection",
            &user_patch(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    annotate(&op, "pair-killed", "after-kill").await;
    if changed {
        let obj = op.instances().get("pair-killed").await.unwrap();
        let id = obj.status.unwrap().instance_id.unwrap();
        op.emu
            .handle()
            .set_database_password(&id, "app_b", escrowed)
            .unwrap();
    }
    op.restart();
    let secret = holds_user(&op, "pair-killed", "app_b").await;
    assert_eq!(
        credentials(&secret),
        ("app_b".to_owned(), escrowed.to_owned())
    );
    log_in_as(&op, &secret, "app_b", escrowed)
        .await
        .expect("app_b logs in");
}

#[tokio::test]
async fn kills_at_any_moment_of_a_two_user_rotation_leave_credentials_that_log_in() {
    for kill_after in [0u64, 40, 70, 80, 90, 100, 120, 160] {
        let mut op = Operator::start_verifying().await;
        op.apply(instance("pair-cycle", two_users())).await;
        holds_user(&op, "pair-cycle", "app_a").await;
        let value = format!("kill-{kill_after}");
        annotate(&op, "pair-cycle", &value).await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash().await;
        let secret = op.secret("pair-cycle-connection").unwrap();
        let (user, now) = credentials(&secret);
        log_in_as(&op, &secret, &user, &now)
            .await
            .unwrap_or_else(|e| panic!("killed after {kill_after} ms: {e}"));
        let pending = secret_value(&secret, PENDING).is_some();
        eprintln!("two users, killed after {kill_after} ms: pending credentials: {pending}");
        op.restart();
        let after = rotated(&op, "pair-cycle", &value).await;
        let (user, now) = credentials(&after);
        assert_eq!(user, "app_b", "killed after {kill_after} ms");
        log_in_as(&op, &after, &user, &now)
            .await
            .unwrap_or_else(|e| panic!("killed after {kill_after} ms: {e}"));
    }
}

#[tokio::test]
async fn retain_keeps_the_admin_secret_beside_the_connection_secret() {
    let op = Operator::start_verifying().await;
    let mut spec = two_users();
    spec["deletionPolicy"] = json!("Retain");
    op.apply(instance("pair-kept", spec)).await;
    holds_user(&op, "pair-kept", "app_a").await;
    op.delete("pair-kept").await;
    op.wait_gone("pair-kept").await;
    let admin = op
        .secret("pair-kept-connection-admin")
        .expect("the admin Secret is kept");
    assert_eq!(credentials(&admin).0, "neo4j");
    assert!(op.secret("pair-kept-connection").is_some());
}

#[tokio::test]
async fn an_attached_gds_session_follows_a_rotation_at_its_next_pass() {
    let op = Operator::start_verifying().await;
    op.apply(instance("graph", json!({}))).await;
    verified(&op, "graph").await;
    let spec = json!({"instanceRef": {"name": "graph"}, "memory": "8GB", "ttl": "30m"});
    let session = crate::support::operator::resource("GdsSession", "analysis", spec);
    op.create::<aura_operator::crd::GdsSession>(session).await;
    annotate(&op, "graph", "for-gds").await;
    let rotated_secret = rotated(&op, "graph", "for-gds").await;
    let new = password(&rotated_secret);
    crate::support::wait_for(
        "the session Secret to follow",
        Duration::from_secs(15),
        || {
            let copied = op
                .secret("analysis-gds")
                .and_then(|s| secret_value(&s, "NEO4J_PASSWORD"));
            if copied.as_deref() == Some(new.as_str()) {
                Ok(())
            } else {
                Err("still the old password".to_owned())
            }
        },
    )
    .await;
}

// Switching strategies on a live resource (TwoUsers → AdminUser, AdminUser → TwoUsers,
// rotation removed). Each test prints what it finds (`facts`) before asserting.

fn strategy(name: &str) -> serde_json::Value {
    json!({"connectionSecret": {"rotation": {"strategy": name}}})
}

async fn instance_id(op: &Operator, name: &str) -> String {
    let obj = op.instances().get(name).await.unwrap();
    obj.status.unwrap().instance_id.unwrap()
}

/// Whether the credentials in `secret` (a connection or admin Secret) log in.
async fn logs_in(op: &Operator, uri_from: &Secret, secret: &Secret) -> bool {
    let (user, password) = credentials(secret);
    log_in_as(op, uri_from, &user, &password).await.is_ok()
}

/// The admin's password can be had from a Secret: the admin Secret's credentials log in, or
/// the connection Secret holds neo4j with a password that logs in.
async fn admin_recoverable(op: &Operator, name: &str) -> bool {
    let connection = op.secret(&format!("{name}-connection")).unwrap();
    if let Some(admin) = op.secret(&format!("{name}-connection-admin"))
        && credentials(&admin).0 == "neo4j"
        && logs_in(op, &connection, &admin).await
    {
        return true;
    }
    credentials(&connection).0 == "neo4j" && logs_in(op, &connection, &connection).await
}

/// What a switch left, printed for the record: the Secret's user and whether it logs in, the
/// admin Secret, the database's users, the RotationStrategy condition.
async fn facts(op: &Operator, name: &str, when: &str) {
    let connection = op.secret(&format!("{name}-connection")).unwrap();
    let (user, _) = credentials(&connection);
    let works = logs_in(op, &connection, &connection).await;
    let admin = op.secret(&format!("{name}-connection-admin")).is_some();
    let users = op
        .emu
        .handle()
        .database_users(&instance_id(op, name).await)
        .unwrap();
    let obj = op.instances().get(name).await.unwrap();
    let cond = condition(&obj, "RotationStrategy").map(|c| (c.status.clone(), c.reason.clone()));
    let rotation = obj.status.as_ref().map(|s| json!(s.password_rotation));
    eprintln!(
        "{when}: Secret holds {user} (logs in: {works}), admin Secret: {admin}, admin \
         recoverable: {}, database users {users:?}, RotationStrategy {cond:?}, \
         passwordRotation {rotation:?}",
        admin_recoverable(op, name).await
    );
}

async fn strategy_condition(op: &Operator, name: &str, reason: &str) -> AuraInstance {
    op.wait_for(name, reason, |obj| {
        condition(obj, "RotationStrategy").is_some_and(|c| c.reason == reason)
    })
    .await
}

/// Waits until the admin Secret of `name` is gone.
async fn admin_secret_gone(op: &Operator, name: &str) {
    let admin = format!("{name}-connection-admin");
    crate::support::wait_for(
        "the admin Secret to go",
        Duration::from_secs(15),
        || match op.secret(&admin) {
            Some(_) => Err("still there".to_owned()),
            None => Ok(()),
        },
    )
    .await;
}

/// A TwoUsers resource that rotated once (so both application users exist): the admin's
/// password.
async fn two_users_rotated_once(op: &Operator, name: &str) -> String {
    op.apply(instance(name, two_users())).await;
    holds_user(op, name, "app_a").await;
    annotate(op, name, "once").await;
    holds_user(op, name, "app_b").await;
    let admin = op.secret(&format!("{name}-connection-admin")).unwrap();
    credentials(&admin).1
}

/// The end of a switch back to AdminUser: the Secret holds neo4j with the admin's password and
/// logs in, the application users and the admin Secret are gone, the condition says AdminUser.
async fn back_on_the_admin(op: &Operator, name: &str, admin_password: &str) {
    let secret = holds_user(op, name, "neo4j").await;
    admin_secret_gone(op, name).await;
    facts(op, name, "after the switch back to AdminUser").await;
    assert_eq!(
        password(&secret),
        admin_password,
        "the admin's password is kept"
    );
    log_in(op, &secret, admin_password)
        .await
        .expect("the Secret logs in as the admin");
    let users = op
        .emu
        .handle()
        .database_users(&instance_id(op, name).await)
        .unwrap();
    assert_eq!(users, vec!["neo4j"], "the application users are dropped");
    let obj = strategy_condition(op, name, "AdminUser").await;
    let cond = condition(&obj, "RotationStrategy").unwrap();
    assert_eq!(cond.status, "True");
    let rotation = json!(obj.status.unwrap().password_rotation);
    assert!(rotation.get("user").is_none(), "{rotation}");
    assert!(rotation.get("retiringUsers").is_none(), "{rotation}");
    assert!(rotation.get("adminSecret").is_none(), "{rotation}");
}

#[tokio::test]
async fn switching_two_users_to_admin_user_publishes_the_admin_then_cleans_up() {
    let op = Operator::start_verifying().await;
    let admin = two_users_rotated_once(&op, "back").await;
    facts(&op, "back", "TwoUsers before the switch").await;

    op.patch_spec("back", strategy("AdminUser")).await;
    back_on_the_admin(&op, "back", &admin).await;
    event(&op, "StrategySwitched").await;

    // AdminUser rotations change the admin's own password from now on.
    annotate(&op, "back", "after-switch").await;
    let rotated_secret = rotated(&op, "back", "after-switch").await;
    let (user, new) = credentials(&rotated_secret);
    assert_eq!(user, "neo4j");
    assert_ne!(new, admin);
    log_in(&op, &rotated_secret, &new)
        .await
        .expect("the rotated admin password logs in");
    assert!(op.secret("back-connection-admin").is_none());
}

#[tokio::test]
async fn switching_admin_user_to_two_users_and_back_keeps_the_current_admin_password() {
    let op = Operator::start_verifying().await;
    op.apply(instance("round", strategy("AdminUser"))).await;
    verified(&op, "round").await;
    strategy_condition(&op, "round", "AdminUser").await;
    annotate(&op, "round", "1").await;
    let rotated_admin = password(&rotated(&op, "round", "1").await);

    op.patch_spec("round", strategy("TwoUsers")).await;
    let secret = holds_user(&op, "round", "app_a").await;
    facts(&op, "round", "after AdminUser → TwoUsers").await;
    assert!(logs_in(&op, &secret, &secret).await, "app_a logs in");
    let admin = op
        .secret("round-connection-admin")
        .expect("the admin Secret");
    assert_eq!(
        credentials(&admin),
        ("neo4j".to_owned(), rotated_admin.clone()),
        "the admin Secret holds the current admin password"
    );
    strategy_condition(&op, "round", "TwoUsers").await;
    event(&op, "StrategySwitched").await;

    // Back, rotate the admin, and to TwoUsers again: the admin Secret is written afresh.
    op.patch_spec("round", strategy("AdminUser")).await;
    back_on_the_admin(&op, "round", &rotated_admin).await;
    annotate(&op, "round", "2").await;
    let newest = password(&rotated(&op, "round", "2").await);
    op.patch_spec("round", strategy("TwoUsers")).await;
    holds_user(&op, "round", "app_a").await;
    let admin = op
        .secret("round-connection-admin")
        .expect("the admin Secret");
    assert_eq!(credentials(&admin).1, newest, "not an older admin password");
    let connection = op.secret("round-connection").unwrap();
    assert!(logs_in(&op, &connection, &admin).await);
}

#[tokio::test]
async fn removing_rotation_after_two_users_keeps_the_application_user_working() {
    let op = Operator::start_verifying().await;
    op.apply(instance("off", two_users())).await;
    let before = holds_user(&op, "off", "app_a").await;
    let admin = credentials(&op.secret("off-connection-admin").unwrap());

    op.patch_spec("off", json!({"connectionSecret": {"rotation": null}}))
        .await;
    let obj = strategy_condition(&op, "off", "RotationOff").await;
    facts(&op, "off", "after removing rotation").await;
    let message = &condition(&obj, "RotationStrategy").unwrap().message;
    assert!(
        message.contains("app_a") && message.contains("off-connection-admin"),
        "{message}"
    );
    event(&op, "RotationStopped").await;
    let now = op.secret("off-connection").unwrap();
    assert_eq!(credentials(&now), credentials(&before), "nothing changed");
    assert!(logs_in(&op, &now, &now).await);
    assert_eq!(
        credentials(&op.secret("off-connection-admin").unwrap()),
        admin,
        "the admin Secret stays"
    );

    // The annotation still rotates: app_a's own password.
    annotate(&op, "off", "own").await;
    let rotated_secret = rotated(&op, "off", "own").await;
    assert_eq!(credentials(&rotated_secret).0, "app_a");
    assert_ne!(password(&rotated_secret), password(&before));
    assert!(logs_in(&op, &rotated_secret, &rotated_secret).await);
    assert!(admin_recoverable(&op, "off").await);

    // Asking for AdminUser later switches back.
    op.patch_spec("off", strategy("AdminUser")).await;
    back_on_the_admin(&op, "off", &admin.1).await;
}

#[tokio::test]
async fn a_wrong_admin_secret_refuses_the_switch_and_keeps_the_application_user() {
    let op = Operator::start_verifying().await;
    let admin = two_users_rotated_once(&op, "stuck").await;
    let wrong = json!({"stringData": {"NEO4J_PASSWORD": "not-the-admin-password"}});
    op.secrets()
        .patch(
            "stuck-connection-admin",
            &user_patch(),
            &Patch::Merge(&wrong),
        )
        .await
        .unwrap();
    op.patch_spec("stuck", strategy("AdminUser")).await;
    let obj = strategy_condition(&op, "stuck", "SwitchRefused").await;
    facts(&op, "stuck", "with a wrong admin Secret").await;
    let message = &condition(&obj, "RotationStrategy").unwrap().message;
    assert!(
        message.contains("stuck-connection-admin") && message.contains("NEO4J_PASSWORD"),
        "{message}"
    );
    event(&op, "StrategySwitchRefused").await;
    let secret = op.secret("stuck-connection").unwrap();
    assert_eq!(credentials(&secret).0, "app_b", "the Secret keeps its user");
    assert!(logs_in(&op, &secret, &secret).await);

    // Fixed: the switch goes on.
    let right = json!({"stringData": {"NEO4J_PASSWORD": admin}});
    op.secrets()
        .patch(
            "stuck-connection-admin",
            &user_patch(),
            &Patch::Merge(&right),
        )
        .await
        .unwrap();
    back_on_the_admin(&op, "stuck", &admin).await;
}

#[tokio::test]
async fn a_rotation_asked_while_the_user_is_locked_waits_for_the_lock() {
    let op = Operator::start_verifying_with(short_lock()).await;
    op.apply(instance("patient", json!({}))).await;
    verified(&op, "patient").await;
    let before = op.secret("patient-connection").unwrap();
    let old = password(&before);
    // The operator's own checks (right password) reset the count: lock until it holds.
    let locked = async || {
        matches!(
            log_in(&op, &before, &old).await,
            Err(DatabaseError::RateLimited(_))
        )
    };
    let mut was_locked = false;
    for _ in 0..5 {
        for _ in 0..3 {
            assert!(log_in(&op, &before, "a-typo-in-some-script").await.is_err());
        }
        if locked().await {
            was_locked = true;
            break;
        }
    }
    assert!(was_locked, "the user was never locked");
    annotate(&op, "patient", "while-locked").await;
    let after = rotated(&op, "patient", "while-locked").await;
    assert_ne!(password(&after), old, "rotated once the lock passed");
    log_in(&op, &after, &password(&after))
        .await
        .expect("the rotated password logs in");
    assert!(
        !op.event_reasons().iter().any(|r| r == "RotationRefused"),
        "a lock is no refusal: {:?}",
        op.event_reasons()
    );
}

#[tokio::test]
async fn a_locked_admin_makes_the_switch_back_wait_instead_of_refusing() {
    let op = Operator::start_verifying_with(short_lock()).await;
    let admin = two_users_rotated_once(&op, "hammer").await;
    let connection = op.secret("hammer-connection").unwrap();
    // Someone logs in as the admin with a wrong password, and locks it for 3 s.
    for _ in 0..3 {
        assert!(
            log_in(&op, &connection, "a-typo-in-some-script")
                .await
                .is_err()
        );
    }
    assert!(matches!(
        log_in(&op, &connection, &admin).await,
        Err(DatabaseError::RateLimited(_))
    ));
    op.patch_spec("hammer", strategy("AdminUser")).await;
    let waiting = strategy_condition(&op, "hammer", "Switching").await;
    facts(&op, "hammer", "switching while the admin is locked").await;
    let message = &condition(&waiting, "RotationStrategy").unwrap().message;
    assert!(message.contains("locked"), "{message}");
    back_on_the_admin(&op, "hammer", &admin).await;
    assert!(
        !op.event_reasons()
            .iter()
            .any(|r| r == "StrategySwitchRefused"),
        "a lock is no wrong admin password: {:?}",
        op.event_reasons()
    );
}

/// Right after a kill: the Secret's credentials log in and the admin's password is in a Secret.
async fn safe_after_kill(op: &Operator, name: &str, label: &str) {
    let secret = op.secret(&format!("{name}-connection")).unwrap();
    let (user, now) = credentials(&secret);
    log_in_as(op, &secret, &user, &now)
        .await
        .unwrap_or_else(|e| panic!("{label}: the Secret's {user} does not log in: {e}"));
    assert!(
        admin_recoverable(op, name).await,
        "{label}: the admin password is in no Secret"
    );
    facts(op, name, label).await;
}

#[tokio::test]
async fn kills_at_any_moment_of_a_switch_back_to_admin_user_lose_nothing() {
    for kill_after in [0u64, 20, 40, 60, 80, 100, 130, 170, 250] {
        let mut op = Operator::start_verifying().await;
        let admin = two_users_rotated_once(&op, "kill-back").await;
        op.patch_spec("kill-back", strategy("AdminUser")).await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash().await;
        let label = format!("switch back, killed after {kill_after} ms");
        safe_after_kill(&op, "kill-back", &label).await;
        op.restart();
        back_on_the_admin(&op, "kill-back", &admin).await;
    }
}

#[tokio::test]
async fn kills_at_any_moment_of_a_switch_to_two_users_lose_nothing() {
    for kill_after in [0u64, 20, 40, 60, 80, 100, 130, 170] {
        let mut op = Operator::start_verifying().await;
        op.apply(instance("kill-pair", strategy("AdminUser"))).await;
        verified(&op, "kill-pair").await;
        op.patch_spec("kill-pair", strategy("TwoUsers")).await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        op.crash().await;
        let label = format!("switch to TwoUsers, killed after {kill_after} ms");
        safe_after_kill(&op, "kill-pair", &label).await;
        op.restart();
        let secret = holds_user(&op, "kill-pair", "app_a").await;
        assert!(logs_in(&op, &secret, &secret).await, "{label}");
        assert!(admin_recoverable(&op, "kill-pair").await, "{label}");
    }
}

/// The switch back stopped after its first `steps` steps, as a kill leaves it (the steps made
/// by hand while the operator is down, from a TwoUsers resource holding app_b): the Secret
/// logs in and the admin password is in a Secret; a restart finishes the switch.
async fn switch_back_resumes(name: &str, steps: usize) {
    let mut op = Operator::start_verifying().await;
    let admin = two_users_rotated_once(&op, name).await;
    op.crash().await;
    op.patch_spec(name, strategy("AdminUser")).await;
    let id = instance_id(&op, name).await;
    if steps >= 1 {
        // The status a switch records before the connection Secret changes.
        let status = json!({"status": {"passwordRotation": {
            "user": null, "retiringUsers": ["app_a", "app_b"],
            "adminSecret": format!("{name}-connection-admin")}}});
        op.instances()
            .patch_status(name, &user_patch(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    if steps >= 2 {
        publish_admin_by_hand(&op, name, &admin).await;
    }
    if steps >= 3 {
        op.emu.handle().drop_database_user(&id, "app_a").unwrap();
        op.emu.handle().drop_database_user(&id, "app_b").unwrap();
    }
    if steps >= 4 {
        let admin_secret = format!("{name}-connection-admin");
        op.secrets()
            .delete(&admin_secret, &Default::default())
            .await
            .unwrap();
    }
    let label = format!("{name}: stopped after {steps} steps");
    safe_after_kill(&op, name, &label).await;
    op.restart();
    back_on_the_admin(&op, name, &admin).await;
}

/// The connection Secret published with the admin's credentials.
async fn publish_admin_by_hand(op: &Operator, name: &str, admin: &str) {
    let patch = json!({"stringData": {"NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": admin}});
    op.secrets()
        .patch(
            &format!("{name}-connection"),
            &user_patch(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_kill_after_recording_the_users_to_drop_resumes_the_switch() {
    switch_back_resumes("step-1", 1).await;
}

#[tokio::test]
async fn a_kill_after_publishing_the_admin_resumes_the_switch() {
    switch_back_resumes("step-2", 2).await;
}

#[tokio::test]
async fn a_kill_after_dropping_the_users_resumes_the_switch() {
    switch_back_resumes("step-3", 3).await;
}

#[tokio::test]
async fn a_kill_after_deleting_the_admin_secret_clears_the_status() {
    switch_back_resumes("step-4", 4).await;
}

#[tokio::test]
async fn a_stale_admin_secret_is_replaced_by_the_working_admin_login_when_two_users_start() {
    let op = Operator::start_verifying().await;
    op.apply(instance("stale", strategy("AdminUser"))).await;
    verified(&op, "stale").await;
    let current = password(&op.secret("stale-connection").unwrap());
    // An admin Secret left with an older password (say, by a person, or from an earlier period).
    let stale = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "stale-connection-admin"},
        "stringData": {"NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": "an-older-admin-password"}});
    op.secrets()
        .create(&user_post(), &serde_json::from_value(stale).unwrap())
        .await
        .unwrap();
    op.patch_spec("stale", strategy("TwoUsers")).await;
    let secret = holds_user(&op, "stale", "app_a").await;
    facts(&op, "stale", "TwoUsers over a stale admin Secret").await;
    assert!(logs_in(&op, &secret, &secret).await);
    let admin = op.secret("stale-connection-admin").unwrap();
    assert_eq!(
        credentials(&admin).1,
        current,
        "the working admin password is kept"
    );
}

#[tokio::test]
async fn a_new_user_prefix_moves_to_the_new_pair_and_keeps_the_admin_secret() {
    let op = Operator::start_verifying().await;
    op.apply(instance("prefix", two_users())).await;
    holds_user(&op, "prefix", "app_a").await;
    let admin = credentials(&op.secret("prefix-connection-admin").unwrap());
    let svc =
        json!({"connectionSecret": {"rotation": {"strategy": "TwoUsers", "userPrefix": "svc"}}});
    op.patch_spec("prefix", svc).await;
    let secret = holds_user(&op, "prefix", "svc_a").await;
    facts(&op, "prefix", "after a new userPrefix").await;
    assert!(logs_in(&op, &secret, &secret).await);
    assert_eq!(
        credentials(&op.secret("prefix-connection-admin").unwrap()),
        admin,
        "the admin Secret still holds the admin"
    );
}
