//! The HTTP core shared by every resource handle: token, rate budget, retries, envelopes, errors.
//!
//! Resource modules describe a request as a [`Call`] and get back the decoded `data` of Aura's
//! `{"data": …}` envelope. Everything about getting there lives here, once.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::auth::{Credentials, Token, TokenCache, TokenResponse};
use super::error::{ApiError, Error, Result};
use super::ratelimit::{Priority, RateBudget};
use super::redact::{body_excerpt, parse_error_body};
use super::retry::{Failure, RetryPolicy, parse_retry_after};

/// Route template of the token endpoint, for errors and metrics.
pub const TOKEN_ROUTE: &str = "/oauth/token";

/// Receives one record per HTTP attempt (token requests included), for metrics.
pub trait CallObserver: Send + Sync {
    /// `status` is `None` when no response arrived.
    fn on_attempt(
        &self,
        method: &Method,
        route: &'static str,
        status: Option<StatusCode>,
        elapsed: Duration,
    );

    /// How long a request waited for the credential's rate budget before it was sent.
    fn on_budget_wait(&self, _priority: Priority, _waited: Duration) {}
}

/// A cloneable Aura API client. Clones share the token, the rate budget and the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    priority: Priority,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("credentials", &self.inner.credentials)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base: String,
    pub token_url: Url,
    pub allow_insecure_http: bool,
    pub credentials: Credentials,
    pub tokens: Arc<TokenCache>,
    pub budget: Arc<RateBudget>,
    pub retry: RetryPolicy,
    pub max_response_bytes: usize,
    pub observer: Option<Arc<dyn CallObserver>>,
}

/// Where a call goes.
pub(crate) enum Target {
    /// A path under the base URL, e.g. `/instances/c9f0d13a`.
    Api(String),
    /// An absolute URL that Aura handed out (metrics endpoints).
    Absolute(Url),
}

/// One logical request, before retries.
pub(crate) struct Call {
    pub method: Method,
    /// Route template with placeholders, e.g. `/instances/{instanceId}`.
    pub route: &'static str,
    pub target: Target,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// Safe to send twice after it may have reached Aura.
    pub idempotent: bool,
}

impl Call {
    pub fn get(route: &'static str, path: impl Into<String>) -> Self {
        Self::new(Method::GET, route, path, true)
    }

    pub fn new(
        method: Method,
        route: &'static str,
        path: impl Into<String>,
        idempotent: bool,
    ) -> Self {
        Self {
            method,
            route,
            target: Target::Api(path.into()),
            query: Vec::new(),
            body: None,
            idempotent,
        }
    }

    pub fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    pub fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let value =
            serde_json::to_value(body).map_err(|e| Error::invalid("body", e.to_string()))?;
        self.body = Some(value);
        Ok(self)
    }
}

/// A successful response, before the envelope is opened.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub request_id: Option<String>,
    pub body: Vec<u8>,
    method: Method,
    route: &'static str,
}

impl Reply {
    /// Decodes the whole body as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.decode_error(e.to_string()))
    }

    /// Decodes `{"data": T}`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            data: T,
        }
        self.decode::<Envelope<T>>().map(|e| e.data)
    }

    pub fn decode_error(&self, problem: String) -> Error {
        Error::Decode {
            method: self.method.clone(),
            route: self.route,
            status: self.status,
            problem,
            body: body_excerpt(&self.body),
            request_id: self.request_id.clone(),
        }
    }
}

impl Client {
    pub(crate) fn from_inner(inner: Arc<Inner>, priority: Priority) -> Self {
        Self { inner, priority }
    }

