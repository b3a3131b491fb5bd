//! Aura's value sets: enums that are strict when we send and tolerant when we read.
//!
//! Aura may add a status or an instance type at any time; a client that failed to decode a whole
//! instance because of one new word would stop an operator. Each enum therefore keeps unknown words
//! in an `Other` variant when reading, while [`parse_known`](CloudProvider::parse_known) rejects
//! them (naming the field) when a value comes from user input.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{Error, Result};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this client does not know yet, kept as Aura sent it.
            Other(String),
        }

        impl $name {
            /// Every value this client knows, as Aura spells it.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The value as Aura spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(other) => other,
                }
            }

            /// Reads any value, keeping unknown ones in `Other`.
            pub fn from_wire(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// Reads a value from user input, rejecting unknown ones with an error naming the field.
            pub fn parse_known(text: &str) -> Result<Self> {
                match Self::from_wire(text) {
                    Self::Other(other) => Err(Error::invalid(
                        $field,
                        format!("{other:?} is not one of {}", Self::KNOWN.join(", ")),
                    )),
                    known => Ok(known),
                }
            }

            /// Whether this is a value the client knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Ok(Self::from_wire(&text))
            }
        }

        /// A plain string in a schema: Aura may send words this client does not know yet.
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string" })
            }
        }
    };
}

string_enum!(
    /// Cloud provider of an instance or session.
    CloudProvider, "cloud_provider" {
        Gcp => "gcp",
        Aws => "aws",
        Azure => "azure",
    }
);

string_enum!(
    /// Aura product tier of an instance.
    InstanceType, "type" {
        FreeDb => "free-db",
        ProfessionalDb => "professional-db",
        ProfessionalDs => "professional-ds",
        EnterpriseDb => "enterprise-db",
        EnterpriseDs => "enterprise-ds",
        BusinessCritical => "business-critical",
    }
);

string_enum!(
    /// Lifecycle status of an instance (lower case; `loading failed` has a space).
    InstanceStatus, "status" {
        Creating => "creating",
        Running => "running",
        Pausing => "pausing",
        Paused => "paused",
        Resuming => "resuming",
        Updating => "updating",
        Overwriting => "overwriting",
        Restoring => "restoring",
        Loading => "loading",
        LoadingFailed => "loading failed",
        Destroying => "destroying",
        /// Seen in fixtures after DELETE instead of `destroying`.
        Deleting => "deleting",
        Suspending => "suspending",
        Suspended => "suspended",
    }
);

impl InstanceStatus {
    /// True while an operation is in flight; Aura answers 409 to mutations in these states.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Creating
                | Self::Pausing
                | Self::Resuming
                | Self::Updating
                | Self::Overwriting
                | Self::Restoring
                | Self::Loading
                | Self::Destroying
                | Self::Deleting
                | Self::Suspending
        )
    }

    /// True once a delete has been accepted.
    pub fn is_being_deleted(&self) -> bool {
        matches!(self, Self::Destroying | Self::Deleting)
    }
}

string_enum!(
    /// Change-data-capture enrichment mode.
    CdcEnrichmentMode, "cdc_enrichment_mode" {
        Off => "OFF",
        Diff => "DIFF",
        Full => "FULL",
    }
);

string_enum!(
    /// Snapshot status (capitalised, unlike instance statuses).
    SnapshotStatus, "status" {
        Pending => "Pending",
        InProgress => "InProgress",
        Completed => "Completed",
        Failed => "Failed",
        Cancelled => "Cancelled",
    }
);

impl SnapshotStatus {
    /// True once the snapshot will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

string_enum!(
    /// Why a snapshot was taken.
    SnapshotProfile, "profile" {
        AdHoc => "AdHoc",
        Scheduled => "Scheduled",
    }
);

string_enum!(
    /// Customer-managed key status.
    CmekStatus, "status" {
        Pending => "pending",
        Ready => "ready",
    }
);

string_enum!(
    /// Graph Analytics session status. A session that was just created may report `""`.
    SessionStatus, "status" {
        Starting => "",
        Creating => "Creating",
        Ready => "Ready",
        Failed => "Failed",
        Expired => "Expired",
        Deleted => "Deleted",
    }
);

impl SessionStatus {
    /// Expired or deleted: the session does not come back.
    pub fn has_ended(&self) -> bool {
        matches!(self, Self::Expired | Self::Deleted)
    }
}

string_enum!(
    /// Algorithm category used by the session size estimate.
    AlgorithmCategory, "algorithm_categories" {
        Centrality => "centrality",
        CommunityDetection => "community-detection",
        NodeEmbedding => "node-embedding",
        PathFinding => "path-finding",
        Similarity => "similarity",
        LinkPrediction => "link-prediction",
    }
);

/// Memory sizes an instance can have.
pub const INSTANCE_MEMORY: &[&str] = &[
    "1GB", "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "128GB", "192GB", "256GB",
    "384GB", "512GB",
];

/// Storage sizes an instance can have.
pub const INSTANCE_STORAGE: &[&str] = &[
    "2GB", "4GB", "8GB", "16GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
    "384GB", "512GB", "768GB", "1024GB", "1536GB", "2048GB",
];

/// Memory sizes a Graph Analytics session can have.
pub const SESSION_MEMORY: &[&str] = &[
    "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
    "384GB", "512GB",
];

/// Neo4j versions an instance can be created with.
pub const VERSIONS: &[&str] = &["4", "5"];

/// Checks `value` against a value set, naming `field` on failure.
pub(crate) fn check_in(field: &'static str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("{value:?} is not one of {}", allowed.join(", ")),
    ))
}

/// Parses a size like `8GB` (or `4Gi`, as GDS sessions may answer) into gigabytes.
pub fn size_in_gb(size: &str) -> Option<u32> {
    let size = size.trim();
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let number: u32 = digits.parse().ok()?;
    matches!(unit, "GB" | "Gi" | "G" | "GiB").then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_kept_when_reading_and_rejected_from_input() {
        let status: InstanceStatus = serde_json::from_str("\"hibernating\"").unwrap();
        assert_eq!(status, InstanceStatus::Other("hibernating".into()));
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"hibernating\"");

        let err = InstanceType::parse_known("mega-db").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`type`") && text.contains("professional-db"),
            "{text}"
        );
    }

    #[test]
    fn loading_failed_keeps_its_space() {
        let status: InstanceStatus = serde_json::from_str("\"loading failed\"").unwrap();
        assert_eq!(status, InstanceStatus::LoadingFailed);
        assert!(!status.is_transient());
    }

    #[test]
    fn sizes_parse_in_both_spellings() {
        assert_eq!(size_in_gb("8GB"), Some(8));
        assert_eq!(size_in_gb("4Gi"), Some(4));
        assert_eq!(size_in_gb("GB"), None);
        assert_eq!(size_in_gb("8TB"), None);
    }

    #[test]
    fn value_set_check_names_the_field() {
        let err = check_in("memory", "3GB", INSTANCE_MEMORY).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid argument `memory`"),
            "{err}"
        );
    }
}
