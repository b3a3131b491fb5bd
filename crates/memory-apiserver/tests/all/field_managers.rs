//! Field managers: every create, update and patch (status writes included) is counted by the
//! `fieldManager` it carried, and recorded in the object's `metadata.managedFields` in a
//! simplified form; a write that changes nothing changes no managedFields either.

use std::time::Duration;

use crate::common::{GROUP, PLURAL, Widget, configmap, server, widget};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use memory_apiserver::FieldManagerKey;
use serde_json::json;
use tower::ServiceExt;

const MANAGER: &str = "aura-operator";

fn post(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.into()),
        ..PostParams::default()
    }
}

fn patch(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
}

/// (manager, operation, subresource) of each entry, in order.
fn entries(managed: &[ManagedFieldsEntry]) -> Vec<(String, String, String)> {
    managed
        .iter()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default(),
                e.subresource.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn entry(manager: &str, operation: &str, subresource: &str) -> (String, String, String) {
    (manager.into(), operation.into(), subresource.into())
}

#[tokio::test]
async fn every_kind_of_write_is_recorded_in_managed_fields() {
    let server = server();
    let widgets: Api<Widget> = Api::default_namespaced(server.client());
    let created = widgets
        .create(&post(MANAGER), &widget("w", 1))
        .await
        .unwrap();
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(entries(&managed), [entry(MANAGER, "Update", "")]);
    assert_eq!(managed[0].api_version.as_deref(), Some("example.test/v1"));
    assert!(managed[0].time.is_some());
    // Simplified field sets, in the real server's format (kubectl's apply reads them).
    assert_eq!(managed[0].fields_type.as_deref(), Some("FieldsV1"));
    let fields = serde_json::to_value(managed[0].fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(fields["f:spec"], json!({".": {}, "f:size": {}}));
    assert!(fields.get("f:apiVersion").is_none());

    widgets
        .patch(
            "w",
            &patch(MANAGER),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    widgets
        .patch(
            "w",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(
                json!({"apiVersion": "example.test/v1", "kind": "Widget", "spec": {"size": 3}}),
            ),
        )
        .await
        .unwrap();
    widgets
        .patch_status(
            "w",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(json!({"apiVersion": "example.test/v1", "kind": "Widget", "status": {"ready": true}})),
        )
        .await
        .unwrap();
    widgets
        .patch_status(
            "w",
            &patch("kubectl-edit"),
            &Patch::Merge(json!({"status": {"message": "hand-edited"}})),
        )
        .await
        .unwrap();
    let mut current = widgets.get("w").await.unwrap();
    current.spec.size = 4;
    widgets
        .replace("w", &post("kubectl-replace"), &current)
        .await
        .unwrap();

    let stored = server.managed_fields(GROUP, PLURAL, Some("default"), "w");
    assert_eq!(
        entries(&stored),
        [
            entry(MANAGER, "Update", ""),
            entry(MANAGER, "Apply", ""),
            entry(MANAGER, "Apply", "status"),
            entry("kubectl-edit", "Update", "status"),
            entry("kubectl-replace", "Update", ""),
        ],
        "one entry per (manager, operation, subresource), the first updated in place"
    );
    assert_eq!(
        widgets
            .get("w")
            .await
            .unwrap()
            .metadata
            .managed_fields
            .unwrap(),
        stored,
        "reads return them"
    );
}

#[tokio::test]
async fn server_side_apply_that_creates_records_an_apply_entry() {
    let server = server();
    let configmaps: Api<ConfigMap> = Api::default_namespaced(server.client());
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}});
    let created = configmaps
        .patch("cm", &PatchParams::apply(MANAGER), &Patch::Apply(&body))
        .await
        .unwrap();
    assert_eq!(
        entries(&created.metadata.managed_fields.unwrap()),
        [entry(MANAGER, "Apply", "")]
    );
}

