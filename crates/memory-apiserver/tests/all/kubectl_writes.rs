//! The writes (and the reads around them) kubectl 1.32 sends, replayed as it sends them (see
//! tests/samples/kubectl-requests.txt): client-side apply, server-side apply with its
//! migration from client-side apply, `kubectl wait --for=condition=Ready`, `kubectl delete`
//! with its wait, strategic merge patches of built-in types, and the namespace lifecycle.

use std::time::Duration;

use serde_json::{Value, json};

use crate::kubectl_replay::{
    APPLY_YAML, JSON_ACCEPT, JSON_PATCH, MERGE, STRATEGIC, condition, get, instance_spec, post,
    send, send_raw, server_with_crds, watch,
};

const NS_PATH: &str = "/api/v1/namespaces/facts";
const INSTANCES: &str = "/apis/aura.neo4j.io/v1alpha1/namespaces/facts/aurainstances";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn demo(memory: &str) -> Value {
    json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": {"name": "demo", "namespace": "facts"},
        "spec": instance_spec(memory),
    })
}

/// What `kubectl apply` (client-side) posts: the object with its own JSON in the
/// last-applied annotation.
fn with_last_applied(object: &Value) -> Value {
    let mut object = object.clone();
    object["metadata"]["annotations"] = json!({LAST_APPLIED: format!("{object}\n")});
    object
}

#[tokio::test]
async fn client_side_apply_creates_then_merge_patches() {
    let server = server_with_crds().await;
    server.create_namespace("facts");
    // kubectl apply -n facts -f demo.yaml
    let (code, _) = get(&server, &format!("{INSTANCES}/demo"), JSON_ACCEPT).await;
    assert_eq!(code, 404);
    let (code, _) = get(&server, NS_PATH, JSON_ACCEPT).await;
    assert_eq!(code, 200);
    let (code, created) = send(
        &server,
        "POST",
        &format!("{INSTANCES}?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some("application/json"),
        Some(&with_last_applied(&demo("1GB"))),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "kubectl-client-side-apply"
    );

    // The same file with more memory: a merge patch (custom resources have no strategies).
    let (code, _) = get(&server, &format!("{INSTANCES}/demo"), JSON_ACCEPT).await;
    assert_eq!(code, 200);
    let changed = with_last_applied(&demo("2GB"));
    let patch = json!({
        "metadata": {"annotations": {LAST_APPLIED: changed["metadata"]["annotations"][LAST_APPLIED]}},
        "spec": {"memory": "2GB"},
    });
    let (code, patched) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(MERGE),
        Some(&patch),
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["spec"]["memory"], "2GB");
    assert_eq!(patched["metadata"]["generation"], 2);

    // A strategic merge patch of a custom resource is refused, as on the real server.
    let (code, status) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo"),
        JSON_ACCEPT,
        Some(STRATEGIC),
        Some(&json!({"spec": {"memory": "4GB"}})),
    )
    .await;
    assert_eq!(code, 415, "{status}");
}

