//! The paths that name no resource: `/version`, the health checks, API discovery (`/api`, `/apis`
//! and below, in the legacy and the aggregated form) and OpenAPI v3 (see [`crate::openapi`]).
//!
//! kubectl reads these before anything else: discovery to map what a user typed (`aurai`,
//! `deploy`) to a resource, OpenAPI to validate and to explain. Everything advertised comes from
//! the [`Registry`]: the built-in catalog and the CRDs stored so far. Types stored without either
//! are still served at their URLs, but not advertised, as on a real server they would not exist.

use std::sync::Mutex;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo, VersionInfo, api_version};
use crate::service::{ResponseBody, lock};
use crate::store::Store;

/// The Kubernetes release whose API this server copies; `/version` reports it, marked as ours.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "32";
pub const GIT_VERSION: &str = "v1.32.0-memory";

/// The group, version and kind of aggregated discovery documents.
const DISCOVERY_GROUP: &str = "apidiscovery.k8s.io";
const DISCOVERY_LIST: &str = "APIGroupDiscoveryList";

/// The verbs a CustomResourceDefinition's type supports, in the order the real server lists them.
const CUSTOM_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];

/// Namespaces cannot be deleted as a collection.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

const SUBRESOURCE_VERBS: &[&str] = &["get", "patch", "update"];

/// Built-in types whose `scale` subresource discovery lists, as a real cluster does.
const SCALABLE_BUILT_INS: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
];

/// Answers a request for one of the paths this module owns, or `None` to let the resource
/// routes have it.
pub(crate) fn answer(store: &Mutex<Store>, parts: &Parts) -> Option<Response<ResponseBody>> {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return None;
    }
    let path = parts.uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Some(json_response(
            StatusCode::OK,
            "application/json",
            &version_info(),
        )),
        ["healthz" | "readyz" | "livez", ..] => Some(text_response(StatusCode::OK, "ok")),
        ["openapi", "v2"] => Some(crate::openapi::v2(
            parts
                .headers
                .get(header::ACCEPT)
                .and_then(|value| value.to_str().ok()),
        )),
        ["openapi", "v3", rest @ ..] => {
            let registry = lock(store).registry.clone();
            Some(crate::openapi::answer(&registry, rest))
        }
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] => {
            let registry = lock(store).registry.clone();
            let accept = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|value| value.to_str().ok());
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()));
            discovery(&registry, &segments, negotiate(accept), host)
        }
        _ => None,
    }
}

/// `GET /version`: a v1.32 `version.Info` whose gitVersion says which server this is.
pub fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": platform(),
    })
}

/// `os/arch` as Go names them (`linux/amd64`).
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// Which discovery document a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// APIVersions, APIGroupList, APIGroup, APIResourceList.
    Legacy,
    /// APIGroupDiscoveryList at this version of `apidiscovery.k8s.io` (`v2` or `v2beta1`).
    Aggregated(&'static str),
}

/// Picks the first entry of `Accept` this server can produce: aggregated discovery when a
/// `g=apidiscovery.k8s.io;v=v2|v2beta1;as=APIGroupDiscoveryList` JSON entry comes before any
/// plain JSON one, the legacy documents otherwise.
fn negotiate(accept: Option<&str>) -> Form {
    for entry in accept.unwrap_or_default().split(',') {
        let mut pieces = entry.split(';').map(str::trim);
        let media = pieces.next().unwrap_or_default().to_ascii_lowercase();
        let (mut group, mut version, mut as_kind) = (None, None, None);
        for piece in pieces {
            if let Some((key, value)) = piece.split_once('=') {
                let value = value.trim().trim_matches('"');
                match key.trim() {
                    "g" => group = Some(value),
                    "v" => version = Some(value),
                    "as" => as_kind = Some(value),
                    _ => {}
                }
            }
        }
        if media != "application/json" && media != "*/*" && media != "application/*" {
            continue;
        }
        match (group, version, as_kind) {
            (Some(DISCOVERY_GROUP), Some("v2"), Some(DISCOVERY_LIST)) => {
                return Form::Aggregated("v2");
            }
            (Some(DISCOVERY_GROUP), Some("v2beta1"), Some(DISCOVERY_LIST)) => {
                return Form::Aggregated("v2beta1");
            }
            (None, None, None) => return Form::Legacy,
            // Another kind or version (a Table, a future discovery version): not ours to give.
            _ => {}
        }
    }
    Form::Legacy
}

