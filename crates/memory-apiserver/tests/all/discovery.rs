//! Version, discovery and OpenAPI v3 compared with what a real kube-apiserver v1.32 answered with
//! this repository's CRDs installed (tests/samples, see its README). Each test installs the four
//! CRDs from crds/*.yaml, asks the same path with the same Accept header, and compares the parts
//! that do not depend on the rest of the cluster field by field.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use memory_apiserver::ApiServer;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::kubectl_replay::server_with_crds;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");
const AURA: &str = "aura.neo4j.io";
/// What kubectl 1.30+ sends for `/api` and `/apis`.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

pub fn sample(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{SAMPLES}/{name}"))
        .unwrap_or_else(|err| panic!("sample {name}: {err}"));
    serde_json::from_str(&text).unwrap()
}

/// The project's CRDs, as YAML documents turned into JSON.
pub async fn send(
    server: &ApiServer,
    method: Method,
    path: &str,
    accept: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let body = match body {
        Some(value) => kube::client::Body::from(serde_json::to_vec(value).unwrap()),
        None => kube::client::Body::empty(),
    };
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let response = server.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, bytes)
}

async fn get_json(server: &ApiServer, path: &str, accept: Option<&str>) -> (HeaderMap, Value) {
    let (status, headers, body) = send(server, Method::GET, path, accept, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    (headers, serde_json::from_slice(&body).unwrap())
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn version_is_a_v1_32_version_info_that_names_this_server() {
    let server = server_with_crds().await;
    let (_, version) = get_json(&server, "/version", None).await;
    let real = sample("version.json");
    assert_eq!(keys(&version), keys(&real));
    assert_eq!(version["major"], real["major"]);
    assert_eq!(version["minor"], real["minor"]);
    let git_version = version["gitVersion"].as_str().unwrap();
    assert!(
        git_version.starts_with("v1.32.") && git_version.contains("memory"),
        "{git_version}"
    );
    // What kube-rs reads it into.
    let info: k8s_openapi::apimachinery::pkg::version::Info =
        serde_json::from_value(version).unwrap();
    assert_eq!(info.minor, "32");
}

#[tokio::test]
async fn health_checks_answer_ok() {
    let server = ApiServer::new();
    for path in ["/healthz", "/readyz", "/livez", "/readyz/ping"] {
        let (status, _, body) = send(&server, Method::GET, path, None, None).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]), "{path}");
    }
}

#[tokio::test]
async fn api_lists_the_core_version_as_the_real_server_does() {
    let server = server_with_crds().await;
    let (headers, api) = get_json(&server, "/api", Some("application/json, */*")).await;
    let real = sample("api.json");
    assert_eq!(content_type(&headers), "application/json");
    assert_eq!(keys(&api), keys(&real));
    assert_eq!(api["kind"], real["kind"]);
    assert_eq!(api["versions"], real["versions"]);
    // The address depends on where the server listens: only the shape is compared.
    let address = &api["serverAddressByClientCIDRs"][0];
    assert_eq!(keys(address), keys(&real["serverAddressByClientCIDRs"][0]));
    assert_eq!(address["clientCIDR"], "0.0.0.0/0");
}

#[tokio::test]
async fn apis_lists_groups_as_the_real_server_does() {
    let server = server_with_crds().await;
    let (_, apis) = get_json(&server, "/apis", Some("application/json, */*")).await;
    let real = sample("apis.json");
    assert_eq!(apis["kind"], real["kind"]);
    assert_eq!(apis["apiVersion"], real["apiVersion"]);
    let groups = apis["groups"].as_array().unwrap();
    let real_groups = real["groups"].as_array().unwrap();
    let find = |list: &[Value], name: &str| list.iter().find(|g| g["name"] == name).cloned();
    assert_eq!(find(groups, AURA), find(real_groups, AURA));
    // Every group served here is served by the real server the same way (the real one has more).
    for group in groups {
        let name = group["name"].as_str().unwrap();
        assert_eq!(Some(group.clone()), find(real_groups, name), "{name}");
    }
    // CRD groups come after the built-in ones, as on the real server.
    assert_eq!(groups.last().unwrap()["name"], AURA);
    // And the group itself.
    let (_, group) = get_json(&server, "/apis/aura.neo4j.io", None).await;
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(
        group["preferredVersion"],
        find(real_groups, AURA).unwrap()["preferredVersion"]
    );
}

