//! Several installations in one cluster (issue 20): two operators of different installation
//! classes on ONE in-memory API server, each with its own Aura (emulator), operator namespace
//! and recorded writes. Whether their watched namespaces are disjoint or overlap, neither writes
//! to the other's objects (ClusterAuraCredentials included) nor calls Aura for them; unmarked
//! objects are the default installation's alone; a resource naming another class's credential
//! is refused by its own installation, which leaves that credential alone.

use std::time::Duration;

use aura_operator::aura::SessionFilter;
use aura_operator::controllers::tenancy::installation::LABEL;
use aura_operator::crd::{AuraInstance, AuraSnapshot, ClusterAuraCredential, GdsSession};
use aura_operator::leader::{Attempt, Elector, LeaseConfig};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch};
use serde_json::{Value, json};

use crate::support::operator::{Operator, condition, is_ready, user_patch, user_post, wait_object};
use crate::support::{CLIENT_ID, CLIENT_SECRET};

const CREATE: &str = "/v1/instances";
/// How long a test waits for an object to get somewhere.
pub(super) const WITHIN: Duration = Duration::from_secs(20);

/// Creates any object from its YAML (as JSON) as a user would.
pub(super) async fn create(api: &memory_apiserver::ApiServer, obj: Value) {
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
pub(super) fn meta(name: &str, namespace: Option<&str>, class: Option<&str>) -> Value {
    let mut meta = json!({ "name": name });
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    if let Some(class) = class {
        meta["labels"] = json!({ LABEL: class });
    }
    meta
}

pub(super) fn object(kind: &str, meta: Value, spec: Value) -> Value {
    json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec})
}

