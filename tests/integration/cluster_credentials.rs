//! ClusterAuraCredential end to end: the real Controllers against the in-memory API server and
//! the Aura emulator. Each refusal (namespace by name or by label, tenant, type, memory, count,
//! the default credential from a namespace it does not serve) comes before any Aura call that
//! changes something, with Ready False, its reason, a message naming the field, and an Event.

use aura_operator::controllers::NamespaceAllow;
use aura_operator::crd::{AuraInstance, AuraSnapshot, ClusterAuraCredential, GdsSession};
use aura_operator::emulator::{DEFAULT_TENANT_ID, SECOND_TENANT_ID};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{Patch, PostParams};
use serde_json::{Value, json};

use crate::support::operator::{
    NS, OPERATOR_NS, Operator, condition, instance, is_ready, ready_reason, resource, timing,
    user_patch, user_post,
};
use crate::support::{CLIENT_ID, CLIENT_SECRET, fast_config};

const CREATE: &str = "/v1/instances";

/// The Secret of a ClusterAuraCredential, in the operator's namespace (the emulator's key).
async fn key_secret(op: &Operator, name: &str) {
    key_secret_in(op, OPERATOR_NS, name).await;
}

/// The Secret of a ClusterAuraCredential in `namespace` (the emulator's key).
async fn key_secret_in(op: &Operator, namespace: &str, name: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    }))
    .unwrap();
    Api::<Secret>::namespaced(op.api.client(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("Secret created");
}

/// A ClusterAuraCredential `name` over the Secret `<name>-key`, with `spec` on top of a spec
/// that allows the test namespace and every tenant.
async fn credential(op: &Operator, name: &str, spec: Value) {
    key_secret(op, &format!("{name}-key")).await;
    credential_only(op, name, spec).await;
}

async fn credential_only(op: &Operator, name: &str, extra: Value) {
    let mut spec = json!({
        "secretRef": {"name": format!("{name}-key")},
        "allowedNamespaces": {"names": [NS]},
        "allowedTenants": ["*"],
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let credential: ClusterAuraCredential = serde_json::from_value(json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "ClusterAuraCredential",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("a valid ClusterAuraCredential");
    Api::<ClusterAuraCredential>::all(op.api.client())
        .create(&user_post(), &credential)
        .await
        .expect("ClusterAuraCredential created");
}

/// Waits until `check` holds for the ClusterAuraCredential `name` (cluster-scoped).
async fn wait_credential(
    op: &Operator,
    name: &str,
    what: &str,
    check: impl Fn(&ClusterAuraCredential) -> bool,
) -> ClusterAuraCredential {
    let what = format!("{name} to be {what}");
    crate::support::wait_for(&what, std::time::Duration::from_secs(15), || {
        match op.api.get_as::<ClusterAuraCredential>(None, name) {
            Some(c) if check(&c) => Ok(c),
            other => Err(format!("{other:#?}")),
        }
    })
    .await
}

fn using(name: &str) -> Value {
    json!({"credentialRef": {"name": name}})
}

/// Waits for `name` to be refused with `reason`, and checks the message names `field` and an
/// Event says the same.
async fn refused(op: &Operator, name: &str, reason: &str, field: &str) -> AuraInstance {
    let refused = op.wait_for(name, reason, |o| ready_reason(o, reason)).await;
    let ready = condition(&refused, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains(&format!("spec.{field}")),
        "the message names spec.{field}: {}",
        ready.message
    );
    assert!(
        op.event_reasons().iter().any(|r| r == reason),
        "no {reason} Event in {:?}",
        op.event_reasons()
    );
    refused
}

/// An instance `name` using the credential `credential` becomes Ready, with one create.
async fn ready_through(op: &Operator, name: &str, credential: &str) {
    op.apply(instance(name, using(credential))).await;
    op.wait_for(name, "Ready", is_ready).await;
    assert_eq!(creates(op), 1);
}

fn creates(op: &Operator) -> u64 {
    op.emu.handle().stats().count_route("POST", CREATE)
}

#[tokio::test]
async fn an_instance_with_a_cluster_credential_of_an_allowed_namespace_becomes_ready() {
    let op = Operator::start().await;
    credential(&op, "team", json!({"allowedTenants": [DEFAULT_TENANT_ID]})).await;
    let ready = wait_credential(&op, "team", "Ready", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    })
    .await;
    let message = &ready.status.unwrap().conditions[0].message;
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    ready_through(&op, "orders", "team").await;
}

#[tokio::test]
async fn a_credential_without_its_secret_is_not_ready_until_the_secret_comes() {
    let op = Operator::start().await;
    credential_only(&op, "later", json!({})).await;
    let not_ready = |c: &ClusterAuraCredential| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "CredentialsInvalid" && c.message.contains("not found"))
        })
    };
    wait_credential(&op, "later", "CredentialsInvalid", not_ready).await;
    key_secret(&op, "later-key").await;
    wait_credential(&op, "later", "Ready", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.status == "True"))
    })
    .await;
}

