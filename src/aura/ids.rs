//! Typed identifiers, checked before any request is sent.
//!
//! A malformed id would otherwise become a path like `/instances/../tenants` or a confusing 404;
//! rejecting it here names the field instead.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks the format and wraps the id.
            pub fn new(id: impl Into<String>) -> Result<Self> {
                let id = id.into();
                $check($field, &id)?;
                Ok(Self(id))
            }

            /// The id as sent to Aura.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// An Aura instance id: 8 lower-case hexadecimal characters, e.g. `c9f0d13a`.
    InstanceId, "instance_id", check_instance_id
);
id_type!(
    /// A tenant (project) id: a UUID.
    TenantId, "tenant_id", check_uuid
);
id_type!(
    /// A snapshot id: a UUID.
    SnapshotId, "snapshot_id", check_uuid
);
id_type!(
    /// A customer-managed key id: a UUID.
    CmekId, "customer_managed_key_id", check_uuid
);
id_type!(
    /// A Graph Analytics session id. Its format is not documented (`<instance>-<suffix>` and
    /// `s-…` are seen), so only characters that are safe in a URL path segment are required.
    SessionId, "session_id", check_path_segment
);

fn non_empty(field: &'static str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(())
}

fn check_instance_id(field: &'static str, id: &str) -> Result<()> {
    non_empty(field, id)?;
    let ok = id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !ok {
        return Err(Error::invalid(
            field,
            format!("{id:?} is not an Aura instance id (8 lower-case hexadecimal characters)"),
        ));
    }
    Ok(())
}

fn check_uuid(field: &'static str, id: &str) -> Result<()> {
    non_empty(field, id)?;
    if uuid::Uuid::try_parse(id).is_err() || id.len() != 36 {
        return Err(Error::invalid(
            field,
            format!("{id:?} is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
        ));
    }
    Ok(())
}

fn check_path_segment(field: &'static str, id: &str) -> Result<()> {
    non_empty(field, id)?;
    let ok = id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != "."
        && id != "..";
    if !ok {
        return Err(Error::invalid(
            field,
            format!("{id:?} is not a session id (letters, digits, '-', '_', '.'; at most 128)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_must_be_eight_lower_case_hex_characters() {
        assert!(InstanceId::new("c9f0d13a").is_ok());
        for bad in [
            "",
            "C9F0D13A",
            "c9f0d13",
            "c9f0d13ab",
            "../tenan",
            "zzzzzzzz",
        ] {
            let err = InstanceId::new(bad).unwrap_err();
            assert!(err.to_string().contains("`instance_id`"), "{err}");
        }
    }

    #[test]
    fn uuids_are_checked_and_name_their_field() {
        assert!(TenantId::new("6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10").is_ok());
        let err = SnapshotId::new("not-a-uuid").unwrap_err();
        assert!(err.to_string().contains("`snapshot_id`"), "{err}");
        let err = TenantId::new("   ").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }

    #[test]
    fn session_ids_reject_path_tricks() {
        assert!(SessionId::new("c9f0d13a-4b2c1d0e").is_ok());
        assert!(SessionId::new("..").is_err());
        assert!(SessionId::new("a/b").is_err());
        assert!(SessionId::new("a b").is_err());
    }
}
