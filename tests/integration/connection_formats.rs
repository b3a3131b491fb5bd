//! Connection Secret formats end to end: format changes (the password found under the old
//! format's key by an operator with no memory of it), service-binding for both kinds, templates
//! refused before anything is written, the content hash, and the connection ConfigMap.

use crate::support::operator::{
    NS, Operator, instance, is_ready, ready_reason, resource, secret_value, user_patch,
};
use aura_operator::crd::GdsSession;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Patch;
use serde_json::json;

const HASH: &str = "aura.neo4j.io/content-hash";

fn keys(secret: &Secret) -> Vec<String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect()
}

fn hash(secret: &Secret) -> String {
    secret.metadata.annotations.as_ref().unwrap()[HASH].clone()
}

fn count(op: &Operator, reason: &str) -> usize {
    op.event_reasons().iter().filter(|r| *r == reason).count()
}

/// Waits until the Secret `name` holds exactly `expected` keys.
async fn wait_for_keys(op: &Operator, name: &str, expected: &[&str]) -> Secret {
    let mut want: Vec<String> = expected.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    crate::support::wait_for(
        &format!("Secret {name} with keys {want:?}"),
        std::time::Duration::from_secs(15),
        || match op.secret(name) {
            Some(s) if keys(&s) == want => Ok(s),
            Some(s) => Err(format!("keys {:?}", keys(&s))),
            None => Err("no Secret".to_owned()),
        },
    )
    .await
}