/// `spec.secretRef.namespace` names where the Secret is: outside the operator's namespace its
/// Secrets are not watched, so a Secret that comes later is found by the credential's next look
/// (seconds, not the resync), and the resources using it go on.
#[tokio::test]
async fn a_credential_reads_its_secret_from_the_namespace_it_names() {
    let op = Operator::start().await;
    credential_only(
        &op,
        "vaulted",
        json!({"secretRef": {"name": "aura-key", "namespace": "vault"}}),
    )
    .await;
    wait_credential(&op, "vaulted", "missing its Secret", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.status == "False" && c.message.contains("Secret vault/aura-key not found")
            })
        })
    })
    .await;
    key_secret_in(&op, "vault", "aura-key").await;
    let ready = wait_credential(&op, "vaulted", "Ready", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.status == "True"))
    })
    .await;
    let message = &ready.status.unwrap().conditions[0].message;
    assert!(message.contains("vault/aura-key"), "{message}");
    ready_through(&op, "vaulted-db", "vaulted").await;
}

#[tokio::test]
async fn a_secret_namespace_that_is_no_dns_label_is_refused_by_the_api_server() {
    let op = Operator::start().await;
    let credential: ClusterAuraCredential = serde_json::from_value(json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "ClusterAuraCredential",
        "metadata": {"name": "odd"},
        "spec": {
            "secretRef": {"name": "k", "namespace": "Team_A"},
            "allowedNamespaces": {"names": [NS]}, "allowedTenants": ["*"]
        }
    }))
    .unwrap();
    let err = Api::<ClusterAuraCredential>::all(op.api.client())
        .create(&user_post(), &credential)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("spec.secretRef.namespace"), "{text}");
}

#[tokio::test]
async fn a_credential_that_does_not_exist_is_refused() {
    let op = Operator::start().await;
    op.apply(instance("orphan", using("nobody"))).await;
    refused(&op, "orphan", "CredentialNotFound", "credentialRef").await;
    assert_eq!(op.emu.handle().stats().total_requests, 0);
}

#[tokio::test]
async fn a_namespace_the_credential_does_not_name_is_refused_before_any_aura_call() {
    let op = Operator::start().await;
    credential(
        &op,
        "team-a",
        json!({"allowedNamespaces": {"names": ["team-a"]}}),
    )
    .await;
    op.apply(instance("intruder", using("team-a"))).await;
    let refused = refused(&op, "intruder", "CredentialNotAllowed", "credentialRef").await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(
        message.contains("team-a"),
        "says what is allowed: {message}"
    );
    assert_eq!(
        op.emu.handle().stats().total_requests,
        0,
        "not even a token was asked for"
    );
    assert!(refused.status.unwrap().instance_id.is_none());
}

