//! The object store: every object by (group, plural, namespace, name), one global resourceVersion
//! counter as in etcd, the history of changes that watches resume from, and the write rules the
//! real API server enforces (optimistic concurrency, generation, status subresource, finalizers,
//! garbage collection of dependents).
//!
//! It knows nothing about HTTP; `service` turns requests into calls here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::counters::{Counters, Fault};
use crate::error::{ApiError, ApiResult};

/// How many changes are kept for watches to resume from before the oldest are forgotten.
const HISTORY_LIMIT: usize = 10_000;

/// Resource types that have a status subresource on a real cluster without anyone registering them.
const BUILT_IN_STATUS_SUBRESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "services"),
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("", "replicationcontrollers"),
    ("", "resourcequotas"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "ingresses"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
];

/// A resource type, as named in URLs: `("", "configmaps")`, `("example.test", "widgets")`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceType {
    pub group: String,
    pub plural: String,
}

impl ResourceType {
    pub fn new(group: &str, plural: &str) -> Self {
        Self {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// One stored object's address; cluster-scoped objects have an empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub resource: ResourceType,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &ResourceType, namespace: Option<&str>, name: &str) -> Self {
        Self {
            resource: resource.clone(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.resource.group, &self.resource.plural, &self.name)
    }

    fn conflict(&self) -> ApiError {
        ApiError::conflict(&self.resource.group, &self.resource.plural, &self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change, kept in the history and sent to open watches.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub kind: ChangeKind,
    pub key: ObjectKey,
    pub object: Value,
    /// The object before a modification, so that selector-filtered watches can tell an object
    /// leaving their selection from one changing inside it.
    pub previous: Option<Value>,
}

/// Where a new watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Synthetic ADDED events for every current object, then live changes (`resourceVersion`
    /// unset or `0`).
    CurrentState,
    /// Every change after this resourceVersion, then live changes.
    After(u64),
}

/// What a newly opened watch gets: the changes to replay and a channel of live ones.
pub struct WatchOpening {
    pub replay: Vec<Arc<Change>>,
    pub live: mpsc::UnboundedReceiver<Arc<Change>>,
    pub resource_version: u64,
}

struct WatchSink {
    resource: ResourceType,
    namespace: Option<String>,
    sender: mpsc::UnboundedSender<Arc<Change>>,
}

/// What DELETE should do with dependents of an object that is really removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents (background and foreground both end up here).
    Cascade,
    /// Keep dependents and drop their ownerReference to the removed owner.
    Orphan,
}

/// Conditions a DELETE carries in its `preconditions`.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

#[derive(Default)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    resource_version: u64,
    history: VecDeque<Arc<Change>>,
    /// A watch may resume from this resourceVersion or any later one; older ones get 410.
    oldest_resumable: u64,
    watches: Vec<WatchSink>,
    status_subresources: HashSet<ResourceType>,
    /// The kind stored under each resource type, remembered so that empty lists can name it.
    kinds: HashMap<ResourceType, String>,
    pub counters: Counters,
    pub faults: Vec<Fault>,
}

impl Store {
    pub fn new() -> Self {
        let status_subresources = BUILT_IN_STATUS_SUBRESOURCES
            .iter()
            .map(|(group, plural)| ResourceType::new(group, plural))
            .collect();
        Self {
            status_subresources,
            ..Self::default()
        }
    }

    pub fn register_status_subresource(&mut self, resource: ResourceType) {
        self.status_subresources.insert(resource);
    }