#[tokio::test]
async fn changing_the_format_rewrites_the_secret_and_keeps_the_password() {
    let mut op = Operator::start().await;
    op.apply(instance("shop", json!({}))).await;
    let ready = op.wait_for("shop", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();
    let first = op.secret("shop-connection").unwrap();
    let password = secret_value(&first, "NEO4J_PASSWORD").expect("a password");
    assert_eq!(
        count(&op, "ConnectionSecretChanged"),
        0,
        "a new Secret is no change"
    );

    // No memory of the password: only the Secret, in its old format, has it.
    op.crash().await;
    op.patch_spec(
        "shop",
        json!({"connectionSecret": {"format": "spring-boot"}}),
    )
    .await;
    op.restart();
    let spring = wait_for_keys(
        &op,
        "shop-connection",
        &[
            "SPRING_NEO4J_URI",
            "SPRING_NEO4J_AUTHENTICATION_USERNAME",
            "SPRING_NEO4J_AUTHENTICATION_PASSWORD",
        ],
    )
    .await;
    assert_eq!(
        secret_value(&spring, "SPRING_NEO4J_AUTHENTICATION_PASSWORD"),
        Some(password.clone())
    );
    assert_eq!(
        secret_value(&spring, "SPRING_NEO4J_URI"),
        Some(format!("neo4j+s://{id}.databases.neo4j.io"))
    );
    assert_ne!(
        hash(&spring),
        hash(&first),
        "the content hash follows the content"
    );
    assert_eq!(count(&op, "ConnectionSecretChanged"), 1);

    // Again from the new format, into one that nests the password in a file.
    op.crash().await;
    op.patch_spec("shop", json!({"connectionSecret": {"format": "dotenv"}}))
        .await;
    op.restart();
    let dotenv = wait_for_keys(&op, "shop-connection", &["credentials.env"]).await;
    let file = secret_value(&dotenv, "credentials.env").unwrap();
    assert!(
        file.contains(&format!("\nNEO4J_PASSWORD={password}\n")),
        "no password line"
    );
    assert!(file.contains(&format!("\nAURA_INSTANCEID={id}\n")));

    // And out of the file, into keys of the user's own.
    op.crash().await;
    op.patch_spec(
        "shop",
        json!({"connectionSecret": {"format": null, "keys": {
            "DB_PASS": "{{ password }}",
            "DB_URL": "bolt+s://{{ host }}:7687"
        }}}),
    )
    .await;
    op.restart();
    let custom = wait_for_keys(&op, "shop-connection", &["DB_PASS", "DB_URL"]).await;
    assert_eq!(secret_value(&custom, "DB_PASS"), Some(password));
    assert_eq!(
        secret_value(&custom, "DB_URL"),
        Some(format!("bolt+s://{id}.databases.neo4j.io:7687"))
    );
    let settled = op.wait_for("shop", "Ready", is_ready).await;
    assert_eq!(settled.status.unwrap().password_stored, Some(true));
    assert_eq!(count(&op, "ConnectionSecretChanged"), 3);
    assert_eq!(
        op.emu.handle().instances().len(),
        1,
        "nothing was recreated"
    );

    // The steady state writes nothing and tells nothing.
    let written = hash(&custom);
    let writes = op.api.counters().all_writes_to("", "secrets");
    op.after_passes("AuraInstance", 3).await;
    assert_eq!(hash(&op.secret("shop-connection").unwrap()), written);
    assert_eq!(op.api.counters().all_writes_to("", "secrets"), writes);
    assert_eq!(count(&op, "ConnectionSecretChanged"), 3);
}

#[tokio::test]
async fn a_secret_kept_in_one_format_gives_its_password_to_an_adopter_in_another() {
    let op = Operator::start().await;
    op.apply(instance(
        "old",
        json!({"connectionSecret": {"format": "dotenv"}, "connectionConfigMap": {}}),
    ))
    .await;
    let ready = op.wait_for("old", "Ready", is_ready).await;
    let id = ready.status.unwrap().instance_id.unwrap();
    let file = secret_value(&op.secret("old-connection").unwrap(), "credentials.env").unwrap();
    let password = file
        .lines()
        .find_map(|l| l.strip_prefix("NEO4J_PASSWORD="))
        .unwrap()
        .to_owned();
    op.delete("old").await;
    op.wait_gone("old").await;

    // Another resource, another name, the default format: the kept dotenv file has the password.
    op.apply(instance("new", json!({"instanceId": id}))).await;
    let adopted = op.wait_for("new", "Ready", is_ready).await;
    assert_eq!(adopted.status.unwrap().password_stored, Some(true));
    let secret = op.secret("new-connection").unwrap();
    assert_eq!(secret_value(&secret, "NEO4J_PASSWORD"), Some(password));
    assert!(op.event_reasons().iter().any(|r| r == "PasswordRecovered"));
}

#[tokio::test]
async fn service_binding_writes_the_specs_keys_and_names_the_secret_in_status() {
    let op = Operator::start().await;
    op.apply(instance(
        "bound",
        json!({"connectionSecret": {"format": "service-binding"}}),
    ))
    .await;
    let ready = op
        .wait_for("bound", "binding", |o| {
            is_ready(o) && o.status.as_ref().unwrap().binding.is_some()
        })
        .await;
    let id = ready.status.as_ref().unwrap().instance_id.clone().unwrap();
    assert_eq!(
        ready
            .status
            .as_ref()
            .unwrap()
            .binding
            .as_ref()
            .unwrap()
            .name,
        "bound-connection"
    );
    let secret = wait_for_keys(
        &op,
        "bound-connection",
        &["type", "provider", "uri", "host", "username", "password"],
    )
    .await;
    assert_eq!(secret_value(&secret, "type").as_deref(), Some("neo4j"));
    assert_eq!(secret_value(&secret, "provider").as_deref(), Some("aura"));
    assert_eq!(
        secret_value(&secret, "host"),
        Some(format!("{id}.databases.neo4j.io"))
    );
    let password = secret_value(&secret, "password").expect("a password");

    // A session attached to it, bound the same way, carries the instance's credentials.
    op.create::<GdsSession>(resource(
        "GdsSession",
        "graphs",
        json!({"instanceRef": {"name": "bound"}, "memory": "8GB",
               "connectionSecret": {"format": "service-binding"}}),
    ))
    .await;
    let session = op
        .wait_for_any::<GdsSession>("graphs", "Ready", is_ready)
        .await;
    let st = session.status.unwrap();
    assert_eq!(st.binding.unwrap().name, "graphs-gds");
    let secret = op.secret("graphs-gds").unwrap();
    assert_eq!(
        secret_value(&secret, "type").as_deref(),
        Some("neo4j-gds-session")
    );
    assert_eq!(secret_value(&secret, "password"), Some(password));
    assert_eq!(
        secret_value(&secret, "uri"),
        Some(format!("neo4j+s://{}", st.host.unwrap()))
    );

    // Another format: no binding any more.
    op.patch_spec("bound", json!({"connectionSecret": {"format": "jdbc"}}))
        .await;
    op.wait_for("bound", "unbound", |o| {
        o.status.as_ref().unwrap().binding.is_none()
    })
    .await;
    let jdbc = wait_for_keys(
        &op,
        "bound-connection",
        &["JDBC_URL", "JDBC_USERNAME", "JDBC_PASSWORD"],
    )
    .await;
    assert_eq!(
        secret_value(&jdbc, "JDBC_URL"),
        Some(format!("jdbc:neo4j+s://{id}.databases.neo4j.io"))
    );
}

#[tokio::test]
async fn a_session_secret_takes_keys_of_the_users_own_then_service_binding() {
    let op = Operator::start().await;
    op.apply(instance(
        "db",
        json!({"connectionSecret": {"format": "spring-boot"}}),
    ))
    .await;
    op.wait_for("db", "Ready", is_ready).await;
    let db = op.secret("db-connection").unwrap();
    op.create::<GdsSession>(resource(
        "GdsSession",
        "mine",
        json!({"instanceRef": {"name": "db"}, "memory": "8GB",
        "connectionSecret": {"keys": {
            "GDS_URL": "{{ session_uri }}",
            "DB_PASSWORD": "{{ password }}",
            "DB_URL": "{{ uri }}"
        }}}),
    ))
    .await;
    op.wait_for_any::<GdsSession>("mine", "Ready", is_ready)
        .await;
    let secret = wait_for_keys(&op, "mine-gds", &["GDS_URL", "DB_PASSWORD", "DB_URL"]).await;
    // Read from the instance's Secret, which is in another format.
    assert_eq!(
        secret_value(&secret, "DB_PASSWORD"),
        secret_value(&db, "SPRING_NEO4J_AUTHENTICATION_PASSWORD")
    );
    assert_eq!(
        secret_value(&secret, "DB_URL"),
        secret_value(&db, "SPRING_NEO4J_URI")
    );

    // From its own keys to service-binding: the old keys go, the binding is named.
    let patch = json!({"spec": {"connectionSecret": {"keys": null, "format": "service-binding"}}});
    op.sessions()
        .patch("mine", &user_patch(), &Patch::Merge(&patch))
        .await
        .expect("patched");
    let bound = wait_for_keys(
        &op,
        "mine-gds",
        &[
            "type",
            "provider",
            "uri",
            "host",
            "username",
            "password",
            "database-uri",
        ],
    )
    .await;
    assert_eq!(
        secret_value(&bound, "password"),
        secret_value(&db, "SPRING_NEO4J_AUTHENTICATION_PASSWORD")
    );
    op.wait_for_any::<GdsSession>("mine", "binding", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.binding.as_ref())
            .map(|b| b.name.as_str())
            == Some("mine-gds")
    })
    .await;
    assert_eq!(count(&op, "ConnectionSecretChanged"), 1);
}

