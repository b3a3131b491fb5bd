//! `aura-operator plan` against the in-memory API server (over HTTP, through a kubeconfig, as
//! kubectl reaches a cluster) and the Aura emulator: the step for each resource, refusals with
//! the controller's reasons, skipped files, no write and no changing call, the number of Aura
//! calls for a large set, and the exit status of the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use aura_operator::aura::{CloudProvider, CreateInstance, InstanceType, TenantId};
use aura_operator::cli::import::{ImportArgs, Policy};
use aura_operator::cli::kube_connect::KubeArgs;
use aura_operator::cli::plan::aura_side::ReadArgs;
use aura_operator::cli::plan::report::{Action, Entry, Report};
use aura_operator::cli::plan::{self, Output, PlanArgs};
use aura_operator::controllers::connection::naming;
use aura_operator::crd::AuraInstance;
use aura_operator::emulator::DEFAULT_TENANT_ID;
use kube::api::{Patch, PatchParams};
use memory_apiserver::Served;
use serde_json::{Value, json};

use crate::support::operator::{NS, OPERATOR_NS, Operator, instance, is_ready, timing, user_post};
use crate::support::{CLIENT_ID, CLIENT_SECRET, fast_config};

const BINARY: &str = env!("CARGO_BIN_EXE_aura-operator");

/// A folder of files for one test (removed on drop), the API server served over HTTP and a
/// kubeconfig for it, and a credentials file for the emulator.
pub struct Env {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub credentials: PathBuf,
    pub aura_url: String,
    _served: Served,
}

