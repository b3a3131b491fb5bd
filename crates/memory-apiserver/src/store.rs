//! The object store: every object by (group, plural, namespace, name), one global resourceVersion
//! counter as in etcd, the history of changes that watches resume from, and the write rules the
//! real API server enforces (optimistic concurrency, generation, status subresource, finalizers,
//! managedFields), plus the two controllers of kube-controller-manager that every cluster runs and
//! operators depend on: the garbage collector and the namespace controller.
//!
//! Writes leave work for those controllers (dependents to collect, terminating namespaces to
//! sweep); [`Store::settle`] does it and is called at the end of every request, under the same
//! lock, so observers never see half of it. With a GC delay, collection waits until its time.
//!
//! It knows nothing about HTTP; `service` turns requests into calls here.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::counters::{Counters, Fault, Latency};
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;

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

/// The finalizer a real server puts in every Namespace's `spec.finalizers`; the namespace
/// controller removes it once the namespace is empty.
const NAMESPACE_FINALIZER: &str = "kubernetes";

/// The manager the server's own controllers (garbage collector, namespace controller) write as;
/// on a real cluster they derive it from kube-controller-manager's User-Agent.
const CONTROLLER_MANAGER: &str = "kube-controller-manager";

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

    pub fn namespaces() -> Self {
        Self::new("", "namespaces")
    }

    /// CustomResourceDefinitions, whose objects declare the types the server serves.
    pub fn is_crds(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.plural == "customresourcedefinitions"
    }

    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
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

/// The part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself; `.status` is left alone when the type has a status subresource.
    Main,
    /// `.../status`: only `.status` changes.
    Status,
    /// A Namespace's `.../finalize`: only `spec.finalizers` changes.
    Finalize,
}

impl Subresource {
    fn name(self) -> Option<&'static str> {
        match self {
            Self::Main => None,
            Self::Status => Some("status"),
            Self::Finalize => Some("finalize"),
        }
    }
}

/// Who makes a write, as recorded in `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub manager: String,
    /// Server-side apply (`operation: Apply`) rather than any other write (`Update`).
    pub apply: bool,
    /// The apiVersion the request used; `None` records the object's own.
    pub api_version: Option<String>,
}

impl Writer {
    /// The garbage collector and the namespace controller.
    pub fn controller_manager() -> Self {
        Self {
            manager: CONTROLLER_MANAGER.to_string(),
            apply: false,
            api_version: None,
        }
    }
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
    /// The uids of stored objects, for the garbage collector's owner lookups.
    uids: HashSet<String>,
    resource_version: u64,
    history: VecDeque<Arc<Change>>,
    /// A watch may resume from this resourceVersion or any later one; older ones get 410.
    oldest_resumable: u64,
    watches: Vec<WatchSink>,
    status_subresources: HashSet<ResourceType>,
    /// The kind stored under each resource type, remembered so that empty lists can name it.
    kinds: HashMap<ResourceType, String>,
    /// The types the server advertises: the built-in catalog and every stored CRD's.
    pub registry: Registry,
    pub counters: Counters,
    pub faults: Vec<Fault>,
    pub latencies: Vec<Latency>,
    /// How long the garbage collector waits before it deals with a dependent; `None` is at
    /// once, within the request that removed the owner.
    gc_delay: Option<Duration>,
    /// Objects the garbage collector is to look at, and from when.
    gc_queue: Vec<(Instant, ObjectKey)>,
    /// When queued collections fall due, for the caller to wake [`settle`](Self::settle) then.
    gc_timers: BTreeSet<Instant>,
    /// Namespaces whose content changed since the last [`settle`](Self::settle); the namespace
    /// controller looks at the terminating ones.
    touched_namespaces: BTreeSet<String>,
    /// Whether a create needs its Namespace object to exist (404 otherwise), as the real
    /// server's NamespaceLifecycle admission does. Off by default, so that tests can create
    /// objects in namespaces they never created.
    pub namespace_lifecycle: bool,
    /// Warnings for the response to the request being served (admission's unknown fields).
    pub admission_warnings: Vec<String>,
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

    pub fn set_gc_delay(&mut self, delay: Option<Duration>) {
        self.gc_delay = delay.filter(|d| !d.is_zero());
    }

