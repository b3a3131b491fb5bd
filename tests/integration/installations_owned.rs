//! The objects installations own, when several share a namespace: each owned Secret carries its
//! installation's class like its resource, so that each installation's watch of owned Secrets
//! asks the API server for its own only (another's are never sent to it), and for their
//! metadata only (no password comes through it at all). A deleted Secret is written again at
//! once by its own installation alone, a Secret an older version wrote without the label gets
//! it in one write, and a resource relabelled to another class takes its Secret along
//! (relabelled, never deleted).

use std::time::Duration;

use aura_operator::controllers::tenancy::installation::LABEL;
use aura_operator::crd::AuraInstance;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::installations::{WITHIN, create, instance_spec, meta, object};
use crate::support::operator::{Operator, is_ready, timing, user_patch, wait_object};
use crate::support::writes::WriteLog;

const NS: &str = "apps";
/// Where the Secrets of `NS` are watched.
const SECRETS: &str = "/api/v1/namespaces/apps/secrets";
/// Far above the tests' waits: whatever happens within them was brought by a watch.
const LONG_RESYNC: Duration = Duration::from_secs(120);
/// How soon a watch-driven pass answers here (the next resync is `LONG_RESYNC` away).
const AT_ONCE: Duration = Duration::from_secs(5);

fn secrets(api: &memory_apiserver::ApiServer) -> Api<Secret> {
    Api::namespaced(api.client(), NS)
}

fn writes(op: &Operator) -> &WriteLog {
    op.writes.as_ref().expect("recorded writes")
}

/// The writes `op` sent about the object `name` exactly.
fn writes_about(op: &Operator, name: &str) -> usize {
    let all = writes(op).all();
    all.iter()
        .filter(|w| w.names().iter().any(|n| n == name))
        .count()
}

/// The class label of the Secret `name`.
fn class_of(api: &memory_apiserver::ApiServer, name: &str) -> Option<String> {
    let secret = api.get_as::<Secret>(Some(NS), name).expect("the Secret");
    secret.labels().get(LABEL).cloned()
}

/// An AuraInstance `name` in `NS`, marked for `class`, once Ready.
async fn ready_instance(api: &memory_apiserver::ApiServer, name: &str, class: Option<&str>) {
    let spec = instance_spec(json!({"deletionPolicy": "Delete"}));
    create(
        api,
        object("AuraInstance", meta(name, Some(NS), class), spec),
    )
    .await;
    wait_object::<AuraInstance>(api, Some(NS), name, "Ready", WITHIN, is_ready).await;
}

/// Waits until `check` holds for the Secret `name` (None: it does not exist).
async fn wait_secret(
    api: &memory_apiserver::ApiServer,
    name: &str,
    what: &str,
    within: Duration,
    check: impl Fn(Option<&Secret>) -> bool,
) {
    crate::support::wait_for(what, within, || {
        let secret = api.get_as::<Secret>(Some(NS), name);
        match check(secret.as_ref()) {
            true => Ok(()),
            false => Err(format!("{:#?}", secret.map(|s| s.metadata))),
        }
    })
    .await;
}

