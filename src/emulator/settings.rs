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
    }
}

pub(crate) fn apply(shared: &Shared, patch: &SettingsPatch) -> Settings {
    if let Some(ms) = patch.invisible_after_create_ms {
        shared.store().invisible_after_create = Duration::from_millis(ms);
    }
    if let Some(limit) = patch.rate_limit_per_minute {
        shared.set_rate_limit(limit);
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
    }
}