    pub fn has_status_subresource(&self, resource: &ResourceType) -> bool {
        self.status_subresources.contains(resource)
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn kind_of(&self, resource: &ResourceType) -> Option<&str> {
        self.kinds.get(resource).map(String::as_str)
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one type, in one namespace or (with `None`) in all of them, ordered by
    /// namespace then name.
    pub fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(key, _)| &key.resource == resource)
            .filter(|(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Stores a new object: names it (`generateName`), stamps uid, creationTimestamp,
    /// generation 1 and a resourceVersion.
    pub fn create(
        &mut self,
        resource: &ResourceType,
        namespace: Option<&str>,
        api_version: &str,
        mut object: Value,
    ) -> ApiResult<Value> {
        let Some(fields) = object.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        };
        let kind = fields
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::bad_request("Object 'Kind' is missing in the request body"))?
            .to_string();
        fields
            .entry("apiVersion")
            .or_insert_with(|| Value::String(api_version.to_string()));
        if self.has_status_subresource(resource) {
            // As on the real server: status is written through the status subresource only.
            fields.remove("status");
        }
        let meta = metadata_mut(fields)?;
        match (namespace, meta.get("namespace").and_then(Value::as_str)) {
            (Some(url_ns), Some(body_ns)) if !body_ns.is_empty() && body_ns != url_ns => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({body_ns}) does not match the \
                     namespace sent on the request ({url_ns})"
                )));
            }
            (Some(url_ns), _) => {
                meta.insert("namespace".into(), json!(url_ns));
            }
            (None, _) => {
                meta.remove("namespace");
            }
        }
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_string(),
            None => {
                let prefix = meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "metadata.name: Required value: name or generateName is required",
                        )
                    })?;
                self.free_generated_name(resource, namespace, prefix)
            }
        };
        let key = ObjectKey::new(resource, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(
                &resource.group,
                &resource.plural,
                &name,
            ));
        }
        meta.insert("name".into(), json!(name));
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        for server_owned in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(server_owned);
        }
        normalize_metadata(meta);
        self.kinds.insert(resource.clone(), kind);
        Ok(self.commit(key, object, ChangeKind::Added, None))
    }

    fn free_generated_name(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        prefix: &str,
    ) -> String {
        loop {
            let suffix: String = uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(5)
                .collect();
            let name = format!("{prefix}{suffix}");
            if !self
                .objects
                .contains_key(&ObjectKey::new(resource, namespace, &name))
            {
                return name;
            }
        }
    }

    /// Writes `candidate` over the stored object, as a PUT to the main resource or (with
    /// `status_only`) to the status subresource. Every PATCH ends here too, with the patched
    /// object as the candidate.
    pub fn update(
        &mut self,
        key: &ObjectKey,
        candidate: Value,
        status_only: bool,
    ) -> ApiResult<Value> {
        let current = self
            .objects
            .get(key)
            .ok_or_else(|| key.not_found())?
            .clone();
        let Value::Object(mut candidate) = candidate else {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        };
        let candidate_meta = metadata_mut(&mut candidate)?;
        if let Some(name) = candidate_meta.get("name").and_then(Value::as_str)
            && name != key.name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            )));
        }
        let requested_rv = candidate_meta
            .get("resourceVersion")
            .and_then(Value::as_str);
        if requested_rv.is_some_and(|rv| {
            !rv.is_empty() && Some(rv) != str_at(&current, "/metadata/resourceVersion")
        }) {
            return Err(key.conflict());
        }

        let mut next = if status_only {
            let mut next = current.clone();
            set_or_remove(&mut next, "status", candidate.remove("status"));
            next
        } else {
            let mut next = Value::Object(candidate);
            keep_server_owned_fields(&mut next, &current);
            if self.has_status_subresource(&key.resource) {
                set_or_remove(&mut next, "status", current.get("status").cloned());
            }
            next
        };
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            normalize_metadata(meta);
        }
        reject_new_finalizers_while_deleting(&current, &next)?;

        if comparable(&next) == comparable(&current) {
            // Nothing changed: the real server neither bumps resourceVersion nor notifies watches.
            return Ok(current);
        }
        if without_metadata_and_status(&next) != without_metadata_and_status(&current) {
            bump_generation(&mut next);
        }
        let stored = self.commit(key.clone(), next, ChangeKind::Modified, Some(current));
        if is_terminating(&stored) && finalizers(&stored).is_empty() {
            return Ok(self.remove(key, Propagation::Cascade));
        }
        Ok(stored)
    }

    /// DELETE: objects with finalizers are marked (deletionTimestamp) and kept until the last
    /// finalizer goes; others are removed at once, and their dependents after them.
    pub fn delete(
        &mut self,
        key: &ObjectKey,
        preconditions: &Preconditions,
        propagation: Propagation,
    ) -> ApiResult<Value> {
        let current = self
            .objects
            .get(key)
            .ok_or_else(|| key.not_found())?
            .clone();
        let uid_differs = preconditions
            .uid
            .as_deref()
            .is_some_and(|uid| Some(uid) != str_at(&current, "/metadata/uid"));
        let rv_differs = preconditions
            .resource_version
            .as_deref()
            .is_some_and(|rv| Some(rv) != str_at(&current, "/metadata/resourceVersion"));
        if uid_differs || rv_differs {
            return Err(key.conflict());
        }
        if finalizers(&current).is_empty() {
            return Ok(self.remove(key, propagation));
        }
        if is_terminating(&current) {
            return Ok(current);
        }
        let mut next = current.clone();
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        bump_generation(&mut next);
        Ok(self.commit(key.clone(), next, ChangeKind::Modified, Some(current)))
    }

    /// Takes an object out for good, emits DELETED, then deals with its dependents.
    fn remove(&mut self, key: &ObjectKey, propagation: Propagation) -> Value {
        let Some(mut object) = self.objects.remove(key) else {
            return Value::Null;
        };
        self.resource_version += 1;
        set_resource_version(&mut object, self.resource_version);
        self.publish(Change {
            resource_version: self.resource_version,
            kind: ChangeKind::Deleted,
            key: key.clone(),
            object: object.clone(),
            previous: None,
        });
        if let Some(uid) = str_at(&object, "/metadata/uid") {
            self.collect_dependents_of(uid, propagation);
        }
        object
    }

    /// The garbage collector, run synchronously: a dependent whose every owner is gone is deleted
    /// (with the usual finalizer rules); one that still has a live owner, or whose owner was
    /// deleted with orphan propagation, just loses the reference to the removed owner.
    fn collect_dependents_of(&mut self, owner_uid: &str, propagation: Propagation) {
        let dependents: Vec<ObjectKey> = self
            .objects
            .iter()
            .filter(|(_, object)| owner_uids(object).iter().any(|uid| uid == owner_uid))
            .map(|(key, _)| key.clone())
            .collect();
        for key in dependents {
            let Some(dependent) = self.objects.get(&key) else {
                continue;
            };
            let has_live_owner = owner_uids(dependent)
                .iter()
                .any(|uid| uid != owner_uid && self.uid_exists(uid));
            if propagation == Propagation::Orphan || has_live_owner {
                let mut next = dependent.clone();
                drop_owner_reference(&mut next, owner_uid);
                // Cannot conflict: no resourceVersion precondition is involved.
                let _ = self.update(&key, next, false);
            } else {
                let _ = self.delete(&key, &Preconditions::default(), Propagation::Cascade);
            }
        }
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|object| str_at(object, "/metadata/uid") == Some(uid))
    }

    /// Stamps the next resourceVersion, stores the object and tells the watches.
    fn commit(
        &mut self,
        key: ObjectKey,
        mut object: Value,
        kind: ChangeKind,
        previous: Option<Value>,
    ) -> Value {
        self.resource_version += 1;
        set_resource_version(&mut object, self.resource_version);
        self.objects.insert(key.clone(), object.clone());
        self.publish(Change {
            resource_version: self.resource_version,
            kind,
            key,
            object: object.clone(),
            previous,
        });
        object
    }

    fn publish(&mut self, change: Change) {
        let change = Arc::new(change);
        self.watches.retain(|sink| {
            if sink.resource != change.key.resource
                || sink
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| *ns != change.key.namespace)
            {
                return !sink.sender.is_closed();
            }
            sink.sender.send(Arc::clone(&change)).is_ok()
        });
        self.history.push_back(change);
        while self.history.len() > HISTORY_LIMIT {
            if let Some(forgotten) = self.history.pop_front() {
                self.oldest_resumable = forgotten.resource_version;
            }
        }
    }

    /// Opens a watch on one type in one namespace (or all). Replay and live changes come from
    /// the same critical section, so no change falls between them.
    pub fn open_watch(
        &mut self,
        resource: &ResourceType,
        namespace: Option<&str>,
        start: WatchStart,
    ) -> ApiResult<WatchOpening> {
        let in_scope = |key: &ObjectKey| {
            &key.resource == resource && namespace.is_none_or(|ns| key.namespace == ns)
        };
        let replay = match start {
            WatchStart::After(rv) if rv < self.oldest_resumable => {
                return Err(ApiError::expired(rv, self.oldest_resumable));
            }
            WatchStart::After(rv) => self
                .history
                .iter()
                .filter(|change| change.resource_version > rv && in_scope(&change.key))
                .cloned()
                .collect(),
            WatchStart::CurrentState => self
                .objects
                .iter()
                .filter(|(key, _)| in_scope(key))
                .map(|(key, object)| {
                    Arc::new(Change {
                        resource_version: self.resource_version,
                        kind: ChangeKind::Added,
                        key: key.clone(),
                        object: object.clone(),
                        previous: None,
                    })
                })
                .collect(),
        };
        let (sender, live) = mpsc::unbounded_channel();
        self.watches.push(WatchSink {
            resource: resource.clone(),
            namespace: namespace.map(str::to_string),
            sender,
        });
        Ok(WatchOpening {
            replay,
            live,
            resource_version: self.resource_version,
        })
    }

    /// Forgets the change history and closes open watches, as an API server restart after an
    /// etcd compaction would: every resourceVersion handed out so far becomes too old to resume
    /// from, while a fresh LIST gives one that is not.
    pub fn expire_history(&mut self) {
        self.resource_version += 1;
        self.oldest_resumable = self.resource_version;
        self.history.clear();
        self.watches.clear();
    }
}