/// The default installation and two of named classes, all watching `NS`, each with one
/// AuraInstance there. Each installation's watches of the namespace's Secrets, evaluated by the
/// API server with the very label selector the installation sent, hold its own connection
/// Secret and no other installation's. Deleting one installation's Secret brings it back at
/// once (no resync in sight), written by that installation alone.
#[tokio::test]
async fn each_installations_secret_watch_holds_only_its_own_secrets() {
    let slow = || aura_operator::controllers::Timing {
        resync: LONG_RESYNC,
        ..timing()
    };
    let api = crate::support::operator::new_api_server();
    let scopes = &[Some(NS)];
    let default = Operator::installation_on(&api, None, "aura-system", scopes, slow()).await;
    let blue = Operator::installation_on(&api, Some("blue"), "aura-blue", scopes, slow()).await;
    let green = Operator::installation_on(&api, Some("green"), "aura-green", scopes, slow()).await;
    let sides = [
        (&default, "plain", None),
        (&blue, "blue-db", Some("blue")),
        (&green, "green-db", Some("green")),
    ];
    for (_, name, class) in sides {
        ready_instance(&api, name, class).await;
    }

    for (op, name, class) in sides {
        let own = format!("{name}-connection");
        assert_eq!(class_of(&api, &own).as_deref(), class, "{own}'s label");
        let owned_watches: Vec<_> = writes(op)
            .watches_of(SECRETS)
            .into_iter()
            .filter(|w| {
                let selector = w.label_selector.as_deref().unwrap_or_default();
                selector.contains("app.kubernetes.io/managed-by")
            })
            .collect();
        assert!(!owned_watches.is_empty(), "{name}: no owned-Secret watch");
        // Not even its own Secrets' data comes through it: the owners are all it needs.
        let full: Vec<_> = owned_watches.iter().filter(|w| !w.metadata_only).collect();
        assert!(full.is_empty(), "{name}: watches with data: {full:?}");
        let owned_watches = owned_watches.into_iter().filter_map(|w| w.label_selector);
        for selector in owned_watches {
            let listed = secrets(&api)
                .list(&ListParams::default().labels(&selector))
                .await
                .expect("listed");
            let names: Vec<String> = listed.items.iter().map(ResourceExt::name_any).collect();
            assert_eq!(names, [own.as_str()], "{name}'s watch {selector:?} holds");
        }
    }
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=aura-operator");
    let written = secrets(&api)
        .list(&managed)
        .await
        .expect("listed")
        .items
        .len();
    eprintln!(
        "owned-Secret watch of each of {} installations in {NS}: 1 Secret of the {written} the \
         operator wrote there (the managed-by selector alone: all {written})",
        sides.len()
    );

    for (op, name, _) in [sides[0], sides[1]] {
        let own = format!("{name}-connection");
        let before = api.get_as::<Secret>(Some(NS), &own).unwrap();
        let writes_before: Vec<usize> = sides
            .iter()
            .map(|(o, _, _)| writes_about(o, &own))
            .collect();
        secrets(&api)
            .delete(&own, &DeleteParams::default())
            .await
            .expect("deleted");
        let what = format!("{own} written again at once");
        wait_secret(&api, &own, &what, AT_ONCE, |s| s.is_some()).await;
        let after = api.get_as::<Secret>(Some(NS), &own).unwrap();
        assert_eq!(
            after.data, before.data,
            "{own}: same password, same content"
        );
        assert_eq!(after.labels().get(LABEL), before.labels().get(LABEL));
        for ((other, _, _), was) in sides.iter().zip(writes_before) {
            let now = writes_about(other, &own);
            let expected = match std::ptr::eq(*other, op) {
                true => was + 1,
                false => 0,
            };
            assert_eq!(now, expected, "writes about {own} by {:?}", other.class);
        }
    }
}

