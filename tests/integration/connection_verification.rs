//! ConnectionVerified (issue 22): the operator logs in over Bolt with the connection Secret and
//! reports what the database said. The emulator answers Bolt with its own CA, which the
//! operator trusts through its extra-CA setting.

use std::time::Duration;

use crate::support::operator::{Operator, condition, instance, is_ready, secret_value, user_patch};
use aura_operator::crd::AuraInstance;
use kube::api::Patch;
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
