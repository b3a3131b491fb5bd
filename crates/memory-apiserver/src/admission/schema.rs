//! OpenAPI v3 validation of a custom resource against its CRD's structural schema, with the
//! checks, order and words of the validator kube-apiserver uses (kube-openapi's): per node the
//! type, then `allOf`/`anyOf`/`oneOf`/`not`, string, format, number, array, `enum` and object
//! checks; inside an object, `additionalProperties` values, then properties, then `required`.
//! Then the `x-kubernetes-list-type` uniqueness checks.
//!
//! Paths: kube-openapi names a node `spec.items[0].name` (map values `spec.labels.key`), and
//! that name is both in the message (`spec.paused in body must be of type boolean`) and the
//! cause's field. Errors that are not about one field (`anyOf` and the like) have the field
//! `<nil>`.
//!
//! On update (ratcheting, on by default since Kubernetes 1.30), a node whose value equals the
//! old object's value at the same place is not validated: an object stored before a schema got
//! stricter can still be updated elsewhere. Values are matched by object field, by map key, and
//! in `x-kubernetes-list-type: map`/`set` lists by key or value; items of other lists are not.

use serde_json::{Map, Value};

use super::decode::{additional_schema, is_true};
use super::errors::{BadValue, ErrorType, FieldError};

/// Where a node is: its kube-openapi name (`spec.memory`), and the prefix its cause's field
/// gets (the status subresource validates `.status` alone, its fields `status.x`).
#[derive(Clone)]
pub struct Location<'a> {
    pub name: String,
    pub prefix: Option<&'a str>,
}

impl<'a> Location<'a> {
    pub fn root(prefix: Option<&'a str>) -> Self {
        Self {
            name: String::new(),
            prefix,
        }
    }

    fn child(&self, key: &str) -> Self {
        Self {
            name: if self.name.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.name)
            },
            prefix: self.prefix,
        }
    }

    fn index(&self, i: usize) -> Self {
        Self {
            name: format!("{}[{i}]", self.name),
            prefix: self.prefix,
        }
    }

    /// The cause's field: the prefix and the name, or the prefix alone (`<nil>` without one)
    /// for the root.
    fn field(&self) -> Option<String> {
        match (self.prefix, self.name.is_empty()) {
            (None, true) => None,
            (None, false) => Some(self.name.clone()),
            (Some(prefix), true) => Some(prefix.to_string()),
            (Some(prefix), false) => Some(format!("{prefix}.{}", self.name)),
        }
    }

    /// The field of an error about the node as a whole (`anyOf` and the like): the path the
    /// validation started from, not this node's.
    fn whole(&self) -> Option<String> {
        self.prefix.map(str::to_string)
    }
}

fn json_type(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// The schema's types: `integer,string` for `x-kubernetes-int-or-string`.
fn types(schema: &Value) -> Vec<&str> {
    if is_true(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match schema.get("type").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => vec![t],
        _ => Vec::new(),
    }
}

/// The format the real server checks: the ones it knows for strings, `int32`/`int64` for
/// integers and `float`/`double` for numbers; any other is ignored, as CRD registration strips
/// it.
fn format(schema: &Value) -> &str {
    let Some(format) = schema.get("format").and_then(Value::as_str) else {
        return "";
    };
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let keep = match ty {
        "" | "string" => STRING_FORMATS.contains(&format.replace('-', "").as_str()),
        "integer" => matches!(format, "int32" | "int64"),
        "number" => matches!(format, "float" | "double"),
        _ => false,
    };
    if keep { format } else { "" }
}

/// String formats a CRD may use (the names without dashes).
const STRING_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "quantity",
];

