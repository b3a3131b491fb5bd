//! The CRD files are what the code generates, and every schema is structural.

use aura_operator::cli::crd;
use serde_json::Value;

#[test]
fn crd_files_match_the_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (file, definition) in crd::all() {
        let expected = crd::render(&definition).unwrap();
        let path = dir.join(file);
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "{} is out of date: run `cargo run -- crd --out-dir crds`",
            path.display()
        );
    }
}

/// Walks a schema the way the API server's structural check does and lists the violations.
fn structural_problems(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    let escape = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !escape && !obj.contains_key("type") {
        problems.push(format!("{path}: no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        problems.push(format!(
            "{path}: properties and additionalProperties together"
        ));
    }
    for forbidden in ["$ref", "oneOf", "anyOf", "allOf", "not"] {
        if obj.contains_key(forbidden) {
            problems.push(format!("{path}: uses {forbidden}"));
        }
    }
    if obj.get("type") == Some(&Value::String("array".into())) {
        match obj.get("items") {
            Some(items) => structural_problems(items, &format!("{path}[]"), problems),
            None => problems.push(format!("{path}: array without items")),
        }
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, child) in props {
            structural_problems(child, &format!("{path}.{name}"), problems);
        }
    }
    if let Some(additional @ Value::Object(_)) = obj.get("additionalProperties") {
        structural_problems(additional, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn every_crd_schema_is_structural() {
    for (file, definition) in crd::all() {
        for version in &definition.spec.versions {
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema");
            let value = serde_json::to_value(schema).unwrap();
            let mut problems = Vec::new();
            structural_problems(&value, "", &mut problems);
            assert!(
                problems.is_empty(),
                "{file} {}: {problems:#?}",
                version.name
            );
            assert!(
                version
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some()),
                "{file}: status subresource"
            );
        }
    }
}

#[test]
fn the_structural_check_catches_an_untyped_node() {
    let bad = serde_json::json!({"type": "object", "properties": {"free": {"description": "any"}, "list": {"type": "array"}}});
    let mut problems = Vec::new();
    structural_problems(&bad, "", &mut problems);
    assert_eq!(problems, [".free: no type", ".list: array without items"]);
}