    /// A clone whose requests queue for the rate budget with `priority`.
    pub fn with_priority(&self, priority: Priority) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            priority,
        }
    }

    /// The credential's shared request budget.
    pub fn budget(&self) -> &Arc<RateBudget> {
        &self.inner.budget
    }

    /// The OAuth token endpoint in use.
    pub fn token_url(&self) -> &Url {
        &self.inner.token_url
    }

    /// The client id of the credential (not secret).
    pub fn client_id(&self) -> &str {
        self.inner.credentials.client_id()
    }

    pub(crate) fn allow_insecure_http(&self) -> bool {
        self.inner.allow_insecure_http
    }

    /// Sends `call` with token, budget and retries, and returns the 2xx reply.
    pub(crate) async fn send(&self, call: Call) -> Result<Reply> {
        let mut attempts = 0;
        let mut retries = 0;
        let mut refreshed_token = false;
        loop {
            attempts += 1;
            let token = self.token().await?;
            let failure = match self.attempt(&call, &token).await {
                Ok(reply) if reply.status.is_success() => return Ok(reply),
                Ok(reply) if is_auth_failure(reply.status) && !refreshed_token => {
                    // The token may have expired early or been revoked: one new token, one resend.
                    // Safe for any method, since Aura rejected the request before acting on it.
                    tracing::debug!(route = call.route, status = %reply.status, "token refused; refreshing once");
                    self.inner.tokens.invalidate(token.generation);
                    refreshed_token = true;
                    continue;
                }
                Ok(reply) => AttemptError::Status(reply),
                Err(err) => err,
            };
            let (kind, retry_after) = failure.retry_facts();
            match self
                .inner
                .retry
                .next_delay(retries, kind, call.idempotent, retry_after)
            {
                Some(delay) => {
                    tracing::debug!(
                        route = call.route,
                        ?kind,
                        ?delay,
                        retries,
                        "retrying Aura request"
                    );
                    retries += 1;
                    tokio::time::sleep(delay).await;
                }
                None => return Err(failure.into_error(&call, attempts)),
            }
        }
    }

    /// One HTTP exchange, after the budget admits it.
    async fn attempt(&self, call: &Call, token: &Token) -> Result<Reply, AttemptError> {
        let url = match &call.target {
            Target::Api(path) => format!("{}{path}", self.inner.base),
            Target::Absolute(url) => url.to_string(),
        };
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token.value.expose_secret())
            .header(http::header::ACCEPT, "application/json");
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        } else if call.method == Method::POST {
            // Aura's bodyless POSTs (pause, resume, snapshot) accept an empty JSON object.
            request = request.json(&serde_json::json!({}));
        }
        self.exchange(&call.method, call.route, request).await
    }

    /// Sends a prepared request through the budget and reads the reply with a size cap.
    async fn exchange(
        &self,
        method: &Method,
        route: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, AttemptError> {
        let asked = Instant::now();
        let admission = self.inner.budget.acquire(self.priority).await;
        let started = Instant::now();
        if let Some(observer) = &self.inner.observer {
            observer.on_budget_wait(self.priority, started - asked);
        }
        let outcome = self.read(method, route, request).await;
        let status = match &outcome {
            Ok(reply) => Some(reply.status),
            Err(AttemptError::Status(reply) | AttemptError::StatusWithRetryAfter(reply, _)) => {
                Some(reply.status)
            }
            Err(_) => None,
        };
        // The budget is shared by every caller of the credential, so what Aura says about the
        // rate goes there, not only to this caller's retry loop.
        match status {
            Some(StatusCode::TOO_MANY_REQUESTS) => {
                let retry_after = match &outcome {
                    Err(AttemptError::StatusWithRetryAfter(_, wait)) => Some(*wait),
                    _ => None,
                };
                self.inner.budget.on_rate_limited(admission, retry_after);
            }
            Some(_) => self.inner.budget.on_answered(admission),
            None => {}
        }
        if let Some(observer) = &self.inner.observer {
            observer.on_attempt(method, route, status, started.elapsed());
        }
        tracing::debug!(%method, route, status = ?status.map(|s| s.as_u16()), elapsed_ms = started.elapsed().as_millis() as u64, "aura call");
        outcome
    }

    async fn read(
        &self,
        method: &Method,
        route: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, AttemptError> {
        let mut response = request.send().await.map_err(AttemptError::transport)?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.inner.max_response_bytes {
                        return Err(AttemptError::TooLarge {
                            status,
                            request_id,
                            limit: self.inner.max_response_bytes,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // Headers arrived, so the request reached Aura: the body was lost, not the request.
                Err(err) => return Err(AttemptError::Lost(err)),
            }
        }
        let reply = Reply {
            status,
            request_id,
            body,
            method: method.clone(),
            route,
        };
        if status.is_success() || is_auth_failure(status) {
            return Ok(reply);
        }
        Err(AttemptError::Status(reply).with_retry_after(retry_after))
    }

    /// A valid access token, fetching one when needed.
    async fn token(&self) -> Result<Token> {
        self.inner.tokens.get(|| self.fetch_token()).await
    }

    /// POST /oauth/token with Basic auth and a form body. Retried like an idempotent request:
    /// asking for a token twice does no harm.
    async fn fetch_token(&self) -> Result<TokenResponse> {
        let method = Method::POST;
        let call = Call::new(Method::POST, TOKEN_ROUTE, String::new(), true);
        let mut retries = 0;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self
                .inner
                .http
                .post(self.inner.token_url.clone())
                .basic_auth(
                    self.inner.credentials.client_id(),
                    Some(self.inner.credentials.secret().expose_secret()),
                )
                .form(&[("grant_type", "client_credentials")]);
            let failure = match self.exchange(&method, TOKEN_ROUTE, request).await {
                Ok(reply) if reply.status.is_success() => return decode_token(&reply),
                Ok(reply) => AttemptError::Status(reply),
                Err(err) => err,
            };
            let (kind, retry_after) = failure.retry_facts();
            match self
                .inner
                .retry
                .next_delay(retries, kind, true, retry_after)
            {
                Some(delay) => {
                    retries += 1;
                    tokio::time::sleep(delay).await;
                }
                None => return Err(failure.into_error(&call, attempts)),
            }
        }
    }
}

fn decode_token(reply: &Reply) -> Result<TokenResponse> {
    let token: TokenResponse = reply.decode()?;
    if let Some(kind) = &token.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(reply.decode_error(format!("token_type {kind:?} is not bearer")));
    }
    if token.access_token.expose_secret().is_empty() {
        return Err(reply.decode_error("empty access_token".to_owned()));
    }
    Ok(token)
}

