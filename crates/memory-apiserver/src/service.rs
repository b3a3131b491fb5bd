//! The HTTP face of the server: decodes a request, picks the verb the real API server would see,
//! runs it against the store and encodes the answer (JSON object, List, Status or watch stream).

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};

use crate::counters::{FieldManagerKey, take_fault, take_latency};
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::patch::{self, PatchKind};
use crate::protobuf;
use crate::route::{Query, Route};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{
    ObjectKey, Preconditions, Propagation, ResourceType, Store, Subresource, WatchStart, Writer,
};
use crate::table::{Output, Printer};
use crate::watch::{self, WatchOptions};

/// The response body type: whole JSON documents and endless watch streams alike.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// How long a watch runs when the client does not say (the real server picks 30–60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

enum Reply {
    Object(StatusCode, Value),
    Watch(futures::stream::BoxStream<'static, Bytes>),
}

/// Everything about a request that the handlers need, the body already read.
struct Call<'a> {
    method: &'a Method,
    route: Route,
    query: Query,
    content_type: Option<&'a str>,
    user_agent: Option<&'a str>,
    /// What the `Accept` header (and `includeObject`) asked for.
    output: Output,
    body: &'a [u8],
}

impl Call<'_> {
    /// The resource the URL names.
    fn resource(&self) -> ResourceType {
        ResourceType::new(&self.route.group, &self.route.plural)
    }

    /// Where the store keeps it (`events.k8s.io` Events are stored as core Events).
    fn storage(&self) -> ResourceType {
        events::storage_of(&self.resource())
    }

    /// The apiVersion of stored objects of this resource.
    fn storage_api_version(&self) -> String {
        if events::is_events_v1(&self.resource()) {
            "v1".to_string()
        } else {
            self.route.api_version()
        }
    }

    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey::new(&self.storage(), self.route.namespace.as_deref(), name)
    }

    /// A stored object as this API shows it.
    fn view(&self, object: Value) -> Value {
        view_of(&self.resource(), object)
    }

    /// A request body (object or patched object) as the store keeps it.
    fn to_storage(&self, object: Value) -> Value {
        if events::is_events_v1(&self.resource()) {
            events::to_core(object)
        } else {
            object
        }
    }

    /// The printer for Table output.
    fn printer(&self, store: &Store) -> Printer {
        Printer::for_resource(&store.registry, &self.resource(), &self.route.version)
    }

    /// Who a write is recorded as in managedFields: the `fieldManager` parameter or, as the real
    /// server does without one, the User-Agent up to its first `/`. kube-rs sends no
    /// User-Agent, where the real server would record an empty name; `unknown` stands for it.
    fn writer(&self, apply: bool) -> Writer {
        let from_user_agent = || {
            self.user_agent
                .and_then(|ua| ua.split('/').next())
                .map(|product| {
                    product
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(128)
                        .collect::<String>()
                })
                .filter(|product| !product.is_empty())
        };
        let manager = self
            .query
            .get("fieldManager")
            .map(str::to_string)
            .or_else(from_user_agent)
            .unwrap_or_else(|| "unknown".to_string());
        Writer {
            manager,
            apply,
            api_version: Some(self.route.api_version()),
        }
    }

    /// The verb as the real server's authorizer names it.
    fn verb(&self) -> &'static str {
        verb_of(self.method, &self.route, &self.query)
    }
}

