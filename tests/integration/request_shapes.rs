//! The exact Kubernetes requests the AuraInstance controller sends where their shape matters:
//! the finalizer patch and the connection Secret's server-side apply. A `tower-test` mock stands
//! in for the API server and records every request; Aura is the emulator.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{CLIENT_ID, CLIENT_SECRET, fast_config, start};
use aura_operator::aura::{RateLimit, RetryPolicy};
use aura_operator::controllers::reconciler;
use aura_operator::controllers::{AuraClients, AuraSettings, Context, DefaultCredential};
use aura_operator::crd::AuraInstance;
use aura_operator::emulator::DEFAULT_TENANT_ID;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use secrecy::SecretString;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    content_type: String,
    body: Value,
}

fn object(finalizers: Value) -> Value {
    json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": {
            "name": "orders", "namespace": "default", "uid": "5f3a9c1e-77b2-4d1a-9e0f-0123456789ab",
            "resourceVersion": "7", "generation": 1, "finalizers": finalizers
        },
        "spec": {
            "tenantId": DEFAULT_TENANT_ID, "cloudProvider": "gcp", "region": "europe-west1",
            "type": "professional-db", "memory": "2GB"
        }
    })
}

/// Answers every request like a forgiving API server and records it.
async fn serve(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    obj: Value,
) {
    let mut secret: Option<Value> = None;
    while let Some((request, send)) = handle.next_request().await {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let uri = parts.uri.to_string();
        let content_type = parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            uri: uri.clone(),
            content_type,
            body: body.clone(),
        });
        let (status, reply) = match (
            parts.method.as_str(),
            uri.contains("/secrets/"),
            uri.contains("/events"),
        ) {
            ("GET", true, _) => match &secret {
                Some(s) => (StatusCode::OK, s.clone()),
                None => (
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                ),
            },
            ("PATCH", true, _) => {
                secret = Some(body.clone());
                (StatusCode::OK, body)
            }
            (_, _, true) => {
                let mut event = body.clone();
                event["metadata"]["name"] = json!("event-1");
                (StatusCode::CREATED, event)
            }
            // The claim on the instance: nobody else holds it.
            ("POST", _, _) if uri.contains("/leases") => (StatusCode::CREATED, body),
            _ => (StatusCode::OK, obj.clone()),
        };
        let response = Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&reply).unwrap()))
            .unwrap();
        send.send_response(response);
    }
}

async fn pass(obj: Value) -> Vec<Seen> {
    let emu = start(fast_config()).await;
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let kube = kube::Client::new(service, "default");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(handle, Arc::clone(&seen), obj.clone()));
    let settings = AuraSettings {
        base_url: emu.base_url(),
        allow_insecure_http: true,
        rate_limit: RateLimit {
            per_minute: 100_000,
            burst: 1_000,
        },
        timeout: Duration::from_secs(5),
        retry: RetryPolicy::default(),
        observer: None,
    };
    let default = DefaultCredential::Fixed {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
    };
    let ctx = Context::new(
        kube,
        AuraClients::new(settings, default),
        crate::support::operator::timing(),
    );
    let resource: AuraInstance = serde_json::from_value(obj).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        reconciler::reconcile(Arc::new(resource), ctx),
    )
    .await
    .expect("the pass finishes")
    .expect("the pass succeeds");
    server.abort();
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn the_first_pass_only_adds_the_finalizer_with_a_guarded_json_patch() {
    let seen = pass(object(json!(null))).await;
    assert_eq!(seen.len(), 1, "nothing but the finalizer: {seen:#?}");
    let patch = &seen[0];
    assert_eq!(patch.method, "PATCH");
    assert!(
        patch
            .uri
            .starts_with("/apis/aura.neo4j.io/v1alpha1/namespaces/default/aurainstances/orders"),
        "{}",
        patch.uri
    );
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["aura.neo4j.io/instance"]}
        ])
    );
}

#[tokio::test]
async fn the_connection_secret_is_applied_server_side_and_owned_by_the_resource() {
    let seen = pass(object(json!(["aura.neo4j.io/instance"]))).await;
    let applies: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "PATCH" && s.uri.contains("/secrets/"))
        .collect();
    assert_eq!(
        applies.len(),
        1,
        "one write of the Secret per pass: {seen:#?}"
    );
    let apply = applies[0];
    assert!(
        apply
            .uri
            .starts_with("/api/v1/namespaces/default/secrets/orders-connection?"),
        "{}",
        apply.uri
    );
    assert!(
        apply.uri.contains("fieldManager=aura-operator") && apply.uri.contains("force=true"),
        "{}",
        apply.uri
    );
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    let body = &apply.body;
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["kind"], "Secret");
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "AuraInstance");
    assert_eq!(owner["uid"], "5f3a9c1e-77b2-4d1a-9e0f-0123456789ab");
    assert_eq!(owner["controller"], true);
    assert_eq!(
        body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "aura-operator"
    );
    let keys: Vec<&str> = body["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "AURA_INSTANCEID",
            "AURA_INSTANCENAME",
            "NEO4J_PASSWORD",
            "NEO4J_URI",
            "NEO4J_USERNAME"
        ]
    );

    // The intent is in the status before the Secret (and so before Aura's answer is used).
    let intent_at = seen
        .iter()
        .position(|s| s.uri.contains("/status") && s.body["status"]["createIntent"].is_object())
        .expect("an intent write");
    let secret_at = seen
        .iter()
        .position(|s| s.uri.contains("/secrets/") && s.method == "PATCH")
        .unwrap();
    let id_at = seen
        .iter()
        .position(|s| s.uri.contains("/status") && s.body["status"]["instanceId"].is_string())
        .expect("the instance id write");
    assert!(
        intent_at < secret_at && secret_at < id_at,
        "order: intent {intent_at}, Secret {secret_at}, id {id_at}"
    );
    let id_write = &seen[id_at].body["status"];
    assert_eq!(
        id_write["createIntent"],
        Value::Null,
        "the intent is cleared in the same write"
    );
}
