//! Writing a resource's status only when it changed.
//!
//! A JSON merge patch of the status subresource (signed with the operator's field manager), with
//! `null` for every field the new status no longer has, so that a cleared field (a create intent
//! that is done) really goes away. A merge patch rather than server-side apply: the status is
//! wholly the operator's, and a patch of only what changed keeps each write small.

use kube::Resource;
use kube::api::{Api, Patch};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Patches `.status` of `name` from `old` to `new`; does nothing when they are equal.
/// Returns whether it wrote.
pub async fn write<K, S>(api: &Api<K>, name: &str, old: &S, new: &S) -> kube::Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if old == new {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": merge_patch(old, new)? });
    api.patch_status(name, &super::finalizer::params(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

/// The merge patch that turns `old` into `new`: a merge patch merges nested objects, so a
/// field removed at any depth is sent as null.
fn merge_patch<S: Serialize>(old: &S, new: &S) -> kube::Result<Value> {
    let old = serde_json::to_value(old).map_err(kube::Error::SerdeError)?;
    let mut new = match serde_json::to_value(new).map_err(kube::Error::SerdeError)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    null_removed(&old, &mut new);
    Ok(Value::Object(new))
}

fn null_removed(old: &Value, new: &mut Map<String, Value>) {
    let Value::Object(old) = old else { return };
    for (key, was) in old {
        if let Value::Object(inner) = new.entry(key.clone()).or_insert(Value::Null) {
            null_removed(was, inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, PartialEq)]
    struct S {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u32>,
        b: u32,
    }

    #[test]
    fn removed_fields_become_null() {
        let patch = merge_patch(&S { a: Some(1), b: 1 }, &S { a: None, b: 2 }).unwrap();
        assert_eq!(patch, serde_json::json!({"a": null, "b": 2}));
    }

    #[test]
    fn removed_nested_fields_become_null() {
        let old = serde_json::json!({"r": {"user": "app_a", "at": 1}});
        let new = serde_json::json!({"r": {"at": 2}});
        let patch = merge_patch(&old, &new).unwrap();
        assert_eq!(patch, serde_json::json!({"r": {"user": null, "at": 2}}));
    }
}
