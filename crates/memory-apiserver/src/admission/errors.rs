//! Field errors as the real server renders them: a machine-readable reason, the field's path,
//! the offending value and a detail, printed the way apimachinery's `field.Error` prints them
//! (`Invalid value: "moon": ...`, `Required value`, `Too long: ...`), and gathered into the
//! 422 `Invalid` Status the API server sends.

use serde_json::{Value, json};

use crate::error::ApiError;

/// What kind of problem a field has; the names are the Status causes' `reason`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Duplicate,
}

impl ErrorType {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Duplicate => "Duplicate value",
        }
    }

    /// The errors after which the real server does not run CEL rules (they could not make
    /// sense of the object): wrong types, missing required fields, values outside an enum,
    /// and values over a size limit.
    pub fn blocks_cel(self) -> bool {
        matches!(
            self,
            Self::NotSupported | Self::Required | Self::TooLong | Self::TooMany | Self::TypeInvalid
        )
    }
}

/// The offending value, as the error prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum BadValue {
    /// Not printed at all (`Required value`, `Too long`, `Forbidden`).
    Omitted,
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A composite value, printed as Go's `%#v` prints it.
    Raw(String),
}

impl BadValue {
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Int(i),
                None => match n.as_u64() {
                    Some(u) => Self::Raw(u.to_string()),
                    None => Self::Float(n.as_f64().unwrap_or_default()),
                },
            },
            Value::String(s) => Self::Str(s.clone()),
            other => Self::Raw(go_sharp_v(other)),
        }
    }

    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }
}

/// One field error: `field` is the dotted path (`None` prints as `<nil>`, as a nil
/// `*field.Path` does).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    pub field: Option<String>,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub fn new(
        kind: ErrorType,
        field: Option<String>,
        value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            field,
            value,
            detail: detail.into(),
        }
    }

    pub fn required(field: Option<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::Omitted, detail)
    }

    pub fn invalid(field: Option<String>, value: BadValue, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, value, detail)
    }

    pub fn field_text(&self) -> String {
        self.field.clone().unwrap_or_else(|| "<nil>".to_string())
    }

    /// The message without the field, as a Status cause's `message` carries it.
    pub fn body(&self) -> String {
        let words = self.kind.words();
        let mut text = match (self.kind, &self.value) {
            (ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong, _)
            | (_, BadValue::Omitted) => words.to_string(),
            (_, BadValue::Null) => format!("{words}: \"null\""),
            (_, BadValue::Str(s)) => format!("{words}: {}", go_quote(s)),
            (_, BadValue::Int(i)) => format!("{words}: {i}"),
            (_, BadValue::Float(f)) => format!("{words}: {}", go_float(*f)),
            (_, BadValue::Bool(b)) => format!("{words}: {b}"),
            (_, BadValue::Raw(raw)) => format!("{words}: {raw}"),
        };
        if !self.detail.is_empty() {
            text.push_str(": ");
            text.push_str(&self.detail);
        }
        text
    }

    /// `field: body`, as the aggregated Status message lists each error.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field_text(), self.body())
    }
}

/// The 422 answer: `Kind.group "name" is invalid: ...` with one cause per error. The message
/// lists each distinct error once, in brackets when there are several, as apimachinery's
/// error aggregate prints them.
pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let mut messages: Vec<String> = Vec::new();
    for error in errors {
        let message = error.message();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    let listed = if messages.len() == 1 {
        messages.remove(0)
    } else {
        format!("[{}]", messages.join(", "))
    };
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|error| {
            json!({
                "reason": error.kind.reason(),
                "message": error.body(),
                "field": error.field_text(),
            })
        })
        .collect();
    let mut details = json!({"kind": kind, "causes": causes});
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    ApiError {
        details: Some(details),
        ..ApiError::invalid(format!(
            "{qualified} {} is invalid: {listed}",
            go_quote(name)
        ))
    }
}

/// Go's `%q` of a string: double quotes, with quotes, backslashes and control characters
/// escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits that
/// round-trip, in exponent form when the decimal exponent is below -4 or 6 and above.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the same shortest digits with an exponent: `1.5e6`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{...}`), as error messages
/// print composite values.
pub fn go_sharp_v(value: &Value) -> String {
    fn inner(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("interface {}(nil)"),
            Value::Bool(b) => out.push_str(&b.to_string()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => out.push_str(&i.to_string()),
                None => out.push_str(&go_float(n.as_f64().unwrap_or_default())),
            },
            Value::String(s) => out.push_str(&go_quote(s)),
            Value::Array(items) => {
                out.push_str("[]interface {}{");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    inner(item, out);
                }
                out.push('}');
            }
            Value::Object(fields) => {
                out.push_str("map[string]interface {}{");
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort();
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&go_quote(key));
                    out.push(':');
                    inner(&fields[key.as_str()], out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    inner(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        assert_eq!(go_float(15.0), "15");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
    }

    #[test]
    fn bodies_read_as_apimachinery_words_them() {
        let e = FieldError::new(
            ErrorType::NotSupported,
            Some("spec.cloudProvider".into()),
            BadValue::str("moon"),
            "supported values: \"gcp\"",
        );
        assert_eq!(
            e.message(),
            "spec.cloudProvider: Unsupported value: \"moon\": supported values: \"gcp\""
        );
        assert_eq!(
            FieldError::required(Some("spec.memory".into()), "").body(),
            "Required value"
        );
        assert_eq!(
            FieldError::invalid(None, BadValue::Null, "x").message(),
            "<nil>: Invalid value: \"null\": x"
        );
        assert_eq!(
            go_sharp_v(&json!({"name": "a", "port": 80})),
            "map[string]interface {}{\"name\":\"a\", \"port\":80}"
        );
    }
}