fn discovery(
    registry: &Registry,
    segments: &[&str],
    form: Form,
    host: Option<&str>,
) -> Option<Response<ResponseBody>> {
    let legacy = |body: Value| Some(json_response(StatusCode::OK, "application/json", &body));
    match (segments, form) {
        (["api"], Form::Aggregated(version)) => {
            let items: Vec<Value> = core_group(registry).into_iter().collect();
            Some(aggregated_response(version, items))
        }
        (["apis"], Form::Aggregated(version)) => {
            let items = served_groups(registry)
                .iter()
                .map(|group| group_discovery(registry, group))
                .collect();
            Some(aggregated_response(version, items))
        }
        (["api"], Form::Legacy) => legacy(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{
                "clientCIDR": "0.0.0.0/0",
                "serverAddress": host.unwrap_or("localhost"),
            }],
        })),
        (["apis"], Form::Legacy) => legacy(json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": served_groups(registry).iter().map(api_group).collect::<Vec<_>>(),
        })),
        // A group or version document has no aggregated form: both answer the legacy one.
        (["api", version], _) => {
            let resources = resource_list(registry, "", version)?;
            legacy(resources)
        }
        (["apis", group], _) => {
            let found = served_groups(registry)
                .into_iter()
                .find(|g| g.name == *group)?;
            let mut body = api_group(&found);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            legacy(body)
        }
        (["apis", group, version], _) => legacy(resource_list(registry, group, version)?),
        _ => None,
    }
}

/// A group as discovery lists it: its versions, the preferred one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServedGroup {
    pub name: String,
    pub versions: Vec<String>,
}

/// Every group but the core one: groups with built-in types first, then those only CRDs
/// declare (as a real server ranks them), each in name order.
pub(crate) fn served_groups(registry: &Registry) -> Vec<ServedGroup> {
    let mut groups: Vec<(bool, ServedGroup)> = Vec::new();
    for name in registry.groups() {
        if name.is_empty() {
            continue;
        }
        let members: Vec<&ResourceInfo> = registry.iter().filter(|r| r.group == name).collect();
        let custom_only = members.iter().all(|r| r.custom);
        let mut versions: Vec<String> = members
            .iter()
            .flat_map(|r| r.versions.iter().map(|v| v.name.clone()))
            .collect();
        versions.sort_by_key(|version| version_priority(version));
        versions.dedup();
        groups.push((custom_only, ServedGroup { name, versions }));
    }
    groups.sort_by(|(a_custom, a), (b_custom, b)| (a_custom, &a.name).cmp(&(b_custom, &b.name)));
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Every (group, version) served, the core group's `v1` first: what OpenAPI v3 documents.
pub(crate) fn served_group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut all = Vec::new();
    if registry.in_group_version("", "v1").next().is_some() {
        all.push((String::new(), "v1".to_string()));
    }
    for group in served_groups(registry) {
        for version in group.versions {
            all.push((group.name.clone(), version));
        }
    }
    all
}