fn number(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn count(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

/// Validates `value` (with `old`, the stored object's value at the same place, on update).
pub fn validate(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    at: &Location<'_>,
    errors: &mut Vec<FieldError>,
) {
    if old == Some(value) {
        return;
    }
    let tys = types(schema);
    let in_body = |what: String| format!("{} in body {what}", at.name);
    let type_error = |expected: &str, actual: &str| {
        FieldError::new(
            ErrorType::TypeInvalid,
            at.field(),
            BadValue::str(actual),
            in_body(format!(
                "must be of type {expected}: {}",
                super::errors::go_quote(actual)
            )),
        )
    };

    if value.is_null() {
        if !tys.is_empty() && !is_true(schema, "nullable") {
            errors.push(type_error(&tys.join(","), "null"));
        }
        check_enum(schema, value, at, errors);
        return;
    }

    // The type.
    let format = format(schema);
    let (actual, actual_format) = json_type(value);
    if !tys.is_empty() || !format.is_empty() {
        let float_int = actual == "number"
            && value.as_f64().is_some_and(|f| f.fract() == 0.0)
            && tys.contains(&"integer");
        let int_float = actual == "integer" && tys.contains(&"number");
        let stringish = matches!(value, Value::String(_) | Value::Array(_));
        let numeric = tys.contains(&"number") || tys.contains(&"integer");
        let type_ok = tys.contains(&actual) || float_int || int_float;
        // A number or boolean against a format of another type ("must be of type int64").
        let format_mismatch =
            !(stringish || format.is_empty() || type_ok || actual_format == format);
        // A string (or list) under a string format: the format check decides, not the type.
        let format_decides = stringish && !(format.is_empty() || numeric);
        if format_mismatch {
            errors.push(type_error(format, actual_format));
        } else if !(format_decides || tys.is_empty() || type_ok) {
            errors.push(type_error(&tys.join(","), actual));
        }
    }

    composition(schema, value, at, errors);

    match value {
        Value::String(s) => {
            check_string(schema, s, at, errors);
            if !format.is_empty() && !format_ok(format, s) {
                errors.push(type_error(format, s));
            }
        }
        Value::Number(_) => check_number(schema, value, at, errors),
        Value::Array(items) => check_array(schema, items, old, at, errors),
        _ => {}
    }
    check_enum(schema, value, at, errors);
    if let Value::Object(fields) = value {
        check_object(schema, fields, old, at, errors);
    }
}

/// The errors of `value` against one branch of `anyOf` and the like.
fn branch_errors(schema: &Value, value: &Value, at: &Location<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate(schema, value, None, at, &mut errors);
    errors
}

/// `anyOf`, `oneOf`, `allOf` and `not`, as value validations (structural schemas use them
/// without types). The failing branch reported is the first one.
fn composition(schema: &Value, value: &Value, at: &Location<'_>, errors: &mut Vec<FieldError>) {
    let branches = |key: &str| {
        schema
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let whole = |message: String| FieldError::invalid(at.whole(), BadValue::str(""), message);
    let quoted = super::errors::go_quote(&at.name);
    let any_of = branches("anyOf");
    if !any_of.is_empty() {
        let results: Vec<Vec<FieldError>> =
            any_of.iter().map(|b| branch_errors(b, value, at)).collect();
        if !results.iter().any(Vec::is_empty) {
            errors.push(whole(format!(
                "{quoted} must validate at least one schema (anyOf)"
            )));
            errors.extend(results.into_iter().next().unwrap_or_default());
        }
    }
    let one_of = branches("oneOf");
    if !one_of.is_empty() {
        let results: Vec<Vec<FieldError>> =
            one_of.iter().map(|b| branch_errors(b, value, at)).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let found = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errors.push(whole(format!(
                "{quoted} must validate one and only one schema (oneOf). {found}"
            )));
            if valid == 0 {
                errors.extend(results.into_iter().next().unwrap_or_default());
            }
        }
    }
    let all_of = branches("allOf");
    if !all_of.is_empty() {
        let mut valid = 0;
        for branch in &all_of {
            let result = branch_errors(branch, value, at);
            if result.is_empty() {
                valid += 1;
            }
            errors.extend(result);
        }
        if valid != all_of.len() {
            let none = if valid == 0 { ". None validated" } else { "" };
            errors.push(whole(format!(
                "{quoted} must validate all the schemas (allOf){none}"
            )));
        }
    }
    if let Some(not) = schema.get("not")
        && branch_errors(not, value, at).is_empty()
    {
        errors.push(whole(format!(
            "{quoted} must not validate the schema (not)"
        )));
    }
}

/// maxLength, minLength, pattern: the first that fails.
fn check_string(schema: &Value, s: &str, at: &Location<'_>, errors: &mut Vec<FieldError>) {
    let length = s.chars().count() as u64;
    if let Some(max) = count(schema, "maxLength")
        && length > max
    {
        let unit = if max == 1 { "byte" } else { "bytes" };
        errors.push(FieldError::new(
            ErrorType::TooLong,
            at.field(),
            BadValue::Omitted,
            format!("may not be more than {max} {unit}"),
        ));
        return;
    }
    let invalid = |detail: String| {
        FieldError::invalid(
            at.field(),
            BadValue::str(s),
            format!("{} in body {detail}", at.name),
        )
    };
    if let Some(min) = count(schema, "minLength")
        && length < min
    {
        errors.push(invalid(format!("should be at least {min} chars long")));
        return;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => errors.push(invalid(format!("should match '{pattern}'"))),
            Err(err) => errors.push(invalid(format!(
                "should match '{pattern}, but pattern is invalid: {err}'"
            ))),
        }
    }
}

/// multipleOf, minimum, maximum: each that fails. An integer is compared with the bound cut to
/// an integer, and printed as one.
fn check_number(schema: &Value, value: &Value, at: &Location<'_>, errors: &mut Vec<FieldError>) {
    let int = value.as_i64();
    let float = value.as_f64().unwrap_or_default();
    let bad = BadValue::of(value);
    let shown = |bound: f64| match int {
        Some(_) => (bound as i64).to_string(),
        None => super::errors::go_float(bound),
    };
    let fail = |detail: String| {
        FieldError::invalid(
            at.field(),
            bad.clone(),
            format!("{} in body {detail}", at.name),
        )
    };
    if let Some(factor) = number(schema, "multipleOf") {
        let ok = match int {
            Some(i) if factor as i64 != 0 => i % (factor as i64) == 0,
            _ => (float / factor).fract() == 0.0,
        };
        if !ok {
            errors.push(fail(format!("should be a multiple of {}", shown(factor))));
        }
    }
    if let Some(min) = number(schema, "minimum") {
        let exclusive = is_true(schema, "exclusiveMinimum");
        let below = match int {
            Some(i) => i < min as i64 || (exclusive && i == min as i64),
            None => float < min || (exclusive && float == min),
        };
        if below {
            let words = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errors.push(fail(format!("should be {words} {}", shown(min))));
        }
    }
    if let Some(max) = number(schema, "maximum") {
        let exclusive = is_true(schema, "exclusiveMaximum");
        let above = match int {
            Some(i) => i > max as i64 || (exclusive && i == max as i64),
            None => float > max || (exclusive && float == max),
        };
        if above {
            let words = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errors.push(fail(format!("should be {words} {}", shown(max))));
        }
    }
}

/// Items first, then minItems, maxItems, uniqueItems.
fn check_array(
    schema: &Value,
    items: &[Value],
    old: Option<&Value>,
    at: &Location<'_>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
        let old_items = old.and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let old_item = old_items.and_then(|old| correlate(schema, item, old));
            validate(item_schema, item, old_item, &at.index(i), errors);
        }
    }
    let size = items.len() as u64;
    if let Some(min) = count(schema, "minItems")
        && size < min
    {
        errors.push(FieldError::invalid(
            at.field(),
            BadValue::Int(size as i64),
            format!("{} in body should have at least {min} items", at.name),
        ));
    }
    if let Some(max) = count(schema, "maxItems")
        && size > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        errors.push(FieldError::new(
            ErrorType::TooMany,
            at.field(),
            BadValue::Int(size as i64),
            format!("must have at most {max} {unit}"),
        ));
    }
    if is_true(schema, "uniqueItems")
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].contains(a))
    {
        errors.push(FieldError::invalid(
            at.field(),
            BadValue::str(""),
            format!("{} in body shouldn't contain duplicates", at.name),
        ));
    }
}

