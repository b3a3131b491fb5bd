//! Multi-tenant safety end to end: one resource per Aura object across namespaces (claims), and
//! the second key needed to delete an adopted instance. The real Controllers watch every
//! namespace, as `aura-operator run` does by default; the emulator counts every call, which is
//! how "no changing call" is proved.

use std::time::Duration;

use aura_operator::aura::SessionFilter;
use aura_operator::crd::{AuraInstance, GdsSession};
use aura_operator::emulator::DEFAULT_TENANT_ID;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{DeleteParams, Patch};
use serde_json::json;

use crate::support;
use crate::support::operator::{
    OPERATOR_NS, Operator, condition, instance, is_ready, ready_reason, resource, secret_value,
    user_patch, user_post, wait_object,
};

const TEAM_A: &str = "team-a";
const TEAM_B: &str = "team-b";

/// Every Aura call that changes an instance: update, pause, resume, restore, overwrite, delete.
const CHANGING: &[(&str, &str)] = &[
    ("PATCH", "/v1/instances/{id}"),
    ("DELETE", "/v1/instances/{id}"),
    ("POST", "/v1/instances/{id}/pause"),
    ("POST", "/v1/instances/{id}/resume"),
    ("POST", "/v1/instances/{id}/overwrite"),
    ("POST", "/v1/instances/{id}/snapshots/{snapshot_id}/restore"),
];

fn changing_calls(op: &Operator) -> u64 {
    let stats = op.emu.handle().stats();
    CHANGING
        .iter()
        .map(|(method, route)| stats.count_route(method, route))
        .sum()
}

fn in_namespace(mut yaml: serde_json::Value, namespace: &str) -> serde_json::Value {
    yaml["metadata"]["namespace"] = json!(namespace);
    yaml
}

fn instances(op: &Operator, namespace: &str) -> Api<AuraInstance> {
    Api::namespaced(op.api.client(), namespace)
}

async fn create_in(op: &Operator, namespace: &str, yaml: serde_json::Value) -> AuraInstance {
    let obj: AuraInstance = serde_json::from_value(in_namespace(yaml, namespace)).unwrap();
    instances(op, namespace)
        .create(&user_post(), &obj)
        .await
        .expect("created")
}

async fn wait_in<K>(
    op: &Operator,
    namespace: &str,
    name: &str,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let within = Duration::from_secs(15);
    wait_object(&op.api, Some(namespace), name, what, within, check).await
}

async fn wait_gone_in<K>(op: &Operator, namespace: &str, name: &str)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let what = format!("{namespace}/{name} to be removed");
    support::wait_for(&what, Duration::from_secs(15), || {
        match op.api.get_as::<K>(Some(namespace), name) {
            None => Ok(()),
            Some(obj) => Err(format!("{:#?}", obj.meta())),
        }
    })
    .await;
}

fn instance_id(obj: &AuraInstance) -> String {
    obj.status.as_ref().unwrap().instance_id.clone().unwrap()
}

