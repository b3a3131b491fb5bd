//! What the controllers' watches let through and keep: which changes deserve a pass, what of a
//! cached object is dropped, and a shutdown that waits for the first full list.

use std::hash::{DefaultHasher, Hash, Hasher};

use kube::core::NamespaceResourceScope;
use kube::{Api, Resource, ResourceExt};

/// `shutdown`, held until `store` has its first full list. kube-runtime's applier keeps its
/// runner waiting for a ready store, so a shutdown that ends the watch before that first list
/// leaves the controller waiting forever and the process never exits (seen when `sandbox
/// --wait-ready` was decided within a millisecond of starting). The list is quick when the API
/// server answers; when it does not, `cli::run` gives up waiting after a while.
pub fn once_listed<K>(
    shutdown: impl Future<Output = ()> + Send + 'static,
    store: kube::runtime::reflector::Store<K>,
) -> impl Future<Output = ()> + Send + Sync + 'static
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    use futures::FutureExt;
    async move {
        shutdown.await;
        let _ = store.wait_until_ready().await;
    }
    .boxed()
    .shared()
}

/// The parts of a resource whose change deserves a pass: spec (generation), finalizers,
/// deletion and annotations. Status writes do not: the controllers schedule their own polls.
pub fn worth_a_pass<K: Resource>(obj: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    obj.meta().generation.hash(&mut hasher);
    obj.finalizers().hash(&mut hasher);
    obj.meta()
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut hasher);
    obj.annotations().hash(&mut hasher);
    Some(hasher.finish())
}

/// The annotation `kubectl apply` writes: a second copy of the whole applied manifest.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops from a cached object what no controller reads and what can be as large as the object
/// itself: `metadata.managedFields` and the `kubectl apply` copy of the manifest. Every cached
/// object goes through this before it is stored, so a comparison between cached copies (as in
/// [`worth_a_pass`]) compares like with like.
pub fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// An `Api` for `K` in one namespace, or in all.
pub fn scoped<K>(kube: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    }
}