/// Sorts Kubernetes versions as the real server does: GA before beta before alpha, higher
/// numbers first; versions that do not look like Kubernetes versions last, by name.
fn version_priority(version: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    use std::cmp::Reverse;
    let fallback = (3, Reverse(0), Reverse(0), version.to_string());
    let Some(rest) = version.strip_prefix('v') else {
        return fallback;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return fallback;
    };
    let tail = &rest[digits.len()..];
    let (rank, minor) = if tail.is_empty() {
        (0, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        match n.parse::<u64>() {
            Ok(n) => (1, n),
            Err(_) => return fallback,
        }
    } else if let Some(n) = tail.strip_prefix("alpha") {
        match n.parse::<u64>() {
            Ok(n) => (2, n),
            Err(_) => return fallback,
        }
    } else {
        return fallback;
    };
    (rank, Reverse(major), Reverse(minor), String::new())
}

fn api_group(group: &ServedGroup) -> Value {
    let entry = |version: &String| json!({"groupVersion": api_version(&group.name, version), "version": version});
    json!({
        "name": group.name,
        "versions": group.versions.iter().map(entry).collect::<Vec<_>>(),
        "preferredVersion": group.versions.first().map(entry).unwrap_or(Value::Null),
    })
}

/// What one served type answers besides itself: `(name, (group, version, kind), verbs)`.
pub(crate) struct SubresourceInfo {
    pub name: &'static str,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: &'static [&'static str],
}

/// The subresources of `info` at `version`: status and scale (as its CRD or the catalog
/// declares them), and a Namespace's `finalize`.
pub(crate) fn subresources(info: &ResourceInfo, version: &VersionInfo) -> Vec<SubresourceInfo> {
    let same_kind = |name, verbs| SubresourceInfo {
        name,
        group: info.group.clone(),
        version: version.name.clone(),
        kind: info.kind.clone(),
        verbs,
    };
    let mut subresources = Vec::new();
    if !info.custom && info.group.is_empty() && info.plural == "namespaces" {
        subresources.push(same_kind("finalize", &["update"][..]));
    }
    let scalable = version.scale_subresource.is_some()
        || (!info.custom
            && SCALABLE_BUILT_INS
                .iter()
                .any(|&(group, plural)| info.group == group && info.plural == plural));
    if scalable {
        subresources.push(SubresourceInfo {
            name: "scale",
            group: "autoscaling".into(),
            version: "v1".into(),
            kind: "Scale".into(),
            verbs: SUBRESOURCE_VERBS,
        });
    }
    if version.status_subresource {
        subresources.push(same_kind("status", SUBRESOURCE_VERBS));
    }
    subresources
}

/// The verbs of a type's main resource.
pub(crate) fn verbs(info: &ResourceInfo) -> &'static [&'static str] {
    if info.custom {
        CUSTOM_VERBS
    } else if info.group.is_empty() && info.plural == "namespaces" {
        NAMESPACE_VERBS
    } else {
        crate::registry::STANDARD_VERBS
    }
}

/// What a real server reports as `storageVersionHash`: the first 8 bytes of the SHA-256 of
/// `group/version/kind` of the storage version, base64. Clients only compare it for changes.
fn storage_version_hash(info: &ResourceInfo) -> String {
    use base64::Engine as _;
    let version = info
        .versions
        .iter()
        .find(|v| v.storage)
        .or(info.versions.first())
        .map_or("v1", |v| v.name.as_str());
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}/{version}/{}", info.group, info.kind).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(&digest.as_ref()[..8])
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`: an APIResourceList, or `None` when nothing is
/// served there.
fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for info in registry.in_group_version(group, version) {
        let Some(served) = info.version(version) else {
            continue;
        };
        let mut entry = Map::new();
        entry.insert("name".into(), json!(info.plural));
        entry.insert("singularName".into(), json!(info.singular));
        entry.insert("namespaced".into(), json!(info.namespaced));
        entry.insert("kind".into(), json!(info.kind));
        entry.insert("verbs".into(), json!(verbs(info)));
        if !info.short_names.is_empty() {
            entry.insert("shortNames".into(), json!(info.short_names));
        }
        if !info.categories.is_empty() {
            entry.insert("categories".into(), json!(info.categories));
        }
        entry.insert(
            "storageVersionHash".into(),
            json!(storage_version_hash(info)),
        );
        resources.push(Value::Object(entry));
        for sub in subresources(info, served) {
            let mut entry = Map::new();
            entry.insert(
                "name".into(),
                json!(format!("{}/{}", info.plural, sub.name)),
            );
            entry.insert("singularName".into(), json!(""));
            entry.insert("namespaced".into(), json!(info.namespaced));
            if sub.group != info.group || sub.version != version {
                entry.insert("group".into(), json!(sub.group));
                entry.insert("version".into(), json!(sub.version));
            }
            entry.insert("kind".into(), json!(sub.kind));
            entry.insert("verbs".into(), json!(sub.verbs));
            resources.push(Value::Object(entry));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(group, version),
        "resources": resources,
    }))
}

/// One resource of an aggregated discovery document.
fn discovered_resource(info: &ResourceInfo, version: &VersionInfo) -> Value {
    // The real server names the group and version of a CRD's kinds, and leaves them empty
    // ("the same as the resource's") for built-in kinds.
    let response_kind = |group: &str, sub_version: &str, kind: &str| {
        if !info.custom && group == info.group && sub_version == version.name {
            json!({"group": "", "version": "", "kind": kind})
        } else {
            json!({"group": group, "version": sub_version, "kind": kind})
        }
    };
    let mut entry = Map::new();
    entry.insert("resource".into(), json!(info.plural));
    entry.insert(
        "responseKind".into(),
        response_kind(&info.group, &version.name, &info.kind),
    );
    entry.insert(
        "scope".into(),
        json!(if info.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    entry.insert("singularResource".into(), json!(info.singular));
    entry.insert("verbs".into(), json!(verbs(info)));
    if !info.short_names.is_empty() {
        entry.insert("shortNames".into(), json!(info.short_names));
    }
    if !info.categories.is_empty() {
        entry.insert("categories".into(), json!(info.categories));
    }
    let subresources: Vec<Value> = subresources(info, version)
        .into_iter()
        .map(|sub| {
            json!({
                "subresource": sub.name,
                "responseKind": response_kind(&sub.group, &sub.version, &sub.kind),
                "verbs": sub.verbs,
            })
        })
        .collect();
    if !subresources.is_empty() {
        entry.insert("subresources".into(), json!(subresources));
    }
    Value::Object(entry)
}

fn discovered_version(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = registry
        .in_group_version(group, version)
        .filter_map(|info| Some(discovered_resource(info, info.version(version)?)))
        .collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn group_discovery(registry: &Registry, group: &ServedGroup) -> Value {
    json!({
        "metadata": {"name": group.name, "creationTimestamp": null},
        "versions": group.versions.iter()
            .map(|version| discovered_version(registry, &group.name, version))
            .collect::<Vec<_>>(),
    })
}

/// The core group as `GET /api` lists it in aggregated form (an entry without a name).
fn core_group(registry: &Registry) -> Option<Value> {
    registry.in_group_version("", "v1").next()?;
    Some(json!({
        "metadata": {"creationTimestamp": null},
        "versions": [discovered_version(registry, "", "v1")],
    }))
}

fn aggregated_response(version: &str, items: Vec<Value>) -> Response<ResponseBody> {
    let body = json!({
        "kind": DISCOVERY_LIST,
        "apiVersion": format!("{DISCOVERY_GROUP}/{version}"),
        "metadata": {},
        "items": items,
    });
    // client-go takes the document for aggregated discovery only if the Content-Type names it.
    let content_type =
        format!("application/json;g={DISCOVERY_GROUP};v={version};as={DISCOVERY_LIST}");
    json_response(StatusCode::OK, &content_type, &body)
}

pub(crate) fn json_response(
    status: StatusCode,
    content_type: &str,
    body: &Value,
) -> Response<ResponseBody> {
    bytes_response(status, content_type, Bytes::from(body.to_string()))
}

pub(crate) fn bytes_response(
    status: StatusCode,
    content_type: &str,
    body: Bytes,
) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(body).boxed_unsync());
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn text_response(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    bytes_response(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_first_form_served() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(kubectl)), Form::Aggregated("v2"));
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList, application/json";
        assert_eq!(negotiate(Some(beta)), Form::Aggregated("v2beta1"));
        assert_eq!(negotiate(Some("application/json, */*")), Form::Legacy);
        assert_eq!(negotiate(None), Form::Legacy);
        let unknown = "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(unknown)), Form::Legacy);
    }

    #[test]
    fn versions_sort_ga_then_beta_then_alpha() {
        let mut versions = vec![
            "v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1", "v2alpha1",
        ];
        versions.sort_by_key(|v| version_priority(v));
        assert_eq!(
            versions,
            [
                "v2", "v1", "v1beta2", "v1beta1", "v2alpha1", "v1alpha1", "foo"
            ]
        );
    }
}
