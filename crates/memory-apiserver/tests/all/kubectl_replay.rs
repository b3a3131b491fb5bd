//! Helpers for replaying kubectl's requests at the HTTP level: the exact paths, query strings,
//! `Accept` and `Content-Type` headers kubectl 1.32 sends (see tests/samples/kubectl-requests.txt),
//! sent to the server's `tower::Service` without a client library in between.

#![allow(dead_code)] // not every helper is used by every module

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use memory_apiserver::ApiServer;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tower::ServiceExt;

/// What `kubectl get` sends as `Accept`.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// What kubectl sends as `Accept` for everything else.
pub const JSON_ACCEPT: &str = "application/json";
pub const USER_AGENT: &str = "kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9";

pub const APPLY_YAML: &str = "application/apply-patch+yaml";
pub const MERGE: &str = "application/merge-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";

/// The project's CRDs, read from crds/*.yaml.
/// Every document of every YAML file in `folder` (relative to the repository), in file order.
fn yaml_documents(folder: &str) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(folder);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            serde_norway::Deserializer::from_str(&text)
                .map(|document| Value::deserialize(document).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The four CRDs of the repository's crds/.
pub fn project_crds() -> Vec<Value> {
    let crds = yaml_documents("crds");
    assert_eq!(crds.len(), 4, "the four CRDs of crds/");
    crds
}

/// A recording from tests/samples.
pub fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A server with the project's CRDs installed (as `kubectl apply -f crds/` would).
/// A spec the CRD's schema and CEL rules accept for `kind`: the first object of that kind in
/// the project's samples (deploy/examples), which the operator's own tests check.
pub fn valid_spec(kind: &str) -> Value {
    yaml_documents("deploy/examples")
        .into_iter()
        .find(|object| object["kind"] == kind)
        .map(|object| object["spec"].clone())
        .unwrap_or_else(|| panic!("no {kind} in deploy/examples"))
}

/// A status condition with every field the CRD's schema requires (metav1.Condition's).
pub fn condition(type_: &str, status: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": "Test", "message": "",
        "lastTransitionTime": "2026-12-05T21:46:26Z",
    })
}

/// An AuraInstance spec the schema accepts, with `memory` as given.
pub fn instance_spec(memory: &str) -> Value {
    json!({
        "tenantId": "t", "cloudProvider": "gcp", "region": "europe-west1",
        "type": "professional-db", "memory": memory,
    })
}

pub async fn server_with_crds() -> ApiServer {
    let server = ApiServer::new();
    for crd in project_crds() {
        let (code, body) = send(
            &server,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
            JSON_ACCEPT,
            None,
            Some(&crd),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    server
}

/// One request as kubectl sends it; the answer's status code and JSON body.
/// A GET with `accept`, as kubectl sends it.
pub async fn get(server: &ApiServer, uri: &str, accept: &str) -> (u16, Value) {
    send(server, "GET", uri, accept, None, None).await
}

/// A JSON POST of `body`.
pub async fn post(server: &ApiServer, uri: &str, body: &Value) -> (u16, Value) {
    send(server, "POST", uri, JSON_ACCEPT, None, Some(body)).await
}

pub async fn send(
    server: &ApiServer,
    method: &str,
    uri: &str,
    accept: &str,
    content_type: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    send_raw(server, method, uri, accept, content_type, bytes).await
}

pub async fn send_raw(
    server: &ApiServer,
    method: &str,
    uri: &str,
    accept: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let response = server
        .clone()
        .oneshot(request(method, uri, accept, content_type, body))
        .await
        .unwrap();
    let code = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|err| panic!("{method} {uri}: not JSON ({err}): {bytes:?}"));
    (code, value)
}

fn request(
    method: &str,
    uri: &str,
    accept: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> http::Request<kube::client::Body> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Accept", accept)
        .header("User-Agent", USER_AGENT);
    if let Some(content_type) = content_type {
        builder = builder.header("Content-Type", content_type);
    }
    builder
        .body(kube::client::Body::from(body.unwrap_or_default()))
        .unwrap()
}

/// An open watch: its events, one JSON value each.
pub struct Watch {
    stream: futures::stream::BoxStream<'static, Bytes>,
    pending: Vec<u8>,
}

pub async fn watch(server: &ApiServer, uri: &str, accept: &str) -> Watch {
    let response = server
        .clone()
        .oneshot(request("GET", uri, accept, None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = response
        .into_body()
        .into_data_stream()
        .map(|chunk| chunk.unwrap())
        .boxed();
    Watch {
        stream,
        pending: Vec::new(),
    }
}

impl Watch {
    /// The next event, or `None` when the stream ended or nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(newline) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=newline).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            match tokio::time::timeout(wait, self.stream.next()).await {
                Ok(Some(chunk)) => self.pending.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("a watch event within 5s")
    }
}

/// A column's names in a Table.
pub fn column_names(table: &Value) -> Vec<String> {
    table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// The cells of the row for `name` (looked up through the Name column, or the row object).
pub fn row_of<'a>(table: &'a Value, name: &str) -> &'a Vec<Value> {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["object"]["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no row for {name} in {table:#}"))["cells"]
        .as_array()
        .unwrap()
}
