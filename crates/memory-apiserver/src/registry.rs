//! What the server knows about each resource type it serves: names (kind, plural, singular,
//! short names, categories), scope, versions, and for custom resources the schema, printer
//! columns and subresources their CustomResourceDefinition declares.
//!
//! Discovery, OpenAPI, Table output and admission all read it. Built-in types come from a fixed
//! catalog (the ones an operator and kubectl meet); a custom resource type is registered when its
//! CRD object is stored, as a real server starts serving it once the CRD is established, and
//! forgotten when the CRD goes. Types that are in neither are still stored (tests may use any
//! type without declaring it), but nothing advertises or validates them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::{ResourceType, strings_at};

/// The verbs of an ordinary resource collection, as discovery lists them.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served type.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Served versions, the storage version first.
    pub versions: Vec<VersionInfo>,
    /// Whether it came from a CustomResourceDefinition (and so has a schema of its own).
    pub custom: bool,
}

/// One served version of a type.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    pub name: String,
    pub storage: bool,
    /// The CRD's `openAPIV3Schema` for this version; `None` for built-in types.
    pub schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
    /// The CRD's `subresources.scale`, as written there.
    pub scale_subresource: Option<Value>,
}

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// A simple JSONPath such as `.status.phase` (no braces).
    pub json_path: String,
}

impl ResourceInfo {
    /// `group/version` of the storage version (`v1` for the core group).
    pub fn preferred_api_version(&self) -> String {
        let version = self.versions.first().map_or("v1", |v| v.name.as_str());
        api_version(&self.group, version)
    }

    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }

    pub fn resource_type(&self) -> ResourceType {
        ResourceType::new(&self.group, &self.plural)
    }
}

/// `v1` for the core group, `group/version` otherwise.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Every type the server advertises.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: BTreeMap<ResourceType, ResourceInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_built_ins()
    }
}

/// (group, version, plural, singular, kind, namespaced, short names, categories, status)
type BuiltIn = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

