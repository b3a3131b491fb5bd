//! OpenAPI v3, as `kubectl apply` (which checks that PATCH takes `fieldValidation`, then
//! validates on the server), `kubectl explain` and client-side apply's patch computation read it.
//!
//! `GET /openapi/v3` lists one document per served group-version, each at a URL carrying the
//! SHA-512 of its content (clients cache by it, so it changes whenever the document does);
//! `GET /openapi/v3/api/v1` and `/openapi/v3/apis/{group}/{version}` serve them (the `hash`
//! query is not checked). A document has the paths and operations of every type served in that
//! group-version, and the component schemas they refer to:
//!
//! - a CRD's type: its `openAPIV3Schema` as stored, plus `apiVersion`, `kind` and `metadata`
//!   (a reference to ObjectMeta) and the group-version-kind extension, as the real server
//!   publishes it; its list type is built alongside;
//! - a built-in type: the schema k8s-openapi carries (through schemars), with the strategic
//!   merge and list extensions (`x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`,
//!   `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`) a real server adds, from
//!   [`crate::patch_meta`], the table the server's own strategic merge reads;
//! - the `meta/v1` types operations and objects refer to (ObjectMeta, ListMeta, Status,
//!   DeleteOptions, ...): written out here with the structure the real server gives them and
//!   shorter descriptions of our own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{Response, StatusCode};
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::discovery::{
    GIT_VERSION, bytes_response, json_response, served_group_versions, subresources,
};
use crate::error::ApiError;
use crate::patch_meta::PATCH_META;
use crate::registry::{Registry, ResourceInfo, VersionInfo};
use crate::service::ResponseBody;

const REF_PREFIX: &str = "#/components/schemas/";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Answers `/openapi/v3` (`rest` empty) and `/openapi/v3/{rest...}`.
pub(crate) fn answer(registry: &Registry, rest: &[&str]) -> Response<ResponseBody> {
    let found = match rest {
        [] => Some(Bytes::from(index(registry).to_string())),
        ["api", "v1"] => rendered(registry, "", "v1").map(|r| r.body.clone()),
        ["apis", group, version] => rendered(registry, group, version).map(|r| r.body.clone()),
        _ => None,
    };
    match found {
        Some(body) => bytes_response(StatusCode::OK, "application/json", body),
        None => {
            let error = ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource (/openapi/v3/{})",
                    rest.join("/")
                ),
            );
            json_response(
                StatusCode::NOT_FOUND,
                "application/json",
                &error.to_status(),
            )
        }
    }
}

/// `GET /openapi/v2`: an empty Swagger 2.0 document (no paths, no definitions), in protobuf when
/// asked for (client-go decodes nothing else) or JSON. kubectl 1.32 reads v3; it asks for v2
/// only to look for strategic merge on a type whose v3 PATCH does not take it (a CRD's), and
/// falls back to its own knowledge when v2 names nothing, as it does here.
pub(crate) fn v2(accept: Option<&str>) -> Response<ResponseBody> {
    const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let title = "memory-apiserver (described in /openapi/v3)";
    let protobuf_first = accept
        .unwrap_or_default()
        .split(',')
        .next()
        .is_some_and(|first| {
            first
                .trim()
                .starts_with("application/com.github.proto-openapi.spec.v2")
        });
    if !protobuf_first {
        let body = json!({
            "swagger": "2.0",
            "info": {"title": title, "version": GIT_VERSION},
            "paths": {},
            "definitions": {},
        });
        return json_response(StatusCode::OK, "application/json", &body);
    }
    // openapi.v2.Document: swagger = 1, info = 2 (Info: title = 1, version = 2), paths = 8,
    // definitions = 9; every field length-delimited.
    let mut info = Vec::new();
    protobuf_field(&mut info, 1, title.as_bytes());
    protobuf_field(&mut info, 2, GIT_VERSION.as_bytes());
    let mut document = Vec::new();
    protobuf_field(&mut document, 1, b"2.0");
    protobuf_field(&mut document, 2, &info);
    protobuf_field(&mut document, 8, &[]);
    protobuf_field(&mut document, 9, &[]);
    bytes_response(StatusCode::OK, PROTOBUF, Bytes::from(document))
}

