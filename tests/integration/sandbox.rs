//! `aura-operator sandbox` as a user runs it: the built binary as a child process, reached only
//! through the kubeconfig it writes and what it prints (issue 19).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_operator::crd::AuraInstance;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_aura-operator");
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/examples/aurainstance-emulator.yaml"
);
/// The emulator's built-in client secret: it must never be printed.
const EMULATOR_SECRET: &str = "emulator-secret";

/// A scratch folder, removed on drop.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("aura-sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("written");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sandbox as a child process, stdout and stderr collected in the background. Killed on
/// drop if a test fails half-way.
pub(super) struct Sandbox {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

impl Sandbox {
    pub(super) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .arg("sandbox")
            .args(args)
            .env("RUST_LOG", "info")
            // Nothing from the developer's shell may change what the binary does.
            .env_remove("KUBECONFIG")
            .env_remove("AURA_API_URL")
            .env_remove("AURA_DEFAULT_CREDENTIALS_SECRET")
            .env_remove("AURA_OPERATOR_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr())
    }

    /// Ctrl-C, through `kill` (no unsafe code in tests either).
    pub(super) fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT failed: {status}");
    }

    /// Waits for the exit; `None` if it still runs after `timeout`.
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                // Let the reader threads take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the exit, failing the test with the output if it takes longer than `timeout`.
    pub(super) async fn finish(&mut self, timeout: Duration) -> ExitStatus {
        let status = self.wait_exit(timeout).await;
        status.unwrap_or_else(|| panic!("still running after {timeout:?}; {}", self.output()))
    }