fn ready_message<K: support::operator::HasConditions>(obj: &K) -> String {
    condition(obj, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn already_managed_by(other: &'static str) -> impl Fn(&AuraInstance) -> bool {
    move |o| ready_reason(o, "AlreadyManaged") && ready_message(o).contains(other)
}

fn claim(op: &Operator, name: &str) -> Option<Lease> {
    op.api.get_as::<Lease>(Some(OPERATOR_NS), name)
}

fn holder(lease: &Lease) -> String {
    lease
        .spec
        .as_ref()
        .unwrap()
        .holder_identity
        .clone()
        .unwrap()
}

/// Notes of the Events with `reason` in `namespace`.
fn event_notes(op: &Operator, namespace: &str, reason: &str) -> Vec<String> {
    op.api
        .list("events.k8s.io", "events", Some(namespace))
        .iter()
        .filter(|e| e["reason"] == reason)
        .filter_map(|e| e["note"].as_str().map(str::to_owned))
        .collect()
}

/// An instance made in Aura directly (as someone with the Aura console would).
async fn made_in_aura(op: &Operator, name: &str) -> String {
    op.made_in_aura(name).await.0
}

fn aura_memory(op: &Operator, id: &str) -> String {
    op.emu
        .handle()
        .instances()
        .into_iter()
        .find(|i| i.id == id)
        .map(|i| i.memory)
        .unwrap_or_default()
}

fn alive_in_aura(op: &Operator, id: &str) -> bool {
    op.emu
        .handle()
        .instances()
        .iter()
        .any(|i| i.id == id && i.status != "destroying")
}

#[tokio::test]
async fn a_second_resource_naming_a_managed_instance_is_refused_and_changes_nothing() {
    let op = Operator::start_cluster_wide().await;
    create_in(&op, TEAM_A, instance("orders", json!({}))).await;
    let first = wait_in(&op, TEAM_A, "orders", "Ready", is_ready::<AuraInstance>).await;
    let id = instance_id(&first);
    let lease = claim(&op, &format!("aura-instance-{id}")).expect("the creator holds the claim");
    assert_eq!(holder(&lease), "team-a/orders");
    let before = changing_calls(&op);

    // Team B names the same instance, asking for every kind of change and for its deletion.
    let mut theirs = instance(
        "stolen",
        json!({"instanceId": id, "memory": "4GB", "paused": true, "auraName": "mine-now",
               "deletionPolicy": "Delete", "restore": {"requestId": "r1", "from": {"instanceId": id}}}),
    );
    theirs["metadata"]["annotations"] = json!({"aura.neo4j.io/confirm-delete": id});
    create_in(&op, TEAM_B, theirs).await;
    let refused = wait_in(
        &op,
        TEAM_B,
        "stolen",
        "AlreadyManaged",
        already_managed_by("team-a/orders"),
    )
    .await;
    assert!(!is_ready(&refused));
    assert!(
        refused.status.as_ref().unwrap().instance_id.is_none(),
        "the refused resource records no instance"
    );
    assert!(
        op.api
            .get_as::<k8s_openapi::api::core::v1::Secret>(Some(TEAM_B), "stolen-connection")
            .is_none(),
        "no connection Secret for the refused resource"
    );
    assert!(
        !event_notes(&op, TEAM_B, "AlreadyManaged").is_empty(),
        "a Warning Event says who manages it"
    );
    op.after_passes("AuraInstance", 6).await;
    assert_eq!(
        changing_calls(&op),
        before,
        "no changing call for the refused resource"
    );

    // Its deletion leaves the instance in Aura, with deletionPolicy Delete and the confirmation.
    instances(&op, TEAM_B)
        .delete("stolen", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone_in::<AuraInstance>(&op, TEAM_B, "stolen").await;
    assert_eq!(changing_calls(&op), before, "no delete either");
    assert!(alive_in_aura(&op, &id));
    assert_eq!(
        holder(&claim(&op, &format!("aura-instance-{id}")).unwrap()),
        "team-a/orders",
        "the refused resource's deletion leaves the holder's claim alone"
    );

    // The first resource still manages it.
    let patch = json!({"spec": {"memory": "4GB"}});
    instances(&op, TEAM_A)
        .patch("orders", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_in(&op, TEAM_A, "orders", "resized", |o: &AuraInstance| {
        is_ready(o) && o.status.as_ref().unwrap().memory.as_deref() == Some("4GB")
    })
    .await;
    assert_eq!(aura_memory(&op, &id), "4GB");
}

#[tokio::test]
async fn the_refusal_survives_a_restart_and_the_holder_still_works() {
    let mut op = Operator::start_cluster_wide().await;
    create_in(&op, TEAM_A, instance("orders", json!({}))).await;
    let id = instance_id(&wait_in(&op, TEAM_A, "orders", "Ready", is_ready::<AuraInstance>).await);
    create_in(
        &op,
        TEAM_B,
        instance("stolen", json!({"instanceId": id, "memory": "8GB"})),
    )
    .await;
    wait_in(
        &op,
        TEAM_B,
        "stolen",
        "AlreadyManaged",
        already_managed_by("team-a/orders"),
    )
    .await;

    // A new operator, with nothing in memory, that sees team B's resource before team A's
    // (it watches team B only): the decision must come from the API server, not from memory.
    op.crash().await;
    let before = changing_calls(&op);
    op.restart_watching(Some(TEAM_B));
    // A change to the refused resource gets a fresh pass from the new operator.
    let patch = json!({"spec": {"memory": "4GB"}});
    let changed = instances(&op, TEAM_B)
        .patch("stolen", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let generation = changed.metadata.generation;
    wait_in(
        &op,
        TEAM_B,
        "stolen",
        "refused again",
        |o: &AuraInstance| {
            already_managed_by("team-a/orders")(o)
                && o.status.as_ref().unwrap().observed_generation == generation
        },
    )
    .await;
    op.after_passes("AuraInstance", 4).await;
    assert_eq!(changing_calls(&op), before, "still nothing from team B");
    assert_eq!(aura_memory(&op, &id), "2GB");

    // And another, watching everything.
    op.crash().await;
    op.restart_watching(None);
    // The holder still manages its instance.
    let patch = json!({"spec": {"memory": "8GB"}});
    instances(&op, TEAM_A)
        .patch("orders", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_in(&op, TEAM_A, "orders", "resized", |o: &AuraInstance| {
        is_ready(o) && o.status.as_ref().unwrap().memory.as_deref() == Some("8GB")
    })
    .await;
    let stats = op.emu.handle().stats();
    assert_eq!(stats.count_route("PATCH", "/v1/instances/{id}"), 1);
}

#[tokio::test]
async fn two_new_resources_adopting_one_instance_at_once_leave_exactly_one_manager() {
    let op = Operator::start_cluster_wide().await;
    let id = made_in_aura(&op, "shared").await;
    let before = changing_calls(&op);
    // Each wants a different size: two managers would fight with one PATCH after another.
    let (a, b) = tokio::join!(
        create_in(
            &op,
            TEAM_A,
            instance("left", json!({"instanceId": id, "memory": "4GB"}))
        ),
        create_in(
            &op,
            TEAM_B,
            instance("right", json!({"instanceId": id, "memory": "8GB"}))
        ),
    );
    assert!(a.metadata.uid.is_some() && b.metadata.uid.is_some());
    let settled = |op: &Operator| {
        let left = op.api.get_as::<AuraInstance>(Some(TEAM_A), "left")?;
        let right = op.api.get_as::<AuraInstance>(Some(TEAM_B), "right")?;
        let refused = |o: &AuraInstance| ready_reason(o, "AlreadyManaged");
        let managing = |o: &AuraInstance| {
            o.status
                .as_ref()
                .is_some_and(|s| s.instance_id.is_some() && s.memory.as_deref() != Some("2GB"))
        };
        match (refused(&left), refused(&right)) {
            (true, false) if managing(&right) => Some(("team-b/right", "team-a/left", "8GB")),
            (false, true) if managing(&left) => Some(("team-a/left", "team-b/right", "4GB")),
            _ => None,
        }
    };
    let (winner, loser, memory) = support::wait_for("one winner", Duration::from_secs(15), || {
        settled(&op).ok_or_else(|| "not settled".to_owned())
    })
    .await;
    op.after_passes("AuraInstance", 8).await;
    assert_eq!(settled(&op).map(|s| s.0), Some(winner), "the winner stays");
    assert_eq!(
        changing_calls(&op) - before,
        1,
        "one resize by the winner and nothing from the loser"
    );
    assert_eq!(aura_memory(&op, &id), memory);
    let (namespace, name) = loser.split_once('/').unwrap();
    let refused = op
        .api
        .get_as::<AuraInstance>(Some(namespace), name)
        .unwrap();
    assert!(ready_message(&refused).contains(winner), "{refused:#?}");
    let lease = claim(&op, &format!("aura-instance-{id}")).expect("a claim");
    assert_eq!(holder(&lease), winner);
}

#[tokio::test]
async fn a_claim_whose_holder_is_gone_is_taken_over() {
    let op = Operator::start_cluster_wide().await;
    let id = made_in_aura(&op, "orphan").await;
    // Left behind by a resource deleted while no operator ran (its finalizer removed by hand).
    let stale: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": format!("aura-instance-{id}"), "namespace": OPERATOR_NS,
                     "labels": {"aura.neo4j.io/holder-uid": "00000000-dead-4000-8000-000000000000"}},
        "spec": {"holderIdentity": "team-a/gone"}
    }))
    .unwrap();
    Api::<Lease>::namespaced(op.api.client(), OPERATOR_NS)
        .create(&user_post(), &stale)
        .await
        .unwrap();
    create_in(
        &op,
        TEAM_B,
        instance("heir", json!({"instanceId": id, "memory": "4GB"})),
    )
    .await;
    wait_in(&op, TEAM_B, "heir", "resized", |o: &AuraInstance| {
        o.status.as_ref().and_then(|s| s.memory.as_deref()) == Some("4GB")
    })
    .await;
    let lease = claim(&op, &format!("aura-instance-{id}")).unwrap();
    assert_eq!(holder(&lease), "team-b/heir");
}

#[tokio::test]
async fn a_resource_recorded_before_claims_gets_its_claim_without_disruption() {
    let mut op = Operator::start_cluster_wide().await;
    create_in(&op, TEAM_A, instance("orders", json!({}))).await;
    let ready = wait_in(&op, TEAM_A, "orders", "Ready", is_ready::<AuraInstance>).await;
    let id = instance_id(&ready);
    let name = format!("aura-instance-{id}");
    // As if it had been recorded by a version without claims.
    op.crash().await;
    Api::<Lease>::namespaced(op.api.client(), OPERATOR_NS)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let before = op.emu.handle().stats();
    op.restart();
    let lease = support::wait_for("the claim again", Duration::from_secs(15), || {
        claim(&op, &name).ok_or_else(|| "no claim".to_owned())
    })
    .await;
    assert_eq!(holder(&lease), "team-a/orders");
    op.after_passes("AuraInstance", 3).await;
    let still = op
        .api
        .get_as::<AuraInstance>(Some(TEAM_A), "orders")
        .unwrap();
    assert!(is_ready(&still), "{still:#?}");
    let after = op.emu.handle().stats();
    assert_eq!(
        after.count_route("POST", "/v1/instances"),
        before.count_route("POST", "/v1/instances")
    );
    assert_eq!(changing_calls(&op), 0);
}

#[tokio::test]
async fn an_adopted_instance_is_kept_without_the_confirmation() {
    let op = Operator::start_cluster_wide().await;
    let id = made_in_aura(&op, "precious").await;
    create_in(
        &op,
        TEAM_A,
        instance(
            "adopter",
            json!({"instanceId": id, "deletionPolicy": "Delete"}),
        ),
    )
    .await;
    let adopted = wait_in(&op, TEAM_A, "adopter", "adopted", |o: &AuraInstance| {
        ready_reason(o, "PasswordUnavailable")
    })
    .await;
    assert_eq!(
        adopted.status.unwrap().origin,
        Some(aura_operator::crd::instance::InstanceOrigin::Adopted)
    );
    // The password someone put in the Secret is what must not be lost.
    let patch = json!({"stringData": {"NEO4J_PASSWORD": "kept-by-hand"}});
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(op.api.client(), TEAM_A)
        .patch("adopter-connection", &user_patch(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_in(&op, TEAM_A, "adopter", "Ready", is_ready::<AuraInstance>).await;

    instances(&op, TEAM_A)
        .delete("adopter", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone_in::<AuraInstance>(&op, TEAM_A, "adopter").await;
    assert!(alive_in_aura(&op, &id), "one key is not enough");
    assert_eq!(
        op.emu
            .handle()
            .stats()
            .count_route("DELETE", "/v1/instances/{id}"),
        0
    );
    let kept = op
        .api
        .get_as::<k8s_openapi::api::core::v1::Secret>(Some(TEAM_A), "adopter-connection")
        .expect("the Secret is kept, as with Retain");
    assert!(
        kept.metadata
            .owner_references
            .as_ref()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(
        secret_value(&kept, "NEO4J_PASSWORD").as_deref(),
        Some("kept-by-hand")
    );
    let notes = event_notes(&op, TEAM_A, "DeleteNotConfirmed");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("aura.neo4j.io/confirm-delete") && n.contains(&id)),
        "{notes:?}"
    );
    assert!(
        claim(&op, &format!("aura-instance-{id}")).is_none(),
        "the claim goes with the resource"
    );
}

/// Adopts instance `id` in team A with `deletionPolicy: Delete` and `confirmation` in the
/// confirm-delete annotation, then deletes the resource and waits until it is gone.
async fn adopt_then_delete(op: &Operator, id: &str, confirmation: &str) {
    let mut yaml = instance(
        "adopter",
        json!({"instanceId": id, "deletionPolicy": "Delete"}),
    );
    yaml["metadata"]["annotations"] = json!({"aura.neo4j.io/confirm-delete": confirmation});
    create_in(op, TEAM_A, yaml).await;
    wait_in(op, TEAM_A, "adopter", "adopted", |o: &AuraInstance| {
        ready_reason(o, "PasswordUnavailable")
    })
    .await;
    instances(op, TEAM_A)
        .delete("adopter", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone_in::<AuraInstance>(op, TEAM_A, "adopter").await;
}

#[tokio::test]
async fn a_confirmation_naming_another_instance_is_no_confirmation() {
    let op = Operator::start_cluster_wide().await;
    let id = made_in_aura(&op, "precious").await;
    adopt_then_delete(&op, &id, "ffffffff").await;
    assert!(alive_in_aura(&op, &id));
    assert!(!event_notes(&op, TEAM_A, "DeleteNotConfirmed").is_empty());
}

#[tokio::test]
async fn both_keys_delete_an_adopted_instance() {
    let op = Operator::start_cluster_wide().await;
    let id = made_in_aura(&op, "retired").await;
    adopt_then_delete(&op, &id, &id).await;
    assert!(!alive_in_aura(&op, &id), "deleted in Aura");
    assert_eq!(
        op.emu
            .handle()
            .stats()
            .count_route("DELETE", "/v1/instances/{id}"),
        1
    );
}

#[tokio::test]
async fn a_second_session_of_the_same_name_is_refused_and_never_deletes_it() {
    let op = Operator::start_cluster_wide().await;
    let spec = json!({
        "name": "shared-analysis", "memory": "8GB", "tenantId": DEFAULT_TENANT_ID,
        "cloudProvider": "gcp", "region": "europe-west1"
    });
    let create = |namespace: &'static str, name: &'static str| {
        let yaml = in_namespace(resource("GdsSession", name, spec.clone()), namespace);
        let api: Api<GdsSession> = Api::namespaced(op.api.client(), namespace);
        async move {
            let obj: GdsSession = serde_json::from_value(yaml).unwrap();
            api.create(&user_post(), &obj).await.unwrap()
        }
    };
    create(TEAM_A, "first").await;
    let first = wait_in(&op, TEAM_A, "first", "Ready", is_ready::<GdsSession>).await;
    let session_id = first.status.unwrap().session_id.unwrap();
    create(TEAM_B, "second").await;
    let second = wait_in(&op, TEAM_B, "second", "AlreadyManaged", |o: &GdsSession| {
        ready_reason(o, "AlreadyManaged") && ready_message(o).contains("team-a/first")
    })
    .await;
    assert!(ready_message(&second).contains(&session_id));
    assert!(
        op.api
            .get_as::<k8s_openapi::api::core::v1::Secret>(Some(TEAM_B), "second-gds")
            .is_none()
            && op
                .api
                .list("", "secrets", Some(TEAM_B))
                .iter()
                .all(|s| s["metadata"]["ownerReferences"].is_null()),
        "no Secret for the refused session"
    );

    Api::<GdsSession>::namespaced(op.api.client(), TEAM_B)
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone_in::<GdsSession>(&op, TEAM_B, "second").await;
    let stats = op.emu.handle().stats();
    assert_eq!(
        stats.count_route("DELETE", "/v1/graph-analytics/sessions/{id}"),
        0
    );
    let sessions = support::client(&op.emu)
        .sessions()
        .list(&SessionFilter::default())
        .await
        .unwrap();
    assert!(sessions.iter().any(|s| s.id.as_str() == session_id));
    op.after_passes("GdsSession", 2).await;
    let first = op.api.get_as::<GdsSession>(Some(TEAM_A), "first").unwrap();
    assert!(is_ready(&first), "{first:#?}");
}

#[tokio::test]
async fn a_resource_that_recorded_a_managed_instance_earlier_never_deletes_it() {
    let mut op = Operator::start_cluster_wide().await;
    create_in(&op, TEAM_A, instance("orders", json!({}))).await;
    let id = instance_id(&wait_in(&op, TEAM_A, "orders", "Ready", is_ready::<AuraInstance>).await);
    // Team B's resource recorded the same instance under a version without claims (two
    // managers), with deletionPolicy Delete on what it believes it created.
    op.crash().await;
    create_in(
        &op,
        TEAM_B,
        instance("twin", json!({"deletionPolicy": "Delete", "memory": "4GB"})),
    )
    .await;
    let status = json!({"status": {"instanceId": id, "origin": "Created"}});
    instances(&op, TEAM_B)
        .patch_status("twin", &user_patch(), &Patch::Merge(&status))
        .await
        .unwrap();
    let before = changing_calls(&op);
    op.restart();
    wait_in(
        &op,
        TEAM_B,
        "twin",
        "AlreadyManaged",
        already_managed_by("team-a/orders"),
    )
    .await;
    instances(&op, TEAM_B)
        .delete("twin", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone_in::<AuraInstance>(&op, TEAM_B, "twin").await;
    assert!(alive_in_aura(&op, &id));
    assert_eq!(changing_calls(&op), before, "no resize, no delete");
    let notes = event_notes(&op, TEAM_B, "AlreadyManaged");
    assert!(
        notes.iter().any(|n| n.contains("team-a/orders")),
        "{notes:?}"
    );
    assert_eq!(
        holder(&claim(&op, &format!("aura-instance-{id}")).unwrap()),
        "team-a/orders"
    );
}
