//! Server-side printing: the `meta.k8s.io` Table that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`, for lists, single objects and
//! watch events.
//!
//! Columns are the ones a real server prints: for a custom resource, `Name` then its CRD's
//! `additionalPrinterColumns` (or `Age` when it declares none), cells evaluated from the columns'
//! JSONPaths, `date` cells as ages ("5m"); for the built-in types kubectl users look at most
//! (namespaces, secrets, configmaps, events, deployments, leases, serviceaccounts) the printers'
//! columns; for any other type `Name` and `Created At` (an RFC 3339 time, which kubectl shows
//! as it is). Every column comes with its priority; kubectl hides priority > 0 unless `-o wide`.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::jsonpath::JsonPath;
use crate::registry::{PrinterColumn, Registry};
use crate::store::ResourceType;

/// What the server knows as the description of `metadata.name` (the real server's own text,
/// which the Name column carries).
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str =
    "When the object was created (metadata.creationTimestamp), shown as the time since then.";
const CREATED_AT_DESCRIPTION: &str = "When the object was created (metadata.creationTimestamp).";

/// The representation a request asked for with its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The objects themselves (`application/json`).
    Full,
    /// `PartialObjectMetadata(List)`.
    Metadata,
    Table(TableFormat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFormat {
    /// `v1` or `v1beta1` of `meta.k8s.io`.
    pub version: &'static str,
    pub include: Include,
}

/// `includeObject`: what each row's `object` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Output {
    /// Picks the first representation in `accept` that the server can produce, as the real
    /// server does; an Accept header naming none (or no header) gets plain JSON.
    pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> ApiResult<Self> {
        for media in accept.unwrap_or_default().split(',') {
            let mut parts = media.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default();
            if !matches!(mime, "application/json" | "application/*" | "*/*") {
                continue;
            }
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k.trim() == name)
                    .map(|(_, v)| v.trim())
            };
            let meta_group = param("g").is_none_or(|g| g == "meta.k8s.io");
            let version = match param("v") {
                Some("v1") | None => "v1",
                Some("v1beta1") => "v1beta1",
                Some(_) => continue,
            };
            match param("as") {
                None => return Ok(Self::Full),
                Some("Table") if meta_group => {
                    let include = match include_object {
                        None | Some("Metadata") => Include::Metadata,
                        Some("Object") => Include::Object,
                        Some("None") => Include::None,
                        Some(other) => {
                            return Err(ApiError::bad_request(format!(
                                "unrecognized includeObject value: \"{other}\""
                            )));
                        }
                    };
                    return Ok(Self::Table(TableFormat { version, include }));
                }
                Some("PartialObjectMetadata" | "PartialObjectMetadataList") if meta_group => {
                    return Ok(Self::Metadata);
                }
                Some(_) => {}
            }
        }
        Ok(Self::Full)
    }
}

/// A column as the Table's `columnDefinitions` lists it.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i64,
}

