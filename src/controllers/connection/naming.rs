//! The Aura-side name of an instance, carrying a fingerprint of the resource.
//!
//! Aura has no labels or tags, and its create call is not idempotent. The name is the one place
//! the operator can leave a mark: `<prefix>-<8 hex characters of the resource UID>`. After a
//! crash between "create sent" and "instance id recorded", the operator lists the tenant's
//! instances and adopts the one carrying its mark instead of creating a second.

use crate::aura::instances::MAX_NAME_LEN;

const FINGERPRINT_LEN: usize = 8;

/// The fingerprint of a resource UID: its first 8 hexadecimal digits.
pub fn fingerprint(uid: &str) -> String {
    uid.chars()
        .filter(char::is_ascii_hexdigit)
        .take(FINGERPRINT_LEN)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// `<prefix>-<fingerprint>`, within Aura's name limit. The prefix is the spec's `auraName`, or
/// `<namespace>-<name>`, shortened to fit and trimmed of white space and dashes at its end.
pub fn aura_name(prefix: Option<&str>, namespace: &str, name: &str, uid: &str) -> String {
    let prefix = match prefix {
        Some(p) if !p.trim().is_empty() => p.trim().to_owned(),
        _ => format!("{namespace}-{name}"),
    };
    let room = MAX_NAME_LEN - FINGERPRINT_LEN - 1;
    let short: String = prefix.chars().take(room).collect();
    let short = short.trim_end_matches(|c: char| c == '-' || c.is_whitespace());
    format!("{short}-{}", fingerprint(uid))
}

/// Whether `text` can be part of a Kubernetes name or label value: 1 to `max_len` lowercase
/// letters, digits and '-', with no '-' at either end.
pub fn is_name_part(text: &str, max_len: usize) -> bool {
    !text.is_empty()
        && text.len() <= max_len
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Whether an Aura instance name carries this resource's mark.
pub fn is_ours(aura_name: &str, uid: &str) -> bool {
    aura_name.ends_with(&format!("-{}", fingerprint(uid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "5f3a9c1e-77b2-4d1a-9e0f-0123456789ab";

    #[test]
    fn names_carry_the_uid_fingerprint_and_fit_aura_s_limit() {
        let name = aura_name(None, "team-graphs", "orders-database-production", UID);
        assert!(name.chars().count() <= MAX_NAME_LEN, "{name}");
        assert!(name.ends_with("-5f3a9c1e"), "{name}");
        assert!(name.starts_with("team-graphs-orders"), "{name}");
        assert!(is_ours(&name, UID));
        assert!(!is_ours(&name, "00000000-77b2-4d1a-9e0f-0123456789ab"));
    }

    #[test]
    fn a_given_prefix_is_used_and_trimmed() {
        assert_eq!(
            aura_name(Some("  orders "), "ns", "x", UID),
            "orders-5f3a9c1e"
        );
        let long = aura_name(Some("a-very-long-name-that-ends-in-dash-"), "ns", "x", UID);
        assert!(!long.contains("--"), "{long}");
        assert_eq!(aura_name(Some(" "), "ns", "x", UID), "ns-x-5f3a9c1e");
    }

    #[test]
    fn the_name_is_stable_for_a_resource() {
        assert_eq!(
            aura_name(None, "a", "b", UID),
            aura_name(None, "a", "b", UID)
        );
    }
}
