//! Several installations in one cluster (issue 20): two operators of different installation
//! classes on ONE in-memory API server, each with its own Aura (emulator), operator namespace
//! and recorded writes. Whether their watched namespaces are disjoint or overlap, neither writes
//! to the other's objects (ClusterAuraCredentials included) nor calls Aura for them; unmarked
//! objects are the default installation's alone; a resource naming another class's credential
//! is refused by its own installation, which leaves that credential alone.

use std::time::Duration;

use aura_operator::aura::SessionFilter;
use aura_operator::controllers::installation::LABEL;
use aura_operator::crd::{AuraInstance, AuraSnapshot, ClusterAuraCredential, GdsSession};
use aura_operator::leader::{Attempt, Elector, LeaseConfig};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

use crate::support::operator::{Operator, condition, is_ready, user_post};
use crate::support::{CLIENT_ID, CLIENT_SECRET};

const CREATE: &str = "/v1/instances";

/// Creates any object from its YAML (as JSON) as a user would.
async fn create(api: &memory_apiserver::ApiServer, obj: Value) {
    let namespace = obj["metadata"]["namespace"].as_str().map(str::to_owned);
    let kind = obj["kind"].as_str().unwrap().to_owned();
    let client = api.client();
    macro_rules! post {
        ($t:ty, $api:expr) => {{
            let typed: $t = serde_json::from_value(obj).expect("a valid object");
            let api: Api<$t> = $api;
            api.create(&user_post(), &typed).await.map(|_| ())
        }};
        ($t:ty) => {
            post!($t, Api::namespaced(client, namespace.as_deref().unwrap()))
        };
    }
    let created = match kind.as_str() {
        "AuraInstance" => post!(AuraInstance),
        "AuraSnapshot" => post!(AuraSnapshot),
        "GdsSession" => post!(GdsSession),
        "Secret" => post!(Secret),
        "ClusterAuraCredential" => post!(ClusterAuraCredential, Api::all(client)),
        other => panic!("no helper for {other}"),
    };
    created.unwrap_or_else(|e| panic!("{kind} created: {e}"));
}

/// Metadata of `name` in `namespace` (None: cluster-scoped), marked for `class` if any.
fn meta(name: &str, namespace: Option<&str>, class: Option<&str>) -> Value {
    let mut meta = json!({ "name": name });
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    if let Some(class) = class {
        meta["labels"] = json!({ LABEL: class });
    }
    meta
}

fn object(kind: &str, meta: Value, spec: Value) -> Value {
    json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec})
}