/// Appends a length-delimited protobuf field.
fn protobuf_field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    let mut varint = |mut value: u64| {
        while value >= 0x80 {
            out.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    };
    varint((number << 3) | 2);
    varint(bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `GET /openapi/v3`: every group-version's document path with the hash of its content.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in served_group_versions(registry) {
        let Some(rendered) = rendered(registry, &group, &version) else {
            continue;
        };
        let path = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let url = format!("/openapi/v3/{path}?hash={}", rendered.hash);
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// A document as served, and the SHA-512 of those bytes in upper-case hex (as the real server
/// writes it).
struct Rendered {
    body: Bytes,
    hash: String,
}

/// The document of a group-version, serialized. Those with built-in types only never change,
/// and the biggest (core/v1, with Pod) takes a while to build, so they are kept once built.
fn rendered(registry: &Registry, group: &str, version: &str) -> Option<Arc<Rendered>> {
    type Cache = Mutex<HashMap<(String, String), Arc<Rendered>>>;
    static BUILT_IN_ONLY: OnceLock<Cache> = OnceLock::new();
    let fixed = registry
        .in_group_version(group, version)
        .all(|info| !info.custom);
    let key = (group.to_string(), version.to_string());
    let cache = BUILT_IN_ONLY.get_or_init(Cache::default);
    if fixed && let Some(found) = lock_cache(cache).get(&key) {
        return Some(Arc::clone(found));
    }
    let body = document(registry, group, version)?.to_string();
    let digest = ring::digest::digest(&ring::digest::SHA512, body.as_bytes());
    let hash = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    let rendered = Arc::new(Rendered {
        body: Bytes::from(body),
        hash,
    });
    if fixed {
        lock_cache(cache).insert(key, Arc::clone(&rendered));
    }
    Some(rendered)
}

fn lock_cache<T>(cache: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The OpenAPI v3 document of one group-version, or `None` when nothing is served there.
pub fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<(&ResourceInfo, &VersionInfo)> = registry
        .in_group_version(group, version)
        .filter_map(|info| Some((info, info.version(version)?)))
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = BTreeMap::new();
    for &(info, served) in &types {
        let names = SchemaNames::of(info, served);
        if info.custom {
            schemas.insert(names.object.clone(), custom_schema(info, served));
        } else if let Some(schema) = built_in_schemas().get(&names.object) {
            schemas.insert(names.object.clone(), schema.clone());
        } else {
            // A catalog entry without a schema here: an object that takes anything.
            schemas.insert(
                names.object.clone(),
                object_schema(info, served, json!({"type": "object"})),
            );
        }
        schemas.insert(names.list.clone(), list_schema(info, served, &names));
        add_paths(&mut paths, info, served, &names);
    }
    let from_paths = references(&Value::Object(paths.clone()));
    add_referenced(&mut schemas, from_paths);
    let custom_only = types.iter().all(|(info, _)| info.custom);
    let info = if custom_only {
        json!({"title": "Kubernetes CRD Swagger", "version": "v0.1.0"})
    } else {
        json!({"title": "Kubernetes", "version": GIT_VERSION})
    };
    Some(json!({
        "openapi": "3.0.0",
        "info": info,
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The component names of a type and of its list.
struct SchemaNames {
    object: String,
    list: String,
}

impl SchemaNames {
    fn of(info: &ResourceInfo, served: &VersionInfo) -> Self {
        let object = if info.custom {
            // `aura.neo4j.io` + `v1alpha1` + `AuraInstance` -> `io.neo4j.aura.v1alpha1.AuraInstance`
            let reversed: Vec<&str> = info.group.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), served.name, info.kind)
        } else {
            built_in_schema_name(&info.group, &info.plural).unwrap_or_else(|| {
                let group = if info.group.is_empty() {
                    "core"
                } else {
                    info.group.split('.').next().unwrap_or_default()
                };
                format!("io.k8s.api.{group}.{}.{}", served.name, info.kind)
            })
        };
        let list = match object.rsplit_once('.') {
            Some((prefix, _)) => format!("{prefix}.{}", info.list_kind),
            None => info.list_kind.clone(),
        };
        Self { object, list }
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

/// `{"allOf": [{"$ref": ...}]}` with a description: how the real server refers to a named type
/// from a property.
fn described_ref(name: &str, description: &str) -> Value {
    json!({"description": description, "allOf": [schema_ref(name)]})
}

/// The properties every object has, as the real server adds them to a CRD's schema.
fn object_schema(info: &ResourceInfo, served: &VersionInfo, mut schema: Value) -> Value {
    if !schema.is_object() {
        schema = json!({"type": "object"});
    }
    let object = schema.as_object_mut().expect("an object schema");
    let properties = object
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(properties) = properties {
        properties.insert(
            "apiVersion".into(),
            json!({"description": "The versioned schema this object is written in (group/version).", "type": "string"}),
        );
        properties.insert(
            "kind".into(),
            json!({"description": "The REST resource this object represents, in CamelCase.", "type": "string"}),
        );
        properties.insert(
            "metadata".into(),
            described_ref(
                &format!("{META}.ObjectMeta"),
                "Standard object metadata: name, namespace, labels, annotations, owners and the fields the server maintains.",
            ),
        );
    }
    object.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": info.group, "kind": info.kind, "version": served.name}]),
    );
    object.insert("x-kubernetes-selectable-fields".into(), json!([]));
    schema
}

/// A CRD's schema for one version, published as the real server publishes it.
fn custom_schema(info: &ResourceInfo, served: &VersionInfo) -> Value {
    let schema = served
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    object_schema(info, served, go_numbers(schema))
}

/// Numbers as Go writes them: the real server holds schema numbers (maximum, minimum, ...) as
/// float64 and writes a whole one without a fraction (`15.0` is published as `15`).
fn go_numbers(value: Value) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => json!(float as i64),
            _ => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(go_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, go_numbers(value)))
                .collect(),
        ),
        other => other,
    }
}

fn list_schema(info: &ResourceInfo, served: &VersionInfo, names: &SchemaNames) -> Value {
    json!({
        "description": format!("{} is a list of {}", info.list_kind, info.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": "The versioned schema this list is written in (group/version).", "type": "string"},
            "items": {
                "description": format!("The {} in the list.", info.plural),
                "type": "array",
                "items": schema_ref(&names.object),
            },
            "kind": {"description": "The REST resource this list represents, in CamelCase.", "type": "string"},
            "metadata": described_ref(&format!("{META}.ListMeta"), "Standard list metadata: resourceVersion and continue token."),
        },
        "x-kubernetes-group-version-kind": [{"group": info.group, "kind": info.list_kind, "version": served.name}],
        "x-kubernetes-selectable-fields": [],
    })
}

/// Adds every schema the operations and the schemas present refer to (transitively), from the
/// meta types and the built-in catalog.
fn add_referenced(schemas: &mut BTreeMap<String, Value>, from_paths: Vec<String>) {
    let mut pending: Vec<String> = schemas.values().flat_map(references).collect();
    pending.extend(from_paths);
    let mut seen: BTreeSet<String> = schemas.keys().cloned().collect();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = built_in_schemas().get(&name) {
            pending.extend(references(schema));
            schemas.insert(name, schema.clone());
        }
    }
}