    /// No secret in anything it printed.
    pub(super) fn assert_no_secret(&self, extra: &[&str]) {
        let output = self.output();
        for secret in std::iter::once(&EMULATOR_SECRET).chain(extra) {
            assert!(
                !output.contains(secret),
                "a secret was printed: {secret:?} in\n{output}"
            );
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(super) async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {timeout:?}; {}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_ready(obj: &AuraInstance) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Creates the example in the sandbox and waits until it is Ready.
async fn create_example_until_ready(instances: &Api<AuraInstance>, sandbox: &Sandbox) {
    instances
        .create(&PostParams::default(), &example())
        .await
        .expect("the example is created");
    wait_for(
        "Ready",
        Duration::from_secs(30),
        async || instances.get("demo").await.ok().filter(is_ready),
        || sandbox.output(),
    )
    .await;
}

fn example() -> AuraInstance {
    let text = std::fs::read_to_string(EXAMPLE).expect("the example exists");
    serde_norway::from_str(&text).expect("the example is an AuraInstance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_is_a_cluster_kube_clients_use_and_stops_on_ctrl_c() {
    let scratch = Scratch::new();
    let kubeconfig = scratch.path("nested/sandbox.kubeconfig");
    let path = kubeconfig.to_str().unwrap().to_owned();
    let mut sandbox = Sandbox::start(&["--listen", "127.0.0.1:0", "--kubeconfig", &path]);

    // The file appears once the API server answers through it.
    let text = wait_for(
        "the kubeconfig",
        Duration::from_secs(30),
        async || std::fs::read_to_string(&kubeconfig).ok(),
        || sandbox.output(),
    )
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the kubeconfig is for its user only");
    }
    let client = memory_apiserver::client_from_kubeconfig(&text)
        .await
        .expect("a client from the sandbox's kubeconfig");
    let instances: Api<AuraInstance> = Api::default_namespaced(client.clone());
    let listed = instances
        .list(&ListParams::default())
        .await
        .expect("AuraInstances can be listed: the CRD is installed");
    assert!(listed.items.is_empty());
    let stdout = wait_for(
        "the banner",
        Duration::from_secs(5),
        async || Some(sandbox.stdout()).filter(|s| s.contains("Ctrl-C")),
        || sandbox.output(),
    )
    .await;
    for expected in [
        "Nothing real is created",
        &format!("kubeconfig:       {path}"),
        &format!("export KUBECONFIG={path}"),
        "Aura emulator:    http://127.0.0.1:",
        "kubectl apply -f deploy/examples/aurainstance-emulator.yaml",
        "kubectl wait auraInstance/demo --for=condition=Ready",
        "kubectl get auraInstances",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server in the kubeconfig");
    assert!(
        stdout.contains(&format!("Kubernetes API:   {server}")),
        "{stdout}"
    );

    // The README's example, as `kubectl apply` would send it.
    create_example_until_ready(&instances, &sandbox).await;
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let connection = secrets.get("demo-connection").await.expect("the Secret");
    let password = connection
        .data
        .as_ref()
        .and_then(|d| d.get("NEO4J_PASSWORD"))
        .map(|p| String::from_utf8(p.0.clone()).unwrap())
        .expect("a password");
    assert!(!password.is_empty());

    let interrupted = Instant::now();
    sandbox.interrupt();
    let status = sandbox.finish(Duration::from_secs(10)).await;
    assert!(status.success(), "exit {status}; {}", sandbox.output());
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "slow to stop: {:?}",
        interrupted.elapsed()
    );
    assert!(
        sandbox.stderr().contains("sandbox stopped"),
        "{}",
        sandbox.output()
    );
    // Kept on purpose: the `export KUBECONFIG` line stays valid for the next start.
    assert!(kubeconfig.exists(), "the kubeconfig was removed");
    sandbox.assert_no_secret(&[&password]);
}

/// The `plan` command the banner prints, as words: `NAME=value` assignments, then the program
/// and its arguments (a trailing `\` continues on the next line).
fn printed_plan_command(banner: &str) -> (Vec<(String, String)>, Vec<String>) {
    let start = banner
        .find("AURA_EMULATOR_URL=")
        .unwrap_or_else(|| panic!("no plan command in the banner:\n{banner}"));
    let mut words = Vec::new();
    for line in banner[start..].lines() {
        let line = line.trim();
        let continued = line.ends_with('\\');
        words.extend(
            line.trim_end_matches('\\')
                .split_whitespace()
                .map(str::to_owned),
        );
        if !continued {
            break;
        }
    }
    let split = words.iter().position(|w| !w.contains('=')).unwrap();
    let env = words[..split]
        .iter()
        .map(|w| {
            let (name, value) = w.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect();
    (env, words[split..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_command_the_banner_prints_shows_a_change_before_it_lands() {
    let scratch = Scratch::new();
    let kubeconfig = scratch.path("sandbox.kubeconfig");
    let path = kubeconfig.to_str().unwrap().to_owned();
    let sandbox = Sandbox::start(&[
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        &path,
        "--transition-ms",
        "50",
    ]);
    let banner = wait_for(
        "the banner",
        Duration::from_secs(30),
        async || Some(sandbox.stdout()).filter(|s| s.contains("Ctrl-C")),
        || sandbox.output(),
    )
    .await;
    let (env, words) = printed_plan_command(&banner);
    // Run from the repository's folder, as the banner says, with the exported kubeconfig.
    let plan = |expected: i32| {
        let output = Command::new(&words[0])
            .args(&words[1..])
            .envs(env.iter().cloned())
            .env("KUBECONFIG", &path)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the printed program runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{words:?} with {env:?}:\n{stdout}\n{stderr}"
        );
        assert!(!stdout.contains(EMULATOR_SECRET) && !stderr.contains(EMULATOR_SECRET));
        stdout
    };
    let before = plan(2);
    assert!(
        before.contains("demo") && before.contains("create"),
        "the example would be created:\n{before}"
    );

    let client =
        memory_apiserver::client_from_kubeconfig(&std::fs::read_to_string(&kubeconfig).unwrap())
            .await
            .unwrap();
    let instances: Api<AuraInstance> = Api::default_namespaced(client);
    create_example_until_ready(&instances, &sandbox).await;
    let after = plan(0);
    assert!(after.contains("demo"), "{after}");
    assert!(!after.contains("create"), "nothing left to do:\n{after}");
    sandbox.assert_no_secret(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_wait_ready_exits_0_with_a_json_report_once_the_example_is_ready() {
    let scratch = Scratch::new();
    let kubeconfig = scratch.path("kubeconfig");
    let mut sandbox = Sandbox::start(&[
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--transition-ms",
        "50",
        "--apply",
        EXAMPLE,
        "--wait-ready",
        "120",
        "--output",
        "json",
    ]);
    let status = sandbox.finish(Duration::from_secs(60)).await;
    assert!(status.success(), "exit {status}; {}", sandbox.output());
    let report: Value = serde_json::from_str(&sandbox.stdout()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}); {}",
            sandbox.output()
        )
    });
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["ended"], "ready", "{report:#}");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{report:#}");
    let demo = &results[0];
    assert_eq!(demo["kind"], "AuraInstance");
    assert_eq!(demo["namespace"], "default");
    assert_eq!(demo["name"], "demo");
    assert_eq!(demo["outcome"], "Ready");
    assert_eq!(demo["ready"], "True");
    assert_eq!(demo["reason"], "Running");
    // The banner went to stderr, so that stdout stays one document.
    assert!(sandbox.stderr().contains("Nothing real is created"));
    sandbox.assert_no_secret(&[]);
}

const TOO_BIG: &str = "apiVersion: aura.neo4j.io/v1alpha1
kind: AuraInstance
metadata:
  name: toobig
  namespace: team-a
spec:
  tenantId: a1b2c3d4-0000-4000-8000-000000000001
  cloudProvider: gcp
  region: europe-west1
  type: professional-db
  memory: 512GB
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_the_operator_refuses_fails_the_wait_long_before_the_timeout() {
    let scratch = Scratch::new();
    let manifests = scratch.path("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(manifests.join("toobig.yaml"), TOO_BIG).unwrap();
    let started = Instant::now();
    let mut sandbox = Sandbox::start(&[
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        scratch.path("kubeconfig").to_str().unwrap(),
        "--apply",
        manifests.to_str().unwrap(),
        "--wait-ready",
        "120",
    ]);
    let status = sandbox.finish(Duration::from_secs(60)).await;
    let output = sandbox.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited {:?} for a spec only a person can fix",
        started.elapsed()
    );
    let stdout = sandbox.stdout();
    assert!(
        stdout.contains("created namespace team-a"),
        "the missing namespace is created and said so:\n{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("AuraInstance team-a/toobig: "))
        .unwrap_or_else(|| panic!("no report line for the resource:\n{output}"));
    assert!(line.contains("Ready=False InvalidSpec"), "{line}");
    assert!(line.contains("Stalled"), "{line}");
    assert!(
        line.contains("spec.memory"),
        "the message names the field: {line}"
    );
    sandbox.assert_no_secret(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_api_server_refuses_is_reported_with_its_message() {
    let scratch = Scratch::new();
    // Twice the same ConfigMap: the second create gets 409 AlreadyExists. A version no CRD
    // serves, as a real cluster would refuse it. And an AuraInstance the CRD's schema refuses.
    let file = scratch.write(
        "refused.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n---\n\
         apiVersion: aura.neo4j.io/v9\nkind: AuraInstance\nmetadata: {name: future}\n---\n\
         apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\nmetadata: {name: lunar}\n\
         spec: {tenantId: t, cloudProvider: moon, region: r, type: professional-db, memory: 2GB}\n",
    );
    let started = Instant::now();
    let mut sandbox = Sandbox::start(&[
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        scratch.path("kubeconfig").to_str().unwrap(),
        "--apply",
        file.to_str().unwrap(),
        "--wait-ready",
        "120",
        "--output",
        "json",
    ]);
    let status = sandbox.finish(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "{}", sandbox.output());
    assert!(started.elapsed() < Duration::from_secs(30));
    let report: Value = serde_json::from_str(&sandbox.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}); {}", sandbox.output()));
    assert_eq!(report["ok"], false);
    let results = report["results"].as_array().unwrap();
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["Created", "Refused", "Refused", "Refused"],
        "{report:#}"
    );
    assert_eq!(results[3]["reason"], "Invalid", "{report:#}");
    assert!(
        results[3]["message"]
            .as_str()
            .unwrap()
            .contains(r#"spec.cloudProvider: Unsupported value: "moon""#),
        "{report:#}"
    );
    assert_eq!(results[1]["reason"], "AlreadyExists", "{report:#}");
    assert!(
        results[1]["source"]
            .as_str()
            .unwrap()
            .ends_with("refused.yaml document 2"),
        "{report:#}"
    );
    assert!(
        results[2]["message"]
            .as_str()
            .unwrap()
            .contains("no matches for kind \"AuraInstance\" in version \"aura.neo4j.io/v9\""),
        "{report:#}"
    );
}

/// Runs the sandbox with input it must refuse; returns its stderr once it has exited non-zero.
async fn refused_at_start(args: &[&str], kubeconfig: &Path) -> String {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut sandbox = Sandbox::start(&all);
    let status = sandbox.finish(Duration::from_secs(30)).await;
    assert!(!status.success(), "started anyway; {}", sandbox.output());
    assert_eq!(
        sandbox.stdout(),
        "",
        "nothing is announced when nothing started"
    );
    let stderr = sandbox.stderr();
    assert!(stderr.contains("aura-operator: "), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_port_is_named_with_a_way_out() {
    let scratch = Scratch::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let kubeconfig = scratch.path("kubeconfig");
    let stderr = refused_at_start(&["--listen", &addr], &kubeconfig).await;
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen 127.0.0.1:0"), "{stderr}");
    assert!(
        !kubeconfig.exists(),
        "a kubeconfig for a server that never ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_kubeconfig_path_is_named_with_the_os_error() {
    let scratch = Scratch::new();
    // Its folder would have to be a file: no user, root included, can write there.
    scratch.write("a-file", "");
    let kubeconfig = scratch.path("a-file/sandbox.kubeconfig");
    let stderr = refused_at_start(&["--listen", "127.0.0.1:0"], &kubeconfig).await;
    assert!(
        stderr.contains(&format!(
            "cannot write the kubeconfig {}",
            kubeconfig.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("os error"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_the_sandbox_did_not_write_is_not_replaced() {
    let scratch = Scratch::new();
    let theirs = "apiVersion: v1\nkind: Config\ncurrent-context: production\n";
    let kubeconfig = scratch.write("config", theirs);
    let stderr = refused_at_start(&["--listen", "127.0.0.1:0"], &kubeconfig).await;
    assert!(
        stderr.contains("is not a kubeconfig written by the sandbox"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_that_are_not_kubernetes_objects_are_named_by_file_and_document() {
    let scratch = Scratch::new();
    let kubeconfig = scratch.path("kubeconfig");
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let mixed = scratch.write("mixed.yaml", &format!("{example}---\nfoo: bar\n"));
    let stderr = refused_at_start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--apply",
            mixed.to_str().unwrap(),
        ],
        &kubeconfig,
    )
    .await;
    assert!(
        stderr.contains(&format!(
            "{} document 2: not a Kubernetes object (no apiVersion/kind)",
            mixed.display()
        )),
        "{stderr}"
    );
    let broken = scratch.write("broken.yaml", "metadata: [unclosed\n");
    let stderr = refused_at_start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--apply",
            broken.to_str().unwrap(),
        ],
        &kubeconfig,
    )
    .await;
    assert!(
        stderr.contains(&format!("{} document 1: not valid YAML", broken.display())),
        "{stderr}"
    );
    let missing = scratch.path("missing.yaml");
    let stderr = refused_at_start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--apply",
            missing.to_str().unwrap(),
        ],
        &kubeconfig,
    )
    .await;
    assert!(
        stderr.contains(&format!("{}: no such file or directory", missing.display())),
        "{stderr}"
    );
    assert!(!kubeconfig.exists(), "nothing started, nothing written");
}