#[tokio::test]
async fn namespace_labels_decide_for_a_selector() {
    let op = Operator::start().await;
    let namespaces: Api<Namespace> = Api::all(op.api.client());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": NS, "labels": {"team": "web"}}
    }))
    .unwrap();
    namespaces
        .create(&user_post(), &ns)
        .await
        .expect("namespace");
    let selector = json!({"allowedNamespaces": {"selector": {"matchLabels": {"team": "data"}}}});
    credential(&op, "data", selector).await;
    op.apply(instance("labelled", using("data"))).await;
    refused(&op, "labelled", "CredentialNotAllowed", "credentialRef").await;
    assert_eq!(creates(&op), 0);

    // The administrator labels the namespace: the next pass may use the credential.
    let label = json!({"metadata": {"labels": {"team": "data"}}});
    namespaces
        .patch(NS, &user_patch(), &Patch::Merge(&label))
        .await
        .expect("labelled");
    op.wait_for("labelled", "Ready", is_ready).await;
    assert_eq!(creates(&op), 1);
}

#[tokio::test]
async fn a_tenant_the_credential_does_not_allow_is_refused_before_the_create() {
    let op = Operator::start().await;
    credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    op.apply(instance("elsewhere", using("second"))).await;
    refused(&op, "elsewhere", "CredentialNotAllowed", "tenantId").await;
    assert_eq!(creates(&op), 0);
}

#[tokio::test]
async fn an_adopted_instance_of_another_tenant_is_refused_before_it_is_recorded() {
    let op = Operator::start().await;
    // An instance in the default tenant that no resource manages (one that another resource
    // manages is refused as AlreadyManaged before its tenant matters).
    let (id, _) = op.made_in_aura("first").await;
    credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    let mut spec = using("second");
    spec["instanceId"] = json!(id);
    let mut adopter = instance("adopter", spec);
    adopter["spec"].as_object_mut().unwrap().remove("tenantId");
    op.apply(adopter).await;
    let refused = refused(&op, "adopter", "CredentialNotAllowed", "instanceId").await;
    assert!(refused.status.unwrap().instance_id.is_none(), "not adopted");
}

#[tokio::test]
async fn an_instance_type_or_memory_beyond_the_limits_is_refused() {
    let op = Operator::start().await;
    let limits = json!({"limits": {"instanceTypes": ["professional-db"], "maxMemory": "4GB"}});
    credential(&op, "small", limits).await;
    let mut big_tier = using("small");
    big_tier["type"] = json!("enterprise-db");
    op.apply(instance("tier", big_tier)).await;
    let mut big_memory = using("small");
    big_memory["memory"] = json!("8GB");
    op.apply(instance("memory", big_memory)).await;
    refused(&op, "tier", "CredentialLimitExceeded", "type").await;
    refused(&op, "memory", "CredentialLimitExceeded", "memory").await;
    assert_eq!(creates(&op), 0);

    // A resize past the limit is refused too; within it, it goes through.
    op.patch_spec("memory", json!({"memory": "4GB"})).await;
    op.wait_for("memory", "Ready", is_ready).await;
    op.patch_spec("memory", json!({"memory": "16GB"})).await;
    refused(&op, "memory", "CredentialLimitExceeded", "memory").await;
    let instances = op.emu.handle().instances();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].memory, "4GB", "not resized");
}

#[tokio::test]
async fn the_instance_count_limit_refuses_the_newest_until_one_goes() {
    let op = Operator::start().await;
    credential(
        &op,
        "one",
        json!({"limits": {"maxInstancesPerNamespace": 1}}),
    )
    .await;
    op.apply(instance("older", using("one"))).await;
    op.wait_for("older", "Ready", is_ready).await;
    op.apply(instance("newer", using("one"))).await;
    let refused = refused(&op, "newer", "CredentialLimitExceeded", "credentialRef").await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(
        message.contains("maxInstancesPerNamespace (1)"),
        "{message}"
    );
    assert_eq!(creates(&op), 1);
    // Other credentials and the default do not count.
    op.apply(instance("unlimited", json!({}))).await;
    op.wait_for("unlimited", "Ready", is_ready).await;

    op.delete("older").await;
    op.wait_gone("older").await;
    op.wait_for("newer", "Ready", is_ready).await;
}

