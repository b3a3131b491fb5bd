//! A real `kube::runtime::Controller` running end to end against the in-memory server: the
//! finalizer helper, an owned ConfigMap recreated through `.owns()`, events from `Recorder`,
//! status through `patch_status` (merge and server-side apply), cleanup on deletion, garbage
//! collection of the owned ConfigMap, and no hot reconcile loop while idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{GROUP, PLURAL, Widget, server, widget};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

const FINALIZER: &str = "widgets.example.test/cleanup";
const MANAGER: &str = "widget-controller";
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

struct Context {
    client: Client,
    recorder: Recorder,
    reconciles: AtomicU32,
    cleanups: AtomicU32,
}

async fn reconcile(
    widget: Arc<Widget>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let namespace = widget.namespace().unwrap_or_default();
    let widgets: Api<Widget> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&widgets, FINALIZER, widget, |event| async {
        match event {
            finalizer::Event::Apply(widget) => apply(&widget, &ctx).await,
            finalizer::Event::Cleanup(widget) => cleanup(&widget, &ctx).await,
        }
    })
    .await
}

async fn apply(widget: &Widget, ctx: &Context) -> Result<Action, Error> {
    let namespace = widget.namespace().unwrap_or_default();
    let name = widget.name_any();
    let configmaps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let desired = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: widget.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        data: Some([("size".to_string(), widget.spec.size.to_string())].into()),
        ..ConfigMap::default()
    };
    let existed = configmaps.get_opt(&name).await?.is_some();
    configmaps
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await?;
    if !existed {
        let event = Event {
            type_: EventType::Normal,
            reason: "ConfigMapWritten".into(),
            note: Some(format!("wrote configmap {name}")),
            action: "Reconcile".into(),
            secondary: None,
        };
        ctx.recorder
            .publish(&event, &widget.object_ref(&()))
            .await?;
    }

    let widgets: Api<Widget> = Api::namespaced(ctx.client.clone(), &namespace);
    let ready =
        json!({"status": {"ready": true, "observedGeneration": widget.metadata.generation}});
    widgets
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&ready))
        .await?;
    let message = json!({
        "apiVersion": "example.test/v1",
        "kind": "Widget",
        "status": {"message": format!("size {}", widget.spec.size)},
    });
    widgets
        .patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&message),
        )
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn cleanup(widget: &Widget, ctx: &Context) -> Result<Action, Error> {
    ctx.cleanups.fetch_add(1, Ordering::SeqCst);
    let event = Event {
        type_: EventType::Normal,
        reason: "CleanedUp".into(),
        note: None,
        action: "Delete".into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &widget.object_ref(&()))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(
    _widget: Arc<Widget>,
    _error: &finalizer::Error<Error>,
    _ctx: Arc<Context>,
) -> Action {
    Action::requeue(Duration::from_millis(100))
}

fn start_controller(
    server: &memory_apiserver::ApiServer,
) -> (Arc<Context>, tokio::task::JoinHandle<()>) {
    let client = server.client();
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: None,
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        reconciles: AtomicU32::new(0),
        cleanups: AtomicU32::new(0),
    });
    let widgets: Api<Widget> = Api::all(client.clone());
    let configmaps: Api<ConfigMap> = Api::all(client);
    let controller = Controller::new(widgets, watcher::Config::default())
        .owns(configmaps, watcher::Config::default())
        .run(reconcile, error_policy, Arc::clone(&ctx))
        .for_each(|_| async {});
    (ctx, tokio::spawn(controller))
}

