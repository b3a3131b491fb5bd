//! ConnectionVerified (issue 22): the operator logs in over Bolt with the connection Secret and
//! reports what the database said. The emulator answers Bolt with its own CA, which the
//! operator trusts through its extra-CA setting.

use std::time::Duration;

use crate::support::fast_config;
use crate::support::operator::{Operator, condition, instance, is_ready, secret_value, user_patch};
use aura_operator::crd::AuraInstance;
use aura_operator::database::{self, DatabaseError, Login};
use aura_operator::emulator::{AuthLockPolicy, EmulatorConfig};
use kube::api::Patch;
use secrecy::SecretString;
use serde_json::json;

fn verified_reason(obj: &AuraInstance) -> Option<(String, String)> {
    condition(obj, "ConnectionVerified").map(|c| (c.status.clone(), c.reason.clone()))
}

fn is(status: &'static str, reason: &'static str) -> impl Fn(&AuraInstance) -> bool {
    move |obj| verified_reason(obj) == Some((status.to_owned(), reason.to_owned()))
}

fn instance_id(obj: &AuraInstance) -> String {
    obj.status.as_ref().unwrap().instance_id.clone().unwrap()
}

fn status_writes(op: &Operator) -> u64 {
    op.api
        .counters()
        .write_count("patch", "aura.neo4j.io", "aurainstances", "status")
}

async fn set_secret_password(op: &Operator, name: &str, password: &str) {
    let patch = json!({"stringData": {"NEO4J_PASSWORD": password}});
    op.secrets()
        .patch(name, &user_patch(), &Patch::Merge(&patch))
        .await
        .expect("Secret patched");
}

#[tokio::test]
async fn a_new_instance_is_verified_and_stays_quiet_while_nothing_changes() {
    let op = Operator::start_verifying().await;
    op.apply(instance("checked", json!({}))).await;
    let ready = op
        .wait_for("checked", "ConnectionVerified True", is("True", "LoggedIn"))
        .await;
    assert!(is_ready(&ready));
    // Several resync intervals (1 s here) pass: each checks again, and writes nothing.
    let writes = status_writes(&op);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_writes(&op),
        writes,
        "a check that finds nothing new writes nothing"
    );
    assert!(is_ready(&op.instances().get("checked").await.unwrap()));
}

#[tokio::test]
async fn a_wrong_password_put_in_the_secret_makes_ready_false_with_an_event() {
    let op = Operator::start_verifying().await;
    op.apply(instance("edited", json!({}))).await;
    op.wait_for("edited", "verified", is("True", "LoggedIn"))
        .await;
    set_secret_password(&op, "edited-connection", "typed-by-hand-wrong").await;
    let refused = op
        .wait_for(
            "edited",
            "AuthenticationFailed",
            is("False", "AuthenticationFailed"),
        )
        .await;
    let ready = condition(&refused, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "AuthenticationFailed")
    );
    assert_eq!(condition(&refused, "Stalled").unwrap().status, "True");
    assert!(
        op.event_reasons()
            .iter()
            .any(|r| r == "AuthenticationFailed")
    );
    // The operator keeps the Secret as the person left it: it is theirs to fix.
    let secret = op.secret("edited-connection").unwrap();
    assert_eq!(
        secret_value(&secret, "NEO4J_PASSWORD").as_deref(),
        Some("typed-by-hand-wrong")
    );
    let message = &condition(&refused, "ConnectionVerified").unwrap().message;
    assert!(!message.contains("typed-by-hand-wrong"), "{message}");
}

