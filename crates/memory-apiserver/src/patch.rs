//! Applies the four PATCH flavours kube sends to a stored object, producing the candidate object
//! that then goes through the same write rules as a PUT.
//!
//! Strategic merge patches (what `kubectl apply`, `edit` and `patch` send for built-in types)
//! merge lists of the built-in types by their merge keys (containers, volumes and env by `name`,
//! ports by `containerPort` or `port`, conditions by `type`, ...; `finalizers` as a set) and
//! understand the directives kubectl writes (`$patch: replace|delete|merge`, `$retainKeys`,
//! `$setElementOrder/...`, `$deleteFromPrimitiveList/...`). Which lists merge by which key comes
//! from [`crate::patch_meta`], the table the OpenAPI documents publish to kubectl too; lists are
//! looked up there by field name, as patches carry no type. Server-side apply is applied as a
//! merge of the applied configuration (YAML or JSON) into the live object: there is no
//! managedFields tracking, so a field a manager stops sending is kept rather than removed.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::patch_meta::{is_merged_set, merge_key};

/// The patch flavour named by the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchKind {
    /// The name field-manager counters use for this patch type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Merge => "merge",
            Self::StrategicMerge => "strategic-merge",
            Self::Apply => "apply",
        }
    }

    pub fn from_content_type(content_type: Option<&str>) -> ApiResult<Self> {
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        match media {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Parses a request body as JSON, answering 400 as the real server does for a malformed body.
pub fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("error decoding request body: {err}")))
}

/// Parses a server-side apply body: YAML as `application/apply-patch+yaml` says (kubectl
/// sends YAML or JSON; JSON is read as such first).
pub fn parse_apply_body(body: &[u8]) -> ApiResult<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(value);
    }
    let value: Value = serde_norway::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("error decoding YAML: {err}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "the apply body must be an object (YAML or JSON)",
        ))
    }
}

/// Returns `current` with `body` applied; `current` itself is left alone so a failed patch
/// changes nothing.
pub fn apply(kind: PatchKind, current: &Value, body: &[u8]) -> ApiResult<Value> {
    let mut doc = current.clone();
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            let patch = if kind == PatchKind::Apply {
                parse_apply_body(body)?
            } else {
                parse_json(body)?
            };
            if !patch.is_object() {
                return Err(ApiError::bad_request("patch body must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchKind::StrategicMerge => {
            let patch = parse_json(body)?;
            let Value::Object(patch) = patch else {
                return Err(ApiError::bad_request("patch body must be a JSON object"));
            };
            if !doc.is_object() {
                doc = Value::Object(Map::new());
            }
            if let Value::Object(target) = &mut doc {
                match strategic_merge_map(target, &patch)? {
                    MapOutcome::Keep => {}
                    MapOutcome::Replace(replacement) => *target = replacement,
                    MapOutcome::Delete => target.clear(),
                }
            }
        }
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|err| ApiError::bad_request(format!("invalid JSON patch: {err}")))?;
            apply_json_patch(&mut doc, &patch)?;
        }
    }
    Ok(doc)
}

fn is_directive(key: &str) -> bool {
    key == "$patch"
        || key == "$retainKeys"
        || key.starts_with("$setElementOrder/")
        || key.starts_with("$deleteFromPrimitiveList/")
}

/// What a map's `$patch` directive asks of the map it patches.
enum MapOutcome {
    Keep,
    Replace(Map<String, Value>),
    Delete,
}

/// A patch value with its directives and nulls removed, for where nothing is merged into.
fn cleaned(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(k, v)| !is_directive(k) && !v.is_null())
                .map(|(k, v)| (k.clone(), cleaned(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| item.get("$patch").is_none())
                .map(cleaned)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strategic_merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> ApiResult<MapOutcome> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let Value::Object(replacement) = cleaned(&Value::Object(patch.clone())) else {
                unreachable!("a cleaned map is a map");
            };
            return Ok(MapOutcome::Replace(replacement));
        }
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other} in map"
            )));
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target.retain(|key, _| keep.contains(&key.as_str()));
    }
    for (key, value) in patch {
        if is_directive(key) {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let existing = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !existing.is_object() {
                    *existing = Value::Object(Map::new());
                }
                if let Value::Object(existing_map) = existing {
                    match strategic_merge_map(existing_map, inner)? {
                        MapOutcome::Keep => {}
                        MapOutcome::Replace(replacement) => *existing_map = replacement,
                        MapOutcome::Delete => {
                            target.remove(key);
                        }
                    }
                }
            }
            Value::Array(items) => {
                let merged = match (target.get(key), merge_key(key, items)) {
                    (Some(Value::Array(current)), Some(merge_key)) => {
                        merge_list(current.clone(), items, merge_key)?
                    }
                    (Some(Value::Array(current)), None) if is_merged_set(key) => {
                        let mut merged = current.clone();
                        for item in items {
                            if !merged.contains(item) {
                                merged.push(item.clone());
                            }
                        }
                        merged
                    }
                    _ => match cleaned(value) {
                        Value::Array(items) => items,
                        _ => Vec::new(),
                    },
                };
                target.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(current)), Some(gone)) =
                (target.get_mut(field), value.as_array())
        {
            current.retain(|item| !gone.contains(item));
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/")
            && let (Some(Value::Array(current)), Some(order)) =
                (target.get_mut(field), value.as_array())
        {
            let key = merge_key(field, current);
            reorder(current, order, key);
        }
    }
    Ok(MapOutcome::Keep)
}

