//! kube `Api` requests against the in-memory server: CRUD, the patch flavours, optimistic
//! concurrency, the status subresource, generation rules, deletion and garbage collection.

use std::time::Duration;

use crate::common::{GROUP, PLURAL, Widget, WidgetStatus, configmap, reason, server, widget};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Resource, ResourceExt};
use serde_json::json;

fn rv<K: Resource>(object: &K) -> u64 {
    object
        .meta()
        .resource_version
        .as_deref()
        .unwrap_or_default()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn create_stamps_server_fields_and_a_second_create_is_already_exists() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let created = api
        .create(
            &PostParams::default(),
            &configmap("settings", &[("a", "1")]),
        )
        .await
        .unwrap();

    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(rv(&created) > 0);
    assert_eq!(api.get("settings").await.unwrap(), created);

    let err = api
        .create(&PostParams::default(), &configmap("settings", &[]))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((409, "AlreadyExists".into())));
}

#[tokio::test]
async fn generate_name_gives_distinct_names_with_the_prefix() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let mut cm = configmap("", &[]);
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("job-".into());
    let first = api.create(&PostParams::default(), &cm).await.unwrap();
    let second = api.create(&PostParams::default(), &cm).await.unwrap();
    assert!(first.name_any().starts_with("job-") && first.name_any().len() == 9);
    assert_ne!(first.name_any(), second.name_any());
}

#[tokio::test]
async fn missing_objects_answer_a_not_found_status() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let err = api.get("nope").await.unwrap_err();
    assert_eq!(reason(&err), Some((404, "NotFound".into())));
    let err = api
        .patch(
            "nope",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "1"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((404, "NotFound".into())));
    let err = api
        .delete("nope", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((404, "NotFound".into())));
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_is_a_conflict() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let original = api
        .create(&PostParams::default(), &configmap("cm", &[("a", "1")]))
        .await
        .unwrap();

    let mut fresh = original.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let replaced = api
        .replace("cm", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert!(rv(&replaced) > rv(&original));

    let mut stale = original.clone();
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    let err = api
        .replace("cm", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((409, "Conflict".into())));
    assert_eq!(api.get("cm").await.unwrap().data.unwrap()["a"], "2");
}

#[tokio::test]
async fn merge_strategic_and_json_patches_change_the_object() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    api.create(
        &PostParams::default(),
        &configmap("cm", &[("a", "1"), ("b", "2")]),
    )
    .await
    .unwrap();

    let merged = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": null, "c": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.clone().unwrap(),
        [("b".into(), "2".into()), ("c".into(), "3".into())].into()
    );

    let strategic = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.labels()["x"], "y");

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/b", "value": "20"}
    ]))
    .unwrap();
    let patched = api
        .patch("cm", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["b"], "20");

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "2"}])).unwrap();
    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Json::<()>(failing))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((422, "Invalid".into())));
}

#[tokio::test]
async fn a_merge_patch_carrying_a_stale_resource_version_is_a_conflict() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let created = api
        .create(&PostParams::default(), &configmap("cm", &[]))
        .await
        .unwrap();
    api.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "1"}})),
    )
    .await
    .unwrap();
    let stale =
        json!({"metadata": {"resourceVersion": created.resource_version()}, "data": {"a": "2"}});
    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Merge(stale))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((409, "Conflict".into())));
}

#[tokio::test]
async fn server_side_apply_creates_then_merges_and_needs_a_field_manager() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let apply = PatchParams::apply("test-manager").force();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}});
    let created = api.patch("cm", &apply, &Patch::Apply(&body)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some());

    let more = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"b": "2"}});
    let merged = api.patch("cm", &apply, &Patch::Apply(&more)).await.unwrap();
    assert_eq!(
        merged.data.unwrap(),
        [("a".into(), "1".into()), ("b".into(), "2".into())].into()
    );

    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Apply(&more))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((422, "Invalid".into())));
}

