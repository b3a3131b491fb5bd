//! Admission of custom resources whose CRD is stored, compared with what a real kube-apiserver
//! v1.32 answered to the same requests (`tests/samples/`, recorded with the project's CRDs).

use http_body_util::BodyExt;
use memory_apiserver::ApiServer;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The project's CRDs, from `crds/` at the workspace root.
pub fn crds() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

/// A server with the project's CRDs installed as a user would install them (CRD objects).
pub async fn server_with_crds() -> ApiServer {
    let server = ApiServer::new();
    for crd in crds() {
        let (status, body, _) = call(
            &server,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &crd,
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    server
}

/// One request through the server's tower service: status, JSON body, `Warning` headers.
pub async fn call(
    server: &ApiServer,
    method: &str,
    uri: &str,
    body: &Value,
) -> (u16, Value, Vec<String>) {
    let content_type = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let response = server.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap(), warnings)
}

pub fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn instance(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// The spec of the sample's valid instance, as sent (before defaults).
fn ok_spec() -> Value {
    json!({
        "cloudProvider": "gcp",
        "memory": "2GB",
        "region": "europe-west1",
        "tenantId": "6f0d6a9e-1111-4e55-9a53-000000000001",
        "type": "professional-db",
    })
}

const INSTANCES: &str = "/apis/aura.neo4j.io/v1alpha1/namespaces/facts/aurainstances";

#[tokio::test]
async fn a_valid_instance_gets_the_schema_defaults_the_real_server_gave() {
    let server = server_with_crds().await;
    let (status, created, warnings) =
        call(&server, "POST", INSTANCES, &instance("ok1", ok_spec())).await;
    assert_eq!(status, 201, "{created}");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(created["spec"], sample("create-ok")["spec"]);
    // And it is what is stored.
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "ok1")
        .unwrap();
    assert_eq!(stored["spec"], sample("create-ok")["spec"]);
}

#[tokio::test]
async fn an_unknown_enum_value_and_a_missing_required_field_answer_as_recorded() {
    let server = server_with_crds().await;
    let mut spec = ok_spec();
    spec["cloudProvider"] = json!("moon");
    spec.as_object_mut().unwrap().remove("memory");
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("bad2", spec)).await;
    assert_eq!(status, 422);
    // Exactly: here the real server's order (properties, then required fields, then the note
    // that CEL rules were skipped) is not left to chance.
    assert_eq!(body, sample("invalid-enum-required"));
}

/// The causes of a Status as a sorted list, and its message rebuilt from them in their order.
fn causes_and_message_shape(status: &Value) -> (Vec<Value>, String) {
    let causes = status["details"]["causes"].as_array().unwrap().clone();
    let listed: Vec<String> = causes
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect();
    let message = format!(
        "AuraInstance.aura.neo4j.io \"{}\" is invalid: [{}]",
        status["details"]["name"].as_str().unwrap(),
        listed.join(", ")
    );
    let mut sorted = causes;
    sorted.sort_by_key(|c| c.to_string());
    (sorted, message)
}

#[tokio::test]
async fn wrong_json_types_answer_as_recorded() {
    let server = server_with_crds().await;
    let mut spec = ok_spec();
    spec["paused"] = json!("string");
    spec["memory"] = json!(5);
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("bad3", spec)).await;
    let recorded = sample("invalid-types");
    assert_eq!(status, 422);
    for key in ["kind", "apiVersion", "metadata", "status", "reason", "code"] {
        assert_eq!(body[key], recorded[key], "{key}");
    }
    for key in ["name", "group", "kind"] {
        assert_eq!(
            body["details"][key], recorded["details"][key],
            "details.{key}"
        );
    }
    // The real validator visits an object's properties in Go map order, which is random (the
    // recording has spec.paused before spec.memory; we go by name). So the causes are compared
    // as a set, and each message must list its own causes in its own order, the same way.
    let (ours, our_message) = causes_and_message_shape(&body);
    let (theirs, their_message) = causes_and_message_shape(&recorded);
    assert_eq!(ours, theirs);
    assert_eq!(body["message"], json!(our_message));
    assert_eq!(recorded["message"], json!(their_message));
    // The note that CEL rules were skipped comes last in both.
    assert_eq!(
        body["details"]["causes"].as_array().unwrap().last(),
        recorded["details"]["causes"].as_array().unwrap().last()
    );
}

