//! How the fields of the built-in types take a strategic merge patch: one table, read both by
//! the OpenAPI documents (as the `x-kubernetes-patch-*` and `x-kubernetes-list-*` extensions
//! kubectl computes its client-side apply patches from) and by the strategic merge itself (which
//! lists merge by which key). Both reading the same rows is what keeps kubectl's patches and the
//! server's merges in agreement: a list kubectl believes is merged by `name` is merged by `name`
//! here, and a list it believes is replaced whole is sent whole.
//!
//! The rows are the Kubernetes API's struct tags and markers (`patchStrategy`, `patchMergeKey`,
//! `+listType`, `+listMapKey`) for the types in the built-in catalog, as a recent server
//! publishes them.

/// The patch and list semantics of one field of one built-in type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPatchMeta {
    /// The component schema holding the field (k8s-openapi's name, which is the real server's).
    pub schema: &'static str,
    /// The field's JSON name.
    pub field: &'static str,
    /// `x-kubernetes-patch-strategy`: `merge`, `merge,retainKeys` or `retainKeys`.
    pub strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`: what identifies an item of a list merged by key.
    pub merge_key: Option<&'static str>,
    /// `x-kubernetes-list-type`: `map`, `set` or `atomic`.
    pub list_type: Option<&'static str>,
    /// `x-kubernetes-list-map-keys` of a `map` list.
    pub map_keys: &'static [&'static str],
}

impl FieldPatchMeta {
    /// Whether strategic merge merges this list rather than replacing it.
    fn merges(&self) -> bool {
        self.strategy
            .is_some_and(|strategy| strategy.split(',').any(|s| s == "merge"))
    }
}

macro_rules! core {
    ($kind:literal) => {
        concat!("io.k8s.api.core.v1.", $kind)
    };
}

macro_rules! apps {
    ($kind:literal) => {
        concat!("io.k8s.api.apps.v1.", $kind)
    };
}

/// A list merged by `key` (patch strategy `merge`), published as a `map` list keyed by
/// `map_keys`.
const fn keyed(
    schema: &'static str,
    field: &'static str,
    key: &'static str,
    map_keys: &'static [&'static str],
) -> FieldPatchMeta {
    FieldPatchMeta {
        schema,
        field,
        strategy: Some("merge"),
        merge_key: Some(key),
        list_type: Some("map"),
        map_keys,
    }
}

/// A list replaced whole by a strategic merge patch, published as `atomic`.
const fn atomic(schema: &'static str, field: &'static str) -> FieldPatchMeta {
    FieldPatchMeta {
        schema,
        field,
        strategy: None,
        merge_key: None,
        list_type: Some("atomic"),
        map_keys: &[],
    }
}

macro_rules! rows {
    ($($row:expr),* $(,)?) => {
        /// Every field of the built-in types with patch or list semantics we publish and obey.
        pub(crate) const PATCH_META: &[FieldPatchMeta] = &[$($row),*];
    };
}

rows![
    // meta/v1 ObjectMeta.
    FieldPatchMeta {
        schema: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        field: "finalizers",
        strategy: Some("merge"),
        merge_key: None,
        list_type: Some("set"),
        map_keys: &[],
    },
    keyed(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        "uid",
        &["uid"]
    ),
    // core/v1 PodSpec.
    FieldPatchMeta {
        strategy: Some("merge,retainKeys"),
        ..keyed(core!("PodSpec"), "volumes", "name", &["name"])
    },
    keyed(core!("PodSpec"), "initContainers", "name", &["name"]),
    keyed(core!("PodSpec"), "containers", "name", &["name"]),
    keyed(core!("PodSpec"), "ephemeralContainers", "name", &["name"]),
    keyed(core!("PodSpec"), "imagePullSecrets", "name", &["name"]),
    keyed(core!("PodSpec"), "hostAliases", "ip", &["ip"]),
    keyed(
        core!("PodSpec"),
        "topologySpreadConstraints",
        "topologyKey",
        &["topologyKey", "whenUnsatisfiable"]
    ),
    keyed(core!("PodSpec"), "schedulingGates", "name", &["name"]),
    FieldPatchMeta {
        strategy: Some("merge,retainKeys"),
        ..keyed(core!("PodSpec"), "resourceClaims", "name", &["name"])
    },
    atomic(core!("PodSpec"), "tolerations"),
    atomic(core!("PodSpec"), "readinessGates"),
    // core/v1 Container and EphemeralContainer.
    keyed(
        core!("Container"),
        "ports",
        "containerPort",
        &["containerPort", "protocol"]
    ),
    keyed(core!("Container"), "env", "name", &["name"]),
    keyed(
        core!("Container"),
        "volumeMounts",
        "mountPath",
        &["mountPath"]
    ),
    keyed(
        core!("Container"),
        "volumeDevices",
        "devicePath",
        &["devicePath"]
    ),
    atomic(core!("Container"), "envFrom"),
    keyed(
        core!("EphemeralContainer"),
        "ports",
        "containerPort",
        &["containerPort", "protocol"]
    ),
    keyed(core!("EphemeralContainer"), "env", "name", &["name"]),
    keyed(
        core!("EphemeralContainer"),
        "volumeMounts",
        "mountPath",
        &["mountPath"]
    ),
    keyed(
        core!("EphemeralContainer"),
        "volumeDevices",
        "devicePath",
        &["devicePath"]
    ),
    atomic(core!("EphemeralContainer"), "envFrom"),
    // core/v1 status conditions, Service ports, ServiceAccount secrets.
    keyed(core!("PodStatus"), "conditions", "type", &["type"]),
    keyed(core!("NamespaceStatus"), "conditions", "type", &["type"]),
    keyed(core!("ServiceSpec"), "ports", "port", &["port", "protocol"]),
    keyed(core!("ServiceStatus"), "conditions", "type", &["type"]),
    keyed(core!("ServiceAccount"), "secrets", "name", &["name"]),
    // apps/v1.
    FieldPatchMeta {
        schema: apps!("DeploymentSpec"),
        field: "strategy",
        strategy: Some("retainKeys"),
        merge_key: None,
        list_type: None,
        map_keys: &[],
    },
    keyed(apps!("DeploymentStatus"), "conditions", "type", &["type"]),
    keyed(apps!("ReplicaSetStatus"), "conditions", "type", &["type"]),
    keyed(apps!("StatefulSetStatus"), "conditions", "type", &["type"]),
    keyed(apps!("DaemonSetStatus"), "conditions", "type", &["type"]),
    // batch/v1 Job conditions merge by type but are published atomic.
    FieldPatchMeta {
        list_type: Some("atomic"),
        map_keys: &[],
        ..keyed("io.k8s.api.batch.v1.JobStatus", "conditions", "type", &[])
    },
    keyed(
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        "conditions",
        "type",
        &["type"]
    ),
];

/// The merge key of a list field named `field` in a strategic merge patch. Patches carry no
/// type, so the rows are found by field name; where fields of that name merge by different
/// keys (container ports by `containerPort`, service ports by `port`), the key the items carry
/// decides.
pub(crate) fn merge_key(field: &str, items: &[serde_json::Value]) -> Option<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for row in PATCH_META
        .iter()
        .filter(|row| row.field == field && row.merges())
    {
        if let Some(key) = row.merge_key
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    match keys.as_slice() {
        [] => None,
        [only] => Some(only),
        several => several
            .iter()
            .find(|key| items.iter().any(|item| item.get(**key).is_some()))
            .or(several.first())
            .copied(),
    }
}

/// Whether a list field named `field` is a list of scalars merged as a set (`finalizers`).
pub(crate) fn is_merged_set(field: &str) -> bool {
    PATCH_META
        .iter()
        .any(|row| row.field == field && row.merges() && row.merge_key.is_none())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_merge_by_the_key_of_their_row() {
        assert_eq!(merge_key("containers", &[]), Some("name"));
        assert_eq!(merge_key("env", &[]), Some("name"));
        assert_eq!(merge_key("volumeMounts", &[]), Some("mountPath"));
        assert_eq!(merge_key("ownerReferences", &[]), Some("uid"));
        assert_eq!(merge_key("conditions", &[]), Some("type"));
        assert_eq!(
            merge_key("ports", &[json!({"containerPort": 80})]),
            Some("containerPort")
        );
        assert_eq!(merge_key("ports", &[json!({"port": 80})]), Some("port"));
        // Atomic lists and unknown fields are replaced whole.
        assert_eq!(merge_key("tolerations", &[]), None);
        assert_eq!(merge_key("readinessGates", &[]), None);
        assert_eq!(merge_key("args", &[]), None);
        assert!(is_merged_set("finalizers"));
        assert!(!is_merged_set("containers"));
    }
}