/// The verb of a request to `route`, as the real server's authorizer names it.
fn verb_of(method: &Method, route: &Route, query: &Query) -> &'static str {
    let named = route.name.is_some();
    match *method {
        Method::GET if named => "get",
        Method::GET if query.flag("watch") => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// The injected latency (see `ApiServer::delay_next`) a request to `parts` waits, if any.
fn latency_of(store: &Mutex<Store>, parts: &http::request::Parts) -> Option<Duration> {
    let route = Route::parse(parts.uri.path()).ok()?;
    let verb = verb_of(&parts.method, &route, &Query::parse(parts.uri.query()));
    let mut guard = lock(store);
    let delay = take_latency(&mut guard.latencies, verb, &route.group, &route.plural)?;
    guard.counters.delayed += 1;
    Some(delay)
}

pub async fn handle(
    store: Arc<Mutex<Store>>,
    request: Request<kube::client::Body>,
) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    // Version, health, discovery and OpenAPI: paths that name no resource.
    if let Some(answer) = crate::discovery::answer(&store, &parts) {
        return answer;
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return error_response(&ApiError::bad_request(format!(
                "unreadable request body: {err}"
            )));
        }
    };
    if let Some(delay) = latency_of(&store, &parts) {
        tokio::time::sleep(delay).await;
    }
    let header_str = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    let mut warnings = Vec::new();
    let reply = Route::parse(parts.uri.path()).and_then(|route| {
        let query = Query::parse(parts.uri.query());
        let call = Call {
            method: &parts.method,
            route,
            query: query.clone(),
            content_type: header_str(header::CONTENT_TYPE),
            user_agent: header_str(header::USER_AGENT),
            output: Output::negotiate(header_str(header::ACCEPT), query.get("includeObject"))?,
            body: &body,
        };
        tracing::trace!(method = %parts.method, uri = %parts.uri, "memory-apiserver request");
        let mut guard = lock(&store);
        guard.admission_warnings.clear(); // none left by writes outside a request (the GC's)
        let reply = dispatch(&mut guard, &call);
        warnings = std::mem::take(&mut guard.admission_warnings);
        settle(&store, &mut guard);
        reply
    });
    let mut response = match reply {
        Ok(Reply::Object(status, value)) => json_response(status, &value),
        Ok(Reply::Watch(events)) => {
            let frames = events.map(|bytes| Ok::<_, Infallible>(http_body::Frame::data(bytes)));
            response(StatusCode::OK, StreamBody::new(frames).boxed_unsync())
        }
        Err(err) => error_response(&err),
    };
    add_warnings(&mut response, &warnings);
    response
}

/// `Warning: 299 - "text"` headers, one per warning, as the real server sends them.
fn add_warnings(response: &mut Response<ResponseBody>, warnings: &[String]) {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
}

/// Admission's decoding of what a create, update or patch would store (see
/// `admission::decode`): unknown fields, nulls and defaults of a registered custom resource.
fn admit(store: &mut Store, call: &Call<'_>, object: Value) -> ApiResult<Value> {
    let field_validation = call.query.get("fieldValidation");
    crate::admission::decode(
        store,
        &call.resource(),
        &call.route.version,
        object,
        field_validation,
    )
}

/// Lets the garbage collector and the namespace controller do what the last request left them,
/// under the same lock, and arms a timer for collections that wait for the GC delay (when
/// running inside a Tokio runtime; otherwise they run at the first request after their time, or
/// on `ApiServer::collect_garbage`).
pub(crate) fn settle(store: &Arc<Mutex<Store>>, guard: &mut Store) {
    guard.settle();
    let timers = guard.take_gc_timers();
    if timers.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for due in timers {
        let store = Arc::clone(store);
        runtime.spawn(async move {
            tokio::time::sleep_until(due).await;
            let mut guard = lock(&store);
            settle(&store, &mut guard);
        });
    }
}

