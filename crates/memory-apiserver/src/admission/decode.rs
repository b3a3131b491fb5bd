//! What the real server does to a custom resource while decoding a request, before any
//! validation: drops the fields its schema does not know (pruning, remembering their paths for
//! `fieldValidation`), drops `null`s where the schema does not allow them and has no default,
//! and fills in `default`s.

use serde_json::{Map, Value};

/// The fields of `metadata` (ObjectMeta); anything else there is unknown.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

pub fn is_true(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// `additionalProperties` when it is a schema (a map's values).
pub fn additional_schema(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes the fields `schema` does not declare from `value` and returns their paths
/// (`spec.memroy`, `spec.items[0].x`, `metadata.foo`), in the order met.
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune_node(schema, value, "", true, &mut unknown);
    unknown
}

fn prune_meta(meta: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Value::Object(fields) = meta {
        fields.retain(|key, _| {
            let known = OBJECT_META_FIELDS.contains(&key.as_str());
            if !known {
                unknown.push(child_path(path, key));
            }
            known
        });
    }
}

fn prune_node(
    schema: &Value,
    value: &mut Value,
    path: &str,
    resource_root: bool,
    unknown: &mut Vec<String>,
) {
    match value {
        Value::Object(fields) => {
            let embedded = resource_root || is_true(schema, "x-kubernetes-embedded-resource");
            if let Some(additional) = additional_schema(schema) {
                for (key, child) in fields.iter_mut() {
                    prune_node(additional, child, &child_path(path, key), false, unknown);
                }
                return;
            }
            let preserve = is_true(schema, "x-kubernetes-preserve-unknown-fields")
                || schema.get("additionalProperties") == Some(&Value::Bool(true));
            let props = properties(schema);
            let mut dropped = Vec::new();
            for (key, child) in fields.iter_mut() {
                let child_path = child_path(path, key);
                if let Some(child_schema) = props.and_then(|p| p.get(key)) {
                    prune_node(child_schema, child, &child_path, false, unknown);
                } else if embedded && key == "metadata" {
                    prune_meta(child, &child_path, unknown);
                } else if embedded && (key == "apiVersion" || key == "kind") {
                } else if !preserve {
                    dropped.push(key.clone());
                    unknown.push(child_path);
                }
            }
            for key in dropped {
                fields.remove(&key);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item_schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

fn nullable(schema: &Value) -> bool {
    is_true(schema, "nullable")
}

/// Applies `default`s to missing fields (and to `null` ones the schema does not allow), drops
/// the other disallowed `null`s, then does the same inside every object present, defaults
/// included.
pub fn default(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(fields) => {
            if let Some(props) = properties(schema) {
                for (key, prop) in props {
                    let default = prop.get("default");
                    match fields.get(key) {
                        None => {
                            if let Some(default) = default {
                                fields.insert(key.clone(), default.clone());
                            }
                        }
                        Some(Value::Null) if !nullable(prop) => match default {
                            Some(default) => {
                                fields.insert(key.clone(), default.clone());
                            }
                            None => {
                                fields.remove(key);
                            }
                        },
                        Some(_) => {}
                    }
                }
                for (key, child) in fields.iter_mut() {
                    if let Some(prop) = props.get(key) {
                        default(prop, child);
                    }
                }
            } else if let Some(additional) = additional_schema(schema) {
                if !nullable(additional) {
                    match additional.get("default") {
                        Some(d) => {
                            for child in fields.values_mut().filter(|c| c.is_null()) {
                                *child = d.clone();
                            }
                        }
                        None => fields.retain(|_, child| !child.is_null()),
                    }
                }
                for child in fields.values_mut() {
                    default(additional, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items.iter_mut() {
                    default(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "a": {"type": "string", "default": "x"},
                "b": {"type": "string", "nullable": true},
                "c": {"type": "string"},
                "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "nested": {"type": "object", "default": {}, "properties": {"d": {"type": "boolean", "default": false}}}
            }}
        }})
    }

    #[test]
    fn prunes_unknown_fields_and_reports_their_paths() {
        let mut object = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "bogus": 1},
            "spec": {"c": "y", "memroy": 1, "list": [{"n": 1, "m": 2}], "free": {"any": 1},
                     "labels": {"k": "v"}},
            "extra": true
        });
        let unknown = prune(&schema(), &mut object);
        assert_eq!(
            unknown,
            ["extra", "metadata.bogus", "spec.list[0].m", "spec.memroy"]
        );
        assert_eq!(object["spec"]["free"], json!({"any": 1}));
        assert!(object.get("extra").is_none());
    }

    #[test]
    fn defaults_fill_missing_fields_and_disallowed_nulls() {
        let mut object = json!({"spec": {"a": null, "b": null, "c": null}});
        default(&schema(), &mut object);
        assert_eq!(
            object["spec"],
            json!({"a": "x", "b": null, "nested": {"d": false}})
        );
    }
}