/// On a cluster the refused resource waited for the spec-error retry (10 minutes) after one of
/// the others went (issue 20): here that retry is as long as in production, so only the
/// deletion itself can bring the pass that lets it go on.
#[tokio::test]
async fn an_instance_over_the_count_limit_goes_on_when_one_counted_goes_without_a_touch() {
    let production_retry = aura_operator::controllers::Timing {
        spec_error_retry: std::time::Duration::from_secs(600),
        ..timing()
    };
    let op = Operator::start_with(fast_config(), production_retry).await;
    credential(
        &op,
        "one",
        json!({"limits": {"maxInstancesPerNamespace": 1}}),
    )
    .await;
    op.apply(instance("older", using("one"))).await;
    op.wait_for("older", "Ready", is_ready).await;
    op.apply(instance("newer", using("one"))).await;
    refused(&op, "newer", "CredentialLimitExceeded", "credentialRef").await;

    op.delete("older").await;
    op.wait_gone("older").await;
    op.wait_for_within(
        "newer",
        "Ready with nobody touching it",
        std::time::Duration::from_secs(5),
        is_ready,
    )
    .await;
    assert_eq!(creates(&op), 2);
}

#[tokio::test]
async fn the_default_credential_is_refused_in_a_namespace_the_operator_does_not_allow() {
    let mut op = Operator::stopped(fast_config(), timing()).await;
    op.default_namespaces = NamespaceAllow::names(["team-a"]);
    op.restart();
    op.apply(instance("defaulted", json!({}))).await;
    let refused = refused(&op, "defaulted", "CredentialNotAllowed", "credentialRef").await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(message.contains("default credential"), "{message}");
    assert_eq!(op.emu.handle().stats().total_requests, 0);

    // A ClusterAuraCredential that allows the namespace still works there.
    credential(&op, "team", json!({})).await;
    op.patch_spec("defaulted", using("team")).await;
    op.wait_for("defaulted", "Ready", is_ready).await;
}

#[tokio::test]
async fn a_snapshot_uses_the_cluster_credential_of_its_instance() {
    let op = Operator::start().await;
    credential(&op, "team", json!({"allowedTenants": [DEFAULT_TENANT_ID]})).await;
    op.apply(instance("orders", using("team"))).await;
    op.wait_for("orders", "Ready", is_ready).await;
    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "orders-now",
        json!({"instanceRef": {"name": "orders"}}),
    ))
    .await;
    op.wait_for_any::<AuraSnapshot>("orders-now", "Ready", is_ready)
        .await;
}

#[tokio::test]
async fn a_snapshot_of_an_instance_in_another_tenant_is_refused() {
    let op = Operator::start().await;
    op.apply(instance("orders", json!({}))).await;
    let id = op.wait_for("orders", "Ready", is_ready).await;
    let id = id.status.unwrap().instance_id.unwrap();
    credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    op.create::<AuraSnapshot>(resource(
        "AuraSnapshot",
        "sneaky",
        json!({"instanceId": id, "credentialRef": {"name": "second"}}),
    ))
    .await;
    let refused = op
        .wait_for_any::<AuraSnapshot>("sneaky", "refused", |s| {
            ready_reason(s, "CredentialNotAllowed")
        })
        .await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(message.contains("spec.instanceId"), "{message}");
    let takes = op
        .emu
        .handle()
        .stats()
        .count_route("POST", "/v1/instances/{id}/snapshots");
    assert_eq!(takes, 0);
}

#[tokio::test]
async fn a_standalone_session_uses_a_cluster_credential_for_an_allowed_tenant() {
    let op = Operator::start().await;
    credential(&op, "team", json!({"allowedTenants": [DEFAULT_TENANT_ID]})).await;
    let spec = json!({
        "tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp", "region": "europe-west1",
        "memory": "8GB", "credentialRef": {"name": "team"}
    });
    op.create::<GdsSession>(resource("GdsSession", "analysis", spec))
        .await;
    let ready = op
        .wait_for_any::<GdsSession>("analysis", "Ready", is_ready)
        .await;
    let status = ready.status.unwrap();
    assert_eq!(
        status.credential_ref.map(|r| r.name).as_deref(),
        Some("team")
    );
}

