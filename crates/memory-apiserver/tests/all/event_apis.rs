//! Events are one resource with two APIs: an Event the operator writes through
//! `events.k8s.io/v1` is what `kubectl get events` and `kubectl describe` read through core/v1
//! (with describe's field selector), and the other way round; gets, lists, watches and patches
//! work through either.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as RecordedEvent, EventType, Recorder, Reporter};
use serde_json::{Value, json};

use crate::kubectl_replay::{
    JSON_ACCEPT, TABLE_ACCEPT, column_names, get, instance_spec, post, send, server_with_crds,
    watch,
};

const INSTANCES: &str = "/apis/aura.neo4j.io/v1alpha1/namespaces/facts/aurainstances";

/// The query `kubectl describe aurainstance demo` lists Events with (client-go's
/// `GetFieldSelector`: kind, name, namespace, uid, sorted and escaped).
fn describe_query(uid: &str) -> String {
    let selector = format!(
        "involvedObject.kind=AuraInstance,involvedObject.name=demo,involvedObject.namespace=facts,involvedObject.uid={uid}"
    );
    let encoded: String = form_urlencoded::byte_serialize(selector.as_bytes()).collect();
    format!("/api/v1/namespaces/facts/events?fieldSelector={encoded}&limit=500")
}

async fn demo_instance(server: &memory_apiserver::ApiServer) -> Value {
    let instance = json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "demo"}, "spec": instance_spec("2GB"),
    });
    let (code, created) = post(server, INSTANCES, &instance).await;
    assert_eq!(code, 201);
    created
}

#[tokio::test]
async fn events_the_operator_records_are_what_kubectl_get_events_and_describe_show() {
    let server = server_with_crds().await;
    let instance = demo_instance(&server).await;
    let uid = instance["metadata"]["uid"].as_str().unwrap().to_string();
    let other = json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "other"}, "spec": instance_spec("2GB"),
    });
    let (_, other) = post(&server, INSTANCES, &other).await;

    // The operator's way: kube's Recorder, through events.k8s.io/v1.
    let client = server.client();
    let recorder = Recorder::new(client.clone(), Reporter::from("aura-operator"));
    let reference = |object: &Value| ObjectReference {
        api_version: Some("aura.neo4j.io/v1alpha1".into()),
        kind: Some("AuraInstance".into()),
        name: object["metadata"]["name"].as_str().map(str::to_string),
        namespace: Some("facts".into()),
        uid: object["metadata"]["uid"].as_str().map(str::to_string),
        ..ObjectReference::default()
    };
    let ready = RecordedEvent {
        type_: EventType::Normal,
        reason: "Ready".into(),
        note: Some("The instance is running".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder
        .publish(&ready, &reference(&instance))
        .await
        .unwrap();
    recorder.publish(&ready, &reference(&other)).await.unwrap();
    // The same event again is a series, which the Recorder writes as a merge patch.
    recorder
        .publish(&ready, &reference(&instance))
        .await
        .unwrap();

    // `kubectl describe aurainstance demo`.
    let (code, list) = get(&server, &describe_query(&uid), JSON_ACCEPT).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "EventList");
    assert_eq!(list["apiVersion"], "v1");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only demo's events: {list:#}");
    let event = &items[0];
    assert_eq!(event["apiVersion"], "v1");
    assert_eq!(event["involvedObject"]["name"], "demo");
    assert_eq!(event["involvedObject"]["uid"], json!(uid));
    assert_eq!(event["message"], "The instance is running");
    assert_eq!(event["reportingComponent"], "aura-operator");
    let instance_name = event["reportingInstance"].as_str().unwrap().to_string();
    assert!(!instance_name.is_empty());
    assert_eq!(event["series"]["count"], 2);
    assert!(event.get("regarding").is_none() && event.get("note").is_none());
    // Typed, as kubectl decodes it.
    let typed: CoreEvent = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.reason.as_deref(), Some("Ready"));

    // `kubectl get events`: the core Table.
    let (_, table) = get(
        &server,
        "/api/v1/namespaces/facts/events?limit=500",
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(
        column_names(&table),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["cells"][3] == "aurainstance/demo")
        .expect("a row about demo")["cells"]
        .as_array()
        .unwrap()
        .clone();
    assert!(matches!(row[0].as_str(), Some("0s" | "1s")), "{row:?}");
    assert_eq!(
        row[1..4],
        [json!("Normal"), json!("Ready"), json!("aurainstance/demo")]
    );
    assert_eq!(row[5], json!(format!("aura-operator, {instance_name}")));
    assert_eq!(row[6], "The instance is running");
    assert_eq!(row[8], 2);

    // Still readable through events.k8s.io, in that shape, for the operator's tests.
    let events: Vec<Event> = server.list_as::<Event>(Some("facts"));
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.regarding.is_some() && e.note.is_some())
    );
    let through_api: Api<Event> = Api::namespaced(client, "facts");
    let listed = through_api
        .list(&ListParams::default().fields("regarding.name=demo"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].series.as_ref().unwrap().count, 2);
    assert_eq!(
        server
            .counters()
            .write_count("patch", "events.k8s.io", "events", ""),
        1,
        "writes are counted under the API they were sent to"
    );
}

