//! The kubectl plugin through the real kubectl: a `kubectl-aura` symlink to the binary on PATH,
//! kubectl finding it, against the in-memory API server (over HTTP, through a kubeconfig) with
//! the controllers running. Without kubectl on PATH the test says SKIPPED, except on CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use aura_operator::controllers::reconciler::suspend;
use aura_operator::crd::AuraInstance;
use kube::ResourceExt;
use serde_json::json;

use super::plan::Env;
use crate::support::operator::{NS, Operator, condition, instance, is_ready};

const BINARY: &str = env!("CARGO_BIN_EXE_aura-operator");

fn kubectl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

/// `kubectl aura ARGS` with the plugin's folder first on PATH: exit code, stdout, stderr.
async fn kubectl_aura(env: &Env, plugins: &Path, args: &[&str]) -> (i32, String, String) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![plugins.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let mut command = Command::new("kubectl");
    command
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("KUBECONFIG", &env.kubeconfig)
        .env("HOME", &env.dir)
        .arg("aura")
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ kubectl aura {}\n{out}{err}", args.join(" "));
    (output.status.code().unwrap_or(-1), out, err)
}

#[tokio::test]
async fn kubectl_aura_status_connect_suspend_resume_adopt_and_plan() {
    if kubectl_on_path().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is not on PATH on CI"
        );
        eprintln!("SKIPPED: kubectl is not on PATH");
        return;
    }
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    let ready = op.wait_for("orders", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();
    let env = Env::new(&op).await;
    let plugins = env.dir.join("bin");
    std::fs::create_dir_all(&plugins).unwrap();
    std::os::unix::fs::symlink(BINARY, plugins.join("kubectl-aura")).unwrap();

    let (code, out, _) = kubectl_aura(&env, &plugins, &["status"]).await;
    assert_eq!(code, 0);
    let row = out
        .lines()
        .find(|l| l.contains("orders"))
        .expect("a row for orders");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "AuraInstance",
            "orders",
            "True",
            "Running",
            &id,
            "running",
            "2GB",
            "-"
        ]
    );
    let (_, out, _) = kubectl_aura(&env, &plugins, &["status", "-n", "elsewhere"]).await;
    assert!(
        out.contains("No Aura resources in namespace elsewhere"),
        "{out}"
    );

    let (code, out, _) = kubectl_aura(&env, &plugins, &["connect", "orders"]).await;
    assert_eq!(code, 0);
    assert!(out.contains(&format!("URI:      neo4j+s://{id}")), "{out}");
    assert!(
        out.contains("cypher-shell -a 'neo4j+s://") && out.contains("{.data.NEO4J_PASSWORD}"),
        "{out}"
    );

    // A user who may not read the Secret is told which one and what permission it takes.
    op.api.fail_next("get", "", "secrets", 1, 403);
    let (code, _, err) = kubectl_aura(&env, &plugins, &["connect", "orders"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("you may not read Secret default/orders-connection")
            && err.contains("get on secrets"),
        "{err}"
    );

    let (code, out, _) = kubectl_aura(&env, &plugins, &["suspend", "orders"]).await;
    assert_eq!(code, 0, "{out}");
    op.wait_for("orders", "suspended", |i: &AuraInstance| {
        condition(i, "Synced").is_some_and(|c| c.reason == "Suspended")
    })
    .await;
    let (code, _, _) = kubectl_aura(&env, &plugins, &["resume", "orders"]).await;
    assert_eq!(code, 0);
    let resumed = op
        .wait_for("orders", "resumed", |i: &AuraInstance| {
            condition(i, "Synced").is_some_and(|c| c.reason != "Suspended")
        })
        .await;
    assert!(!resumed.annotations().contains_key(suspend::ANNOTATION));

    let (legacy, _) = op.made_in_aura("legacy-db").await;
    let credentials = env.credentials.to_str().unwrap().to_owned();
    let adopt = [
        "adopt",
        &legacy,
        "--credentials-file",
        &credentials,
        "--aura-url",
        &env.aura_url,
        "--allow-insecure-http",
    ];
    let (code, out, _) = kubectl_aura(&env, &plugins, &adopt).await;
    assert_eq!(code, 0, "{out}");
    let adopted = op.wait_for("legacy-db", "Ready", is_ready).await;
    assert_eq!(adopted.spec.instance_id.as_deref(), Some(legacy.as_str()));
    assert_eq!(
        condition(&adopted, "Ready").unwrap().reason,
        "InSync",
        "observed as it is: nothing to change"
    );

    let files = env.manifests("resize", &[instance("orders", json!({"memory": "4GB"}))]);
    let plan = [
        "plan",
        "-f",
        files.to_str().unwrap(),
        "--credentials-file",
        &credentials,
        "--aura-url",
        &env.aura_url,
        "--allow-insecure-http",
    ];
    let (code, out, _) = kubectl_aura(&env, &plugins, &plan).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("AuraInstance {NS}/orders: update ({id})")),
        "{out}"
    );
}
