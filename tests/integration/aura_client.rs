//! The Aura client against the emulator over real HTTP: auth, retries, errors, and every
//! endpoint family.

use std::time::{Duration, Instant};

use crate::support::*;
use aura_operator::aura::{
    CloudProvider, CreateInstance, CreateSession, Deletion, Error, ErrorCategory, InstanceId,
    InstanceStatus, InstanceType, OverwriteStarted, Placement, SessionFilter, SizeEstimateRequest,
    SnapshotStatus, TenantId, UpdateInstance,
};
use aura_operator::emulator::{DEFAULT_TENANT_ID, EmulatorConfig, Fault};
use http::Method;
use secrecy::ExposeSecret;

const TOKEN: &str = "/oauth/token";
const INSTANCES: &str = "/v1/instances";

fn tenant() -> TenantId {
    TenantId::new(DEFAULT_TENANT_ID).unwrap()
}

/// Instances visible the moment they are created. For tests about something else: the window in
/// which Aura answers 404 for a new instance has its own test.
fn visible_at_once(config: EmulatorConfig) -> EmulatorConfig {
    EmulatorConfig {
        invisible_after_create: Duration::ZERO,
        ..config
    }
}

fn create_request(name: &str) -> CreateInstance {
    CreateInstance::new(
        name,
        tenant(),
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    )
}

#[tokio::test]
async fn one_token_serves_many_requests() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    for _ in 0..5 {
        client.tenants().list().await.unwrap();
    }
    let stats = emu.handle().stats();
    assert_eq!(stats.count("POST", TOKEN, 200), 1);
    assert_eq!(stats.count("GET", "/v1/tenants", 200), 5);
}

#[tokio::test]
async fn token_is_renewed_before_it_expires_without_a_refused_request() {
    let emu = start(EmulatorConfig {
        token_ttl: Duration::from_secs(2),
        ..fast_config()
    })
    .await;
    let client = client(&emu);
    client.tenants().list().await.unwrap();
    // A 2 s token is replaced after 1.5 s (the refresh margin shrinks to a quarter of the life).
    tokio::time::sleep(Duration::from_millis(1600)).await;
    client.tenants().list().await.unwrap();
    let stats = emu.handle().stats();
    assert_eq!(stats.count("POST", TOKEN, 200), 2);
    assert_eq!(
        stats.count("GET", "/v1/tenants", 403) + stats.count("GET", "/v1/tenants", 401),
        0
    );
}

async fn expired_token_is_refreshed_once(status: u16) {
    let emu = start(EmulatorConfig {
        expired_token_status: status,
        ..fast_config()
    })
    .await;
    let client = client(&emu);
    client.tenants().list().await.unwrap();
    emu.handle().expire_all_tokens();
    let tenants = client.tenants().list().await.unwrap();
    assert!(!tenants.is_empty());
    let stats = emu.handle().stats();
    assert_eq!(
        stats.count("GET", "/v1/tenants", status),
        1,
        "one refused request"
    );
    assert_eq!(stats.count("POST", TOKEN, 200), 2, "one new token");
    assert_eq!(stats.count("GET", "/v1/tenants", 200), 2);
}

#[tokio::test]
async fn expired_token_answered_with_403_is_refreshed_and_the_request_resent() {
    expired_token_is_refreshed_once(403).await;
}

#[tokio::test]
async fn expired_token_answered_with_401_is_refreshed_and_the_request_resent() {
    expired_token_is_refreshed_once(401).await;
}

#[tokio::test]
async fn a_persistent_403_is_refreshed_only_once_then_reported() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(5)
            .respond(403),
    );
    let err = client.tenants().list().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Unauthorized);
    assert_eq!(emu.handle().stats().count("GET", "/v1/tenants", 403), 2);
}

#[tokio::test]
async fn wrong_credentials_fail_with_an_unauthorized_error_that_hides_the_secret() {
    let emu = start(fast_config()).await;
    let creds =
        aura_operator::aura::Credentials::new(CLIENT_ID, "wrong-secret-123".to_owned()).unwrap();
    let client = aura_operator::aura::ClientBuilder::new(creds)
        .base_url(emu.base_url())
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let err = client.tenants().list().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Unauthorized);
    assert_eq!(err.api().unwrap().route, "/oauth/token");
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("wrong-secret-123"), "{text}");
    }
}

