//! The real `kubectl` against `ApiServer::serve` over HTTP, with its default flags: no shim in
//! front of the server and no `--validate=false`, so every command first reads the server's own
//! discovery and OpenAPI, as it does against a real cluster.
//!
//! What runs (each test on a fresh server, each command with an empty discovery cache):
//! `version`; `api-resources` (`-o wide`, `--categories`); `explain` (a CRD's fields, built-in
//! types); `get` (printer columns, `-o wide`, `-o yaml`, `-o jsonpath`, namespaces, Events,
//! `-w` ending on its `--request-timeout`); `events --for`; `describe` (with the operator's
//! Event); `apply -f` client-side (created, `unchanged`, `configured`; a Deployment re-applied
//! without an env var loses it, from the strategic merge patch kubectl computes from our OpenAPI);
//! `diff`; `apply --dry-run=server`; `apply --server-side` (new objects, and after a client-side
//! apply: the migration of the client-side manager's fields); `wait --for=condition=Ready`
//! (timing out, then met); `patch` (merge and json); `edit` (`KUBE_EDITOR` a sed command);
//! `delete` (waiting); `create namespace|secret|configmap|serviceaccount` (protobuf bodies);
//! `apply -f crds/`; and applies the server refuses (into a terminating namespace, 403).
//!
//! The requests kubectl sends (`-v=6`) are compared with what kubectl 1.32 sent to a real
//! kube-apiserver (tests/samples/kubectl-requests.txt) when the kubectl on PATH is a 1.32.
//!
//! Without a `kubectl` on PATH each test prints SKIPPED and passes, except when `CI` is set
//! (CI has one): there a missing kubectl fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use memory_apiserver::{ApiServer, Served};
use serde_json::{Value, json};

use crate::kubectl_replay::server_with_crds;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const NAMESPACE: &str = "facts";

fn kubectl_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

