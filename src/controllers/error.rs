//! Controller errors, each with a fixed category.
//!
//! The category (a PascalCase word) is the Kubernetes Event reason, the condition reason and the
//! metric label. It is never built from error text, so dashboards and alerts stay stable.

use std::time::Duration;

use crate::aura;

/// Everything a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for something that cannot be done; waiting will not help, a spec change will.
    #[error("spec.{field}: {message}")]
    InvalidSpec { field: String, message: String },

    /// The Aura credential could not be read.
    #[error("credentials: {0}")]
    Credentials(String),

    /// Aura refused or failed.
    #[error("Aura: {0}")]
    Aura(#[from] aura::Error),

    /// The Kubernetes API refused or failed.
    #[error("Kubernetes: {0}")]
    Kube(#[from] kube::Error),

    /// The operator found a state it will not resolve on its own; a person must look.
    #[error("{message}")]
    NeedsAttention { reason: &'static str, message: String },

    /// A referenced resource is not there or not ready yet.
    #[error("{message}")]
    Waiting { reason: &'static str, message: String, retry: Duration },
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidSpec { field: field.into(), message: message.into() }
    }

    /// The fixed category: Event reason, condition reason, metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::InvalidSpec { .. } => "InvalidSpec",
            Self::Credentials(_) => "CredentialsInvalid",
            Self::Aura(e) => match e {
                // Aura's own validation of a request we built from the spec is a spec problem.
                aura::Error::InvalidArgument { .. } => "InvalidSpec",
                other => other.category().as_str(),
            },
            Self::Kube(_) => "KubernetesError",
            Self::NeedsAttention { reason, .. } | Self::Waiting { reason, .. } => reason,
        }
    }

    /// How long until trying again helps, or `None` when only a change of the spec (or of the
    /// credential Secret) can help.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::InvalidSpec { .. } | Self::Credentials(_) | Self::NeedsAttention { .. } => None,
            Self::Waiting { retry, .. } => Some(*retry),
            Self::Aura(e) => match e.category() {
                aura::ErrorCategory::Conflict => Some(Duration::from_secs(10)),
                aura::ErrorCategory::RateLimited => Some(
                    e.api().and_then(|a| a.retry_after).unwrap_or(Duration::from_secs(30)).max(Duration::from_secs(5)),
                ),
                aura::ErrorCategory::ServerError | aura::ErrorCategory::Transport | aura::ErrorCategory::Decode => {
                    Some(Duration::from_secs(15))
                }
                aura::ErrorCategory::NotFound => Some(Duration::from_secs(60)),
                aura::ErrorCategory::Unauthorized
                | aura::ErrorCategory::Validation
                | aura::ErrorCategory::InvalidArgument => None,
            },
            Self::Kube(_) => Some(Duration::from_secs(5)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_wait_for_a_change_and_name_the_field() {
        let err = Error::invalid("memory", "\"3GB\" is not offered");
        assert_eq!(err.to_string(), "spec.memory: \"3GB\" is not offered");
        assert_eq!(err.category(), "InvalidSpec");
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn aura_errors_keep_the_client_category() {
        let err = Error::from(aura::Error::InvalidArgument { field: "memory", problem: "x".into() });
        assert_eq!(err.category(), "InvalidSpec");
        let waiting = Error::Waiting { reason: "SourceNotReady", message: "m".into(), retry: Duration::from_secs(3) };
        assert_eq!(waiting.category(), "SourceNotReady");
        assert_eq!(waiting.retry_after(), Some(Duration::from_secs(3)));
    }
}
