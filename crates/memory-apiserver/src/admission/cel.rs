//! `x-kubernetes-validations`: the CEL rules of a CRD's schema, evaluated with kube-cel (the
//! Kubernetes CEL libraries on the `cel` crate) at the node each rule sits on, with `self` the
//! value there and, for transition rules, `oldSelf` the stored object's value at the same place.
//!
//! The walk is ours, so that it follows the real server: rules do not run on `null`s; a null
//! field of an object counts as absent (`has()` is false); transition rules run only on update
//! and only where an old value exists (matched by field, map key, or the keys of a
//! `x-kubernetes-list-type: map` list, never by list position); and, with ratcheting, a rule
//! that does not use `oldSelf` does not run again on a value that did not change. kube-cel
//! evaluates each node's own rules: the compiled node keeps its descendants (for the value's
//! types and formats) with their rules removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use kube_cel::{CompiledSchema, ErrorKind, Validator, compile_schema};
use serde_json::{Map, Value};

use super::decode::additional_schema;
use super::errors::{BadValue, ErrorType, FieldError};
use super::schema::correlate;

/// Compiled nodes, by the node's schema text: the same CRD compiles once per process.
type Cache = Mutex<HashMap<String, Arc<CompiledNode>>>;

struct CompiledNode {
    compiled: CompiledSchema,
    /// The rules that use `oldSelf`.
    transition: Vec<String>,
    /// How an evaluation error names each rule: its message, else its text.
    labels: HashMap<String, String>,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

thread_local! {
    static VALIDATOR: Validator = Validator::new();
}

/// Leaves a compiled node with its own rules only (and those of its `allOf` branches, which
/// the real server evaluates at the same node; not `anyOf`/`oneOf` ones).
fn strip_descendant_rules(node: &mut CompiledSchema) {
    let children = node
        .properties
        .values_mut()
        .chain(node.items.as_deref_mut())
        .chain(node.additional_properties.as_deref_mut())
        .chain(node.one_of.iter_mut())
        .chain(node.any_of.iter_mut());
    for child in children {
        child.validations.clear();
        strip_descendant_rules(child);
    }
    for branch in &mut node.all_of {
        strip_descendant_rules(branch);
    }
}

/// The rules evaluated at a node: its own and its `allOf` branches'.
fn node_rules(node: &CompiledSchema) -> Vec<&kube_cel::CompilationResult> {
    let mut rules: Vec<&kube_cel::CompilationResult> = node
        .validations
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .collect();
    for branch in &node.all_of {
        rules.extend(node_rules(branch));
    }
    rules
}

fn compiled(schema: &Value) -> Arc<CompiledNode> {
    let key = schema.to_string();
    if let Some(found) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    let mut compiled = compile_schema(schema);
    strip_descendant_rules(&mut compiled);
    let transition = node_rules(&compiled)
        .into_iter()
        .filter(|r| r.is_transition_rule)
        .map(|r| r.rule.rule.clone())
        .collect();
    let labels = node_rules(&compiled)
        .into_iter()
        .map(|r| {
            let label = r.rule.message.as_deref().unwrap_or_default().trim();
            let label = if label.is_empty() {
                r.rule.rule.trim()
            } else {
                label
            };
            (r.rule.rule.clone(), label.to_string())
        })
        .collect();
    let node = Arc::new(CompiledNode {
        compiled,
        transition,
        labels,
    });
    if let Ok(mut c) = cache().lock() {
        c.insert(key, Arc::clone(&node));
    }
    node
}

/// A `field.Path`: `spec.keys[k]`, `spec.items[0]`; the root is `None`.
#[derive(Clone)]
struct Path(Option<String>);

impl Path {
    fn child(&self, key: &str) -> Self {
        Self(Some(match &self.0 {
            None => key.to_string(),
            Some(p) => format!("{p}.{key}"),
        }))
    }

    fn subscript(&self, key: &str) -> Self {
        Self(Some(format!("{}[{key}]", self.0.as_deref().unwrap_or(""))))
    }

    /// A rule's `fieldPath` (`.spec.x`, `.x['y']`), below this node.
    fn relative(&self, field_path: &str) -> Self {
        let mut path = self.clone();
        let mut rest = field_path.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                path = path.child(&after[..end]);
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                let key = after[..end].trim_matches(['\'', '"']);
                path = path.subscript(key);
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                path = path.child(&rest[..end]);
                rest = &rest[end..];
            }
        }
        path
    }
}

