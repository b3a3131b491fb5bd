//! The samples in deploy/examples are valid resources: they parse into the Rust types and pass
//! the CRD's CEL rules.

use aura_operator::crd::{AuraInstance, AuraInstanceSpec};
use serde::Deserialize;

fn documents(file: &str) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("YAML"))
        .collect()
}

#[test]
fn aura_instance_samples_are_valid() {
    let mut seen = 0;
    for file in ["aurainstance.yaml", "aurainstance-emulator.yaml"] {
        for doc in documents(file) {
            let obj: AuraInstance =
                serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
            let spec = serde_json::to_value(&obj.spec).unwrap();
            AuraInstanceSpec::validate_cel(&doc["spec"], None)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                spec["cloudProvider"], doc["spec"]["cloudProvider"],
                "{file}"
            );
            // Every field of the sample is a field of the type (serde would ignore a typo).
            for key in doc["spec"].as_object().unwrap().keys() {
                assert!(spec.get(key).is_some(), "{file}: unknown field spec.{key}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn the_credentials_template_holds_no_real_secret() {
    let doc = &documents("aura-credentials-secret.yaml")[0];
    assert_eq!(doc["kind"], "Secret");
    for key in ["clientId", "clientSecret"] {
        let value = doc["stringData"][key].as_str().unwrap();
        assert!(
            value.starts_with('<') && value.ends_with('>'),
            "{key} must be a placeholder"
        );
    }
}
