//! Label and field selectors, parsed from the `labelSelector` and `fieldSelector` query parameters.
//!
//! Label selectors take the full grammar (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`,
//! `a`, `!a`, `a>1`, `a<1`). Field selectors take `=`, `==` and `!=` on any dotted path of the object
//! (`metadata.name`, `metadata.namespace`, `status.phase`, `involvedObject.uid`, ...), with values
//! escaped as client-go escapes them (`\,`, `\=`, `\\`); the real server accepts only a few
//! paths per kind, so this is more permissive than it. Core Events also have the real server's
//! computed `source` field (`source.component`, else `reportingComponent`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: Option<&str>) -> ApiResult<Self> {
        let Some(text) = text else {
            return Ok(Self::default());
        };
        split_outside_parens(text)
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_label_term)
            .collect::<ApiResult<Vec<_>>>()
            .map(Self)
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, set) => label(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => !label(k).is_some_and(|v| set.contains(v)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
            Requirement::GreaterThan(k, n) => label_number(label(k)).is_some_and(|v| v > *n),
            Requirement::LessThan(k, n) => label_number(label(k)).is_some_and(|v| v < *n),
        })
    }
}

fn label_number(value: Option<&str>) -> Option<i64> {
    value.and_then(|v| v.parse().ok())
}

/// Splits on commas that are not inside `( )`, so `a in (x,y),b` is two terms.
fn split_outside_parens(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn parse_label_term(term: &str) -> ApiResult<Requirement> {
    let invalid = || ApiError::bad_request(format!("unable to parse requirement: {term:?}"));
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(valid_key(key.trim(), term)?));
    }
    if let Some(open) = term.find('(') {
        let close = term.rfind(')').filter(|&c| c > open).ok_or_else(invalid)?;
        let values: BTreeSet<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let head = term[..open].trim_end();
        return if let Some(key) = head.strip_suffix(" notin") {
            Ok(Requirement::NotIn(valid_key(key.trim(), term)?, values))
        } else if let Some(key) = head.strip_suffix(" in") {
            Ok(Requirement::In(valid_key(key.trim(), term)?, values))
        } else {
            Err(invalid())
        };
    }
    let split = |op: &str| {
        term.split_once(op)
            .map(|(k, v)| (k.trim(), v.trim().to_string()))
    };
    if let Some((key, value)) = split("!=") {
        Ok(Requirement::NotEquals(valid_key(key, term)?, value))
    } else if let Some((key, value)) = split("==").or_else(|| split("=")) {
        Ok(Requirement::Equals(valid_key(key, term)?, value))
    } else if let Some((key, value)) = split(">") {
        let n = value.parse().map_err(|_| invalid())?;
        Ok(Requirement::GreaterThan(valid_key(key, term)?, n))
    } else if let Some((key, value)) = split("<") {
        let n = value.parse().map_err(|_| invalid())?;
        Ok(Requirement::LessThan(valid_key(key, term)?, n))
    } else {
        Ok(Requirement::Exists(valid_key(term, term)?))
    }
}

fn valid_key(key: &str, term: &str) -> ApiResult<String> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        Err(ApiError::bad_request(format!(
            "unable to parse requirement: {term:?}: invalid label key"
        )))
    } else {
        Ok(key.to_string())
    }
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: Option<&str>) -> ApiResult<Self> {
        let Some(text) = text else {
            return Ok(Self::default());
        };
        let mut terms = Vec::new();
        for term in split_unescaped(text, ',')
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            let (path, equal, value) = if let Some((p, v)) = split_operator(term, "!=") {
                (p, false, v)
            } else if let Some((p, v)) =
                split_operator(term, "==").or_else(|| split_operator(term, "="))
            {
                (p, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            terms.push((path.trim().to_string(), equal, unescape(value.trim())));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, expected)| {
            let actual = field_value(object, path);
            (actual == *expected) == *equal
        })
    }
}

/// The value a field selector compares: the dotted path's value as text (`""` when absent).
fn field_value(object: &Value, path: &str) -> String {
    let text = |pointer: &str| match object.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let is_core_event = object.get("kind").and_then(Value::as_str) == Some("Event")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if is_core_event && path == "source" {
        let component = text("/source/component");
        return if component.is_empty() {
            text("/reportingComponent")
        } else {
            component
        };
    }
    text(&format!("/{}", path.replace('.', "/")))
}

/// Splits on `separator` where it is not escaped with a backslash (escapes are kept).
fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let current = parts.last_mut().expect("never empty");
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c == separator => parts.push(String::new()),
            c => current.push(c),
        }
    }
    parts
}

/// Splits a term at the first unescaped `operator`.
fn split_operator<'a>(term: &'a str, operator: &str) -> Option<(&'a str, &'a str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if term[i..].starts_with(operator) {
            return Some((&term[..i], &term[i + operator.len()..]));
        }
        i += 1;
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    fn matches(selector: &str, object: &Value) -> bool {
        LabelSelector::parse(Some(selector))
            .unwrap()
            .matches(object)
    }

    #[test]
    fn equality_and_inequality() {
        let obj = labelled(json!({"app": "web", "tier": "front"}));
        assert!(matches("app=web", &obj));
        assert!(matches("app==web,tier=front", &obj));
        assert!(!matches("app=db", &obj));
        assert!(matches("app!=db", &obj));
        assert!(
            matches("missing!=x", &obj),
            "!= matches objects without the label"
        );
    }

    #[test]
    fn set_based_requirements() {
        let obj = labelled(json!({"env": "prod", "tier": "front"}));
        assert!(matches("env in (prod, staging)", &obj));
        assert!(!matches("env in (dev,staging)", &obj));
        assert!(matches("env notin (dev,staging),tier", &obj));
        assert!(!matches("env notin (prod)", &obj));
        assert!(
            matches("other notin (x)", &obj),
            "notin matches objects without the label"
        );
        assert!(matches("tier", &obj));
        assert!(!matches("!tier", &obj));
        assert!(matches("!other", &obj));
        assert!(!matches("other", &obj));
    }

    #[test]
    fn numeric_comparisons_and_errors() {
        let obj = labelled(json!({"replicas": "3"}));
        assert!(matches("replicas>2", &obj));
        assert!(!matches("replicas<3", &obj));
        assert!(LabelSelector::parse(Some("a in x,y)")).is_err());
        assert!(LabelSelector::parse(Some("bad key=1")).is_err());
    }

    #[test]
    fn field_selectors_on_metadata_and_other_paths() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Running"}});
        let sel = |s: &str| FieldSelector::parse(Some(s)).unwrap().matches(&obj);
        assert!(sel("metadata.name=a"));
        assert!(sel("metadata.name=a,metadata.namespace==ns"));
        assert!(!sel("metadata.namespace=other"));
        assert!(sel("metadata.name!=b"));
        assert!(sel("status.phase=Running"));
        assert!(FieldSelector::parse(Some("nonsense")).is_err());
    }

    #[test]
    fn field_selector_values_are_unescaped_and_events_have_a_source_field() {
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "AuraInstance", "name": "a,b=c", "uid": "u1"},
            "reportingComponent": "aura-operator",
        });
        let sel = |s: &str| FieldSelector::parse(Some(s)).unwrap().matches(&event);
        assert!(sel(
            r"involvedObject.kind=AuraInstance,involvedObject.name=a\,b\=c,involvedObject.uid=u1"
        ));
        assert!(!sel(r"involvedObject.name=a\,b"));
        assert!(sel("source=aura-operator"));
        assert!(sel("involvedObject.namespace="), "absent reads as empty");
    }
}