/// Every rule of `schema` on `value` (with `old` on update). A rule without `oldSelf` that
/// fails on a value that did not change is ratcheted: the real server lets the write through
/// and sends the error as a warning instead.
pub fn validate(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let mut found = Vec::new();
    walk(schema, value, old, &Path(None), &mut found);
    for (error, ratcheted) in found {
        if ratcheted {
            warnings.push(error.message());
        } else {
            errors.push(error);
        }
    }
}

fn walk(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &Path,
    errors: &mut Vec<(FieldError, bool)>,
) {
    if value.is_null() {
        return;
    }
    let old = old.filter(|o| !o.is_null());
    if has_node_rules(schema) {
        evaluate(schema, value, old, path, errors);
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(props) = props {
                for (key, prop) in props {
                    if let Some(child) = fields.get(key) {
                        let old_child = old.and_then(|o| o.get(key));
                        walk(prop, child, old_child, &path.child(key), errors);
                    }
                }
            } else if let Some(additional) = additional_schema(schema) {
                for (key, child) in fields {
                    let old_child = old.and_then(|o| o.get(key));
                    walk(additional, child, old_child, &path.subscript(key), errors);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                let old_items = old.and_then(Value::as_array);
                for (i, item) in items.iter().enumerate() {
                    let old_item = old_items.and_then(|o| correlate(schema, item, o));
                    walk(
                        item_schema,
                        item,
                        old_item,
                        &path.subscript(&i.to_string()),
                        errors,
                    );
                }
            }
        }
        _ => {}
    }
}

/// Whether rules sit on this node (or on its `allOf` branches).
fn has_node_rules(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|rules| !rules.is_empty())
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.iter().any(has_node_rules))
}

/// The value as CEL sees it: in objects with declared properties, a `null` field is absent.
fn cel_view(schema: &Value, value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = additional_schema(schema);
            let mut out = Map::new();
            for (key, child) in fields {
                let child_schema = match props {
                    Some(props) => {
                        if child.is_null() {
                            continue;
                        }
                        props.get(key)
                    }
                    None => additional,
                };
                let view = match child_schema {
                    Some(s) => cel_view(s, child),
                    None => child.clone(),
                };
                out.insert(key.clone(), view);
            }
            Value::Object(out)
        }
        Value::Array(items) => match schema.get("items") {
            Some(item_schema) => {
                Value::Array(items.iter().map(|i| cel_view(item_schema, i)).collect())
            }
            None => value.clone(),
        },
        other => other.clone(),
    }
}

