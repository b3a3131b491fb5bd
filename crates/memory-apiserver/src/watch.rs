//! Watch responses: a stream of newline-delimited JSON watch events (`ADDED`, `MODIFIED`,
//! `DELETED`, `BOOKMARK`, `ERROR`), replayed history first and live changes after, ended when
//! `timeoutSeconds` runs out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeKind, WatchOpening};
use crate::table::{Output, Printer};

/// What the watch request asked for, besides where to start.
pub struct WatchOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub timeout: Duration,
    /// `sendInitialEvents=true`: end the replay with a bookmark marking the end of initial events.
    pub initial_events_end: bool,
    /// Objects, metadata only, or one-row Tables (`kubectl get -w`).
    pub output: Output,
    /// How Tables are printed, when `output` asks for them.
    pub printer: Printer,
    /// A stored object as this watch's API shows it (`events.k8s.io` Events are stored as
    /// core Events).
    pub view: fn(Value) -> Value,
    pub api_version: String,
    pub kind: String,
}

/// A watch's options and what it has sent so far.
struct Watching {
    options: WatchOptions,
    /// Whether a Table event has gone out: only the first carries `columnDefinitions`, as on
    /// the real server.
    headers_sent: AtomicBool,
}

/// The body of a watch response.
pub fn event_stream(opening: WatchOpening, options: WatchOptions) -> BoxStream<'static, Bytes> {
    let options = Arc::new(Watching {
        options,
        headers_sent: AtomicBool::new(false),
    });
    let timeout = tokio::time::sleep(options.options.timeout);
    let replay = {
        let options = Arc::clone(&options);
        stream::iter(opening.replay).filter_map(move |change| {
            let line = render(&change, &options);
            async move { line }
        })
    };
    let initial_end = options.options.initial_events_end.then(|| {
        line(&initial_events_end_bookmark(
            &options.options,
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
fn render(change: &Change, watching: &Watching) -> Option<Bytes> {
    let options = &watching.options;
    let selected =
        |object: &Value| options.labels.matches(object) && options.fields.matches(object);
    let object = (options.view)(change.object.clone());
    let now_selected = selected(&object);
    let was_selected = change
        .previous
        .as_ref()
        .map(|previous| selected(&(options.view)(previous.clone())));
    let event_type = match (change.kind, was_selected, now_selected) {
        (ChangeKind::Modified, Some(true), true) => ChangeKind::Modified,
        (ChangeKind::Modified, Some(false), true) => ChangeKind::Added,
        (ChangeKind::Modified, Some(true), false) => ChangeKind::Deleted,
        (kind, None, true) => kind,
        _ => return None,
    };
    let object = match options.output {
        Output::Full => object,
        Output::Metadata => partial_object_metadata(&object),
        Output::Table(format) => {
            let headers = !watching.headers_sent.swap(true, Ordering::SeqCst);
            let rv = object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            options.printer.table(
                std::slice::from_ref(&object),
                format,
                rv.as_deref(),
                headers,
            )
        }
    };
    Some(line(
        &json!({"type": event_type.as_str(), "object": object}),
    ))
}

fn initial_events_end_bookmark(options: &WatchOptions, resource_version: u64) -> Value {
    if let Output::Table(format) = options.output {
        // A Table cannot carry the annotation; it reports the resourceVersion, with no rows.
        return json!({
            "type": "BOOKMARK",
            "object": options.printer.table(&[], format, Some(&resource_version.to_string()), false),
        });
    }
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