/// A served server, a kubeconfig for it (default namespace [`NAMESPACE`], which exists) and a
/// scratch directory kubectl may write to (HOME, caches, manifests), removed on drop.
struct Cluster {
    server: ApiServer,
    _served: Served,
    dir: PathBuf,
    kubectl: PathBuf,
    runs: AtomicUsize,
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Cluster {
    /// A server with the project's CRDs.
    async fn start() -> Option<Self> {
        Self::start_with(server_with_crds().await).await
    }

    /// Serves `server` to kubectl; `None` (skipped) without a kubectl, except on CI, where a
    /// missing kubectl fails the test instead of passing it unseen.
    async fn start_with(server: ApiServer) -> Option<Self> {
        let Some(kubectl) = kubectl_binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubectl is not on PATH on CI (.ci/run puts one there)"
            );
            eprintln!(
                "SKIPPED: kubectl is not on PATH, so the real-kubectl checks did not run \
                 (install kubectl 1.30+ to run them; CI has it)"
            );
            return None;
        };
        server.create_namespace(NAMESPACE);
        let served = server.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir =
            std::env::temp_dir().join(format!("memory-apiserver-kubectl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        served
            .write_kubeconfig(&dir.join("kubeconfig"), NAMESPACE)
            .unwrap();
        Some(Self {
            server,
            _served: served,
            dir,
            kubectl,
            runs: AtomicUsize::new(0),
        })
    }

    /// `kubectl args...`, with its own empty discovery cache (so every run asks the server, as
    /// a first run on a machine does), HOME in the scratch directory and the repository as the
    /// working directory; not started.
    fn command(&self, args: &[&str]) -> Command {
        let run = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        let mut command = Command::new(&self.kubectl);
        command
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env("HOME", &self.dir)
            .arg("--cache-dir")
            .arg(self.dir.join(format!("cache-{run}")))
            .arg("--request-timeout=30s")
            .args(args)
            .current_dir(REPO);
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_command(args, self.command(args)).await
    }

    /// Runs a command made by [`Self::command`] (and perhaps given more environment).
    async fn run_command(&self, args: &[&str], mut command: Command) -> Run {
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("kubectl runs");
        let run = Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("$ kubectl {}\n{}{}", args.join(" "), run.stdout, run.stderr);
        run
    }

    async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert!(
            run.success,
            "kubectl {} failed:\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run
    }

    /// Writes a file into the scratch directory; its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// The object as stored, from the server itself.
    fn stored(&self, group: &str, plural: &str, name: &str) -> Option<Value> {
        self.server.get(group, plural, Some(NAMESPACE), name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `METHOD /path STATUS` of every request in a `kubectl -v=6` log, query strings dropped (they
/// carry hashes and timeouts).
fn requests(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("round_trippers.go"))
        .filter_map(|line| {
            let mut words = line
                .split_whitespace()
                .skip_while(|w| !matches!(*w, "GET" | "POST" | "PUT" | "PATCH" | "DELETE"));
            let method = words.next()?;
            let url = words.next()?;
            let status = words.next()?;
            let path = url
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            let path = if url.starts_with("http") {
                &path[path.find('/').unwrap_or(path.len())..]
            } else {
                path
            };
            let path = path.split('?').next().unwrap_or_default();
            Some(format!("{method} {path} {status}"))
        })
        .collect()
}

/// The requests of one command in the recording of kubectl 1.32 against a real server, past
/// discovery (see [`past_discovery`]).
fn recorded(command: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(SAMPLES).join("kubectl-requests.txt")).unwrap();
    let block = text
        .split("### ")
        .find(|block| block.starts_with(command))
        .unwrap_or_else(|| panic!("no recording of {command}"));
    past_discovery(
        &block
            .lines()
            .skip(1)
            .map(|line| format!("round_trippers.go] {line}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Whether `path` is a discovery document: `/api`, `/apis`, a group's or a group-version's
/// resource list.
fn is_discovery(path: &str) -> bool {
    path == "/api"
        || path == "/apis"
        || path == "/api/v1"
        || (path.starts_with("/apis/") && path.matches('/').count() <= 3)
}

/// The requests of a `-v=6` log but the discovery documents, which kubectl asks for or reads
/// from its cache depending on what it cached before (the recording was made with a warm
/// cache, the tests run with an empty one); OpenAPI and the object requests are compared.
fn past_discovery(log: &str) -> Vec<String> {
    requests(log)
        .into_iter()
        .filter(|request| !is_discovery(request.split(' ').nth(1).unwrap_or_default()))
        .collect()
}

/// No discovery or OpenAPI request failed.
fn assert_discovery_answered(log: &str) {
    for request in requests(log) {
        let mut words = request.split(' ');
        let (_, path, status) = (words.next(), words.next().unwrap(), words.next().unwrap());
        if is_discovery(path) || path.starts_with("/openapi") || path == "/version" {
            assert!(status.starts_with('2'), "{request}");
        }
    }
}

async fn kubectl_is_1_32(cluster: &Cluster) -> bool {
    let version = cluster.ok(&["version", "--client", "-o", "json"]).await;
    let parsed: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
    // "32", or "32+" for a build with a suffix (v1.32.4-dispatcher).
    parsed["clientVersion"]["minor"]
        .as_str()
        .is_some_and(|minor| minor.trim_end_matches('+') == "32")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_discovers_explains_and_applies_with_default_flags() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let same_kubectl_as_recorded = kubectl_is_1_32(&cluster).await;

    let version = cluster.ok(&["version"]).await;
    assert!(
        version.stdout.contains("Server Version: v1.32.0-memory"),
        "{}",
        version.stdout
    );

    // Discovery: names, short names, categories.
    let resources = cluster.ok(&["api-resources", "-o", "wide"]).await;
    let line = resources
        .stdout
        .lines()
        .find(|line| line.starts_with("aurainstances "))
        .expect("aurainstances listed");
    for expected in [
        "aurai",
        "aura.neo4j.io/v1alpha1",
        "true",
        "AuraInstance",
        "aura",
    ] {
        assert!(
            line.split_whitespace().any(|w| w == expected),
            "{expected} in {line}"
        );
    }
    let aura = cluster
        .ok(&["api-resources", "--categories=aura", "-o", "name"])
        .await;
    let mut names: Vec<&str> = aura.stdout.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aurainstances.aura.neo4j.io",
            "aurasnapshots.aura.neo4j.io",
            "clusterauracredentials.aura.neo4j.io",
            "gdssessions.aura.neo4j.io",
        ]
    );

    // OpenAPI: explain a CRD's field and a built-in type.
    let explain = cluster.ok(&["explain", "aurainstance.spec", "-v=6"]).await;
    for field in [
        "cloudProvider",
        "memory",
        "region",
        "tenantId",
        "deletionPolicy",
    ] {
        assert!(
            explain.stdout.contains(field),
            "{field} in {}",
            explain.stdout
        );
    }
    assert_discovery_answered(&explain.stderr);
    let memory = cluster
        .ok(&["explain", "aurainstance.spec.memory", "-v=6"])
        .await;
    assert!(memory.stdout.contains("Memory size"), "{}", memory.stdout);
    if same_kubectl_as_recorded {
        assert_eq!(
            past_discovery(&memory.stderr),
            recorded("kubectl explain aurainstance.spec.memory")
        );
    }
    let secret = cluster.ok(&["explain", "secret"]).await;
    assert!(
        secret.stdout.contains("KIND:") && secret.stdout.contains("Secret"),
        "{}",
        secret.stdout
    );
    assert!(secret.stdout.contains("stringData"), "{}", secret.stdout);
    cluster
        .ok(&["explain", "deployment.spec.template.spec.containers"])
        .await;

    // Namespaces of a fresh cluster.
    let namespaces = cluster.ok(&["get", "ns"]).await;
    assert!(
        namespaces.stdout.contains(NAMESPACE),
        "{}",
        namespaces.stdout
    );

    // Client-side apply, as the recording did it: the same requests, none of discovery or
    // OpenAPI failing, fieldValidation=Strict sent because OpenAPI says PATCH takes it.
    let apply = cluster
        .ok(&[
            "apply",
            "-n",
            NAMESPACE,
            "-f",
            "deploy/examples/aurainstance-emulator.yaml",
            "-v=6",
        ])
        .await;
    assert!(
        apply
            .stdout
            .contains("aurainstance.aura.neo4j.io/demo created"),
        "{}",
        apply.stdout
    );
    assert_discovery_answered(&apply.stderr);
    assert!(
        apply.stderr.contains("fieldValidation=Strict"),
        "{}",
        apply.stderr
    );
    if same_kubectl_as_recorded {
        assert_eq!(
            past_discovery(&apply.stderr),
            recorded("kubectl apply -n facts -f deploy/examples/aurainstance-emulator.yaml")
        );
    }
    assert!(
        cluster
            .server
            .get("aura.neo4j.io", "aurainstances", Some(NAMESPACE), "demo")
            .is_some()
    );
    // Again, unchanged (kubectl then also looks at OpenAPI v2 for a patch type).
    let again = cluster
        .ok(&[
            "apply",
            "-n",
            NAMESPACE,
            "-f",
            "deploy/examples/aurainstance-emulator.yaml",
            "-v=6",
        ])
        .await;
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_discovery_answered(&again.stderr);

    let configmap = cluster.write(
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
    );
    let created = cluster.ok(&["apply", "-f", &configmap, "-v=6"]).await;
    assert!(
        created.stdout.contains("configmap/settings created"),
        "{}",
        created.stdout
    );
    assert_discovery_answered(&created.stderr);
    let changed = cluster.write(
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"2\"\n",
    );
    let configured = cluster.ok(&["apply", "-f", &changed, "-v=6"]).await;
    assert!(
        configured.stdout.contains("configmap/settings configured"),
        "{}",
        configured.stdout
    );
    // A built-in type: the patch is a strategic merge patch computed from OpenAPI v3.
    assert!(configured.stderr.contains("PATCH"), "{}", configured.stderr);
    assert_discovery_answered(&configured.stderr);
    let stored = cluster
        .server
        .get("", "configmaps", Some(NAMESPACE), "settings")
        .unwrap();
    assert_eq!(stored["data"]["a"], "2");
}

/// Server-side apply of objects kubectl did not create before: the apply PATCH creates them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_new_objects_server_side() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let applied = cluster
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            "deploy/examples/aurainstance-emulator.yaml",
            "-v=6",
        ])
        .await;
    assert!(
        applied.stdout.contains("serverside-applied"),
        "{}",
        applied.stdout
    );
    assert_discovery_answered(&applied.stderr);
    assert!(
        cluster
            .server
            .get("aura.neo4j.io", "aurainstances", Some(NAMESPACE), "demo")
            .is_some()
    );
    let configmap = cluster.write(
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
    );
    let applied = cluster
        .ok(&["apply", "--server-side", "-f", &configmap, "-v=6"])
        .await;
    assert_discovery_answered(&applied.stderr);
    // Applied again, unchanged.
    cluster
        .ok(&["apply", "--server-side", "-f", &configmap])
        .await;
}

/// The recorded sequence: client-side apply, then `--server-side` on the same object. kubectl
/// then migrates the client-side apply's ownership, which decodes every managedFields entry's
/// `fieldsV1` (kubectl 1.32 crashed on entries without one) and sends a JSON patch of
/// managedFields handing the client-side manager's fields to its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_moves_a_client_side_applied_object_to_server_side_apply() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let same_kubectl_as_recorded = kubectl_is_1_32(&cluster).await;
    let file = "deploy/examples/aurainstance-emulator.yaml";
    cluster.ok(&["apply", "-n", NAMESPACE, "-f", file]).await;
    let applied = cluster
        .ok(&[
            "apply",
            "--server-side",
            "-n",
            NAMESPACE,
            "-f",
            file,
            "-v=6",
        ])
        .await;
    assert_discovery_answered(&applied.stderr);
    if same_kubectl_as_recorded {
        assert_eq!(
            past_discovery(&applied.stderr),
            recorded(
                "kubectl apply --server-side -n facts -f deploy/examples/aurainstance-emulator.yaml"
            )
        );
    }
    let stored = cluster
        .stored("aura.neo4j.io", "aurainstances", "demo")
        .unwrap();
    let managers: Vec<(&str, &str)> = stored["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["manager"].as_str()?, e["operation"].as_str()?)))
        .collect();
    eprintln!("managedFields after the migration: {managers:?}");
    assert!(managers.contains(&("kubectl", "Apply")), "{managers:?}");
    // The client-side manager's fields were handed to the server-side one.
    assert!(
        !managers.contains(&("kubectl-client-side-apply", "Update")),
        "{managers:?}"
    );
    // Applied again: nothing left to migrate, one apply PATCH.
    let again = cluster
        .ok(&[
            "apply",
            "--server-side",
            "-n",
            NAMESPACE,
            "-f",
            file,
            "-v=6",
        ])
        .await;
    assert!(
        again.stdout.contains("serverside-applied"),
        "{}",
        again.stdout
    );
    let patches = past_discovery(&again.stderr)
        .into_iter()
        .filter(|request| request.starts_with("PATCH"))
        .count();
    assert_eq!(patches, 1, "{}", again.stderr);
}

/// kubectl reads manifests as YAML 1.1, where a bare `OFF` is the boolean false: the CRDs in
/// crds/ must reach the server with the enum values users write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_project_crds_with_their_enum_strings() {
    let Some(cluster) = Cluster::start_with(ApiServer::new()).await else {
        return;
    };
    cluster.ok(&["apply", "-f", "crds/"]).await;
    let crd = cluster
        .server
        .get(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "aurainstances.aura.neo4j.io",
        )
        .expect("the CRD was stored");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let modes = &schema["properties"]["spec"]["properties"]["cdcEnrichmentMode"]["enum"];
    assert_eq!(
        modes,
        &serde_json::json!(["OFF", "DIFF", "FULL", null]),
        "the enum as kubectl sent it"
    );
}

/// The imperative creates the README tells users to run. kubectl 1.32's typed clients send
/// them as Kubernetes protobuf (`-v=8` shows the Content-Type), which the server decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_built_in_objects_from_protobuf_bodies() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let namespace = cluster
        .ok(&["create", "namespace", "aura-operator", "-v=8"])
        .await;
    assert!(
        namespace.stdout.contains("namespace/aura-operator created"),
        "{}",
        namespace.stdout
    );
    assert!(
        namespace
            .stderr
            .contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl no longer sends protobuf, so this test checks nothing of the decoder:\n{}",
        namespace.stderr
    );
    let secret = cluster
        .ok(&[
            "-n",
            "aura-operator",
            "create",
            "secret",
            "generic",
            "aura-credentials",
            "--from-literal=clientId=my-client-id",
            "--from-literal=clientSecret=s3cr=t/+",
        ])
        .await;
    assert!(
        secret.stdout.contains("secret/aura-credentials created"),
        "{}",
        secret.stdout
    );
    let configmap = cluster
        .ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=region=europe-west1",
        ])
        .await;
    assert!(
        configmap.stdout.contains("configmap/settings created"),
        "{}",
        configmap.stdout
    );
    let account = cluster.ok(&["create", "serviceaccount", "runner"]).await;
    assert!(
        account.stdout.contains("serviceaccount/runner created"),
        "{}",
        account.stdout
    );

    // Read back through kubectl: Secret data as base64, the namespace listed.
    let data = cluster
        .ok(&[
            "-n",
            "aura-operator",
            "get",
            "secret",
            "aura-credentials",
            "-o",
            "jsonpath={.data.clientId} {.data.clientSecret}",
        ])
        .await;
    // base64("my-client-id"), base64("s3cr=t/+").
    assert_eq!(data.stdout, "bXktY2xpZW50LWlk czNjcj10Lys=");
    // kubectl sends no type; the server defaults it to Opaque, as a real one does.
    let listed = cluster.ok(&["-n", "aura-operator", "get", "secrets"]).await;
    let row: Vec<&str> = listed
        .stdout
        .lines()
        .find(|line| line.starts_with("aura-credentials "))
        .unwrap_or_else(|| panic!("{}", listed.stdout))
        .split_whitespace()
        .collect();
    assert_eq!(row[1..3], ["Opaque", "2"], "{}", listed.stdout);
    let namespaces = cluster.ok(&["get", "ns"]).await;
    assert!(
        namespaces
            .stdout
            .lines()
            .any(|line| line.split_whitespace().next() == Some("aura-operator")),
        "{}",
        namespaces.stdout
    );

    // As stored: the namespace as the real server makes one, the rest as sent.
    let server = cluster.server.clone();
    let stored = server.get("", "namespaces", None, "aura-operator").unwrap();
    assert_eq!(
        stored["spec"]["finalizers"],
        serde_json::json!(["kubernetes"])
    );
    let settings = server
        .get("", "configmaps", Some(NAMESPACE), "settings")
        .unwrap();
    assert_eq!(
        settings["data"],
        serde_json::json!({"region": "europe-west1"})
    );
    let runner = server
        .get("", "serviceaccounts", Some(NAMESPACE), "runner")
        .unwrap();
    assert_eq!(runner["kind"], "ServiceAccount");
    assert_eq!(
        runner["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );

    // A type the decoder does not know: 415 with the way around it, which works.
    let deployment = cluster
        .run(&["create", "deployment", "web", "--image=nginx"])
        .await;
    assert!(!deployment.success);
    assert!(
        deployment.stderr.contains("Deployment (apps/v1)")
            && deployment.stderr.contains("kubectl apply -f"),
        "{}",
        deployment.stderr
    );
    let manifest = cluster
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .await;
    let file = cluster.write("web.yaml", &manifest.stdout);
    cluster.ok(&["apply", "-f", &file]).await;
    assert!(
        server
            .get("apps", "deployments", Some(NAMESPACE), "web")
            .is_some()
    );
}

const DEMO: &str = "apiVersion: aura.neo4j.io/v1alpha1
kind: AuraInstance
metadata:
  name: demo
spec:
  tenantId: t
  cloudProvider: gcp
  region: europe-west1
  type: professional-db
  memory: 1GB
";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The next line kubectl printed, if one comes within `seconds`.
async fn next_line(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    seconds: u64,
) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(seconds), lines.recv())
        .await
        .ok()
        .flatten()
}