fn evaluate(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &Path,
    errors: &mut Vec<(FieldError, bool)>,
) {
    let node = compiled(schema);
    let unchanged = old == Some(value);
    let view = cel_view(schema, value);
    let old_view = old.map(|o| cel_view(schema, o));
    let result = VALIDATOR.with(|v| v.validate_compiled(&node.compiled, &view, old_view.as_ref()));
    let Err(failures) = result else {
        return;
    };
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    for failure in failures.iter() {
        // Ratcheting: an unchanged value passes rules that do not look at oldSelf.
        let ratcheted = unchanged && !node.transition.contains(&failure.rule);
        let at = if failure.field_path.is_empty() {
            path.clone()
        } else {
            path.relative(&failure.field_path)
        };
        if failure.kind != ErrorKind::ValidationFailure {
            // As the real server words a rule that could not be evaluated (a missing field,
            // say): `no such key: names evaluating rule: <message>`.
            let cause = std::error::Error::source(failure)
                .map(ToString::to_string)
                .unwrap_or_else(|| failure.message.clone());
            let mut chars = cause.chars();
            let cause: String = match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => cause,
            };
            let label = node.labels.get(&failure.rule).cloned().unwrap_or_default();
            let error = FieldError::invalid(
                at.0,
                BadValue::str(ty),
                format!("{cause} evaluating rule: {label}"),
            );
            errors.push((error, false));
            continue;
        }
        let message = failure.message.clone();
        let error = match failure.reason.as_deref() {
            Some("FieldValueForbidden") => {
                FieldError::new(ErrorType::Forbidden, at.0, BadValue::Omitted, message)
            }
            Some("FieldValueRequired") => FieldError::required(at.0, message),
            Some("FieldValueDuplicate") => {
                FieldError::new(ErrorType::Duplicate, at.0, BadValue::str(ty), "")
            }
            _ => FieldError::invalid(at.0, BadValue::str(ty), message),
        };
        errors.push((error, ratcheted));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": true},
                "b": {"type": "string", "nullable": true},
                "region": {"type": "string"},
                "keys": {"type": "object", "additionalProperties": {"type": "string"},
                         "x-kubernetes-validations": [{"rule": "self.all(k, size(k) < 3)", "message": "short keys"}]}
            },
            "x-kubernetes-validations": [
                {"rule": "!(has(self.a) && has(self.b))", "message": "a or b"},
                {"rule": "self.region == oldSelf.region", "message": "region is immutable"},
                {"rule": "self.region != 'x'", "fieldPath": ".region", "reason": "FieldValueForbidden", "message": "not x"}
            ]
        }}})
    }

    fn run(new: Value, old: Option<Value>) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&schema(), &new, old.as_ref(), &mut errors, &mut Vec::new());
        errors.iter().map(FieldError::message).collect()
    }

    #[test]
    fn rules_at_their_nodes() {
        assert_eq!(
            run(json!({"spec": {"a": "1", "b": null, "region": "r"}}), None),
            Vec::<String>::new()
        );
        assert_eq!(
            run(
                json!({"spec": {"a": "1", "b": "2", "region": "x", "keys": {"long": "v"}}}),
                None
            ),
            [
                "spec: Invalid value: \"object\": a or b",
                "spec.region: Forbidden: not x",
                "spec.keys: Invalid value: \"object\": short keys",
            ]
        );
    }

    #[test]
    fn message_expressions_and_reasons() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "list": {"type": "array", "items": {"type": "string"}}},
            "x-kubernetes-validations": [
                {"rule": "self.n < 3", "messageExpression": "'n is ' + string(self.n)"},
                {"rule": "self.n < 2", "reason": "FieldValueRequired", "message": "small"},
                {"rule": "self.n < 1", "reason": "FieldValueDuplicate", "fieldPath": ".n"},
                {"rule": "self.n < 0"}
            ]
        }}});
        let mut errors = Vec::new();
        validate(
            &schema,
            &json!({"spec": {"n": 5}}),
            None,
            &mut errors,
            &mut Vec::new(),
        );
        let messages: Vec<String> = errors.iter().map(FieldError::message).collect();
        assert_eq!(
            messages,
            [
                "spec: Invalid value: \"object\": n is 5",
                "spec: Required value: small",
                "spec.n: Duplicate value: \"object\"",
                "spec: Invalid value: \"object\": failed rule: self.n < 0",
            ]
        );
    }

    #[test]
    fn rules_in_all_of_branches_run_at_the_node_and_others_do_not() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "allOf": [{"x-kubernetes-validations": [{"rule": "self.n < 3", "message": "all"}]}],
            "anyOf": [{"x-kubernetes-validations": [{"rule": "self.n < 3", "message": "any"}]}]
        }}});
        let mut errors = Vec::new();
        validate(
            &schema,
            &json!({"spec": {"n": 5}}),
            None,
            &mut errors,
            &mut Vec::new(),
        );
        let messages: Vec<String> = errors.iter().map(FieldError::message).collect();
        assert_eq!(messages, ["spec: Invalid value: \"object\": all"]);
    }

    #[test]
    fn transition_rules_need_an_old_value() {
        let old = json!({"spec": {"region": "r"}});
        assert_eq!(
            run(json!({"spec": {"region": "s"}}), Some(old.clone())),
            ["spec: Invalid value: \"object\": region is immutable"]
        );
        assert!(run(json!({"spec": {"region": "r"}}), Some(old)).is_empty());
        // Ratcheting: an unchanged invalid value stays, with a warning.
        let bad = json!({"spec": {"a": "1", "b": "2", "region": "r"}});
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        validate(&schema(), &bad, Some(&bad), &mut errors, &mut warnings);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(warnings, ["spec: Invalid value: \"object\": a or b"]);
    }
}