impl Env {
    pub async fn new(op: &Operator) -> Self {
        let dir = std::env::temp_dir().join(format!("aura-plan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let served = op.api.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let kubeconfig = dir.join("kubeconfig");
        served.write_kubeconfig(&kubeconfig, NS).unwrap();
        let credentials = dir.join("credentials.yaml");
        let text = format!("clientId: {CLIENT_ID}\nclientSecret: {CLIENT_SECRET}\n");
        std::fs::write(&credentials, text).unwrap();
        Self {
            dir,
            kubeconfig,
            credentials,
            aura_url: op.emu.base_url(),
            _served: served,
        }
    }

    /// Writes `objects` as one multi-document YAML file in its own folder `name`; its path.
    pub fn manifests(&self, name: &str, objects: &[Value]) -> PathBuf {
        let folder = self.dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let text: Vec<String> = objects
            .iter()
            .map(|o| serde_norway::to_string(o).unwrap())
            .collect();
        std::fs::write(folder.join("resources.yaml"), text.join("---\n")).unwrap();
        folder
    }

    pub fn kube(&self) -> KubeArgs {
        KubeArgs {
            kubeconfig: Some(self.kubeconfig.clone()),
            ..KubeArgs::default()
        }
    }

    pub fn args(&self, files: &[&Path]) -> PlanArgs {
        PlanArgs {
            files: files.iter().map(|p| p.to_path_buf()).collect(),
            output: Output::Text,
            refresh: false,
            prune: false,
            credentials_file: Some(self.credentials.clone()),
            aura_url: self.aura_url.clone(),
            allow_insecure_http: true,
            rate_limit: 100_000,
            operator_namespace: OPERATOR_NS.to_owned(),
            installation_class: None,
        }
    }

    pub async fn plan(&self, files: &[&Path]) -> Report {
        plan::make(&self.kube(), &self.args(files)).await.unwrap()
    }

    /// The binary's `plan` with these arguments after the connection flags: exit code, stdout.
    pub async fn binary(&self, args: &[&str]) -> (i32, String) {
        let mut command = Command::new(BINARY);
        command
            .arg("plan")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--credentials-file")
            .arg(&self.credentials)
            .args(["--aura-url", &self.aura_url, "--allow-insecure-http"])
            .args(["--operator-namespace", OPERATOR_NS])
            .args(args);
        // Off the runtime: the API server it talks to is served by this test's runtime.
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), stdout)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn entry<'a>(report: &'a Report, name: &str) -> &'a Entry {
    report
        .resources
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no entry {name} in {report:#?}"))
}

/// Requests that could change something in Aura: anything but a read or a token.
fn changing_calls(op: &Operator) -> u64 {
    op.emu
        .handle()
        .stats()
        .requests
        .iter()
        .filter(|r| r.method != "GET" && r.route != "/oauth/token")
        .map(|r| r.count)
        .sum()
}

#[tokio::test]
async fn plan_says_what_each_resource_would_get_and_changes_nothing() {
    let mut op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    op.apply(instance("steady", json!({}))).await;
    op.wait_for("orders", "Ready", is_ready).await;
    op.wait_for("steady", "Ready", is_ready).await;
    // The controllers stop: whatever is written or sent from here on is the plan's.
    op.crash().await;
    let env = Env::new(&op).await;
    let files = env.manifests(
        "mixed",
        &[
            instance("orders", json!({"memory": "4GB"})),
            instance("steady", json!({})),
            instance("fresh", json!({"memory": "8GB"})),
            instance("odd", json!({"memory": "3GB"})),
            instance("typo", json!({"memory": "lots"})),
            instance(
                "paused-free",
                json!({"type": "free-db", "memory": "1GB", "paused": true}),
            ),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        ],
    );
    std::fs::write(files.join("notes.yaml"), "key: [unclosed\n").unwrap();
    let writes = op.api.counters().writes;
    let changing = changing_calls(&op);

    let report = env.plan(&[&files]).await;

    assert_eq!(op.api.counters().writes, writes, "plan wrote to Kubernetes");
    assert_eq!(
        changing_calls(&op),
        changing,
        "plan sent a changing Aura call"
    );
    let orders = entry(&report, "orders");
    assert_eq!(orders.action, Action::Update, "{orders:?}");
    assert_eq!(
        orders.changes,
        ["memory: Aura has \"2GB\", the spec says \"4GB\""]
    );
    assert_eq!(entry(&report, "steady").action, Action::NoChange);
    let fresh = entry(&report, "fresh");
    assert_eq!(fresh.action, Action::Create);
    assert!(
        fresh.changes.contains(&"memory: 8GB".to_owned()),
        "{fresh:?}"
    );
    assert!(
        fresh.changes.contains(&"type: professional-db".to_owned()),
        "{fresh:?}"
    );
    assert!(
        fresh
            .changes
            .contains(&"region: gcp europe-west1".to_owned()),
        "{fresh:?}"
    );
    // The tenant's offers, as the controller checks them: its reason and message.
    let odd = entry(&report, "odd");
    assert_eq!(odd.action, Action::Refused);
    assert_eq!(odd.reason.as_deref(), Some("InvalidSpec"));
    assert!(
        odd.message.as_deref().unwrap().starts_with("spec.memory:"),
        "{odd:?}"
    );
    // The CRD's schema, as the API server checks it.
    let typo = entry(&report, "typo");
    assert_eq!(typo.action, Action::Refused);
    assert!(
        typo.message.as_deref().unwrap().contains("spec.memory"),
        "{typo:?}"
    );
    // The controller's own validate.
    let free = entry(&report, "paused-free");
    assert_eq!(free.action, Action::Refused);
    assert!(
        free.message.as_deref().unwrap().starts_with("spec.paused:"),
        "{free:?}"
    );
    assert_eq!(report.resources.len(), 6);
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(report.warnings.iter().any(|w| w.contains("notes.yaml")));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("ConfigMap \"c\""))
    );
    assert_eq!(plan::report::exit_code(&report), 1);

    // The binary: 0 when nothing would change, 2 when something would, 1 on a refusal.
    let same = env.manifests("same", &[instance("steady", json!({}))]);
    let resize = env.manifests("resize", &[instance("orders", json!({"memory": "4GB"}))]);
    let refused = env.manifests("refused", &[instance("odd", json!({"memory": "3GB"}))]);
    let (code, out) = env.binary(&["-f", same.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("AuraInstance default/steady: no change"),
        "{out}"
    );
    let (code, out) = env
        .binary(&["-f", resize.to_str().unwrap(), "-o", "json"])
        .await;
    assert_eq!(code, 2, "{out}");
    let parsed: Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(parsed["resources"][0]["action"], "update");
    assert_eq!(parsed["observed_from"], "status");
    let (code, out) = env.binary(&["-f", refused.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("InvalidSpec: spec.memory"), "{out}");
    assert_eq!(
        op.api.counters().writes,
        writes,
        "the binary wrote to Kubernetes"
    );
    assert_eq!(changing_calls(&op), changing);
}

#[tokio::test]
async fn planning_200_manifests_takes_a_handful_of_calls_and_refresh_reads_each() {
    let op = Operator::stopped(fast_config(), timing()).await;
    op.emu
        .handle()
        .set_invisible_after_create(std::time::Duration::ZERO);
    let aura = crate::support::client(&op.emu);
    let tenant = TenantId::new(DEFAULT_TENANT_ID).unwrap();
    let mut manifests = Vec::new();
    for n in 0..200 {
        let name = format!("db-{n:03}");
        let created = op
            .instances()
            .create(
                &user_post(),
                &serde_json::from_value::<AuraInstance>(instance(&name, json!({}))).unwrap(),
            )
            .await
            .unwrap();
        let uid = created.metadata.uid.clone().unwrap();
        let aura_name = naming::aura_name(None, NS, &name, &uid);
        let request = CreateInstance::new(
            &aura_name,
            tenant.clone(),
            CloudProvider::Gcp,
            "europe-west1",
            InstanceType::ProfessionalDb,
            "2GB",
        );
        let made = aura.instances().create(&request).await.unwrap();
        let status = json!({"status": {
            "instanceId": made.id.to_string(), "tenantId": DEFAULT_TENANT_ID,
            "auraName": aura_name, "status": "running", "memory": "2GB", "storage": "4GB",
            "observedGeneration": 1
        }});
        op.instances()
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
        let memory = if n % 20 == 0 { "4GB" } else { "2GB" };
        manifests.push(instance(&name, json!({"memory": memory})));
    }
    let env = Env::new(&op).await;
    let files = env.manifests("estate", &manifests);
    let before = op.emu.handle().stats().total_requests;

    let report = env.plan(&[&files]).await;

    let stats = op.emu.handle().stats();
    let calls = stats.total_requests - before;
    eprintln!(
        "plan of 200 manifests: {calls} Aura calls: {:?}",
        stats.requests
    );
    assert_eq!(report.aura_calls, calls);
    // A token, the tenant's instance list, and the tenant's offers (for the changed specs).
    assert!(calls <= 3, "{calls} calls");
    let changed = report
        .resources
        .iter()
        .filter(|e| e.action == Action::Update)
        .count();
    let unchanged = report
        .resources
        .iter()
        .filter(|e| e.action == Action::NoChange)
        .count();
    assert_eq!((changed, unchanged), (10, 190));

    let mut args = env.args(&[&files]);
    args.refresh = true;
    let before = op.emu.handle().stats().total_requests;
    let live = plan::make(&env.kube(), &args).await.unwrap();
    let calls = op.emu.handle().stats().total_requests - before;
    eprintln!(
        "plan --refresh of 200 manifests: {calls} Aura calls in {:?} s",
        live.refresh_seconds
    );
    assert!(calls >= 200, "{calls} calls");
    assert_eq!(live.observed_from, "live");
    assert!(live.refresh_seconds.is_some());
}

/// Creates any object through the API server as a user would.
pub async fn create_raw(op: &Operator, kind: &str, plural: &str, object: Value) {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
    let api_version = object["apiVersion"].as_str().unwrap().to_owned();
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
    let obj: DynamicObject = serde_json::from_value(object).unwrap();
    let api: kube::Api<DynamicObject> = match namespace {
        Some(ns) => kube::Api::namespaced_with(op.api.client(), &ns, &resource),
        None => kube::Api::all_with(op.api.client(), &resource),
    };
    api.create(&PostParams::default(), &obj).await.unwrap();
}

/// The emulator's key as the Secret `name` in `namespace`.
pub async fn key_secret(op: &Operator, namespace: &str, name: &str) {
    let key = json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET});
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace}, "stringData": key});
    create_raw(op, "Secret", "secrets", secret).await;
}

