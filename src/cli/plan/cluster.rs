//! The operator's resources as the cluster has them: one list per kind and namespace, read
//! once and kept for the whole plan. Only reads.

use std::collections::HashMap;

use kube::Api;
use kube::api::ListParams;
use kube::core::NamespaceResourceScope;
use serde::de::DeserializeOwned;

use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};

/// What a list found, by namespace.
type Lists<K> = HashMap<String, Vec<K>>;

/// The cluster's copies of the operator's resources.
pub struct Cluster {
    kube: kube::Client,
    instances: Lists<AuraInstance>,
    snapshots: Lists<AuraSnapshot>,
    sessions: Lists<GdsSession>,
}

/// A kind `Cluster` keeps lists of.
pub trait Listed:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Sized
{
    fn lists(cluster: &mut Cluster) -> &mut Lists<Self>;
}

macro_rules! listed {
    ($kind:ty, $field:ident) => {
        impl Listed for $kind {
            fn lists(cluster: &mut Cluster) -> &mut Lists<Self> {
                &mut cluster.$field
            }
        }
    };
}
listed!(AuraInstance, instances);
listed!(AuraSnapshot, snapshots);
listed!(GdsSession, sessions);

impl Cluster {
    pub fn new(kube: kube::Client) -> Self {
        Self {
            kube,
            instances: HashMap::new(),
            snapshots: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    pub fn kube(&self) -> &kube::Client {
        &self.kube
    }

    /// Every resource of kind `K` in `namespace`.
    pub async fn all<K: Listed>(&mut self, namespace: &str) -> kube::Result<Vec<K>> {
        if !K::lists(self).contains_key(namespace) {
            let api: Api<K> = Api::namespaced(self.kube.clone(), namespace);
            let found = api.list(&ListParams::default()).await?.items;
            K::lists(self).insert(namespace.to_owned(), found);
        }
        Ok(K::lists(self).get(namespace).cloned().unwrap_or_default())
    }

    /// The resource `name` of kind `K` in `namespace`, if the cluster has it.
    pub async fn find<K: Listed>(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> kube::Result<Option<K>> {
        let all = self.all::<K>(namespace).await?;
        Ok(all
            .into_iter()
            .find(|obj| obj.meta().name.as_deref() == Some(name)))
    }
}