fn instance_spec(extra: Value) -> Value {
    let mut spec = json!({
        "tenantId": aura_operator::emulator::DEFAULT_TENANT_ID,
        "cloudProvider": "gcp", "region": "europe-west1",
        "type": "professional-db", "memory": "2GB"
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

/// A ClusterAuraCredential `<prefix>cred` marked for `class`, whose Secret `<prefix>key` it
/// names explicitly in `secret_ns` (the emulator's key), allowing `namespaces`.
async fn credential(
    api: &memory_apiserver::ApiServer,
    prefix: &str,
    class: Option<&str>,
    secret_ns: &str,
    namespaces: &[&str],
) {
    let key = format!("{prefix}key");
    create(
        api,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": key, "namespace": secret_ns},
            "stringData": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
        }),
    )
    .await;
    let spec = json!({
        "secretRef": {"name": key, "namespace": secret_ns},
        "allowedNamespaces": {"names": namespaces},
        "allowedTenants": ["*"]
    });
    let name = format!("{prefix}cred");
    create(
        api,
        object("ClusterAuraCredential", meta(&name, None, class), spec),
    )
    .await;
}

/// One of each kind for `class` in `ns`, named `<class>-...`: an instance using the class's
/// ClusterAuraCredential, one using the default credential, a snapshot and a GDS session of
/// the first.
async fn fleet(api: &memory_apiserver::ApiServer, class: &str, ns: &str) {
    let m = |name: &str| meta(&format!("{class}-{name}"), Some(ns), Some(class));
    let using = json!({"credentialRef": {"name": format!("{class}-cred")}});
    create(api, object("AuraInstance", m("db"), instance_spec(using))).await;
    create(
        api,
        object("AuraInstance", m("plain"), instance_spec(json!({}))),
    )
    .await;
    let of_db = json!({"instanceRef": {"name": format!("{class}-db")}});
    create(api, object("AuraSnapshot", m("snap"), of_db.clone())).await;
    let mut session = of_db;
    session["memory"] = json!("8GB");
    session["ttl"] = json!("30m");
    create(api, object("GdsSession", m("gds"), session)).await;
}

/// Waits until `check` holds for the object `name` of kind `K` in `ns` (None: cluster-scoped).
async fn wait<K>(
    api: &memory_apiserver::ApiServer,
    ns: Option<&str>,
    name: &str,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let what = format!("{name} to be {what}");
    crate::support::wait_for(&what, Duration::from_secs(20), || {
        match api.get_as::<K>(ns, name) {
            Some(obj) if check(&obj) => Ok(obj),
            other => Err(format!("{other:#?}")),
        }
    })
    .await
}

/// Waits until the fleet of `class` in `ns` and its credential are Ready.
async fn fleet_ready(api: &memory_apiserver::ApiServer, class: &str, ns: &str) {
    let name = |n: &str| format!("{class}-{n}");
    wait::<ClusterAuraCredential>(api, None, &name("cred"), "Ready", is_ready).await;
    for n in ["db", "plain"] {
        wait::<AuraInstance>(api, Some(ns), &name(n), "Ready", is_ready).await;
    }
    wait::<AuraSnapshot>(api, Some(ns), &name("snap"), "Ready", is_ready).await;
    wait::<GdsSession>(api, Some(ns), &name("gds"), "Ready", is_ready).await;
}

/// Lets both installations run several resyncs (1 s each in these tests) over settled objects.
async fn settle(installations: &[&Operator]) {
    for op in installations {
        op.after_passes("AuraInstance", 6).await;
        op.after_passes("GdsSession", 3).await;
    }
}

/// `op` wrote nothing about objects named `<other>-...` and called its Aura for nothing of
/// theirs; and it did write its own statuses (so the log is known to catch writes).
async fn kept_to_itself(op: &Operator, own: &str, other: &str) {
    let writes = op.writes.as_ref().expect("recorded writes");
    let strays = writes.touching(&format!("{other}-"));
    assert!(
        strays.is_empty(),
        "{own} wrote about {other}'s objects: {strays:#?}"
    );
    let own_writes = writes.touching(&format!("{own}-"));
    for path in [
        format!("/aurainstances/{own}-db/status"),
        format!("/gdssessions/{own}-gds/status"),
        format!("/clusterauracredentials/{own}-cred/status"),
    ] {
        assert!(
            own_writes.iter().any(|w| w.path.ends_with(&path)),
            "{own} never wrote {path}"
        );
    }
    let stats = op.emu.handle().stats();
    assert_eq!(stats.count_route("POST", CREATE), 2, "{own}: two instances");
    let names: Vec<String> = op
        .emu
        .handle()
        .instances()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(
        names.iter().all(|n| n.contains(&format!("{own}-"))),
        "{own}'s Aura holds {names:?}"
    );
    let sessions = crate::support::client(&op.emu)
        .sessions()
        .list(&SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "{own}'s Aura holds {sessions:?}");
}

#[tokio::test]
async fn installations_with_disjoint_namespaces_never_touch_each_others_objects() {
    let blue = Operator::installation(Some("blue"), "aura-blue", &[Some("team-blue")]).await;
    let green = Operator::beside(&blue, Some("green"), "aura-green", &[Some("team-green")]).await;
    let api = &blue.api;
    credential(api, "blue-", Some("blue"), "aura-blue", &["team-blue"]).await;
    credential(api, "green-", Some("green"), "aura-green", &["team-green"]).await;
    fleet(api, "blue", "team-blue").await;
    fleet(api, "green", "team-green").await;
    fleet_ready(api, "blue", "team-blue").await;
    fleet_ready(api, "green", "team-green").await;
    settle(&[&blue, &green]).await;
    kept_to_itself(&blue, "blue", "green").await;
    kept_to_itself(&green, "green", "blue").await;
}

/// The harder case: both watch the same namespace (green watches every namespace), and share
/// their operator namespace, where both credentials' Secrets live.
#[tokio::test]
async fn installations_with_overlapping_namespaces_never_touch_each_others_objects() {
    let blue = Operator::installation(Some("blue"), "aura-system", &[Some("shared")]).await;
    let green = Operator::beside(&blue, Some("green"), "aura-system", &[None]).await;
    let api = &blue.api;
    credential(api, "blue-", Some("blue"), "aura-system", &["shared"]).await;
    credential(api, "green-", Some("green"), "aura-system", &["shared"]).await;
    fleet(api, "blue", "shared").await;
    fleet(api, "green", "shared").await;
    fleet_ready(api, "blue", "shared").await;
    fleet_ready(api, "green", "shared").await;
    settle(&[&blue, &green]).await;
    kept_to_itself(&blue, "blue", "green").await;
    kept_to_itself(&green, "green", "blue").await;

    // The credentials' Ready conditions were each written by one installation only, and never
    // flipped: Ready since the first write.
    for name in ["blue-cred", "green-cred"] {
        let cred = api.get_as::<ClusterAuraCredential>(None, name).unwrap();
        let ready = condition(&cred, "Ready").unwrap();
        assert_eq!(ready.status, "True", "{name}: {ready:?}");
        assert!(ready.message.contains("aura-system/"), "{}", ready.message);
    }
}

#[tokio::test]
async fn an_unmarked_resource_is_served_by_the_default_installation_only() {
    let default = Operator::installation(None, "aura-system", &[Some("apps")]).await;
    let blue = Operator::beside(&default, Some("blue"), "aura-blue", &[Some("apps")]).await;
    let api = &default.api;
    let unmarked = meta("plain", Some("apps"), None);
    create(
        api,
        object("AuraInstance", unmarked, instance_spec(json!({}))),
    )
    .await;
    let marked = meta("blue-db", Some("apps"), Some("blue"));
    create(
        api,
        object("AuraInstance", marked, instance_spec(json!({}))),
    )
    .await;
    wait::<AuraInstance>(api, Some("apps"), "plain", "Ready", is_ready).await;
    wait::<AuraInstance>(api, Some("apps"), "blue-db", "Ready", is_ready).await;
    default.after_passes("AuraInstance", 4).await;
    blue.after_passes("AuraInstance", 4).await;

    let names = |op: &Operator| -> Vec<String> {
        op.emu
            .handle()
            .instances()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    let (served, other) = (names(&default), names(&blue));
    assert!(
        served.len() == 1 && served[0].starts_with("apps-plain-"),
        "{served:?}"
    );
    assert!(
        other.len() == 1 && other[0].starts_with("apps-blue-db-"),
        "{other:?}"
    );
    let blue_writes = blue.writes.as_ref().unwrap();
    assert!(
        blue_writes.touching("plain").is_empty(),
        "{:#?}",
        blue_writes.touching("plain")
    );
    let default_writes = default.writes.as_ref().unwrap();
    assert!(
        default_writes.touching("blue-").is_empty(),
        "{:#?}",
        default_writes.touching("blue-")
    );
    assert!(
        default_writes
            .touching("plain")
            .iter()
            .any(|w| w.path.ends_with("/plain/status"))
    );
}

#[tokio::test]
async fn a_resource_naming_another_installations_credential_is_refused_by_its_own() {
    let default = Operator::installation(None, "aura-system", &[Some("apps")]).await;
    let blue = Operator::beside(&default, Some("blue"), "aura-blue", &[Some("apps")]).await;
    let api = &default.api;
    credential(api, "shared-", None, "aura-system", &["apps"]).await;
    wait::<ClusterAuraCredential>(api, None, "shared-cred", "Ready", is_ready).await;
    let borrower = meta("blue-borrower", Some("apps"), Some("blue"));
    let using = json!({"credentialRef": {"name": "shared-cred"}});
    create(api, object("AuraInstance", borrower, instance_spec(using))).await;

    let refused = wait::<AuraInstance>(api, Some("apps"), "blue-borrower", "refused", |i| {
        condition(i, "Ready").is_some_and(|c| c.reason == "CredentialNotAllowed")
    })
    .await;
    let message = &condition(&refused, "Ready").unwrap().message;
    for part in ["spec.credentialRef", "the default installation", "\"blue\""] {
        assert!(message.contains(part), "{part} in {message}");
    }
    let events = api.list("events.k8s.io", "events", Some("apps"));
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "CredentialNotAllowed"
                && e["regarding"]["name"] == "blue-borrower"),
        "{events:#?}"
    );
    blue.after_passes("AuraInstance", 2).await;
    // No Aura call for it, and the credential (and its Secret) were left to their installation.
    assert_eq!(blue.emu.handle().stats().total_requests, 0);
    let blue_writes = blue.writes.as_ref().unwrap();
    assert!(
        blue_writes.touching("shared-").is_empty(),
        "{:#?}",
        blue_writes.touching("shared-")
    );
    let default_writes = default.writes.as_ref().unwrap();
    assert!(
        default_writes.touching("blue-").is_empty(),
        "{:#?}",
        default_writes.touching("blue-")
    );
}

