//! Kubernetes Events for what the operator did, where `kubectl describe` shows them.

use kube::Resource;
use kube::runtime::events::{Event, EventType};

use super::Context;

/// Publishes an event about `obj`. A failure to publish is logged, never fatal: the status
/// carries the same information.
pub async fn publish<K>(
    ctx: &Context,
    obj: &K,
    kind: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(truncate(note, 1000)),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(%reason, error = %err, "could not publish event");
    }
}

pub async fn normal<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    reason: &str,
    note: String,
) {
    publish(ctx, obj, EventType::Normal, reason, reason, note).await;
}

pub async fn warning<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    reason: &str,
    note: String,
) {
    publish(ctx, obj, EventType::Warning, reason, reason, note).await;
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