/// Locks the store; a panic while it was held (a failed test assertion elsewhere) does not
/// poison it for everyone else.
pub fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn dispatch(store: &mut Store, call: &Call<'_>) -> ApiResult<Reply> {
    let verb = call.verb();
    let (group, plural) = (&call.route.group, &call.route.plural);
    let subresource = call.route.subresource.as_deref().unwrap_or_default();
    match verb {
        "get" => store.counters.gets += 1,
        "list" => store.counters.lists_served += 1,
        "watch" => store.counters.watches_opened += 1,
        "unknown" => {}
        write => store
            .counters
            .record_write(write, group, plural, subresource),
    }
    if matches!(verb, "create" | "update" | "patch") {
        let patch_type = if verb == "patch" {
            PatchKind::from_content_type(call.content_type).map_or("unsupported", PatchKind::as_str)
        } else {
            ""
        };
        store.counters.record_field_manager(FieldManagerKey {
            field_manager: call.query.get("fieldManager").map(str::to_string),
            verb: verb.to_string(),
            patch_type: patch_type.to_string(),
            group: group.clone(),
            plural: plural.clone(),
            subresource: subresource.to_string(),
        });
    }
    if let Some(status) = take_fault(&mut store.faults, verb, group, plural) {
        return Err(ApiError::from_status(status));
    }
    let target = match call.route.subresource.as_deref() {
        None => Subresource::Main,
        Some("status") if store.has_status_subresource(&call.resource()) => Subresource::Status,
        Some("finalize") if call.resource().is_namespaces() && verb == "update" => {
            Subresource::Finalize
        }
        Some(other) => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({plural}/{other})"),
            ));
        }
    };
    let name = call.route.name.as_deref();
    let dry_run = match call.query.get("dryRun") {
        None => false,
        Some("All") => matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let run = |store: &mut Store| match (verb, name) {
        ("get", Some(name)) => {
            let key = call.key(name);
            let object = store
                .get(&key)
                .cloned()
                .ok_or_else(|| ApiError::not_found(group, plural, name))?;
            Ok(Reply::Object(
                StatusCode::OK,
                represent(store, call, object),
            ))
        }
        ("list", _) => list(store, call),
        ("watch", _) => watch(store, call),
        ("create", None) => {
            let object = call.to_storage(admit(
                store,
                call,
                protobuf::request_object(call.body, call.content_type)?,
            )?);
            let created = store.create(
                &call.storage(),
                call.route.namespace.as_deref(),
                &call.storage_api_version(),
                object,
                &call.writer(false),
            )?;
            Ok(Reply::Object(StatusCode::CREATED, call.view(created)))
        }
        ("update", Some(name)) => {
            let candidate = call.to_storage(admit(
                store,
                call,
                protobuf::request_object(call.body, call.content_type)?,
            )?);
            let updated = store.update(&call.key(name), candidate, target, &call.writer(false))?;
            Ok(Reply::Object(StatusCode::OK, call.view(updated)))
        }
        ("patch", Some(name)) => patch_object(store, call, name, target),
        ("delete", Some(name)) => {
            let (preconditions, propagation) = delete_options(call)?;
            let deleted = store.delete(&call.key(name), &preconditions, propagation)?;
            Ok(Reply::Object(StatusCode::OK, call.view(deleted)))
        }
        ("deletecollection", None) => delete_collection(store, call),
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            call.method,
            call.route
                .name
                .as_deref()
                .map_or("a collection", |_| "a named object")
        ))),
    };
    let reply = if dry_run {
        // The answer a real write would give, with the store as it was before (and the
        // resourceVersion the object had, or none for a create).
        let stored_rv = name
            .and_then(|name| store.get(&call.key(name)))
            .and_then(|object| object.pointer("/metadata/resourceVersion").cloned());
        store.dry_run(run).map(|reply| match reply {
            Reply::Object(status, mut object) => {
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    match &stored_rv {
                        Some(rv) => meta.insert("resourceVersion".into(), rv.clone()),
                        None => meta.remove("resourceVersion"),
                    };
                }
                Reply::Object(status, object)
            }
            watch => watch,
        })
    } else {
        run(store)
    };
    reply.map_err(|err| requalify(err, call))
}

/// Store errors name the stored resource; an `events.k8s.io` request's errors name its own
/// (`events.events.k8s.io "x" not found`), as the real server's do.
fn requalify(mut err: ApiError, call: &Call<'_>) -> ApiError {
    if events::is_events_v1(&call.resource()) && err.message.starts_with("events ") {
        err.message = format!("events.events.k8s.io{}", &err.message["events".len()..]);
    }
    err
}