#[tokio::test]
async fn a_password_changed_in_the_console_is_noticed_and_fixing_the_secret_recovers() {
    let op = Operator::start_verifying().await;
    op.apply(instance("console", json!({}))).await;
    let ready = op
        .wait_for("console", "verified", is("True", "LoggedIn"))
        .await;
    let id = instance_id(&ready);
    op.emu
        .handle()
        .set_database_password(&id, "neo4j", "changed-in-the-console")
        .unwrap();
    let refused = op
        .wait_for(
            "console",
            "AuthenticationFailed",
            is("False", "AuthenticationFailed"),
        )
        .await;
    assert!(!is_ready(&refused));
    assert!(
        op.event_reasons()
            .iter()
            .any(|r| r == "AuthenticationFailed")
    );

    set_secret_password(&op, "console-connection", "changed-in-the-console").await;
    op.wait_for("console", "LoggedIn again", is("True", "LoggedIn"))
        .await;
    op.wait_for("console", "Ready again", is_ready).await;
}

#[tokio::test]
async fn an_unreachable_database_is_reported_without_touching_ready() {
    let op = Operator::start_verifying().await;
    op.apply(instance("cut", json!({}))).await;
    let ready = op.wait_for("cut", "verified", is("True", "LoggedIn")).await;
    let id = instance_id(&ready);
    op.emu.handle().cut_bolt(&id, true).unwrap();
    let cut = op
        .wait_for("cut", "Unreachable", is("False", "Unreachable"))
        .await;
    assert!(
        is_ready(&cut),
        "a network failure alone leaves Ready as it was"
    );
    assert!(op.event_reasons().iter().any(|r| r == "Unreachable"));
    op.emu.handle().cut_bolt(&id, false).unwrap();
    op.wait_for("cut", "LoggedIn again", is("True", "LoggedIn"))
        .await;
}

#[tokio::test]
async fn a_paused_instance_is_unreachable_and_stays_ready() {
    let op = Operator::start_verifying().await;
    op.apply(instance("sleepy", json!({}))).await;
    op.wait_for("sleepy", "verified", is("True", "LoggedIn"))
        .await;
    op.patch_spec("sleepy", json!({"paused": true})).await;
    let paused = op
        .wait_for("sleepy", "paused and Unreachable", |obj| {
            is("False", "Unreachable")(obj)
                && condition(obj, "Ready").is_some_and(|c| c.reason == "Paused")
        })
        .await;
    assert!(is_ready(&paused));
}

#[tokio::test]
async fn verification_can_be_switched_off_per_resource() {
    let op = Operator::start_verifying().await;
    let spec = json!({"connectionSecret": {"verify": false}});
    op.apply(instance("unchecked", spec)).await;
    let ready = op.wait_for("unchecked", "Ready", is_ready).await;
    assert!(condition(&ready, "ConnectionVerified").is_none());
    let id = instance_id(&ready);
    op.emu
        .handle()
        .set_database_password(&id, "neo4j", "nobody-checks-this")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = op.instances().get("unchecked").await.unwrap();
    assert!(is_ready(&still));
    assert!(condition(&still, "ConnectionVerified").is_none());
}

#[tokio::test]
async fn verification_is_off_for_the_whole_installation_by_default_in_the_harness() {
    // Operator::start leaves DatabaseSettings::verify false, as --verify-connections=false does.
    let op = Operator::start().await;
    op.apply(instance("plain", json!({}))).await;
    let ready = op.wait_for("plain", "Ready", is_ready).await;
    assert!(condition(&ready, "ConnectionVerified").is_none());
}

#[tokio::test]
async fn an_adopted_instance_is_checked_once_its_password_is_in_the_secret() {
    let op = Operator::start_verifying().await;
    let (id, password) = op.made_in_aura("adopted-checked").await;
    op.apply(instance("adopter", json!({"instanceId": id})))
        .await;
    let adopted = op
        .wait_for("adopter", "adopted without a password", |obj| {
            obj.status.as_ref().and_then(|s| s.password_stored) == Some(false)
        })
        .await;
    assert!(
        condition(&adopted, "ConnectionVerified").is_none(),
        "nothing to log in with yet"
    );
    set_secret_password(&op, "adopter-connection", "not-quite-the-password").await;
    op.wait_for("adopter", "refused", is("False", "AuthenticationFailed"))
        .await;
    set_secret_password(&op, "adopter-connection", &password).await;
    op.wait_for("adopter", "LoggedIn", is("True", "LoggedIn"))
        .await;
    op.wait_for("adopter", "Ready", is_ready).await;
}

