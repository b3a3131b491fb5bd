//! Applies the four PATCH flavours kube sends to a stored object, producing the candidate object
//! that then goes through the same write rules as a PUT.
//!
//! Strategic merge patches are applied as JSON merge patches (lists are replaced, not merged by
//! key, and `$patch` directives are not understood). Server-side apply is applied as a merge of the
//! applied configuration into the live object: there is no managedFields tracking, so a field a
//! manager stops sending is kept rather than removed.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

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

/// Returns `current` with `body` applied; `current` itself is left alone so a failed patch
/// changes nothing.
pub fn apply(kind: PatchKind, current: &Value, body: &[u8]) -> ApiResult<Value> {
    let mut doc = current.clone();
    match kind {
        PatchKind::Merge | PatchKind::StrategicMerge | PatchKind::Apply => {
            // Apply bodies are YAML on the wire, but every client in practice (kube included)
            // sends JSON, which is YAML too.
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("patch body must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|err| ApiError::bad_request(format!("invalid JSON patch: {err}")))?;
            apply_json_patch(&mut doc, &patch)?;
        }
    }
    Ok(doc)
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
