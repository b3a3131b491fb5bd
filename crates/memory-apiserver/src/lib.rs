//! An in-memory Kubernetes API server for end-to-end controller tests, with no cluster, container
//! or network involved.
//!
//! [`ApiServer`] is a `tower::Service` that [`kube::Client::new`] accepts, so a real
//! `kube::runtime::Controller`, watcher, finalizer helper and event `Recorder` run against it
//! unchanged:
//!
//! ```no_run
//! # async fn example() -> Result<(), kube::Error> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, PostParams};
//!
//! let server = memory_apiserver::ApiServer::new();
//! let configmaps: Api<ConfigMap> = Api::default_namespaced(server.client());
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! configmaps.create(&PostParams::default(), &cm).await?;
//! assert!(server.get("", "configmaps", Some("default"), "settings").is_some());
//! # Ok(())
//! # }
//! ```
//!
//! [`ApiServer::serve`] also puts the same store on a loopback HTTP port, with a kubeconfig for it,
//! so that a program in another process (an operator binary, or the real `kubectl`) can use it.
//! `/version`, the health checks, discovery (legacy and aggregated) and OpenAPI v3 are served
//! from the [`registry`] (built-in catalog and stored CRDs), so kubectl finds, explains and
//! applies types with its default flags. The protobuf bodies of kubectl's imperative creates
//! are decoded for Namespace, Secret, ConfigMap and ServiceAccount (other types get 415).
//!
//! Any resource type is accepted without registration: the URL names group, plural and
//! namespace, the body names apiVersion and kind. What it copies from the real server is what
//! controllers depend on: one global resourceVersion, optimistic concurrency, watches that resume
//! from a resourceVersion (and 410 once history is gone), no-op writes that change nothing,
//! generation bumps on spec changes only, the status subresource, finalizers and deletion
//! timestamps, simplified managedFields, garbage collection through ownerReferences (at once or
//! after a delay) and namespace deletion as the namespace controller does it; and, for `kubectl`,
//! server-side Tables (CRD printer columns and the common built-in printers, lists, single
//! objects and watches), Events readable through both their APIs, strategic merge patches and
//! YAML server-side apply bodies. Custom resources whose CustomResourceDefinition is stored go
//! through admission as on kube-apiserver v1.32: pruning, defaults, `fieldValidation`, schema
//! validation and CEL rules, with the real server's 400/422 answers (types without a stored CRD
//! are not checked). What it does not do: other admission (beyond refusing content in a
//! terminating namespace), validation of built-in types, RBAC, field ownership and conflicts,
//! pagination.

mod admission;
mod counters;
mod discovery;
mod error;
mod events;
mod jsonpath;
mod openapi;
mod over_http;
mod patch;
mod patch_meta;
mod protobuf;
pub mod registry;
mod route;
mod selector;
mod service;
mod store;
mod table;
mod watch;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use counters::{Counters, FieldManagerKey, WriteKey};
pub use error::ApiError;
pub use over_http::{KubeconfigClientError, Served, client_from_kubeconfig, kubeconfig};
pub use service::ResponseBody;

use counters::{Fault, Latency};
use service::lock;
use store::{ObjectKey, Preconditions, Propagation, ResourceType, Store, Subresource, Writer};

/// The in-memory API server. Clones share one store, so a test keeps one handle for assertions
/// while clients built from it talk to the same state.
#[derive(Clone)]
pub struct ApiServer {
    store: Arc<Mutex<Store>>,
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("resource_version", &lock(&self.store).resource_version())
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// An empty server. Built-in types that have a status subresource on a real cluster (pods,
    /// deployments, namespaces, ...) already have one here; custom resources need
    /// [`with_status_subresource`](Self::with_status_subresource).
    pub fn new() -> Self {
        Self {
            store: Arc::new(Mutex::new(Store::new())),
        }
    }

    /// A client talking to this server, with "default" as its default namespace.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Declares that a resource type has a status subresource (as a CRD with
    /// `subresources: {status: {}}` does): writes to the main resource then leave `.status`
    /// alone, and writes to `.../status` change nothing else.
    pub fn with_status_subresource(self, group: &str, plural: &str) -> Self {
        lock(&self.store).register_status_subresource(ResourceType::new(group, plural));
        self
    }

    /// Refuses to create an object in a namespace that has no Namespace object, as a real
    /// server's NamespaceLifecycle admission does: 404 `namespaces "x" not found` (for
    /// server-side apply that would create, and Events of either API, too). Off by default, so
    /// that tests can use namespaces they never created; the sandbox turns it on, as users'
    /// `kubectl` expects.
    pub fn with_namespace_lifecycle(self) -> Self {
        lock(&self.store).namespace_lifecycle = true;
        self
    }