/// Logs in to the instance of `name` as neo4j with `password`, as an application would.
async fn app_login(op: &Operator, name: &str, password: &str) -> Result<(), DatabaseError> {
    let secret = op.secret(&format!("{name}-connection")).unwrap();
    let login = Login {
        uri: secret_value(&secret, "NEO4J_URI").unwrap(),
        username: "neo4j".to_owned(),
        password: SecretString::from(password.to_owned()),
    };
    database::verify(&op.database, &login).await
}

fn secret_password(op: &Operator, name: &str) -> String {
    let secret = op.secret(&format!("{name}-connection")).unwrap();
    secret_value(&secret, "NEO4J_PASSWORD").unwrap()
}

#[tokio::test]
async fn a_wrong_password_in_the_secret_never_locks_out_the_applications() {
    // Neo4j's own lock (3 refusals in a row, 5 s): the operator's checks every resync (1 s
    // here) with the wrong password would keep the user locked for everyone.
    let op = Operator::start_verifying().await;
    op.apply(instance("typo", json!({}))).await;
    let ready = op
        .wait_for("typo", "verified", is("True", "LoggedIn"))
        .await;
    let id = instance_id(&ready);
    let right = secret_password(&op, "typo");
    set_secret_password(&op, "typo-connection", "typed-by-hand-wrong").await;
    op.wait_for(
        "typo",
        "AuthenticationFailed",
        is("False", "AuthenticationFailed"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    app_login(&op, "typo", &right)
        .await
        .expect("the applications' right password still logs in");
    assert_eq!(
        op.emu.handle().failed_logins(&id, "neo4j"),
        1,
        "the operator tried the wrong password once, not at every resync"
    );
}

/// Logs in with a wrong password until the user is locked (the operator's own successful
/// checks in between reset the count, so a round may not be enough).
async fn lock_out(op: &Operator, name: &str, right: &str) {
    for _ in 0..5 {
        for _ in 0..3 {
            let refused = app_login(op, name, "an-application-with-a-typo").await;
            assert!(refused.is_err());
        }
        if let Err(DatabaseError::RateLimited(_)) = app_login(op, name, right).await {
            return;
        }
    }
    panic!("the user was never locked");
}

#[tokio::test]
async fn a_user_locked_by_an_application_is_a_wait_and_leaves_ready_alone() {
    let op = Operator::start_verifying_with(EmulatorConfig {
        bolt: true,
        bolt_auth_lock: AuthLockPolicy {
            max_failed: 3,
            lock_time: Duration::from_secs(3),
        },
        ..fast_config()
    })
    .await;
    op.apply(instance("hammered", json!({}))).await;
    op.wait_for("hammered", "verified", is("True", "LoggedIn"))
        .await;
    let right = secret_password(&op, "hammered");
    lock_out(&op, "hammered", &right).await;
    let locked = op
        .wait_for(
            "hammered",
            "AuthenticationRateLimited",
            is("False", "AuthenticationRateLimited"),
        )
        .await;
    assert!(is_ready(&locked), "a lock is no wrong password");
    assert!(
        op.event_reasons()
            .iter()
            .any(|r| r == "AuthenticationRateLimited")
    );
    assert!(
        !op.event_reasons()
            .iter()
            .any(|r| r == "AuthenticationFailed"),
        "{:?}",
        op.event_reasons()
    );
    // The Secret is as it was: nothing to fix, the lock passes by itself.
    assert_eq!(secret_password(&op, "hammered"), right);
    let back = op
        .wait_for("hammered", "LoggedIn again", is("True", "LoggedIn"))
        .await;
    assert!(is_ready(&back));
}