#[tokio::test]
async fn a_session_in_a_tenant_the_credential_does_not_allow_is_refused() {
    let op = Operator::start().await;
    credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    let spec = json!({
        "tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp", "region": "europe-west1",
        "memory": "8GB", "credentialRef": {"name": "second"}
    });
    op.create::<GdsSession>(resource("GdsSession", "elsewhere", spec))
        .await;
    let refused = op
        .wait_for_any::<GdsSession>("elsewhere", "refused", |s| {
            ready_reason(s, "CredentialNotAllowed")
        })
        .await;
    let message = &condition(&refused, "Ready").unwrap().message;
    assert!(message.contains("spec.tenantId"), "{message}");
    let creates = op
        .emu
        .handle()
        .stats()
        .count_route("POST", "/v1/graph-analytics/sessions");
    assert_eq!(creates, 0);
}

#[tokio::test]
async fn allowing_the_namespace_in_the_credential_lets_a_refused_instance_go_on_at_once() {
    // A spec-error retry far beyond the wait: only the credential's change can bring the pass.
    let slow_retry = aura_operator::controllers::Timing {
        spec_error_retry: std::time::Duration::from_secs(600),
        ..timing()
    };
    let op = Operator::start_with(fast_config(), slow_retry).await;
    credential(
        &op,
        "team",
        json!({"allowedNamespaces": {"names": ["team-a"]}}),
    )
    .await;
    op.apply(instance("waiting", using("team"))).await;
    refused(&op, "waiting", "CredentialNotAllowed", "credentialRef").await;
    let allow = json!({"spec": {"allowedNamespaces": {"names": ["team-a", NS]}}});
    Api::<ClusterAuraCredential>::all(op.api.client())
        .patch("team", &user_patch(), &Patch::Merge(&allow))
        .await
        .expect("credential widened");
    op.wait_for("waiting", "Ready", is_ready).await;
}

#[tokio::test]
async fn data_from_an_instance_of_a_tenant_the_credential_does_not_allow_is_refused() {
    let op = Operator::start().await;
    op.apply(instance("prod", json!({}))).await;
    let prod = op.wait_for("prod", "Ready", is_ready).await;
    let prod_id = prod.status.unwrap().instance_id.unwrap();
    credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    let mut spec = using("second");
    spec["tenantId"] = json!(SECOND_TENANT_ID);
    spec["cloudProvider"] = json!("aws");
    spec["region"] = json!("us-east-1");
    spec["source"] = json!({"instanceId": prod_id});
    op.apply(instance("copy", spec)).await;
    refused(&op, "copy", "CredentialNotAllowed", "source").await;
    assert_eq!(creates(&op), 1, "only prod was created");
}

/// Issue 20: on a real cluster a second installation wrote a ClusterAuraCredential's status 749
/// times in 15 s, and every write sent the resources using it back to Aura. The operator's own
/// steady state must be quiet: no status write that changes nothing, of any kind, and one Aura
/// read per settled resource per resync interval.
const QUIET_RESYNC: std::time::Duration = std::time::Duration::from_secs(10);
const QUIET_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes of the operator (status or not) to the three kinds and ClusterAuraCredentials so far.
fn status_writes(op: &Operator) -> u64 {
    let counters = op.api.counters();
    [
        "aurainstances",
        "aurasnapshots",
        "gdssessions",
        "clusterauracredentials",
    ]
    .iter()
    .map(|plural| counters.writes_by_field_manager(Some("aura-operator"), "aura.neo4j.io", plural))
    .sum()
}

/// Aura calls other than tokens so far.
fn aura_calls(op: &Operator) -> u64 {
    let stats = op.emu.handle().stats();
    stats.total_requests - stats.count_route("POST", "/oauth/token")
}

