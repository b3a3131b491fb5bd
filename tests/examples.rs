//! The samples under `deploy/examples/` parse as their kinds and pass the CRDs' CEL rules.

use aura_operator::crd::{AuraInstanceSpec, AuraSnapshotSpec, GdsSessionSpec};
use serde::Deserialize;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn check(doc: &Value) {
    let spec = &doc["spec"];
    let kind = doc["kind"].as_str().unwrap_or_default();
    let result = match kind {
        "AuraInstance" => serde_json::from_value::<AuraInstanceSpec>(spec.clone())
            .map_err(|e| e.to_string())
            .and_then(|_| AuraInstanceSpec::validate_cel(spec, None).map_err(|e| e.to_string())),
        "AuraSnapshot" => serde_json::from_value::<AuraSnapshotSpec>(spec.clone())
            .map_err(|e| e.to_string())
            .and_then(|_| AuraSnapshotSpec::validate_cel(spec, None).map_err(|e| e.to_string())),
        "GdsSession" => serde_json::from_value::<GdsSessionSpec>(spec.clone())
            .map_err(|e| e.to_string())
            .and_then(|_| GdsSessionSpec::validate_cel(spec, None).map_err(|e| e.to_string())),
        other => Err(format!("unexpected kind {other:?}")),
    };
    let name = &doc["metadata"]["name"];
    assert_eq!(result, Ok(()), "{kind} {name}");
}

#[test]
fn every_sample_is_a_valid_resource() {
    for file in ["aurasnapshot.yaml", "gdssession.yaml"] {
        let docs = documents(file);
        assert!(!docs.is_empty(), "{file} has no resources");
        docs.iter().for_each(check);
    }
}