#[tokio::test]
async fn server_side_apply_takes_yaml_and_the_migration_patches_succeed() {
    let server = server_with_crds().await;
    // Created by client-side apply first, then `kubectl apply --server-side`.
    let (code, _) = post(
        &server,
        &format!("{INSTANCES}?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
        &with_last_applied(&demo("1GB")),
    )
    .await;
    assert_eq!(code, 201);

    let yaml = "apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\nmetadata:\n  name: demo\n  namespace: facts\nspec:\n  tenantId: t\n  cloudProvider: gcp\n  region: europe-west1\n  type: professional-db\n  memory: 2GB  # more\n";
    let apply_uri =
        format!("{INSTANCES}/demo?fieldManager=kubectl&fieldValidation=Strict&force=false");
    let (code, applied) = send_raw(
        &server,
        "PATCH",
        &apply_uri,
        JSON_ACCEPT,
        Some(APPLY_YAML),
        Some(yaml.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(code, 200, "{applied}");
    assert_eq!(applied["spec"]["memory"], "2GB");
    let managers: Vec<(&str, &str)> = applied["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(managers.contains(&("kubectl", "Apply")), "{managers:?}");

    // Keeping the last-applied annotation, as its own apply (fieldManager=kubectl-last-applied).
    let annotation = json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "demo", "namespace": "facts",
                     "annotations": {LAST_APPLIED: applied["metadata"]["annotations"][LAST_APPLIED]}},
    });
    let (code, kept) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?fieldManager=kubectl-last-applied&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(APPLY_YAML),
        Some(&annotation),
    )
    .await;
    assert_eq!(code, 200, "{kept}");
    assert_eq!(
        kept["spec"]["memory"], "2GB",
        "an apply of metadata only keeps the spec"
    );

    // The migration: a JSON patch replacing managedFields, guarded by the resourceVersion.
    let migration = |rv: &Value, fields: &Value| {
        json!([
            {"op": "replace", "path": "/metadata/managedFields", "value": fields},
            {"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
        ])
    };
    let fields = kept["metadata"]["managedFields"].clone();
    let (code, stale) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?fieldManager=kubectl&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(JSON_PATCH),
        Some(&migration(&json!("1"), &fields)),
    )
    .await;
    assert_eq!(
        code, 409,
        "a stale resourceVersion conflicts, so kubectl refetches: {stale}"
    );
    let (code, migrated) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?fieldManager=kubectl&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(JSON_PATCH),
        Some(&migration(&kept["metadata"]["resourceVersion"], &fields)),
    )
    .await;
    assert_eq!(code, 200, "{migrated}");
    assert_eq!(migrated["spec"], kept["spec"]);
    assert_eq!(migrated["metadata"]["managedFields"], fields, "as sent");
    // What kubectl sends moves the client-side-apply manager's fields to its own Apply entry.
    let moved = json!([{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "aura.neo4j.io/v1alpha1",
        "time": "2026-12-05T21:46:26Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {".": {}, "f:memory": {}, "f:region": {}, "f:tenantId": {}}},
    }]);
    let (code, migrated) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?fieldManager=kubectl&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(JSON_PATCH),
        Some(&migration(&migrated["metadata"]["resourceVersion"], &moved)),
    )
    .await;
    assert_eq!(code, 200, "{migrated}");
    assert_eq!(migrated["metadata"]["managedFields"], moved);
    assert_eq!(
        server
            .managed_fields("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
            .len(),
        1
    );

    // Applied again (JSON this time, as kubectl encodes it), and with a conflicting apply
    // forced: both succeed.
    let (code, again) = send(
        &server,
        "PATCH",
        &apply_uri,
        JSON_ACCEPT,
        Some(APPLY_YAML),
        Some(&demo("4GB")),
    )
    .await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["spec"]["memory"], "4GB");
    let (code, _) = send_raw(
        &server,
        "PATCH",
        &apply_uri,
        JSON_ACCEPT,
        Some(APPLY_YAML),
        Some(b"- not: an object".to_vec()),
    )
    .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn kubectl_wait_for_condition_ready_sees_the_condition_arrive() {
    let server = server_with_crds().await;
    post(&server, INSTANCES, &demo("1GB")).await;
    // kubectl wait -n facts aurainstance/demo --for=condition=Ready
    let (code, _) = get(&server, &format!("{INSTANCES}/demo"), JSON_ACCEPT).await;
    assert_eq!(code, 200);
    let (code, list) = get(
        &server,
        &format!("{INSTANCES}?fieldSelector=metadata.name%3Ddemo&limit=500&resourceVersion=0"),
        JSON_ACCEPT,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap();
    let mut events = watch(
        &server,
        &format!(
            "{INSTANCES}?allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddemo&resourceVersion={rv}&timeoutSeconds=366&watch=true"
        ),
        JSON_ACCEPT,
    )
    .await;
    // Another instance changing is not seen.
    let mut other = demo("1GB");
    other["metadata"]["name"] = json!("other");
    post(&server, INSTANCES, &other).await;
    let ready = json!({"status": {"conditions": [condition("Ready", "True")]}});
    let (code, _) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo/status"),
        JSON_ACCEPT,
        Some(MERGE),
        Some(&ready),
    )
    .await;
    assert_eq!(code, 200);
    let event = events.next().await;
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"]["metadata"]["name"], "demo");
    assert_eq!(event["object"]["status"]["conditions"][0]["status"], "True");
}