#[tokio::test]
async fn changing_the_region_is_refused_by_the_cel_transition_rule_as_recorded() {
    let server = server_with_crds().await;
    let (status, _, _) = call(&server, "POST", INSTANCES, &instance("ok1", ok_spec())).await;
    assert_eq!(status, 201);
    let patch = json!({"spec": {"region": "europe-west2"}});
    let (status, body, _) = call(&server, "PATCH", &format!("{INSTANCES}/ok1"), &patch).await;
    assert_eq!(status, 422);
    assert_eq!(body, sample("cel-immutable"));
    // Nothing was written.
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "ok1")
        .unwrap();
    assert_eq!(stored["spec"]["region"], "europe-west1");
    // A change the rules allow goes through.
    let patch = json!({"spec": {"memory": "4GB"}});
    let (status, body, _) = call(&server, "PATCH", &format!("{INSTANCES}/ok1"), &patch).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_unknown_field_is_a_bad_request_under_strict_as_recorded() {
    let server = server_with_crds().await;
    let mut spec = ok_spec();
    spec["memroy"] = json!("2GB");
    let uri = format!("{INSTANCES}?fieldValidation=Strict");
    let (status, body, _) = call(&server, "POST", &uri, &instance("typo", spec)).await;
    assert_eq!(status, 400);
    assert_eq!(body, sample("unknown-field-strict"));
    assert!(
        server
            .get("aura.neo4j.io", "aurainstances", Some("facts"), "typo")
            .is_none()
    );
}

#[tokio::test]
async fn several_unknown_fields_are_listed_together_under_strict() {
    let server = server_with_crds().await;
    let mut object = instance("typos", ok_spec());
    object["spec"]["memroy"] = json!("2GB");
    object["spec"]["connectionSecret"] = json!({"nmae": "x"});
    object["metadata"]["lables"] = json!({"a": "b"});
    let uri = format!("{INSTANCES}?fieldValidation=Strict");
    let (status, body, _) = call(&server, "POST", &uri, &object).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "AuraInstance in version \"v1alpha1\" cannot be handled as a AuraInstance: strict decoding \
         error: unknown field \"metadata.lables\", unknown field \"spec.connectionSecret.nmae\", \
         unknown field \"spec.memroy\""
    );
}

