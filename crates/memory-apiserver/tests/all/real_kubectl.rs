//! The real `kubectl` binary against the server over HTTP (skipped, with a message, when
//! kubectl is not on PATH).
//!
//! The server does not serve discovery (`/api`, `/apis`) yet; until it does, this test puts a
//! small discovery shim of its own in front of it (legacy discovery built from the server's
//! registry, here in the test only), and forwards everything else to the server unchanged.
//! Once the server answers discovery itself, the shim can go and kubectl can talk to
//! `ApiServer::serve` directly; once it serves OpenAPI, `--validate=false` can go too.
//!
//! What runs: `apply` (client-side, twice: create then merge patch; a Deployment twice: create
//! then strategic merge patch), `apply --server-side` (with the migration from client-side
//! apply), `get` (Table, `-o wide`, `-o yaml`, namespaces, deployments), `get -w`, `get events`,
//! `describe` (with the operator's Event), `wait --for=condition=Ready` (timing out, then met),
//! `patch` (merge and json), `edit` (with a scripted editor) and `delete` (waiting).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use memory_apiserver::ApiServer;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::kubectl_replay::server_with_crds;

/// (group, version, plurals) the shim advertises.
const SERVED: &[(&str, &str, &[&str])] = &[
    (
        "",
        "v1",
        &[
            "configmaps",
            "events",
            "namespaces",
            "secrets",
            "serviceaccounts",
        ],
    ),
    ("apps", "v1", &["deployments"]),
    ("coordination.k8s.io", "v1", &["leases"]),
    ("events.k8s.io", "v1", &["events"]),
    ("apiextensions.k8s.io", "v1", &["customresourcedefinitions"]),
    (
        "aura.neo4j.io",
        "v1alpha1",
        &[
            "aurainstances",
            "aurasnapshots",
            "clusterauracredentials",
            "gdssessions",
        ],
    ),
];

fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