    /// Makes the garbage collector wait `delay` before it deals with the dependents of a removed
    /// owner (and with objects created pointing at an owner that is gone), as a real one takes
    /// a moment: a test can then watch an owned Secret outlive its owner for that long. The
    /// default is no delay: dependents go within the request that removed the owner. Delayed
    /// collection runs on a Tokio timer (paused test time works);
    /// [`collect_garbage`](Self::collect_garbage) runs it at once.
    pub fn with_gc_delay(self, delay: Duration) -> Self {
        lock(&self.store).set_gc_delay(Some(delay));
        self
    }

    /// Runs every collection the garbage collector still has pending (see
    /// [`with_gc_delay`](Self::with_gc_delay)) now.
    pub fn collect_garbage(&self) {
        let mut store = lock(&self.store);
        store.expedite_garbage();
        service::settle(&self.store, &mut store);
    }

    /// How many objects the garbage collector has yet to look at (always 0 without a GC delay).
    pub fn pending_garbage(&self) -> usize {
        lock(&self.store).pending_garbage()
    }

    /// Stores a CustomResourceDefinition (JSON) as `kubectl apply -f crd.yaml` would, or
    /// replaces the stored one of that name: the type is then served as the CRD declares it
    /// (discovery, OpenAPI, Tables, its status subresource) and its objects go through
    /// admission (schema, defaults, pruning, CEL rules).
    pub fn install_crd(&self, crd: Value) -> Result<Value, ApiError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let resource = ResourceType::new("apiextensions.k8s.io", "customresourcedefinitions");
        let writer = Writer {
            manager: "kubectl-client-side-apply".into(),
            apply: false,
            api_version: Some("apiextensions.k8s.io/v1".into()),
        };
        let mut store = lock(&self.store);
        let key = ObjectKey::new(&resource, None, &name);
        let stored = match store.get(&key).cloned() {
            Some(current) => {
                let mut next = crd;
                if let Some(rv) = current.pointer("/metadata/resourceVersion") {
                    next["metadata"]["resourceVersion"] = rv.clone();
                }
                store.update(&key, next, Subresource::Main, &writer)
            }
            None => store.create(&resource, None, "apiextensions.k8s.io/v1", crd, &writer),
        };
        service::settle(&self.store, &mut store);
        stored
    }

    /// Creates the Namespace `name` as `kubectl create namespace` would (`spec.finalizers:
    /// [kubernetes]`, phase Active, the `kubernetes.io/metadata.name` label), or returns it as
    /// it is if it exists. Objects can be created in a namespace without a Namespace object; one
    /// is needed only to model namespace deletion.
    pub fn create_namespace(&self, name: &str) -> Value {
        let mut store = lock(&self.store);
        if let Some(existing) = store.get(&ObjectKey::new(&ResourceType::namespaces(), None, name))
        {
            return existing.clone();
        }
        let namespace = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
        });
        let writer = Writer {
            manager: "kubectl-create".into(),
            apply: false,
            api_version: Some("v1".into()),
        };
        let created = store
            .create(&ResourceType::namespaces(), None, "v1", namespace, &writer)
            .unwrap_or_default();
        service::settle(&self.store, &mut store);
        created
    }

    /// Deletes the Namespace `name` as `kubectl delete namespace` would: it turns Terminating,
    /// everything in it is deleted at once (objects with finalizers are marked and stay until
    /// their finalizers go), creating objects in it is refused, and the namespace goes when the
    /// last object has gone. A Namespace object is created first if there is none, so that a
    /// test that never created one can still delete "its" namespace. Returns the Namespace as
    /// the DELETE answered (Terminating), whether or not it is already gone.
    pub fn delete_namespace(&self, name: &str) -> Value {
        self.create_namespace(name);
        let mut store = lock(&self.store);
        let key = ObjectKey::new(&ResourceType::namespaces(), None, name);
        let answer = store
            .delete(&key, &Preconditions::default(), Propagation::Cascade)
            .unwrap_or_default();
        service::settle(&self.store, &mut store);
        answer
    }

    /// The `metadata.managedFields` of a stored object, typed: one entry per (manager,
    /// operation, subresource) that changed it, with the apiVersion and time of its latest
    /// change, and no `fieldsV1`. Empty when the object does not exist.
    pub fn managed_fields(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Vec<ManagedFieldsEntry> {
        self.get(group, plural, namespace, name)
            .and_then(|object| object.pointer("/metadata/managedFields").cloned())
            .and_then(|entries| serde_json::from_value(entries).ok())
            .unwrap_or_default()
    }

    /// One stored object, as the server would return it. The core group is `""`; `namespace` is
    /// `None` for cluster-scoped objects.
    pub fn get(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = ResourceType::new(group, plural);
        let key = ObjectKey::new(&events::storage_of(&resource), namespace, name);
        let object = lock(&self.store).get(&key).cloned()?;
        Some(service::view_of(&resource, object))
    }

    /// Stored objects of one type in one namespace, or in all namespaces with `None`. Events
    /// come in the shape of the API named: `("", "events")` core/v1, `("events.k8s.io",
    /// "events")` events.k8s.io/v1 (the same objects).
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        let resource = ResourceType::new(group, plural);
        lock(&self.store)
            .list(&events::storage_of(&resource), namespace)
            .into_iter()
            .map(|object| service::view_of(&resource, object))
            .collect()
    }

    /// [`get`](Self::get) for a typed resource; `None` also when the object does not decode as `K`.
    pub fn get_as<K>(&self, namespace: Option<&str>, name: &str) -> Option<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let object = self.get(&K::group(&()), &K::plural(&()), namespace, name)?;
        serde_json::from_value(object).ok()
    }

    /// [`list`](Self::list) for a typed resource, skipping objects that do not decode as `K`.
    pub fn list_as<K>(&self, namespace: Option<&str>) -> Vec<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        self.list(&K::group(&()), &K::plural(&()), namespace)
            .into_iter()
            .filter_map(|object| serde_json::from_value(object).ok())
            .collect()
    }

    /// What the server knows of a type: the built-in catalog's entry, or what its stored CRD
    /// declares (`None` for a type stored without either).
    pub fn resource_info(&self, group: &str, plural: &str) -> Option<registry::ResourceInfo> {
        lock(&self.store)
            .registry
            .get(&ResourceType::new(group, plural))
            .cloned()
    }

    /// The served type of `kind` in `group` at `version`, as kubectl's REST mapper finds it
    /// through discovery (`None`: "no matches for kind").
    pub fn resource_for_kind(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Option<registry::ResourceInfo> {
        lock(&self.store)
            .registry
            .iter()
            .find(|info| {
                info.group == group && info.kind == kind && info.version(version).is_some()
            })
            .cloned()
    }

    /// The current global resourceVersion (the one a LIST would report).
    pub fn resource_version(&self) -> u64 {
        lock(&self.store).resource_version()
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        lock(&self.store).counters.clone()
    }

    /// Makes the next `times` requests with this verb (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection`) on this resource type fail with `status`
    /// and a matching Status body. `"*"` as verb or plural matches any.
    pub fn fail_next(&self, verb: &str, group: &str, plural: &str, times: u32, status: u16) {
        lock(&self.store).faults.push(Fault {
            verb: verb.to_string(),
            group: group.to_string(),
            plural: plural.to_string(),
            remaining: times,
            status,
        });
    }

    /// Makes the next `times` requests with this verb on this resource type wait `delay` before
    /// the server looks at them, as a loaded API server would: the window in which a client
    /// that gives up on a request (drops its future) leaves it undone. `"*"` as verb or plural
    /// matches any; [`Counters::delayed`] counts the requests held back so far.
    pub fn delay_next(&self, verb: &str, group: &str, plural: &str, times: u32, delay: Duration) {
        lock(&self.store).latencies.push(Latency {
            verb: verb.to_string(),
            group: group.to_string(),
            plural: plural.to_string(),
            remaining: times,
            delay,
        });
    }

    /// Forgets the change history and ends every open watch, as an API server restart after
    /// etcd compaction would: a watch resuming from any resourceVersion handed out before this
    /// call gets a 410 Expired ERROR event, so watchers must relist.
    pub fn expire_history(&self) {
        lock(&self.store).expire_history();
    }

    /// Serves this server (the same store) over HTTP/1.1 on `addr` (use `127.0.0.1:0`), for a
    /// program in another process; see [`Served`] for its kubeconfig. Needs a Tokio runtime.
    pub async fn serve(&self, addr: std::net::SocketAddr) -> std::io::Result<Served> {
        over_http::serve(Arc::clone(&self.store), addr).await
    }

    /// Polls `condition` against this server every 10 ms until it holds or `timeout` passes;
    /// returns whether it held. For tests waiting on a controller.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        condition: impl Fn(&ApiServer) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl tower::Service<http::Request<kube::client::Body>> for ApiServer {
    type Response = http::Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let store = Arc::clone(&self.store);
        Box::pin(async move { Ok(service::handle(store, request).await) })
    }
}
