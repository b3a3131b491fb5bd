//! Garbage collection as kube-controller-manager does it: dependents named by uid in
//! ownerReferences go after their owner (finalizers respected), dependents whose reference was
//! removed first stay, orphan propagation keeps them, and an optional delay lets a test see a
//! dependent outlive its owner for a while.

use std::time::Duration;

use crate::common::{Widget, configmap, server, widget};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

async fn owner(client: &Client, name: &str) -> Widget {
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    widgets
        .create(&PostParams::default(), &widget(name, 1))
        .await
        .unwrap()
}

async fn owned_secret(client: &Client, name: &str, owner: &Widget) -> Secret {
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).unwrap()]);
    secret.data = Some([("password".to_string(), ByteString(b"one-time".to_vec()))].into());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap()
}

async fn delete_widget(client: &Client, name: &str, params: &DeleteParams) {
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    widgets.delete(name, params).await.unwrap();
}

fn secret_exists(server: &memory_apiserver::ApiServer, name: &str) -> bool {
    server.get("", "secrets", Some("default"), name).is_some()
}

#[tokio::test]
async fn an_owned_secret_is_deleted_with_its_owner() {
    let server = server();
    let client = server.client();
    let instance = owner(&client, "instance").await;
    owned_secret(&client, "credentials", &instance).await;
    let unrelated = owner(&client, "unrelated").await;
    owned_secret(&client, "other-credentials", &unrelated).await;

    delete_widget(&client, "instance", &DeleteParams::default()).await;

    assert!(
        !secret_exists(&server, "credentials"),
        "the dependent of the removed owner is collected"
    );
    assert!(
        secret_exists(&server, "other-credentials"),
        "a dependent of another owner stays"
    );
    assert_eq!(server.pending_garbage(), 0);
}

#[tokio::test]
async fn an_owner_held_by_a_finalizer_keeps_its_dependents_until_it_is_really_gone() {
    let server = server();
    let client = server.client();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let mut held = widget("instance", 1);
    held.metadata.finalizers = Some(vec!["example.test/cleanup".into()]);
    let instance = widgets.create(&PostParams::default(), &held).await.unwrap();
    owned_secret(&client, "credentials", &instance).await;

    delete_widget(&client, "instance", &DeleteParams::default()).await;
    assert!(
        secret_exists(&server, "credentials"),
        "the owner still exists (terminating), so its dependent stays"
    );

    let_owner_go(&widgets, &server).await;
    assert!(!secret_exists(&server, "credentials"));
}

#[tokio::test]
async fn a_dependent_with_a_finalizer_is_marked_not_removed() {
    let server = server();
    let client = server.client();
    let instance = owner(&client, "instance").await;
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let mut secret = Secret::default();
    secret.metadata.name = Some("held".into());
    secret.metadata.owner_references = Some(vec![instance.controller_owner_ref(&()).unwrap()]);
    secret.metadata.finalizers = Some(vec!["example.test/keep".into()]);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    delete_widget(&client, "instance", &DeleteParams::default()).await;

    let held = secrets.get("held").await.expect("still readable");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), ["example.test/keep"]);

    secrets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(secrets.get_opt("held").await.unwrap().is_none());
}

/// Removing the ownerReference before the owner goes keeps the dependent, whichever patch
/// flavour removed it.
#[tokio::test]
async fn a_dependent_whose_owner_reference_was_removed_first_survives() {
    let server = server();
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let instance = owner(&client, "instance").await;
    for name in [
        "by-merge",
        "by-json",
        "by-apply",
        "by-strategic",
        "kept-owned",
    ] {
        owned_secret(&client, name, &instance).await;
    }

    secrets
        .patch(
            "by-merge",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"ownerReferences": null}})),
        )
        .await
        .unwrap();
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": instance.uid()},
        {"op": "remove", "path": "/metadata/ownerReferences"}
    ]))
    .unwrap();
    secrets
        .patch(
            "by-json",
            &PatchParams::default(),
            &Patch::Json::<()>(remove),
        )
        .await
        .unwrap();
    let apply = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "by-apply", "ownerReferences": []},
    });
    secrets
        .patch(
            "by-apply",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&apply),
        )
        .await
        .unwrap();
    secrets
        .patch(
            "by-strategic",
            &PatchParams::default(),
            // ownerReferences merge by uid in a strategic merge patch, so `[]` would change
            // nothing (as on a real server); `null` removes the field.
            &Patch::Strategic(json!({"metadata": {"ownerReferences": null}})),
        )
        .await
        .unwrap();

    delete_widget(&client, "instance", &DeleteParams::default()).await;

    for name in ["by-merge", "by-json", "by-apply", "by-strategic"] {
        let kept = secrets
            .get_opt(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} was collected although it was orphaned first"));
        assert!(kept.metadata.owner_references.is_none());
        assert!(kept.metadata.deletion_timestamp.is_none());
    }
    assert!(
        secrets.get_opt("kept-owned").await.unwrap().is_none(),
        "the one still owned is collected"
    );
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents_even_when_the_owner_waits_for_a_finalizer() {
    let server = server();
    let client = server.client();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let mut held = widget("instance", 1);
    held.metadata.finalizers = Some(vec!["example.test/cleanup".into()]);
    let instance = widgets.create(&PostParams::default(), &held).await.unwrap();
    owned_secret(&client, "credentials", &instance).await;

    widgets
        .delete("instance", &DeleteParams::orphan())
        .await
        .unwrap();
    let orphaned = server
        .get_as::<Secret>(Some("default"), "credentials")
        .unwrap();
    assert!(
        orphaned.metadata.owner_references.is_none(),
        "orphaned while the owner is still terminating"
    );

    let_owner_go(&widgets, &server).await;
    assert!(
        secret_exists(&server, "credentials"),
        "the owner's last finalizer going must not collect what was orphaned"
    );
}

