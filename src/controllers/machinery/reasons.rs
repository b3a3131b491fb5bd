//! Every reason a `Ready` or `Synced` condition can carry, in one closed list.
//!
//! The reason is what dashboards, alerts, `kubectl wait` scripts and the book's troubleshooting
//! table key on, so it is never built from text: a pass can only name one of these. The same word
//! is the Event reason of a problem and the `result` label of the reconcile metric.

use crate::aura::ErrorCategory;

macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $name:ident,)+) => {
        /// A condition reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($(#[doc = $doc])* $name,)+
        }

        impl Reason {
            /// Every reason, for docs and tests.
            pub const ALL: &[Reason] = &[$(Reason::$name,)+];

            /// The PascalCase word Kubernetes shows.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name),)+
                }
            }
        }
    };
}

reasons! {
    // Ready True.
    /// The instance runs as specified and its Secret is usable.
    Running,
    /// The instance is paused, as the spec says.
    Paused,
    /// The snapshot is completed.
    Completed,
    /// The session is ready and its Secret written.
    Ready,
    /// Observe-only: the instance (or session) is settled and as the spec says (also Drifted
    /// False).
    InSync,
    /// Synced True: the last pass reached Aura and Kubernetes.
    ReconcileSucceeded,
    /// ConnectionVerified True: the Secret's username and password logged in over Bolt.
    LoggedIn,

    // Progress, and states a pass reports without failing.
    /// Aura is working on the object (creating, updating, pausing, resuming, restoring).
    InProgress,
    /// The instance runs but its password is not in the connection Secret.
    PasswordUnavailable,
    /// Aura reports a status the operator does not know (it keeps looking).
    AuraStatusUnhandled,
    /// Aura reports the instance `loading failed`: a person must repair or replace it.
    LoadingFailed,
    /// Aura reports the instance `suspended`: a person must sort it out with Aura.
    AuraSuspended,
    /// Observe-only: Aura differs from the spec (also Drifted True); the message lists the fields.
    Drifted,
    /// Synced False: the suspend annotation stops every Aura call for this resource.
    Suspended,
    /// The Aura object is gone after cleanup.
    Gone,
    /// Aura reports the session Failed.
    SessionFailed,
    /// The session ended in Aura and `expiredPolicy` is Report; or an AuraInstance's
    /// `expireAfter` passed and the operator deleted it.
    Expired,
    /// Aura reports the snapshot Failed or Cancelled.
    SnapshotFailed,

    // Waits: the pass cannot go on yet and comes back by itself.
    /// Aura does not show an instance created moments ago yet.
    NotVisibleYet,
    /// An instance whose password was lost is being deleted before a new one is created.
    RecreatingInstance,
    /// An ended session is being replaced.
    RecreatingSession,
    /// The resource waits for Aura to finish deleting its instance.
    DeletingInAura,
    /// The `source` or `restore.from` resource does not exist yet.
    SourceNotFound,
    /// The `source` or `restore.from` resource has no Aura object (or no completed snapshot) yet.
    SourceNotReady,
    /// The `instanceRef` resource does not exist yet.
    InstanceRefNotFound,
    /// The `instanceRef` resource has no Aura instance yet.
    InstanceRefNotReady,
    /// A session can only attach to a running instance.
    InstanceNotRunning,
    /// A snapshot cannot be taken of a paused instance.
    InstancePaused,
    /// The instance is busy with another operation.
    InstanceBusy,

    // Problems that need a change (of the spec, a Secret, or in Aura).
    /// A field of the spec is wrong; the message names it.
    InvalidSpec,
    /// The credentials Secret is missing or lacks a key.
    CredentialsInvalid,
    /// The ClusterAuraCredential (or the operator's default credential) may not be used from
    /// this namespace, or for this tenant.
    CredentialNotAllowed,
    /// The spec goes beyond a limit of its ClusterAuraCredential (type, memory, count).
    CredentialLimitExceeded,
    /// The ClusterAuraCredential named by `credentialRef` does not exist.
    CredentialNotFound,
    /// The Aura instance was deleted outside Kubernetes.
    InstanceNotFound,
    /// Several Aura instances carry this resource's name.
    DuplicateInstances,
    /// An instance this operator created lost its password before it reached the Secret.
    PasswordLost,
    /// The operator stopped while sending a restore; it is never resent.
    RestoreOutcomeUnknown,
    /// `deletionProtection` keeps the instance and the resource.
    DeletionProtected,
    /// The snapshot named as a source failed.
    SourceSnapshotFailed,
    /// The snapshot named by `snapshotId` does not exist.
    SnapshotNotFound,
    /// Observe-only: Aura has no live GDS session of the name the spec gives.
    SessionNotFound,
    /// Another resource already manages this Aura object (see `controllers::claims`).
    AlreadyManaged,
    /// The database refused the connection Secret's username and password (ConnectionVerified
    /// False; Ready False too).
    AuthenticationFailed,
    /// ConnectionVerified False: the database locked the Secret's user after too many refused
    /// logins in a row (Neo4j's auth rate limit), so the password is neither confirmed nor
    /// refused; Ready is left as it is and the operator logs in again after the lock.
    AuthenticationRateLimited,
    /// ConnectionVerified False: the database could not be reached over Bolt (network, TLS, a
    /// paused instance); Ready is left as it is.
    Unreachable,

    // Events of a deletion (the resource is gone, so no condition carries them).
    /// An adopted instance was kept: `deletionPolicy: Delete` without the confirmation
    /// annotation that repeats its id.
    DeleteNotConfirmed,

    // Failures of Aura or Kubernetes (from the Aura client's categories).
    /// Aura rejected a request built from the spec.
    AuraValidation,
    /// Aura refused the credential.
    AuraUnauthorized,
    /// Aura has no such object.
    AuraNotFound,
    /// Aura is busy with another operation on the object.
    AuraBusy,
    /// Aura's rate limit answered 429.
    AuraRateLimited,
    /// Aura failed (5xx).
    AuraServerError,
    /// Aura could not be reached.
    AuraUnreachable,
    /// Aura's answer could not be read.
    AuraBadResponse,
    /// A Kubernetes request failed.
    KubernetesError,
}

