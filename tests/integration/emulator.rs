//! End-to-end tests of the Aura API emulator over real HTTP.

use std::time::Duration;

use aura_operator::emulator::{
    DEFAULT_INVISIBLE_AFTER_CREATE, DEFAULT_TENANT_ID, EmulatorConfig, EmulatorHandle, Fault,
    InstanceStatus, RunningEmulator, SECOND_TENANT_ID, SnapshotProfile, SnapshotStatus, Timings,
    start,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Transitions take 10 s on the emulator clock, so tests see transient states and move on with
/// `advance_clock` instead of sleeping.
const STEP: Duration = Duration::from_secs(10);

/// New instances are visible at once here; the invisibility window has tests of its own, which
/// start from [`realistic_config`].
fn config() -> EmulatorConfig {
    EmulatorConfig {
        invisible_after_create: Duration::ZERO,
        ..realistic_config()
    }
}

/// The default settings (new instances invisible for two seconds), with [`STEP`] transitions.
fn realistic_config() -> EmulatorConfig {
    EmulatorConfig {
        timings: Timings::uniform(STEP),
        ..EmulatorConfig::default()
    }
}

async fn launch(config: EmulatorConfig) -> RunningEmulator {
    start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts")
}

/// reqwest is built with `rustls-no-provider`, and even `Client::builder().build()` panics for
/// plain http without a process-wide provider, so install ring (already used by kube) first.
fn http() -> reqwest::Client {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
    handle: EmulatorHandle,
    emulator: RunningEmulator,
}

async fn token_request(
    client: &reqwest::Client,
    emulator: &RunningEmulator,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    client
        .post(emulator.token_url())
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

async fn fresh_token(client: &reqwest::Client, emulator: &RunningEmulator) -> String {
    let body: Value = token_request(client, emulator, "emulator-client", "emulator-secret")
        .await
        .json()
        .await
        .expect("token json");
    body["access_token"].as_str().expect("token").to_string()
}

impl Api {
    async fn new(config: EmulatorConfig) -> Self {
        let emulator = launch(config).await;
        let client = http();
        let token = fresh_token(&client, &emulator).await;
        Self {
            token,
            base: emulator.base_url(),
            handle: emulator.handle(),
            client,
            emulator,
        }
    }

    /// A new token, after the clock moved past the old one's hour.
    async fn renew_token(&mut self) {
        self.token = fresh_token(&self.client, &self.emulator).await;
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, body)
            .await
            .expect("request succeeds")
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn create_instance(&self, overrides: Value) -> Reply {
        let mut body = json!({
            "name": "orders",
            "tenant_id": DEFAULT_TENANT_ID,
            "cloud_provider": "gcp",
            "region": "europe-west1",
            "type": "professional-db",
            "version": "5",
            "memory": "2GB",
        });
        for (key, value) in overrides.as_object().expect("object") {
            if value.is_null() {
                body.as_object_mut().expect("object").remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        self.post("/instances", body).await
    }

    /// Creates an instance and lets it reach `running`.
    async fn running_instance(&self) -> String {
        let created = self.create_instance(json!({})).await;
        assert_eq!(created.status, StatusCode::ACCEPTED);
        self.handle.advance_clock(STEP);
        created.body["data"]["id"].as_str().expect("id").to_string()
    }

    /// A request to the `/_emulator` control API.
    async fn control(&self, method: Method, path: &str, body: Value) -> Reply {
        let url = format!("http://{}/_emulator{path}", self.emulator.addr());
        let response = self
            .client
            .request(method, url)
            .json(&body)
            .send()
            .await
            .expect("control request");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The ids `GET /instances` lists.
    async fn listed_ids(&self) -> Vec<String> {
        let listed = self.get("/instances").await;
        listed.body["data"]
            .as_array()
            .expect("list")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_string())
            .collect()
    }

    async fn status_of(&self, id: &str) -> String {
        let reply = self.get(&format!("/instances/{id}")).await;
        reply.body["data"]["status"]
            .as_str()
            .unwrap_or("<none>")
            .to_string()
    }
}

fn reason(reply: &Reply) -> &str {
    reply.body["errors"][0]["reason"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens_and_refuses_bad_credentials_and_grants() {
    let emulator = launch(config()).await;
    let client = http();

    let ok = token_request(&client, &emulator, "emulator-client", "emulator-secret").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    let wrong = token_request(&client, &emulator, "emulator-client", "nope").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["errors"][0]["reason"], "invalid-credentials");

    let no_grant = client
        .post(emulator.token_url())
        .basic_auth("emulator-client", Some("emulator-secret"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("send");
    assert_eq!(no_grant.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_token_is_refused_with_the_configured_status() {
    let api = Api::new(config()).await;
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    api.handle.advance_clock(Duration::from_secs(3601));
    let expired = api.get("/tenants").await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(reason(&expired), "token-expired");

    let api = Api::new(EmulatorConfig {
        expired_token_status: 401,
        ..config()
    })
    .await;
    api.handle.expire_all_tokens();
    assert_eq!(api.get("/tenants").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_or_unknown_bearer_tokens_get_403_with_an_errors_body() {
    let api = Api::new(config()).await;
    let unknown = api
        .client
        .get(format!("{}/tenants", api.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status(), StatusCode::FORBIDDEN);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["errors"][0]["reason"], "invalid-token");
    let missing = api
        .client
        .get(format!("{}/instances", api.base))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_response_has_a_unique_request_id_and_success_bodies_are_enveloped() {
    let api = Api::new(config()).await;
    let first = api.get("/tenants").await;
    let second = api.get(&format!("/tenants/{DEFAULT_TENANT_ID}")).await;
    let missing = api
        .get("/tenants/00000000-0000-0000-0000-000000000000")
        .await;
    let ids: Vec<_> = [&first, &second, &missing]
        .iter()
        .map(|r| {
            r.headers
                .get("x-request-id")
                .expect("request id")
                .to_str()
                .expect("ascii")
                .to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_eq!(first.body["data"].as_array().expect("list").len(), 2);
    let configurations = second.body["data"]["instance_configurations"]
        .as_array()
        .expect("configs");
    assert!(
        configurations
            .iter()
            .any(|c| c["type"] == "free-db" && c["memory"] == "1GB" && c["storage"] == "2GB")
    );
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(reason(&missing), "tenant-not-found");
}

#[tokio::test]
async fn create_rejects_invalid_requests_naming_the_first_offending_field() {
    let api = Api::new(config()).await;
    let cases = [
        (json!({ "tenant_id": null }), "tenant_id"),
        (
            json!({ "tenant_id": "00000000-0000-0000-0000-000000000000" }),
            "tenant_id",
        ),
        (json!({ "cloud_provider": "azure" }), "cloud_provider"),
        (json!({ "region": "mars-1" }), "region"),
        (json!({ "type": "huge-db" }), "type"),
        (json!({ "version": "3" }), "version"),
        (json!({ "memory": "3GB" }), "memory"),
        (json!({ "storage": "1GB" }), "storage"),
        (json!({ "name": " padded" }), "name"),
        (json!({ "name": "x".repeat(31) }), "name"),
        (
            json!({ "customer_managed_key_id": "nope" }),
            "customer_managed_key_id",
        ),
        (
            json!({ "source_instance_id": "deadbeef" }),
            "source_instance_id",
        ),
    ];
    for (overrides, field) in cases {
        let reply = api.create_instance(overrides.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{overrides}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{overrides}");
    }
    assert_eq!(api.handle.instances().len(), 0);
}

#[tokio::test]
async fn a_created_instance_goes_from_creating_to_running_and_its_password_is_shown_once() {
    let api = Api::new(config()).await;
    let created = api.create_instance(json!({})).await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    let data = &created.body["data"];
    let id = data["id"].as_str().expect("id");
    assert_eq!(id.len(), 8);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(data["username"], "neo4j");
    assert_eq!(
        data["connection_url"],
        format!("neo4j+s://{id}.databases.neo4j.io")
    );
    let password = data["password"].as_str().expect("password").to_string();
    assert!(password.len() >= 16);

    assert_eq!(api.status_of(id).await, "creating");
    api.handle.advance_clock(STEP);
    let fetched = api.get(&format!("/instances/{id}")).await;
    assert_eq!(fetched.body["data"]["status"], "running");
    assert_eq!(fetched.body["data"]["memory"], "2GB");
    assert_eq!(fetched.body["data"]["storage"], "4GB");
    // shared/aura-api.md §4.1, §10: no metrics integration for professional-db.
    assert!(
        fetched.body["data"]
            .get("metrics_integration_url")
            .is_none()
    );

    let listed = api
        .get(&format!("/instances?tenantId={DEFAULT_TENANT_ID}"))
        .await;
    let other = api
        .get(&format!("/instances?tenantId={SECOND_TENANT_ID}"))
        .await;
    assert_eq!(listed.body["data"][0]["id"], id);
    assert_eq!(other.body["data"].as_array().expect("list").len(), 0);
    for reply in [&fetched, &listed] {
        assert!(!reply.body.to_string().contains(&password));
    }
    let duplicate = api.create_instance(json!({})).await;
    assert_eq!(duplicate.status, StatusCode::ACCEPTED);
    assert_eq!(api.handle.stats().instances_created, 2);
}

#[tokio::test]
async fn mutating_calls_during_a_transition_get_409_ongoing_database_operation() {
    let api = Api::new(config()).await;
    let created = api.create_instance(json!({})).await;
    let id = created.body["data"]["id"].as_str().expect("id");
    for (method, path) in [
        (Method::POST, format!("/instances/{id}/pause")),
        (Method::DELETE, format!("/instances/{id}")),
        (Method::PATCH, format!("/instances/{id}")),
        (Method::POST, format!("/instances/{id}/snapshots")),
    ] {
        let reply = api
            .call(method, &path, Some(json!({ "memory": "4GB" })))
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{path}");
        assert_eq!(reason(&reply), "ongoing-database-operation");
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("creating"))
        );
    }
}

#[tokio::test]
async fn pause_resume_and_delete_follow_the_lifecycle_and_end_in_404() {
    let api = Api::new(config()).await;
    let id = api.running_instance().await;
    let resumed_early = api
        .post(&format!("/instances/{id}/resume"), json!({}))
        .await;
    assert_eq!(resumed_early.status, StatusCode::CONFLICT);
    assert_eq!(reason(&resumed_early), "db-not-paused");

    let paused = api.post(&format!("/instances/{id}/pause"), json!({})).await;
    assert_eq!(paused.status, StatusCode::ACCEPTED);
    assert_eq!(paused.body["data"]["status"], "pausing");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&id).await, "paused");
    let again = api.post(&format!("/instances/{id}/pause"), json!({})).await;
    assert_eq!(reason(&again), "db-already-paused");

    let patched = api
        .call(
            Method::PATCH,
            &format!("/instances/{id}"),
            Some(json!({ "memory": "4GB" })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED);
    assert_eq!(patched.body["data"]["status"], "paused");

    let resumed = api
        .post(&format!("/instances/{id}/resume"), json!({}))
        .await;
    assert_eq!(resumed.body["data"]["status"], "resuming");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&id).await, "running");

    let deleted = api
        .call(Method::DELETE, &format!("/instances/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(deleted.body["data"]["status"], "destroying");
    api.handle.advance_clock(STEP);
    let gone = api.get(&format!("/instances/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(reason(&gone), "db-not-found");
    let deleted_again = api
        .call(Method::DELETE, &format!("/instances/{id}"), None)
        .await;
    assert_eq!(deleted_again.status, StatusCode::NOT_FOUND);
}

/// Aura resumes a paid instance that has been paused for 30 days by itself.
#[tokio::test]
async fn aura_resumes_an_instance_paused_for_thirty_days_by_itself() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let mut api = Api::new(config()).await;
    let id = api.running_instance().await;
    api.post(&format!("/instances/{id}/pause"), json!({})).await;
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&id).await, "paused");
    api.handle.advance_clock(29 * DAY);
    api.renew_token().await;
    assert_eq!(
        api.status_of(&id).await,
        "paused",
        "still paused after 29 days"
    );
    api.handle.advance_clock(DAY);
    api.renew_token().await;
    assert_eq!(
        api.status_of(&id).await,
        "resuming",
        "30 days after the pause"
    );
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&id).await, "running");

    // A jump past both steps at once, and a new pause counts its 30 days afresh.
    api.post(&format!("/instances/{id}/pause"), json!({})).await;
    api.handle.advance_clock(STEP);
    api.handle.advance_clock(40 * DAY);
    api.renew_token().await;
    assert_eq!(api.status_of(&id).await, "running");
    api.post(&format!("/instances/{id}/pause"), json!({})).await;
    api.handle.advance_clock(STEP + 20 * DAY);
    api.renew_token().await;
    assert_eq!(api.status_of(&id).await, "paused");
}

#[tokio::test]
async fn free_instances_cannot_be_paused_and_a_tenant_has_at_most_one() {
    let api = Api::new(config()).await;
    let free = json!({ "type": "free-db", "memory": "1GB" });
    let created = api.create_instance(free.clone()).await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    let id = created.body["data"]["id"].as_str().expect("id");
    let second = api.create_instance(free).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(reason(&second), "free-db-limit-reached");
    api.handle.advance_clock(STEP);
    let paused = api.post(&format!("/instances/{id}/pause"), json!({})).await;
    assert_eq!(paused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reason(&paused), "free-db-cannot-be-paused");
}

#[tokio::test]
async fn patch_answers_200_for_a_rename_and_202_updating_for_a_resize() {
    let api = Api::new(config()).await;
    let id = api.running_instance().await;
    let path = format!("/instances/{id}");
    let renamed = api
        .call(Method::PATCH, &path, Some(json!({ "name": "renamed" })))
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["data"]["name"], "renamed");
    assert_eq!(renamed.body["data"]["status"], "running");

    let bad = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "cdc_enrichment_mode": "SOME" })),
        )
        .await;
    assert_eq!(bad.body["errors"][0]["field"], "cdc_enrichment_mode");
    let incapable = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "secondaries_count": 2 })),
        )
        .await;
    assert_eq!(reason(&incapable), "tenant-incapable-of-action");

    let resized = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "memory": "8GB", "cdc_enrichment_mode": "FULL" })),
        )
        .await;
    assert_eq!(resized.status, StatusCode::ACCEPTED);
    assert_eq!(resized.body["data"]["status"], "updating");
    api.handle.advance_clock(STEP);
    let now = api.get(&path).await;
    assert_eq!(now.body["data"]["status"], "running");
    assert_eq!(now.body["data"]["memory"], "8GB");
    assert_eq!(now.body["data"]["storage"], "16GB");
    assert_eq!(now.body["data"]["cdc_enrichment_mode"], "FULL");
}

