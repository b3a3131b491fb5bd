//! The emulator's Bolt listener against the real neo4rs driver over verified TLS (issue 22).

use std::path::Path;

use crate::support::*;
use aura_operator::aura::{CloudProvider, CreateInstance, InstanceStatus, InstanceType, TenantId};
use aura_operator::emulator::{self, DEFAULT_TENANT_ID, EmulatorConfig, RunningEmulator};
use neo4rs::{ConfigBuilder, Graph, query};
use secrecy::ExposeSecret;

fn bolt_config() -> EmulatorConfig {
    EmulatorConfig {
        bolt: true,
        invisible_after_create: std::time::Duration::ZERO,
        ..fast_config()
    }
}

/// A running instance: its id, connection URL and the password of the create response.
async fn running_instance(emu: &RunningEmulator) -> (String, String, String) {
    let client = client(emu);
    let request = CreateInstance::new(
        "bolt",
        TenantId::new(DEFAULT_TENANT_ID).unwrap(),
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    );
    let created = client.instances().create(&request).await.unwrap();
    let id = created.id.clone();
    let running = client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    let url = running
        .connection_url
        .expect("a running instance has a URL");
    (
        id.to_string(),
        url,
        created.password.expose_secret().to_string(),
    )
}

fn driver(url: &str, user: &str, password: &str, ca: &Path, db: &str) -> Graph {
    let _already = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::default()
        .uri(url)
        .user(user)
        .password(password)
        .db(db)
        .with_client_certificate(ca)
        .build()
        .expect("driver config");
    Graph::connect(config).expect("driver")
}

async fn return_one(graph: &Graph) -> Result<i64, neo4rs::Error> {
    let mut rows = graph.execute(query("RETURN 1 AS one")).await?;
    let row = rows.next().await?.expect("one row");
    Ok(row.get::<i64>("one").expect("an integer column"))
}

fn is_unauthorized(error: &neo4rs::Error) -> bool {
    matches!(error, neo4rs::Error::AuthenticationError(m) if m.contains("unauthorized"))
}

#[tokio::test]
async fn the_driver_logs_in_over_verified_tls_and_runs_return_1() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().expect("a CA file").to_path_buf();
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let (_, url, password) = running_instance(&emu).await;
    assert!(url.starts_with("neo4j+s://127.0.0.1:"), "{url}");
    let graph = driver(&url, "neo4j", &password, &ca, "neo4j");
    assert_eq!(return_one(&graph).await.expect("RETURN 1"), 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_unauthorized() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (_, url, _) = running_instance(&emu).await;
    let graph = driver(&url, "neo4j", "not-the-password", &ca, "neo4j");
    let error = return_one(&graph)
        .await
        .expect_err("a wrong password fails");
    assert!(is_unauthorized(&error), "{error:?}");
}

#[tokio::test]
async fn an_unknown_ca_fails_the_tls_handshake() {
    let emu = start(bolt_config()).await;
    let (_, url, password) = running_instance(&emu).await;
    let other = emulator::start(bolt_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wrong_ca = other.bolt_ca_file().unwrap().to_path_buf();
    let graph = driver(&url, "neo4j", &password, &wrong_ca, "neo4j");
    let error = return_one(&graph)
        .await
        .expect_err("an untrusted server fails");
    assert!(!is_unauthorized(&error), "{error:?}");
}

#[tokio::test]
async fn alter_current_user_changes_the_password_for_new_logins() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (_, url, old) = running_instance(&emu).await;
    let admin = driver(&url, "neo4j", &old, &ca, "system");
    let new = "a-brand-new-password-42";
    admin
        .run(
            query("ALTER CURRENT USER SET PASSWORD FROM $old TO $new")
                .param("old", old.as_str())
                .param("new", new),
        )
        .await
        .expect("ALTER CURRENT USER");
    let refused = return_one(&driver(&url, "neo4j", &old, &ca, "neo4j")).await;
    assert!(is_unauthorized(&refused.expect_err("the old password")));
    let accepted = return_one(&driver(&url, "neo4j", new, &ca, "neo4j")).await;
    assert_eq!(accepted.expect("the new password"), 1);
}

#[tokio::test]
async fn administration_outside_the_system_database_is_refused() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (_, url, password) = running_instance(&emu).await;
    let graph = driver(&url, "neo4j", &password, &ca, "neo4j");
    let error = graph
        .run(query("CREATE USER app SET PASSWORD 'long-enough-1'"))
        .await
        .expect_err("needs the system database");
    assert!(
        format!("{error:?}").contains("UnsupportedAdministrationCommand"),
        "{error:?}"
    );
}

