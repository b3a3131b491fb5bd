//! Every sample under `deploy/examples/` is a valid resource: it parses as its kind, passes the
//! CRD's CEL rules and the operator's own spec checks, and names no field the type lacks (serde
//! would silently drop a typo).
//! Secrets in the samples are placeholders.

use aura_operator::controllers::connection::formats::{self, Kind};
use aura_operator::controllers::reconciler::Reconciler;
use aura_operator::crd::common::ConnectionSecretSpec;
use aura_operator::crd::credential::AllowedNamespaces;
use aura_operator::crd::{
    AuraInstance, AuraInstanceSpec, AuraSnapshotSpec, ClusterAuraCredentialSpec, GdsSessionSpec,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn documents(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Parses `spec` as `S`, checks its CEL rules, and that every key survives the round trip.
fn check_spec<S: DeserializeOwned + serde::Serialize>(
    spec: &Value,
    cel: impl Fn(&Value) -> Result<(), String>,
) -> Result<(), String> {
    let parsed: S = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    cel(spec)?;
    let back = serde_json::to_value(&parsed).map_err(|e| e.to_string())?;
    for key in spec.as_object().into_iter().flat_map(|o| o.keys()) {
        if back.get(key).is_none() {
            return Err(format!("unknown field spec.{key}"));
        }
    }
    Ok(())
}

/// The CRD schema of `kind` as plain JSON Schema: OpenAPI's `nullable: true` becomes a `null`
/// in the node's types.
fn schema_of(kind: &str) -> Option<Value> {
    fn nullable_to_types(node: &mut Value) {
        if let Value::Object(map) = node {
            if map.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type").cloned()
            {
                map.insert("type".into(), serde_json::json!([t, "null"]));
            }
            map.values_mut().for_each(nullable_to_types);
        }
    }
    let (_, crd) = aura_operator::cli::crd::all()
        .into_iter()
        .find(|(_, c)| c.spec.names.kind == kind)?;
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()?
        .open_api_v3_schema
        .as_ref()?;
    let mut value = serde_json::to_value(schema).ok()?;
    nullable_to_types(&mut value);
    Some(value)
}

/// Validates `doc` against its kind's generated schema, as the API server would.
fn check_schema(doc: &Value) -> Result<(), String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(schema) = schema_of(kind) else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The operator's own check of `connectionSecret` (templates, keys), which CEL cannot do.
fn connection_secret(spec: &Value, kind: Kind) -> Result<(), String> {
    let Some(secret) = spec.get("connectionSecret") else {
        return Ok(());
    };
    let parsed: ConnectionSecretSpec =
        serde_json::from_value(secret.clone()).map_err(|e| e.to_string())?;
    formats::validate(&parsed, kind).map_err(|e| e.to_string())
}

/// The operator's own checks of the spec alone (what its first pass runs before any call):
/// templates, cron expressions, time zones, durations — what CEL cannot check.
fn operator_check<K: Reconciler>(doc: &Value) -> Result<(), String> {
    let obj: K = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    obj.validate().map_err(|e| e.to_string())
}

pub(crate) fn check(doc: &Value) -> Result<(), String> {
    check_schema(doc)?;
    let spec = &doc["spec"];
    match doc["kind"].as_str().unwrap_or_default() {
        "AuraInstance" => check_spec::<AuraInstanceSpec>(spec, |s| {
            AuraInstanceSpec::validate_cel(s, None).map_err(|e| e.to_string())
        })
        .and_then(|()| connection_secret(spec, Kind::Instance))
        .and_then(|()| operator_check::<AuraInstance>(doc)),
        "AuraSnapshot" => check_spec::<AuraSnapshotSpec>(spec, |s| {
            AuraSnapshotSpec::validate_cel(s, None).map_err(|e| e.to_string())
        }),
        "GdsSession" => check_spec::<GdsSessionSpec>(spec, |s| {
            GdsSessionSpec::validate_cel(s, None).map_err(|e| e.to_string())
        })
        .and_then(|()| connection_secret(spec, Kind::Session)),
        "ClusterAuraCredential" => check_spec::<ClusterAuraCredentialSpec>(spec, |s| {
            AllowedNamespaces::validate_cel(&s["allowedNamespaces"], None)
                .map_err(|e| e.to_string())
        }),
        "Secret" => {
            for (key, value) in doc["stringData"].as_object().into_iter().flatten() {
                let value = value.as_str().unwrap_or_default();
                if !(value.starts_with('<') && value.ends_with('>')) {
                    return Err(format!("stringData.{key} must be a <placeholder>"));
                }
            }
            Ok(())
        }
        // Other kinds (e.g. a Job owning a GdsSession) are plain Kubernetes objects.
        _ => Ok(()),
    }
}

#[test]
fn every_sample_is_a_valid_resource() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        for doc in documents(&path) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                check(&doc),
                Ok(()),
                "{} {kind} {}",
                path.display(),
                doc["metadata"]["name"]
            );
            kinds.push(kind);
        }
    }
    for kind in [
        "AuraInstance",
        "AuraSnapshot",
        "GdsSession",
        "ClusterAuraCredential",
        "Secret",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} sample");
    }
}

#[test]
fn the_check_catches_a_misspelt_field_and_a_real_secret() {
    let typo = serde_json::json!({"kind": "AuraInstance", "spec": {
        "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
        "region": "europe-west1", "type": "professional-db", "memory": "2GB", "deletionPolicyy": "Delete"
    }});
    assert_eq!(
        check(&typo),
        Err("unknown field spec.deletionPolicyy".into())
    );
    let secret = serde_json::json!({"kind": "Secret", "stringData": {"clientSecret": "s3cr3t"}});
    assert!(check(&secret).is_err());
    // A value serde accepts but the schema's pattern does not.
    let pattern = serde_json::json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "x"}, "spec": {
        "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
        "region": "europe-west1", "type": "professional-db", "memory": "2G"
    }});
    let err = check(&pattern).unwrap_err();
    assert!(err.contains("/spec/memory"), "{err}");
    // A template naming a field that does not exist, which only the operator's check sees.
    let template = serde_json::json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "x"}, "spec": {
        "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
        "region": "europe-west1", "type": "professional-db", "memory": "2GB",
        "connectionSecret": {"keys": {"P": "{{ password }}", "URL": "{{ url }}"}}
    }});
    let err = check(&template).unwrap_err();
    assert!(err.contains("connectionSecret.keys.URL"), "{err}");
    // A time zone that does not exist, which neither the schema nor CEL can know.
    let zone = serde_json::json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
        "metadata": {"name": "x"}, "spec": {
        "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
        "region": "europe-west1", "type": "professional-db", "memory": "2GB",
        "schedule": {"pause": "0 20 * * 1-5", "resume": "0 7 * * 1-5", "timeZone": "Europe/Berln"}
    }});
    let err = check(&zone).unwrap_err();
    assert!(err.contains("spec.schedule.timeZone"), "{err}");
}