#[tokio::test]
async fn kubectl_delete_waits_for_the_finalizer_to_go() {
    let server = server_with_crds().await;
    let mut held = demo("1GB");
    held["metadata"]["finalizers"] = json!(["aura.neo4j.io/instance"]);
    post(&server, INSTANCES, &held).await;
    let (code, deleting) = send(
        &server,
        "DELETE",
        &format!("{INSTANCES}/demo"),
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    // --wait: list the one object, then watch it until it is gone.
    let (_, list) = get(
        &server,
        &format!("{INSTANCES}?fieldSelector=metadata.name%3Ddemo"),
        JSON_ACCEPT,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap();
    let mut events = watch(
        &server,
        &format!("{INSTANCES}?fieldSelector=metadata.name%3Ddemo&resourceVersion={rv}&watch=true"),
        JSON_ACCEPT,
    )
    .await;
    assert!(
        events
            .next_within(Duration::from_millis(100))
            .await
            .is_none()
    );
    // The operator lets go.
    let release = json!({"metadata": {"finalizers": null}});
    let (code, _) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo"),
        JSON_ACCEPT,
        Some(MERGE),
        Some(&release),
    )
    .await;
    assert_eq!(code, 200);
    let mut kinds = Vec::new();
    while let Some(event) = events.next_within(Duration::from_millis(500)).await {
        kinds.push(event["type"].as_str().unwrap().to_string());
    }
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("DELETED"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn kubectl_apply_and_edit_of_a_deployment_merge_containers_by_name() {
    let server = memory_apiserver::ApiServer::new();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "operator", "namespace": "facts"},
        "spec": {"selector": {"matchLabels": {"app": "op"}}, "template": {
            "metadata": {"labels": {"app": "op"}},
            "spec": {"containers": [
                {"name": "operator", "image": "aura-operator:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "busybox"},
            ]},
        }},
    });
    let uri = "/apis/apps/v1/namespaces/facts/deployments";
    let (code, _) = post(&server, uri, &deployment).await;
    assert_eq!(code, 201);
    // What kubectl apply computes when the file changes the image and drops env B.
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "operator"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}],
            "env": [{"$patch": "delete", "name": "B"}],
            "image": "aura-operator:2",
            "name": "operator",
        }],
    }}}});
    let (code, patched) = send(
        &server,
        "PATCH",
        &format!("{uri}/operator?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
        JSON_ACCEPT,
        Some(STRATEGIC),
        Some(&patch),
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "operator", "image": "aura-operator:2", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"},
        ])
    );
    // kubectl patch --type=json.
    let json_patch = json!([{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "busybox:2"}]);
    let (code, patched) = send(
        &server,
        "PATCH",
        &format!("{uri}/operator"),
        JSON_ACCEPT,
        Some(JSON_PATCH),
        Some(&json_patch),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][1]["image"],
        "busybox:2"
    );
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_refused_only_with_the_lifecycle_on() {
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let uri = "/api/v1/namespaces/nowhere/configmaps";

    let lenient = memory_apiserver::ApiServer::new();
    let (code, _) = send(&lenient, "POST", uri, JSON_ACCEPT, None, Some(&object)).await;
    assert_eq!(
        code, 201,
        "the default keeps tests free of Namespace objects"
    );

    let strict = memory_apiserver::ApiServer::new().with_namespace_lifecycle();
    let (code, status) = send(&strict, "POST", uri, JSON_ACCEPT, None, Some(&object)).await;
    assert_eq!(code, 404);
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "namespaces \"nowhere\" not found");
    assert_eq!(
        status["details"],
        json!({"name": "nowhere", "kind": "namespaces"})
    );
    // Server-side apply that would create, and Events of either API, likewise.
    let (code, _) = send(
        &strict,
        "PATCH",
        &format!("{uri}/c?fieldManager=kubectl"),
        JSON_ACCEPT,
        Some(APPLY_YAML),
        Some(&object),
    )
    .await;
    assert_eq!(code, 404);
    let event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                       "reason": "Ready", "note": "hi"});
    let (code, _) = send(
        &strict,
        "POST",
        "/apis/events.k8s.io/v1/namespaces/nowhere/events",
        JSON_ACCEPT,
        None,
        Some(&event),
    )
    .await;
    assert_eq!(code, 404);
    // Cluster-scoped objects need no namespace; once the namespace exists, creates work.
    let (code, _) = send(
        &strict,
        "POST",
        "/api/v1/namespaces",
        JSON_ACCEPT,
        None,
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nowhere"}})),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = send(&strict, "POST", uri, JSON_ACCEPT, None, Some(&object)).await;
    assert_eq!(code, 201);
}

