//! Secrets never reach log output, error text or `Debug` output, even at TRACE level.
//!
//! This file is its own test binary because it installs a global tracing subscriber.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_operator::aura::{CloudProvider, CreateInstance, Credentials, InstanceType, TenantId};
use aura_operator::emulator::{DEFAULT_TENANT_ID, EmulatorConfig, Fault};
use http::Method;
use secrecy::ExposeSecret;
use support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_appears_in_logs_errors_or_debug_output() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    // Visible at once: the GET right after the create is about the token, not Aura's delay.
    let emu = start(EmulatorConfig {
        invisible_after_create: Duration::ZERO,
        ..fast_config()
    })
    .await;
    let client = client(&emu);
    let tenant = TenantId::new(DEFAULT_TENANT_ID).unwrap();
    let request = CreateInstance::new(
        "secretive",
        tenant,
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    );
    let created = client.instances().create(&request).await.unwrap();
    let password = created.password.expose_secret().to_owned();
    assert!(password.len() >= 8);

    // Paths that carry secrets: token refresh after expiry, a refused credential, a create whose
    // answer is lost, and a create answered with an undecodable body.
    emu.handle().expire_all_tokens();
    client.instances().get(&created.id).await.unwrap();
    let wrong = Credentials::new(CLIENT_ID, "not-the-secret-4711".to_owned()).unwrap();
    let bad_client = aura_operator::aura::ClientBuilder::new(wrong)
        .base_url(emu.base_url())
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let auth_err = bad_client.tenants().list().await.unwrap_err();
    emu.handle().inject(
        Fault::on(Some(Method::POST), "/v1/instances")
            .times(1)
            .malformed_body(),
    );
    let decode_err = client.instances().create(&request).await.unwrap_err();

    // The controller's whole create path, Secret write included, with Bolt logins (checks and a
    // password rotation) on.
    let operator = support::operator::Operator::start_verifying().await;
    let obj = serde_json::json!({
        "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "logged", "namespace": "default"},
        "spec": {"tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp", "region": "europe-west1",
                 "type": "professional-db", "memory": "2GB"}
    });
    operator.apply(obj).await;
    operator
        .wait_for("logged", "Ready", support::operator::is_ready)
        .await;
    let secret = operator
        .secret("logged-connection")
        .expect("connection Secret");
    let operator_password =
        support::operator::secret_value(&secret, "NEO4J_PASSWORD").expect("a password");
    let rotate = serde_json::json!({"metadata": {"annotations": {
        "aura.neo4j.io/rotate-password": "logged-1"}}});
    operator
        .instances()
        .patch(
            "logged",
            &support::operator::user_patch(),
            &kube::api::Patch::Merge(&rotate),
        )
        .await
        .unwrap();
    let rotated_password = support::wait_for("a rotation", Duration::from_secs(15), || {
        let secret = operator.secret("logged-connection").ok_or("no Secret")?;
        let now = support::operator::secret_value(&secret, "NEO4J_PASSWORD").ok_or("none")?;
        let pending = support::operator::secret_value(&secret, "aura-operator.pending-password");
        if now == operator_password || pending.is_some() {
            return Err("not rotated yet".to_owned());
        }
        Ok(now)
    })
    .await;
    operator
        .wait_for("logged", "the rotated password verified", |obj| {
            support::operator::condition(obj, "ConnectionVerified")
                .is_some_and(|c| c.status == "True")
        })
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("aura call"),
        "the client logged its calls: {logs}"
    );
    let debug_texts = [
        format!("{created:?}"),
        format!("{client:?}"),
        format!("{bad_client:?}"),
        format!("{auth_err:?} {auth_err}"),
        format!("{decode_err:?} {decode_err}"),
    ];
    assert!(
        logs.contains("reconciled"),
        "the controller logged its passes"
    );
    let encoded = base64_of(&operator_password);
    for secret in [
        password.as_str(),
        operator_password.as_str(),
        rotated_password.as_str(),
        encoded.as_str(),
        CLIENT_SECRET,
        "not-the-secret-4711",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        for text in &debug_texts {
            assert!(
                !text.contains(secret),
                "a secret reached Debug/Display output: {text}"
            );
        }
    }
    for marker in ["Bearer ", "access_token\":\"", "Basic "] {
        assert!(!logs.contains(marker), "{marker:?} reached the logs");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
