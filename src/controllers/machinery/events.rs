//! Kubernetes Events for what the operator did, where `kubectl describe` shows them.
//!
//! Written here rather than through kube's `Recorder`: every write of this operator carries its
//! field manager, nothing is cached per Event (the operator announces new states, not repeats,
//! so there are no series to keep), and a namespace being deleted, where the API server forbids
//! new Events, is not a warning worth logging on every pass.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Resource;
use kube::api::{Api, PostParams};

use super::engine::Engine;
use super::engine::FIELD_MANAGER;

/// Longest note the API server accepts.
const MAX_NOTE: usize = 1024;

/// Publishes an event about `obj`. A failure to publish is logged, never fatal: the status
/// carries the same information.
pub async fn publish<K>(engine: &Engine, obj: &K, type_: &str, reason: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    let regarding = obj.object_ref(&());
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                regarding.name.as_deref().unwrap_or(FIELD_MANAGER),
                now.as_nanosecond()
            )),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        action: Some(reason.to_owned()),
        reason: Some(reason.to_owned()),
        type_: Some(type_.to_owned()),
        note: Some(truncate(note, MAX_NOTE)),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(FIELD_MANAGER.to_owned()),
        reporting_instance: Some(engine.reporting_instance.clone()),
        ..Event::default()
    };
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let events: Api<Event> = Api::namespaced(engine.kube.clone(), &namespace);
    match events.create(&params, &event).await {
        Ok(_) => {}
        Err(err) if namespace_terminating(&err) => {
            tracing::debug!(%reason, %namespace, "namespace is being deleted; event not recorded");
        }
        Err(err) => tracing::warn!(%reason, error = %err, "could not publish event"),
    }
}

pub async fn normal<K: Resource<DynamicType = ()>>(
    engine: &Engine,
    obj: &K,
    reason: &str,
    note: String,
) {
    publish(engine, obj, "Normal", reason, note).await;
}

pub async fn warning<K: Resource<DynamicType = ()>>(
    engine: &Engine,
    obj: &K,
    reason: &str,
    note: String,
) {
    publish(engine, obj, "Warning", reason, note).await;
}

/// Whether the API server refused a create because the namespace is being deleted.
pub fn namespace_terminating(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 403 && e.message.contains("being terminated"))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let note = "é".repeat(600);
        let cut = truncate(note, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_terminating_namespace_is_told_from_other_refusals() {
        let refusal = |message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(403)
                    .boxed(),
            )
        };
        assert!(namespace_terminating(&refusal(
            "unable to create new content in namespace x because it is being terminated"
        )));
        assert!(!namespace_terminating(&refusal(
            "events is forbidden: RBAC"
        )));
    }
}
