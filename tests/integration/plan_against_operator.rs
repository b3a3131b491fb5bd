//! `aura-operator plan` against what the operator then does with the same manifests: the plan
//! is made first, the manifests are applied, the real controllers run, and every entry must match
//! the outcome (created, or refused with the same reason and message). Two cases the plan once
//! got wrong: several new AuraInstances sharing a ClusterAuraCredential's per-namespace limit,
//! and GdsSessions in a tenant the credential does not allow.

use aura_operator::cli::plan::report::{Action, Entry, Report};
use aura_operator::cli::plan::{self, report};
use aura_operator::crd::{AuraInstance, GdsSession};
use aura_operator::emulator::{DEFAULT_TENANT_ID, SECOND_TENANT_ID};
use serde_json::{Value, json};

use crate::plan::{Env, cluster_credential, entry, key_secret};
use crate::support::operator::{
    HasConditions, NS, OPERATOR_NS, Operator, condition, instance, is_ready, resource,
};

/// The reasons of a refusal that waits for a change of spec or credential.
const REFUSALS: [&str; 4] = [
    "CredentialLimitExceeded",
    "CredentialNotAllowed",
    "InvalidSpec",
    "AlreadyManaged",
];

/// What the operator did with `name`: None once Ready, else the refusal's reason and message.
async fn outcome<K>(op: &Operator, name: &str) -> Option<(String, String)>
where
    K: HasConditions
        + kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let settled = |o: &K| {
        condition(o, "Ready")
            .is_some_and(|c| c.status == "True" || REFUSALS.contains(&c.reason.as_str()))
    };
    let done = op
        .wait_for_any::<K>(name, "Ready or refused", settled)
        .await;
    if is_ready(&done) {
        return None;
    }
    let ready = condition(&done, "Ready").unwrap();
    Some((ready.reason.clone(), ready.message.clone()))
}

/// Asserts that the plan's entry says what the operator did: create what it made Ready, refuse
/// what it refused, with its reason, and its message first (plan may add why it expects it).
fn same(entry: &Entry, did: Option<(String, String)>) {
    let Some((reason, message)) = did else {
        assert_eq!(
            entry.action,
            Action::Create,
            "the operator created it: {entry:?}"
        );
        return;
    };
    assert_eq!(
        entry.action,
        Action::Refused,
        "the operator refused it: {message}"
    );
    assert_eq!(entry.reason.as_deref(), Some(reason.as_str()), "{entry:?}");
    let said = entry.message.as_deref().unwrap_or_default();
    assert!(
        said.starts_with(&message),
        "plan: {said}\noperator: {message}"
    );
}

fn actions(report: &Report) -> Vec<(&str, Action)> {
    let entries = report.resources.iter();
    entries.map(|e| (e.name.as_str(), e.action)).collect()
}

fn using(credential: &str) -> Value {
    json!({"credentialRef": {"name": credential}})
}

fn creates(op: &Operator, route: &str) -> u64 {
    op.emu.handle().stats().count_route("POST", route)
}

#[tokio::test]
async fn new_instances_count_against_each_other_under_a_credential_limit_as_the_operator_counts() {
    let op = Operator::start().await;
    key_secret(&op, OPERATOR_NS, "team-key").await;
    let two = json!({"allowedTenants": ["*"], "limits": {"maxInstancesPerNamespace": 2}});
    cluster_credential(&op, "two", two.clone()).await;
    cluster_credential(&op, "pair", two).await;
    op.apply(instance("kept", using("pair"))).await;
    op.wait_for("kept", "Ready", is_ready).await;
    let env = Env::new(&op).await;
    // Three new under "two"; two new beside one existing under "pair". Written in name order,
    // as `kubectl apply -f` would create them.
    let manifests: Vec<Value> = ["alpha", "bravo", "charlie"]
        .map(|name| instance(name, using("two")))
        .into_iter()
        .chain(["more-a", "more-b"].map(|name| instance(name, using("pair"))))
        .collect();
    let files = env.manifests("count", &manifests);

    let report = env.plan(&[&files]).await;

    assert_eq!(
        actions(&report),
        [
            ("alpha", Action::Create),
            ("bravo", Action::Create),
            ("charlie", Action::Refused),
            ("more-a", Action::Create),
            ("more-b", Action::Refused),
        ]
    );
    let charlie = entry(&report, "charlie").message.clone().unwrap();
    let why = format!(
        "the 3rd AuraInstance in namespace {NS:?} under ClusterAuraCredential \"two\", limit 2, \
         counting alpha, bravo from this plan before it"
    );
    assert!(charlie.contains(&why), "{charlie}");
    let more_b = entry(&report, "more-b").message.clone().unwrap();
    assert!(more_b.contains("already has 2 AuraInstances"), "{more_b}");
    assert!(
        more_b.contains("\"pair\", limit 2, counting more-a from this plan before it:"),
        "{more_b}"
    );
    let (code, out) = env.binary(&["-f", files.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("AuraInstance {NS}/charlie: refused")),
        "{out}"
    );
    assert!(
        out.contains("Plan: 3 to change, 0 unchanged, 2 refused"),
        "{out}"
    );

    // The operator, on the same manifests.
    let before = creates(&op, "/v1/instances");
    for manifest in manifests {
        op.apply(manifest).await;
    }
    for planned in &report.resources {
        same(planned, outcome::<AuraInstance>(&op, &planned.name).await);
    }
    assert_eq!(creates(&op, "/v1/instances") - before, 3);
}

