//! Building a [`Client`]: endpoint, credential, timeouts, retries and rate budget.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::auth::{Credentials, TokenCache};
use super::client::{CallObserver, Client, Inner};
use super::error::{Error, Result};
use super::ratelimit::{Priority, RateBudget, RateLimit};
use super::retry::RetryPolicy;

/// Aura's public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.neo4j.io/v1";

/// Settings for a [`Client`]. Every field has a sensible default except the credential.
#[derive(Clone)]
pub struct ClientBuilder {
    credentials: Credentials,
    base_url: String,
    token_url: Option<String>,
    allow_insecure_http: bool,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    rate_limit: RateLimit,
    token_refresh_margin: Duration,
    max_response_bytes: usize,
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credentials", &self.credentials)
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Starts from the defaults: Aura's public endpoint, 30 s timeout, 3 retries, 125 requests
    /// per minute.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            base_url: DEFAULT_BASE_URL.to_owned(),
            token_url: None,
            allow_insecure_http: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            rate_limit: RateLimit::default(),
            token_refresh_margin: Duration::from_secs(60),
            max_response_bytes: 8 << 20,
            observer: None,
        }
    }

    /// The API base, e.g. `https://api.neo4j.io/v1`. Must be https unless
    /// [`allow_insecure_http`](Self::allow_insecure_http) is set.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The OAuth token endpoint. Defaults to `/oauth/token` at the base URL's origin (it is not
    /// under `/v1`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Permits plain http, which sends the credential and tokens in clear text. Only for the
    /// local emulator.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Whole-request timeout (per attempt).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connection timeout (per attempt).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retry count and backoff.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Resends after the first attempt (default 3).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The credential's request budget. Shared by all clients of the same credential in the
    /// process; the first one built fixes it.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// How long before expiry a token is replaced (default 60 s).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// Larger responses are refused with a decode error instead of being buffered (default 8 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Called once per HTTP attempt, for metrics.
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        let base = self.parse_endpoint("base_url", &self.base_url)?;
        let token_url = match &self.token_url {
            Some(url) => self.parse_endpoint("token_url", url)?,
            None => base
                .join("/oauth/token")
                .map_err(|e| Error::invalid("base_url", e.to_string()))?,
        };
        if self.timeout.is_zero() {
            return Err(Error::invalid("timeout", "must be greater than zero"));
        }
        if self.rate_limit.per_minute == 0 {
            return Err(Error::invalid(
                "rate_limit.per_minute",
                "must be at least 1",
            ));
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // A redirect could carry the bearer token somewhere else; Aura does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aura-operator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::invalid("http_client", e.to_string()))?;
        // Aura counts requests and issues tokens per credential, so every client of one
        // credential in this process shares one budget and one token.
        let key = format!("{token_url}|{}", self.credentials.client_id());
        let tokens =
            TokenCache::for_credential(&key, self.credentials.secret(), self.token_refresh_margin);
        Ok(Client::from_inner(
            Arc::new(Inner {
                http,
                base: base.as_str().trim_end_matches('/').to_owned(),
                token_url,
                allow_insecure_http: self.allow_insecure_http,
                credentials: self.credentials,
                tokens,
                budget: RateBudget::for_credential(&key, self.rate_limit),
                retry: self.retry,
                max_response_bytes: self.max_response_bytes,
                observer: self.observer,
            }),
            Priority::Interactive,
        ))
    }

    fn parse_endpoint(&self, field: &'static str, raw: &str) -> Result<Url> {
        let url = Url::parse(raw).map_err(|e| Error::invalid(field, format!("{raw:?}: {e}")))?;
        check_scheme(field, &url, self.allow_insecure_http)?;
        Ok(url)
    }
}

/// https always; http only when explicitly allowed.
pub(crate) fn check_scheme(
    field: &'static str,
    url: &Url,
    allow_insecure_http: bool,
) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http => Ok(()),
        "http" => Err(Error::invalid(
            field,
            format!(
                "{url} uses plain http, which would send the credential in clear text; use https \
                 (or allow insecure http explicitly, for the local emulator only)"
            ),
        )),
        other => Err(Error::invalid(
            field,
            format!("unsupported scheme {other:?}"),
        )),
    }
}

/// reqwest is built without a bundled TLS provider; use ring, which kube already links.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("id", "secret".to_owned()).unwrap()
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let err = ClientBuilder::new(creds())
            .base_url("http://api.example.test/v1")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`base_url`"), "{err}");
        assert!(
            ClientBuilder::new(creds())
                .base_url("http://127.0.0.1:1/v1")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn token_url_defaults_to_the_origin_of_the_base_url() {
        let client = ClientBuilder::new(creds()).build().unwrap();
        assert_eq!(
            client.token_url().as_str(),
            "https://api.neo4j.io/oauth/token"
        );
    }

    #[test]
    fn malformed_urls_and_zero_limits_name_their_field() {
        let err = ClientBuilder::new(creds())
            .base_url("not a url")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`base_url`"), "{err}");
        let err = ClientBuilder::new(creds())
            .rate_limit(RateLimit {
                per_minute: 0,
                burst: 1,
            })
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`rate_limit.per_minute`"), "{err}");
    }
}