#[tokio::test]
async fn the_status_subresource_and_the_main_resource_each_ignore_the_other() {
    let server = server();
    let api: Api<Widget> = Api::default_namespaced(server.client());
    let mut w = widget("w", 1);
    w.status = Some(WidgetStatus {
        ready: true,
        ..WidgetStatus::default()
    });
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(
        created.status, None,
        "create drops status when a status subresource exists"
    );

    let status = json!({"status": {"ready": true}, "spec": {"size": 99}});
    let after_status = api
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(after_status.status.as_ref().map(|s| s.ready), Some(true));
    assert_eq!(after_status.spec.size, 1, "status writes leave spec alone");
    assert_eq!(
        after_status.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );

    let spec = json!({"status": {"ready": false}, "spec": {"size": 2}});
    let after_spec = api
        .patch("w", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    assert_eq!(after_spec.spec.size, 2);
    assert_eq!(
        after_spec.status.as_ref().map(|s| s.ready),
        Some(true),
        "main writes leave status alone"
    );
    assert_eq!(after_spec.metadata.generation, Some(2));

    let mut replaced = after_spec.clone();
    replaced.status = Some(WidgetStatus {
        ready: true,
        message: Some("via replace_status".into()),
        ..WidgetStatus::default()
    });
    let after_replace = api
        .replace_status("w", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        after_replace.status.unwrap().message.as_deref(),
        Some("via replace_status")
    );

    let fetched = api.get_status("w").await.unwrap();
    assert_eq!(fetched.metadata.generation, Some(2));
}

#[tokio::test]
async fn status_writes_on_a_type_without_a_status_subresource_are_not_found() {
    let server = memory_apiserver::ApiServer::new();
    let api: Api<Widget> = Api::default_namespaced(server.client());
    let mut w = widget("w", 1);
    w.status = Some(WidgetStatus::default());
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        created.status.is_some(),
        "without the subresource, status is just another field"
    );
    let err = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap_err();
    assert_eq!(reason(&err).map(|r| r.0), Some(404));
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let server = server();
    let api: Api<Widget> = Api::default_namespaced(server.client());
    api.create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let labelled = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep generation"
    );
    let resized = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(resized.metadata.generation, Some(2));
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_the_resource_version_and_emits_no_event() {
    let server = server();
    let api: Api<Widget> = Api::default_namespaced(server.client());
    api.create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let status = Patch::Merge(json!({"status": {"ready": true}}));
    let first = api
        .patch_status("w", &PatchParams::default(), &status)
        .await
        .unwrap();

    let mut events = api
        .watch(
            &WatchParams::default(),
            first.resource_version().as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    let again = api
        .patch_status("w", &PatchParams::default(), &status)
        .await
        .unwrap();
    let same_spec = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 1}})),
        )
        .await
        .unwrap();
    let same_object = api
        .replace("w", &PostParams::default(), &same_spec)
        .await
        .unwrap();
    assert_eq!(again.resource_version(), first.resource_version());
    assert_eq!(same_spec.resource_version(), first.resource_version());
    assert_eq!(same_object.resource_version(), first.resource_version());

    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), events.try_next())
        .await
        .unwrap()
        .unwrap();
    match next {
        Some(WatchEvent::Modified(w)) => {
            assert_eq!(w.spec.size, 2, "the first event is the real change")
        }
        other => panic!("expected the size change, got {other:?}"),
    }
    assert_eq!(
        server
            .counters()
            .write_count("patch", GROUP, PLURAL, "status"),
        2
    );
}