/// The old list's item that `item` continues: in a `map` list the one with the same keys, in a
/// `set` the equal one; none in other lists.
pub fn correlate<'v>(schema: &Value, item: &Value, old: &'v [Value]) -> Option<&'v Value> {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys = map_keys(schema);
            old.iter().find(|candidate| {
                keys.iter()
                    .all(|k| key_of(schema, candidate, k) == key_of(schema, item, k))
            })
        }
        Some("set") => old.iter().find(|candidate| *candidate == item),
        _ => None,
    }
}

fn map_keys(schema: &Value) -> Vec<String> {
    schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// An item's key field, or the key's default when the item has none.
fn key_of(schema: &Value, item: &Value, key: &str) -> Option<Value> {
    item.get(key).cloned().or_else(|| {
        schema
            .pointer(&format!("/items/properties/{key}/default"))
            .cloned()
    })
}

fn check_enum(schema: &Value, value: &Value, at: &Location<'_>, errors: &mut Vec<FieldError>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if allowed.is_empty() {
        return;
    }
    // A null never matches, not even a `null` in the list (the real validator compares by Go
    // type, and a null has none).
    let matches = |candidate: &Value| match (candidate, value) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    };
    if allowed.iter().any(matches) {
        return;
    }
    let listed: Vec<String> = allowed
        .iter()
        .map(|v| match v {
            Value::String(s) => super::errors::go_quote(s),
            other => super::errors::go_quote(&other.to_string()),
        })
        .collect();
    errors.push(FieldError::new(
        ErrorType::NotSupported,
        at.field(),
        BadValue::of(value),
        format!("supported values: {}", listed.join(", ")),
    ));
}