impl From<ErrorCategory> for Reason {
    fn from(category: ErrorCategory) -> Self {
        match category {
            ErrorCategory::InvalidArgument => Reason::InvalidSpec,
            ErrorCategory::Validation => Reason::AuraValidation,
            ErrorCategory::Unauthorized => Reason::AuraUnauthorized,
            ErrorCategory::NotFound => Reason::AuraNotFound,
            ErrorCategory::Conflict => Reason::AuraBusy,
            ErrorCategory::RateLimited => Reason::AuraRateLimited,
            ErrorCategory::ServerError => Reason::AuraServerError,
            ErrorCategory::Transport => Reason::AuraUnreachable,
            ErrorCategory::Decode => Reason::AuraBadResponse,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aura_categories_keep_their_words() {
        for category in [
            ErrorCategory::Validation,
            ErrorCategory::Unauthorized,
            ErrorCategory::NotFound,
            ErrorCategory::Conflict,
            ErrorCategory::RateLimited,
            ErrorCategory::ServerError,
            ErrorCategory::Transport,
            ErrorCategory::Decode,
        ] {
            assert_eq!(Reason::from(category).as_str(), category.as_str());
        }
    }

    /// The reasons listed in the book's troubleshooting table.
    fn documented() -> std::collections::BTreeSet<String> {
        let page = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/src/operations/troubleshooting.md"
        ));
        let table = page
            .split("| reason | meaning | what to do |")
            .nth(1)
            .expect("the troubleshooting page has the table");
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .flat_map(|line| {
                let first = line.split('|').nth(1).unwrap_or_default();
                first
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_troubleshooting_page_documents_every_reason_and_no_other() {
        let known: std::collections::BTreeSet<String> =
            Reason::ALL.iter().map(|r| r.as_str().to_owned()).collect();
        let documented = documented();
        let missing: Vec<_> = known.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&known).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "docs/src/operations/troubleshooting.md table: missing {missing:?}, not reasons {unknown:?}"
        );
    }

    #[test]
    fn every_reason_is_one_pascal_case_word() {
        for reason in Reason::ALL {
            let word = reason.as_str();
            assert!(
                word.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{word}"
            );
            assert!(word.chars().all(|c| c.is_ascii_alphanumeric()), "{word}");
        }
    }
}