#[tokio::test]
async fn the_aura_group_version_lists_its_resources_as_the_real_server_does() {
    let server = server_with_crds().await;
    // kubectl asks with the aggregated Accept too; a group-version has only the legacy form.
    for accept in [None, Some(AGGREGATED)] {
        let (headers, list) = get_json(&server, "/apis/aura.neo4j.io/v1alpha1", accept).await;
        assert_eq!(content_type(&headers), "application/json");
        // Everything, storageVersionHash included, is the same.
        assert_eq!(list, sample("apis-aura.neo4j.io-v1alpha1.json"));
    }
    let (status, _, _) = send(&server, Method::GET, "/apis/aura.neo4j.io/v1", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(&server, Method::GET, "/apis/example.test", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn core_v1_lists_subresources_and_short_names() {
    let server = server_with_crds().await;
    let (_, list) = get_json(&server, "/api/v1", None).await;
    assert_eq!(list["groupVersion"], "v1");
    let resources = list["resources"].as_array().unwrap();
    let named = |name: &str| {
        resources
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {list}"))
    };
    let namespaces = named("namespaces");
    assert_eq!(namespaces["namespaced"], false);
    assert_eq!(namespaces["shortNames"], json!(["ns"]));
    assert!(
        !namespaces["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("deletecollection"))
    );
    assert_eq!(named("namespaces/finalize")["verbs"], json!(["update"]));
    assert_eq!(
        named("namespaces/status")["verbs"],
        json!(["get", "patch", "update"])
    );
    assert_eq!(named("secrets")["singularName"], "secret");
    // The real server's hash of v1/Secret.
    assert_eq!(named("secrets")["storageVersionHash"], "S6u1pOWzb84=");
    let (_, apps) = get_json(&server, "/apis/apps/v1", None).await;
    let scale = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .cloned()
        .unwrap();
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
    );
}

#[tokio::test]
async fn aggregated_discovery_matches_the_real_server() {
    let server = server_with_crds().await;
    let (headers, apis) = get_json(&server, "/apis", Some(AGGREGATED)).await;
    // client-go takes the body for aggregated discovery only when the Content-Type says so.
    assert_eq!(
        content_type(&headers),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let real = sample("apis-aggregated-discovery.json");
    for field in ["kind", "apiVersion", "metadata"] {
        assert_eq!(apis[field], real[field], "{field}");
    }
    let items = apis["items"].as_array().unwrap();
    let real_items = real["items"].as_array().unwrap();
    let find =
        |list: &[Value], name: &str| list.iter().find(|g| g["metadata"]["name"] == name).cloned();
    assert_eq!(find(items, AURA), find(real_items, AURA));
    // Built-in resources served here are described as the real server describes them.
    for group in items {
        let name = group["metadata"]["name"].as_str().unwrap();
        let real_group =
            find(real_items, name).unwrap_or_else(|| panic!("{name} is not a real group"));
        for version in group["versions"].as_array().unwrap() {
            let real_version = real_group["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["version"] == version["version"])
                .unwrap_or_else(|| panic!("{name} {}", version["version"]));
            assert_eq!(version["freshness"], real_version["freshness"]);
            for resource in version["resources"].as_array().unwrap() {
                let real_resource = real_version["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["resource"] == resource["resource"])
                    .unwrap_or_else(|| panic!("{name} {}", resource["resource"]));
                assert_eq!(resource, real_resource, "{name}");
            }
        }
    }
    // v2beta1, for older clients, in the same shape.
    let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    let (headers, apis) = get_json(&server, "/apis", Some(beta)).await;
    assert_eq!(content_type(&headers), beta);
    assert_eq!(apis["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(
        find(apis["items"].as_array().unwrap(), AURA),
        find(real_items, AURA)
    );
}

#[tokio::test]
async fn aggregated_core_discovery_is_one_unnamed_group() {
    let server = server_with_crds().await;
    let (headers, api) = get_json(&server, "/api", Some(AGGREGATED)).await;
    assert!(content_type(&headers).contains("as=APIGroupDiscoveryList"));
    let items = api["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"], json!({"creationTimestamp": null}));
    let resources = items[0]["versions"][0]["resources"].as_array().unwrap();
    let secrets = resources
        .iter()
        .find(|r| r["resource"] == "secrets")
        .unwrap();
    assert_eq!(
        secrets,
        &json!({
            "resource": "secrets",
            "responseKind": {"group": "", "version": "", "kind": "Secret"},
            "scope": "Namespaced",
            "singularResource": "secret",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        })
    );
}

#[tokio::test]
async fn types_stored_without_a_crd_are_served_but_not_advertised() {
    let server = ApiServer::new();
    let widget =
        json!({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/apis/example.test/v1/namespaces/default/widgets",
        None,
        Some(&widget),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, apis) = get_json(&server, "/apis", None).await;
    assert!(!apis.to_string().contains("example.test"));
    let (status, _, _) = send(&server, Method::GET, "/apis/example.test/v1", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A fresh server advertises the built-in catalog and no custom group.
    let (_, aggregated) = get_json(&server, "/apis", Some(AGGREGATED)).await;
    assert!(!aggregated.to_string().contains(AURA));
}

#[tokio::test]
async fn the_openapi_index_has_a_hashed_url_per_group_version() {
    let server = server_with_crds().await;
    let (_, index) = get_json(&server, "/openapi/v3", None).await;
    let real = sample("openapi-v3-index.json");
    let paths = index["paths"].as_object().unwrap();
    let real_paths = real["paths"].as_object().unwrap();
    for (path, entry) in paths {
        assert!(
            real_paths.contains_key(path),
            "{path} is not in the real index"
        );
        let url = entry["serverRelativeURL"].as_str().unwrap();
        let real_url = real_paths[path]["serverRelativeURL"].as_str().unwrap();
        // The same URL but for the hash, which has the same form (SHA-512, upper-case hex).
        let (base, hash) = url.split_once("?hash=").unwrap();
        let (real_base, real_hash) = real_url.split_once("?hash=").unwrap();
        assert_eq!(base, real_base);
        assert_eq!(hash.len(), real_hash.len());
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }
    for needed in [
        "api/v1",
        "apis/apps/v1",
        "apis/aura.neo4j.io/v1alpha1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        assert!(paths.contains_key(needed), "{needed}");
    }
    // The hash follows the content: a CRD going changes the group's document.
    let aura_url = |index: &Value| index["paths"]["apis/aura.neo4j.io/v1alpha1"].clone();
    let before = aura_url(&index);
    let (status, _, _) = send(
        &server,
        Method::DELETE,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gdssessions.aura.neo4j.io",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = get_json(&server, "/openapi/v3", None).await;
    assert_ne!(aura_url(&after), before);
    assert_eq!(after["paths"]["api/v1"], index["paths"]["api/v1"]);
}

/// Where two JSON values first differ (a JSON pointer and both sides), for short failure
/// messages on big documents.
fn first_difference(ours: &Value, real: &Value, at: &str) -> Option<String> {
    match (ours, real) {
        (Value::Object(a), Value::Object(b)) => {
            let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            names
                .into_iter()
                .find_map(|name| match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => first_difference(x, y, &format!("{at}/{name}")),
                    (x, y) => Some(format!("{at}/{name}: ours {x:?}, real {y:?}")),
                })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}/{i}"))),
        _ if ours == real => None,
        _ => Some(format!("{at}: ours {ours}, real {real}")),
    }
}

/// Asserts two JSON values are equal, naming the first difference.
fn assert_same(ours: &Value, real: &Value, what: &str) {
    if let Some(difference) = first_difference(ours, real, "") {
        panic!("{what} differs at {difference}");
    }
}

/// `value` without any `description`, for comparing the parts this server words itself.
fn without_descriptions(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| *key != "description")
                .map(|(key, value)| (key.clone(), without_descriptions(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_descriptions).collect()),
        other => other.clone(),
    }
}

/// A CRD type's schema without the descriptions of the three properties the server adds
/// (apiVersion, kind, metadata), which this server words itself; the rest comes from the CRD
/// and must be the same, descriptions included.
fn without_added_descriptions(schema: &Value) -> Value {
    let mut schema = schema.clone();
    for property in ["apiVersion", "kind", "metadata", "items"] {
        if let Some(added) = schema["properties"]
            .get_mut(property)
            .and_then(Value::as_object_mut)
        {
            added.remove("description");
        }
    }
    schema
}

#[tokio::test]
async fn the_aura_openapi_document_has_the_real_paths_operations_and_schemas() {
    let server = server_with_crds().await;
    let (_, index) = get_json(&server, "/openapi/v3", None).await;
    // kubectl fetches the URL the index gives, hash and all.
    let url = index["paths"]["apis/aura.neo4j.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (headers, document) = get_json(&server, &url, Some("application/json")).await;
    assert_eq!(content_type(&headers), "application/json");
    let real = sample("openapi-v3-aura.json");
    assert_eq!(document["openapi"], real["openapi"]);
    assert_eq!(document["info"], real["info"]);

    // Paths and operations: the same set, each operation the same but for descriptions (of
    // the operation and its parameters), which are worded here.
    assert_eq!(keys(&document["paths"]), keys(&real["paths"]));
    for (path, item) in real["paths"].as_object().unwrap() {
        let ours = &document["paths"][path];
        assert_eq!(keys(ours), keys(item), "{path}");
        for (method, operation) in item.as_object().unwrap() {
            assert_same(
                &without_descriptions(&ours[method]),
                &without_descriptions(operation),
                &format!("{method} {path}"),
            );
        }
    }

    // The recording was made from crds/ as they were before `OFF` was quoted: kubectl's YAML 1.1
    // reader took the bare enum value for the boolean false, and the server published that.
    // The CRDs now quote it (`aura-operator crd`), so the string is what a server gets today.
    let mut real = real;
    let cdc = "/components/schemas/io.neo4j.aura.v1alpha1.AuraInstance/properties/spec/properties/cdcEnrichmentMode/enum/0";
    if real.pointer(cdc) == Some(&json!(false)) {
        *real.pointer_mut(cdc).unwrap() = json!("OFF");
    }
    // Also since the recording: the allowedNamespaces rule checks `has(self.names)` first, so
    // that a spec with neither field gets the rule's message instead of a CEL evaluation error.
    let allowed = "/components/schemas/io.neo4j.aura.v1alpha1.ClusterAuraCredential/properties/spec/properties/allowedNamespaces/x-kubernetes-validations/0/rule";
    if real.pointer(allowed) == Some(&json!("size(self.names) > 0 || has(self.selector)")) {
        *real.pointer_mut(allowed).unwrap() =
            json!("(has(self.names) && size(self.names) > 0) || has(self.selector)");
    }
    // The README became a front page and the reasons moved to the book's troubleshooting page;
    // the AuraInstance conditions' description says so now.
    let conditions = "/components/schemas/io.neo4j.aura.v1alpha1.AuraInstance/properties/status/properties/conditions/description";
    if let Some(Value::String(text)) = real.pointer_mut(conditions) {
        *text = text.replace(
            "listed in the README.",
            "listed in the\ndocumentation's troubleshooting page.",
        );
    }
    // And since the recording: a ClusterAuraCredential's secretRef may name its Secret's
    // namespace. The new field and the two descriptions that speak of it are taken as they are
    // now; everything else still has to match the recording.
    let secret_ref = "/components/schemas/io.neo4j.aura.v1alpha1.ClusterAuraCredential/properties/spec/properties/secretRef";
    if real
        .pointer(&format!("{secret_ref}/properties/namespace"))
        .is_none()
    {
        let now = document.pointer(secret_ref).unwrap().clone();
        let then = real.pointer_mut(secret_ref).unwrap();
        then["description"] = now["description"].clone();
        then["properties"]["name"]["description"] =
            now["properties"]["name"]["description"].clone();
        then["properties"]["namespace"] = now["properties"]["namespace"].clone();
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let real_schemas = real["components"]["schemas"].as_object().unwrap();
    assert_eq!(
        schemas.keys().collect::<Vec<_>>(),
        real_schemas.keys().collect::<Vec<_>>()
    );
    for (name, real_schema) in real_schemas {
        let ours = &schemas[name];
        if name.starts_with("io.neo4j.aura.") && !name.ends_with("List") {
            // The CRD's own schema, descriptions included.
            assert_same(
                &without_added_descriptions(ours),
                &without_added_descriptions(real_schema),
                name,
            );
        } else if name.ends_with("DeleteOptions") {
            // Its kinds list every group-version of the cluster: ours are among the real ones.
            let mut ours = without_descriptions(ours);
            let mut real_schema = without_descriptions(real_schema);
            let kinds = ours
                .as_object_mut()
                .unwrap()
                .remove("x-kubernetes-group-version-kind")
                .unwrap();
            let real_kinds = real_schema
                .as_object_mut()
                .unwrap()
                .remove("x-kubernetes-group-version-kind")
                .unwrap();
            for kind in kinds.as_array().unwrap() {
                assert!(real_kinds.as_array().unwrap().contains(kind), "{kind}");
            }
            assert_same(&ours, &real_schema, name);
        } else {
            // Lists and meta types: the same structure, shorter descriptions of our own.
            assert_same(
                &without_descriptions(ours),
                &without_descriptions(real_schema),
                name,
            );
        }
    }
}

#[tokio::test]
async fn built_in_documents_serve_patch_with_field_validation_and_explainable_schemas() {
    let server = ApiServer::new();
    let (_, core) = get_json(&server, "/openapi/v3/api/v1", None).await;
    let (_, apps) = get_json(&server, "/openapi/v3/apis/apps/v1?hash=ignored", None).await;
    for (document, path, kind) in [
        (
            &core,
            "/api/v1/namespaces/{namespace}/secrets/{name}",
            "Secret",
        ),
        (&core, "/api/v1/namespaces/{name}", "Namespace"),
        (
            &core,
            "/api/v1/namespaces/{namespace}/configmaps/{name}",
            "ConfigMap",
        ),
        (
            &core,
            "/api/v1/namespaces/{namespace}/events/{name}",
            "Event",
        ),
        (
            &core,
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
            "ServiceAccount",
        ),
        (
            &apps,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            "Deployment",
        ),
    ] {
        let patch = &document["paths"][path]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"], kind,
            "{path}"
        );
        let parameters: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        // kubectl sends fieldValidation=Strict only when the PATCH operation lists it.
        assert!(parameters.contains(&"fieldValidation"), "{path}");
        // Built-ins take strategic merge patches, CRDs do not.
        assert!(
            patch["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_some()
        );
        // kubectl explain finds the schema by its group-version-kind.
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let schema = schemas
            .values()
            .find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"] == kind))
            })
            .unwrap_or_else(|| panic!("no schema for {kind}"));
        assert!(schema["properties"]["metadata"].is_object(), "{kind}");
        // Every reference resolves within the document.
        let text = document.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referred to but missing"
            );
        }
    }
    let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert!(deployment["properties"]["spec"].is_object());
    let (status, _, _) = send(
        &server,
        Method::GET,
        "/openapi/v3/apis/aura.neo4j.io/v1alpha1",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_v2_is_an_empty_document() {
    let server = ApiServer::new();
    let (_, document) = get_json(&server, "/openapi/v2", Some("application/json")).await;
    assert_eq!(document["swagger"], "2.0");
    assert_eq!(document["paths"], json!({}));
    // client-go asks for protobuf and decodes nothing else.
    let protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let (status, headers, body) =
        send(&server, Method::GET, "/openapi/v2", Some(protobuf), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), protobuf);
    // Field 1 (swagger) = "2.0" first.
    assert_eq!(&body[..5], b"\x0a\x032.0");
}
