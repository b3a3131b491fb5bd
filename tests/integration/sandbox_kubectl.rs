//! The sandbox driven with the real kubectl, as the README's Quick start has a newcomer do it:
//! the binary as a child process, kubectl with default flags through the kubeconfig it writes.
//! Without kubectl on PATH the test says SKIPPED, except on CI (`CI` set), where it fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;

use super::sandbox::{Sandbox, Scratch, wait_for};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn kubectl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

/// One kubectl run's result.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

/// kubectl for one sandbox: its kubeconfig, a discovery cache and HOME of its own.
struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(&self.binary);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env("KUBE_EDITOR", "sed -i s/memory:.2GB/memory:\\ 4GB/")
            .arg("--request-timeout=30s")
            .args(args)
            .current_dir(REPO);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("kubectl task")
            .expect("kubectl runs");
        let run = Run {
            ok: output.status.success(),
            out: String::from_utf8_lossy(&output.stdout).into_owned(),
            err: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("$ kubectl {}\n{}{}", args.join(" "), run.out, run.err);
        run
    }

    /// Runs kubectl and fails the test unless it succeeds; its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(
            run.ok,
            "kubectl {} failed:\n{}{}",
            args.join(" "),
            run.out,
            run.err
        );
        run.out
    }
}

fn header_and_row<'a>(table: &'a str, name: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut lines = table.lines();
    let header = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let row = lines
        .find(|line| line.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
        .split_whitespace()
        .collect();
    (header, row)
}

async fn started(scratch: &Scratch) -> Option<(Sandbox, Kubectl)> {
    let Some(binary) = kubectl_on_path() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is not on PATH on CI (.ci/run puts one there)"
        );
        eprintln!("SKIPPED: kubectl is not on PATH; install kubectl 1.30+ to run this test");
        return None;
    };
    let kubeconfig = scratch.path("sandbox.kubeconfig");
    let sandbox = Sandbox::start(&[
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    wait_for(
        "the kubeconfig",
        Duration::from_secs(30),
        async || kubeconfig.exists().then_some(()),
        || sandbox.output(),
    )
    .await;
    let home = scratch.path("home");
    std::fs::create_dir_all(&home).unwrap();
    Some((
        sandbox,
        Kubectl {
            binary,
            kubeconfig,
            home,
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_sandbox_as_users_drive_a_cluster() {
    let scratch = Scratch::new();
    let Some((mut sandbox, kubectl)) = started(&scratch).await else {
        return;
    };

    // Discovery: the kinds with their short names and category.
    let resources = kubectl
        .ok(&["api-resources", "--api-group=aura.neo4j.io"])
        .await;
    for expected in [
        "aurainstances",
        "aurai",
        "gdssessions",
        "clusterauracredentials",
    ] {
        assert!(resources.contains(expected), "{resources}");
    }
    let namespaces = kubectl.ok(&["get", "namespaces"]).await;
    assert!(
        namespaces.contains("kube-system") && namespaces.contains("Active"),
        "{namespaces}"
    );

    // Every sample, client-side, then the emulator one server-side.
    let applied = kubectl.ok(&["apply", "-f", "deploy/examples/"]).await;
    for expected in [
        "aurainstance.aura.neo4j.io/demo created",
        "namespace/data-dev created",
        "clusterauracredential.aura.neo4j.io/team-data created",
        "deployment.apps/catalog-api created",
    ] {
        assert!(applied.contains(expected), "{applied}");
    }
    let server_side = kubectl
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            "deploy/examples/aurainstance-emulator.yaml",
        ])
        .await;
    assert!(server_side.contains("serverside-applied"), "{server_side}");

    // The operator brings it to Ready; the printer columns say so.
    let waited = kubectl
        .ok(&[
            "wait",
            "aurainstance/demo",
            "--for=condition=Ready",
            "--timeout=60s",
        ])
        .await;
    assert!(waited.contains("condition met"), "{waited}");
    let table = kubectl.ok(&["get", "aurainstances"]).await;
    let (header, row) = header_and_row(&table, "demo");
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "MEMORY", "REGION", "AGE"]
    );
    assert_eq!(row[..5], ["demo", "True", "running", "2GB", "europe-west1"]);
    let wide = kubectl.ok(&["get", "aurai", "-o", "wide"]).await;
    let (header, row) = header_and_row(&wide, "demo");
    let instance = header
        .iter()
        .position(|c| *c == "INSTANCE")
        .expect("INSTANCE column");
    let id = kubectl
        .ok(&[
            "get",
            "aurai",
            "demo",
            "-o",
            "jsonpath={.status.instanceId}",
        ])
        .await;
    assert_eq!(row[instance], id, "the wide column shows the instance id");
    let yaml = kubectl.ok(&["get", "aurai", "demo", "-o", "yaml"]).await;
    assert!(yaml.contains("type: Ready"), "{yaml}");

    // What happened, as describe and get events show it.
    let described = kubectl.ok(&["describe", "aurainstance", "demo"]).await;
    assert!(described.contains("Events:"), "{described}");
    assert!(described.contains("Created"), "{described}");
    let events = kubectl.ok(&["get", "events"]).await;
    assert!(events.contains("aurainstance/demo"), "{events}");
    let explained = kubectl.ok(&["explain", "aurainstance.spec.memory"]).await;
    assert!(explained.contains("memory"), "{explained}");

    // The connection details, for an application.
    let uri = kubectl
        .ok(&[
            "get",
            "secret",
            "demo-connection",
            "-o",
            "jsonpath={.data.NEO4J_URI}",
        ])
        .await;
    let uri = base64::engine::general_purpose::STANDARD
        .decode(uri.trim())
        .expect("base64");
    assert!(String::from_utf8(uri).unwrap().starts_with("neo4j+s://"));

    // Changes: one the CRD refuses, one through edit that the operator carries out.
    let moved = kubectl
        .run(&[
            "patch",
            "aurainstance",
            "demo",
            "--type=merge",
            "-p",
            r#"{"spec":{"region":"us-east1"}}"#,
        ])
        .await;
    assert!(!moved.ok, "a region change must be refused");
    assert!(moved.err.contains("region is immutable"), "{}", moved.err);
    let edited = kubectl.ok(&["edit", "aurainstance", "demo"]).await;
    assert!(edited.contains("edited"), "{edited}");
    wait_for(
        "the resize to 4GB",
        Duration::from_secs(60),
        async || {
            let memory = kubectl
                .ok(&["get", "aurai", "demo", "-o", "jsonpath={.status.memory}"])
                .await;
            (memory == "4GB").then_some(())
        },
        || sandbox.output(),
    )
    .await;

    // Deleting waits for the operator's finalizer, which deletes the Aura instance first.
    let deleted = kubectl
        .ok(&["delete", "aurainstance", "demo", "--timeout=60s"])
        .await;
    assert!(deleted.contains("deleted"), "{deleted}");
    let gone = kubectl.run(&["get", "aurainstance", "demo"]).await;
    assert!(!gone.ok && gone.err.contains("NotFound"), "{}", gone.err);

    sandbox.interrupt();
    let status = sandbox.finish(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", sandbox.output());
    sandbox.assert_no_secret(&[]);
}