/// The built-in types an operator, its install manifests and kubectl meet. A real cluster has
/// more; these are the ones the sandbox stores for users.
#[rustfmt::skip]
const BUILT_INS: &[BuiltIn] = &[
    ("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], &[], false),
    ("", "v1", "events", "event", "Event", true, &["ev"], &[], false),
    ("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], &[], true),
    ("", "v1", "pods", "pod", "Pod", true, &["po"], &["all"], true),
    ("", "v1", "secrets", "secret", "Secret", true, &[], &[], false),
    ("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], &[], false),
    ("", "v1", "services", "service", "Service", true, &["svc"], &["all"], true),
    ("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"], &["all"], true),
    ("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], &["all"], true),
    ("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], &["all"], true),
    ("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], &["all"], true),
    ("batch", "v1", "jobs", "job", "Job", true, &[], &["all"], true),
    ("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"], &["all"], true),
    ("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, &[], &[], false),
    ("events.k8s.io", "v1", "events", "event", "Event", true, &["ev"], &[], false),
    ("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, &[], &[], false),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true, &[], &[], false),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false, &[], &[], false),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false, &[], &[], false),
    ("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, &["pdb"], &[], true),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", false, &["crd", "crds"], &["api-extensions"], true),
];

impl Registry {
    /// The built-in catalog and no custom types.
    pub fn with_built_ins() -> Self {
        let resources = BUILT_INS
            .iter()
            .map(
                |&(
                    group,
                    version,
                    plural,
                    singular,
                    kind,
                    namespaced,
                    short,
                    categories,
                    status,
                )| {
                    let info = ResourceInfo {
                        group: group.to_string(),
                        plural: plural.to_string(),
                        singular: singular.to_string(),
                        kind: kind.to_string(),
                        list_kind: format!("{kind}List"),
                        namespaced,
                        short_names: strings(short),
                        categories: strings(categories),
                        versions: vec![VersionInfo {
                            name: version.to_string(),
                            storage: true,
                            schema: None,
                            printer_columns: Vec::new(),
                            status_subresource: status,
                            scale_subresource: None,
                        }],
                        custom: false,
                    };
                    (info.resource_type(), info)
                },
            )
            .collect();
        Self { resources }
    }

    pub fn get(&self, resource: &ResourceType) -> Option<&ResourceInfo> {
        self.resources.get(resource)
    }

    /// Every type, ordered by group then plural.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.resources.values()
    }

    /// The groups served, the core group (`""`) first, each once.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.resources.keys().map(|r| r.group.clone()).collect();
        groups.dedup();
        groups
    }

    /// Types served in `group` at `version`.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
        self.resources
            .values()
            .filter(move |info| info.group == group && info.version(version).is_some())
    }

    /// The schema of `resource` at `version`, if a CRD declared one.
    pub fn schema(&self, resource: &ResourceType, version: &str) -> Option<&Value> {
        self.get(resource)?.version(version)?.schema.as_ref()
    }

    pub fn has_status_subresource(&self, resource: &ResourceType) -> bool {
        self.get(resource)
            .is_some_and(|info| info.versions.iter().any(|v| v.status_subresource))
    }

    /// Registers (or re-registers, after an update) the type a stored CRD object declares.
    /// A CRD that does not describe a type (no group, plural or kind) is ignored: a real
    /// server's validation would have refused it.
    pub fn register_crd(&mut self, crd: &Value) -> Option<ResourceType> {
        let info = from_crd(crd)?;
        let resource = info.resource_type();
        self.resources.insert(resource.clone(), info);
        Some(resource)
    }

    /// Forgets the type a deleted CRD declared (never a built-in one).
    pub fn unregister_crd(&mut self, crd: &Value) {
        if let Some(info) = from_crd(crd) {
            let resource = info.resource_type();
            if self
                .resources
                .get(&resource)
                .is_some_and(|known| known.custom)
            {
                self.resources.remove(&resource);
            }
        }
    }

    /// Finds a type by plural, singular, kind or short name (case-insensitive), as kubectl
    /// resolves what a user typed.
    pub fn find(&self, name: &str) -> Option<&ResourceInfo> {
        let name = name.to_ascii_lowercase();
        self.resources.values().find(|info| {
            info.plural == name
                || info.singular == name
                || info.kind.to_ascii_lowercase() == name
                || info.short_names.contains(&name)
        })
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn from_crd(crd: &Value) -> Option<ResourceInfo> {
    let group = text(crd, "/spec/group")?;
    let plural = text(crd, "/spec/names/plural")?;
    let kind = text(crd, "/spec/names/kind")?;
    let singular = text(crd, "/spec/names/singular").unwrap_or_else(|| kind.to_ascii_lowercase());
    let list_kind = text(crd, "/spec/names/listKind").unwrap_or_else(|| format!("{kind}List"));
    let mut versions: Vec<VersionInfo> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(version_from_crd)
        .collect();
    if versions.is_empty() {
        return None;
    }
    // The storage version first: it is the preferred one in discovery.
    versions.sort_by_key(|v| !v.storage);
    Some(ResourceInfo {
        group,
        plural,
        singular,
        kind,
        list_kind,
        namespaced: text(crd, "/spec/scope").as_deref() != Some("Cluster"),
        short_names: strings_at(crd, "/spec/names/shortNames"),
        categories: strings_at(crd, "/spec/names/categories"),
        versions,
        custom: true,
    })
}

fn version_from_crd(version: &Value) -> Option<VersionInfo> {
    let printer_columns = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|column| {
            Some(PrinterColumn {
                name: text(column, "/name")?,
                type_: text(column, "/type").unwrap_or_else(|| "string".into()),
                format: text(column, "/format").unwrap_or_default(),
                description: text(column, "/description").unwrap_or_default(),
                priority: column.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: text(column, "/jsonPath")?,
            })
        })
        .collect();
    Some(VersionInfo {
        name: text(version, "/name")?,
        storage: version
            .get("storage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        schema: version.pointer("/schema/openAPIV3Schema").cloned(),
        printer_columns,
        status_subresource: version.pointer("/subresources/status").is_some(),
        scale_subresource: version.pointer("/subresources/scale").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.test"},
            "spec": {
                "group": "example.test",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                          "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {}}},
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [
                        {"name": "Ready", "type": "string",
                         "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                         "priority": 1}
                     ]},
                    {"name": "v0", "served": false, "storage": false}
                ]
            }
        })
    }

    #[test]
    fn a_crd_registers_its_served_versions_storage_first() {
        let mut registry = Registry::with_built_ins();
        let resource = registry.register_crd(&widget_crd()).unwrap();
        let info = registry.get(&resource).unwrap();
        assert_eq!(info.kind, "Widget");
        assert_eq!(info.list_kind, "WidgetList");
        assert!(info.namespaced && info.custom);
        let names: Vec<&str> = info.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["v1", "v1beta1"]);
        assert_eq!(info.preferred_api_version(), "example.test/v1");
        assert!(registry.has_status_subresource(&resource));
        let columns = &info.version("v1").unwrap().printer_columns;
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[1].priority, 1);
        assert_eq!(registry.find("wd").unwrap().plural, "widgets");
        assert_eq!(registry.find("Widget").unwrap().plural, "widgets");
        assert!(registry.schema(&resource, "v1").is_some());
        assert!(registry.schema(&resource, "v0").is_none());
    }

    #[test]
    fn deleting_a_crd_forgets_only_custom_types() {
        let mut registry = Registry::with_built_ins();
        registry.register_crd(&widget_crd());
        registry.unregister_crd(&widget_crd());
        assert!(registry.find("widgets").is_none());
        let fake_builtin = json!({"spec": {"group": "", "names": {"plural": "secrets", "kind": "Secret"},
                                  "versions": [{"name": "v1", "served": true, "storage": true}]}});
        // No group: not a CRD at all, ignored either way.
        registry.unregister_crd(&fake_builtin);
        assert!(registry.find("secrets").is_some());
    }

    #[test]
    fn built_ins_group_core_first() {
        let registry = Registry::with_built_ins();
        let groups = registry.groups();
        assert_eq!(groups[0], "");
        assert!(groups.contains(&"apps".to_string()));
        assert!(!registry.find("ns").unwrap().namespaced);
        assert_eq!(registry.in_group_version("", "v1").count(), 7);
    }
}
