//! Admission of custom resources whose CRD is stored, as kube-apiserver v1.32 does it:
//!
//! 1. [`decode`], when the request body (or the patched object) is read: fields the schema does
//!    not declare are dropped, and reported as `fieldValidation` asks (`Strict`: 400
//!    BadRequest "strict decoding error"; `Warn`, the default: a `Warning` header each;
//!    `Ignore`: nothing); `null`s the schema does not allow go, and `default`s are filled in.
//! 2. [`validate`], just before the store writes: metadata name, the OpenAPI schema
//!    ([`schema`]), `x-kubernetes-list-type`, then the CEL rules ([`cel`]), unless a schema
//!    error already makes the object unreadable, in which case the rules are skipped with the
//!    real server's note. Any error is a 422 `Invalid` with one cause per error.
//!
//! Types without a CRD (or whose CRD has no schema for the version) are admitted unchecked.

mod cel;
mod decode;
mod errors;
mod schema;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::registry::{Registry, ResourceInfo};
use crate::store::{ResourceType, Store};

use errors::{BadValue, FieldError};

/// The request's `fieldValidation`: what to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// `Warn` unless the parameter says otherwise, as on the real server.
    pub fn parse(parameter: Option<&str>) -> Self {
        match parameter {
            Some("Strict") => Self::Strict,
            Some("Ignore") => Self::Ignore,
            _ => Self::Warn,
        }
    }
}

fn schema_of<'r>(
    registry: &'r Registry,
    resource: &ResourceType,
    version: &str,
) -> Option<(&'r ResourceInfo, &'r Value)> {
    let info = registry.get(resource).filter(|info| info.custom)?;
    let schema = info.version(version)?.schema.as_ref()?;
    Some((info, schema))
}

/// Step 1, on what a create, update or patch (main resource or status) would store: prunes,
/// defaults, and deals with unknown fields as `field_validation` says, adding warnings to
/// `store.admission_warnings`.
pub fn decode(
    store: &mut Store,
    resource: &ResourceType,
    version: &str,
    mut object: Value,
    field_validation: Option<&str>,
) -> ApiResult<Value> {
    let Some((info, schema)) = schema_of(&store.registry, resource, version) else {
        return Ok(object);
    };
    let mut unknown = decode::prune(schema, &mut object);
    // Sorted: the real server's pruning walks Go maps, which have no order of their own.
    unknown.sort();
    let unknown: Vec<String> = unknown
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    decode::default(schema, &mut object);
    if !unknown.is_empty() {
        match FieldValidation::parse(field_validation) {
            FieldValidation::Strict => {
                let kind = &info.kind;
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    unknown.join(", ")
                )));
            }
            FieldValidation::Warn => store.admission_warnings.extend(unknown),
            FieldValidation::Ignore => {}
        }
    }
    Ok(object)
}

/// The note the real server adds when schema errors keep it from running the CEL rules.
const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was \
                                 invalid; correct the existing errors to complete validation";

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_dns1123_subdomain(name: &str) -> bool {
    name.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    })
}

/// `metadata.name` of a created custom resource: present, and a DNS subdomain.
fn name_errors(object: &Value, errors: &mut Vec<FieldError>) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let field = Some("metadata.name".to_string());
    if name.is_empty() {
        errors.push(FieldError::required(
            field,
            "name or generateName is required",
        ));
        return;
    }
    if name.len() > 253 {
        errors.push(FieldError::invalid(
            field.clone(),
            BadValue::str(name),
            "must be no more than 253 characters",
        ));
    }
    if !is_dns1123_subdomain(name) {
        errors.push(FieldError::invalid(
            field,
            BadValue::str(name),
            DNS1123_SUBDOMAIN,
        ));
    }
}

fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(fields) => fields.iter().any(|(key, child)| {
            (key == "x-kubernetes-validations"
                && child.as_array().is_some_and(|rules| !rules.is_empty()))
                || has_rules(child)
        }),
        Value::Array(items) => items.iter().any(has_rules),
        _ => false,
    }
}

/// Step 2: validates `new` (a create when `old` is `None`) before it is stored. With
/// `status_only` (the status subresource), the schema check covers `.status` alone, as the
/// real server's does; CEL rules always see the whole object. Ratcheted CEL errors go to
/// `warnings`.
pub fn validate(
    registry: &Registry,
    warnings: &mut Vec<String>,
    resource: &ResourceType,
    old: Option<&Value>,
    new: &Value,
    status_only: bool,
) -> ApiResult<()> {
    let version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit('/').next())
        .unwrap_or_default();
    let Some((info, schema)) = schema_of(registry, resource, version) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    if old.is_none() {
        name_errors(new, &mut errors);
    }
    if status_only {
        if let (Some(status), Some(status_schema)) =
            (new.get("status"), schema.pointer("/properties/status"))
        {
            let old_status = old.and_then(|o| o.get("status"));
            let at = schema::Location::root(Some("status"));
            schema::validate(status_schema, status, old_status, &at, &mut errors);
        }
    } else {
        schema::validate(schema, new, old, &schema::Location::root(None), &mut errors);
    }
    schema::check_list_types(schema, new, old, "", &mut errors);
    if has_rules(schema) {
        if errors.iter().any(|e| e.kind.blocks_cel()) {
            errors.push(FieldError::invalid(None, BadValue::Null, RULES_NOT_CHECKED));
        } else {
            cel::validate(schema, new, old, &mut errors, warnings);
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(errors::invalid(&info.kind, &resource.group, name, &errors))
}

/// The 422 for a create without `metadata.name` or `generateName`, for any type.
pub fn name_required(kind: &str, group: &str) -> ApiError {
    let error = FieldError::required(
        Some("metadata.name".into()),
        "name or generateName is required",
    );
    errors::invalid(kind, group, "", &[error])
}