/// A running operator (on tokio's paused clock, the emulator's following) with the credential
/// `shared` and two settled AuraInstances using it.
async fn two_settled_instances() -> (Operator, tokio::task::JoinHandle<()>) {
    let mut op = Operator::stopped(
        fast_config(),
        aura_operator::controllers::Timing {
            resync: QUIET_RESYNC,
            ..timing()
        },
    )
    .await;
    let follow = tokio::spawn(crate::support::follow_tokio_clock(op.emu.handle()));
    op.restart();
    credential(&op, "shared", json!({})).await;
    wait_credential(&op, "shared", "Ready", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    })
    .await;
    for name in ["first", "second"] {
        op.apply(instance(name, using("shared"))).await;
    }
    for name in ["first", "second"] {
        op.wait_for(name, "Ready", is_ready).await;
    }
    // Past the passes that settling brings (the write of Ready triggers nothing, but a poll may
    // still be queued).
    tokio::time::sleep(QUIET_RESYNC).await;
    (op, follow)
}

/// The most Aura reads `resources` settled resources may make in `window`: one per resync
/// interval each, and one more for an interval that began before the window.
fn allowed_reads(resources: u64, window: std::time::Duration) -> u64 {
    resources * (window.as_secs() / QUIET_RESYNC.as_secs() + 1)
}

#[tokio::test(start_paused = true)]
async fn a_minute_of_steady_state_writes_nothing_and_reads_aura_once_per_resync() {
    let (op, follow) = two_settled_instances().await;
    let (writes, calls) = (status_writes(&op), aura_calls(&op));
    tokio::time::sleep(QUIET_WINDOW).await;
    let writes = status_writes(&op) - writes;
    let calls = aura_calls(&op) - calls;
    follow.abort();
    eprintln!("steady minute: {writes} status writes, {calls} Aura calls");
    assert_eq!(writes, 0, "status writes in a minute of steady state");
    assert!(
        calls <= allowed_reads(2, QUIET_WINDOW),
        "{calls} Aura calls in a minute for 2 settled resources (resync {QUIET_RESYNC:?})"
    );
}

#[tokio::test(start_paused = true)]
async fn another_writer_bumping_the_credential_does_not_send_its_resources_back_to_aura() {
    let (op, follow) = two_settled_instances().await;
    let (writes, calls) = (status_writes(&op), aura_calls(&op));
    let api = Api::<ClusterAuraCredential>::all(op.api.client());
    // Another installation: a label, an annotation and a status message that change every
    // 100 ms, and a Ready it flips (as one whose operator namespace lacks the Secret would).
    let bumps = QUIET_WINDOW.as_millis() / 100;
    for i in 0..bumps {
        let metadata = json!({"metadata": {
            "labels": {"other-installation/seen": format!("{i}")},
            "annotations": {"other-installation/at": format!("{i}")},
        }});
        api.patch("shared", &user_patch(), &Patch::Merge(&metadata))
            .await
            .expect("metadata patched");
        let mut credential = api.get_status("shared").await.expect("credential");
        let status = credential.status.as_mut().expect("a status");
        let ready = &mut status.conditions[0];
        ready.message = format!("seen by the other installation ({i})");
        if i % 10 == 5 {
            ready.status = if ready.status == "True" {
                "False"
            } else {
                "True"
            }
            .to_owned();
        }
        let patch = json!({"status": status});
        api.patch_status("shared", &user_patch(), &Patch::Merge(&patch))
            .await
            .expect("status patched");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let instance_writes =
        op.api
            .counters()
            .write_count("patch", "aura.neo4j.io", "aurainstances", "status");
    let calls = aura_calls(&op) - calls;
    let writes = status_writes(&op) - writes;
    follow.abort();
    eprintln!(
        "{bumps} bumps by another writer: {calls} Aura calls, {writes} status writes \
         ({instance_writes} to AuraInstances in all)"
    );
    assert!(
        calls <= allowed_reads(2, QUIET_WINDOW),
        "{calls} Aura calls in a minute for 2 settled resources (resync {QUIET_RESYNC:?})"
    );
    // The operator puts its own Ready back at its resync, not after each of the other's writes.
    assert!(
        writes <= allowed_reads(1, QUIET_WINDOW),
        "{writes} writes of the operator answering {bumps} bumps (resync {QUIET_RESYNC:?})"
    );
}
