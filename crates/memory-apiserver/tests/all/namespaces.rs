//! Namespace lifecycle as the API server and the namespace controller run it: a deleted
//! namespace turns Terminating, everything in it is deleted at once, objects with finalizers stay
//! marked (and readable) until their finalizers go, nothing new may be created in it, and it goes
//! when its last object has gone.

use crate::common::{GROUP, PLURAL, Widget, configmap, reason, server, widget};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Namespace, ObjectReference, Secret,
};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const NS: &str = "team-a";
const FINALIZER: &str = "aura.neo4j.io/instance";

fn secret(name: &str, finalizers: &[&str]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            finalizers: (!finalizers.is_empty())
                .then(|| finalizers.iter().map(|f| f.to_string()).collect()),
            ..ObjectMeta::default()
        },
        data: Some([("token".to_string(), ByteString(b"t0ken".to_vec()))].into()),
        ..Secret::default()
    }
}

async fn create_namespace(client: &Client, name: &str) -> Namespace {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap()
}

fn condition<'a>(namespace: &'a Namespace, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let condition = namespace
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)?;
    Some((
        condition.status.as_str(),
        condition.reason.as_deref().unwrap_or_default(),
        condition.message.as_deref().unwrap_or_default(),
    ))
}

fn phase(namespace: &Namespace) -> Option<&str> {
    namespace.status.as_ref()?.phase.as_deref()
}

#[tokio::test]
async fn a_created_namespace_has_the_kubernetes_finalizer_and_is_active() {
    let server = server();
    let created = create_namespace(&server.client(), NS).await;
    assert_eq!(
        created.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_string()])
    );
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    assert_eq!(
        created.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        NS
    );
    assert_eq!(
        server.create_namespace(NS)["metadata"]["uid"],
        json!(created.metadata.uid),
        "create_namespace returns an existing namespace as it is"
    );
}