impl Column {
    fn new(name: &str, type_: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: description.into(),
            priority: 0,
        }
    }

    fn name_column() -> Self {
        Self {
            format: "name".into(),
            ..Self::new("Name", "string", NAME_DESCRIPTION)
        }
    }

    fn age() -> Self {
        Self::new("Age", "string", AGE_DESCRIPTION)
    }

    fn wide(self) -> Self {
        Self {
            priority: 1,
            ..self
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The built-in types with printers of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuiltIn {
    Namespaces,
    Secrets,
    ConfigMaps,
    Events,
    Deployments,
    Leases,
    ServiceAccounts,
}

#[derive(Debug, Clone)]
enum Cells {
    /// `additionalPrinterColumns` (the Name column first, then these).
    Custom(Vec<(Option<JsonPath>, String)>),
    BuiltIn(BuiltIn),
    /// Name, Created At.
    Default,
}

/// How one resource type prints: its columns and how to fill a row.
#[derive(Debug, Clone)]
pub struct Printer {
    columns: Vec<Column>,
    cells: Cells,
}

impl Printer {
    /// The printer for `resource` as served at `version`.
    pub fn for_resource(registry: &Registry, resource: &ResourceType, version: &str) -> Self {
        if let Some(info) = registry.get(resource).filter(|info| info.custom) {
            let declared = info
                .version(version)
                .or_else(|| info.versions.first())
                .map(|v| v.printer_columns.clone())
                .unwrap_or_default();
            return Self::custom(&declared);
        }
        match built_in(resource) {
            Some(kind) => Self {
                columns: built_in_columns(kind),
                cells: Cells::BuiltIn(kind),
            },
            None => Self {
                columns: vec![
                    Column::name_column(),
                    Column::new("Created At", "date", CREATED_AT_DESCRIPTION),
                ],
                cells: Cells::Default,
            },
        }
    }

    fn custom(declared: &[PrinterColumn]) -> Self {
        let default_age;
        let declared = if declared.is_empty() {
            default_age = [PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                description: CREATED_AT_DESCRIPTION.into(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            }];
            &default_age[..]
        } else {
            declared
        };
        let mut columns = vec![Column::name_column()];
        columns.extend(declared.iter().map(|c| Column {
            name: c.name.clone(),
            type_: c.type_.clone(),
            format: c.format.clone(),
            description: if c.description.is_empty() {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    c.json_path
                )
            } else {
                c.description.clone()
            },
            priority: c.priority,
        }));
        let paths = declared
            .iter()
            .map(|c| (JsonPath::parse(&c.json_path).ok(), c.type_.clone()))
            .collect();
        Self {
            columns,
            cells: Cells::Custom(paths),
        }
    }

    /// A Table of `objects`. `resource_version` is the list's (or, for one object, the
    /// object's); `headers` false leaves `columnDefinitions` null, as in every watch event after
    /// the first.
    pub fn table(
        &self,
        objects: &[Value],
        format: TableFormat,
        resource_version: Option<&str>,
        headers: bool,
    ) -> Value {
        let mut metadata = Map::new();
        if let Some(rv) = resource_version {
            metadata.insert("resourceVersion".into(), json!(rv));
        }
        let columns = if headers {
            Value::Array(self.columns.iter().map(Column::to_json).collect())
        } else {
            Value::Null
        };
        let rows: Vec<Value> = objects
            .iter()
            .map(|object| {
                json!({
                    "cells": self.cells(object),
                    "object": row_object(object, format),
                })
            })
            .collect();
        json!({
            "kind": "Table",
            "apiVersion": format!("meta.k8s.io/{}", format.version),
            "metadata": metadata,
            "columnDefinitions": columns,
            "rows": rows,
        })
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        let name = json!(text(object, "/metadata/name"));
        match &self.cells {
            Cells::Custom(paths) => {
                let mut cells = vec![name];
                cells.extend(paths.iter().map(|(path, type_)| {
                    let found = path.as_ref().and_then(|p| p.find(object).first().copied());
                    custom_cell(type_, found)
                }));
                cells
            }
            Cells::Default => vec![name, json!(text(object, "/metadata/creationTimestamp"))],
            Cells::BuiltIn(kind) => built_in_cells(kind, object),
        }
    }
}

fn row_object(object: &Value, format: TableFormat) -> Value {
    match format.include {
        Include::None => Value::Null,
        Include::Object => object.clone(),
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": format!("meta.k8s.io/{}", format.version),
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// A custom column's cell: missing or null is null; `string` columns print any value (JSON
/// for lists and maps); the other types keep values of their type only; `date` becomes an age.
fn custom_cell(type_: &str, found: Option<&Value>) -> Value {
    let Some(value) = found.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match (type_, value) {
        ("string", Value::String(s)) => json!(s),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(|f| json!(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => json!(
            s.parse::<jiff::Timestamp>()
                .map_or_else(|_| "<invalid>".to_string(), human_duration_since)
        ),
        _ => Value::Null,
    }
}

fn built_in(resource: &ResourceType) -> Option<BuiltIn> {
    Some(match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "namespaces") => BuiltIn::Namespaces,
        ("", "secrets") => BuiltIn::Secrets,
        ("", "configmaps") => BuiltIn::ConfigMaps,
        ("" | "events.k8s.io", "events") => BuiltIn::Events,
        ("apps", "deployments") => BuiltIn::Deployments,
        ("coordination.k8s.io", "leases") => BuiltIn::Leases,
        ("", "serviceaccounts") => BuiltIn::ServiceAccounts,
        _ => return None,
    })
}

fn built_in_columns(kind: BuiltIn) -> Vec<Column> {
    let name = Column::name_column();
    match kind {
        BuiltIn::Namespaces => vec![
            name,
            Column::new("Status", "string", "The phase of the namespace."),
            Column::age(),
        ],
        BuiltIn::Secrets => vec![
            name,
            Column::new("Type", "string", "The type of the secret."),
            Column::new("Data", "string", "How many keys the secret holds."),
            Column::age(),
        ],
        BuiltIn::ConfigMaps => vec![
            name,
            Column::new("Data", "string", "How many keys the config map holds."),
            Column::age(),
        ],
        BuiltIn::Events => vec![
            Column::new("Last Seen", "string", "When the event was last seen."),
            Column::new("Type", "string", "Normal or Warning."),
            Column::new("Reason", "string", "Why the event happened, in CamelCase."),
            Column::new("Object", "string", "The object the event is about."),
            Column::new("Subobject", "string", "The field path in that object.").wide(),
            Column::new("Source", "string", "The components reporting this event.").wide(),
            Column::new("Message", "string", "What happened, for humans."),
            Column::new("First Seen", "string", "When the event was first seen.").wide(),
            Column::new("Count", "string", "How many times the event happened.").wide(),
            Column {
                format: "name".into(),
                ..Column::new("Name", "string", NAME_DESCRIPTION).wide()
            },
        ],
        BuiltIn::Deployments => vec![
            name,
            Column::new("Ready", "string", "Ready pods out of those desired."),
            Column::new("Up-to-date", "string", "Pods running the current template."),
            Column::new("Available", "string", "Pods available to serve."),
            Column::age(),
            Column::new("Containers", "string", "The template's container names.").wide(),
            Column::new("Images", "string", "The template's container images.").wide(),
            Column::new("Selector", "string", "The label selector of the pods.").wide(),
        ],
        BuiltIn::Leases => vec![
            name,
            Column::new("Holder", "string", "Who holds the lease."),
            Column::age(),
        ],
        BuiltIn::ServiceAccounts => vec![
            name,
            Column::new("Secrets", "string", "How many secrets the account lists."),
            Column::age(),
        ],
    }
}

fn built_in_cells(kind: &BuiltIn, object: &Value) -> Vec<Value> {
    let name = json!(text(object, "/metadata/name"));
    let age = json!(age_of(text(object, "/metadata/creationTimestamp")));
    let count = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_object)
            .map_or(0, Map::len) as i64
    };
    let int = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    match kind {
        BuiltIn::Namespaces => vec![name, json!(text(object, "/status/phase")), age],
        BuiltIn::Secrets => vec![
            name,
            json!(text(object, "/type")),
            json!(count("/data")),
            age,
        ],
        BuiltIn::ConfigMaps => vec![name, json!(count("/data") + count("/binaryData")), age],
        BuiltIn::Events => event_cells(object),
        BuiltIn::Deployments => {
            let desired = object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let containers: Vec<&Value> = object
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            let join = |field: &str| {
                containers
                    .iter()
                    .map(|c| c.get(field).and_then(Value::as_str).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            vec![
                name,
                json!(format!("{}/{desired}", int("/status/readyReplicas"))),
                json!(int("/status/updatedReplicas")),
                json!(int("/status/availableReplicas")),
                age,
                json!(join("name")),
                json!(join("image")),
                json!(selector_text(object.pointer("/spec/selector"))),
            ]
        }
        BuiltIn::Leases => vec![name, json!(text(object, "/spec/holderIdentity")), age],
        BuiltIn::ServiceAccounts => {
            let secrets = object
                .pointer("/secrets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as i64;
            vec![name, json!(secrets), age]
        }
    }
}

/// An Event's row, from its core/v1 shape (every Event is printed from that shape, whichever
/// API it is read through).
fn event_cells(event: &Value) -> Vec<Value> {
    let core;
    let event = if event.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1") {
        core = crate::events::to_core(event.clone());
        &core
    } else {
        event
    };
    let first_timestamp = text(event, "/firstTimestamp");
    let first_seen = if first_timestamp.is_empty() {
        age_of(text(event, "/eventTime"))
    } else {
        age_of(first_timestamp)
    };
    let last_timestamp = text(event, "/lastTimestamp");
    let mut last_seen = if last_timestamp.is_empty() {
        first_seen.clone()
    } else {
        age_of(last_timestamp)
    };
    let mut count = event.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        last_seen = age_of(text(series, "/lastObservedTime"));
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // A singleton event of the new API has no count.
        count = 1;
    }
    let kind = text(event, "/involvedObject/kind").to_ascii_lowercase();
    let target_name = text(event, "/involvedObject/name");
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        text(event, "/source/component"),
        text(event, "/reportingComponent"),
    );
    let instance = first_non_empty(
        text(event, "/source/host"),
        text(event, "/reportingInstance"),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(target),
        json!(text(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(event, "/message").trim()),
        json!(first_seen),
        json!(count),
        json!(text(event, "/metadata/name")),
    ]
}

/// A label selector as `kubectl` writes one: `a=b,c in (x,y)`, keys sorted.
fn selector_text(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return "<none>".into();
    };
    let mut terms: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or_default();
            terms.push((key.clone(), format!("{key}={value}")));
        }
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = text(expression, "/key");
        let mut values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort_unstable();
        let term = match text(expression, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        };
        terms.push((key.to_string(), term));
    }
    terms.sort();
    terms
        .into_iter()
        .map(|(_, term)| term)
        .collect::<Vec<_>>()
        .join(",")
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The age of an RFC 3339 time, as printers show it; `<unknown>` when there is none.
fn age_of(timestamp: &str) -> String {
    if timestamp.is_empty() {
        return "<unknown>".into();
    }
    timestamp
        .parse::<jiff::Timestamp>()
        .map_or_else(|_| "<invalid>".into(), human_duration_since)
}