pub(super) fn instance_spec(extra: Value) -> Value {
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

/// Waits until the fleet of `class` in `ns` and its credential are Ready.
async fn fleet_ready(api: &memory_apiserver::ApiServer, class: &str, ns: &str) {
    let name = |n: &str| format!("{class}-{n}");
    wait_object::<ClusterAuraCredential>(api, None, &name("cred"), "Ready", WITHIN, is_ready).await;
    for n in ["db", "plain"] {
        wait_object::<AuraInstance>(api, Some(ns), &name(n), "Ready", WITHIN, is_ready).await;
    }
    wait_object::<AuraSnapshot>(api, Some(ns), &name("snap"), "Ready", WITHIN, is_ready).await;
    wait_object::<GdsSession>(api, Some(ns), &name("gds"), "Ready", WITHIN, is_ready).await;
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
    writes.assert_untouched(&format!("{other}-"));
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
    // Its credential's Ready was written once (Ready from the first look), and never again.
    let credential_status = format!("/clusterauracredentials/{own}-cred/status");
    let written = own_writes
        .iter()
        .filter(|w| w.path.ends_with(&credential_status));
    assert_eq!(written.count(), 1, "{own}-cred status writes");
    let credential = op
        .api
        .get_as::<ClusterAuraCredential>(None, &format!("{own}-cred"));
    let ready = credential
        .as_ref()
        .and_then(|c| condition(c, "Ready"))
        .unwrap();
    assert!(
        ready.status == "True"
            && ready
                .message
                .contains(&format!("{}/{own}-key", op.operator_ns)),
        "{ready:?}"
    );
    let stats = op.emu.handle().stats();
    assert_eq!(stats.count_route("POST", CREATE), 2, "{own}: two instances");
    eprintln!(
        "{own}: {} writes to the API server, {} about its own objects, 0 about {other}'s; \
         {} Aura requests to its own Aura",
        writes.all().len(),
        own_writes.len(),
        stats.total_requests
    );
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

/// One installation in a test of two: its class (also its objects' name prefix), its operator
/// namespace (where its credential's Secret is), the namespaces it watches, and the one its
/// objects are in.
struct Side {
    class: &'static str,
    operator_ns: &'static str,
    scopes: &'static [Option<&'static str>],
    ns: &'static str,
}

/// Both installations on one API server, each with its credential and fleet, Ready and then
/// settled; each kept to itself.
async fn side_by_side(a: Side, b: Side) {
    let first = Operator::installation(Some(a.class), a.operator_ns, a.scopes).await;
    let second = Operator::beside(&first, Some(b.class), b.operator_ns, b.scopes).await;
    let api = &first.api;
    for side in [&a, &b] {
        let prefix = format!("{}-", side.class);
        credential(api, &prefix, Some(side.class), side.operator_ns, &[side.ns]).await;
        fleet(api, side.class, side.ns).await;
    }
    for side in [&a, &b] {
        fleet_ready(api, side.class, side.ns).await;
    }
    settle(&[&first, &second]).await;
    kept_to_itself(&first, a.class, b.class).await;
    kept_to_itself(&second, b.class, a.class).await;
    for side in [&a, &b] {
        secrets_marked(api, side.class, side.ns);
    }
}

/// The Secrets written for the fleet of `class` (both instances' and the session's) carry its
/// class, as their resources do.
fn secrets_marked(api: &memory_apiserver::ApiServer, class: &str, ns: &str) {
    for name in ["db-connection", "plain-connection", "gds-gds"] {
        let name = format!("{class}-{name}");
        let secret = api.get_as::<Secret>(Some(ns), &name).expect("written");
        let label = secret.metadata.labels.as_ref().and_then(|l| l.get(LABEL));
        assert_eq!(label.map(String::as_str), Some(class), "{name}'s class");
    }
}

#[tokio::test]
async fn installations_with_disjoint_namespaces_never_touch_each_others_objects() {
    let blue = Side {
        class: "blue",
        operator_ns: "aura-blue",
        scopes: &[Some("team-blue")],
        ns: "team-blue",
    };
    let green = Side {
        class: "green",
        operator_ns: "aura-green",
        scopes: &[Some("team-green")],
        ns: "team-green",
    };
    side_by_side(blue, green).await;
}

/// The harder case: both watch the same namespace (green watches every namespace), and share
/// their operator namespace, where both credentials' Secrets live.
#[tokio::test]
async fn installations_with_overlapping_namespaces_never_touch_each_others_objects() {
    let blue = Side {
        class: "blue",
        operator_ns: "aura-system",
        scopes: &[Some("shared")],
        ns: "shared",
    };
    let green = Side {
        class: "green",
        operator_ns: "aura-system",
        scopes: &[None],
        ns: "shared",
    };
    side_by_side(blue, green).await;
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
    wait_object::<AuraInstance>(api, Some("apps"), "plain", "Ready", WITHIN, is_ready).await;
    wait_object::<AuraInstance>(api, Some("apps"), "blue-db", "Ready", WITHIN, is_ready).await;
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
    blue_writes.assert_untouched("plain");
    let default_writes = default.writes.as_ref().unwrap();
    default_writes.assert_untouched("blue-");
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
    wait_object::<ClusterAuraCredential>(api, None, "shared-cred", "Ready", WITHIN, is_ready).await;
    let borrower = meta("blue-borrower", Some("apps"), Some("blue"));
    let using = json!({"credentialRef": {"name": "shared-cred"}});
    create(api, object("AuraInstance", borrower, instance_spec(using))).await;

    let refused =
        wait_object::<AuraInstance>(api, Some("apps"), "blue-borrower", "refused", WITHIN, |i| {
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
    blue_writes.assert_untouched("shared-");
    let default_writes = default.writes.as_ref().unwrap();
    default_writes.assert_untouched("blue-");
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

/// The blue/green upgrade's step: a resource relabelled to the new installation's class is
/// taken over by it (no second Aura instance: both installations call the same Aura), the old
/// installation stops looking at it, and the new one cleans up when it is deleted, finalizer
/// and all.
#[tokio::test]
async fn a_relabelled_resource_moves_to_the_other_installation_without_a_second_instance() {
    let blue = Operator::installation(Some("blue"), "aura-blue", &[Some("apps")]).await;
    let green =
        Operator::beside_sharing_aura(&blue, Some("green"), "aura-green", &[Some("apps")]).await;
    let api = &blue.api;
    let resource = meta("moving", Some("apps"), Some("blue"));
    let spec = instance_spec(json!({"deletionPolicy": "Delete"}));
    create(api, object("AuraInstance", resource, spec)).await;
    wait_object::<AuraInstance>(api, Some("apps"), "moving", "Ready", WITHIN, is_ready).await;
    assert_eq!(
        green.passes("AuraInstance"),
        0,
        "green never looked at blue's resource"
    );

    let relabel = json!({"metadata": {"labels": {LABEL: "green"}}});
    Api::<AuraInstance>::namespaced(api.client(), "apps")
        .patch("moving", &user_patch(), &Patch::Merge(&relabel))
        .await
        .expect("relabelled");
    green.after_passes("AuraInstance", 2).await;
    let blue_passes = blue.passes("AuraInstance");
    let blue_writes = blue.writes.as_ref().unwrap().touching("moving").len();
    green.after_passes("AuraInstance", 3).await;
    assert_eq!(blue.passes("AuraInstance"), blue_passes, "blue let it go");
    let now = blue.writes.as_ref().unwrap().touching("moving").len();
    assert_eq!(now, blue_writes, "blue wrote nothing more about it");
    let moved = api.get_as::<AuraInstance>(Some("apps"), "moving").unwrap();
    assert!(is_ready(&moved), "{:?}", moved.status);
    assert_eq!(blue.emu.handle().stats().count_route("POST", CREATE), 1);

    Api::<AuraInstance>::namespaced(api.client(), "apps")
        .delete("moving", &DeleteParams::default())
        .await
        .expect("delete accepted");
    crate::support::wait_for("moving to be removed", WITHIN, || {
        match api.get_as::<AuraInstance>(Some("apps"), "moving") {
            None => Ok(()),
            Some(obj) => Err(format!("{:#?}", obj.metadata)),
        }
    })
    .await;
    let finalizer_removed = |op: &Operator| {
        let writes = op.writes.as_ref().unwrap().touching("moving");
        writes
            .iter()
            .any(|w| w.method == "PATCH" && w.body.to_string().contains("\"remove\""))
    };
    assert!(finalizer_removed(&green), "green removed the finalizer");
    assert!(!finalizer_removed(&blue), "blue did not");
    assert!(
        blue.emu
            .handle()
            .instances()
            .iter()
            .all(|i| i.status != "running"),
        "deleted in Aura: {:?}",
        blue.emu.handle().instances()
    );
}

/// The same through `aura-operator run`'s own start-up: a default installation and one of class
/// blue, both with `--leader-election` in one namespace, each take a Lease of their own and lead.
#[tokio::test]
async fn run_with_leader_election_takes_the_lease_of_its_class() {
    use aura_operator::cli::run::{Operator as Run, RunArgs};
    use clap::Parser;
    use futures::FutureExt;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let api = crate::support::operator::new_api_server();
    let stop = futures::future::pending::<()>().boxed().shared();
    for class in [&[][..], &["--installation-class", "blue"][..]] {
        let mut flags = vec![
            "run",
            "--leader-election",
            "--emulator",
            "--emulator-listen=127.0.0.1:0",
            "--http-listen=127.0.0.1:0",
            "--operator-namespace=aura-system",
        ];
        flags.extend_from_slice(class);
        let args = Cli::try_parse_from(flags).expect("flags parse").run;
        let config = aura_operator::emulator::EmulatorConfig::default();
        let operator = Run::start(api.client(), args, config, stop.clone())
            .await
            .expect("operator starts");
        tokio::spawn(operator.run());
    }
    crate::support::wait_for("both Leases held", WITHIN, || {
        let held = |name: &str| {
            api.get_as::<k8s_openapi::api::coordination::v1::Lease>(Some("aura-system"), name)
                .and_then(|l| l.spec?.holder_identity)
                .is_some()
        };
        match (held("aura-operator"), held("aura-operator-blue")) {
            (true, true) => Ok(()),
            other => Err(format!("held (default, blue): {other:?}")),
        }
    })
    .await;
}
