//! The real `aura-operator` binary as a child process: `run --emulator` against the in-memory
//! API server served over HTTP (reached through a kubeconfig, as on a real cluster), a
//! clean stop on SIGTERM, a clear failure without a cluster, and `crd`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_operator::crd::AuraInstance;
use aura_operator::emulator::DEFAULT_TENANT_ID;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use memory_apiserver::ApiServer;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_aura-operator");
const NS: &str = "default";
const EMULATOR_WARNING: &str = "USING THE BUILT-IN AURA EMULATOR";

/// A scratch directory for one test's kubeconfig, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("aura-smoke-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn kubeconfig(&self, text: &str) -> PathBuf {
        let path = self.0.join("kubeconfig");
        std::fs::write(&path, text).expect("kubeconfig written");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary running as a child, its stderr collected in the background (so a chatty log never
/// fills the pipe). Killed on drop if a test fails half-way.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Running {
    fn start(kubeconfig: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            // Nothing from the developer's shell may change what the binary does.
            .env_remove("AURA_OPERATOR_NAMESPACE")
            .env_remove("AURA_API_URL")
            .env_remove("AURA_DEFAULT_CREDENTIALS_SECRET")
            .env_remove("AURA_RATE_LIMIT")
            .env_remove("AURA_RESYNC_SECONDS")
            .env_remove("AURA_OPERATOR_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends SIGTERM the way Kubernetes stops a pod (through `kill`, to stay free of unsafe code).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                // Let the reader thread take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn instance(name: &str) -> AuraInstance {
    serde_json::from_value(json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "tenantId": DEFAULT_TENANT_ID,
            "cloudProvider": "gcp",
            "region": "europe-west1",
            "type": "professional-db",
            "memory": "2GB"
        }
    }))
    .expect("a valid AuraInstance")
}

fn is_ready(obj: &AuraInstance) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn has_connection_keys(secret: &Secret) -> bool {
    secret.data.as_ref().is_some_and(|data| {
        ["NEO4J_URI", "NEO4J_PASSWORD"]
            .iter()
            .all(|key| data.get(*key).is_some_and(|v| !v.0.is_empty()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_the_emulator_makes_an_instance_ready_and_stops_cleanly_on_sigterm() {
    let api = ApiServer::new().with_status_subresource("aura.neo4j.io", "aurainstances");
    let served = api
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("served");
    let scratch = Scratch::new();
    let kubeconfig = scratch.kubeconfig(&served.kubeconfig(NS));
    let mut operator = Running::start(
        &kubeconfig,
        &[
            "run",
            "--emulator",
            "--emulator-listen",
            "127.0.0.1:0",
            "--namespace",
            NS,
            "--http-listen",
            "127.0.0.1:0",
        ],
    );

    // Through HTTP, as kubectl would.
    let client = served.client(NS).await.expect("client");
    let instances: Api<AuraInstance> = Api::namespaced(client, NS);
    instances
        .create(&PostParams::default(), &instance("orders"))
        .await
        .expect("created");

    // The default poll interval is 5 s, so one create takes about that long; 15 s leaves room
    // for a loaded machine.
    let converged = api
        .wait_until(Duration::from_secs(15), |api| {
            let ready = api
                .get_as::<AuraInstance>(Some(NS), "orders")
                .is_some_and(|obj| is_ready(&obj));
            let secret = api
                .get_as::<Secret>(Some(NS), "orders-connection")
                .is_some_and(|s| has_connection_keys(&s));
            ready && secret
        })
        .await;
    assert!(
        converged,
        "not Ready with a connection Secret in time; status: {:#?}\nlog:\n{}",
        api.get_as::<AuraInstance>(Some(NS), "orders")
            .and_then(|o| o.status),
        operator.log()
    );
    let log = operator.log();
    assert!(
        log.contains(EMULATOR_WARNING),
        "no emulator warning in:\n{log}"
    );
    // The operator's own port: probes and metrics.
    let http_addr = log
        .split("http_addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no http_addr in:\n{log}"))
        .to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().build().unwrap();
    let readyz = http
        .get(format!("http://{http_addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let metrics = http
        .get(format!("http://{http_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"aura_operator_reconciles_total{kind="AuraInstance",result="ok"}"#,
        r#"aura_operator_aura_requests_total{method="POST",route="/instances",result="202"} 1"#,
        r#"aura_operator_resources{kind="AuraInstance",status="running"} 1"#,
        "aura_operator_aura_rate_budget_available{client_id=\"emulator-client\"}",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from /metrics:\n{metrics}"
        );
    }

    operator.terminate();
    let status = operator.wait_exit(Duration::from_secs(5)).await;
    let log = operator.log();
    let status = status.unwrap_or_else(|| panic!("still running 5 s after SIGTERM; log:\n{log}"));
    assert!(status.success(), "exit {status} after SIGTERM; log:\n{log}");
    assert!(log.contains("aura-operator stopped"), "log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_reachable_cluster_exits_non_zero_and_says_why() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let scratch = Scratch::new();
    let kubeconfig = scratch.kubeconfig(&memory_apiserver::kubeconfig(
        &format!("http://{closed}"),
        NS,
    ));
    let mut operator = Running::start(
        &kubeconfig,
        &[
            "run",
            "--emulator",
            "--emulator-listen",
            "127.0.0.1:0",
            "--namespace",
            NS,
        ],
    );
    let status = operator.wait_exit(Duration::from_secs(15)).await;
    let log = operator.log();
    let status = status.unwrap_or_else(|| panic!("still running without a cluster; log:\n{log}"));
    assert!(!status.success(), "exited successfully without a cluster");
    assert!(
        log.contains("cannot reach the Kubernetes API server"),
        "unclear message:\n{log}"
    );
    assert!(
        !log.contains("CRD is not installed"),
        "an unreachable cluster is not a missing CRD:\n{log}"
    );
}

#[test]
fn crd_prints_the_custom_resource_definition() {
    let output = Command::new(BINARY)
        .arg("crd")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let yaml = String::from_utf8(output.stdout).expect("utf-8");
    assert!(yaml.contains("kind: CustomResourceDefinition"), "{yaml}");
    assert!(yaml.contains("name: aurainstances.aura.neo4j.io"), "{yaml}");
}