    /// How many objects the garbage collector has yet to look at.
    pub fn pending_garbage(&self) -> usize {
        self.gc_queue.len()
    }

    /// Makes every queued collection due now (for [`settle`](Self::settle) to run it).
    pub fn expedite_garbage(&mut self) {
        let now = Instant::now();
        for (due, _) in &mut self.gc_queue {
            *due = now;
        }
    }

    /// The times at which queued collections fall due, handed out once each.
    pub fn take_gc_timers(&mut self) -> BTreeSet<Instant> {
        std::mem::take(&mut self.gc_timers)
    }

    pub fn register_status_subresource(&mut self, resource: ResourceType) {
        self.status_subresources.insert(resource);
    }

    pub fn has_status_subresource(&self, resource: &ResourceType) -> bool {
        self.status_subresources.contains(resource)
            || self.registry.has_status_subresource(resource)
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn kind_of(&self, resource: &ResourceType) -> Option<&str> {
        self.kinds
            .get(resource)
            .or_else(|| self.registry.get(resource).map(|info| &info.kind))
            .map(String::as_str)
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
    /// generation 1, managedFields and a resourceVersion. Refused (403) in a namespace that is
    /// being deleted.
    pub fn create(
        &mut self,
        resource: &ResourceType,
        namespace: Option<&str>,
        api_version: &str,
        mut object: Value,
        writer: &Writer,
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
        if let Some(namespace) = namespace
            && self.namespace_is_terminating(namespace)
        {
            // The NamespaceLifecycle admission plugin, which runs before names are generated.
            let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
            return Err(ApiError::namespace_terminating(
                &resource.group,
                &resource.plural,
                name,
                namespace,
            ));
        }
        if let Some(namespace) = namespace
            && self.namespace_lifecycle
            && !self.objects.contains_key(&namespace_key(namespace))
        {
            return Err(ApiError::namespace_not_found(namespace));
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
                    .ok_or_else(|| crate::admission::name_required(&kind, &resource.group))?;
                self.free_generated_name(resource, namespace, prefix)
            }
        };
        let key = ObjectKey::new(resource, namespace, &name);
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
        if resource.is_namespaces() {
            // As the namespace strategy does: always the `kubernetes` finalizer, always Active.
            let mut finalizers = spec_finalizers(&object);
            if !finalizers.iter().any(|f| f == NAMESPACE_FINALIZER) {
                finalizers.push(NAMESPACE_FINALIZER.to_string());
            }
            set_spec_finalizers(&mut object, Some(json!(finalizers)));
            set_or_remove(&mut object, "status", Some(json!({"phase": "Active"})));
            namespace_name_label(&mut object, &name);
        }
        fold_string_data(resource, &mut object);
        default_secret_type(resource, &mut object);
        let warnings = &mut self.admission_warnings;
        crate::admission::validate(&self.registry, warnings, resource, None, &object, false)?;
        // After validation, as on the real server: an invalid object is a 422 whatever its name.
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(
                &resource.group,
                &resource.plural,
                &name,
            ));
        }
        record_manager(&mut object, None, writer, None);
        self.kinds.insert(resource.clone(), kind);
        Ok(self.commit(key, object, ChangeKind::Added, None))
    }

    fn namespace_is_terminating(&self, namespace: &str) -> bool {
        self.objects
            .get(&namespace_key(namespace))
            .is_some_and(is_terminating)
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

    /// Writes `candidate` over the stored object, as a PUT to the main resource or to a
    /// subresource. Every PATCH ends here too, with the patched object as the candidate. A write
    /// that changes something records `writer` in managedFields; one that changes nothing
    /// changes nothing at all.
    pub fn update(
        &mut self,
        key: &ObjectKey,
        candidate: Value,
        subresource: Subresource,
        writer: &Writer,
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

        let mut next = match subresource {
            Subresource::Status => {
                let mut next = current.clone();
                set_or_remove(&mut next, "status", candidate.remove("status"));
                next
            }
            Subresource::Finalize => {
                let mut next = current.clone();
                let finalizers = candidate
                    .get("spec")
                    .and_then(|spec| spec.get("finalizers"))
                    .cloned();
                set_spec_finalizers(&mut next, finalizers);
                next
            }
            Subresource::Main => {
                let mut next = Value::Object(candidate);
                fold_string_data(&key.resource, &mut next);
                default_secret_type(&key.resource, &mut next);
                keep_server_owned_fields(&mut next, &current);
                if self.has_status_subresource(&key.resource) {
                    set_or_remove(&mut next, "status", current.get("status").cloned());
                }
                if key.resource.is_namespaces() {
                    // Only `.../finalize` changes a namespace's finalizers.
                    let finalizers = current
                        .get("spec")
                        .and_then(|spec| spec.get("finalizers"))
                        .cloned();
                    set_spec_finalizers(&mut next, finalizers);
                    namespace_name_label(&mut next, &key.name);
                }
                next
            }
        };
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            normalize_metadata(meta);
        }
        let status_only = subresource == Subresource::Status;
        let warnings = &mut self.admission_warnings;
        let (old, resource) = (Some(&current), &key.resource);
        crate::admission::validate(&self.registry, warnings, resource, old, &next, status_only)?;
        reject_new_finalizers_while_deleting(&current, &next)?;

        if comparable(&next) == comparable(&current) {
            // Nothing changed: the real server neither bumps resourceVersion nor notifies
            // watches, and managedFields keep their times.
            return Ok(current);
        }
        if subresource != Subresource::Finalize
            && without_metadata_and_status(&next) != without_metadata_and_status(&current)
        {
            bump_generation(&mut next);
        }
        set_or_remove_meta(
            &mut next,
            "managedFields",
            current.pointer("/metadata/managedFields").cloned(),
        );
        record_manager(&mut next, Some(&current), writer, subresource.name());
        let stored = self.commit(key.clone(), next, ChangeKind::Modified, Some(current));
        if ready_to_remove(&key.resource, &stored) {
            return Ok(self.remove(key));
        }
        Ok(stored)
    }

    /// Replaces an object's managedFields with the ones a client wrote (kubectl's JSON patch
    /// moving client-side-apply managers over to server-side apply does this), when they are a
    /// list of entries that each name a manager and differ from the stored ones. Returns the
    /// object as stored afterwards.
    pub fn replace_managed_fields(&mut self, key: &ObjectKey, entries: &Value) -> Value {
        let Some(current) = self.objects.get(key).cloned() else {
            return Value::Null;
        };
        let valid = entries.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|e| e.get("manager").and_then(Value::as_str).is_some())
        });
        if !valid || current.pointer("/metadata/managedFields") == Some(entries) {
            return current;
        }
        let mut next = current.clone();
        set_or_remove_meta(&mut next, "managedFields", Some(entries.clone()));
        self.commit(key.clone(), next, ChangeKind::Modified, Some(current))
    }

    /// DELETE: objects with finalizers are marked (deletionTimestamp) and kept until the last
    /// finalizer goes; others are removed at once, and their dependents after them. With
    /// `Orphan`, dependents lose their reference to this object first, whether it goes now or
    /// later. A Namespace is marked Terminating and its content deleted.
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
        if propagation == Propagation::Orphan
            && let Some(uid) = str_at(&current, "/metadata/uid")
        {
            // The real server adds the `orphan` finalizer and the garbage collector orphans the
            // dependents before it lets the owner go; the dependents end up the same.
            let uid = uid.to_string();
            self.orphan_dependents_of(&uid);
        }
        let holds = finalizers(&current).len()
            + if key.resource.is_namespaces() {
                spec_finalizers(&current).len()
            } else {
                0
            };
        if holds == 0 {
            return Ok(self.remove(key));
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
        if key.resource.is_namespaces() {
            if let Some(fields) = next.as_object_mut() {
                let status = fields.entry("status").or_insert_with(|| json!({}));
                if let Some(status) = status.as_object_mut() {
                    status.insert("phase".into(), json!("Terminating"));
                }
            }
            // The namespace controller sweeps it at the end of this request.
            self.touched_namespaces.insert(key.name.clone());
        }
        Ok(self.commit(key.clone(), next, ChangeKind::Modified, Some(current)))
    }

    /// Takes an object out for good, emits DELETED, and hands its dependents to the garbage
    /// collector.
    fn remove(&mut self, key: &ObjectKey) -> Value {
        let Some(mut object) = self.objects.remove(key) else {
            return Value::Null;
        };
        if let Some(uid) = str_at(&object, "/metadata/uid") {
            self.uids.remove(uid);
        }
        if key.resource.is_crds() {
            self.registry.unregister_crd(&object);
        }
        self.resource_version += 1;
        set_resource_version(&mut object, self.resource_version);
        self.publish(Change {
            resource_version: self.resource_version,
            kind: ChangeKind::Deleted,
            key: key.clone(),
            object: object.clone(),
            previous: None,
        });
        self.touch_namespace(key);
        if let Some(uid) = str_at(&object, "/metadata/uid") {
            let dependents = self.dependents_of(uid);
            self.queue_for_collection(dependents);
        }
        object
    }

    fn dependents_of(&self, owner_uid: &str) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .filter(|(_, object)| owner_uids(object).iter().any(|uid| uid == owner_uid))
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn touch_namespace(&mut self, key: &ObjectKey) {
        if !key.namespace.is_empty() && !self.touched_namespaces.contains(&key.namespace) {
            self.touched_namespaces.insert(key.namespace.clone());
        }
    }

    /// Hands objects to the garbage collector, now or after the GC delay.
    fn queue_for_collection(&mut self, keys: Vec<ObjectKey>) {
        if keys.is_empty() {
            return;
        }
        let due = Instant::now() + self.gc_delay.unwrap_or_default();
        if self.gc_delay.is_some() {
            self.gc_timers.insert(due);
        }
        self.gc_queue.extend(keys.into_iter().map(|key| (due, key)));
    }

    /// The garbage collector's look at one object: owners are checked by uid; if none of them
    /// exists any more the object is deleted (background, with the usual finalizer rules); if
    /// some do, only the references to the missing ones are dropped.
    fn attempt_to_collect(&mut self, key: &ObjectKey) {
        let Some(object) = self.objects.get(key) else {
            return;
        };
        let (live, absent): (Vec<String>, Vec<String>) = owner_uids(object)
            .into_iter()
            .partition(|uid| self.uid_exists(uid));
        if absent.is_empty() {
            return;
        }
        if live.is_empty() {
            let _ = self.delete(key, &Preconditions::default(), Propagation::Cascade);
        } else {
            let mut next = object.clone();
            for uid in &absent {
                drop_owner_reference(&mut next, uid);
            }
            // Cannot conflict: the candidate carries the current resourceVersion.
            let _ = self.update(key, next, Subresource::Main, &Writer::controller_manager());
        }
    }

    /// Drops every reference to `owner_uid` from its dependents, which then stay.
    fn orphan_dependents_of(&mut self, owner_uid: &str) {
        for key in self.dependents_of(owner_uid) {
            let Some(mut next) = self.objects.get(&key).cloned() else {
                continue;
            };
            drop_owner_reference(&mut next, owner_uid);
            let _ = self.update(&key, next, Subresource::Main, &Writer::controller_manager());
        }
    }

    /// Runs what the garbage collector and the namespace controller have to do after the
    /// writes so far: due collections, and sweeping (then finalizing) terminating namespaces
    /// whose content changed. Repeats until nothing is left that is due.
    pub fn settle(&mut self) {
        loop {
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.gc_queue)
                .into_iter()
                .partition(|(when, _)| *when <= now);
            self.gc_queue = later;
            let namespaces = std::mem::take(&mut self.touched_namespaces);
            if due.is_empty() && namespaces.is_empty() {
                return;
            }
            for (_, key) in due {
                self.attempt_to_collect(&key);
            }
            for namespace in namespaces {
                self.sync_namespace(&namespace);
            }
        }
    }

    /// The namespace controller's pass over a terminating namespace: deletes everything in it
    /// that is not being deleted yet, all at once and in no particular order; then either
    /// reports what remains in the namespace's conditions, or, once nothing remains, removes
    /// the `kubernetes` finalizer, after which the namespace itself goes (unless other
    /// finalizers hold it).
    fn sync_namespace(&mut self, namespace: &str) {
        let ns_key = namespace_key(namespace);
        if !self.objects.get(&ns_key).is_some_and(is_terminating) {
            return;
        }
        let mut content: Vec<ObjectKey> = self
            .objects
            .iter()
            .filter(|(key, object)| key.namespace == namespace && !is_terminating(object))
            .map(|(key, _)| key.clone())
            .collect();
        content.sort_by_cached_key(|_| uuid::Uuid::new_v4());
        for key in content {
            let _ = self.delete(&key, &Preconditions::default(), Propagation::Cascade);
        }
        let remaining: Vec<(&ObjectKey, &Value)> = self
            .objects
            .iter()
            .filter(|(key, _)| key.namespace == namespace)
            .collect();
        let Some(current) = self.objects.get(&ns_key) else {
            return;
        };
        let mut next = current.clone();
        set_namespace_conditions(&mut next, &remaining);
        let content_gone = remaining.is_empty();
        let Ok(mut current) = self.update(
            &ns_key,
            next,
            Subresource::Status,
            &Writer::controller_manager(),
        ) else {
            return;
        };
        if content_gone
            && spec_finalizers(&current)
                .iter()
                .any(|f| f == NAMESPACE_FINALIZER)
        {
            let kept: Vec<Value> = spec_finalizers(&current)
                .into_iter()
                .filter(|f| f != NAMESPACE_FINALIZER)
                .map(Value::String)
                .collect();
            let mut finalized = current.clone();
            set_spec_finalizers(&mut finalized, Some(Value::Array(kept)));
            match self.update(
                &ns_key,
                finalized,
                Subresource::Finalize,
                &Writer::controller_manager(),
            ) {
                Ok(stored) => current = stored,
                Err(_) => return,
            }
        }
        if ready_to_remove(&ns_key.resource, &current) {
            self.remove(&ns_key);
        }
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.uids.contains(uid)
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
        if let Some(uid) = str_at(&object, "/metadata/uid") {
            self.uids.insert(uid.to_string());
        }
        if key.resource.is_crds() {
            // As a real server starts serving a type once its CRD is established.
            self.registry.register_crd(&object);
        }
        self.objects.insert(key.clone(), object.clone());
        self.touch_namespace(&key);
        if !is_terminating(&object) && owner_uids(&object).iter().any(|uid| !self.uid_exists(uid)) {
            // An owner that is already gone: the garbage collector finds this one too.
            self.queue_for_collection(vec![key.clone()]);
        }
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

    /// Runs `write` as a `dryRun=All` request: everything it would do is done (so its answer,
    /// errors included, is the real one), then the store is put back as it was, no watch having
    /// seen anything.
    pub fn dry_run<T>(&mut self, write: impl FnOnce(&mut Self) -> T) -> T {
        let objects = self.objects.clone();
        let uids = self.uids.clone();
        let resource_version = self.resource_version;
        let history = self.history.clone();
        let oldest_resumable = self.oldest_resumable;
        let kinds = self.kinds.clone();
        let registry = self.registry.clone();
        let gc_queue = self.gc_queue.clone();
        let gc_timers = self.gc_timers.clone();
        let touched_namespaces = self.touched_namespaces.clone();
        let watches = std::mem::take(&mut self.watches);
        let result = write(self);
        self.objects = objects;
        self.uids = uids;
        self.resource_version = resource_version;
        self.history = history;
        self.oldest_resumable = oldest_resumable;
        self.kinds = kinds;
        self.registry = registry;
        self.gc_queue = gc_queue;
        self.gc_timers = gc_timers;
        self.touched_namespaces = touched_namespaces;
        self.watches = watches;
        result
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

fn namespace_key(name: &str) -> ObjectKey {
    ObjectKey::new(&ResourceType::namespaces(), None, name)
}

/// The label every Namespace carries on a real server (1.21 and later), whatever a client sends.
fn namespace_name_label(object: &mut Value, name: &str) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["kubernetes.io/metadata.name"] = json!(name);
}

/// A Namespace's `spec.finalizers`.
fn spec_finalizers(object: &Value) -> Vec<String> {
    strings_at(object, "/spec/finalizers")
}

/// The strings of the array at `pointer` (empty when there is none).
/// The strings of the array at `pointer` (none when it is missing or not an array).
pub(crate) fn strings_at(object: &Value, pointer: &str) -> Vec<String> {
    object
        .pointer(pointer)
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

/// Sets (or, when absent or empty, removes) a Namespace's `spec.finalizers`; `spec` stays,
/// possibly empty, as on the real server.
fn set_spec_finalizers(object: &mut Value, finalizers: Option<Value>) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let spec = fields.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    let keep = finalizers.filter(|f| f.as_array().is_some_and(|items| !items.is_empty()));
    if let Some(spec) = spec.as_object_mut() {
        match keep {
            Some(finalizers) => spec.insert("finalizers".into(), finalizers),
            None => spec.remove("finalizers"),
        };
    }
}

/// Whether a marked object can go: no finalizer left (for a Namespace, none in
/// `spec.finalizers` either).
fn ready_to_remove(resource: &ResourceType, object: &Value) -> bool {
    is_terminating(object)
        && finalizers(object).is_empty()
        && (!resource.is_namespaces() || spec_finalizers(object).is_empty())
}

/// The namespace controller's five conditions, worded as kube-controller-manager words them:
/// `NamespaceContentRemaining` and `NamespaceFinalizersRemaining` are True while objects (and
/// their finalizers) remain; a condition keeps its lastTransitionTime while its status holds.
fn set_namespace_conditions(namespace: &mut Value, remaining: &[(&ObjectKey, &Value)]) {
    let mut by_resource: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_finalizer: BTreeMap<String, usize> = BTreeMap::new();
    for (key, object) in remaining {
        let resource = format!("{}.{}", key.resource.plural, key.resource.group);
        *by_resource.entry(resource).or_default() += 1;
        for finalizer in finalizers(object) {
            *by_finalizer.entry(finalizer).or_default() += 1;
        }
    }
    let sorted_join = |mut items: Vec<String>| {
        items.sort();
        items.join(", ")
    };
    let content = (!by_resource.is_empty()).then(|| {
        let items = by_resource
            .iter()
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        (
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", sorted_join(items)),
        )
    });
    let finalizers_left = (!by_finalizer.is_empty()).then(|| {
        let items = by_finalizer
            .iter()
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        (
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                sorted_join(items)
            ),
        )
    });
    let wanted = [
        (
            "NamespaceDeletionDiscoveryFailure",
            None,
            (
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            None,
            (
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
        ),
        (
            "NamespaceDeletionContentFailure",
            None,
            (
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
        ),
        (
            "NamespaceContentRemaining",
            content,
            ("ContentRemoved", "All content successfully removed"),
        ),
        (
            "NamespaceFinalizersRemaining",
            finalizers_left,
            (
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
            ),
        ),
    ];
    let previous: Vec<Value> = namespace
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let conditions: Vec<Value> = wanted
        .into_iter()
        .map(|(kind, problem, (ok_reason, ok_message))| {
            let (status, reason, message) = match problem {
                Some((reason, message)) => ("True", reason.to_string(), message),
                None => ("False", ok_reason.to_string(), ok_message.to_string()),
            };
            let since = previous
                .iter()
                .find(|c| c.get("type") == Some(&json!(kind)))
                .filter(|c| c.get("status") == Some(&json!(status)))
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| json!(now()));
            json!({
                "type": kind,
                "status": status,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            })
        })
        .collect();
    if let Some(fields) = namespace.as_object_mut() {
        let status = fields.entry("status").or_insert_with(|| json!({}));
        if !status.is_object() {
            *status = json!({});
        }
        status["conditions"] = Value::Array(conditions);
    }
}

/// Records a write in `metadata.managedFields`, simplified: one entry per (manager, operation,
/// subresource), whose apiVersion and time the latest such write sets, and whose `fieldsV1`
/// (`fieldsType: FieldsV1`, which kubectl's apply reads) is every field the manager's writes
/// set or changed so far (lists as whole fields; fields it removed stay in its set).
fn record_manager(
    object: &mut Value,
    previous: Option<&Value>,
    writer: &Writer,
    subresource: Option<&str>,
) {
    let api_version = writer
        .api_version
        .clone()
        .or_else(|| str_at(object, "/apiVersion").map(str::to_string))
        .unwrap_or_default();
    let operation = if writer.apply { "Apply" } else { "Update" };
    let same = |e: &Value| {
        str_at(e, "/manager") == Some(writer.manager.as_str())
            && str_at(e, "/operation") == Some(operation)
            && str_at(e, "/subresource") == subresource
    };
    let mut fields = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .and_then(|entries| entries.iter().find(|e| same(e)))
        .and_then(|e| e.get("fieldsV1"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    union_fields(&mut fields, &changed_fields(previous, object, Level::Top));
    let mut entry = json!({
        "manager": writer.manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(subresource) = subresource {
        entry["subresource"] = json!(subresource);
    }
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let entries = meta
        .entry("managedFields")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entries.is_array() {
        *entries = Value::Array(Vec::new());
    }
    let Some(entries) = entries.as_array_mut() else {
        return;
    };
    let same = |e: &Value| {
        str_at(e, "/manager") == Some(writer.manager.as_str())
            && str_at(e, "/operation") == Some(operation)
            && str_at(e, "/subresource") == subresource
    };
    match entries.iter_mut().find(|e| same(e)) {
        Some(existing) => *existing = entry,
        None => entries.push(entry),
    }
}

/// The fields (as a `fieldsV1` set: `f:name` keys, `.` for a map itself) whose values `next`
/// has and `previous` had not, leaving out what the server owns (apiVersion, kind, and
/// metadata's name, namespace, uid, resourceVersion, generation, timestamps, managedFields).
fn changed_fields(previous: Option<&Value>, next: &Value, level: Level) -> Map<String, Value> {
    const SERVER_OWNED_METADATA: &[&str] = &[
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    ];
    let mut set = Map::new();
    let Some(fields) = next.as_object() else {
        return set;
    };
    for (key, value) in fields {
        let skipped = match level {
            Level::Top => key == "apiVersion" || key == "kind",
            Level::Metadata => SERVER_OWNED_METADATA.contains(&key.as_str()),
            Level::Inner => false,
        };
        if skipped {
            continue;
        }
        let before = previous.and_then(|p| p.get(key));
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                let inner_level = if level == Level::Top && key == "metadata" {
                    Level::Metadata
                } else {
                    Level::Inner
                };
                let children = changed_fields(before, value, inner_level);
                if !children.is_empty() {
                    let mut map = Map::new();
                    if inner_level == Level::Inner {
                        map.insert(".".into(), json!({}));
                    }
                    map.extend(children);
                    set.insert(format!("f:{key}"), Value::Object(map));
                }
            }
            _ if before != Some(value) => {
                set.insert(format!("f:{key}"), json!({}));
            }
            _ => {}
        }
    }
    set
}

/// Where in an object [`changed_fields`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Metadata,
    Inner,
}

/// Adds the fields of `more` to `set`.
fn union_fields(set: &mut Map<String, Value>, more: &Map<String, Value>) {
    for (key, value) in more {
        match (set.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(added)) => union_fields(existing, added),
            _ => {
                set.insert(key.clone(), value.clone());
            }
        }
    }
}

fn set_or_remove_meta(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        match value {
            Some(value) => meta.insert(field.into(), value),
            None => meta.remove(field),
        };
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
    strings_at(object, "/metadata/finalizers")
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

/// As the real API server's defaulting does for Secrets (on every write, so an update that
/// leaves `type` out keeps `Opaque`): a Secret without a `type`, or with an empty one, is
/// `Opaque`.
fn default_secret_type(resource: &ResourceType, object: &mut Value) {
    if !(resource.group.is_empty() && resource.plural == "secrets") {
        return;
    }
    if let Some(fields) = object.as_object_mut()
        && fields
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        fields.insert("type".into(), json!("Opaque"));
    }
}

/// As the real API server does for Secrets: `stringData` is write-only. Its entries are folded
/// into `data` (base64-encoded, winning over a `data` entry of the same key) and it is never
/// stored or returned.
fn fold_string_data(resource: &ResourceType, object: &mut Value) {
    if !(resource.group.is_empty() && resource.plural == "secrets") {
        return;
    }
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = fields.remove("stringData") else {
        return;
    };
    let data = fields.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in strings {
        let bytes = value.as_str().unwrap_or_default().as_bytes().to_vec();
        // k8s-openapi's ByteString serializes as the API's base64.
        data[key] = serde_json::to_value(k8s_openapi::ByteString(bytes)).unwrap_or(Value::Null);
    }
}
