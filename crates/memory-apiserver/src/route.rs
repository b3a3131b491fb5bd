//! Turns a request path and query string into the resource it addresses. Nothing is registered in
//! advance: any `/api/v1/...` or `/apis/{group}/{version}/...` path names a resource collection.

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// What a path addresses: a collection (`name` is `None`), one object, or one object's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Route {
    pub fn parse(path: &str) -> ApiResult<Self> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => (String::new(), version.to_string(), rest),
            ["apis", group, version, rest @ ..] => (group.to_string(), version.to_string(), rest),
            _ => return Err(not_served(path)),
        };
        let route =
            |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| Route {
                group: group.clone(),
                version: version.clone(),
                plural: plural.to_string(),
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                subresource: sub.map(str::to_string),
            };
        // `namespaces/{x}` is the Namespace object itself; `namespaces/{x}/status` and
        // `namespaces/{x}/finalize` are its subresources; longer paths are namespaced resources.
        Ok(match rest {
            ["namespaces", name] => route(None, "namespaces", Some(name), None),
            ["namespaces", name, sub @ ("status" | "finalize")] => {
                route(None, "namespaces", Some(name), Some(sub))
            }
            ["namespaces", ns, plural] => route(Some(ns), plural, None, None),
            ["namespaces", ns, plural, name] => route(Some(ns), plural, Some(name), None),
            ["namespaces", ns, plural, name, sub] => route(Some(ns), plural, Some(name), Some(sub)),
            [plural] => route(None, plural, None, None),
            [plural, name] => route(None, plural, Some(name), None),
            [plural, name, sub] => route(None, plural, Some(name), Some(sub)),
            _ => return Err(not_served(path)),
        })
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn not_served(path: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("the server could not find the requested resource ({path})"),
    )
}

/// The query parameters a Kubernetes client sends, already decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .filter(|(key, _)| !key.is_empty())
            .map(|(key, value)| (key.into_owned(), value.into_owned()));
        Self(pairs.collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `watch=true` and `watch=1` both start a watch, as on the real server.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_custom_resource_status_is_parsed() {
        let route = Route::parse("/apis/example.test/v1/namespaces/ns1/widgets/w1/status").unwrap();
        assert_eq!(route.group, "example.test");
        assert_eq!(route.api_version(), "example.test/v1");
        assert_eq!(route.namespace.as_deref(), Some("ns1"));
        assert_eq!(route.plural, "widgets");
        assert_eq!(route.name.as_deref(), Some("w1"));
        assert_eq!(route.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn namespace_objects_are_cluster_scoped() {
        let route = Route::parse("/api/v1/namespaces/team-a").unwrap();
        assert_eq!(route.plural, "namespaces");
        assert_eq!(route.namespace, None);
        assert_eq!(route.name.as_deref(), Some("team-a"));
        let list = Route::parse("/api/v1/namespaces/team-a/configmaps").unwrap();
        assert_eq!(list.plural, "configmaps");
        assert_eq!(list.namespace.as_deref(), Some("team-a"));
        assert_eq!(list.name, None);
    }

    #[test]
    fn all_namespace_collections_and_unknown_paths() {
        let route = Route::parse("/apis/coordination.k8s.io/v1/leases").unwrap();
        assert_eq!(route.namespace, None);
        assert_eq!(route.plural, "leases");
        assert_eq!(Route::parse("/healthz").unwrap_err().code, 404);
    }

    #[test]
    fn query_flags_accept_true_and_one() {
        let query = Query::parse(Some("&watch=1&labelSelector=app%3Dweb&resourceVersion="));
        assert!(query.flag("watch"));
        assert_eq!(query.get("labelSelector"), Some("app=web"));
        assert_eq!(query.get("resourceVersion"), None);
    }
}
