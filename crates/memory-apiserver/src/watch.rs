//! Watch responses: a stream of newline-delimited JSON watch events (`ADDED`, `MODIFIED`,
//! `DELETED`, `BOOKMARK`, `ERROR`), replayed history first and live changes after, ended when
//! `timeoutSeconds` runs out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeKind, WatchOpening};

/// What the watch request asked for, besides where to start.
pub struct WatchOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub timeout: Duration,
    /// `sendInitialEvents=true`: end the replay with a bookmark marking the end of initial events.
    pub initial_events_end: bool,
    pub metadata_only: bool,
    pub api_version: String,
    pub kind: String,
}

/// The body of a watch response.
pub fn event_stream(opening: WatchOpening, options: WatchOptions) -> BoxStream<'static, Bytes> {
    let options = Arc::new(options);
    let timeout = tokio::time::sleep(options.timeout);
    let replay = {
        let options = Arc::clone(&options);
        stream::iter(opening.replay).filter_map(move |change| {
            let line = render(&change, &options);
            async move { line }
        })
    };
    let initial_end = options.initial_events_end.then(|| {
        line(&initial_events_end_bookmark(
            &options,
            opening.resource_version,
        ))
    });
    let live = stream::unfold(opening.live, |mut live| async move {
        live.recv().await.map(|change| (change, live))
    })
    .filter_map(move |change| {
        let line = render(&change, &options);
        async move { line }
    });
    replay
        .chain(stream::iter(initial_end))
        .chain(live)
        .take_until(timeout)
        .boxed()
}

/// The body of a watch from a resourceVersion the server no longer remembers: one ERROR event
/// carrying a 410 Status, after which the client must relist.
pub fn expired_stream(error: &ApiError) -> BoxStream<'static, Bytes> {
    let event = json!({"type": "ERROR", "object": error.to_status()});
    stream::iter([line(&event)]).boxed()
}

/// Turns a change into the event this watch should see, if any. A selector-filtered watch sees
/// an object moving into its selection as ADDED and one moving out of it as DELETED.
fn render(change: &Change, options: &WatchOptions) -> Option<Bytes> {
    let selected =
        |object: &Value| options.labels.matches(object) && options.fields.matches(object);
    let now_selected = selected(&change.object);
    let was_selected = change.previous.as_ref().map(selected);
    let event_type = match (change.kind, was_selected, now_selected) {
        (ChangeKind::Modified, Some(true), true) => ChangeKind::Modified,
        (ChangeKind::Modified, Some(false), true) => ChangeKind::Added,
        (ChangeKind::Modified, Some(true), false) => ChangeKind::Deleted,
        (kind, None, true) => kind,
        _ => return None,
    };
    let object = if options.metadata_only {
        partial_object_metadata(&change.object)
    } else {
        change.object.clone()
    };
    Some(line(
        &json!({"type": event_type.as_str(), "object": object}),
    ))
}

fn initial_events_end_bookmark(options: &WatchOptions, resource_version: u64) -> Value {
    json!({
        "type": "BOOKMARK",
        "object": {
            "apiVersion": options.api_version,
            "kind": options.kind,
            "metadata": {
                "resourceVersion": resource_version.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        },
    })
}

/// The `PartialObjectMetadata` form that metadata-only watches and lists ask for with their
/// `Accept` header.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn line(event: &Value) -> Bytes {
    let mut bytes = event.to_string().into_bytes();
    bytes.push(b'\n');
    Bytes::from(bytes)
}