/// Legacy discovery documents, from what the server knows of each type.
fn discovery(server: &ApiServer, path: &str) -> Option<Value> {
    let path = path.trim_end_matches('/');
    if path == "/api" {
        return Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}));
    }
    if path == "/apis" {
        let groups: Vec<Value> = SERVED
            .iter()
            .filter(|(group, _, _)| !group.is_empty())
            .map(|(group, version, _)| {
                let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
                json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect();
        return Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
    }
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "api", version] => ("", *version),
        ["", "apis", group, version] => (*group, *version),
        _ => return None,
    };
    let (_, _, plurals) = SERVED
        .iter()
        .find(|(g, v, _)| *g == group && *v == version)?;
    let resources: Vec<Value> = plurals
        .iter()
        .filter_map(|plural| server.resource_info(group, plural))
        .flat_map(|info| {
            let mut entries = vec![json!({
                "name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                "kind": info.kind, "shortNames": info.short_names, "categories": info.categories,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            })];
            if info.versions.iter().any(|v| v.status_subresource) {
                entries.push(json!({
                    "name": format!("{}/status", info.plural), "singularName": "",
                    "namespaced": info.namespaced, "kind": info.kind, "verbs": ["get", "patch", "update"],
                }));
            }
            entries
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": resources}),
    )
}

/// Serves the shim and the server behind it on a loopback port; returns its URL.
async fn serve_with_shim(server: ApiServer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let server = server.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let server = server.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let bytes = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if parts.method == http::Method::GET
                                && let Some(document) = discovery(&server, parts.uri.path())
                            {
                                let mut response = http::Response::new(
                                    Full::new(bytes::Bytes::from(document.to_string()))
                                        .boxed_unsync(),
                                );
                                response.headers_mut().insert(
                                    http::header::CONTENT_TYPE,
                                    http::HeaderValue::from_static("application/json"),
                                );
                                return Ok::<_, Infallible>(response);
                            }
                            let request =
                                http::Request::from_parts(parts, kube::client::Body::from(bytes));
                            Ok(server.oneshot(request).await.unwrap())
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// The next line kubectl printed, if one comes within `seconds`.
async fn next_line(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    seconds: u64,
) -> Option<String> {
    tokio::time::timeout(std::time::Duration::from_secs(seconds), lines.recv())
        .await
        .ok()
        .flatten()
}

struct Kubectl {
    binary: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    /// Runs `kubectl args...`; (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .arg(format!("--cache-dir={}", self.dir.join("cache").display()))
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env("HOME", &self.dir);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(success, "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

/// kubectl apply downloads the OpenAPI document to validate with; the server does not serve it
/// yet (nor does the shim), so apply runs without client-side validation until it does.
const NO_OPENAPI_YET: &str = "--validate=false";

const DEMO: &str = "apiVersion: aura.neo4j.io/v1alpha1
kind: AuraInstance
metadata:
  name: demo
spec:
  tenantId: t
  region: europe-west1
  memory: 1GB
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_applies_describes_waits_and_deletes() {
    let Some(binary) = kubectl() else {
        eprintln!("SKIPPED: kubectl is not on PATH; the real-kubectl test did not run");
        return;
    };
    let server = server_with_crds().await;
    server.create_namespace("facts");
    let url = serve_with_shim(server.clone()).await;
    let dir = std::env::temp_dir().join(format!("kubectl-tables-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kubeconfig"),
        memory_apiserver::kubeconfig(&url, "facts"),
    )
    .unwrap();
    let kubectl = Kubectl { binary, dir };
    let demo = kubectl.write("demo.yaml", DEMO);

    // Client-side apply: created with the last-applied annotation.
    let out = kubectl.ok(&["apply", NO_OPENAPI_YET, "-f", &demo]).await;
    assert!(
        out.contains("aurainstance.aura.neo4j.io/demo created"),
        "{out}"
    );
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
        .unwrap();
    assert!(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    // The Table, default and wide.
    let out = kubectl.ok(&["get", "aurainstances"]).await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "MEMORY", "REGION", "AGE"],
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().starts_with("demo "), "{out}");
    assert!(out.contains("europe-west1"), "{out}");
    let out = kubectl.ok(&["get", "aurai", "-o", "wide"]).await;
    for column in ["INSTANCE", "CREDENTIAL", "DRIFTED", "SCHEDULE", "EXPIRES"] {
        assert!(
            out.contains(column),
            "{column} missing from -o wide:\n{out}"
        );
    }
    let out = kubectl
        .ok(&["get", "aurainstance", "demo", "-o", "yaml"])
        .await;
    assert!(out.contains("region: europe-west1"), "{out}");
    let out = kubectl.ok(&["get", "namespaces"]).await;
    assert!(out.contains("facts") && out.contains("Active"), "{out}");

    // A second apply with a change: a merge patch.
    let changed = kubectl.write("demo2.yaml", &DEMO.replace("1GB", "2GB"));
    // kubectl diff and --dry-run=server show the change without making it.
    let (same, out, err) = kubectl.run(&["diff", "-f", &changed]).await;
    assert!(
        !same,
        "kubectl diff exits 1 when there is a difference: {out}{err}"
    );
    assert!(
        out.contains("-  memory: 1GB") && out.contains("+  memory: 2GB"),
        "{out}{err}"
    );
    let out = kubectl
        .ok(&["apply", NO_OPENAPI_YET, "--dry-run=server", "-f", &changed])
        .await;
    assert!(out.contains("configured (server dry run)"), "{out}");
    assert_eq!(
        server
            .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
            .unwrap()["spec"]["memory"],
        "1GB"
    );
    let out = kubectl.ok(&["apply", NO_OPENAPI_YET, "-f", &changed]).await;
    assert!(out.contains("configured"), "{out}");
    assert_eq!(
        server
            .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
            .unwrap()["spec"]["memory"],
        "2GB"
    );

    // The operator's Event, seen by get events and describe.
    let uid = stored["metadata"]["uid"].as_str().unwrap().to_string();
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "demo.1", "namespace": "facts"},
        "eventTime": "2026-12-05T21:46:26.000000Z",
        "reportingController": "aura-operator", "reportingInstance": "aura-operator-0",
        "action": "Reconcile", "reason": "CreatingInAura", "type": "Normal",
        "note": "asked Aura for an instance",
        "regarding": {"apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
                      "name": "demo", "namespace": "facts", "uid": uid},
    });
    let events: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        server.client(),
        "facts",
        &kube::api::ApiResource {
            group: "events.k8s.io".into(),
            version: "v1".into(),
            api_version: "events.k8s.io/v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
        },
    );
    events
        .create(&Default::default(), &serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    let out = kubectl.ok(&["get", "events"]).await;
    assert!(
        out.contains("CreatingInAura") && out.contains("aurainstance/demo"),
        "{out}"
    );
    assert!(out.contains("asked Aura for an instance"), "{out}");
    let out = kubectl.ok(&["events", "--for", "aurainstance/demo"]).await;
    assert!(out.contains("CreatingInAura"), "{out}");
    let out = kubectl.ok(&["get", "events", "-o", "wide"]).await;
    assert!(out.contains("aura-operator, aura-operator-0"), "{out}");
    let out = kubectl.ok(&["describe", "aurainstance", "demo"]).await;
    assert!(out.contains("Events:"), "{out}");
    assert!(
        out.contains("CreatingInAura") && out.contains("asked Aura for an instance"),
        "{out}"
    );

    // kubectl wait: times out while not Ready, succeeds once the condition is there.
    let (success, _, _) = kubectl
        .run(&[
            "wait",
            "aurainstance/demo",
            "--for=condition=Ready",
            "--timeout=1s",
        ])
        .await;
    assert!(!success, "not Ready yet");
    let status: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        server.client(),
        "facts",
        &kube::api::ApiResource {
            group: "aura.neo4j.io".into(),
            version: "v1alpha1".into(),
            api_version: "aura.neo4j.io/v1alpha1".into(),
            kind: "AuraInstance".into(),
            plural: "aurainstances".into(),
        },
    );
    let waiter = {
        let kubectl = Kubectl {
            binary: kubectl.binary.clone(),
            dir: kubectl.dir.clone(),
        };
        tokio::spawn(async move {
            kubectl
                .run(&[
                    "wait",
                    "aurainstance/demo",
                    "--for=condition=Ready",
                    "--timeout=20s",
                ])
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    status
        .patch_status(
            "demo",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"status": {"status": "running",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Running",
                                "message": "", "lastTransitionTime": "2026-12-05T21:46:26Z"}]}})),
        )
        .await
        .unwrap();
    let (success, out, err) = waiter.await.unwrap();
    assert!(success, "kubectl wait: {out}\n{err}");
    assert!(out.contains("condition met"), "{out}");
    let out = kubectl.ok(&["get", "aurainstances"]).await;
    assert!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("True"),
        "{out}"
    );

    // kubectl patch and server-side apply.
    kubectl
        .ok(&[
            "patch",
            "aurainstance",
            "demo",
            "--type=merge",
            "-p",
            r#"{"spec":{"memory":"4GB"}}"#,
        ])
        .await;
    kubectl
        .ok(&[
            "patch",
            "aurainstance",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/memory","value":"8GB"}]"#,
        ])
        .await;
    let out = kubectl
        .ok(&["apply", NO_OPENAPI_YET, "--server-side", "-f", &changed])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let applied = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
        .unwrap();
    assert_eq!(applied["spec"]["memory"], "2GB");
    let managers: Vec<&str> = applied["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    // kubectl get -w: the table's rows, then one line per change.
    let mut watching = std::process::Command::new(&kubectl.binary)
        .args(["get", "aurainstances", "-w"])
        .arg(format!(
            "--cache-dir={}",
            kubectl.dir.join("cache").display()
        ))
        .env("KUBECONFIG", kubectl.dir.join("kubeconfig"))
        .env("HOME", &kubectl.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = watching.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(
            next_line(&mut lines, 10)
                .await
                .expect("kubectl get -w printed the table"),
        );
    }
    assert!(seen[0].starts_with("NAME"), "{seen:?}");
    assert!(seen[1].starts_with("demo "), "{seen:?}");
    let mut second: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "second"}, "spec": {"region": "us-east1"},
    }))
    .unwrap();
    second.metadata.namespace = Some("facts".into());
    status.create(&Default::default(), &second).await.unwrap();
    let line = next_line(&mut lines, 10)
        .await
        .expect("a line for the new instance");
    assert!(
        line.starts_with("second ") && line.contains("us-east1"),
        "{line}"
    );
    let _ = watching.kill();
    let _ = watching.wait();

    // A built-in type: client-side apply twice (the second is a strategic merge patch), edit.
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: operator
spec:
  selector:
    matchLabels: {app: op}
  template:
    metadata:
      labels: {app: op}
    spec:
      containers:
      - name: operator
        image: aura-operator:1
        env: [{name: A, value: '1'}, {name: B, value: '2'}]
      - name: sidecar
        image: busybox