/// The component names a schema refers to.
fn references(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref")
                    && let Some(name) = target.strip_prefix(REF_PREFIX)
                {
                    found.push(name.to_string());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// The operations of one type (and its status and scale subresources), as the real server
/// lays them out: a path for all namespaces (namespaced types), the collection, the object and
/// each subresource.
fn add_paths(
    paths: &mut Map<String, Value>,
    info: &ResourceInfo,
    served: &VersionInfo,
    names: &SchemaNames,
) {
    let ops = Operations::new(info, served, names);
    let prefix = if info.group.is_empty() {
        format!("/api/{}", served.name)
    } else {
        format!("/apis/{}/{}", info.group, served.name)
    };
    let (collection, namespace_params) = if info.namespaced {
        paths.insert(
            format!("{prefix}/{}", info.plural),
            json!({
                "get": ops.list("ForAllNamespaces", false),
                "parameters": list_parameters(true),
            }),
        );
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural),
            vec![path_parameter("namespace", "The namespace of the objects.")],
        )
    } else {
        (format!("{prefix}/{}", info.plural), Vec::new())
    };
    let mut collection_params = namespace_params.clone();
    collection_params.push(pretty());
    paths.insert(
        collection.clone(),
        json!({
            "get": ops.list("", true),
            "post": ops.create(),
            "delete": ops.delete_collection(),
            "parameters": collection_params,
        }),
    );
    let mut item_params = vec![path_parameter(
        "name",
        &format!("The name of the {}.", info.kind),
    )];
    item_params.extend(namespace_params);
    item_params.push(pretty());
    let item = format!("{collection}/{{name}}");
    paths.insert(
        item.clone(),
        json!({
            "get": ops.read(&ops.object, ""),
            "put": ops.replace(&ops.object, ""),
            "delete": ops.delete(),
            "patch": ops.patch(&ops.object, ""),
            "parameters": item_params,
        }),
    );
    for sub in subresources(info, served) {
        let (schema, suffix, gvk) = match sub.name {
            "status" => (ops.object.clone(), "Status", ops.gvk.clone()),
            "scale" => (
                SCALE.to_string(),
                "Scale",
                gvk(&sub.group, &sub.version, &sub.kind),
            ),
            _ => continue,
        };
        let ops = Operations { gvk, ..ops.clone() };
        paths.insert(
            format!("{item}/{}", sub.name),
            json!({
                "get": ops.read(&schema, suffix),
                "put": ops.replace(&schema, suffix),
                "patch": ops.patch(&schema, suffix),
                "parameters": item_params,
            }),
        );
    }
}

/// Builds the operations of one type; ids and tags follow the real server's scheme
/// (`listAuraNeo4jIoV1alpha1NamespacedAuraInstance`, tag `auraNeo4jIo_v1alpha1`).
#[derive(Clone)]
struct Operations {
    /// `AuraNeo4jIoV1alpha1`, `CoreV1`, `AppsV1`.
    id_prefix: String,
    /// `Namespaced` or nothing.
    scope: &'static str,
    kind: String,
    tag: String,
    gvk: Value,
    object: String,
    list: String,
    custom: bool,
}