#[tokio::test]
async fn counters_tell_which_writes_carried_which_field_manager() {
    let server = server();
    let client = server.client();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    widgets
        .create(&post(MANAGER), &widget("w", 1))
        .await
        .unwrap();
    widgets
        .patch(
            "w",
            &patch(MANAGER),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    widgets
        .patch_status(
            "w",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(json!({"apiVersion": "example.test/v1", "kind": "Widget", "status": {"ready": true}})),
        )
        .await
        .unwrap();
    configmaps
        .create(&post(MANAGER), &configmap("cm", &[]))
        .await
        .unwrap();
    widgets.delete("w", &DeleteParams::default()).await.unwrap();

    let counters = server.counters();
    assert_eq!(
        counters.writes_not_by_field_manager(MANAGER, GROUP, PLURAL),
        0
    );
    assert_eq!(
        counters.writes_not_by_field_manager(MANAGER, "", "configmaps"),
        0
    );
    assert_eq!(
        counters.writes_by_field_manager(Some(MANAGER), GROUP, PLURAL),
        3
    );
    assert_eq!(
        counters.field_managers.get(&FieldManagerKey {
            field_manager: Some(MANAGER.into()),
            verb: "patch".into(),
            patch_type: "apply".into(),
            group: GROUP.into(),
            plural: PLURAL.into(),
            subresource: "status".into(),
        }),
        Some(&1)
    );
    assert_eq!(
        counters.writes_of("delete", GROUP, PLURAL),
        1,
        "deletes are counted as writes, but carry no field manager"
    );

    // One write without a field manager is enough to break "every write carried it".
    configmaps
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "1"}})),
        )
        .await
        .unwrap();
    let counters = server.counters();
    assert_eq!(counters.writes_without_field_manager("", "configmaps"), 1);
    assert_eq!(
        counters.writes_not_by_field_manager(MANAGER, "", "configmaps"),
        1
    );
    assert_eq!(
        counters.field_managers_of("", "configmaps"),
        [None, Some(MANAGER.to_string())].into()
    );
    let unnamed: Vec<_> = counters
        .field_manager_writes_to("", "configmaps")
        .filter(|(k, _)| k.field_manager.is_none())
        .map(|(k, n)| (k.verb.clone(), k.patch_type.clone(), n))
        .collect();
    assert_eq!(unnamed, [("patch".to_string(), "merge".to_string(), 1)]);
    // The stored object shows a stand-in manager for it.
    assert!(
        entries(&server.managed_fields("", "configmaps", Some("default"), "cm"))
            .contains(&entry("unknown", "Update", "")),
    );
}

#[tokio::test]
async fn without_a_field_manager_the_user_agent_names_the_manager() {
    let server = server();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}});
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "kubectl/v1.32.0 (linux/amd64) kubernetes/abc1234",
        )
        .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let response = server.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        entries(&server.managed_fields("", "configmaps", Some("default"), "cm")),
        [entry("kubectl", "Update", "")]
    );
    assert_eq!(
        server
            .counters()
            .writes_without_field_manager("", "configmaps"),
        1,
        "the counters still tell that no fieldManager was sent"
    );
}

#[tokio::test]
async fn a_write_that_changes_nothing_leaves_managed_fields_and_resource_version_alone() {
    let server = server();
    let widgets: Api<Widget> = Api::default_namespaced(server.client());
    widgets
        .create(&post(MANAGER), &widget("w", 1))
        .await
        .unwrap();
    let status =
        json!({"apiVersion": "example.test/v1", "kind": "Widget", "status": {"ready": true}});
    let first = widgets
        .patch_status("w", &PatchParams::apply(MANAGER), &Patch::Apply(&status))
        .await
        .unwrap();
    let mut events = widgets
        .watch(&WatchParams::default(), &first.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();

    // The same status again, and the same spec from another manager: nothing changes.
    let again = widgets
        .patch_status("w", &PatchParams::apply(MANAGER), &Patch::Apply(&status))
        .await
        .unwrap();
    let other = widgets
        .patch(
            "w",
            &patch("someone-else"),
            &Patch::Merge(json!({"spec": {"size": 1}})),
        )
        .await
        .unwrap();
    let replaced = widgets
        .replace("w", &post("someone-else"), &other)
        .await
        .unwrap();
    for unchanged in [&again, &other, &replaced] {
        assert_eq!(unchanged.resource_version(), first.resource_version());
        assert_eq!(
            unchanged.metadata.managed_fields,
            first.metadata.managed_fields
        );
    }
    // Client-sent managedFields are not taken over either.
    let mut forged = replaced.clone();
    forged.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
        manager: Some("forged".into()),
        ..ManagedFieldsEntry::default()
    }]);
    let after_forge = widgets.replace("w", &post(MANAGER), &forged).await.unwrap();
    assert_eq!(after_forge.resource_version(), first.resource_version());
    assert_eq!(
        after_forge.metadata.managed_fields,
        first.metadata.managed_fields
    );

    widgets
        .patch(
            "w",
            &patch(MANAGER),
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
}