fn configmap_uid(server: &memory_apiserver::ApiServer, name: &str) -> Option<String> {
    server
        .get("", "configmaps", Some("default"), name)
        .and_then(|cm| cm.pointer("/metadata/uid")?.as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_owns_recreates_cleans_up_and_settles() {
    let server = server();
    let (ctx, controller) = start_controller(&server);
    let widgets: Api<Widget> = Api::default_namespaced(server.client());
    let configmaps: Api<ConfigMap> = Api::default_namespaced(server.client());
    let created = widgets
        .create(&PostParams::default(), &widget("w1", 3))
        .await
        .unwrap();

    // Reconcile adds the finalizer, writes the owned ConfigMap and both status fields.
    let settled = server
        .wait_until(WAIT, |s| {
            let Some(w) = s.get_as::<Widget>(Some("default"), "w1") else {
                return false;
            };
            let status = w.status.clone().unwrap_or_default();
            w.finalizers() == [FINALIZER]
                && status.ready
                && status.message.as_deref() == Some("size 3")
                && s.get("", "configmaps", Some("default"), "w1").is_some()
        })
        .await;
    assert!(
        settled,
        "widget never reconciled: {:?}",
        server.get(GROUP, PLURAL, Some("default"), "w1")
    );
    let cm = server.get_as::<ConfigMap>(Some("default"), "w1").unwrap();
    assert_eq!(cm.data.unwrap()["size"], "3");
    assert_eq!(
        cm.metadata.owner_references.unwrap()[0].uid,
        created.uid().unwrap()
    );
    let w = server.get_as::<Widget>(Some("default"), "w1").unwrap();
    assert_eq!(w.status.unwrap().observed_generation, Some(1));
    assert_eq!(
        w.metadata.generation,
        Some(1),
        "finalizer and status writes keep generation"
    );

    let events = server.list_as::<K8sEvent>(Some("default"));
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ConfigMapWritten")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("w1")),
        "no event recorded: {events:?}"
    );

    // Idle: the controller's own status writes change nothing, so nothing wakes it up again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, rv_before) = (
        ctx.reconciles.load(Ordering::SeqCst),
        server.resource_version(),
    );
    let writes_before = server.counters().all_writes_to(GROUP, PLURAL);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_reconciles = ctx.reconciles.load(Ordering::SeqCst) - before;
    assert!(
        idle_reconciles <= 2,
        "hot loop: {idle_reconciles} reconciles in 1s of idle time"
    );
    assert_eq!(
        server.resource_version(),
        rv_before,
        "idle controller changed something"
    );
    assert!(server.counters().all_writes_to(GROUP, PLURAL) - writes_before <= 4);

    // Deleting the owned ConfigMap wakes the owner (through `.owns()`) and gets it recreated.
    let old_uid = configmap_uid(&server, "w1").unwrap();
    configmaps
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    let recreated = server
        .wait_until(WAIT, |s| {
            configmap_uid(s, "w1").is_some_and(|uid| uid != old_uid)
        })
        .await;
    assert!(recreated, "owned configmap was not recreated");
    // The Recorder reports the repeated event as a series, which it writes as a merge patch.
    let event_patched = server
        .wait_until(WAIT, |s| {
            s.counters()
                .write_count("patch", "events.k8s.io", "events", "")
                >= 1
        })
        .await;
    assert!(
        event_patched,
        "the second ConfigMapWritten event should update the first"
    );

    // A spec change flows into the ConfigMap and observedGeneration.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 7}})),
        )
        .await
        .unwrap();
    let updated = server
        .wait_until(WAIT, |s| {
            let cm = s.get_as::<ConfigMap>(Some("default"), "w1");
            let w = s.get_as::<Widget>(Some("default"), "w1");
            cm.and_then(|c| c.data).is_some_and(|d| d["size"] == "7")
                && w.and_then(|w| w.status)
                    .and_then(|st| st.observed_generation)
                    == Some(2)
        })
        .await;
    assert!(updated, "spec change not reconciled");

    // Deleting the widget runs cleanup, removes the finalizer, and the ConfigMap is collected.
    widgets
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    let gone = server
        .wait_until(WAIT, |s| {
            s.get(GROUP, PLURAL, Some("default"), "w1").is_none()
                && s.get("", "configmaps", Some("default"), "w1").is_none()
        })
        .await;
    assert!(gone, "widget or its configmap survived deletion");
    assert!(ctx.cleanups.load(Ordering::SeqCst) >= 1);
    assert!(
        server
            .list_as::<K8sEvent>(Some("default"))
            .iter()
            .any(|e| e.reason.as_deref() == Some("CleanedUp"))
    );
    controller.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_retries_after_injected_failures() {
    let server = server();
    server.fail_next("patch", GROUP, PLURAL, 3, 500);
    let (ctx, controller) = start_controller(&server);
    let widgets: Api<Widget> = Api::default_namespaced(server.client());
    widgets
        .create(&PostParams::default(), &widget("w2", 1))
        .await
        .unwrap();
    let ready = server
        .wait_until(WAIT, |s| {
            s.get_as::<Widget>(Some("default"), "w2")
                .and_then(|w| w.status)
                .is_some_and(|st| st.ready)
        })
        .await;
    assert!(
        ready,
        "controller did not recover from injected patch failures"
    );
    assert!(
        ctx.reconciles.load(Ordering::SeqCst) >= 4,
        "three failed passes then a good one"
    );
    controller.abort();
}