/// `kubectl diff` and `--dry-run=server` send their writes with `dryRun=All`: the answer is
/// what the write would give, and nothing is stored or watched.
#[tokio::test]
async fn dry_run_writes_answer_without_changing_anything() {
    let server = server_with_crds().await;
    let (_, created) = post(&server, INSTANCES, &demo("1GB")).await;
    let rv = server.resource_version();
    let mut events = watch(
        &server,
        &format!("{INSTANCES}?watch=true&resourceVersion={rv}"),
        JSON_ACCEPT,
    )
    .await;

    let patch = json!({"spec": {"memory": "2GB"}});
    let (code, answer) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo?dryRun=All&fieldManager=kubectl-client-side-apply"),
        JSON_ACCEPT,
        Some(MERGE),
        Some(&patch),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["spec"]["memory"], "2GB");
    assert_eq!(answer["metadata"]["generation"], 2);
    assert_eq!(
        answer["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let mut other = demo("1GB");
    other["metadata"]["name"] = json!("other");
    let (code, answer) = post(&server, &format!("{INSTANCES}?dryRun=All"), &other).await;
    assert_eq!(code, 201, "{answer}");
    assert!(answer["metadata"]["uid"].is_string());
    assert!(answer["metadata"].get("resourceVersion").is_none());

    let (code, _) = send(
        &server,
        "DELETE",
        &format!("{INSTANCES}/demo?dryRun=All"),
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    // Errors are the real ones.
    let (code, _) = post(&server, &format!("{INSTANCES}?dryRun=All"), &demo("1GB")).await;
    assert_eq!(code, 409);
    let (code, _) = send(
        &server,
        "DELETE",
        &format!("{INSTANCES}/demo?dryRun=Some"),
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    assert_eq!(code, 422);

    assert_eq!(server.resource_version(), rv, "nothing was written");
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
        .unwrap();
    assert_eq!(stored, created);
    assert!(
        server
            .get("aura.neo4j.io", "aurainstances", Some("facts"), "other")
            .is_none()
    );
    assert!(
        events
            .next_within(Duration::from_millis(200))
            .await
            .is_none(),
        "no watch event"
    );
    // A real write after them is the next resourceVersion and the next event.
    send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo"),
        JSON_ACCEPT,
        Some(MERGE),
        Some(&patch),
    )
    .await;
    assert_eq!(server.resource_version(), rv + 1);
    assert_eq!(events.next().await["type"], "MODIFIED");
}