impl Operations {
    fn new(info: &ResourceInfo, served: &VersionInfo, names: &SchemaNames) -> Self {
        let group_words: Vec<String> = if info.group.is_empty() {
            vec!["core".into()]
        } else {
            let group = if info.custom {
                info.group.as_str()
            } else {
                info.group.strip_suffix(".k8s.io").unwrap_or(&info.group)
            };
            group
                .split(['.', '-'])
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let id_prefix = format!(
            "{}{}",
            group_words
                .iter()
                .map(|w| capitalize(w))
                .collect::<String>(),
            capitalize(&served.name)
        );
        let tag_group: String = group_words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.clone() } else { capitalize(w) })
            .collect();
        Self {
            id_prefix,
            scope: if info.namespaced { "Namespaced" } else { "" },
            kind: info.kind.clone(),
            tag: format!("{tag_group}_{}", served.name),
            gvk: gvk(&info.group, &served.name, &info.kind),
            object: names.object.clone(),
            list: names.list.clone(),
            custom: info.custom,
        }
    }

    fn operation(
        &self,
        action: &str,
        id: String,
        description: String,
        parameters: Vec<Value>,
        request: Option<Value>,
        responses: Value,
    ) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("description".into(), json!(description));
        op.insert("operationId".into(), json!(id));
        if !parameters.is_empty() {
            op.insert("parameters".into(), json!(parameters));
        }
        if let Some(request) = request {
            op.insert("requestBody".into(), request);
        }
        op.insert("responses".into(), responses);
        op.insert("x-kubernetes-action".into(), json!(action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk.clone());
        Value::Object(op)
    }

    /// The media types objects are sent in: CRDs name JSON and YAML, built-ins take anything.
    fn request_body(&self, schema: &str, required: bool) -> Value {
        let content = if self.custom {
            content(schema, &["application/json", "application/yaml"])
        } else {
            content(schema, &["*/*"])
        };
        let mut body = json!({"content": content});
        if required {
            body["required"] = json!(true);
        }
        body
    }

    fn list(&self, all_namespaces: &str, with_parameters: bool) -> Value {
        let scope = if all_namespaces.is_empty() {
            self.scope
        } else {
            ""
        };
        self.operation(
            "list",
            format!("list{}{scope}{}{all_namespaces}", self.id_prefix, self.kind),
            format!("list or watch {} objects", self.kind),
            if with_parameters {
                list_parameters(false)
            } else {
                Vec::new()
            },
            None,
            responses(&[("200", "OK", Some(self.list.as_str()))]),
        )
    }

    fn create(&self) -> Value {
        self.operation(
            "post",
            format!("create{}{}{}", self.id_prefix, self.scope, self.kind),
            format!("create a {}", self.kind),
            write_parameters(false),
            Some(self.request_body(&self.object, true)),
            responses(&[
                ("200", "OK", Some(self.object.as_str())),
                ("201", "Created", Some(self.object.as_str())),
                ("202", "Accepted", Some(self.object.as_str())),
            ]),
        )
    }

    fn delete_collection(&self) -> Value {
        self.operation(
            "deletecollection",
            format!(
                "delete{}Collection{}{}",
                self.id_prefix, self.scope, self.kind
            ),
            format!("delete every {} the selectors match", self.kind),
            list_parameters(false),
            None,
            responses(&[("200", "OK", Some(format!("{META}.Status").as_str()))]),
        )
    }

    fn read(&self, schema: &str, suffix: &str) -> Value {
        self.operation(
            "get",
            format!("read{}{}{}{suffix}", self.id_prefix, self.scope, self.kind),
            format!("read one {}{}", self.kind, of_suffix(suffix)),
            vec![query_parameter(
                "resourceVersion",
                "string",
                "Which version of the object may be served (unset: the latest).",
            )],
            None,
            responses(&[("200", "OK", Some(schema))]),
        )
    }

    fn replace(&self, schema: &str, suffix: &str) -> Value {
        self.operation(
            "put",
            format!(
                "replace{}{}{}{suffix}",
                self.id_prefix, self.scope, self.kind
            ),
            format!("replace one {}{}", self.kind, of_suffix(suffix)),
            write_parameters(false),
            Some(self.request_body(schema, true)),
            responses(&[
                ("200", "OK", Some(schema)),
                ("201", "Created", Some(schema)),
            ]),
        )
    }

    fn delete(&self) -> Value {
        let status = format!("{META}.Status");
        self.operation(
            "delete",
            format!("delete{}{}{}", self.id_prefix, self.scope, self.kind),
            format!("delete one {}", self.kind),
            vec![
                dry_run(),
                query_parameter(
                    "gracePeriodSeconds",
                    "integer",
                    "Seconds before the object is deleted (0: at once).",
                ),
                query_parameter(
                    "ignoreStoreReadErrorWithClusterBreakingPotential",
                    "boolean",
                    "Delete an object that cannot be read from storage (dangerous).",
                ),
                query_parameter(
                    "orphanDependents",
                    "boolean",
                    "Deprecated: use propagationPolicy. Whether dependents are orphaned.",
                ),
                query_parameter(
                    "propagationPolicy",
                    "string",
                    "What happens to dependents: Orphan, Background or Foreground.",
                ),
            ],
            Some(self.request_body(&format!("{META}.DeleteOptions"), false)),
            responses(&[
                ("200", "OK", Some(status.as_str())),
                ("202", "Accepted", Some(status.as_str())),
            ]),
        )
    }

    fn patch(&self, schema: &str, suffix: &str) -> Value {
        let mut kinds = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        if !self.custom {
            kinds.push("application/strategic-merge-patch+json");
        }
        self.operation(
            "patch",
            format!("patch{}{}{}{suffix}", self.id_prefix, self.scope, self.kind),
            format!("partially update one {}{}", self.kind, of_suffix(suffix)),
            write_parameters(true),
            Some(json!({"content": content(&format!("{META}.Patch"), &kinds), "required": true})),
            responses(&[("200", "OK", Some(schema))]),
        )
    }
}