#[tokio::test]
async fn idempotent_requests_are_retried_through_server_errors() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(2)
            .respond(503),
    );
    client.tenants().list().await.unwrap();
    let stats = emu.handle().stats();
    assert_eq!(stats.count("GET", "/v1/tenants", 503), 2);
    assert_eq!(stats.count("GET", "/v1/tenants", 200), 1);
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    let emu = start(fast_config()).await;
    let client = builder(&emu).max_retries(2).build().unwrap();
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(10)
            .respond(502),
    );
    let err = client.tenants().list().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::ServerError);
    assert_eq!(err.api().unwrap().attempts, 3);
    assert_eq!(emu.handle().stats().count("GET", "/v1/tenants", 502), 3);
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    client.tenants().list().await.unwrap();
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(1)
            .respond(429)
            .retry_after(1),
    );
    let started = Instant::now();
    client.tenants().list().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn create_is_not_resent_after_a_server_error() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::POST), INSTANCES)
            .times(1)
            .respond(503),
    );
    let err = client
        .instances()
        .create(&create_request("once"))
        .await
        .unwrap_err();
    assert!(
        err.request_may_have_acted(),
        "a 5xx may hide a created instance"
    );
    assert_eq!(emu.handle().stats().count_route("POST", INSTANCES), 1);
}

#[tokio::test]
async fn create_is_resent_after_a_429_because_aura_did_not_act() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::POST), INSTANCES)
            .times(1)
            .respond(429)
            .retry_after(0),
    );
    client
        .instances()
        .create(&create_request("after-429"))
        .await
        .unwrap();
    assert_eq!(emu.handle().instances().len(), 1);
}

#[tokio::test]
async fn a_lost_create_response_is_reported_as_maybe_acted_and_the_instance_can_be_found() {
    let emu = start(visible_at_once(fast_config())).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::POST), INSTANCES)
            .times(1)
            .drop_after(),
    );
    let err = client
        .instances()
        .create(&create_request("lost-answer"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Transport);
    assert!(err.request_may_have_acted());
    assert_eq!(
        emu.handle().stats().count_route("POST", INSTANCES),
        1,
        "never resent"
    );
    let found: Vec<_> = client.instances().list(None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "lost-answer");
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_reported_as_not_acted() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.shutdown().await;
    let err = client.tenants().list().await.unwrap_err();
    match &err {
        Error::Transport {
            attempts,
            maybe_acted,
            ..
        } => {
            assert_eq!(*attempts, 4);
            assert!(!maybe_acted);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.request_may_have_acted());
}

#[tokio::test]
async fn validation_errors_from_aura_name_the_field() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let mut request = create_request("bad-region");
    request.region = "mars-north1".into();
    let err = client.instances().create(&request).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 400);
    assert_eq!(api.field.as_deref(), Some("region"));
    assert!(api.request_id.is_some(), "X-Request-Id is kept");
    assert_eq!(err.category(), ErrorCategory::Validation);
}

#[tokio::test]
async fn bad_arguments_are_rejected_before_any_request() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let err = client
        .instances()
        .create(&CreateInstance {
            memory: "3GB".into(),
            ..create_request("x")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "memory",
                ..
            }
        ),
        "{err}"
    );
    assert!(InstanceId::new("NOT-AN-ID").is_err());
    assert_eq!(emu.handle().stats().total_requests, 0);
}

