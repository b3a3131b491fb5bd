//! Value sets from the API reference (§5) and the small validators built on them.

use super::error::ApiError;

pub const INSTANCE_TYPES: &[&str] = &[
    "free-db",
    "professional-db",
    "professional-ds",
    "enterprise-db",
    "enterprise-ds",
    "business-critical",
];

pub const INSTANCE_MEMORY: &[&str] = &[
    "1GB", "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "128GB", "192GB", "256GB",
    "384GB", "512GB",
];

pub const STORAGE: &[&str] = &[
    "2GB", "4GB", "8GB", "16GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
    "384GB", "512GB", "768GB", "1024GB", "1536GB", "2048GB",
];

pub const CLOUD_PROVIDERS: &[&str] = &["gcp", "aws", "azure"];

pub const CDC_MODES: &[&str] = &["OFF", "DIFF", "FULL"];

pub const GDS_MEMORY: &[&str] = &[
    "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
    "384GB", "512GB",
];

/// Longest instance name accepted. Aura's own limit is undocumented; the Go client rejects more
/// than 30 characters, so the emulator does too and a client that passes here passes there.
pub const MAX_NAME_CHARS: usize = 30;

/// Gigabytes in a `NGB` value.
pub fn gigabytes(value: &str) -> Option<u32> {
    value.strip_suffix("GB")?.parse().ok()
}

/// Name rule: non-empty, no leading or trailing whitespace, at most [`MAX_NAME_CHARS`] characters.
pub fn validate_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if name.trim() != name {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must not start or end with whitespace"),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A required string field: present and non-empty.
pub fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, ApiError> {
    match value.as_deref() {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ApiError::invalid_field(
            field,
            format!("{field} is required"),
        )),
    }
}

/// Parses a Go-style duration (`1h`, `20m0s`, `42s`, `42.0s`, `1h30m`, `500ms`).
pub fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations_in_the_forms_aura_echoes_parse() {
        assert_eq!(parse_go_duration("8m"), Some(Duration::from_secs(480)));
        assert_eq!(parse_go_duration("20m0s"), Some(Duration::from_secs(1200)));
        assert_eq!(parse_go_duration("42.0s"), Some(Duration::from_secs(42)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("forever"), None);
    }

    #[test]
    fn names_with_padding_or_too_long_are_rejected() {
        assert!(validate_name("name", "ok").is_ok());
        assert!(validate_name("name", " padded").is_err());
        assert!(validate_name("name", &"x".repeat(31)).is_err());
    }
}
