//! Finalizers, added and removed with guarded JSON patches under this operator's field manager.
//!
//! kube's finalizer helper sends its patches with no field manager, so a real API server lists
//! them under manager `unknown`; these do the same dance as that helper, signed as
//! [`FIELD_MANAGER`]. The `test` operations make a patch fail (422) instead of clobbering a list
//! someone else changed meanwhile; the next pass then tries again with a fresh copy.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::engine::FIELD_MANAGER;
use super::error::Result;

/// What a pass over a resource holding (or about to hold) a finalizer must do.
pub enum Event<K> {
    /// The resource lives: make the world match it.
    Apply(Arc<K>),
    /// The resource is being deleted: clean up; the finalizer goes when this succeeds.
    Cleanup(Arc<K>),
}

/// Runs `pass` under `finalizer`: adds it to a live resource first (the write triggers the next
/// pass), and removes it after a successful cleanup of a deleted one.
pub async fn run<K, F, Fut>(api: &Api<K>, finalizer: &str, obj: Arc<K>, pass: F) -> Result<Action>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    F: FnOnce(Event<K>) -> Fut,
    Fut: Future<Output = Result<Action>>,
{
    let holds = obj.finalizers().iter().any(|f| f == finalizer);
    match (obj.meta().deletion_timestamp.is_some(), holds) {
        (false, true) => pass(Event::Apply(obj)).await,
        (true, true) => {
            let action = pass(Event::Cleanup(Arc::clone(&obj))).await?;
            remove(api, &*obj, finalizer).await?;
            Ok(action)
        }
        (false, false) => {
            add(api, &*obj, finalizer).await?;
            Ok(Action::await_change())
        }
        (true, false) => Ok(Action::await_change()),
    }
}

/// The patch parameters of every patch this operator sends.
pub fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Adds `finalizer` to `obj` unless it holds it already.
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(ops) = add_ops(obj.meta().finalizers.as_deref(), finalizer) else {
        return Ok(());
    };
    patch(api, &obj.name_any(), ops).await
}

/// Removes `finalizer` from `obj` if it holds it.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(ops) = remove_ops(obj.meta().finalizers.as_deref(), finalizer) else {
        return Ok(());
    };
    match patch(api, &obj.name_any(), ops).await {
        // Gone already: nothing holds it any more.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

/// The JSON patch that adds `finalizer`, guarded by the list as it was read.
fn add_ops(current: Option<&[String]>, finalizer: &str) -> Option<Value> {
    match current {
        Some(list) if list.iter().any(|f| f == finalizer) => None,
        Some(list) if !list.is_empty() => Some(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ])),
        _ => Some(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ])),
    }
}

/// The JSON patch that removes `finalizer`, guarded by its position.
fn remove_ops(current: Option<&[String]>, finalizer: &str) -> Option<Value> {
    let index = current?.iter().position(|f| f == finalizer)?;
    let path = format!("/metadata/finalizers/{index}");
    Some(json!([
        {"op": "test", "path": path, "value": finalizer},
        {"op": "remove", "path": path},
    ]))
}

async fn patch<K>(api: &Api<K>, name: &str, ops: Value) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let ops: json_patch::Patch = serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
    api.patch(name, &params(), &Patch::<()>::Json(ops)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_is_guarded_by_the_list_read() {
        let none = add_ops(None, "a/b").unwrap();
        assert_eq!(none[0]["value"], Value::Null);
        assert_eq!(none[1]["value"], json!(["a/b"]));
        let other = ["x".to_owned()];
        let some = add_ops(Some(&other), "a/b").unwrap();
        assert_eq!(some[0]["value"], json!(["x"]));
        assert_eq!(some[1]["path"], "/metadata/finalizers/-");
        let held = ["x".to_owned(), "a/b".to_owned()];
        assert!(add_ops(Some(&held), "a/b").is_none());
    }

    #[test]
    fn removing_tests_the_position_first() {
        let held = ["x".to_owned(), "a/b".to_owned()];
        let ops = remove_ops(Some(&held), "a/b").unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/metadata/finalizers/1", "value": "a/b"})
        );
        assert_eq!(ops[1]["op"], "remove");
        assert!(remove_ops(Some(&["x".to_owned()]), "a/b").is_none());
        assert!(remove_ops(None, "a/b").is_none());
    }
}