#[tokio::test]
async fn lists_filter_by_labels_fields_and_namespace() {
    let server = server();
    let client = server.client();
    for (ns, name, env) in [
        ("a", "one", "prod"),
        ("a", "two", "dev"),
        ("b", "three", "prod"),
        ("b", "four", ""),
    ] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let mut cm = configmap(name, &[]);
        if !env.is_empty() {
            cm.metadata.labels = Some([("env".to_string(), env.to_string())].into());
        }
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |list: kube::api::ObjectList<ConfigMap>| {
        list.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    };
    let all: Api<ConfigMap> = Api::all(client.clone());
    let in_a: Api<ConfigMap> = Api::namespaced(client.clone(), "a");

    let everything = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        everything.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
    assert_eq!(names(everything), ["one", "two", "four", "three"]);
    assert_eq!(
        names(in_a.list(&ListParams::default()).await.unwrap()),
        ["one", "two"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("env=prod"))
                .await
                .unwrap()
        ),
        ["one", "three"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("env in (dev,prod),env!=prod"))
                .await
                .unwrap()
        ),
        ["two"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("!env"))
                .await
                .unwrap()
        ),
        ["four"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("env notin (prod)"))
                .await
                .unwrap()
        ),
        ["two", "four"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace=b,metadata.name!=four"))
                .await
                .unwrap()
        ),
        ["three"]
    );
    assert_eq!(server.counters().lists_served, 7);
}

#[tokio::test]
async fn deleting_an_object_with_finalizers_marks_it_until_the_last_finalizer_goes() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let mut cm = configmap("cm", &[]);
    cm.metadata.finalizers = Some(vec!["example.test/a".into(), "example.test/b".into()]);
    let created = api.create(&PostParams::default(), &cm).await.unwrap();

    let marked = api
        .delete("cm", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(
        marked.metadata.generation,
        Some(2),
        "marking for deletion bumps generation"
    );
    let again = api
        .delete("cm", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        again.resource_version(),
        marked.resource_version(),
        "a second delete changes nothing"
    );

    let add = Patch::Merge(
        json!({"metadata": {"finalizers": ["example.test/a", "example.test/b", "late"]}}),
    );
    let err = api
        .patch("cm", &PatchParams::default(), &add)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((422, "Invalid".into())));

    let drop_one = Patch::Merge(json!({"metadata": {"finalizers": ["example.test/b"]}}));
    api.patch("cm", &PatchParams::default(), &drop_one)
        .await
        .unwrap();
    assert!(
        server
            .get("", "configmaps", Some("default"), "cm")
            .is_some()
    );

    let drop_last = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("cm", &PatchParams::default(), &drop_last)
        .await
        .unwrap();
    assert!(
        server
            .get("", "configmaps", Some("default"), "cm")
            .is_none()
    );
    assert!(rv(&created) < server.resource_version());
}

#[tokio::test]
async fn removing_an_owner_garbage_collects_dependents_unless_another_owner_lives() {
    let server = server();
    let client = server.client();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let owner = widgets
        .create(&PostParams::default(), &widget("owner", 1))
        .await
        .unwrap();
    let other = widgets
        .create(&PostParams::default(), &widget("other", 1))
        .await
        .unwrap();
    let owned_by = |owners: &[&Widget]| -> Vec<OwnerReference> {
        owners
            .iter()
            .map(|w| w.controller_owner_ref(&()).unwrap())
            .collect()
    };

    let mut only = configmap("only-owner", &[]);
    only.metadata.owner_references = Some(owned_by(&[&owner]));
    configmaps
        .create(&PostParams::default(), &only)
        .await
        .unwrap();
    let mut shared = Secret::default();
    shared.metadata.name = Some("shared".into());
    shared.metadata.owner_references = Some(owned_by(&[&owner, &other]));
    secrets
        .create(&PostParams::default(), &shared)
        .await
        .unwrap();
    let mut held = configmap("held", &[]);
    held.metadata.owner_references = Some(owned_by(&[&owner]));
    held.metadata.finalizers = Some(vec!["example.test/hold".into()]);
    configmaps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();

    widgets
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();

    assert!(
        server
            .get("", "configmaps", Some("default"), "only-owner")
            .is_none()
    );
    let shared = server
        .get_as::<Secret>(Some("default"), "shared")
        .expect("a live owner keeps it");
    assert_eq!(shared.owner_references().len(), 1);
    assert_eq!(shared.owner_references()[0].uid, other.uid().unwrap());
    let held = server
        .get_as::<ConfigMap>(Some("default"), "held")
        .expect("finalizers hold it");
    assert!(held.metadata.deletion_timestamp.is_some());
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents_and_drops_their_owner_reference() {
    let server = server();
    let client = server.client();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = widgets
        .create(&PostParams::default(), &widget("owner", 1))
        .await
        .unwrap();
    let mut cm = configmap("cm", &[]);
    cm.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).unwrap()]);
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();

    widgets
        .delete("owner", &DeleteParams::orphan())
        .await
        .unwrap();
    let kept = server.get_as::<ConfigMap>(Some("default"), "cm").unwrap();
    assert!(kept.metadata.owner_references.is_none());
}