fn human_duration_since(then: jiff::Timestamp) -> String {
    let seconds = jiff::Timestamp::now().as_second() - then.as_second();
    human_duration(seconds)
}

/// A duration as kubectl's ages read: two or three significant figures (`45s`, `3m20s`,
/// `25m`, `5h10m`, `20h`, `3d4h`, `50d`, `2y100d`, `9y`). Up to a second in the future (clock
/// skew) reads as `0s`, more than that as `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_shows_them() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (200, "3m20s"),
            (240, "4m"),
            (25 * 60, "25m"),
            (179 * 60, "179m"),
            (5 * 3600 + 600, "5h10m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (50 * 86400, "50d"),
            (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn accept_headers_pick_the_first_representation_served() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Output::negotiate(Some(kubectl), None).unwrap(),
            Output::Table(TableFormat {
                version: "v1",
                include: Include::Metadata
            })
        );
        let beta = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
        assert_eq!(
            Output::negotiate(Some(beta), Some("Object")).unwrap(),
            Output::Table(TableFormat {
                version: "v1beta1",
                include: Include::Object
            })
        );
        let metadata = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(
            Output::negotiate(Some(metadata), None).unwrap(),
            Output::Metadata
        );
        assert_eq!(
            Output::negotiate(Some("application/vnd.kubernetes.protobuf, */*"), None).unwrap(),
            Output::Full
        );
        assert_eq!(Output::negotiate(None, None).unwrap(), Output::Full);
        assert!(Output::negotiate(Some(kubectl), Some("Everything")).is_err());
    }

    #[test]
    fn custom_cells_keep_their_types() {
        assert_eq!(custom_cell("string", None), Value::Null);
        assert_eq!(custom_cell("string", Some(&json!(3))), json!("3"));
        assert_eq!(custom_cell("string", Some(&json!(["a"]))), json!("[\"a\"]"));
        assert_eq!(custom_cell("integer", Some(&json!(3.7))), json!(3));
        assert_eq!(custom_cell("integer", Some(&json!("3"))), Value::Null);
        assert_eq!(custom_cell("boolean", Some(&json!(true))), json!(true));
        assert_eq!(
            custom_cell("date", Some(&json!("junk"))),
            json!("<invalid>")
        );
    }

    #[test]
    fn selectors_print_sorted() {
        let selector = json!({
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}]
        });
        assert_eq!(selector_text(Some(&selector)), "a=1,b=2,c in (x,y)");
    }
}
