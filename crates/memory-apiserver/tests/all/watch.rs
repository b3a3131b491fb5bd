//! Watches against the in-memory server: resuming, expiry (410) and the watcher's relist,
//! timeouts, streaming lists, selector transitions and cross-namespace watches.

use std::time::Duration;

use crate::common::{Widget, configmap, server, widget};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector};
use kube::{Client, ResourceExt};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

async fn create_cm(client: &Client, namespace: &str, name: &str) -> ConfigMap {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &configmap(name, &[]))
        .await
        .unwrap()
}

#[tokio::test]
async fn watching_from_a_forgotten_resource_version_gets_a_410_expired_event() {
    let server = server();
    let client = server.client();
    let first = create_cm(&client, "default", "a").await;
    server.expire_history();
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut events = api
        .watch(&WatchParams::default(), &first.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        events.try_next().await.unwrap().is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn a_watch_replays_changes_after_its_resource_version_then_follows_live_ones() {
    let server = server();
    let client = server.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let a = create_cm(&client, "default", "a").await;
    create_cm(&client, "default", "b").await;
    let mut events = api
        .watch(&WatchParams::default(), &a.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    api.delete("a", &Default::default()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(cm)) => seen.push(format!("ADDED {}", cm.name_any())),
            Some(WatchEvent::Deleted(cm)) => seen.push(format!("DELETED {}", cm.name_any())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "DELETED a"]);
}

#[tokio::test]
async fn the_watcher_relists_after_expiry_and_still_sees_later_changes() {
    let server = server();
    let client = server.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(
        watcher(api, watcher::Config::default()).for_each(move |event| {
            let _ = tx.send(event);
            async {}
        }),
    );
    let mut saw_410 = false;
    let mut wait_for = async |name: &str| -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            match event {
                Ok(Event::Apply(cm) | Event::InitApply(cm)) if cm.name_any() == name => {
                    return true;
                }
                Err(watcher::Error::WatchError(status)) if status.code == 410 => saw_410 = true,
                _ => {}
            }
        }
        false
    };

    create_cm(&client, "default", "before").await;
    assert!(wait_for("before").await);
    let lists_before = server.counters().lists_served;
    server.expire_history();
    create_cm(&client, "default", "after").await;
    assert!(wait_for("after").await, "watcher lost track after expiry");
    assert!(
        saw_410,
        "the resumed watch should have been told its resourceVersion expired"
    );
    assert!(
        server.counters().lists_served > lists_before,
        "the watcher relisted"
    );
    watch.abort();
}

fn watcher(
    api: Api<ConfigMap>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<Event<ConfigMap>>> {
    watcher::watcher(api, config)
}

#[tokio::test]
async fn timeout_seconds_ends_the_watch_stream() {
    let server = server();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let started = tokio::time::Instant::now();
    let events = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap();
    let collected: Vec<_> = tokio::time::timeout(WAIT, events.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(collected.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.counters().watches_opened, 1);
}

#[tokio::test]
async fn streaming_lists_send_initial_events_then_the_end_bookmark() {
    let server = server();
    let client = server.client();
    create_cm(&client, "default", "existing").await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().streaming_lists();
    let stream = watcher::watcher(api, config)
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));

    let ready = tokio::time::timeout(WAIT, reader.wait_until_ready()).await;
    assert!(
        ready.is_ok_and(|r| r.is_ok()),
        "the initial-events-end bookmark never came"
    );
    assert_eq!(
        reader
            .state()
            .iter()
            .map(|cm| cm.name_any())
            .collect::<Vec<_>>(),
        ["existing"]
    );
    create_cm(&client, "default", "later").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while reader.state().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(reader.state().len(), 2);
    assert_eq!(
        server.counters().lists_served,
        0,
        "streaming lists need no LIST"
    );
    task.abort();
}

#[tokio::test]
async fn a_label_filtered_watch_sees_objects_enter_and_leave_its_selection() {
    let server = server();
    let api: Api<Widget> = Api::default_namespaced(server.client());
    let created = api
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let mut events = api
        .watch(
            &WatchParams::default().labels("team in (a)"),
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    for team in ["a", "b"] {
        let labels = json!({"metadata": {"labels": {"team": team}}});
        api.patch("w", &PatchParams::default(), &Patch::Merge(labels))
            .await
            .unwrap();
    }
    let first = tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Some(WatchEvent::Added(_))),
        "entering: {first:?}"
    );
    assert!(
        matches!(second, Some(WatchEvent::Deleted(_))),
        "leaving: {second:?}"
    );
}

#[tokio::test]
async fn an_all_namespaces_watch_sees_every_namespace_and_accepts_watch_1() {
    let server = server();
    let client = server.client();
    let request =
        http::Request::get("/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=5")
            .body(Vec::new())
            .unwrap();
    let mut events = client
        .request_events::<ConfigMap>(request)
        .await
        .unwrap()
        .boxed();
    create_cm(&client, "one", "a").await;
    create_cm(&client, "two", "b").await;
    let mut namespaces = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(cm)) => namespaces.push(cm.namespace().unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(namespaces, ["one", "two"]);
}