";
    let file = kubectl.write("deployment.yaml", deployment);
    kubectl.ok(&["apply", NO_OPENAPI_YET, "-f", &file]).await;
    let file = kubectl.write(
        "deployment2.yaml",
        &deployment
            .replace("aura-operator:1", "aura-operator:2")
            .replace(", {name: B, value: '2'}", ""),
    );
    let out = kubectl.ok(&["apply", NO_OPENAPI_YET, "-f", &file]).await;
    assert!(out.contains("configured"), "{out}");
    let stored = server
        .get("apps", "deployments", Some("facts"), "operator")
        .unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "operator", "image": "aura-operator:2", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"},
        ])
    );
    let out = kubectl.ok(&["get", "deployments", "-o", "wide"]).await;
    assert!(
        out.contains("operator,sidecar") && out.contains("app=op"),
        "{out}"
    );
    let editor = kubectl.write(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/image: busybox$/image: busybox:2/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut edit = Command::new(&kubectl.binary);
    edit.args(["edit", NO_OPENAPI_YET, "deployment", "operator"])
        .arg(format!(
            "--cache-dir={}",
            kubectl.dir.join("cache").display()
        ))
        .env("KUBECONFIG", kubectl.dir.join("kubeconfig"))
        .env("HOME", &kubectl.dir)
        .env("KUBE_EDITOR", &editor);
    let output = tokio::task::spawn_blocking(move || edit.output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "kubectl edit: {output:?}");
    let stored = server
        .get("apps", "deployments", Some("facts"), "operator")
        .unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][1]["image"],
        "busybox:2"
    );

    // kubectl delete waits until the object is gone.
    let out = kubectl
        .ok(&["delete", "aurainstance", "demo", "--timeout=10s"])
        .await;
    assert!(out.contains("deleted"), "{out}");
    assert!(
        server
            .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
            .is_none()
    );
    let _ = std::fs::remove_dir_all(Path::new(&kubectl.dir));
}