fn is_auth_failure(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

/// How one attempt failed, before it becomes an [`Error`].
enum AttemptError {
    NotSent(reqwest::Error),
    Lost(reqwest::Error),
    Status(Reply),
    StatusWithRetryAfter(Reply, Duration),
    TooLarge {
        status: StatusCode,
        request_id: Option<String>,
        limit: usize,
    },
}

impl AttemptError {
    fn transport(err: reqwest::Error) -> Self {
        if err.is_connect() {
            Self::NotSent(err)
        } else {
            Self::Lost(err)
        }
    }

    fn with_retry_after(self, retry_after: Option<Duration>) -> Self {
        match (self, retry_after) {
            (Self::Status(reply), Some(wait)) => Self::StatusWithRetryAfter(reply, wait),
            (other, _) => other,
        }
    }

    fn retry_facts(&self) -> (Failure, Option<Duration>) {
        match self {
            Self::NotSent(_) => (Failure::NotSent, None),
            Self::Lost(_) => (Failure::Lost, None),
            Self::Status(reply) => (Failure::Status(reply.status), None),
            Self::StatusWithRetryAfter(reply, wait) => (Failure::Status(reply.status), Some(*wait)),
            // Resending will not make the body smaller.
            Self::TooLarge { .. } => (Failure::Final, None),
        }
    }

    fn into_error(self, call: &Call, attempts: u32) -> Error {
        match self {
            Self::NotSent(source) | Self::Lost(source) => Error::Transport {
                method: call.method.clone(),
                route: call.route,
                attempts,
                maybe_acted: !source.is_connect(),
                source: source.without_url(),
            },
            Self::Status(reply) => api_error(call, &reply, None, attempts),
            Self::StatusWithRetryAfter(reply, wait) => {
                api_error(call, &reply, Some(wait), attempts)
            }
            Self::TooLarge {
                status,
                request_id,
                limit,
            } => Error::Decode {
                method: call.method.clone(),
                route: call.route,
                status,
                problem: format!("response body larger than {limit} bytes"),
                body: String::new(),
                request_id,
            },
        }
    }
}

fn api_error(call: &Call, reply: &Reply, retry_after: Option<Duration>, attempts: u32) -> Error {
    let parsed = parse_error_body(&reply.body);
    Error::Api(Box::new(ApiError {
        method: call.method.clone(),
        route: call.route,
        status: reply.status,
        reason: parsed.reason,
        message: parsed
            .message
            .unwrap_or_else(|| reply.status.canonical_reason().unwrap_or("").to_owned()),
        field: parsed.field,
        request_id: reply.request_id.clone(),
        retry_after,
        attempts,
    }))
}