#[tokio::test]
async fn gateway_error_bodies_are_read() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(1)
            .gateway_error(400),
    );
    let err = client.tenants().list().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status, 400);
    assert!(!api.message.is_empty());
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_decode_errors() {
    let emu = start(fast_config()).await;
    let client = builder(&emu).max_response_bytes(64 * 1024).build().unwrap();
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(1)
            .malformed_body(),
    );
    let err = client.tenants().list().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Decode, "{err}");
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/tenants")
            .times(1)
            .oversized_body(),
    );
    let err = client.tenants().list().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Decode, "{err}");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn tenants_are_listed_fetched_and_found_by_name() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let tenants = client.tenants().list().await.unwrap();
    let first = &tenants[0];
    let id = client.tenants().find_id_by_name(&first.name).await.unwrap();
    assert_eq!(id, first.id);
    let tenant = client.tenants().get(&id).await.unwrap();
    assert!(!tenant.instance_configurations.is_empty());
    let err = client
        .tenants()
        .find_id_by_name("No Such Tenant")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`tenant_name`"), "{err}");
    let missing = TenantId::new("00000000-0000-4000-8000-00000000dead").unwrap();
    assert!(
        client
            .tenants()
            .get(&missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn instance_lifecycle_create_resize_pause_resume_delete() {
    // Default (300 ms) transitions leave ample time to see the 409 during the resize.
    let emu = start(visible_at_once(EmulatorConfig::default())).await;
    let client = client(&emu);
    let created = client
        .instances()
        .create(&create_request("lifecycle"))
        .await
        .unwrap();
    assert_eq!(created.username, "neo4j");
    assert!(!created.password.expose_secret().is_empty());
    let id = created.id.clone();

    let running = client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(running.memory.as_deref(), Some("2GB"));
    assert_eq!(
        running.connection_url.as_deref(),
        Some(format!("neo4j+s://{id}.databases.neo4j.io").as_str())
    );

    let update = UpdateInstance {
        memory: Some("4GB".into()),
        ..Default::default()
    };
    let updating = client.instances().update(&id, &update).await.unwrap();
    assert_eq!(updating.status, InstanceStatus::Updating);
    let busy = client.instances().pause(&id).await.unwrap_err();
    assert!(
        busy.is_busy(),
        "a mutation during a transition is a 409: {busy}"
    );
    let resized = client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(resized.memory.as_deref(), Some("4GB"));

    assert_eq!(
        client.instances().pause(&id).await.unwrap().status,
        InstanceStatus::Pausing
    );
    client
        .wait_for_instance(&id, &[InstanceStatus::Paused], WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(
        client.instances().resume(&id).await.unwrap().status,
        InstanceStatus::Resuming
    );
    client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();

    match client.instances().delete(&id).await.unwrap() {
        Deletion::Accepted(instance) => assert!(instance.status.is_being_deleted()),
        other => panic!("{other:?}"),
    }
    client
        .wait_for_instance_gone(&id, WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(
        client.instances().delete(&id).await.unwrap(),
        Deletion::AlreadyGone
    );
}

#[tokio::test]
async fn a_new_instance_is_not_found_until_aura_shows_it() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let id = client
        .instances()
        .create(&create_request("shy"))
        .await
        .unwrap()
        .id;
    let err = client.instances().get(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(client.instances().list(None).await.unwrap().is_empty());
    emu.handle()
        .advance_clock(aura_operator::emulator::DEFAULT_INVISIBLE_AFTER_CREATE);
    assert_eq!(client.instances().get(&id).await.unwrap().id, id);
    assert_eq!(client.instances().list(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn errors_beside_the_data_of_a_get_mean_not_found() {
    let emu = start(visible_at_once(fast_config())).await;
    let client = client(&emu);
    let id = client
        .instances()
        .create(&create_request("embedded"))
        .await
        .unwrap()
        .id;
    emu.handle().inject(
        Fault::on(Some(Method::GET), "/v1/instances/*")
            .embedded_errors()
            .reason("db-not-found")
            .message("Database not found"),
    );
    let err = client.instances().get(&id).await.unwrap_err();
    assert!(matches!(err, Error::EmbeddedErrors { .. }), "{err:?}");
    assert!(err.is_not_found());
    assert_eq!(err.category(), ErrorCategory::NotFound);
    assert_eq!(err.reason(), Some("db-not-found"));
    assert!(err.to_string().contains("Database not found"), "{err}");
    assert_eq!(
        emu.handle().stats().count("GET", "/v1/instances/{id}", 200),
        1,
        "read once, not retried"
    );
    assert_eq!(client.instances().get(&id).await.unwrap().id, id);

    let tenant = tenant();
    emu.handle()
        .inject(Fault::on(Some(Method::GET), "/v1/tenants/*").embedded_errors());
    let err = client.tenants().get(&tenant).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn snapshots_restore_and_overwrite() {
    let emu = start(visible_at_once(fast_config())).await;
    let client = client(&emu);
    let a = client
        .instances()
        .create(&create_request("source"))
        .await
        .unwrap()
        .id;
    let b = client
        .instances()
        .create(&create_request("target"))
        .await
        .unwrap()
        .id;
    for id in [&a, &b] {
        client
            .wait_for_instance(id, &[InstanceStatus::Running], WAIT, quick_polls())
            .await
            .unwrap();
    }

    let snap = client.snapshots(&a).create().await.unwrap();
    let done = client
        .wait_for_snapshot(&a, &snap, WAIT, quick_polls())
        .await
        .unwrap();
    assert_eq!(done.status, SnapshotStatus::Completed);
    assert_eq!(done.exportable, Some(true));
    let today = client.snapshots(&a).list(None).await.unwrap();
    assert!(today.iter().any(|s| s.snapshot_id == snap));
    let long_ago = jiff::civil::date(2020, 1, 1);
    assert!(
        client
            .snapshots(&a)
            .list(Some(long_ago))
            .await
            .unwrap()
            .is_empty()
    );

    let restoring = client.snapshots(&a).restore(&snap).await.unwrap();
    assert_eq!(restoring.status, InstanceStatus::Restoring);
    client
        .wait_for_instance(&a, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();

    match client
        .instances()
        .overwrite_from_snapshot(&b, &a, &snap)
        .await
        .unwrap()
    {
        OverwriteStarted::Instance(i) => assert_eq!(i.status, InstanceStatus::Overwriting),
        OverwriteStarted::Job(job) => assert!(!job.is_empty()),
    }
    client
        .wait_for_instance(&b, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    client
        .instances()
        .overwrite_from_instance(&b, &a)
        .await
        .unwrap();
    client
        .wait_for_instance(&b, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();

    let missing =
        aura_operator::aura::SnapshotId::new("00000000-0000-4000-8000-00000000beef").unwrap();
    assert!(
        client
            .snapshots(&a)
            .get(&missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn customer_managed_keys_are_created_listed_and_deleted() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let key = client
        .cmeks()
        .create(&aura_operator::aura::CreateCmek {
            key_id: "arn:aws:kms:us-east-1:111122223333:key/abc".into(),
            name: "orders-key".into(),
            cloud_provider: CloudProvider::Aws,
            instance_type: InstanceType::EnterpriseDb,
            region: "us-east-1".into(),
            tenant_id: tenant(),
        })
        .await
        .unwrap();
    let listed = client.cmeks().list(Some(&tenant())).await.unwrap();
    assert!(listed.iter().any(|k| k.id == key.id));
    assert_eq!(
        client.cmeks().get(&key.id).await.unwrap().name,
        "orders-key"
    );
    client.cmeks().delete(&key.id).await.unwrap();
    assert!(
        client
            .cmeks()
            .get(&key.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn gds_sessions_are_get_or_create_and_deleted() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let estimate = client
        .sessions()
        .estimate(&SizeEstimateRequest {
            node_count: 1_000_000,
            node_label_count: 3,
            node_property_count: 2_000_000,
            relationship_count: 5_000_000,
            relationship_property_count: 0,
            algorithm_categories: vec![aura_operator::aura::AlgorithmCategory::Centrality],
        })
        .await
        .unwrap();
    assert!(aura_operator::aura::SESSION_MEMORY.contains(&estimate.recommended_size.as_str()));

    let request = CreateSession {
        name: "nightly-job".into(),
        memory: estimate.recommended_size.clone(),
        ttl: Some(Duration::from_secs(600)),
        placement: Placement::Standalone {
            tenant_id: tenant(),
            cloud_provider: CloudProvider::Gcp,
            region: "europe-west1".into(),
        },
    };
    let first = client.sessions().create(&request).await.unwrap();
    assert!(first.created);
    let again = client.sessions().create(&request).await.unwrap();
    assert!(!again.created, "the same name returns the same session");
    assert_eq!(again.session.id, first.session.id);

    let id = first.session.id.clone();
    let listed = client
        .sessions()
        .list(&SessionFilter {
            tenant_id: Some(tenant()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let got = client.sessions().get(&id).await.unwrap();
    assert!(got.bolt_url().is_some());
    assert!(client.sessions().delete(&id).await.unwrap());
    assert!(
        !client.sessions().delete(&id).await.unwrap(),
        "a second delete finds nothing"
    );
}

#[tokio::test]
async fn expired_sessions_report_the_problem() {
    let emu = start(fast_config()).await;
    let client = client(&emu);
    let request = CreateSession {
        name: "short".into(),
        memory: "4GB".into(),
        ttl: Some(Duration::from_secs(60)),
        placement: Placement::Standalone {
            tenant_id: tenant(),
            cloud_provider: CloudProvider::Gcp,
            region: "europe-west1".into(),
        },
    };
    let id = client.sessions().create(&request).await.unwrap().session.id;
    emu.handle().advance_clock(Duration::from_secs(3600));
    let session = client.sessions().get(&id).await.unwrap();
    assert_eq!(session.status, aura_operator::aura::SessionStatus::Expired);
    assert!(!session.problems.is_empty());
}

#[tokio::test]
async fn instance_metrics_are_fetched_and_summarised() {
    let emu = start(visible_at_once(fast_config())).await;
    let client = client(&emu);
    // shared/aura-api.md §10: metrics are offered for enterprise-db (among others) only.
    let request = CreateInstance {
        instance_type: InstanceType::EnterpriseDb,
        ..create_request("observed")
    };
    let id = client.instances().create(&request).await.unwrap().id;
    let running = client
        .wait_for_instance(&id, &[InstanceStatus::Running], WAIT, quick_polls())
        .await
        .unwrap();
    let url = running.metrics_integration_url.expect("a metrics endpoint");
    let metrics = client.prometheus().fetch(&url).await.unwrap();
    assert!(!metrics.by_name.is_empty());
    let health = client
        .prometheus()
        .instance_health(&id, &url)
        .await
        .unwrap();
    assert_ne!(
        health.overall,
        aura_operator::aura::HealthStatus::Unknown,
        "{health:?}"
    );
    assert!(health.cpu_usage_percent.is_some());
    assert!(health.missing.is_empty(), "{health:?}");

    let integration = client
        .tenants()
        .metrics_integration(&tenant())
        .await
        .unwrap();
    assert!(
        client
            .prometheus()
            .fetch(&integration.endpoint)
            .await
            .is_ok()
    );
    let err = client
        .prometheus()
        .fetch("http://127.0.0.1:1/metrics")
        .await;
    assert!(err.is_err());
}
