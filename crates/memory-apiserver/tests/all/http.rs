//! The server over real HTTP: a client built from the written kubeconfig, as another process
//! would build it, does CRUD, a status write and a streaming watch; stopping the server closes
//! the port.

use std::time::Duration;

use crate::common::{GROUP, PLURAL, Widget, WidgetStatus, configmap, server, widget};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn a_client_built_from_the_written_kubeconfig_creates_reads_updates_and_deletes() {
    let api_server = server();
    let served = api_server.serve(loopback()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("memory-apiserver-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    served.write_kubeconfig(&path, "default").unwrap();

    // kube's own loader reads the file, as `KUBECONFIG=path` would make it.
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();

    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    configmaps
        .create(
            &PostParams::default(),
            &configmap("settings", &[("a", "1")]),
        )
        .await
        .unwrap();
    let patch = json!({"data": {"a": "2"}});
    configmaps
        .patch("settings", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let read = configmaps.get("settings").await.unwrap();
    assert_eq!(read.data.unwrap()["a"], "2");
    assert_eq!(
        configmaps
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // The HTTP face and the in-process face share one store and one set of counters.
    let stored = api_server.get("", "configmaps", Some("default"), "settings");
    assert_eq!(stored.unwrap()["data"]["a"], "2");
    assert_eq!(
        api_server
            .counters()
            .write_count("patch", "", "configmaps", ""),
        1
    );

    let widgets: Api<Widget> = Api::default_namespaced(client);
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let status = json!({"status": WidgetStatus { ready: true, ..Default::default() }});
    widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let stored: Widget = api_server.get_as(Some("default"), "w").unwrap();
    assert!(stored.status.unwrap().ready);
    assert_eq!(
        api_server
            .counters()
            .write_count("patch", GROUP, PLURAL, "status"),
        1
    );

    configmaps
        .delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert!(configmaps.get_opt("settings").await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_watch_over_http_streams_changes_made_after_it_started() {
    let api_server = server();
    let served = api_server.serve(loopback()).await.unwrap();
    let client = served.client("default").await.unwrap();
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);

    let mut events = watcher::watcher(configmaps.clone(), watcher::Config::default()).boxed();
    // The initial listing ends before anything exists.
    loop {
        match tokio::time::timeout(WAIT, events.next()).await.unwrap() {
            Some(Ok(Event::InitDone)) => break,
            Some(Ok(_)) => {}
            other => panic!("unexpected watcher item: {other:?}"),
        }
    }

    // Written through the in-process face: only the open HTTP watch can report it.
    let in_process: Api<ConfigMap> = Api::default_namespaced(api_server.client());
    in_process
        .create(&PostParams::default(), &configmap("late", &[]))
        .await
        .unwrap();
    let seen = loop {
        match tokio::time::timeout(WAIT, events.next()).await.unwrap() {
            Some(Ok(Event::Apply(cm))) => break cm,
            Some(Ok(_)) => {}
            other => panic!("unexpected watcher item: {other:?}"),
        }
    };
    assert_eq!(seen.metadata.name.as_deref(), Some("late"));
    assert_eq!(api_server.counters().watches_opened, 1);
}

#[tokio::test]
async fn shutting_down_closes_the_port_and_open_watches() {
    let api_server = server();
    let served = api_server.serve(loopback()).await.unwrap();
    let addr = served.addr();
    let client = served.client("default").await.unwrap();
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = configmaps
        .watch(&Default::default(), "0")
        .await
        .unwrap()
        .boxed();

    served.shutdown().await;

    // The open watch ends (with an error or a clean end), rather than hanging.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch stayed open after shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