/// A ClusterAuraCredential `name` over the Secret `team-key` of the operator's namespace, for
/// the test namespace, with `extra` spec fields.
pub async fn cluster_credential(op: &Operator, name: &str, extra: Value) {
    let mut spec = json!({"secretRef": {"name": "team-key"},
                          "allowedNamespaces": {"names": [NS]}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let credential = json!({"apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "ClusterAuraCredential", "metadata": {"name": name}, "spec": spec});
    create_raw(
        op,
        "ClusterAuraCredential",
        "clusterauracredentials",
        credential,
    )
    .await;
}

#[tokio::test]
async fn credentials_from_the_cluster_claims_snapshots_sessions_and_prune() {
    let mut op = Operator::start().await;
    key_secret(&op, OPERATOR_NS, "team-key").await;
    key_secret(&op, NS, "own-key").await;
    let second_tenant = [aura_operator::emulator::SECOND_TENANT_ID];
    cluster_credential(&op, "team", json!({"allowedTenants": second_tenant})).await;
    let small = json!({"allowedTenants": ["*"], "limits": {"maxInstancesPerNamespace": 1}});
    cluster_credential(&op, "small", small).await;
    op.apply(instance("orders", json!({}))).await;
    op.apply(instance("doomed", json!({"deletionPolicy": "Delete"})))
        .await;
    op.apply(instance(
        "first",
        json!({"credentialRef": {"name": "small"}}),
    ))
    .await;
    let orders = op.wait_for("orders", "Ready", is_ready).await;
    op.wait_for("doomed", "Ready", is_ready).await;
    op.wait_for("first", "Ready", is_ready).await;
    let taken = crate::support::operator::resource(
        "AuraSnapshot",
        "taken",
        json!({"instanceRef": {"name": "orders"}}),
    );
    op.create::<aura_operator::crd::AuraSnapshot>(taken.clone())
        .await;
    op.wait_for_any(
        "taken",
        "Ready",
        is_ready::<aura_operator::crd::AuraSnapshot>,
    )
    .await;
    let orders_id = orders.status.unwrap().instance_id.unwrap();
    op.crash().await;
    let env = Env::new(&op).await;
    let own = json!({"credentialsSecretRef": {"name": "own-key"}});
    let with_own = |extra: Value| {
        let mut spec = own.clone();
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    let files = env.manifests(
        "estate",
        &[
            instance("limited", json!({"credentialRef": {"name": "team"}})),
            instance("first", json!({"credentialRef": {"name": "small"}})),
            instance("second", json!({"credentialRef": {"name": "small"}})),
            instance("twin", with_own(json!({"instanceId": orders_id}))),
            instance("no-credential", json!({})),
            crate::support::operator::resource(
                "AuraSnapshot",
                "nightly",
                with_own(json!({"instanceRef": {"name": "orders"}})),
            ),
            crate::support::operator::resource(
                "GdsSession",
                "analysis",
                with_own(
                    json!({"tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp",
                                "region": "europe-west1", "memory": "8GB"}),
                ),
            ),
        ],
    );
    let mut args = env.args(&[&files]);
    args.credentials_file = None;
    args.prune = true;
    let writes = op.api.counters().writes;

    let report = plan::make(&env.kube(), &args).await.unwrap();

    assert_eq!(op.api.counters().writes, writes);
    let limited = entry(&report, "limited");
    assert_eq!(limited.action, Action::Refused);
    assert_eq!(limited.reason.as_deref(), Some("CredentialNotAllowed"));
    assert!(
        limited
            .message
            .as_deref()
            .unwrap()
            .starts_with("spec.tenantId:"),
        "{limited:?}"
    );
    assert_eq!(entry(&report, "first").action, Action::NoChange);
    let second = entry(&report, "second");
    assert_eq!(
        second.reason.as_deref(),
        Some("CredentialLimitExceeded"),
        "{second:?}"
    );
    assert!(
        second
            .message
            .as_deref()
            .unwrap()
            .contains("maxInstancesPerNamespace (1)")
    );
    let twin = entry(&report, "twin");
    assert_eq!(twin.action, Action::Refused);
    assert_eq!(twin.reason.as_deref(), Some("AlreadyManaged"), "{twin:?}");
    assert!(
        twin.message.as_deref().unwrap().contains("default/orders"),
        "{twin:?}"
    );
    let none = entry(&report, "no-credential");
    assert_eq!(none.reason.as_deref(), Some("CredentialsInvalid"));
    assert!(
        none.message
            .as_deref()
            .unwrap()
            .contains("--credentials-file"),
        "{none:?}"
    );
    assert_eq!(entry(&report, "nightly").action, Action::Create);
    let analysis = entry(&report, "analysis");
    assert_eq!(analysis.action, Action::Create);
    assert!(
        analysis.changes.contains(&"memory: 8GB".to_owned()),
        "{analysis:?}"
    );
    // Pruned: in the cluster, not in the files.
    let kept = entry(&report, "orders");
    assert_eq!(
        (kept.action, kept.source.as_str()),
        (Action::NoChange, "cluster")
    );
    assert!(
        kept.message
            .as_deref()
            .unwrap()
            .contains("deletionPolicy Retain"),
        "{kept:?}"
    );
    let doomed = entry(&report, "doomed");
    assert_eq!(doomed.action, Action::Delete, "{doomed:?}");

    // A recorded snapshot: from its status by default, read live with --refresh.
    let snapshot_reads = || {
        op.emu
            .handle()
            .stats()
            .count_route("GET", "/v1/instances/{id}/snapshots/{snapshot_id}")
    };
    let recorded = env.manifests("taken", &[taken]);
    let mut args = env.args(&[&recorded]);
    let reads = snapshot_reads();
    let report = plan::make(&env.kube(), &args).await.unwrap();
    assert_eq!(entry(&report, "taken").action, Action::NoChange);
    assert_eq!(snapshot_reads(), reads, "no read without --refresh");
    args.refresh = true;
    let report = plan::make(&env.kube(), &args).await.unwrap();
    assert_eq!(entry(&report, "taken").action, Action::NoChange);
    assert_eq!(snapshot_reads(), reads + 1, "one live read with --refresh");

    // import reads with a ClusterAuraCredential of the cluster and names it in the manifests.
    let (legacy, _) = op.made_in_aura("legacy").await;
    let import = ImportArgs {
        tenant: DEFAULT_TENANT_ID.to_owned(),
        management_policy: Policy::Observe,
        out: None,
        read: ReadArgs {
            credentials_file: None,
            credential_ref: Some("small".to_owned()),
            aura_url: env.aura_url.clone(),
            allow_insecure_http: true,
            operator_namespace: OPERATOR_NS.to_owned(),
        },
    };
    let imported = aura_operator::cli::import::make(&env.kube(), &import)
        .await
        .unwrap();
    assert_eq!(imported.manifests.len(), 1, "{:?}", imported.skipped);
    let (_, manifest) = &imported.manifests[0];
    assert_eq!(manifest["spec"]["instanceId"], legacy.as_str());
    assert_eq!(manifest["spec"]["credentialRef"]["name"], "small");
    assert_eq!(
        imported.skipped.len(),
        3,
        "orders, doomed and first are managed"
    );
}