/// A Secret an older version wrote (no class label) for a resource of class blue: the pass it
/// brings (and no later one) gives it the label, in one write; the admin Secret, written once
/// and never again in full, moves with it. The default installation beside, whose watch sees
/// the unmarked Secret meanwhile, writes nothing about it.
#[tokio::test]
async fn a_secret_from_an_older_version_is_marked_in_one_write() {
    let blue = Operator::installation(Some("blue"), "aura-blue", &[Some(NS)]).await;
    let default = Operator::beside(&blue, None, "aura-system", &[Some(NS)]).await;
    let api = blue.api.clone();
    ready_instance(&api, "blue-old", Some("blue")).await;
    let connection = "blue-old-connection";
    let admin = "blue-old-connection-admin";
    let resource = api
        .get_as::<AuraInstance>(Some(NS), "blue-old")
        .expect("the resource");
    let older = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": admin, "namespace": NS,
            "labels": {
                "app.kubernetes.io/managed-by": "aura-operator",
                "aura.neo4j.io/instance": "blue-old"
            },
            "ownerReferences": [resource.controller_owner_ref(&()).unwrap()]
        },
        "stringData": {"NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": "admin-password"}
    });
    let older: Secret = serde_json::from_value(older).unwrap();
    secrets(&api)
        .create(&PostParams::default(), &older)
        .await
        .expect("admin Secret created");
    let connection_writes = writes_about(&blue, connection);
    let unmark = json!({"metadata": {"labels": {LABEL: null}}});
    secrets(&api)
        .patch(connection, &user_patch(), &Patch::Merge(&unmark))
        .await
        .expect("label taken off, as an older version wrote it");

    let what = "the connection Secret marked blue";
    wait_secret(&api, connection, what, WITHIN, |s| {
        s.is_some_and(|s| s.labels().get(LABEL).is_some_and(|c| c == "blue"))
    })
    .await;
    assert_eq!(
        class_of(&api, admin).as_deref(),
        Some("blue"),
        "admin moved"
    );
    blue.after_passes("AuraInstance", 3).await;
    assert_eq!(
        writes_about(&blue, connection) - connection_writes,
        1,
        "one write marks the connection Secret, none after"
    );
    assert_eq!(
        writes_about(&blue, admin),
        1,
        "one write marks the admin Secret"
    );
    assert_eq!(class_of(&api, admin).as_deref(), Some("blue"));
    assert_eq!(writes_about(&default, connection), 0);
    assert_eq!(writes_about(&default, admin), 0);
}

/// The blue/green step, for what the resource owns: relabelled from blue to green, its Secret
/// follows (the same object, relabelled by green in one write), and neither installation
/// deletes it. Then back to the default installation: the label goes.
#[tokio::test]
async fn a_relabelled_resource_takes_its_secret_along_without_a_delete() {
    let blue = Operator::installation(Some("blue"), "aura-blue", &[Some(NS)]).await;
    let green =
        Operator::beside_sharing_aura(&blue, Some("green"), "aura-green", &[Some(NS)]).await;
    let default = Operator::beside_sharing_aura(&blue, None, "aura-system", &[Some(NS)]).await;
    let api = blue.api.clone();
    ready_instance(&api, "moving", Some("blue")).await;
    let connection = "moving-connection";
    let uid = api.get_as::<Secret>(Some(NS), connection).unwrap().uid();
    let instances = Api::<AuraInstance>::namespaced(api.client(), NS);

    for (to, op) in [(Some("green"), &green), (None, &default)] {
        let relabel = json!({"metadata": {"labels": {LABEL: to}}});
        instances
            .patch("moving", &user_patch(), &Patch::Merge(&relabel))
            .await
            .expect("relabelled");
        let what = format!("the Secret marked {to:?}");
        wait_secret(&api, connection, &what, WITHIN, |s| {
            s.is_some_and(|s| s.labels().get(LABEL).map(String::as_str) == to)
        })
        .await;
        let written = writes_about(op, connection);
        op.after_passes("AuraInstance", 3).await;
        assert_eq!(
            writes_about(op, connection),
            written,
            "no rewrite once marked"
        );
        let moved = api.get_as::<AuraInstance>(Some(NS), "moving").unwrap();
        assert!(is_ready(&moved), "{:?}", moved.status);
    }
    let still = api.get_as::<Secret>(Some(NS), connection).unwrap();
    assert_eq!(
        still.uid(),
        uid,
        "the same Secret, never deleted and written again"
    );
    for op in [&blue, &green, &default] {
        let deletes = writes(op)
            .all()
            .into_iter()
            .filter(|w| w.method == "DELETE" && w.names().iter().any(|n| n == connection));
        assert_eq!(deletes.count(), 0, "{:?} deleted the Secret", op.class);
    }
    assert!(writes_about(&green, connection) >= 1, "green relabelled it");
    assert!(
        writes_about(&default, connection) >= 1,
        "the default took it back"
    );
    assert_eq!(
        blue.emu
            .handle()
            .stats()
            .count_route("POST", "/v1/instances"),
        1
    );
}