#[tokio::test]
async fn injected_failures_answer_the_given_status_then_stop() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    api.create(&PostParams::default(), &configmap("cm", &[]))
        .await
        .unwrap();
    server.fail_next("get", "", "configmaps", 2, 503);
    for _ in 0..2 {
        let err = api.get("cm").await.unwrap_err();
        assert_eq!(reason(&err), Some((503, "ServiceUnavailable".into())));
    }
    assert!(api.get("cm").await.is_ok());
    server.fail_next("*", "", "*", 1, 500);
    assert_eq!(
        reason(&api.get("cm").await.unwrap_err()).map(|r| r.0),
        Some(500)
    );
    assert_eq!(server.counters().gets, 4);
}

#[tokio::test]
async fn leases_support_optimistic_leader_election() {
    let server = server();
    let client = server.client();
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    let mut lease = Lease::default();
    lease.metadata.name = Some("operator-leader".into());
    lease.spec = Some(k8s_openapi::api::coordination::v1::LeaseSpec {
        holder_identity: Some("a".into()),
        lease_duration_seconds: Some(15),
        ..Default::default()
    });
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();

    // Two candidates read the same version and race to take over; exactly one wins.
    let take_over = |holder: &str| {
        let mut next = created.clone();
        next.spec.as_mut().unwrap().holder_identity = Some(holder.into());
        next
    };
    let b = leases
        .replace("operator-leader", &PostParams::default(), &take_over("b"))
        .await;
    let c = leases
        .replace("operator-leader", &PostParams::default(), &take_over("c"))
        .await;
    assert!(b.is_ok());
    assert_eq!(reason(&c.unwrap_err()), Some((409, "Conflict".into())));
    let stored = server
        .get_as::<Lease>(Some("kube-system"), "operator-leader")
        .unwrap();
    assert_eq!(stored.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn metadata_only_lists_and_watches_return_partial_object_metadata() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    api.create(&PostParams::default(), &configmap("cm", &[("secret", "x")]))
        .await
        .unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].name_any(), "cm");
    let first = api
        .watch_metadata(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed()
        .try_next()
        .await
        .unwrap();
    assert!(matches!(first, Some(WatchEvent::Added(meta)) if meta.name_any() == "cm"));
}

#[tokio::test]
async fn core_v1_events_are_stored_and_found_by_involved_object() {
    use k8s_openapi::api::core::v1::{Event, ObjectReference};
    let server = server();
    let api: Api<Event> = Api::default_namespaced(server.client());
    for (name, involved) in [("e1", "w1"), ("e2", "w2")] {
        let event = Event {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Widget".into()),
                name: Some(involved.into()),
                ..Default::default()
            },
            reason: Some("Tested".into()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await.unwrap();
    }
    let found = api
        .list(&ListParams::default().fields("involvedObject.name=w2"))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].name_any(), "e2");
}

#[tokio::test]
async fn cluster_scoped_objects_live_outside_namespaces() {
    use k8s_openapi::api::core::v1::Namespace;
    let server = server();
    let api: Api<Namespace> = Api::all(server.client());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("team-a".into());
    let created = api.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.metadata.namespace, None);
    assert!(server.get("", "namespaces", None, "team-a").is_some());
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    api.delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    assert!(server.list("", "namespaces", None).is_empty());
}