fn of_suffix(suffix: &str) -> String {
    if suffix.is_empty() {
        String::new()
    } else {
        format!(" ({})", suffix.to_ascii_lowercase())
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn content(schema: &str, media_types: &[&str]) -> Value {
    let entries: Map<String, Value> = media_types
        .iter()
        .map(|media| (media.to_string(), json!({"schema": schema_ref(schema)})))
        .collect();
    Value::Object(entries)
}

/// Responses by code, each with JSON and YAML bodies of `schema`, and the 401 every
/// operation lists.
fn responses(codes: &[(&str, &str, Option<&str>)]) -> Value {
    let mut all = Map::new();
    for (code, description, schema) in codes {
        let mut response = json!({"description": description});
        if let Some(schema) = schema {
            response["content"] = content(schema, &["application/json", "application/yaml"]);
        }
        all.insert(code.to_string(), response);
    }
    all.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(all)
}

fn query_parameter(name: &str, type_: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_, "uniqueItems": true},
    })
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn pretty() -> Value {
    query_parameter("pretty", "string", "'true' asks for indented output.")
}

fn dry_run() -> Value {
    query_parameter(
        "dryRun",
        "string",
        "`All` runs every stage of the request but stores nothing.",
    )
}

/// The parameters of list and watch calls (and of deletecollection), in name order; with
/// `pretty` too where the real server puts them on the path.
fn list_parameters(with_pretty: bool) -> Vec<Value> {
    let mut parameters = vec![
        query_parameter(
            "allowWatchBookmarks",
            "boolean",
            "Ask a watch for BOOKMARK events (the server may send none).",
        ),
        query_parameter(
            "continue",
            "string",
            "The token from a previous page's metadata.continue, to get the next page.",
        ),
        query_parameter(
            "fieldSelector",
            "string",
            "Only objects whose fields match (for example metadata.name=x).",
        ),
        query_parameter(
            "labelSelector",
            "string",
            "Only objects whose labels match (for example app=web,tier!=db).",
        ),
        query_parameter(
            "limit",
            "integer",
            "At most this many objects per page; a continue token says there are more.",
        ),
    ];
    if with_pretty {
        parameters.push(pretty());
    }
    parameters.extend([
        query_parameter(
            "resourceVersion",
            "string",
            "Which resourceVersion a list may be served from, or a watch starts after.",
        ),
        query_parameter(
            "resourceVersionMatch",
            "string",
            "How resourceVersion applies to a list: Exact or NotOlderThan.",
        ),
        query_parameter(
            "sendInitialEvents",
            "boolean",
            "With watch: start with the current objects, then a BOOKMARK marking their end.",
        ),
        query_parameter(
            "timeoutSeconds",
            "integer",
            "End the list or watch after this many seconds.",
        ),
        query_parameter(
            "watch",
            "boolean",
            "Stream changes (ADDED, MODIFIED, DELETED) instead of listing.",
        ),
    ]);
    parameters
}

/// The parameters of create, replace and (with `force`) patch. `fieldValidation` on PATCH is
/// what kubectl looks for to decide that the server validates fields itself.
fn write_parameters(patch: bool) -> Vec<Value> {
    let mut parameters = vec![
        dry_run(),
        query_parameter(
            "fieldManager",
            "string",
            if patch {
                "Who makes the change (at most 128 printable characters); required for apply patches."
            } else {
                "Who makes the change (at most 128 printable characters)."
            },
        ),
        query_parameter(
            "fieldValidation",
            "string",
            "What to do with unknown or duplicate fields: Ignore, Warn or Strict (fail the request).",
        ),
    ];
    if patch {
        parameters.push(query_parameter(
            "force",
            "boolean",
            "Apply patches only: take over fields other managers own.",
        ));
    }
    parameters
}