#[tokio::test]
async fn unknown_fields_are_dropped_with_a_warning_by_default_and_silently_under_ignore() {
    let server = server_with_crds().await;
    let mut spec = ok_spec();
    spec["memroy"] = json!("2GB");
    let (status, body, warnings) = call(
        &server,
        "POST",
        INSTANCES,
        &instance("warned", spec.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(warnings, ["299 - \"unknown field \\\"spec.memroy\\\"\""]);
    assert!(body["spec"].get("memroy").is_none());
    let uri = format!("{INSTANCES}?fieldValidation=Ignore");
    let (status, body, warnings) = call(&server, "POST", &uri, &instance("quiet", spec)).await;
    assert_eq!(status, 201, "{body}");
    assert!(warnings.is_empty());
    assert!(body["spec"].get("memroy").is_none());
}

#[tokio::test]
async fn the_warning_reaches_a_kube_client_and_the_typed_api_sees_the_refusal() {
    // Through kube's own client: the Status decodes into kube::Error::Api with its causes.
    let server = server_with_crds().await;
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        server.client(),
        "facts",
        &kube::api::ApiResource {
            group: "aura.neo4j.io".into(),
            version: "v1alpha1".into(),
            api_version: "aura.neo4j.io/v1alpha1".into(),
            kind: "AuraInstance".into(),
            plural: "aurainstances".into(),
        },
    );
    let mut spec = ok_spec();
    spec["type"] = json!("huge-db");
    let object: kube::api::DynamicObject = serde_json::from_value(instance("typed", spec)).unwrap();
    let err = api
        .create(&kube::api::PostParams::default(), &object)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("spec.type: Unsupported value: \"huge-db\""),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn status_writes_are_validated_against_the_status_schema_only() {
    let server = server_with_crds().await;
    let (status, _, _) = call(&server, "POST", INSTANCES, &instance("st", ok_spec())).await;
    assert_eq!(status, 201);
    let uri = format!("{INSTANCES}/st/status");
    let bad = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}],
                                "observedGeneration": "one"}});
    let (status, body, _) = call(&server, "PATCH", &uri, &bad).await;
    assert_eq!(status, 422, "{body}");
    let causes: Vec<(String, String)> = body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().into(),
                c["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(causes.contains(&(
        "status.observedGeneration".into(),
        "Invalid value: \"string\": observedGeneration in body must be of type integer: \"string\""
            .into()
    )), "{causes:?}");
    assert!(
        causes.contains(&(
            "status.conditions[0].lastTransitionTime".into(),
            "Required value".into()
        )),
        "{causes:?}"
    );
    let good = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ok",
        "message": "", "lastTransitionTime": "2026-12-05T21:46:20Z"}], "observedGeneration": 1,
        "expiry": {"expiresAt": "2026-12-06T21:46:20Z"}}});
    let (status, body, _) = call(&server, "PATCH", &uri, &good).await;
    assert_eq!(status, 200, "{body}");
    // Defaults inside status apply on the status subresource.
    assert_eq!(body["status"]["expiry"]["warned"], json!(false));
}

#[tokio::test]
async fn a_date_time_field_must_be_one() {
    let server = server_with_crds().await;
    let (status, _, _) = call(&server, "POST", INSTANCES, &instance("dt", ok_spec())).await;
    assert_eq!(status, 201);
    let uri = format!("{INSTANCES}/dt/status");
    let bad = json!({"status": {"createdAt": "yesterday"}});
    let (status, body, _) = call(&server, "PATCH", &uri, &bad).await;
    assert_eq!(status, 422, "{body}");
    // A format error is a type error: the real server then skips the CEL rules, and says so.
    assert_eq!(
        body["message"],
        "AuraInstance.aura.neo4j.io \"dt\" is invalid: [status.createdAt: Invalid value: \
         \"yesterday\": createdAt in body must be of type date-time: \"yesterday\", <nil>: \
         Invalid value: \"null\": some validation rules were not checked because the object \
         was invalid; correct the existing errors to complete validation]"
    );
}

#[tokio::test]
async fn names_of_custom_resources_are_dns_subdomains() {
    let server = server_with_crds().await;
    let (status, body, _) =
        call(&server, "POST", INSTANCES, &instance("Bad_Name", ok_spec())).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["details"]["causes"][0]["field"], "metadata.name",
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("a lowercase RFC 1123 subdomain must consist of"),
        "{body}"
    );
    let mut nameless = instance("x", ok_spec());
    nameless["metadata"] = json!({});
    let (status, body, _) = call(&server, "POST", INSTANCES, &nameless).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "AuraInstance.aura.neo4j.io \"\" is invalid: metadata.name: Required value: name or \
         generateName is required"
    );
}

