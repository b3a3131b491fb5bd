//! Deleting a namespace that holds resources of all three kinds, with their credentials Secret
//! beside them: memory-apiserver deletes everything in a terminating namespace at once, as the
//! namespace controller does (shared/kubernetes-facts.md), so the credentials Secret goes first
//! unless something holds it.

use std::time::Duration;

use crate::support::operator::{NS, Operator, instance, is_ready, resource, user_post};
use crate::support::{self, CLIENT_ID, CLIENT_SECRET};
use aura_operator::aura::SessionFilter;
use aura_operator::controllers::tenancy::credential_hold;
use aura_operator::crd::{AuraInstance, AuraSnapshot, GdsSession};
use k8s_openapi::api::core::v1::Secret;
use serde_json::json;

const CREDENTIALS: &str = "aura-creds";

async fn credentials_secret(op: &Operator) {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": CREDENTIALS, "namespace": NS},
        "stringData": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    }))
    .unwrap();
    op.secrets().create(&user_post(), &secret).await.unwrap();
}

/// A namespace with an instance (Delete), a snapshot of it and a session on it, all through
/// the namespace's own credentials Secret.
async fn populated(op: &Operator) -> String {
    op.api.create_namespace(NS);
    credentials_secret(op).await;
    let creds = json!({"name": CREDENTIALS});
    op.apply(instance(
        "db",
        json!({"deletionPolicy": "Delete", "credentialsSecretRef": creds}),
    ))
    .await;
    let db = op.wait_for("db", "Ready", is_ready).await;
    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "nightly",
        json!({"instanceRef": {"name": "db"}}),
    ))
    .await;
    op.create::<GdsSession>(resource(
        "GdsSession",
        "analysis",
        json!({"instanceRef": {"name": "db"}, "memory": "8GB"}),
    ))
    .await;
    op.wait_for_any::<GdsSession>("analysis", "Ready", is_ready)
        .await;
    op.wait_for_any::<AuraSnapshot>("nightly", "Ready", is_ready)
        .await;
    db.status.unwrap().instance_id.unwrap()
}

fn finalizers(secret: &Secret) -> Vec<String> {
    secret.metadata.finalizers.clone().unwrap_or_default()
}

#[tokio::test]
async fn deleting_the_namespace_deletes_in_aura_and_completes() {
    // The harness watches one namespace; deleting "default" is a model's liberty (a real
    // cluster refuses it), and what it exercises is the same for any namespace.
    let op = Operator::start().await;
    populated(&op).await;
    let held = op.secret(CREDENTIALS).unwrap();
    assert!(
        finalizers(&held).contains(&credential_hold::FINALIZER.to_owned()),
        "the resources hold their credentials Secret: {:?}",
        finalizers(&held)
    );

    op.api.delete_namespace(NS);
    support::wait_for(
        "the namespace to go",
        Duration::from_secs(30),
        || match op.api.get("", "namespaces", None, NS) {
            None => Ok(()),
            Some(namespace) => Err(format!("{namespace:#}")),
        },
    )
    .await;
    assert!(op.api.list_as::<AuraInstance>(Some(NS)).is_empty());
    assert!(op.api.list_as::<GdsSession>(Some(NS)).is_empty());
    assert!(op.api.list_as::<Secret>(Some(NS)).is_empty());
    let live: Vec<_> = op
        .emu
        .handle()
        .instances()
        .into_iter()
        .filter(|i| i.status != "destroying")
        .collect();
    assert!(live.is_empty(), "the Aura instance was deleted: {live:?}");
    let sessions = support::client(&op.emu)
        .sessions()
        .list(&SessionFilter::default())
        .await
        .unwrap();
    assert!(sessions.is_empty(), "the session was deleted: {sessions:?}");
}

#[tokio::test]
async fn the_hold_goes_with_the_last_resource_that_needs_it() {
    let op = Operator::start().await;
    populated(&op).await;
    op.delete_any::<GdsSession>("analysis").await;
    op.wait_gone_any::<GdsSession>("analysis").await;
    let still = op.secret(CREDENTIALS).unwrap();
    assert!(
        finalizers(&still).contains(&credential_hold::FINALIZER.to_owned()),
        "the instance still needs it"
    );
    op.delete("db").await;
    op.wait_gone("db").await;
    let free = op.secret(CREDENTIALS).unwrap();
    assert!(
        !finalizers(&free).contains(&credential_hold::FINALIZER.to_owned()),
        "nothing needs it any more: {:?}",
        finalizers(&free)
    );
}

#[tokio::test]
async fn a_held_secret_nothing_needs_is_let_go_when_it_is_deleted() {
    let op = Operator::start().await;
    op.api.create_namespace(NS);
    credentials_secret(&op).await;
    op.apply(instance(
        "db",
        json!({"deletionPolicy": "Delete", "credentialsSecretRef": {"name": CREDENTIALS}}),
    ))
    .await;
    op.wait_for("db", "Ready", is_ready).await;
    // The policy changes: the instance no longer needs the Secret to be deleted.
    op.patch_spec("db", json!({"deletionPolicy": "Retain"}))
        .await;
    op.secrets()
        .delete(CREDENTIALS, &Default::default())
        .await
        .unwrap();
    support::wait_for(
        "the hold to be lifted",
        Duration::from_secs(10),
        || match op.secret(CREDENTIALS) {
            None => Ok(()),
            Some(secret) => Err(format!("finalizers {:?}", finalizers(&secret))),
        },
    )
    .await;
}