/// min/maxProperties (alone, when they fail), then each map value, each property present, and
/// each required property missing.
fn check_object(
    schema: &Value,
    fields: &Map<String, Value>,
    old: Option<&Value>,
    at: &Location<'_>,
    errors: &mut Vec<FieldError>,
) {
    let size = fields.len() as u64;
    if let Some(min) = count(schema, "minProperties")
        && size < min
    {
        errors.push(FieldError::invalid(
            at.field(),
            BadValue::Int(min as i64),
            format!("{} in body should have at least {min} properties", at.name),
        ));
        return;
    }
    if let Some(max) = count(schema, "maxProperties")
        && size > max
    {
        // The real validator hands the limit where the count belongs, and no limit.
        errors.push(FieldError::new(
            ErrorType::TooMany,
            at.field(),
            BadValue::Int(max as i64),
            "has too many items",
        ));
        return;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let old_field = |key: &str| old.and_then(|o| o.get(key));
    if let Some(additional) = additional_schema(schema) {
        for (key, child) in fields {
            if props.is_none_or(|p| !p.contains_key(key)) {
                validate(additional, child, old_field(key), &at.child(key), errors);
            }
        }
    }
    if let Some(props) = props {
        for (key, prop) in props {
            if let Some(child) = fields.get(key) {
                validate(prop, child, old_field(key), &at.child(key), errors);
            }
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !fields.contains_key(required) {
            errors.push(FieldError::required(at.child(required).field(), ""));
        }
    }
    if is_true(schema, "x-kubernetes-embedded-resource") {
        for key in ["apiVersion", "kind"] {
            if fields
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError::required(
                    at.child(key).field(),
                    "must not be empty",
                ));
            }
        }
    }
}