#[tokio::test]
async fn an_object_stored_before_can_be_updated_elsewhere_while_an_old_value_stays_invalid() {
    // Ratcheting: a value that did not change is not validated again.
    let server = server_with_crds().await;
    let (status, _, _) = call(&server, "POST", INSTANCES, &instance("old", ok_spec())).await;
    assert_eq!(status, 201);
    // Make the stored object invalid behind the schema's back, as a stricter new CRD version
    // would: drop the CRD, write, put the CRD back.
    let crd = crds()
        .into_iter()
        .find(|c| c["spec"]["names"]["kind"] == "AuraInstance")
        .unwrap();
    let crd_uri = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (status, _, _) = call(
        &server,
        "DELETE",
        &format!("{crd_uri}/aurainstances.aura.neo4j.io"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let patch = json!({"spec": {"memory": "lots"}});
    let (status, _, _) = call(&server, "PATCH", &format!("{INSTANCES}/old"), &patch).await;
    assert_eq!(status, 200);
    let (status, body, _) = call(&server, "POST", crd_uri, &crd).await;
    assert_eq!(status, 201, "{body}");
    let patch = json!({"spec": {"paused": true}});
    let (status, body, _) = call(&server, "PATCH", &format!("{INSTANCES}/old"), &patch).await;
    assert_eq!(status, 200, "{body}");
    let patch = json!({"spec": {"memory": "more"}});
    let (status, body, _) = call(&server, "PATCH", &format!("{INSTANCES}/old"), &patch).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "Invalid value: \"more\": spec.memory in body should match '^[0-9]+GB$'"
    );
}

#[tokio::test]
async fn types_without_a_crd_are_not_validated() {
    let server = server_with_crds().await;
    let (status, body, _) = call(
        &server,
        "POST",
        "/apis/example.test/v1/namespaces/default/widgets",
        &json!({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": {"anything": ["goes", 1]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["spec"]["anything"], json!(["goes", 1]));
}

#[tokio::test]
async fn server_side_apply_and_put_are_admitted_too() {
    let server = server_with_crds().await;
    // Server-side apply that creates: defaults, and refusals, as for a POST.
    let apply = |name: &str, spec: Value| {
        let request = http::Request::builder()
            .method("PATCH")
            .uri(format!(
                "{INSTANCES}/{name}?fieldManager=kubectl&fieldValidation=Strict"
            ))
            .header("content-type", "application/apply-patch+yaml")
            .body(kube::client::Body::from(
                serde_json::to_vec(&instance(name, spec)).unwrap(),
            ))
            .unwrap();
        let server = server.clone();
        async move {
            let response = server.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, body) = apply("applied", ok_spec()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["spec"]["deletionPolicy"], "Retain");
    let mut moved = ok_spec();
    moved["region"] = json!("us-east-1");
    let (status, body) = apply("applied", moved.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        sample("cel-immutable")["details"]["causes"][0]["message"]
    );
    // PUT of the whole object.
    let mut current = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "applied")
        .unwrap();
    current["spec"]["region"] = json!("us-east-1");
    let (status, body, _) = call(&server, "PUT", &format!("{INSTANCES}/applied"), &current).await;
    assert_eq!(status, 422, "{body}");
    current["spec"]["region"] = json!("europe-west1");
    current["spec"]["paused"] = json!(true);
    let (status, body, _) = call(&server, "PUT", &format!("{INSTANCES}/applied"), &current).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_null_where_the_schema_allows_none_is_dropped_or_defaulted() {
    let server = server_with_crds().await;
    let mut spec = ok_spec();
    // Not nullable, with a default: the default. Nullable: kept. Not nullable, no default:
    // dropped (here a required field, so it is then missing).
    spec["deletionPolicy"] = Value::Null;
    spec["tenantName"] = Value::Null;
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("nulls", spec)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["spec"]["deletionPolicy"], "Retain");
    assert_eq!(body["spec"]["tenantName"], Value::Null);
    let mut spec = ok_spec();
    spec["memory"] = Value::Null;
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("nomem", spec)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "spec.memory");
    assert_eq!(body["details"]["causes"][0]["reason"], "FieldValueRequired");
}

#[tokio::test]
async fn an_invalid_object_is_refused_as_invalid_even_when_its_name_is_taken() {
    let server = server_with_crds().await;
    let (status, _, _) = call(&server, "POST", INSTANCES, &instance("taken", ok_spec())).await;
    assert_eq!(status, 201);
    let mut spec = ok_spec();
    spec["cloudProvider"] = json!("moon");
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("taken", spec)).await;
    assert_eq!(status, 422, "{body}");
    let (status, body, _) = call(&server, "POST", INSTANCES, &instance("taken", ok_spec())).await;
    assert_eq!(status, 409, "{body}");
}