#[tokio::test]
async fn collection_cascades_through_dependents_of_dependents() {
    let server = server();
    let client = server.client();
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let instance = owner(&client, "instance").await;
    let mut child = configmap("child", &[]);
    child.metadata.owner_references = Some(vec![instance.controller_owner_ref(&()).unwrap()]);
    let child = configmaps
        .create(&PostParams::default(), &child)
        .await
        .unwrap();
    let mut grandchild = configmap("grandchild", &[]);
    grandchild.metadata.owner_references = Some(vec![child.controller_owner_ref(&()).unwrap()]);
    configmaps
        .create(&PostParams::default(), &grandchild)
        .await
        .unwrap();

    delete_widget(&client, "instance", &DeleteParams::default()).await;

    assert!(configmaps.get_opt("child").await.unwrap().is_none());
    assert!(configmaps.get_opt("grandchild").await.unwrap().is_none());
}

#[tokio::test]
async fn an_object_created_for_an_owner_that_is_already_gone_is_collected() {
    let server = server();
    let client = server.client();
    let instance = owner(&client, "instance").await;
    delete_widget(&client, "instance", &DeleteParams::default()).await;

    // A controller acting on a stale cache writes a Secret for the deleted instance.
    let created = owned_secret(&client, "late", &instance).await;
    assert_eq!(created.name_any(), "late", "the create itself succeeds");
    assert!(
        !secret_exists(&server, "late"),
        "the garbage collector finds the dangling reference"
    );
}

#[tokio::test]
async fn a_reference_to_a_missing_owner_is_dropped_when_another_owner_lives() {
    let server = server();
    let client = server.client();
    let first = owner(&client, "first").await;
    let second = owner(&client, "second").await;
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let mut secret = Secret::default();
    secret.metadata.name = Some("shared".into());
    secret.metadata.owner_references = Some(vec![
        first.controller_owner_ref(&()).unwrap(),
        second.owner_ref(&()).unwrap(),
    ]);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    delete_widget(&client, "first", &DeleteParams::default()).await;

    let shared = secrets.get("shared").await.unwrap();
    let owners: Vec<_> = shared.owner_references().iter().map(|o| &o.uid).collect();
    assert_eq!(owners, [&second.uid().unwrap()]);
    let managers: Vec<_> = server
        .managed_fields("", "secrets", Some("default"), "shared")
        .into_iter()
        .filter_map(|entry| entry.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "kube-controller-manager"),
        "the garbage collector's patch is recorded as kube-controller-manager's: {managers:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn with_a_gc_delay_the_dependent_outlives_its_owner_for_that_long() {
    let server = server().with_gc_delay(Duration::from_secs(5));
    let client = server.client();
    let instance = owner(&client, "instance").await;
    owned_secret(&client, "credentials", &instance).await;

    delete_widget(&client, "instance", &DeleteParams::default()).await;
    assert!(
        server
            .get_as::<Widget>(Some("default"), "instance")
            .is_none()
    );
    assert!(
        secret_exists(&server, "credentials"),
        "the dependent is still there right after its owner went"
    );
    assert_eq!(server.pending_garbage(), 1);

    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert!(secret_exists(&server, "credentials"), "not yet");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !secret_exists(&server, "credentials"),
        "collected once the delay has passed"
    );
    assert_eq!(server.pending_garbage(), 0);
}

#[tokio::test]
async fn collect_garbage_runs_delayed_collections_at_once() {
    let server = server().with_gc_delay(Duration::from_secs(3600));
    let client = server.client();
    let instance = owner(&client, "instance").await;
    owned_secret(&client, "credentials", &instance).await;
    delete_widget(&client, "instance", &DeleteParams::default()).await;
    assert!(secret_exists(&server, "credentials"));

    server.collect_garbage();

    assert!(!secret_exists(&server, "credentials"));
    assert_eq!(server.pending_garbage(), 0);
}

#[tokio::test(start_paused = true)]
async fn with_a_gc_delay_a_reference_removed_in_the_meantime_still_saves_the_dependent() {
    let server = server().with_gc_delay(Duration::from_secs(2));
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let instance = owner(&client, "instance").await;
    owned_secret(&client, "credentials", &instance).await;
    delete_widget(&client, "instance", &DeleteParams::default()).await;

    // The collector looks at the dependent as it is when its time comes.
    secrets
        .patch(
            "credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"ownerReferences": null}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(secret_exists(&server, "credentials"));
}

/// Removes the finalizers of the terminating owner "instance", which then goes for good.
async fn let_owner_go(widgets: &Api<Widget>, server: &memory_apiserver::ApiServer) {
    widgets
        .patch(
            "instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(
        server
            .get_as::<Widget>(Some("default"), "instance")
            .is_none()
    );
}
