//! `aura-operator import` against the emulator with a mixed estate: running, paused,
//! business-critical, with and without the Graph Analytics plugin, and one instance a
//! resource already manages. `plan` on what it writes says "no change" for every one.

use std::time::Duration;

use aura_operator::aura::{
    CloudProvider, CreateInstance, InstanceId, InstanceStatus, InstanceType, TenantId,
};
use aura_operator::cli::import::{self, ImportArgs, Policy};
use aura_operator::cli::plan::aura_side::ReadArgs;
use aura_operator::cli::plan::report::{Action, exit_code};
use aura_operator::emulator::DEFAULT_TENANT_ID;
use serde_json::json;

use super::plan::Env;
use crate::support::operator::{OPERATOR_NS, Operator, instance, is_ready};

/// Creates an instance in Aura directly and waits until it runs (or, `paused`, is paused).
async fn made(
    aura: &aura_operator::aura::Client,
    name: &str,
    tier: InstanceType,
    plugin: Option<bool>,
    paused: bool,
) -> InstanceId {
    let mut request = CreateInstance::new(
        name,
        TenantId::new(DEFAULT_TENANT_ID).unwrap(),
        CloudProvider::Gcp,
        "europe-west1",
        tier,
        "4GB",
    );
    request.graph_analytics_plugin = plugin;
    let id = aura.instances().create(&request).await.unwrap().id;
    settle(aura, &id, InstanceStatus::Running).await;
    if paused {
        aura.instances().pause(&id).await.unwrap();
        settle(aura, &id, InstanceStatus::Paused).await;
    }
    id
}

async fn settle(aura: &aura_operator::aura::Client, id: &InstanceId, want: InstanceStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if aura
            .instances()
            .get(id)
            .await
            .is_ok_and(|i| i.status == want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} never became {want}");
}

#[tokio::test]
async fn plan_on_what_import_writes_says_no_change_for_every_instance() {
    let mut op = Operator::start().await;
    op.apply(instance("managed", json!({}))).await;
    let managed = op.wait_for("managed", "Ready", is_ready).await;
    let managed_id = managed.status.unwrap().instance_id.unwrap();
    op.crash().await;
    let aura = crate::support::client(&op.emu);
    let estate = [
        made(&aura, "orders", InstanceType::ProfessionalDb, None, false).await,
        made(
            &aura,
            "billing-paused",
            InstanceType::ProfessionalDb,
            None,
            true,
        )
        .await,
        made(&aura, "ledger", InstanceType::BusinessCritical, None, false).await,
        made(
            &aura,
            "graphs",
            InstanceType::ProfessionalDb,
            Some(true),
            false,
        )
        .await,
    ];
    let env = Env::new(&op).await;
    let out = env.dir.join("imported");
    let args = ImportArgs {
        tenant: "Emulated Tenant".to_owned(),
        management_policy: Policy::Observe,
        out: Some(out.clone()),
        read: ReadArgs {
            credentials_file: Some(env.credentials.clone()),
            credential_ref: None,
            aura_url: env.aura_url.clone(),
            allow_insecure_http: true,
            operator_namespace: OPERATOR_NS.to_owned(),
        },
    };
    let writes = op.api.counters().writes;

    import::run(&env.kube(), &args).await.unwrap();

    assert_eq!(
        op.api.counters().writes,
        writes,
        "import wrote to Kubernetes"
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "billing-paused.yaml",
            "graphs.yaml",
            "ledger.yaml",
            "orders.yaml"
        ],
        "one manifest per unmanaged instance; the managed one ({managed_id}) is skipped"
    );
    let paused = std::fs::read_to_string(out.join("billing-paused.yaml")).unwrap();
    assert!(paused.contains("paused: true"), "{paused}");
    assert!(paused.contains("managementPolicy: Observe"), "{paused}");
    let graphs = std::fs::read_to_string(out.join("graphs.yaml")).unwrap();
    assert!(graphs.contains("graphAnalyticsPlugin: true"), "{graphs}");

    let report = env.plan(&[&out]).await;
    assert_eq!(report.resources.len(), 4);
    for entry in &report.resources {
        assert_eq!(entry.action, Action::NoChange, "{entry:#?}");
        assert_eq!(entry.reason.as_deref(), Some("InSync"), "{entry:#?}");
        let id = entry.aura_id.as_deref().unwrap();
        assert!(estate.iter().any(|e| e.as_str() == id), "{entry:#?}");
    }
    assert_eq!(exit_code(&report), 0);
}
