//! How a pass stops before its end: it waits for something, or it fails.
//!
//! A wait ([`Wait`]) is progress: something the resource needs is not there or not ready yet,
//! and the pass comes back by itself. A failure ([`Error`]) has a fixed [`Reason`]: the Event
//! reason, the condition reason and the metric label, never built from error text, so
//! dashboards and alerts stay stable. [`Stop`] carries either, so steps can use `?` for both.

use std::time::Duration;

use super::reasons::Reason;
use crate::aura;

/// Everything a pass can fail with.
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
    NeedsAttention { reason: Reason, message: String },
}

/// A pass that cannot go on yet, and when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub reason: Reason,
    pub message: String,
    pub retry: Duration,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a pass stopped before its end.
#[derive(Debug)]
pub enum Stop {
    Wait(Wait),
    Fail(Error),
}

impl From<Wait> for Stop {
    fn from(wait: Wait) -> Self {
        Self::Wait(wait)
    }
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(err: E) -> Self {
        Self::Fail(err.into())
    }
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The fixed reason: Event reason, condition reason, metric label.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidSpec { .. } => Reason::InvalidSpec,
            Self::Credentials(_) => Reason::CredentialsInvalid,
            Self::Aura(e) => e.category().into(),
            Self::Kube(_) => Reason::KubernetesError,
            Self::NeedsAttention { reason, .. } => *reason,
        }
    }

    /// When trying again can help.
    pub fn retry(&self) -> Retry {
        match self {
            Self::InvalidSpec { .. } | Self::Credentials(_) | Self::NeedsAttention { .. } => {
                Retry::AfterChange
            }
            Self::Aura(e) => match e.category() {
                aura::ErrorCategory::RateLimited => match e.api().and_then(|a| a.retry_after) {
                    Some(wait) => Retry::After(wait),
                    None => Retry::Soon,
                },
                aura::ErrorCategory::Conflict
                | aura::ErrorCategory::ServerError
                | aura::ErrorCategory::Transport
                | aura::ErrorCategory::Decode
                | aura::ErrorCategory::NotFound => Retry::Soon,
                aura::ErrorCategory::Unauthorized
                | aura::ErrorCategory::Validation
                | aura::ErrorCategory::InvalidArgument => Retry::AfterChange,
            },
            Self::Kube(_) => Retry::Soon,
        }
    }

    /// An Aura error about a request built from the spec: Aura's (or the client's) complaint
    /// about one field becomes a spec error naming the spec field (`spec_field` maps Aura's
    /// field names to the spec's); anything else stays an Aura error.
    pub fn from_request(err: aura::Error, spec_field: impl Fn(&str) -> String) -> Self {
        match err {
            aura::Error::InvalidArgument { field, problem } => {
                Self::invalid(spec_field(field), problem)
            }
            aura::Error::Api(api) if api.status == 400 && api.field.is_some() => {
                let field = api.field.clone().unwrap_or_default();
                Self::invalid(
                    spec_field(&field),
                    format!("Aura rejected it: {}", api.message),
                )
            }
            other => Self::Aura(other),
        }
    }

    /// Whether only a change (of the spec, a Secret, or in Aura by a person) can help.
    pub fn needs_change(&self) -> bool {
        self.retry() == Retry::AfterChange
    }
}

/// When a failed pass is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Only after something changes; the controller still looks again after a long while.
    AfterChange,
    /// After the controller's transient-error delay, growing with repeated failures.
    Soon,
    /// After this long (Aura's Retry-After).
    After(Duration),
}

/// The result of a pass's step: done, or stopped (waiting or failed).
pub type Result<T, E = Stop> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_wait_for_a_change_and_name_the_field() {
        let err = Error::invalid("memory", "\"3GB\" is not offered");
        assert_eq!(err.to_string(), "spec.memory: \"3GB\" is not offered");
        assert_eq!(err.reason(), Reason::InvalidSpec);
        assert_eq!(err.retry(), Retry::AfterChange);
    }

    #[test]
    fn aura_errors_keep_the_client_category() {
        let err = Error::from(aura::Error::InvalidArgument {
            field: "memory",
            problem: "x".into(),
        });
        assert_eq!(err.reason(), Reason::InvalidSpec);
        let stop = Stop::from(Wait {
            reason: Reason::SourceNotReady,
            message: "m".into(),
            retry: Duration::from_secs(3),
        });
        assert!(matches!(stop, Stop::Wait(w) if w.retry == Duration::from_secs(3)));
        assert!(matches!(Stop::from(err), Stop::Fail(_)));
    }
}