#[tokio::test]
async fn sessions_in_a_tenant_the_credential_does_not_allow_are_refused_as_the_operator_does() {
    let op = Operator::start().await;
    key_secret(&op, OPERATOR_NS, "team-key").await;
    cluster_credential(&op, "second", json!({"allowedTenants": [SECOND_TENANT_ID]})).await;
    op.apply(instance("orders", json!({}))).await;
    let orders = op.wait_for("orders", "Ready", is_ready).await;
    let orders_id = orders.status.unwrap().instance_id.unwrap();
    let standalone = |tenant: Value| {
        let mut spec = json!({"cloudProvider": "gcp", "region": "europe-west1", "memory": "8GB",
                              "credentialRef": {"name": "second"}});
        spec.as_object_mut()
            .unwrap()
            .extend(tenant.as_object().unwrap().clone());
        spec
    };
    // A live session in the default tenant, made with the operator's default credential.
    let shared = standalone(json!({"tenantId": DEFAULT_TENANT_ID, "name": "shared-analysis"}));
    let mut shared = resource("GdsSession", "shared", shared);
    shared["spec"]
        .as_object_mut()
        .unwrap()
        .remove("credentialRef");
    op.create::<GdsSession>(shared).await;
    op.wait_for_any::<GdsSession>("shared", "Ready", is_ready)
        .await;
    let env = Env::new(&op).await;
    let session = |name: &str, spec: Value| resource("GdsSession", name, spec);
    let attached = |place: Value| {
        let mut spec = json!({"memory": "8GB", "credentialRef": {"name": "second"}});
        spec.as_object_mut()
            .unwrap()
            .extend(place.as_object().unwrap().clone());
        spec
    };
    let manifests = [
        session("by-id", standalone(json!({"tenantId": DEFAULT_TENANT_ID}))),
        session(
            "by-name",
            standalone(json!({"tenantName": "Emulated Tenant"})),
        ),
        session("on-id", attached(json!({"instanceId": orders_id}))),
        session(
            "on-ref",
            attached(json!({"instanceRef": {"name": "orders"}})),
        ),
        session(
            "allowed",
            standalone(json!({"tenantId": SECOND_TENANT_ID, "cloudProvider": "aws",
                              "region": "us-east-1"})),
        ),
        session(
            "watcher",
            json!({"managementPolicy": "Observe", "name": "shared-analysis",
                   "credentialRef": {"name": "second"}}),
        ),
    ];
    let files = env.manifests("sessions", &manifests);
    let mut args = env.args(&[&files]);
    args.credentials_file = None;

    let report = plan::make(&env.kube(), &args).await.unwrap();

    let refused_at = |name: &str| {
        let planned = entry(&report, name);
        assert_eq!(planned.action, Action::Refused, "{planned:?}");
        assert_eq!(planned.reason.as_deref(), Some("CredentialNotAllowed"));
        let message = planned.message.as_deref().unwrap();
        let field = message.split(':').next().unwrap_or_default().to_owned();
        assert!(
            message.contains(DEFAULT_TENANT_ID),
            "names the tenant: {message}"
        );
        field
    };
    assert_eq!(refused_at("by-id"), "spec.tenantId");
    assert_eq!(refused_at("by-name"), "spec.tenantName");
    assert_eq!(refused_at("on-id"), "spec.instanceId");
    assert_eq!(refused_at("on-ref"), "spec.instanceRef");
    assert_eq!(refused_at("watcher"), "spec.name");
    assert_eq!(entry(&report, "allowed").action, Action::Create);
    assert_eq!(report::exit_code(&report), 1);

    // The operator, on the same manifests.
    let route = "/v1/graph-analytics/sessions";
    let before = creates(&op, route);
    for manifest in manifests {
        op.create::<GdsSession>(manifest).await;
    }
    for planned in &report.resources {
        let did = outcome::<GdsSession>(&op, &planned.name).await;
        if let Some((_, message)) = &did {
            assert_eq!(planned.message.as_deref(), Some(message.as_str()));
        }
        same(planned, did);
    }
    assert_eq!(creates(&op, route) - before, 1);
}