macro_rules! built_in_types {
    ($(($group:literal, $plural:literal, $ty:ty)),* $(,)?) => {
        /// The component name k8s-openapi gives a catalog type.
        fn built_in_schema_name(group: &str, plural: &str) -> Option<String> {
            match (group, plural) {
                $(($group, $plural) => Some(<$ty as JsonSchema>::schema_name().into_owned()),)*
                _ => None,
            }
        }

        fn generate_built_ins(generator: &mut SchemaGenerator) {
            $(generator.subschema_for::<$ty>();)*
        }
    };
}

built_in_types![
    ("", "configmaps", k8s_openapi::api::core::v1::ConfigMap),
    ("", "events", k8s_openapi::api::core::v1::Event),
    ("", "namespaces", k8s_openapi::api::core::v1::Namespace),
    ("", "pods", k8s_openapi::api::core::v1::Pod),
    ("", "secrets", k8s_openapi::api::core::v1::Secret),
    (
        "",
        "serviceaccounts",
        k8s_openapi::api::core::v1::ServiceAccount
    ),
    ("", "services", k8s_openapi::api::core::v1::Service),
    ("apps", "deployments", k8s_openapi::api::apps::v1::Deployment),
    ("apps", "replicasets", k8s_openapi::api::apps::v1::ReplicaSet),
    (
        "apps",
        "statefulsets",
        k8s_openapi::api::apps::v1::StatefulSet
    ),
    ("apps", "daemonsets", k8s_openapi::api::apps::v1::DaemonSet),
    ("batch", "jobs", k8s_openapi::api::batch::v1::Job),
    ("batch", "cronjobs", k8s_openapi::api::batch::v1::CronJob),
    (
        "coordination.k8s.io",
        "leases",
        k8s_openapi::api::coordination::v1::Lease
    ),
    (
        "events.k8s.io",
        "events",
        k8s_openapi::api::events::v1::Event
    ),
    (
        "rbac.authorization.k8s.io",
        "roles",
        k8s_openapi::api::rbac::v1::Role
    ),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        k8s_openapi::api::rbac::v1::RoleBinding
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterroles",
        k8s_openapi::api::rbac::v1::ClusterRole
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        k8s_openapi::api::rbac::v1::ClusterRoleBinding
    ),
    (
        "policy",
        "poddisruptionbudgets",
        k8s_openapi::api::policy::v1::PodDisruptionBudget
    ),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition
    ),
];

/// Every schema a built-in type or a CRD's type may refer to, computed once: k8s-openapi's
/// schemas of the catalog's types (with their group-version-kind, as kubectl looks a type up
/// by it) and of autoscaling/v1 Scale, with the meta types replaced by [`meta_schemas`].
fn built_in_schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut generator = SchemaSettings::openapi3().into_generator();
        generate_built_ins(&mut generator);
        generator.subschema_for::<k8s_openapi::api::autoscaling::v1::Scale>();
        let mut schemas = generator.take_definitions(true);
        let registry = Registry::with_built_ins();
        for info in registry.iter() {
            let Some(name) = built_in_schema_name(&info.group, &info.plural) else {
                continue;
            };
            let version = info.versions.first().map_or("v1", |v| v.name.as_str());
            if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
                schema.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": info.group, "kind": info.kind, "version": version}]),
                );
            }
        }
        if let Some(Value::Object(scale)) = schemas.get_mut(SCALE) {
            scale.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": "autoscaling", "kind": "Scale", "version": "v1"}]),
            );
        }
        for (name, schema) in meta_schemas() {
            schemas.insert(name, schema);
        }
        publish_patch_meta(&mut schemas);
        schemas
    })
}