fn metadata_mut(fields: &mut Map<String, Value>) -> ApiResult<&mut Map<String, Value>> {
    fields
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// Copies what a client cannot change through an update from the stored object.
fn keep_server_owned_fields(next: &mut Value, current: &Value) {
    for field in ["apiVersion", "kind"] {
        if next.get(field).is_none()
            && let Some(value) = current.get(field)
            && let Some(fields) = next.as_object_mut()
        {
            fields.insert(field.into(), value.clone());
        }
    }
    let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match current.pointer(&format!("/metadata/{field}")) {
            Some(value) => meta.insert(field.into(), value.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("managedFields");
    meta.remove("selfLink");
}

/// Drops empty lists and maps from metadata, as Go's `omitempty` does on the real server, so that
/// a removed last finalizer reads as "no finalizers" rather than `[]`.
fn normalize_metadata(meta: &mut Map<String, Value>) {
    meta.retain(|_, value| match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    });
}

fn reject_new_finalizers_while_deleting(current: &Value, next: &Value) -> ApiResult<()> {
    if !is_terminating(current) {
        return Ok(());
    }
    let before = finalizers(current);
    if finalizers(next).iter().any(|f| !before.contains(f)) {
        return Err(ApiError::invalid(
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
        ));
    }
    Ok(())
}

fn set_or_remove(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(fields) = object.as_object_mut() {
        match value {
            Some(value) => fields.insert(field.into(), value),
            None => fields.remove(field),
        };
    }
}

fn set_resource_version(object: &mut Value, resource_version: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            json!(resource_version.to_string()),
        );
    }
}

fn bump_generation(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
        meta.insert("generation".into(), json!(generation + 1));
    }
}

/// The object as compared to decide whether a write changed anything.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    object
}

/// The part of an object whose change bumps `metadata.generation`.
fn without_metadata_and_status(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(fields) = object.as_object_mut() {
        fields.remove("metadata");
        fields.remove("status");
    }
    object
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn is_terminating(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn drop_owner_reference(object: &mut Value, owner_uid: &str) {
    if let Some(refs) = object
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
    }
}

/// The current time as the API server writes timestamps (RFC 3339, whole seconds, UTC).
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