#[tokio::test]
async fn create_alter_and_drop_user_for_application_users() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (id, url, password) = running_instance(&emu).await;
    let admin = driver(&url, "neo4j", &password, &ca, "system");
    admin
        .run(
            query("CREATE USER app_a SET PASSWORD $pw CHANGE NOT REQUIRED")
                .param("pw", "first-pw-123"),
        )
        .await
        .expect("CREATE USER");
    assert_eq!(
        return_one(&driver(&url, "app_a", "first-pw-123", &ca, "neo4j"))
            .await
            .unwrap(),
        1
    );
    admin
        .run(query("ALTER USER app_a SET PASSWORD $pw").param("pw", "second-pw-456"))
        .await
        .expect("ALTER USER");
    let old = return_one(&driver(&url, "app_a", "first-pw-123", &ca, "neo4j")).await;
    assert!(is_unauthorized(&old.expect_err("the replaced password")));
    assert_eq!(
        return_one(&driver(&url, "app_a", "second-pw-456", &ca, "neo4j"))
            .await
            .unwrap(),
        1
    );
    admin
        .run(query("DROP USER app_a"))
        .await
        .expect("DROP USER");
    assert_eq!(
        emu.handle().database_users(&id).unwrap(),
        vec!["neo4j".to_string()]
    );
    let gone = return_one(&driver(&url, "app_a", "second-pw-456", &ca, "neo4j")).await;
    assert!(is_unauthorized(&gone.expect_err("a dropped user")));
}

#[tokio::test]
async fn a_paused_instance_refuses_connections_and_a_console_change_takes_effect() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (id, url, password) = running_instance(&emu).await;
    let handle = emu.handle();
    handle
        .set_instance_status(&id, emulator::InstanceStatus::Paused)
        .unwrap();
    let paused = return_one(&driver(&url, "neo4j", &password, &ca, "neo4j")).await;
    let error = paused.expect_err("a paused instance cannot be reached");
    assert!(!is_unauthorized(&error), "{error:?}");

    handle
        .set_instance_status(&id, emulator::InstanceStatus::Running)
        .unwrap();
    handle
        .set_database_password(&id, "neo4j", "set-in-the-console")
        .unwrap();
    let old = return_one(&driver(&url, "neo4j", &password, &ca, "neo4j")).await;
    assert!(is_unauthorized(&old.expect_err("the console replaced it")));
    let new = return_one(&driver(&url, "neo4j", "set-in-the-console", &ca, "neo4j")).await;
    assert_eq!(new.unwrap(), 1);
}

#[tokio::test]
async fn the_control_route_changes_a_password_as_the_console_would() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (id, url, password) = running_instance(&emu).await;
    let _already = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let route = format!(
        "{}/_emulator/instances/{id}/users/neo4j/password",
        emu.origin()
    );
    let short = http
        .post(&route)
        .json(&serde_json::json!({"password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 400);
    let changed = http
        .post(&route)
        .json(&serde_json::json!({"password": "from-the-console-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let old = return_one(&driver(&url, "neo4j", &password, &ca, "neo4j")).await;
    assert!(is_unauthorized(&old.expect_err("the old password")));
    let new = return_one(&driver(&url, "neo4j", "from-the-console-1", &ca, "neo4j")).await;
    assert_eq!(new.unwrap(), 1);
}

#[tokio::test]
async fn a_deleted_instance_stops_listening() {
    let emu = start(bolt_config()).await;
    let (id, url, _) = running_instance(&emu).await;
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let id = aura_operator::aura::InstanceId::new(id.as_str()).unwrap();
    client(&emu).instances().delete(&id).await.unwrap();
    crate::support::wait_for(
        "the listener to close",
        std::time::Duration::from_secs(5),
        || match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(()),
            other => Err(format!("still accepting: {other:?}")),
        },
    )
    .await;
}

fn is_rate_limited(error: &neo4rs::Error) -> bool {
    matches!(error, neo4rs::Error::AuthenticationError(m) if m.contains("too many times in a row"))
}

#[tokio::test]
async fn three_wrong_passwords_lock_the_user_and_the_lock_passes() {
    let lock_time = std::time::Duration::from_millis(1500);
    let emu = start(EmulatorConfig {
        bolt_auth_lock: emulator::AuthLockPolicy {
            max_failed: 3,
            lock_time,
        },
        ..bolt_config()
    })
    .await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (id, url, password) = running_instance(&emu).await;
    for _ in 0..3 {
        let wrong = driver(&url, "neo4j", "not-the-password", &ca, "neo4j");
        let error = return_one(&wrong).await.unwrap_err();
        assert!(is_unauthorized(&error), "{error:?}");
    }
    // Locked: the right password is refused too, with the rate limit, not as unauthorized.
    let right = driver(&url, "neo4j", &password, &ca, "neo4j");
    let error = return_one(&right).await.unwrap_err();
    assert!(is_rate_limited(&error), "{error:?}");
    assert_eq!(emu.handle().failed_logins(&id, "neo4j"), 4);
    tokio::time::sleep(lock_time).await;
    let right = driver(&url, "neo4j", &password, &ca, "neo4j");
    assert_eq!(return_one(&right).await.unwrap(), 1);
}

#[tokio::test]
async fn a_successful_login_resets_the_count_of_failures() {
    let emu = start(bolt_config()).await;
    let ca = emu.bolt_ca_file().unwrap().to_path_buf();
    let (_, url, password) = running_instance(&emu).await;
    for _ in 0..3 {
        for _ in 0..2 {
            let wrong = driver(&url, "neo4j", "not-the-password", &ca, "neo4j");
            assert!(is_unauthorized(&return_one(&wrong).await.unwrap_err()));
        }
        let right = driver(&url, "neo4j", &password, &ca, "neo4j");
        assert_eq!(return_one(&right).await.unwrap(), 1);
    }
}