#[tokio::test]
async fn an_event_written_through_core_v1_is_read_and_watched_through_events_k8s_io() {
    let server = server_with_crds().await;
    let client = server.client();
    let events_v1: Api<Event> = Api::namespaced(client.clone(), "facts");
    let mut v1_watch = watch(
        &server,
        &format!(
            "/apis/events.k8s.io/v1/namespaces/facts/events?watch=true&resourceVersion={}",
            server.resource_version()
        ),
        JSON_ACCEPT,
    )
    .await;
    let mut core_watch = watch(
        &server,
        &format!(
            "/api/v1/namespaces/facts/events?watch=true&resourceVersion={}&fieldSelector=involvedObject.name%3Ddemo",
            server.resource_version()
        ),
        TABLE_ACCEPT,
    )
    .await;

    let core: Api<CoreEvent> = Api::namespaced(client, "facts");
    let mut event = CoreEvent {
        involved_object: ObjectReference {
            kind: Some("AuraInstance".into()),
            name: Some("demo".into()),
            namespace: Some("facts".into()),
            ..ObjectReference::default()
        },
        reason: Some("Drifted".into()),
        message: Some("memory changed in Aura".into()),
        type_: Some("Warning".into()),
        count: Some(3),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("someone".into()),
            host: None,
        }),
        ..CoreEvent::default()
    };
    event.meta_mut().name = Some("demo.drift".into());
    core.create(&PostParams::default(), &event).await.unwrap();

    let read = events_v1.get("demo.drift").await.unwrap();
    assert_eq!(
        read.regarding.as_ref().unwrap().name.as_deref(),
        Some("demo")
    );
    assert_eq!(read.note.as_deref(), Some("memory changed in Aura"));
    assert_eq!(read.deprecated_count, Some(3));
    assert_eq!(
        read.deprecated_source
            .as_ref()
            .unwrap()
            .component
            .as_deref(),
        Some("someone")
    );

    let added = v1_watch.next().await;
    assert_eq!(added["type"], "ADDED");
    assert_eq!(added["object"]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(added["object"]["note"], "memory changed in Aura");
    let row = core_watch.next().await;
    assert_eq!(row["object"]["kind"], "Table");
    assert_eq!(row["object"]["rows"][0]["cells"][3], "aurainstance/demo");
    assert_eq!(row["object"]["rows"][0]["cells"][5], "someone");

    // events.k8s.io prints the same columns from the same Event.
    let (_, table) = get(
        &server,
        "/apis/events.k8s.io/v1/namespaces/facts/events",
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(table["rows"][0]["cells"][3], "aurainstance/demo");
    assert_eq!(table["rows"][0]["cells"][8], 3);

    // A patch through events.k8s.io, in its field names.
    events_v1
        .patch(
            "demo.drift",
            &PatchParams::default(),
            &Patch::Merge(json!({"note": "memory changed back"})),
        )
        .await
        .unwrap();
    let core_read = core.get("demo.drift").await.unwrap();
    assert_eq!(core_read.message.as_deref(), Some("memory changed back"));
    let modified = v1_watch.next().await;
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["note"], "memory changed back");

    // Not found through events.k8s.io names that API.
    let (code, status) = send(
        &server,
        "DELETE",
        "/apis/events.k8s.io/v1/namespaces/facts/events/missing",
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        status["message"],
        "events.events.k8s.io \"missing\" not found"
    );
    // Deleting through one API deletes it for both.
    let (code, _) = send(
        &server,
        "DELETE",
        "/apis/events.k8s.io/v1/namespaces/facts/events/demo.drift",
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        server
            .get("", "events", Some("facts"), "demo.drift")
            .is_none()
    );
    assert_eq!(v1_watch.next().await["type"], "DELETED");
}