/// An AuraInstance through its life as a user and the operator see it with kubectl: applied,
/// listed, diffed, re-applied, described with the operator's Event, waited on, patched,
/// moved to server-side apply, watched and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_applies_describes_waits_and_deletes() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let server = cluster.server.clone();
    let demo = cluster.write("demo.yaml", DEMO);

    // Client-side apply: created with the last-applied annotation.
    let out = cluster.ok(&["apply", "-f", &demo]).await.stdout;
    assert!(
        out.contains("aurainstance.aura.neo4j.io/demo created"),
        "{out}"
    );
    let stored = cluster
        .stored("aura.neo4j.io", "aurainstances", "demo")
        .unwrap();
    assert!(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let out = cluster.ok(&["apply", "-f", &demo]).await.stdout;
    assert!(
        out.contains("aurainstance.aura.neo4j.io/demo unchanged"),
        "{out}"
    );

    // The Table, default and wide, and the object as YAML.
    let out = cluster.ok(&["get", "aurainstances"]).await.stdout;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "MEMORY", "REGION", "AGE"],
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().starts_with("demo "), "{out}");
    assert!(out.contains("europe-west1"), "{out}");
    let out = cluster.ok(&["get", "aurai", "-o", "wide"]).await.stdout;
    for column in ["INSTANCE", "CREDENTIAL", "DRIFTED", "SCHEDULE", "EXPIRES"] {
        assert!(
            out.contains(column),
            "{column} missing from -o wide:\n{out}"
        );
    }
    let out = cluster
        .ok(&["get", "aurainstance", "demo", "-o", "yaml"])
        .await
        .stdout;
    assert!(out.contains("region: europe-west1"), "{out}");
    let out = cluster.ok(&["get", "namespaces"]).await.stdout;
    assert!(out.contains(NAMESPACE) && out.contains("Active"), "{out}");

    // A second apply with a change: kubectl diff and --dry-run=server show it without making
    // it, then the apply makes it (a merge patch: the type is a custom resource).
    let changed = cluster.write("demo2.yaml", &DEMO.replace("1GB", "2GB"));
    let diff = cluster.run(&["diff", "-f", &changed]).await;
    assert!(
        !diff.success,
        "kubectl diff exits 1 when there is a difference: {}{}",
        diff.stdout, diff.stderr
    );
    assert!(
        diff.stdout.contains("-  memory: 1GB") && diff.stdout.contains("+  memory: 2GB"),
        "{}{}",
        diff.stdout,
        diff.stderr
    );
    let out = cluster
        .ok(&["apply", "--dry-run=server", "-f", &changed])
        .await
        .stdout;
    assert!(out.contains("configured (server dry run)"), "{out}");
    assert_eq!(
        cluster
            .stored("aura.neo4j.io", "aurainstances", "demo")
            .unwrap()["spec"]["memory"],
        "1GB"
    );
    let applied = cluster.ok(&["apply", "-f", &changed, "-v=6"]).await;
    assert!(applied.stdout.contains("configured"), "{}", applied.stdout);
    assert!(
        applied.stderr.contains("fieldValidation=Strict"),
        "{}",
        applied.stderr
    );
    assert_eq!(
        cluster
            .stored("aura.neo4j.io", "aurainstances", "demo")
            .unwrap()["spec"]["memory"],
        "2GB"
    );

    // The operator's Event, seen by get events, events --for and describe.
    let uid = stored["metadata"]["uid"].as_str().unwrap().to_string();
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "demo.1", "namespace": NAMESPACE},
        "eventTime": "2026-12-05T21:46:26.000000Z",
        "reportingController": "aura-operator", "reportingInstance": "aura-operator-0",
        "action": "Reconcile", "reason": "CreatingInAura", "type": "Normal",
        "note": "asked Aura for an instance",
        "regarding": {"apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
                      "name": "demo", "namespace": NAMESPACE, "uid": uid},
    });
    let events: Api<DynamicObject> = Api::namespaced_with(
        server.client(),
        NAMESPACE,
        &resource("events.k8s.io", "v1", "Event", "events"),
    );
    events
        .create(
            &PostParams::default(),
            &serde_json::from_value(event).unwrap(),
        )
        .await
        .unwrap();
    let out = cluster.ok(&["get", "events"]).await.stdout;
    assert!(
        out.contains("CreatingInAura") && out.contains("aurainstance/demo"),
        "{out}"
    );
    assert!(out.contains("asked Aura for an instance"), "{out}");
    let out = cluster
        .ok(&["events", "--for", "aurainstance/demo"])
        .await
        .stdout;
    assert!(out.contains("CreatingInAura"), "{out}");
    let out = cluster.ok(&["get", "events", "-o", "wide"]).await.stdout;
    assert!(out.contains("aura-operator, aura-operator-0"), "{out}");
    let out = cluster
        .ok(&["describe", "aurainstance", "demo"])
        .await
        .stdout;
    assert!(out.contains("Events:"), "{out}");
    assert!(
        out.contains("CreatingInAura") && out.contains("asked Aura for an instance"),
        "{out}"
    );

    // kubectl wait: times out while not Ready, succeeds once the condition is there.
    let early = cluster
        .run(&[
            "wait",
            "aurainstance/demo",
            "--for=condition=Ready",
            "--timeout=1s",
        ])
        .await;
    assert!(!early.success, "not Ready yet");
    let instances: Api<DynamicObject> = Api::namespaced_with(
        server.client(),
        NAMESPACE,
        &resource("aura.neo4j.io", "v1alpha1", "AuraInstance", "aurainstances"),
    );
    let wait_args = [
        "wait",
        "aurainstance/demo",
        "--for=condition=Ready",
        "--timeout=20s",
    ];
    let mut waiting = cluster.command(&wait_args);
    let waiter = tokio::task::spawn_blocking(move || waiting.output());
    tokio::time::sleep(Duration::from_millis(500)).await;
    instances
        .patch_status(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"status": "running",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Running",
                                "message": "", "lastTransitionTime": "2026-12-05T21:46:26Z"}]}})),
        )
        .await
        .unwrap();
    let waited = waiter.await.unwrap().unwrap();
    let out = String::from_utf8_lossy(&waited.stdout);
    assert!(
        waited.status.success(),
        "kubectl wait: {out}\n{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    assert!(out.contains("condition met"), "{out}");
    let out = cluster.ok(&["get", "aurainstances"]).await.stdout;
    assert!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("True"),
        "{out}"
    );

    // kubectl patch, merge and json.
    cluster
        .ok(&[
            "patch",
            "aurainstance",
            "demo",
            "--type=merge",
            "-p",
            r#"{"spec":{"memory":"4GB"}}"#,
        ])
        .await;
    assert_eq!(
        cluster
            .stored("aura.neo4j.io", "aurainstances", "demo")
            .unwrap()["spec"]["memory"],
        "4GB"
    );
    cluster
        .ok(&[
            "patch",
            "aurainstance",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/memory","value":"8GB"}]"#,
        ])
        .await;
    assert_eq!(
        cluster
            .stored("aura.neo4j.io", "aurainstances", "demo")
            .unwrap()["spec"]["memory"],
        "8GB"
    );

    // Server-side apply of the client-side-applied object: kubectl migrates the client-side
    // manager's fields to its own, and the applied value wins.
    let out = cluster
        .ok(&["apply", "--server-side", "-f", &changed])
        .await
        .stdout;
    assert!(out.contains("serverside-applied"), "{out}");
    let applied = cluster
        .stored("aura.neo4j.io", "aurainstances", "demo")
        .unwrap();
    assert_eq!(applied["spec"]["memory"], "2GB");
    let managers: Vec<(&str, &str)> = applied["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["manager"].as_str()?, e["operation"].as_str()?)))
        .collect();
    assert!(managers.contains(&("kubectl", "Apply")), "{managers:?}");

    // kubectl get -w: the table's rows, then one line per change, until its request timeout
    // ends the watch and kubectl exits by itself.
    let mut watching = cluster.command(&["get", "aurainstances", "-w", "--request-timeout=5s"]);
    let mut watching = watching
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    let mut second: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "second"},
        "spec": {"tenantId": "t", "cloudProvider": "gcp", "region": "us-east1",
                 "type": "professional-db", "memory": "1GB"},
    }))
    .unwrap();
    second.metadata.namespace = Some(NAMESPACE.into());
    instances
        .create(&PostParams::default(), &second)
        .await
        .unwrap();
    let line = next_line(&mut lines, 10)
        .await
        .expect("a line for the new instance");
    assert!(
        line.starts_with("second ") && line.contains("us-east1"),
        "{line}"
    );
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = watching.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = watching.kill();
                let _ = watching.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert!(
        exited.is_some_and(|status| status.success()),
        "kubectl get -w --request-timeout=5s did not end by itself: {exited:?}"
    );

    // kubectl delete waits until the object is gone.
    let out = cluster
        .ok(&["delete", "aurainstance", "demo", "--timeout=10s"])
        .await
        .stdout;
    assert!(out.contains("deleted"), "{out}");
    assert!(
        cluster
            .stored("aura.neo4j.io", "aurainstances", "demo")
            .is_none()
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
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

/// A built-in type: kubectl computes its client-side apply patch from the OpenAPI schema's
/// merge keys, so a re-apply without env `B` sends `$patch: delete` for it and B goes, as on a
/// real cluster; `kubectl edit` sends a strategic merge patch too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_and_edits_a_deployment_by_strategic_merge() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let file = cluster.write("deployment.yaml", DEPLOYMENT);
    let out = cluster.ok(&["apply", "-f", &file]).await.stdout;
    assert!(out.contains("deployment.apps/operator created"), "{out}");
    let file = cluster.write(
        "deployment2.yaml",
        &DEPLOYMENT
            .replace("aura-operator:1", "aura-operator:2")
            .replace(", {name: B, value: '2'}", ""),
    );
    let applied = cluster.ok(&["apply", "-f", &file, "-v=8"]).await;
    assert!(applied.stdout.contains("configured"), "{}", applied.stdout);
    assert!(
        applied
            .stderr
            .contains("Content-Type: application/strategic-merge-patch+json"),
        "{}",
        applied.stderr
    );
    // What a real server's OpenAPI makes kubectl send: B deleted by its merge key, the order
    // of the lists kept by theirs.
    let body = applied
        .stderr
        .lines()
        .find(|line| line.contains("Request Body") && line.contains("$setElementOrder"))
        .unwrap_or_else(|| panic!("no strategic merge patch body in:\n{}", applied.stderr));
    for expected in [
        r#"\"$setElementOrder/containers\":[{\"name\":\"operator\"},{\"name\":\"sidecar\"}]"#,
        r#"\"env\":[{\"$patch\":\"delete\",\"name\":\"B\"}]"#,
    ] {
        assert!(body.contains(expected), "{expected} in {body}");
    }
    let stored = cluster.stored("apps", "deployments", "operator").unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "operator", "image": "aura-operator:2", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"},
        ])
    );
    let out = cluster.ok(&["apply", "-f", &file]).await.stdout;
    assert!(out.contains("deployment.apps/operator unchanged"), "{out}");
    let out = cluster
        .ok(&["get", "deployments", "-o", "wide"])
        .await
        .stdout;
    assert!(
        out.contains("operator,sidecar") && out.contains("app=op"),
        "{out}"
    );

    // kubectl edit, the editor a sed command (kubectl runs it through a shell with the file).
    let args = ["edit", "deployment", "operator"];
    let mut edit = cluster.command(&args);
    edit.env(
        "KUBE_EDITOR",
        "sed -i -e 's/image: busybox$/image: busybox:2/'",
    );
    let edited = cluster.run_command(&args, edit).await;
    assert!(
        edited.success,
        "kubectl edit: {}{}",
        edited.stdout, edited.stderr
    );
    assert!(
        edited.stdout.contains("deployment.apps/operator edited"),
        "{}",
        edited.stdout
    );
    let stored = cluster.stored("apps", "deployments", "operator").unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][1]["image"],
        "busybox:2"
    );
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}])
    );
}

/// Applies the server refuses reach the user as kubectl prints a real server's refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reports_a_refused_apply() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // A namespace held in Terminating by an object with a finalizer: no new content.
    cluster.ok(&["create", "namespace", "closing"]).await;
    let held = cluster.write(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: closing\n  \
         finalizers: [example.com/hold]\n",
    );
    cluster.ok(&["apply", "-f", &held]).await;
    cluster
        .ok(&["delete", "namespace", "closing", "--wait=false"])
        .await;
    let out = cluster.ok(&["get", "namespace", "closing"]).await.stdout;
    assert!(out.contains("Terminating"), "{out}");
    let late = cluster.write(
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: closing\n",
    );
    let refused = cluster.run(&["apply", "-f", &late]).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused.stderr.contains(
            "unable to create new content in namespace closing because it is being terminated"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        cluster
            .server
            .get("", "configmaps", Some("closing"), "late")
            .is_none()
    );
}