#[tokio::test]
async fn snapshots_complete_on_timers_and_are_listed_by_date() {
    let api = Api::new(config()).await;
    let id = api.running_instance().await;
    let taken = api
        .post(&format!("/instances/{id}/snapshots"), json!({}))
        .await;
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    let snapshot_id = taken.body["data"]["snapshot_id"]
        .as_str()
        .expect("snapshot id")
        .to_string();
    let path = format!("/instances/{id}/snapshots/{snapshot_id}");
    assert_eq!(api.get(&path).await.body["data"]["status"], "Pending");
    api.handle.advance_clock(STEP / 2);
    assert_eq!(api.get(&path).await.body["data"]["status"], "InProgress");
    api.handle.advance_clock(STEP / 2);
    let done = api.get(&path).await;
    assert_eq!(done.body["data"]["status"], "Completed");
    assert_eq!(done.body["data"]["profile"], "AdHoc");
    assert_eq!(done.body["data"]["exportable"], true);

    let old = api
        .handle
        .add_snapshot(
            &id,
            SnapshotProfile::Scheduled,
            SnapshotStatus::Completed,
            "2024-09-12T13:51:45Z".parse().expect("ts"),
        )
        .expect("instance exists");
    let today = api.get(&format!("/instances/{id}/snapshots")).await;
    assert_eq!(today.body["data"].as_array().expect("list").len(), 1);
    let that_day = api
        .get(&format!("/instances/{id}/snapshots?date=2024-09-12"))
        .await;
    assert_eq!(that_day.body["data"][0]["snapshot_id"], old);
    assert_eq!(that_day.body["data"][0]["profile"], "Scheduled");
    let missing = api
        .get(&format!(
            "/instances/{id}/snapshots/00000000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!(reason(&missing), "snapshot-not-found");
}

#[tokio::test]
async fn overwrite_and_restore_run_their_transient_status_then_return_to_running() {
    let api = Api::new(config()).await;
    let source = api.running_instance().await;
    let target = api.running_instance().await;
    let incomplete = api
        .post(&format!("/instances/{source}/snapshots"), json!({}))
        .await;
    let snapshot_id = incomplete.body["data"]["snapshot_id"]
        .as_str()
        .expect("id")
        .to_string();

    let refused = api
        .post(
            &format!("/instances/{target}/overwrite"),
            json!({ "source_snapshot_id": snapshot_id }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["errors"][0]["field"], "source_snapshot_id");

    let overwritten = api
        .post(
            &format!("/instances/{target}/overwrite"),
            json!({ "source_instance_id": source }),
        )
        .await;
    assert_eq!(overwritten.status, StatusCode::ACCEPTED);
    assert_eq!(overwritten.body["data"]["status"], "overwriting");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&target).await, "running");

    let restored = api
        .post(
            &format!("/instances/{source}/snapshots/{snapshot_id}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::ACCEPTED);
    assert_eq!(restored.body["data"]["status"], "restoring");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&source).await, "running");
}

#[tokio::test]
async fn customer_managed_keys_become_ready_and_cannot_be_deleted_while_in_use() {
    let api = Api::new(config()).await;
    let created = api
        .post(
            "/customer-managed-keys",
            json!({
                "key_id": "arn:aws:kms:us-east-1:123:key/abc",
                "name": "orders-key",
                "cloud_provider": "aws",
                "instance_type": "enterprise-db",
                "region": "us-east-1",
                "tenant_id": DEFAULT_TENANT_ID,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    assert_eq!(created.body["data"]["status"], "pending");
    assert_eq!(created.body["data"]["type"], "enterprise-db");
    let key = created.body["data"]["id"].as_str().expect("id").to_string();
    api.handle.advance_clock(STEP);
    assert_eq!(
        api.get(&format!("/customer-managed-keys/{key}")).await.body["data"]["status"],
        "ready"
    );
    let listed = api
        .get(&format!(
            "/customer-managed-keys?tenantId={DEFAULT_TENANT_ID}"
        ))
        .await;
    assert_eq!(listed.body["data"][0]["id"], key.as_str());

    let instance = api
        .create_instance(json!({
            "type": "enterprise-db", "cloud_provider": "aws", "region": "us-east-1", "memory": "4GB",
            "customer_managed_key_id": key,
        }))
        .await;
    assert_eq!(instance.status, StatusCode::ACCEPTED);
    let refused = api
        .call(
            Method::DELETE,
            &format!("/customer-managed-keys/{key}"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reason(&refused), "encryption-key-is-active");

    api.handle.advance_clock(STEP);
    let id = instance.body["data"]["id"].as_str().expect("id");
    api.call(Method::DELETE, &format!("/instances/{id}"), None)
        .await;
    api.handle.advance_clock(STEP);
    let deleted = api
        .call(
            Method::DELETE,
            &format!("/customer-managed-keys/{key}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = api.get(&format!("/customer-managed-keys/{key}")).await;
    assert_eq!(reason(&gone), "encryption-key-not-found");
}

#[tokio::test]
async fn gds_sessions_are_get_or_create_and_expire_after_their_ttl() {
    let api = Api::new(config()).await;
    let request = json!({
        "name": "analysis", "memory": "8GB", "ttl": "30m",
        "project_id": DEFAULT_TENANT_ID, "cloud_provider": "gcp", "region": "europe-west1",
    });
    let created = api.post("/graph-analytics/sessions", request.clone()).await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    assert_eq!(created.body["data"]["status"], "Creating");
    assert_eq!(created.body["data"]["ttl"], "30m");
    let id = created.body["data"]["id"].as_str().expect("id").to_string();
    assert!(
        created.body["data"]["host"]
            .as_str()
            .is_some_and(|h| h.starts_with(&id))
    );

    let again = api.post("/graph-analytics/sessions", request).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["data"]["id"], id.as_str());
    let bad_memory = api
        .post(
            "/graph-analytics/sessions",
            json!({ "name": "x", "memory": "3GB", "tenant_id": DEFAULT_TENANT_ID }),
        )
        .await;
    assert_eq!(bad_memory.body["errors"][0]["field"], "memory");

    let path = format!("/graph-analytics/sessions/{id}");
    api.handle.advance_clock(STEP);
    assert_eq!(api.get(&path).await.body["data"]["status"], "Ready");
    api.handle.advance_clock(Duration::from_secs(31 * 60));
    let expired = api.get(&path).await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_eq!(expired.body["data"]["status"], "Expired");
    assert_eq!(expired.body["errors"][0]["reason"], "Inactivity");
    let listed = api
        .get(&format!(
            "/graph-analytics/sessions?tenantId={DEFAULT_TENANT_ID}"
        ))
        .await;
    assert_eq!(listed.body["data"].as_array().expect("list").len(), 1);

    let deleted = api.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(deleted.body["data"]["id"], id.as_str());
    let gone = api.get(&path).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["data"], Value::Null);
    assert!(
        gone.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&id))
    );
}

#[tokio::test]
async fn attached_sessions_need_a_running_instance() {
    let api = Api::new(config()).await;
    let created = api.create_instance(json!({})).await;
    let instance = created.body["data"]["id"].as_str().expect("id");
    let body = json!({ "name": "attached", "memory": "4GB", "instance_id": instance });
    let early = api.post("/graph-analytics/sessions", body.clone()).await;
    assert_eq!(reason(&early), "instance-not-running");
    api.handle.advance_clock(STEP);
    let ok = api.post("/graph-analytics/sessions", body).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED);
    assert!(
        ok.body["data"]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with(instance))
    );
    let filtered = api
        .get(&format!("/graph-analytics/sessions?instanceId={instance}"))
        .await;
    assert_eq!(filtered.body["data"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn sizing_recommends_a_session_size_from_the_graph_counts() {
    let api = Api::new(config()).await;
    let small = api
        .post("/graph-analytics/sessions/sizing", json!({
            "node_count": 1000, "node_label_count": 1, "node_property_count": 1,
            "relationship_count": 5000, "relationship_property_count": 0, "algorithm_categories": ["centrality"],
        }))
        .await;
    assert_eq!(small.status, StatusCode::OK);
    assert_eq!(small.body["data"]["recommended_size"], "4GB");
    let large = api
        .post(
            "/graph-analytics/sessions/sizing",
            json!({
                "node_count": 500_000_000u64, "node_label_count": 3, "node_property_count": 4,
                "relationship_count": 2_000_000_000u64, "relationship_property_count": 1,
                "algorithm_categories": ["node-embedding"],
            }),
        )
        .await;
    let size = large.body["data"]["recommended_size"]
        .as_str()
        .expect("size");
    assert!(
        size.trim_end_matches("GB").parse::<u32>().expect("number") >= 128,
        "{size}"
    );
    assert!(
        large.body["data"]["estimated_memory"]
            .as_str()
            .is_some_and(|m| m.ends_with("MiB"))
    );
}

#[tokio::test]
async fn metrics_integration_points_at_prometheus_text_for_running_instances() {
    let api = Api::new(config()).await;
    let path = format!("/tenants/{DEFAULT_TENANT_ID}/metrics-integration");
    // shared/aura-api.md §10: metrics only for enterprise-db, enterprise-ds, business-critical.
    let professional = api.running_instance().await;
    let incapable = api.get(&path).await;
    assert_eq!(reason(&incapable), "tenant-incapable-of-action");
    let created = api
        .create_instance(json!({ "type": "enterprise-db", "name": "observed" }))
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let id = created.body["data"]["id"].as_str().expect("id").to_string();
    api.handle.advance_clock(STEP);
    let integration = api.get(&path).await;
    let endpoint = integration.body["data"]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();

    let anonymous = api.client.get(&endpoint).send().await.expect("send");
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    let text = api
        .client
        .get(&endpoint)
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    for name in [
        "neo4j_aura_cpu_usage",
        "neo4j_aura_cpu_limit",
        "neo4j_dbms_page_cache_hit_ratio_per_minute",
        "neo4j_dbms_bolt_connections_running",
        "neo4j_database_count_node",
    ] {
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{name}");
    }
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "neo4j_aura_cpu_limit{{aggregation=\"MAX\",instance_id=\"{id}\"}} 0.5 "
        ))),
        "{text}"
    );
    assert!(text.contains("# TYPE neo4j_db_query_execution_success_total counter"));
    assert!(
        !text.contains(&professional),
        "a professional-db instance has no metrics"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_recovers_after_the_window() {
    let api = Api::new(EmulatorConfig {
        rate_limit_per_minute: Some(5),
        ..config()
    })
    .await;
    // The token request counted as the first of five.
    for _ in 0..4 {
        assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    }
    let limited = api.get("/tenants").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(reason(&limited), "rate-limit-exceeded");
    assert_eq!(api.handle.stats().rate_limited, 1);
    api.handle.advance_clock(Duration::from_secs(retry));
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_new_instance_answers_404_and_is_not_listed_until_the_window_has_passed() {
    let api = Api::new(realistic_config()).await;
    assert_eq!(
        api.handle.settings().invisible_after_create_ms,
        2000,
        "on by default"
    );
    let created = api.create_instance(json!({})).await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    let id = created.body["data"]["id"].as_str().expect("id").to_string();

    let early = api.get(&format!("/instances/{id}")).await;
    assert_eq!(early.status, StatusCode::NOT_FOUND);
    assert_eq!(reason(&early), "db-not-found");
    assert!(api.listed_ids().await.is_empty());
    assert_eq!(
        api.handle.instances().len(),
        1,
        "the handle sees it all along"
    );

    api.handle
        .advance_clock(DEFAULT_INVISIBLE_AFTER_CREATE - Duration::from_millis(100));
    assert_eq!(
        api.get(&format!("/instances/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    api.handle.advance_clock(Duration::from_millis(100));
    let visible = api.get(&format!("/instances/{id}")).await;
    assert_eq!(visible.status, StatusCode::OK);
    assert_eq!(visible.body["data"]["status"], "creating");
    assert_eq!(api.listed_ids().await, vec![id]);
}

#[tokio::test]
async fn the_window_changes_at_run_time_and_an_invisible_instance_can_be_cloned() {
    let api = Api::new(realistic_config()).await;
    let source = api.create_instance(json!({})).await.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let clone = api
        .create_instance(json!({ "name": "copy", "source_instance_id": source }))
        .await;
    assert_eq!(clone.status, StatusCode::ACCEPTED, "{}", clone.body);

    api.handle.set_invisible_after_create(Duration::ZERO);
    assert_eq!(api.status_of(&source).await, "creating");
    assert_eq!(api.listed_ids().await.len(), 2);

    let set = api
        .control(
            Method::PATCH,
            "/settings",
            json!({ "invisible_after_create_ms": 5000 }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.body["invisible_after_create_ms"], 5000);
    assert_eq!(
        api.get(&format!("/instances/{source}")).await.status,
        StatusCode::NOT_FOUND,
        "the window applies to existing instances too"
    );
    let shown = api.control(Method::GET, "/settings", Value::Null).await;
    assert_eq!(shown.body["invisible_after_create_ms"], 5000);
}

#[tokio::test]
async fn instances_created_from_a_source_are_loading_before_they_run() {
    let api = Api::new(config()).await;
    let source = api.running_instance().await;
    let clone = api
        .create_instance(json!({ "name": "clone", "source_instance_id": source }))
        .await;
    assert_eq!(clone.status, StatusCode::ACCEPTED);
    let clone = clone.body["data"]["id"].as_str().expect("id").to_string();
    assert_eq!(api.status_of(&clone).await, "creating");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&clone).await, "loading");
    let busy = api
        .post(&format!("/instances/{clone}/snapshots"), json!({}))
        .await;
    assert_eq!(reason(&busy), "ongoing-database-operation");
    api.handle.advance_clock(STEP);
    assert_eq!(api.status_of(&clone).await, "running");

    let taken = api
        .post(&format!("/instances/{source}/snapshots"), json!({}))
        .await;
    let snapshot = taken.body["data"]["snapshot_id"].as_str().expect("id");
    api.handle.advance_clock(STEP);
    let restored = api
        .create_instance(json!({
            "name": "from-snapshot",
            "source_instance_id": source,
            "source_snapshot_id": snapshot,
        }))
        .await;
    let restored = restored.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    api.handle.advance_clock(STEP * 2);
    assert_eq!(
        api.status_of(&restored).await,
        "running",
        "one jump passes creating and loading"
    );
}

#[tokio::test]
async fn loading_failed_and_suspended_are_set_on_demand_and_allow_only_delete() {
    let api = Api::new(config()).await;
    let id = api.running_instance().await;
    let view = api.handle.fail_loading(&id).expect("instance exists");
    assert_eq!(view.status, "loading failed");
    assert_eq!(api.status_of(&id).await, "loading failed");
    let paused = api.post(&format!("/instances/{id}/pause"), json!({})).await;
    assert_eq!(paused.status, StatusCode::CONFLICT);
    assert_eq!(reason(&paused), "db-loading-failed");

    let suspended = api
        .control(
            Method::POST,
            &format!("/instances/{id}/status"),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK);
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(api.status_of(&id).await, "suspended");
    let patched = api
        .call(
            Method::PATCH,
            &format!("/instances/{id}"),
            Some(json!({ "memory": "4GB" })),
        )
        .await;
    assert_eq!(reason(&patched), "db-suspended");
    let deleted = api
        .call(Method::DELETE, &format!("/instances/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);

    assert!(api.handle.suspend("00000000").is_err());
    let unknown = api
        .control(
            Method::POST,
            "/instances/00000000/status",
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = api
        .control(
            Method::POST,
            &format!("/instances/{id}/status"),
            json!({ "status": "asleep" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let other = api.running_instance().await;
    api.handle
        .set_instance_status(&other, InstanceStatus::Paused)
        .expect("instance exists");
    assert_eq!(api.status_of(&other).await, "paused");
}

#[tokio::test]
async fn an_embedded_errors_fault_answers_200_with_data_and_errors() {
    let api = Api::new(config()).await;
    let id = api.running_instance().await;
    let path = format!("/v1/instances/{id}");
    api.handle.inject(
        Fault::on(Some(Method::GET), &path)
            .embedded_errors()
            .reason("db-not-found")
            .message("Database not found"),
    );
    let odd = api.get(&format!("/instances/{id}")).await;
    assert_eq!(odd.status, StatusCode::OK);
    assert_eq!(odd.body["data"]["id"], id.as_str());
    assert_eq!(reason(&odd), "db-not-found");
    assert_eq!(odd.body["errors"][0]["message"], "Database not found");

    let plain = api.get(&format!("/instances/{id}")).await;
    assert!(plain.body.get("errors").is_none(), "used up after once");

    let added = api
        .control(
            Method::POST,
            "/faults",
            json!({ "method": "GET", "path": "/v1/instances/*", "action": "embedded_errors" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let missing = api.get("/instances/0000dead").await;
    assert_eq!(missing.status, StatusCode::OK);
    assert_eq!(missing.body["data"], Value::Null);
    assert!(
        missing.body["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
}

#[tokio::test]
async fn the_rate_limit_can_change_at_run_time_and_retry_after_counts_to_the_freeing_request() {
    let api = Api::new(EmulatorConfig {
        rate_limit_per_minute: None,
        ..config()
    })
    .await;
    // Admitted: the token request at 0 s and four GETs at 10 s.
    api.handle.advance_clock(Duration::from_secs(10));
    for _ in 0..4 {
        assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    }
    api.handle.advance_clock(Duration::from_secs(20));
    api.handle.set_rate_limit(Some(2));
    assert_eq!(api.handle.rate_limit(), Some(2));
    let retry_after = |reply: &Reply| -> u64 {
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        reply.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds")
    };
    // At 30 s, one more fits once only one request is left: the third GET leaves at 70 s.
    assert_eq!(retry_after(&api.get("/tenants").await), 40);
    api.handle.advance_clock(Duration::from_secs(39));
    assert_eq!(retry_after(&api.get("/tenants").await), 1);
    api.handle.advance_clock(Duration::from_secs(1));
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    assert_eq!(api.handle.stats().rate_limited, 2);

    let off = api
        .control(
            Method::PATCH,
            "/settings",
            json!({ "rate_limit_per_minute": null }),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["rate_limit_per_minute"], Value::Null);
    for _ in 0..5 {
        assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    }
    let on = api
        .control(
            Method::PATCH,
            "/settings",
            json!({ "rate_limit_per_minute": 3 }),
        )
        .await;
    assert_eq!(on.body["rate_limit_per_minute"], 3);
    assert_eq!(
        api.get("/tenants").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(api.handle.stats().rate_limited, 3);
}

#[tokio::test]
async fn a_fixed_retry_after_understates_the_wait_while_the_window_stays_full() {
    // Issue 20: one real Aura answered every 429 with `Retry-After: 2` while its window stayed
    // full. The emulator can do the same, switched at run time from Rust or over HTTP.
    let api = Api::new(EmulatorConfig {
        rate_limit_per_minute: Some(2),
        ..config()
    })
    .await;
    assert_eq!(api.handle.settings().fixed_retry_after_seconds, None);
    let retry_after = |reply: &Reply| -> u64 {
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        reply.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds")
    };
    // The token request and one GET fill the window.
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    assert_eq!(
        retry_after(&api.get("/tenants").await),
        60,
        "exact by default"
    );

    api.handle.set_fixed_retry_after(Some(2));
    assert_eq!(retry_after(&api.get("/tenants").await), 2);
    // Honouring it does not help: the window is as full as before.
    api.handle.advance_clock(Duration::from_secs(2));
    assert_eq!(retry_after(&api.get("/tenants").await), 2);

    let set = api
        .control(
            Method::PATCH,
            "/settings",
            json!({ "fixed_retry_after_seconds": 5 }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.body["fixed_retry_after_seconds"], 5);
    assert_eq!(retry_after(&api.get("/tenants").await), 5);
    let exact = api
        .control(
            Method::PATCH,
            "/settings",
            json!({ "fixed_retry_after_seconds": null }),
        )
        .await;
    assert_eq!(exact.body["fixed_retry_after_seconds"], Value::Null);
    assert_eq!(retry_after(&api.get("/tenants").await), 58);
    // The window frees when the real wait has passed, not the announced one.
    api.handle.advance_clock(Duration::from_secs(58));
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    assert_eq!(api.handle.stats().rate_limited, 5);
}

#[tokio::test]
async fn respond_and_gateway_faults_answer_without_acting() {
    let api = Api::new(config()).await;
    api.handle.inject(
        Fault::on(Some(Method::POST), "/v1/instances")
            .times(1)
            .respond(503)
            .retry_after(2)
            .reason("maintenance"),
    );
    let unavailable = api.create_instance(json!({})).await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.headers["retry-after"], "2");
    assert_eq!(reason(&unavailable), "maintenance");
    assert!(api.handle.instances().is_empty());

    api.handle
        .inject(Fault::on(None, "/v1/instances/*").gateway_error(502));
    let gateway = api.get("/instances/abcdef12").await;
    assert_eq!(gateway.status, StatusCode::BAD_GATEWAY);
    assert!(gateway.body["error"].is_string());
    // Used up: the next request reaches the handler.
    assert_eq!(
        api.get("/instances/abcdef12").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.create_instance(json!({})).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn a_delay_fault_holds_the_response_back() {
    let api = Api::new(config()).await;
    api.handle
        .inject(Fault::on(Some(Method::GET), "/v1/tenants").delay(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn drop_before_closes_the_connection_without_acting() {
    let api = Api::new(config()).await;
    api.handle
        .inject(Fault::on(Some(Method::POST), "/v1/instances").drop_before());
    let dropped = api.send(Method::POST, "/instances", Some(json!({}))).await;
    assert!(dropped.is_err());
    assert!(api.handle.instances().is_empty());
    assert_eq!(api.handle.stats().dropped_connections, 1);
}

#[tokio::test]
async fn drop_after_acts_but_the_client_sees_no_response() {
    let api = Api::new(config()).await;
    api.handle
        .inject(Fault::on(Some(Method::POST), "/v1/instances").drop_after());
    let body = json!({
        "name": "ghost", "tenant_id": DEFAULT_TENANT_ID, "cloud_provider": "gcp",
        "region": "europe-west1", "type": "professional-db", "version": "5", "memory": "2GB",
    });
    let dropped = api.send(Method::POST, "/instances", Some(body)).await;
    assert!(dropped.is_err(), "the client must not get a response");
    let instances = api.handle.instances();
    assert_eq!(
        instances.len(),
        1,
        "the server acted although the client saw an error"
    );
    assert_eq!(instances[0].name, "ghost");
    // The emulator keeps serving on new connections.
    assert_eq!(api.get("/instances").await.body["data"][0]["name"], "ghost");
}

#[tokio::test]
async fn malformed_and_oversized_body_faults_break_decoding() {
    let api = Api::new(EmulatorConfig {
        oversized_body_bytes: 3 * 1024 * 1024,
        ..config()
    })
    .await;
    api.handle
        .inject(Fault::on(None, "/v1/tenants").malformed_body());
    let malformed = api.get("/tenants").await;
    assert_eq!(malformed.status, StatusCode::OK);
    assert_eq!(
        malformed.body,
        Value::Null,
        "the body must not parse as JSON"
    );

    api.handle
        .inject(Fault::on(None, "/v1/tenants").oversized_body());
    let oversized = api
        .client
        .get(format!("{}/tenants", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("bytes");
    assert!(oversized.len() > 3 * 1024 * 1024);
}

#[tokio::test]
async fn faults_and_stats_are_reachable_over_http() {
    let api = Api::new(config()).await;
    let control = format!("http://{}/_emulator", api.emulator.addr());
    let added = api
        .client
        .post(format!("{control}/faults"))
        .json(&json!({ "method": "GET", "path": "/v1/tenants", "times": 2, "action": "respond", "status": 500 }))
        .send()
        .await
        .expect("send");
    assert_eq!(added.status(), StatusCode::CREATED);
    assert_eq!(
        api.get("/tenants").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let cleared = api
        .client
        .delete(format!("{control}/faults"))
        .send()
        .await
        .expect("send");
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.get("/tenants").await.status, StatusCode::OK);

    let stats: Value = api
        .client
        .get(format!("{control}/stats"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["faults_fired"], 1);
    let stats = api.handle.stats();
    assert_eq!(stats.count("GET", "/v1/tenants", 500), 1);
    assert_eq!(stats.count("GET", "/v1/tenants", 200), 1);
    assert_eq!(stats.count("POST", "/oauth/token", 200), 1);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let emulator = launch(config()).await;
    let url = emulator.token_url();
    emulator.shutdown().await;
    let client = http();
    assert!(client.post(url).send().await.is_err());
}