#[tokio::test]
async fn a_template_naming_an_unknown_field_is_refused_before_anything_is_written() {
    let op = Operator::start().await;
    op.apply(instance(
        "typo",
        json!({"connectionSecret": {"keys": {
            "PASSWORD": "{{ password }}",
            "URL": "{{ url }}"
        }}}),
    ))
    .await;
    let refused = op
        .wait_for("typo", "InvalidSpec", |o| ready_reason(o, "InvalidSpec"))
        .await;
    let ready = refused
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("connectionSecret.keys.URL"),
        "{}",
        ready.message
    );
    assert!(ready.message.contains("url"), "{}", ready.message);
    assert!(op.event_reasons().iter().any(|r| r == "InvalidSpec"));
    assert!(op.emu.handle().instances().is_empty(), "no Aura instance");
    assert!(op.secret("typo-connection").is_none(), "no Secret");
}

#[tokio::test]
async fn the_config_map_holds_what_is_not_secret_and_outlives_a_retained_resource() {
    let op = Operator::start().await;
    op.apply(instance("open", json!({"connectionConfigMap": {}})))
        .await;
    let ready = op
        .wait_for("open", "ConfigMap recorded", |o| {
            is_ready(o) && o.status.as_ref().unwrap().connection_config_map.is_some()
        })
        .await;
    let id = ready.status.as_ref().unwrap().instance_id.clone().unwrap();
    let config_map = op
        .api
        .get_as::<ConfigMap>(Some(NS), "open-connection")
        .unwrap();
    let data = config_map.data.unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [
            "AURA_INSTANCEID",
            "AURA_INSTANCENAME",
            "NEO4J_HOST",
            "NEO4J_URI"
        ]
    );
    assert_eq!(data["NEO4J_HOST"], format!("{id}.databases.neo4j.io"));
    let owner = &config_map.metadata.owner_references.unwrap()[0];
    assert_eq!(Some(&owner.uid), ready.metadata.uid.as_ref());

    // deletionPolicy Retain (the default): the instance runs on, so what points at it stays.
    op.delete("open").await;
    op.wait_gone("open").await;
    let kept = op
        .api
        .get_as::<ConfigMap>(Some(NS), "open-connection")
        .expect("the ConfigMap outlives its resource");
    assert!(kept.metadata.owner_references.is_none_or(|o| o.is_empty()));
}

#[tokio::test]
async fn a_config_map_no_longer_asked_for_is_deleted() {
    let op = Operator::start().await;
    op.apply(instance(
        "brief",
        json!({"connectionConfigMap": {"name": "brief-info"}}),
    ))
    .await;
    op.wait_for("brief", "ConfigMap recorded", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.connection_config_map.as_deref())
            == Some("brief-info")
    })
    .await;
    assert!(op.api.get_as::<ConfigMap>(Some(NS), "brief-info").is_some());
    op.patch_spec("brief", json!({"connectionConfigMap": null}))
        .await;
    op.wait_for("brief", "ConfigMap dropped", |o| {
        o.status.as_ref().unwrap().connection_config_map.is_none()
    })
    .await;
    assert!(op.api.get_as::<ConfigMap>(Some(NS), "brief-info").is_none());
}
