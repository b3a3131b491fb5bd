//! The one tier change Aura makes in place: professional-db → business-critical through
//! `POST /instances/{id}/upgrade`, in the client, the emulator and the AuraInstance controller.

use std::time::Duration;

use serde_json::json;

use crate::support;
use crate::support::operator::{
    Operator, aura_status, condition, instance, is_ready, ready_reason,
};
use aura_operator::aura::{
    CloudProvider, CreateInstance, InstanceId, InstanceStatus, InstanceType, TenantId,
};
use aura_operator::emulator::DEFAULT_TENANT_ID;

const UPGRADE: &str = "/v1/instances/{id}/upgrade";

fn view(op: &Operator, id: &str) -> aura_operator::emulator::InstanceView {
    op.emu
        .handle()
        .instances()
        .into_iter()
        .find(|i| i.id == id)
        .expect("the instance is in the emulator")
}

#[tokio::test]
async fn the_client_upgrades_a_professional_instance_in_place_once() {
    let emu = support::start(support::fast_config()).await;
    let client = support::client(&emu);
    let mut request = CreateInstance::new(
        "tiered",
        TenantId::new(DEFAULT_TENANT_ID).unwrap(),
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    );
    request.graph_analytics_plugin = Some(true);
    let id = client.instances().create(&request).await.unwrap().id;
    wait_running(&client, &id).await;

    let started = client.instances().upgrade(&id).await.unwrap();
    assert_eq!(started.id, id, "same instance");
    assert_eq!(started.status, InstanceStatus::Updating);
    assert_eq!(started.instance_type, Some(InstanceType::BusinessCritical));
    assert_eq!(
        started.graph_analytics_plugin,
        Some(false),
        "Aura removes the plugin"
    );
    let done = wait_running(&client, &id).await;
    assert_eq!(done.instance_type, Some(InstanceType::BusinessCritical));
    assert_eq!(done.memory.as_deref(), Some("2GB"), "sizes kept");

    // Business-critical cannot be upgraded again.
    let err = client.instances().upgrade(&id).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(
        (api.status.as_u16(), api.field.as_deref()),
        (400, Some("type")),
        "{err}"
    );
    assert_eq!(emu.handle().stats().count_route("POST", UPGRADE), 2);
}

#[tokio::test]
async fn a_paused_instance_is_not_upgraded() {
    let emu = support::start(support::fast_config()).await;
    let client = support::client(&emu);
    let request = CreateInstance::new(
        "sleepy",
        TenantId::new(DEFAULT_TENANT_ID).unwrap(),
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    );
    let id = client.instances().create(&request).await.unwrap().id;
    wait_running(&client, &id).await;
    client.instances().pause(&id).await.unwrap();
    support::wait_for("paused", Duration::from_secs(10), || {
        let found = emu.handle().instances();
        match found.iter().find(|i| i.id == id.to_string()) {
            Some(i) if i.status == "paused" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let err = client.instances().upgrade(&id).await.unwrap_err();
    assert_eq!(err.api().map(|a| a.status.as_u16()), Some(409), "{err}");
    let found = client.instances().get(&id).await.unwrap();
    assert_eq!(found.instance_type, Some(InstanceType::ProfessionalDb));
}

async fn wait_running(
    client: &aura_operator::aura::Client,
    id: &InstanceId,
) -> aura_operator::aura::Instance {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client.instances().get(id).await {
            Ok(found) if found.status == InstanceStatus::Running => return found,
            _ if tokio::time::Instant::now() > deadline => panic!("{id} never ran"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test]
async fn changing_the_type_to_business_critical_upgrades_the_instance_with_one_call() {
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    let ready = op.wait_for("orders", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();

    op.patch_spec("orders", json!({"type": "business-critical"}))
        .await;
    let upgraded = op
        .wait_for("orders", "Ready on the new generation", |i| {
            is_ready(i)
                && i.status.as_ref().unwrap().observed_generation == i.metadata.generation
                && view(&op, &id).instance_type == "business-critical"
        })
        .await;
    assert_eq!(aura_status(&upgraded), Some("running"));
    assert_eq!(view(&op, &id).instance_type, "business-critical");
    assert_eq!(op.emu.handle().instances().len(), 1, "upgraded in place");
    assert!(
        op.event_reasons().iter().any(|r| r == "Upgrading"),
        "{:?}",
        op.event_reasons()
    );
    assert_eq!(op.emu.handle().stats().count_route("POST", UPGRADE), 1);
    // Settled: later passes compare, never upgrade again.
    op.after_passes("AuraInstance", 3).await;
    assert_eq!(op.emu.handle().stats().count_route("POST", UPGRADE), 1);
    assert_eq!(
        op.emu.handle().stats().count_route("POST", "/v1/instances"),
        1,
        "no second instance"
    );
}

#[tokio::test]
async fn a_tier_aura_cannot_reach_is_refused_as_an_invalid_spec() {
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    let ready = op.wait_for("orders", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();
    // Upgraded outside Kubernetes (in the Aura console): the spec still says professional-db,
    // a change Aura cannot make back (CEL never saw it).
    let client = support::client(&op.emu);
    client
        .instances()
        .upgrade(&InstanceId::new(id.as_str()).unwrap())
        .await
        .unwrap();
    let refused = op
        .wait_for("orders", "Ready InvalidSpec", |i| {
            ready_reason(i, "InvalidSpec")
        })
        .await;
    let ready = condition(&refused, "Ready").unwrap();
    assert!(ready.message.starts_with("spec.type:"), "{}", ready.message);
    assert!(
        ready.message.contains("business-critical"),
        "{}",
        ready.message
    );
    assert_eq!(condition(&refused, "Stalled").unwrap().status, "True");
    assert_eq!(op.emu.handle().stats().count_route("POST", UPGRADE), 1);
}

#[tokio::test]
async fn an_adopted_professional_instance_can_be_upgraded_by_its_spec() {
    let op = Operator::start().await;
    let (id, _) = op.made_in_aura("console-made").await;
    op.apply(instance(
        "adopter",
        json!({"instanceId": id, "type": "business-critical"}),
    ))
    .await;
    op.wait_for("adopter", "Ready, upgraded", |i| {
        condition(i, "Ready")
            .is_some_and(|c| c.status == "True" || c.reason == "PasswordUnavailable")
            && view(&op, &id).instance_type == "business-critical"
            && aura_status(i) == Some("running")
    })
    .await;
    assert_eq!(op.emu.handle().stats().count_route("POST", UPGRADE), 1);
}

#[tokio::test]
async fn an_adopted_instance_of_another_tier_is_refused() {
    let op = Operator::start().await;
    let (id, _) = op.made_in_aura("console-made").await;
    op.apply(instance(
        "adopter",
        json!({"instanceId": id, "type": "enterprise-db"}),
    ))
    .await;
    let refused = op
        .wait_for("adopter", "Ready InvalidSpec", |i| {
            ready_reason(i, "InvalidSpec")
        })
        .await;
    let ready = condition(&refused, "Ready").unwrap();
    assert!(ready.message.starts_with("spec.type:"), "{}", ready.message);
    assert_eq!(op.emu.handle().stats().count_route("POST", UPGRADE), 0);
    assert_eq!(view(&op, &id).instance_type, "professional-db");
}