/// Merges a patch list into a list whose items are maps identified by `key`: items with
/// `$patch: delete` go, others merge into the item with the same key or are appended; an item
/// `{$patch: replace}` makes the patch's items the whole list.
fn merge_list(mut current: Vec<Value>, patch: &[Value], key: &str) -> ApiResult<Vec<Value>> {
    if patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(match cleaned(&Value::Array(patch.to_vec())) {
            Value::Array(items) => items,
            _ => Vec::new(),
        });
    }
    for item in patch {
        let Value::Object(fields) = item else {
            if !current.contains(item) {
                current.push(item.clone());
            }
            continue;
        };
        let id = fields.get(key);
        let position = id.and_then(|id| current.iter().position(|c| c.get(key) == Some(id)));
        if fields.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(id) = id {
                current.retain(|c| c.get(key) != Some(id));
            }
            continue;
        }
        match position.map(|i| &mut current[i]) {
            Some(Value::Object(existing)) => match strategic_merge_map(existing, fields)? {
                MapOutcome::Keep => {}
                MapOutcome::Replace(replacement) => *existing = replacement,
                MapOutcome::Delete => {
                    if let Some(id) = id {
                        current.retain(|c| c.get(key) != Some(id));
                    }
                }
            },
            _ => current.push(cleaned(item)),
        }
    }
    Ok(current)
}

/// Orders `items` as `order` lists them (by merge key, or by value for primitives); items it
/// does not name keep their relative order after them.
fn reorder(items: &mut [Value], order: &[Value], key: Option<&str>) {
    let rank = |item: &Value| {
        order
            .iter()
            .position(|o| match key {
                Some(key) => o.get(key).is_some() && o.get(key) == item.get(key),
                None => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    items.sort_by_key(rank);
}

/// Whether a JSON patch body has an operation on `path` (or below it).
pub fn touches(body: &[u8], path: &str) -> bool {
    serde_json::from_slice::<json_patch::Patch>(body).is_ok_and(|patch| {
        patch.0.iter().any(|op| {
            let target = match op {
                json_patch::PatchOperation::Add(op) => op.path.as_str(),
                json_patch::PatchOperation::Remove(op) => op.path.as_str(),
                json_patch::PatchOperation::Replace(op) => op.path.as_str(),
                json_patch::PatchOperation::Move(op) => op.path.as_str(),
                json_patch::PatchOperation::Copy(op) => op.path.as_str(),
                json_patch::PatchOperation::Test(op) => op.path.as_str(),
            };
            target == path || target.starts_with(&format!("{path}/"))
        })
    })
}

/// RFC 6902, with one deviation the real server has and kube's finalizer helper relies on: a
/// `test` that a missing path equals `null` succeeds.
fn apply_json_patch(doc: &mut Value, patch: &json_patch::Patch) -> ApiResult<()> {
    for (index, op) in patch.0.iter().enumerate() {
        if let json_patch::PatchOperation::Test(test) = op
            && test.value.is_null()
            && doc.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(op)).map_err(|err| {
            ApiError::invalid(format!(
                "the server rejected our request due to an error in our request: \
                 operation {index}: {err}"
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn test_for_null_on_a_missing_path_succeeds() {
        let current = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]);
        let out = apply(PatchKind::Json, &current, &body(patch)).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x"]));
    }

    #[test]
    fn failing_test_rejects_the_whole_patch() {
        let current = json!({"metadata": {"finalizers": ["y"]}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "x"},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]);
        let err = apply(PatchKind::Json, &current, &body(patch)).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.reason, "Invalid");
    }

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let current = json!({"spec": {"a": 1, "b": 2, "list": [1, 2]}});
        let patch = json!({"spec": {"a": null, "list": [3]}});
        let out = apply(PatchKind::Merge, &current, &body(patch)).unwrap();
        assert_eq!(out, json!({"spec": {"b": 2, "list": [3]}}));
    }

    #[test]
    fn strategic_merge_merges_lists_by_key_and_obeys_directives() {
        let current = json!({
            "metadata": {"finalizers": ["a"], "annotations": {"x": "1"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "side:1"},
            ]}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        });
        let patch = json!({
            "metadata": {"finalizers": ["b"], "annotations": {"x": null}},
            "spec": {
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [
                        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
                        {"name": "sidecar", "$patch": "delete"},
                        {"name": "new", "image": "new:1"},
                    ],
                }},
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            },
        });
        let out = apply(PatchKind::StrategicMerge, &current, &body(patch)).unwrap();
        assert_eq!(
            out["metadata"],
            json!({"finalizers": ["a", "b"], "annotations": {}})
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "app", "image": "app:2",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "new", "image": "new:1"},
            ])
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));

        let replace = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "x"}, {"$patch": "replace"}
        ]}}}});
        let out = apply(PatchKind::StrategicMerge, &current, &body(replace)).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        let map_replace = json!({"metadata": {"annotations": {"$patch": "replace", "y": "2"}}});
        let out = apply(PatchKind::StrategicMerge, &current, &body(map_replace)).unwrap();
        assert_eq!(out["metadata"]["annotations"], json!({"y": "2"}));
    }

    #[test]
    fn apply_bodies_may_be_yaml() {
        let current = json!({"metadata": {"name": "a"}, "spec": {"x": 1}});
        let yaml = b"apiVersion: v1\nkind: ConfigMap\ndata:\n  key: value\n";
        let out = apply(PatchKind::Apply, &current, yaml).unwrap();
        assert_eq!(out["data"]["key"], "value");
        assert_eq!(out["spec"]["x"], 1);
        assert!(parse_apply_body(b"- a list").is_err());
    }

    #[test]
    fn content_types_are_recognised() {
        let kind = |ct| PatchKind::from_content_type(Some(ct));
        assert_eq!(
            kind("application/apply-patch+yaml").unwrap(),
            PatchKind::Apply
        );
        assert_eq!(
            kind("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchKind::Merge
        );
        assert_eq!(kind("text/plain").unwrap_err().code, 415);
    }
}