/// The `x-kubernetes-list-type` rules, checked after the schema: no two equal items in a `set`,
/// no two items with the same keys in a `map` (whose items must have their keys).
pub fn check_list_types(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if old == Some(value) {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (key, child) in fields {
                let child_schema = props
                    .and_then(|p| p.get(key))
                    .or_else(|| additional_schema(schema));
                if let Some(child_schema) = child_schema {
                    let old_child = old.and_then(|o| o.get(key));
                    let child_path = if props.is_some_and(|p| p.contains_key(key)) {
                        join(key)
                    } else {
                        format!("{path}[{key}]")
                    };
                    check_list_types(child_schema, child, old_child, &child_path, errors);
                }
            }
        }
        Value::Array(items) => {
            let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
            match list_type {
                Some("set") => {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].contains(item) {
                            errors.push(FieldError::new(
                                ErrorType::Duplicate,
                                Some(format!("{path}[{i}]")),
                                BadValue::of(item),
                                "",
                            ));
                        }
                    }
                }
                Some("map") => {
                    let keys = map_keys(schema);
                    let mut seen: Vec<Map<String, Value>> = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let mut identity = Map::new();
                        for key in &keys {
                            match key_of(schema, item, key) {
                                Some(v) => {
                                    identity.insert(key.clone(), v);
                                }
                                None => errors.push(FieldError::required(
                                    Some(format!("{path}[{i}].{key}")),
                                    "",
                                )),
                            }
                        }
                        if identity.len() == keys.len() {
                            if seen.contains(&identity) {
                                errors.push(FieldError::new(
                                    ErrorType::Duplicate,
                                    Some(format!("{path}[{i}]")),
                                    BadValue::of(&Value::Object(identity)),
                                    "",
                                ));
                            } else {
                                seen.push(identity);
                            }
                        }
                    }
                }
                _ => {}
            }
            if let Some(item_schema) = schema.get("items") {
                let old_items = old.and_then(Value::as_array);
                for (i, item) in items.iter().enumerate() {
                    let old_item = old_items.and_then(|o| correlate(schema, item, o));
                    check_list_types(item_schema, item, old_item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// The string formats checked. Formats not listed here are accepted as they are.
fn format_ok(format: &str, s: &str) -> bool {
    match format.replace('-', "").as_str() {
        "datetime" => is_date_time(s),
        "date" => is_date(s),
        "uuid" => uuid_like(s, None),
        "uuid3" => uuid_like(s, Some('3')),
        "uuid4" => uuid_like(s, Some('4')),
        "uuid5" => uuid_like(s, Some('5')),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => s.split_once('/').is_some_and(|(ip, bits)| {
            let max = if ip.contains(':') { 128 } else { 32 };
            ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= max)
        }),
        "byte" => is_base64(s),
        "hostname" => is_hostname(s),
        _ => true,
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(y), digits(m), digits(d)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 date-time: `2006-01-02T15:04:05Z`, optional fractional seconds, `Z` or `±hh:mm`.
fn is_date_time(s: &str) -> bool {
    let Some(split) = s.find(['T', 't']) else {
        return false;
    };
    let (date, rest) = (&s[..split], &s[split + 1..]);
    if !is_date(date) || rest.len() < 8 {
        return false;
    }
    let (clock, zone) = rest.split_at(8);
    let c: Vec<&str> = clock.split(':').collect();
    let ok_clock = c.len() == 3
        && c.iter().all(|p| p.len() == 2)
        && digits(c[0]).is_some_and(|h| h <= 23)
        && digits(c[1]).is_some_and(|m| m <= 59)
        && digits(c[2]).is_some_and(|s| s <= 60);
    if !ok_clock {
        return false;
    }
    let zone = match zone.strip_prefix(['.', ',']) {
        Some(frac) => {
            let end = frac
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(frac.len());
            if end == 0 {
                return false;
            }
            &frac[end..]
        }
        None => zone,
    };
    match zone {
        "Z" | "z" => true,
        offset => {
            let bytes = offset.as_bytes();
            bytes.len() == 6
                && (bytes[0] == b'+' || bytes[0] == b'-')
                && bytes[3] == b':'
                && digits(&offset[1..3]).is_some_and(|h| h <= 23)
                && digits(&offset[4..6]).is_some_and(|m| m <= 59)
        }
    }
}

fn uuid_like(s: &str, version: Option<char>) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let groups: Vec<usize> = s.split('-').map(str::len).collect();
    let shape = groups == [8, 4, 4, 4, 12] || groups == [32];
    shape
        && hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && version.is_none_or(|v| hex.chars().nth(12) == Some(v))
}

fn is_base64(s: &str) -> bool {
    let trimmed = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - trimmed.len() <= 2
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors_of(schema: Value, value: Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&schema, &value, None, &Location::root(None), &mut errors);
        errors.iter().map(FieldError::message).collect()
    }

    #[test]
    fn words_of_each_check() {
        let schema = json!({"type": "object", "properties": {
            "s": {"type": "string", "maxLength": 3},
            "p": {"type": "string", "pattern": "^[0-9]+GB$"},
            "m": {"type": "string", "minLength": 2},
            "i": {"type": "integer", "minimum": 0, "maximum": 15},
            "f": {"type": "number", "maximum": 1.5},
            "t": {"type": "string", "format": "date-time"},
            "l": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
            "o": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
        }});
        let value = json!({"s": "abcd", "p": "2G", "m": "a", "i": 16, "f": 2.5,
                           "t": "yesterday", "l": ["a", "b"], "o": {"a": "1", "b": "2"}});
        assert_eq!(
            errors_of(schema, value),
            [
                "f: Invalid value: 2.5: f in body should be less than or equal to 1.5",
                "i: Invalid value: 16: i in body should be less than or equal to 15",
                "l: Too many: 2: must have at most 1 item",
                "m: Invalid value: \"a\": m in body should be at least 2 chars long",
                "o: Too many: 1: has too many items",
                "p: Invalid value: \"2G\": p in body should match '^[0-9]+GB$'",
                "s: Too long: may not be more than 3 bytes",
                "t: Invalid value: \"yesterday\": t in body must be of type date-time: \"yesterday\"",
            ]
        );
    }

    #[test]
    fn value_validations_in_any_of_one_of_all_of_and_not() {
        let schema = json!({"type": "object", "properties": {"x": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "allOf": [{"required": ["a"]}],
            "not": {"required": ["c"]}
        }}});
        assert_eq!(
            errors_of(schema.clone(), json!({"x": {"c": "1"}})),
            [
                "<nil>: Invalid value: \"\": \"x\" must validate at least one schema (anyOf)",
                "x.a: Required value",
                "<nil>: Invalid value: \"\": \"x\" must validate one and only one schema (oneOf). Found none valid",
                "x.a: Required value",
                "x.a: Required value",
                "<nil>: Invalid value: \"\": \"x\" must validate all the schemas (allOf). None validated",
                "<nil>: Invalid value: \"\": \"x\" must not validate the schema (not)",
            ]
        );
        assert_eq!(
            errors_of(schema, json!({"x": {"a": "1", "b": "2"}})),
            [
                "<nil>: Invalid value: \"\": \"x\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
            ]
        );
    }

    #[test]
    fn formats() {
        assert!(is_date_time("2026-12-05T21:46:20Z"));
        assert!(is_date_time("2026-12-05T21:46:20.123+01:00"));
        assert!(!is_date_time("2026-12-05 21:46:20Z"));
        assert!(!is_date_time("2026-02-30T21:46:20Z"));
        assert!(uuid_like("6f0d6a9e-1111-4e55-9a53-000000000001", None));
    }

    #[test]
    fn unchanged_values_are_not_validated_again() {
        let schema = json!({"type": "object", "properties": {"s": {"type": "string", "maxLength": 1}, "n": {"type": "integer"}}});
        let old = json!({"s": "long", "n": 1});
        let mut errors = Vec::new();
        let new = json!({"s": "long", "n": 2});
        validate(
            &schema,
            &new,
            Some(&old),
            &Location::root(None),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let new = json!({"s": "longer", "n": 2});
        validate(
            &schema,
            &new,
            Some(&old),
            &Location::root(None),
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn list_types() {
        let schema = json!({"type": "object", "properties": {
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "map": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
        }});
        let value = json!({"set": ["a", "a"], "map": [{"name": "x"}, {"name": "x"}, {}]});
        let mut errors = Vec::new();
        check_list_types(&schema, &value, None, "spec", &mut errors);
        let messages: Vec<String> = errors.iter().map(FieldError::message).collect();
        assert_eq!(
            messages,
            [
                "spec.map[1]: Duplicate value: map[string]interface {}{\"name\":\"x\"}",
                "spec.map[2].name: Required value",
                "spec.set[1]: Duplicate value: \"a\"",
            ]
        );
    }
}