fn list(store: &Store, call: &Call<'_>) -> ApiResult<Reply> {
    let (labels, fields) = selectors(call)?;
    let items: Vec<Value> = store
        .list(&call.storage(), call.route.namespace.as_deref())
        .into_iter()
        .map(|object| call.view(object))
        .filter(|object| labels.matches(object) && fields.matches(object))
        .collect();
    let resource_version = store.resource_version().to_string();
    let list = match call.output {
        Output::Table(format) => {
            call.printer(store)
                .table(&items, format, Some(&resource_version), true)
        }
        Output::Metadata => json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadataList",
            "metadata": {"resourceVersion": resource_version},
            "items": items.iter().map(watch::partial_object_metadata).collect::<Vec<_>>(),
        }),
        Output::Full => json!({
            "apiVersion": call.route.api_version(),
            "kind": format!("{}List", store.kind_of(&call.resource()).unwrap_or_default()),
            "metadata": {"resourceVersion": resource_version},
            "items": items,
        }),
    };
    Ok(Reply::Object(StatusCode::OK, list))
}

fn watch(store: &mut Store, call: &Call<'_>) -> ApiResult<Reply> {
    let (labels, fields) = selectors(call)?;
    let send_initial_events = call.query.flag("sendInitialEvents");
    let start = match call.query.get("resourceVersion") {
        _ if send_initial_events => WatchStart::CurrentState,
        None | Some("0") => WatchStart::CurrentState,
        Some(rv) => WatchStart::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let timeout = match call.query.get("timeoutSeconds") {
        Some(secs) => Duration::from_secs(
            secs.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {secs}")))?,
        ),
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let resource = call.resource();
    let opening = match store.open_watch(&call.storage(), call.route.namespace.as_deref(), start) {
        Ok(opening) => opening,
        // The real server answers 200 and reports the expiry inside the stream.
        Err(expired) if expired.code == 410 => {
            return Ok(Reply::Watch(watch::expired_stream(&expired)));
        }
        Err(other) => return Err(other),
    };
    let options = WatchOptions {
        labels,
        fields,
        timeout,
        initial_events_end: send_initial_events,
        output: call.output,
        printer: call.printer(store),
        view: if events::is_events_v1(&resource) {
            events::to_events_v1
        } else {
            std::convert::identity
        },
        api_version: call.route.api_version(),
        kind: store.kind_of(&resource).unwrap_or_default().to_string(),
    };
    Ok(Reply::Watch(watch::event_stream(opening, options)))
}

fn patch_object(
    store: &mut Store,
    call: &Call<'_>,
    name: &str,
    target: Subresource,
) -> ApiResult<Reply> {
    let kind = PatchKind::from_content_type(call.content_type)?;
    let writer = call.writer(kind == PatchKind::Apply);
    if kind == PatchKind::Apply && call.query.get("fieldManager").is_none() {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    if kind == PatchKind::StrategicMerge
        && store
            .registry
            .get(&call.resource())
            .is_some_and(|info| info.custom)
    {
        // Custom resources have no patch strategies; kubectl sends them merge patches.
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json-patch+json, application/merge-patch+json, \
                 application/apply-patch+yaml (strategic merge patch is not supported for {})",
                call.route.plural
            ),
        ));
    }
    let key = call.key(name);
    let Some(current) = store.get(&key).cloned() else {
        // Server-side apply creates what is missing; every other patch needs an object.
        if kind == PatchKind::Apply && target == Subresource::Main {
            let mut object = patch::parse_apply_body(call.body)?;
            // The URL names the object even when the applied configuration does not.
            if let Some(fields) = object.as_object_mut() {
                let meta = fields.entry("metadata").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("name".into(), json!(name));
                }
            }
            let object = admit(store, call, object)?;
            let created = store.create(
                &call.storage(),
                call.route.namespace.as_deref(),
                &call.storage_api_version(),
                call.to_storage(object),
                &writer,
            )?;
            return Ok(Reply::Object(StatusCode::CREATED, call.view(created)));
        }
        return Err(ApiError::not_found(
            &call.route.group,
            &call.route.plural,
            name,
        ));
    };
    // Patches are written against the shape of the API they were sent to.
    let patched = admit(
        store,
        call,
        patch::apply(kind, &call.view(current), call.body)?,
    )?;
    let managed_fields = patched.pointer("/metadata/managedFields").cloned();
    let mut updated = store.update(&key, call.to_storage(patched), target, &writer)?;
    if kind == PatchKind::Json
        && patch::touches(call.body, "/metadata/managedFields")
        && let Some(entries) = managed_fields
    {
        // Client-sent managedFields are otherwise ignored; this is how kubectl hands the
        // fields of its client-side-apply manager to its server-side-apply one.
        updated = store.replace_managed_fields(&key, &entries);
    }
    Ok(Reply::Object(StatusCode::OK, call.view(updated)))
}