/// Adds the strategic merge and list extensions of [`PATCH_META`] to the fields they describe,
/// as the real server publishes them: kubectl's client-side apply computes its patches from
/// these (a list without them is sent whole), while the strategic merge reads the same rows.
fn publish_patch_meta(schemas: &mut Map<String, Value>) {
    for row in PATCH_META {
        let Some(Value::Object(field)) = schemas
            .get_mut(row.schema)
            .and_then(|schema| schema.get_mut("properties"))
            .and_then(|properties| properties.get_mut(row.field))
        else {
            continue;
        };
        if let Some(strategy) = row.strategy {
            field.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
        if let Some(key) = row.merge_key {
            field.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        if let Some(list_type) = row.list_type {
            field.insert("x-kubernetes-list-type".into(), json!(list_type));
        }
        if !row.map_keys.is_empty() {
            field.insert("x-kubernetes-list-map-keys".into(), json!(row.map_keys));
        }
    }
}

/// The `meta/v1` types, with the structure the real server publishes (list types, defaults;
/// the merge keys come from [`PATCH_META`]) and descriptions of our own, shorter than the real
/// ones.
fn meta_schemas() -> Vec<(String, Value)> {
    let meta = |name: &str| format!("{META}.{name}");
    let item_ref = |name: &str| json!({"default": {}, "allOf": [schema_ref(&meta(name))]});
    let string = |description: &str| json!({"description": description, "type": "string"});
    let int64 = |description: &str| json!({"description": description, "type": "integer", "format": "int64"});
    let int32 = |description: &str| json!({"description": description, "type": "integer", "format": "int32"});
    let boolean = |description: &str| json!({"description": description, "type": "boolean"});
    let string_map = |description: &str| {
        json!({"description": description, "type": "object",
               "additionalProperties": {"type": "string", "default": ""}})
    };
    let delete_options_kinds: Vec<Value> = std::iter::once(("", "v1"))
        .chain([
            ("apps", "v1"),
            ("batch", "v1"),
            ("coordination.k8s.io", "v1"),
            ("events.k8s.io", "v1"),
            ("policy", "v1"),
            ("rbac.authorization.k8s.io", "v1"),
        ])
        .map(
            |(group, version)| json!({"group": group, "kind": "DeleteOptions", "version": version}),
        )
        .collect();
    vec![
        (
            meta("DeleteOptions"),
            json!({
                "description": "Options of a DELETE request.",
                "type": "object",
                "properties": {
                    "apiVersion": string("The versioned schema of this object."),
                    "dryRun": {"description": "`All`: run every stage but store nothing.", "type": "array",
                               "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"},
                    "gracePeriodSeconds": int64("Seconds before the object is deleted (0: at once)."),
                    "ignoreStoreReadErrorWithClusterBreakingPotential": boolean("Delete an object that cannot be read from storage (dangerous)."),
                    "kind": string("The REST resource this object represents."),
                    "orphanDependents": boolean("Deprecated: use propagationPolicy."),
                    "preconditions": described_ref(&meta("Preconditions"), "Conditions the object must meet to be deleted."),
                    "propagationPolicy": string("What happens to dependents: Orphan, Background or Foreground."),
                },
                "x-kubernetes-group-version-kind": delete_options_kinds,
            }),
        ),
        (
            meta("FieldsV1"),
            json!({"description": "A set of fields, in the JSON trie form managedFields use.", "type": "object"}),
        ),
        (
            meta("ListMeta"),
            json!({
                "description": "Metadata of a list.",
                "type": "object",
                "properties": {
                    "continue": string("Set when there are more objects: pass it as `continue` to get the next page."),
                    "remainingItemCount": int64("How many objects the next pages hold, when known."),
                    "resourceVersion": string("The resourceVersion the list was read at; a watch can start after it."),
                    "selfLink": string("Deprecated, never set."),
                },
            }),
        ),
        (
            meta("ManagedFieldsEntry"),
            json!({
                "description": "Which fields one manager set, and how.",
                "type": "object",
                "properties": {
                    "apiVersion": string("The version of the object the fields were set in."),
                    "fieldsType": string("The format of fieldsV1: always FieldsV1."),
                    "fieldsV1": described_ref(&meta("FieldsV1"), "The fields this manager owns."),
                    "manager": string("Who manages these fields."),
                    "operation": string("Apply or Update."),
                    "subresource": string("The subresource written, empty for the main resource."),
                    "time": described_ref(&meta("Time"), "When these fields last changed."),
                },
            }),
        ),
        (
            meta("ObjectMeta"),
            json!({
                "description": "Metadata every stored object has.",
                "type": "object",
                "properties": {
                    "annotations": string_map("Arbitrary non-identifying data, by key."),
                    "creationTimestamp": described_ref(&meta("Time"), "When the object was created (set by the server)."),
                    "deletionGracePeriodSeconds": int64("Seconds the object has to go once deletion started (set by the server)."),
                    "deletionTimestamp": described_ref(&meta("Time"), "When deletion was requested (set by the server)."),
                    "finalizers": {"description": "What must happen before the object may be removed.", "type": "array",
                                   "items": {"type": "string", "default": ""}},
                    "generateName": string("A prefix for a generated name, when name is empty."),
                    "generation": int64("A number the server bumps when the desired state changes."),
                    "labels": string_map("Identifying key/value pairs that selectors match."),
                    "managedFields": {"description": "Which managers set which fields.", "type": "array",
                                      "items": item_ref("ManagedFieldsEntry"), "x-kubernetes-list-type": "atomic"},
                    "name": string("The name, unique in its namespace and type."),
                    "namespace": string("The namespace; empty for cluster-scoped objects."),
                    "ownerReferences": {"description": "The objects this one depends on; it is collected when they are all gone.",
                                        "type": "array", "items": item_ref("OwnerReference")},
                    "resourceVersion": string("The version of this object, for optimistic concurrency and watches."),
                    "selfLink": string("Deprecated, never set."),
                    "uid": string("A unique id the server gives the object when it is created."),
                },
            }),
        ),
        (
            meta("OwnerReference"),
            json!({
                "description": "An object this one belongs to.",
                "type": "object",
                "required": ["apiVersion", "kind", "name", "uid"],
                "properties": {
                    "apiVersion": {"description": "The owner's apiVersion.", "type": "string", "default": ""},
                    "blockOwnerDeletion": boolean("Whether foreground deletion of the owner waits for this object."),
                    "controller": boolean("Whether the owner is this object's managing controller."),
                    "kind": {"description": "The owner's kind.", "type": "string", "default": ""},
                    "name": {"description": "The owner's name.", "type": "string", "default": ""},
                    "uid": {"description": "The owner's uid.", "type": "string", "default": ""},
                },
                "x-kubernetes-map-type": "atomic",
            }),
        ),
        (
            meta("Patch"),
            json!({"description": "A patch body, in the format the Content-Type names.", "type": "object"}),
        ),
        (
            meta("Preconditions"),
            json!({
                "description": "What the object must match for the request to proceed.",
                "type": "object",
                "properties": {
                    "resourceVersion": string("The resourceVersion the object must have."),
                    "uid": string("The uid the object must have."),
                },
            }),
        ),
        (
            meta("Status"),
            json!({
                "description": "The result of a request that returns no object (errors included).",
                "type": "object",
                "properties": {
                    "apiVersion": string("The versioned schema of this object."),
                    "code": int32("The HTTP status code."),
                    "details": {"description": "More about the failure, by reason.",
                                "allOf": [schema_ref(&meta("StatusDetails"))], "x-kubernetes-list-type": "atomic"},
                    "kind": string("Status."),
                    "message": string("What happened, for people."),
                    "metadata": {"description": "Standard list metadata.", "default": {},
                                 "allOf": [schema_ref(&meta("ListMeta"))]},
                    "reason": string("Why it failed, for programs (NotFound, AlreadyExists, Conflict, ...)."),
                    "status": string("Success or Failure."),
                },
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
            }),
        ),
        (
            meta("StatusCause"),
            json!({
                "description": "One cause of a failure.",
                "type": "object",
                "properties": {
                    "field": string("The field at fault, as a path (spec.replicas)."),
                    "message": string("What is wrong, for people."),
                    "reason": string("What is wrong, for programs."),
                },
            }),
        ),
        (
            meta("StatusDetails"),
            json!({
                "description": "The object a Status is about, and the causes of a failure.",
                "type": "object",
                "properties": {
                    "causes": {"description": "The causes, one per field at fault.", "type": "array",
                               "items": item_ref("StatusCause"), "x-kubernetes-list-type": "atomic"},
                    "group": string("The group of the object."),
                    "kind": string("The kind (or resource) of the object."),
                    "name": string("The name of the object."),
                    "retryAfterSeconds": int32("When to retry, in seconds."),
                    "uid": string("The uid of the object."),
                },
            }),
        ),
        (
            meta("Time"),
            json!({"description": "A time, in RFC 3339 form to the second.", "type": "string", "format": "date-time"}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_types_have_schemas_with_their_kind() {
        let schemas = built_in_schemas();
        let secret = &schemas["io.k8s.api.core.v1.Secret"];
        assert_eq!(
            secret["x-kubernetes-group-version-kind"][0]["kind"],
            "Secret"
        );
        assert!(secret["properties"]["data"].is_object());
        // Every reference resolves inside the same set.
        for schema in schemas.values() {
            for name in references(schema) {
                assert!(
                    schemas.contains_key(&name),
                    "{name} is referred to but missing"
                );
            }
        }
    }

    #[test]
    fn every_patch_meta_row_is_published_on_its_field() {
        let schemas = built_in_schemas();
        for row in PATCH_META {
            let field = &schemas[row.schema]["properties"][row.field];
            assert!(
                field.is_object(),
                "{}.{} has no schema",
                row.schema,
                row.field
            );
            assert_eq!(
                field
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str),
                row.merge_key,
                "{}.{}",
                row.schema,
                row.field
            );
            assert_eq!(
                field
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str),
                row.strategy,
                "{}.{}",
                row.schema,
                row.field
            );
        }
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        let finalizers = &schemas[&format!("{META}.ObjectMeta")]["properties"]["finalizers"];
        assert_eq!(finalizers["x-kubernetes-list-type"], "set");
    }

    #[test]
    fn core_document_has_patch_with_field_validation() {
        let registry = Registry::with_built_ins();
        let document = document(&registry, "", "v1").unwrap();
        let patch = &document["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchCoreV1Namespace");
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&"fieldValidation"));
        assert!(
            document["components"]["schemas"]["io.k8s.api.core.v1.Pod"].is_object(),
            "{:?}",
            document["components"]["schemas"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_index_hash_follows_the_content() {
        let mut registry = Registry::with_built_ins();
        let before = index(&registry);
        registry.register_crd(&json!({
            "spec": {"group": "apps", "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        }));
        let after = index(&registry);
        assert_ne!(
            before["paths"]["apis/apps/v1"],
            after["paths"]["apis/apps/v1"]
        );
        assert_eq!(before["paths"]["api/v1"], after["paths"]["api/v1"]);
    }
}
