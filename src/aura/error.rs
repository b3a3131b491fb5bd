//! The one error type of the Aura client.
//!
//! Four kinds of failure are kept apart because callers act differently on each: an invalid
//! argument is the caller's bug and is caught before any request; a transport error may or may not
//! have reached Aura; an API error is Aura's considered answer; a decode error means Aura answered
//! something we do not understand (the raw body is kept, truncated and with secrets removed).

use std::time::Duration;

use http::{Method, StatusCode};

/// Result alias for the Aura client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to Aura.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value was rejected before any request was sent.
    #[error("invalid argument `{field}`: {problem}")]
    InvalidArgument {
        /// The argument or field at fault, named as the caller knows it.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// The request did not produce an HTTP response (connect, TLS, timeout, reset, body read).
    #[error("{method} {route}: transport error after {attempts} attempt(s): {source}")]
    Transport {
        /// HTTP method of the failed request.
        method: Method,
        /// Route template (ids replaced by placeholders), never the raw URL.
        route: &'static str,
        /// How many times the request was sent.
        attempts: u32,
        /// Whether the request may have reached Aura and acted (false only for connect failures).
        maybe_acted: bool,
        /// The underlying error, with any URL stripped from it.
        #[source]
        source: reqwest::Error,
    },

    /// Aura answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// A single-resource GET answered 2xx, but with a non-empty `errors` array beside `data`.
    /// Like the Aura CLI, the client reads that as "not found" (aura-api.md §10).
    #[error(
        "{method} {route}: Aura answered {status} with errors beside the data, read as not found: {message}"
    )]
    EmbeddedErrors {
        /// HTTP method of the request.
        method: Method,
        /// Route template of the request.
        route: &'static str,
        /// The 2xx status Aura sent.
        status: StatusCode,
        /// Aura's `reason` of the first error.
        reason: Option<String>,
        /// The errors' messages, joined with "; ".
        message: String,
        /// `X-Request-Id` of the response, for Aura support.
        request_id: Option<String>,
    },

    /// Aura answered with a body that could not be understood.
    #[error("{method} {route}: could not decode the {status} response: {problem}; body: {body}")]
    Decode {
        /// HTTP method of the request.
        method: Method,
        /// Route template of the request.
        route: &'static str,
        /// Status of the undecodable response.
        status: StatusCode,
        /// What did not fit.
        problem: String,
        /// The start of the body, with values of secret-looking keys replaced.
        body: String,
        /// `X-Request-Id` of the response, for Aura support.
        request_id: Option<String>,
    },
}

/// An error status from Aura, with everything Aura told us about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP method of the request.
    pub method: Method,
    /// Route template of the request.
    pub route: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// Aura's machine-readable reason of the first error, e.g. `ongoing-database-operation`.
    pub reason: Option<String>,
    /// Human-readable message(s), joined with "; ".
    pub message: String,
    /// The request field Aura blames, on validation errors.
    pub field: Option<String>,
    /// `X-Request-Id` of the response, for Aura support.
    pub request_id: Option<String>,
    /// `Retry-After`, when Aura sent one.
    pub retry_after: Option<Duration>,
    /// How many times the request was sent.
    pub attempts: u32,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: Aura answered {}",
            self.method, self.route, self.status
        )?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        if let Some(field) = &self.field {
            write!(f, " for field `{field}`")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A fixed classification of errors, stable enough to be an Event reason or a metric label.
///
/// Never build a label from error text; use this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    /// Rejected before sending.
    InvalidArgument,
    /// Aura rejected the request as invalid (400, 405, 413, 415, 422).
    Validation,
    /// Credentials are wrong, revoked, or lack permission (401/403 after a token refresh).
    Unauthorized,
    /// The object does not exist (404) or was deleted (410).
    NotFound,
    /// Aura is busy with another operation on the object (409).
    Conflict,
    /// Too many requests (429).
    RateLimited,
    /// Aura failed (5xx).
    ServerError,
    /// No response (connect, TLS, timeout, reset).
    Transport,
    /// A response we could not understand.
    Decode,
}

impl ErrorCategory {
    /// PascalCase name, usable as a Kubernetes Event reason and a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgument",
            Self::Validation => "AuraValidation",
            Self::Unauthorized => "AuraUnauthorized",
            Self::NotFound => "AuraNotFound",
            Self::Conflict => "AuraBusy",
            Self::RateLimited => "AuraRateLimited",
            Self::ServerError => "AuraServerError",
            Self::Transport => "AuraUnreachable",
            Self::Decode => "AuraBadResponse",
        }
    }

    /// Whether trying again later, unchanged, can succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Conflict | Self::RateLimited | Self::ServerError | Self::Transport
        )
    }
}

impl std::fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            problem: problem.into(),
        }
    }

    /// The fixed category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::InvalidArgument { .. } => ErrorCategory::InvalidArgument,
            Self::Transport { .. } => ErrorCategory::Transport,
            Self::Decode { .. } => ErrorCategory::Decode,
            Self::EmbeddedErrors { .. } => ErrorCategory::NotFound,
            Self::Api(api) => match api.status.as_u16() {
                401 | 403 => ErrorCategory::Unauthorized,
                404 | 410 => ErrorCategory::NotFound,
                409 => ErrorCategory::Conflict,
                429 => ErrorCategory::RateLimited,
                500..=599 => ErrorCategory::ServerError,
                _ => ErrorCategory::Validation,
            },
        }
    }

    /// The API error, if Aura answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(api) => Some(api),
            _ => None,
        }
    }

    /// HTTP status of the response, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(api) => Some(api.status),
            Self::Decode { status, .. } | Self::EmbeddedErrors { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Aura's `reason`, if it gave one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::EmbeddedErrors { reason, .. } => reason.as_deref(),
            _ => self.api().and_then(|a| a.reason.as_deref()),
        }
    }

    /// True for 404 and 410, and for a 2xx with errors beside the data: the object is not (or no
    /// longer) there.
    pub fn is_not_found(&self) -> bool {
        self.category() == ErrorCategory::NotFound
    }

    /// True for 409: Aura is busy with another operation; wait and try again.
    pub fn is_busy(&self) -> bool {
        self.category() == ErrorCategory::Conflict
    }

    /// Whether a non-idempotent request that failed this way may nevertheless have taken effect.
    ///
    /// A caller of `create` must look for the object before creating again when this is true.
    pub fn request_may_have_acted(&self) -> bool {
        match self {
            // Only GETs are read this way.
            Self::InvalidArgument { .. } | Self::EmbeddedErrors { .. } => false,
            Self::Transport { maybe_acted, .. } => *maybe_acted,
            // A 2xx we could not read did act; an error status we could not read may have.
            Self::Decode { .. } => true,
            Self::Api(api) => api.status.is_server_error(),
        }
    }

    /// `X-Request-Id` of the response, for Aura support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(api) => api.request_id.as_deref(),
            Self::Decode { request_id, .. } | Self::EmbeddedErrors { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }
}