fn delete_collection(store: &mut Store, call: &Call<'_>) -> ApiResult<Reply> {
    let (labels, fields) = selectors(call)?;
    let (_, propagation) = delete_options(call)?;
    let resource = call.resource();
    let names: Vec<(String, String)> = store
        .list(&call.storage(), call.route.namespace.as_deref())
        .into_iter()
        .map(|object| call.view(object))
        .filter(|object| labels.matches(object) && fields.matches(object))
        .filter_map(|object| {
            let meta = object.get("metadata")?;
            let namespace = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some((
                namespace.to_string(),
                meta.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut items = Vec::new();
    for (namespace, name) in names {
        let key = ObjectKey::new(&call.storage(), Some(&namespace), &name);
        let deleted = store.delete(&key, &Preconditions::default(), propagation)?;
        items.push(call.view(deleted));
    }
    Ok(Reply::Object(
        StatusCode::OK,
        json!({
            "apiVersion": call.route.api_version(),
            "kind": format!("{}List", store.kind_of(&resource).unwrap_or_default()),
            "metadata": {"resourceVersion": store.resource_version().to_string()},
            "items": items,
        }),
    ))
}

/// `propagationPolicy` and `preconditions`, from the DeleteOptions body or the query string.
fn delete_options(call: &Call<'_>) -> ApiResult<(Preconditions, Propagation)> {
    let options = if call.body.is_empty() {
        json!({})
    } else {
        patch::parse_json(call.body)?
    };
    let policy = options
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or_else(|| call.query.get("propagationPolicy"));
    let orphan = policy == Some("Orphan") || options.get("orphanDependents") == Some(&json!(true));
    let text = |pointer: &str| {
        options
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let preconditions = Preconditions {
        uid: text("/preconditions/uid"),
        resource_version: text("/preconditions/resourceVersion"),
    };
    let propagation = if orphan {
        Propagation::Orphan
    } else {
        Propagation::Cascade
    };
    Ok((preconditions, propagation))
}

fn selectors(call: &Call<'_>) -> ApiResult<(LabelSelector, FieldSelector)> {
    Ok((
        LabelSelector::parse(call.query.get("labelSelector"))?,
        FieldSelector::parse(call.query.get("fieldSelector"))?,
    ))
}

/// A stored object as the request asked to see it: in its API's shape, as metadata only, or
/// as a one-row Table.
fn represent(store: &Store, call: &Call<'_>, object: Value) -> Value {
    let object = call.view(object);
    match call.output {
        Output::Full => object,
        Output::Metadata => watch::partial_object_metadata(&object),
        Output::Table(format) => {
            let rv = object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            call.printer(store)
                .table(std::slice::from_ref(&object), format, rv.as_deref(), true)
        }
    }
}

/// A stored object of `resource` as that resource's API shows it (`events.k8s.io` Events are
/// converted from the stored core Events).
pub(crate) fn view_of(resource: &ResourceType, object: Value) -> Value {
    if events::is_events_v1(resource) {
        events::to_events_v1(object)
    } else {
        object
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    let body = Full::new(Bytes::from(value.to_string())).boxed_unsync();
    response(status, body)
}

fn error_response(error: &ApiError) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error.to_status())
}

fn response(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
