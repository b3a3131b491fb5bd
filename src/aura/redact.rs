//! Reading Aura's error bodies, and showing response bodies without their secrets.
//!
//! A body we could not decode goes into the error so that a human can see what Aura said. Create
//! responses carry the database password and token responses the access token, so values under
//! secret-looking keys are replaced before anything is kept, and the excerpt is short.

use serde_json::Value;

/// Longest body excerpt kept in an error.
const EXCERPT_CHARS: usize = 512;

/// Keys whose values are never shown.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "authorization", "credential"]
        .iter()
        .any(|s| key.contains(s))
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A short, secret-free rendering of a response body.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty)".to_owned();
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            redact(&mut value);
            value.to_string()
        }
        Err(_) => {
            let raw = String::from_utf8_lossy(body);
            // Unparseable text might still hold a secret next to a key name; withhold it then.
            if is_secret_key(&raw) {
                return format!("({} bytes withheld: may contain a secret)", body.len());
            }
            raw.into_owned()
        }
    };
    truncate(&text, EXCERPT_CHARS)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

/// What an error body says, from either shape Aura uses:
/// `{"errors":[{"message","reason","field"}]}` or the gateway's `{"error":"text"}`
/// (and the v2 forms `{"message","reason"}` and `errors` keyed by field).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ParsedError {
    pub message: Option<String>,
    pub reason: Option<String>,
    pub field: Option<String>,
}

pub(crate) fn parse_error_body(body: &[u8]) -> ParsedError {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        let text = body_excerpt(body);
        return ParsedError {
            message: (!body.is_empty()).then_some(text),
            ..Default::default()
        };
    };
    redact(&mut value);
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match value.get("errors") {
        Some(Value::Array(items)) if !items.is_empty() => {
            let messages: Vec<String> = items.iter().filter_map(|i| text(i, "message")).collect();
            ParsedError {
                message: (!messages.is_empty())
                    .then(|| truncate(&messages.join("; "), EXCERPT_CHARS)),
                reason: items.iter().find_map(|i| text(i, "reason")),
                field: items.iter().find_map(|i| text(i, "field")),
            }
        }
        Some(Value::Object(by_field)) if !by_field.is_empty() => {
            let field = by_field.keys().next().cloned();
            let messages: Vec<String> = by_field
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect();
            ParsedError {
                message: Some(truncate(&messages.join("; "), EXCERPT_CHARS)),
                reason: text(&value, "reason"),
                field,
            }
        }
        _ => ParsedError {
            message: text(&value, "error")
                .or_else(|| text(&value, "message"))
                .map(|m| truncate(&m, EXCERPT_CHARS)),
            reason: text(&value, "reason"),
            field: text(&value, "field"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_aura_error_shapes_are_read() {
        let listed = parse_error_body(
            br#"{"errors":[{"message":"Memory is invalid","reason":"invalid-field","field":"memory"}]}"#,
        );
        assert_eq!(listed.message.as_deref(), Some("Memory is invalid"));
        assert_eq!(listed.reason.as_deref(), Some("invalid-field"));
        assert_eq!(listed.field.as_deref(), Some("memory"));

        let gateway = parse_error_body(br#"{"error":"Forbidden"}"#);
        assert_eq!(gateway.message.as_deref(), Some("Forbidden"));
        assert_eq!(gateway.reason, None);
    }

    #[test]
    fn v2_error_objects_keyed_by_field_are_read() {
        let parsed =
            parse_error_body(br#"{"errors":{"name":"too long"},"reason":"validation-error"}"#);
        assert_eq!(parsed.field.as_deref(), Some("name"));
        assert_eq!(parsed.reason.as_deref(), Some("validation-error"));
        assert_eq!(parsed.message.as_deref(), Some("name: too long"));
    }

    #[test]
    fn non_json_error_bodies_become_the_message() {
        let parsed = parse_error_body(b"<html>Bad Gateway</html>");
        assert_eq!(parsed.message.as_deref(), Some("<html>Bad Gateway</html>"));
        assert_eq!(parse_error_body(b""), ParsedError::default());
    }

    #[test]
    fn excerpts_never_show_passwords_or_tokens() {
        let body = br#"{"data":{"id":"c9f0d13a","password":"hunter2-long","nested":[{"access_token":"tok-123"}]}}"#;
        let excerpt = body_excerpt(body);
        assert!(excerpt.contains("c9f0d13a"));
        assert!(
            !excerpt.contains("hunter2-long") && !excerpt.contains("tok-123"),
            "{excerpt}"
        );

        let broken = br#"{"data":{"password":"hunter2-long""#;
        let excerpt = body_excerpt(broken);
        assert!(!excerpt.contains("hunter2"), "{excerpt}");
    }

    #[test]
    fn long_bodies_are_truncated_on_a_character_boundary() {
        let body = "é".repeat(2000);
        let excerpt = body_excerpt(body.as_bytes());
        assert!(excerpt.chars().count() < 600, "{}", excerpt.len());
    }
}
