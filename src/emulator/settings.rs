//! Settings that can change while the emulator runs, from Rust or over `/_emulator/settings`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::server::Shared;

/// The run-time settings now in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Window after a create in which the instance is invisible to GETs and lists.
    pub invisible_after_create_ms: u64,
    /// Requests per credential per minute; `null` when the limiter is off.
    pub rate_limit_per_minute: Option<u32>,
    /// What a successful overwrite answers: `"instance"` (default) or `"job"`.
    pub overwrite_answer: OverwriteAnswer,
    /// `Retry-After` seconds every 429 of the rate limiter carries, however long the window stays
    /// full (a header that understates the wait); `null` for the exact wait (default).
    #[serde(default)]
    pub fixed_retry_after_seconds: Option<u64>,
}

/// The body of a successful `POST /instances/{id}/overwrite`. Sources disagree
/// (shared/aura-api.md §4.4 and §10): the Aura CLI's fixtures show the Instance object, the Go
/// client decodes `{"data": "<job id>"}`. The Instance form is the default; the job form can be
/// switched on so clients are tested against both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverwriteAnswer {
    /// `{"data": <Instance in status overwriting>}`.
    #[default]
    Instance,
    /// `{"data": "<job id>"}`.
    Job,
}

/// Body of `PATCH /_emulator/settings`: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsPatch {
    #[serde(default)]
    pub invisible_after_create_ms: Option<u64>,
    /// `null` or 0 turns the limiter off; absent leaves it as it is.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit_per_minute: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite_answer: Option<OverwriteAnswer>,
    /// `null` goes back to the exact wait; absent leaves it as it is.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_retry_after_seconds: Option<Option<u64>>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

pub(crate) fn current(shared: &Shared) -> Settings {
    let window = shared.store().invisible_after_create;
    Settings {
        invisible_after_create_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        rate_limit_per_minute: shared.rate_limit(),
        overwrite_answer: shared.store().overwrite_answer,
        fixed_retry_after_seconds: shared.fixed_retry_after(),
    }
}

pub(crate) fn apply(shared: &Shared, patch: &SettingsPatch) -> Settings {
    if let Some(ms) = patch.invisible_after_create_ms {
        shared.store().invisible_after_create = Duration::from_millis(ms);
    }
    if let Some(limit) = patch.rate_limit_per_minute {
        shared.set_rate_limit(limit);
    }
    if let Some(seconds) = patch.fixed_retry_after_seconds {
        shared.set_fixed_retry_after(seconds);
    }
    if let Some(answer) = patch.overwrite_answer {
        shared.store().overwrite_answer = answer;
    }
    current(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_null_from_absent() {
        let absent: SettingsPatch = serde_json::from_str("{}").expect("parses");
        assert_eq!(absent.rate_limit_per_minute, None);
        let off: SettingsPatch =
            serde_json::from_str(r#"{"rate_limit_per_minute": null}"#).expect("parses");
        assert_eq!(off.rate_limit_per_minute, Some(None));
        let five: SettingsPatch =
            serde_json::from_str(r#"{"rate_limit_per_minute": 5}"#).expect("parses");
        assert_eq!(five.rate_limit_per_minute, Some(Some(5)));
        let job: SettingsPatch =
            serde_json::from_str(r#"{"overwrite_answer": "job"}"#).expect("parses");
        assert_eq!(job.overwrite_answer, Some(OverwriteAnswer::Job));
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"overwrite_answer": "x"}"#).is_err());
        let exact: SettingsPatch =
            serde_json::from_str(r#"{"fixed_retry_after_seconds": null}"#).expect("parses");
        assert_eq!(exact.fixed_retry_after_seconds, Some(None));
        assert_eq!(absent.fixed_retry_after_seconds, None);
    }
}