/// Label selectors over namespaces (a NetworkPolicy's namespaceSelector, an operator's allowed
/// namespaces) read these labels: a client's are kept, and the name label cannot be changed.
#[tokio::test]
async fn namespace_labels_are_kept_and_the_name_label_always_holds() {
    let server = server();
    let namespaces: Api<Namespace> = Api::all(server.client());
    let labelled: Namespace = serde_json::from_value(json!({
        "metadata": {"name": NS, "labels": {"team": "data"}}
    }))
    .unwrap();
    let created = namespaces
        .create(&PostParams::default(), &labelled)
        .await
        .unwrap();
    assert_eq!(created.labels()["team"], "data");
    assert_eq!(created.labels()["kubernetes.io/metadata.name"], NS);
    let relabel = json!({"metadata": {"labels": {
        "team": "web", "kubernetes.io/metadata.name": "elsewhere"
    }}});
    let patched = namespaces
        .patch(NS, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    assert_eq!(patched.labels()["team"], "web");
    assert_eq!(
        patched.labels()["kubernetes.io/metadata.name"],
        NS,
        "the name label follows the name, whatever a client sends"
    );
    let listed = namespaces
        .list(&kube::api::ListParams::default().labels("team=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "a label selector finds it");
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content_and_waits_for_finalizers() {
    let server = server().with_status_subresource(GROUP, PLURAL);
    let client = server.client();
    create_namespace(&client, NS).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
    configmaps
        .create(&PostParams::default(), &configmap("settings", &[]))
        .await
        .unwrap();
    secrets
        .create(&PostParams::default(), &secret("api-credentials", &[]))
        .await
        .unwrap();
    let mut instance = widget("instance", 1);
    instance.metadata.finalizers = Some(vec![FINALIZER.into()]);
    widgets
        .create(&PostParams::default(), &instance)
        .await
        .unwrap();
    // Elsewhere: untouched.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    elsewhere
        .create(&PostParams::default(), &configmap("settings", &[]))
        .await
        .unwrap();

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let answered = namespaces
        .delete(NS, &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the DELETE answers the namespace, which stays for now");
    assert!(answered.metadata.deletion_timestamp.is_some());
    assert_eq!(phase(&answered), Some("Terminating"));

    // Objects without finalizers vanished at once; the finalizer keeps the instance, marked.
    assert!(configmaps.get_opt("settings").await.unwrap().is_none());
    assert!(
        secrets.get_opt("api-credentials").await.unwrap().is_none(),
        "a Secret the cleanup might need is already gone"
    );
    let marked = widgets.get("instance").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(elsewhere.get_opt("settings").await.unwrap().is_some());

    let terminating = namespaces.get(NS).await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(phase(&terminating), Some("Terminating"));
    assert_eq!(
        terminating.spec.as_ref().and_then(|s| s.finalizers.clone()),
        Some(vec!["kubernetes".to_string()])
    );
    assert_eq!(
        condition(&terminating, "NamespaceContentRemaining"),
        Some((
            "True",
            "SomeResourcesRemain",
            "Some resources are remaining: widgets.example.test has 1 resource instances"
        ))
    );
    assert_eq!(
        condition(&terminating, "NamespaceFinalizersRemaining"),
        Some((
            "True",
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: aura.neo4j.io/instance in 1 resource instances"
        ))
    );
    assert_eq!(
        condition(&terminating, "NamespaceDeletionContentFailure").map(|c| c.0),
        Some("False")
    );

    // The controller's cleanup removes its finalizer: the instance goes, then the namespace.
    widgets
        .patch(
            "instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(widgets.get_opt("instance").await.unwrap().is_none());
    assert!(
        namespaces.get_opt(NS).await.unwrap().is_none(),
        "the namespace goes with its last object"
    );
    assert!(elsewhere.get_opt("settings").await.unwrap().is_some());
}

#[tokio::test]
async fn nothing_can_be_created_in_a_terminating_namespace() {
    let server = server();
    let client = server.client();
    server.create_namespace(NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secrets
        .create(&PostParams::default(), &secret("held", &[FINALIZER]))
        .await
        .unwrap();
    server.delete_namespace(NS);

    let err = secrets
        .create(&PostParams::default(), &secret("new", &[]))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        "secrets \"new\" is forbidden: unable to create new content in namespace team-a because it is being terminated"
    );
    let details = status.details.as_ref().expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("new", "secrets")
    );
    assert_eq!(details.causes.len(), 1);
    assert_eq!(details.causes[0].reason, "NamespaceTerminating");
    assert_eq!(details.causes[0].field, "metadata.namespace");

    // Custom resources: the qualified resource names the group.
    let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
    let err = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    assert!(
        status
            .message
            .starts_with("widgets.example.test \"w\" is forbidden: unable to create new content"),
        "{}",
        status.message
    );
    assert_eq!(status.details.as_ref().unwrap().group, GROUP);

    // Server-side apply that would create is a create.
    let apply = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}});
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let err = configmaps
        .patch(
            "applied",
            &PatchParams::apply("aura-operator"),
            &Patch::Apply(&apply),
        )
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((403, "Forbidden".into())));

    // Events of both APIs.
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let event = Event {
        metadata: ObjectMeta {
            name: Some("held.1".into()),
            ..ObjectMeta::default()
        },
        reason: Some("Deleting".into()),
        ..Event::default()
    };
    let err = events
        .create(&PostParams::default(), &event)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((403, "Forbidden".into())));
    let core_events: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    let core_event = CoreEvent {
        metadata: ObjectMeta {
            name: Some("held.2".into()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference::default(),
        ..CoreEvent::default()
    };
    let err = core_events
        .create(&PostParams::default(), &core_event)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Some((403, "Forbidden".into())));

    // A generated name is not known yet when the create is refused.
    let mut generated = secret("", &[]);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let err = secrets
        .create(&PostParams::default(), &generated)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    assert!(
        status.message.starts_with("secrets is forbidden: "),
        "{}",
        status.message
    );

    assert_eq!(
        server.list("", "secrets", Some(NS)).len(),
        1,
        "only the held one"
    );
    assert!(server.list("", "configmaps", Some(NS)).is_empty());
    assert!(server.list("events.k8s.io", "events", Some(NS)).is_empty());
}

#[tokio::test]
async fn updates_and_deletes_keep_working_in_a_terminating_namespace() {
    let server = server();
    let client = server.client();
    server.create_namespace(NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    for name in ["a", "b"] {
        secrets
            .create(
                &PostParams::default(),
                &secret(name, &[FINALIZER, "other/keep"]),
            )
            .await
            .unwrap();
    }
    server.delete_namespace(NS);

    let labelled = secrets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"phase": "cleanup"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.labels()["phase"], "cleanup");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let finalizers_message = |ns: &Namespace| {
        condition(ns, "NamespaceFinalizersRemaining")
            .map(|c| c.2.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        finalizers_message(&namespaces.get(NS).await.unwrap()),
        "Some content in the namespace has finalizers remaining: aura.neo4j.io/instance in 2 resource instances, other/keep in 2 resource instances"
    );

    // Dropping one finalizer of one Secret: the conditions follow.
    secrets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["other/keep"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        finalizers_message(&namespaces.get(NS).await.unwrap()),
        "Some content in the namespace has finalizers remaining: aura.neo4j.io/instance in 1 resource instances, other/keep in 2 resource instances"
    );

    // A replace (PUT) that drops every finalizer removes the object.
    let mut b = secrets.get("b").await.unwrap();
    b.metadata.finalizers = None;
    secrets
        .replace("b", &PostParams::default(), &b)
        .await
        .unwrap();
    assert!(secrets.get_opt("b").await.unwrap().is_none());
    // A second DELETE of a marked object changes nothing and is no error.
    secrets.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(namespaces.get_opt(NS).await.unwrap().is_some());

    secrets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(namespaces.get_opt(NS).await.unwrap().is_none());
}

/// Facts: a finalizer on a Secret keeps it readable, with a deletionTimestamp, until it is
/// removed; the namespace waits for it too.
#[tokio::test]
async fn a_secret_with_a_finalizer_stays_readable_and_the_namespace_waits_for_it() {
    let server = server();
    let client = server.client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secrets
        .create(
            &PostParams::default(),
            &secret("api-credentials", &[FINALIZER]),
        )
        .await
        .unwrap();

    // No Namespace object was ever created: delete_namespace makes one first.
    let answered = server.delete_namespace(NS);
    assert_eq!(answered["status"]["phase"], "Terminating");

    let kept = secrets
        .get("api-credentials")
        .await
        .expect("still readable");
    assert!(kept.metadata.deletion_timestamp.is_some());
    let token = kept.data.unwrap()["token"].clone();
    assert_eq!(token.0, b"t0ken", "its data too");
    let namespace = server.get_as::<Namespace>(None, NS).expect("waiting");
    assert_eq!(
        condition(&namespace, "NamespaceFinalizersRemaining").map(|c| c.2),
        Some(
            "Some content in the namespace has finalizers remaining: aura.neo4j.io/instance in 1 resource instances"
        )
    );
    assert_eq!(
        condition(&namespace, "NamespaceContentRemaining").map(|c| c.2),
        Some("Some resources are remaining: secrets. has 1 resource instances")
    );

    secrets
        .patch(
            "api-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(secrets.get_opt("api-credentials").await.unwrap().is_none());
    assert!(server.get("", "namespaces", None, NS).is_none());

    // Gone: the namespace no longer refuses anything (no Namespace object is needed).
    secrets
        .create(&PostParams::default(), &secret("again", &[]))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_empty_namespace_goes_at_once_and_watchers_see_it_terminate_first() {
    let server = server();
    let client = server.client();
    let created = create_namespace(&client, NS).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut events = namespaces
        .watch(
            &WatchParams::default().timeout(5),
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();

    namespaces
        .delete(NS, &DeleteParams::default())
        .await
        .unwrap();
    assert!(namespaces.get_opt(NS).await.unwrap().is_none());

    let mut seen = Vec::new();
    while let Some(event) = events.try_next().await.unwrap() {
        match event {
            WatchEvent::Modified(ns) => seen.push(format!(
                "MODIFIED {} {:?}",
                phase(&ns).unwrap_or_default(),
                ns.spec
                    .clone()
                    .and_then(|s| s.finalizers)
                    .unwrap_or_default()
            )),
            WatchEvent::Deleted(_) => {
                seen.push("DELETED".into());
                break;
            }
            other => seen.push(format!("{other:?}")),
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("MODIFIED Terminating [\"kubernetes\"]")
    );
    assert_eq!(seen.last().map(String::as_str), Some("DELETED"));
    assert!(
        seen.iter().any(|s| s == "MODIFIED Terminating []"),
        "the namespace controller removes the kubernetes finalizer before it goes: {seen:?}"
    );
}

#[tokio::test]
async fn owners_and_dependents_in_a_deleted_namespace_all_go() {
    let server = server();
    let client = server.client();
    server.create_namespace(NS);
    let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    for i in 0..5 {
        let owner = widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), 1))
            .await
            .unwrap();
        let mut owned = secret(&format!("s{i}"), &[]);
        owned.metadata.owner_references = Some(vec![
            kube::Resource::controller_owner_ref(&owner, &()).unwrap(),
        ]);
        secrets
            .create(&PostParams::default(), &owned)
            .await
            .unwrap();
    }
    server.delete_namespace(NS);
    assert!(server.list(GROUP, PLURAL, Some(NS)).is_empty());
    assert!(server.list("", "secrets", Some(NS)).is_empty());
    assert!(server.get("", "namespaces", None, NS).is_none());
    assert_eq!(server.pending_garbage(), 0);
}

#[tokio::test]
async fn a_custom_namespace_finalizer_holds_it_until_finalize_removes_it() {
    let server = server();
    let client = server.client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(NS.into());
    namespace.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec {
        finalizers: Some(vec!["example.test/tenant".into()]),
    });
    let created = namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    assert_eq!(
        created.spec.as_ref().and_then(|s| s.finalizers.clone()),
        Some(vec![
            "example.test/tenant".to_string(),
            "kubernetes".to_string()
        ])
    );
    // The main resource cannot change spec.finalizers.
    let mut edited = created.clone();
    edited.spec = None;
    let replaced = namespaces
        .replace(NS, &PostParams::default(), &edited)
        .await
        .unwrap();
    assert_eq!(replaced.spec, created.spec);

    namespaces
        .delete(NS, &DeleteParams::default())
        .await
        .unwrap();
    let waiting = namespaces.get(NS).await.unwrap();
    assert_eq!(
        waiting.spec.as_ref().and_then(|s| s.finalizers.clone()),
        Some(vec!["example.test/tenant".to_string()]),
        "content is gone, so kubernetes is removed; the custom finalizer stays"
    );

    let mut finalize: Value = serde_json::to_value(&waiting).unwrap();
    finalize["spec"]["finalizers"] = json!([]);
    namespaces
        .replace_subresource("finalize", NS, &PostParams::default(), &finalize)
        .await
        .unwrap();
    assert!(namespaces.get_opt(NS).await.unwrap().is_none());
}