#[tokio::test]
async fn server_side_apply_to_a_missing_object_without_metadata_uses_the_url_name() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
    let created = api
        .patch("from-url", &PatchParams::apply("m"), &Patch::Apply(&body))
        .await
        .unwrap();
    assert_eq!(created.name_any(), "from-url");
}

#[tokio::test]
async fn secret_string_data_is_folded_into_data_and_never_stored() {
    let server = server();
    let secrets: Api<Secret> = Api::default_namespaced(server.client());
    let mut secret = Secret::default();
    secret.metadata.name = Some("login".into());
    secret.data = Some(
        [(
            "user".to_owned(),
            k8s_openapi::ByteString(b"neo4j".to_vec()),
        )]
        .into(),
    );
    secret.string_data = Some([("password".to_owned(), "first".to_owned())].into());
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert!(created.string_data.is_none(), "write-only");
    let data = created.data.unwrap();
    assert_eq!(data["password"].0, b"first");
    assert_eq!(data["user"].0, b"neo4j");

    // A merge patch of stringData wins over data of the same key, and leaves the rest.
    let patch = json!({"stringData": {"password": "second"}});
    let patched = secrets
        .patch("login", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert!(patched.string_data.is_none());
    let data = patched.data.unwrap();
    assert_eq!(data["password"].0, b"second");
    assert_eq!(data["user"].0, b"neo4j");
    let stored = server.get("", "secrets", Some("default"), "login").unwrap();
    assert!(stored.get("stringData").is_none(), "{stored}");
}

#[tokio::test]
async fn a_secret_without_a_type_is_opaque() {
    let server = server();
    let secrets: Api<Secret> = Api::default_namespaced(server.client());
    let mut untyped = Secret::default();
    untyped.metadata.name = Some("untyped".into());
    let created = secrets
        .create(&PostParams::default(), &untyped)
        .await
        .unwrap();
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    // A replace that leaves `type` out keeps it Opaque, as the real server's defaulting does.
    let mut replaced = created.clone();
    replaced.type_ = None;
    replaced.string_data = Some([("k".to_owned(), "v".to_owned())].into());
    let replaced = secrets
        .replace("untyped", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(replaced.type_.as_deref(), Some("Opaque"));

    // A type that is given is kept.
    let mut typed = Secret::default();
    typed.metadata.name = Some("typed".into());
    typed.type_ = Some("kubernetes.io/basic-auth".into());
    secrets
        .create(&PostParams::default(), &typed)
        .await
        .unwrap();
    let stored = server.get("", "secrets", Some("default"), "typed").unwrap();
    assert_eq!(stored["type"], "kubernetes.io/basic-auth");
}

#[tokio::test]
async fn deleting_with_a_stale_resource_version_precondition_is_a_conflict() {
    let server = server();
    let leases: Api<Lease> = Api::namespaced(server.client(), "ops");
    let mut lease = Lease::default();
    lease.metadata.name = Some("claim".into());
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut changed = created.clone();
    changed.spec = Some(k8s_openapi::api::coordination::v1::LeaseSpec {
        holder_identity: Some("someone-else".into()),
        ..Default::default()
    });
    leases
        .replace("claim", &PostParams::default(), &changed)
        .await
        .unwrap();
    let guarded = |rv: Option<String>| DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            resource_version: rv,
            uid: created.metadata.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    let stale = leases
        .delete("claim", &guarded(created.metadata.resource_version.clone()))
        .await;
    assert_eq!(reason(&stale.unwrap_err()), Some((409, "Conflict".into())));
    assert!(server.get_as::<Lease>(Some("ops"), "claim").is_some());
    let current = leases.get("claim").await.unwrap();
    leases
        .delete("claim", &guarded(current.metadata.resource_version))
        .await
        .unwrap();
    assert!(server.get_as::<Lease>(Some("ops"), "claim").is_none());
}
