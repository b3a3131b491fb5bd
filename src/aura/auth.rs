//! OAuth client-credentials: the credential, and the cached access token.
//!
//! Aura tokens live an hour. The cache hands out the same token to every caller until shortly
//! before it expires, then one caller fetches a new one while the others wait for it (a single
//! flight, so a burst of callers never asks for a burst of tokens). A 401 or 403 invalidates the
//! token the failing request used, and only that one, so a token that was already replaced is not
//! thrown away again.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex as StdMutex, RwLock, Weak};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{Error, Result};

/// An Aura API credential (client id and secret from the Aura console).
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: SecretString,
}

impl Credentials {
    /// Checks that neither part is empty.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Result<Self> {
        let client_id = client_id.into().trim().to_owned();
        let client_secret = client_secret.into();
        if client_id.is_empty() {
            return Err(Error::invalid("client_id", "must not be empty"));
        }
        if client_secret.expose_secret().trim().is_empty() {
            return Err(Error::invalid("client_secret", "must not be empty"));
        }
        Ok(Self {
            client_id,
            client_secret,
        })
    }

    /// The client id (not secret: it appears in the Aura console and in logs).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn secret(&self) -> &SecretString {
        &self.client_secret
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub token_type: Option<String>,
}

/// A token handed to one request, with the generation it belongs to.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: SecretString,
    pub generation: u64,
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

/// The cached token of one credential, shared by every client built for it in the process.
///
/// Reads take a short synchronous read lock, so concurrent requests do not queue behind each
/// other; only a refresh takes the async lock that makes it a single flight.
pub(crate) struct TokenCache {
    current: RwLock<Option<Cached>>,
    refresh: Mutex<()>,
    /// Refresh this long before expiry (shortened for very short-lived tokens).
    margin: Duration,
}

impl TokenCache {
    pub fn new(margin: Duration) -> Self {
        Self {
            current: RwLock::new(None),
            refresh: Mutex::new(()),
            margin,
        }
    }

    /// The cache of the credential `key` (token URL and client id) with this secret. A client
    /// built with another secret for the same id (a rotation) gets a cache of its own.
    pub fn for_credential(key: &str, secret: &SecretString, margin: Duration) -> Arc<Self> {
        type Registry = HashMap<String, (SecretString, Weak<TokenCache>)>;
        static REGISTRY: LazyLock<StdMutex<Registry>> = LazyLock::new(Default::default);
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, (_, cache)| cache.strong_count() > 0);
        if let Some((known, cache)) = registry.get(key)
            && known.expose_secret() == secret.expose_secret()
            && let Some(cache) = cache.upgrade()
        {
            return cache;
        }
        let cache = Arc::new(Self::new(margin));
        registry.insert(key.to_owned(), (secret.clone(), Arc::downgrade(&cache)));
        cache
    }

    fn fresh(&self) -> Option<Token> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// The current token, fetching a new one with `fetch` when there is none or it is about to
    /// expire. Concurrent callers wait for the one fetch.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Token>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse>>,
    {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _single_flight = self.refresh.lock().await;
        // Someone else may have refreshed while this caller waited for the lock.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let generation = {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            current.as_ref().map_or(1, |c| c.token.generation + 1)
        };
        let response = fetch().await?;
        let lifetime = Duration::from_secs(response.expires_in.unwrap_or(3600));
        let margin = self.margin.min(lifetime / 4);
        let token = Token {
            value: response.access_token,
            generation,
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        Ok(token)
    }

    /// Forgets the token of `generation` if it is still the cached one.
    pub fn invalidate(&self, generation: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = current.as_mut()
            && cached.token.generation == generation
        {
            cached.refresh_at = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn answer(token: &str, expires_in: u64) -> Result<TokenResponse> {
        Ok(TokenResponse {
            access_token: SecretString::from(token.to_owned()),
            expires_in: Some(expires_in),
            token_type: Some("bearer".into()),
        })
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let creds = Credentials::new("my-id", "super-secret-value".to_owned()).unwrap();
        let text = format!("{creds:?}");
        assert!(text.contains("my-id"));
        assert!(!text.contains("super-secret-value"), "{text}");
    }

    #[test]
    fn empty_credentials_are_rejected_by_field() {
        let err = Credentials::new(" ", "x".to_owned()).unwrap_err();
        assert!(err.to_string().contains("`client_id`"));
        let err = Credentials::new("id", "".to_owned()).unwrap_err();
        assert!(err.to_string().contains("`client_secret`"));
    }

    #[tokio::test(start_paused = true)]
    async fn token_is_reused_then_refreshed_before_expiry() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            answer("t", 3600)
        };
        cache.get(fetch).await.unwrap();
        tokio::time::advance(Duration::from_secs(3500)).await;
        cache.get(fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "still fresh at 3500 s");
        tokio::time::advance(Duration::from_secs(50)).await;
        let token = cache.get(fetch).await.unwrap();
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "refreshed 60 s before expiry"
        );
        assert_eq!(token.generation, 2);
    }

    #[test]
    fn caches_are_shared_per_credential_and_secret() {
        let secret = SecretString::from("s1".to_owned());
        let a = TokenCache::for_credential("u|id", &secret, Duration::from_secs(60));
        let b = TokenCache::for_credential("u|id", &secret, Duration::from_secs(60));
        let rotated = TokenCache::for_credential(
            "u|id",
            &SecretString::from("s2".to_owned()),
            Duration::from_secs(60),
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &rotated));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        answer("t", 3600)
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidating_an_old_generation_keeps_the_new_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let first = cache.get(|| async { answer("a", 3600) }).await.unwrap();
        cache.invalidate(first.generation);
        let second = cache.get(|| async { answer("b", 3600) }).await.unwrap();
        assert_eq!(second.value.expose_secret(), "b");
        cache.invalidate(first.generation);
        let third = cache.get(|| async { answer("c", 3600) }).await.unwrap();
        assert_eq!(
            third.value.expose_secret(),
            "b",
            "a stale 401 must not drop the new token"
        );
    }
}