/// Leader election: the Lease is per class, so installations of different classes in the same
/// namespace each lead, while two replicas of one class still take turns.
#[tokio::test]
async fn installations_sharing_a_namespace_each_have_their_own_lease() {
    let api = memory_apiserver::ApiServer::new();
    let elector = |class: Option<&str>, pod: &str| {
        let class = match class {
            Some(c) => aura_operator::controllers::InstallationClass::named(c).unwrap(),
            None => Default::default(),
        };
        let config = LeaseConfig {
            name: class.lease_name(),
            ..LeaseConfig::new("aura-system", pod)
        };
        Elector::new(api.client(), config)
    };
    let default = elector(None, "default-0");
    let blue = elector(Some("blue"), "blue-0");
    let blue_replica = elector(Some("blue"), "blue-1");
    assert_eq!(default.try_acquire().await.unwrap(), Attempt::Leading);
    assert_eq!(blue.try_acquire().await.unwrap(), Attempt::Leading);
    assert_eq!(
        blue_replica.try_acquire().await.unwrap(),
        Attempt::Following
    );
    let leases = api.list("coordination.k8s.io", "leases", Some("aura-system"));
    let mut names: Vec<&str> = leases
        .iter()
        .filter_map(|l| l["metadata"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["aura-operator", "aura-operator-blue"]);
}
