//! Aura credentials from Kubernetes Secrets, and one Aura client per credential.
//!
//! A credential is read from the Secret the resource names (`spec.credentialsSecretRef`) or from
//! the operator-wide default Secret. Clients are cached by client id, so every resource using
//! the same credential shares its token and its rate budget; a changed secret (a rotation)
//! replaces the cached client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secrecy::{ExposeSecret, SecretString};

use super::error::Error;

use crate::aura::{self, CallObserver, RateLimit};
use crate::crd::common::{CredentialsSecretRef, default_client_id_key, default_client_secret_key};

type Result<T> = std::result::Result<T, Error>;

/// Where the operator-wide default credential lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretLocation {
    pub namespace: String,
    pub name: String,
}

/// How Aura clients are built.
#[derive(Clone)]
pub struct AuraSettings {
    pub base_url: String,
    pub allow_insecure_http: bool,
    pub rate_limit: RateLimit,
    pub timeout: Duration,
    pub retry: aura::RetryPolicy,
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl Default for AuraSettings {
    fn default() -> Self {
        Self {
            base_url: aura::DEFAULT_BASE_URL.to_owned(),
            allow_insecure_http: false,
            rate_limit: RateLimit::default(),
            timeout: Duration::from_secs(30),
            retry: aura::RetryPolicy::default(),
            observer: None,
        }
    }
}

/// The credential for resources that do not name one.
#[derive(Clone, Default)]
pub enum DefaultCredential {
    /// None: every resource must name a credentials Secret.
    #[default]
    None,
    /// A Secret (keys clientId and clientSecret), read on every pass so rotations apply.
    Secret(SecretLocation),
    /// A credential given directly (the built-in emulator's).
    Fixed {
        client_id: String,
        client_secret: SecretString,
    },
}

/// Aura clients by client id.
pub struct AuraClients {
    settings: AuraSettings,
    default: DefaultCredential,
    cache: Mutex<HashMap<String, (SecretString, aura::Client)>>,
}

impl AuraClients {
    pub fn new(settings: AuraSettings, default: DefaultCredential) -> Self {
        Self {
            settings,
            default,
            cache: Mutex::default(),
        }
    }

    /// The client for the credential a resource in `namespace` uses.
    pub async fn for_resource(
        &self,
        kube: &kube::Client,
        namespace: &str,
        reference: Option<&CredentialsSecretRef>,
    ) -> Result<aura::Client> {
        self.for_resource_held(kube, namespace, reference, false)
            .await
    }

    /// Like [`Self::for_resource`]; with `hold`, a credentials Secret of the resource's own
    /// namespace also gets the hold that keeps it until the resource's cleanup is done (see
    /// [`super::credential_hold`]).
    pub async fn for_resource_held(
        &self,
        kube: &kube::Client,
        namespace: &str,
        reference: Option<&CredentialsSecretRef>,
        hold: bool,
    ) -> Result<aura::Client> {
        let (client_id, secret, source) = self.read(kube, namespace, reference).await?;
        if hold
            && reference.is_some()
            && let Some(source) = &source
        {
            let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
            super::credential_hold::hold(&api, source).await?;
        }
        self.client(&client_id, secret)
    }

    async fn read(
        &self,
        kube: &kube::Client,
        namespace: &str,
        reference: Option<&CredentialsSecretRef>,
    ) -> Result<(String, SecretString, Option<Secret>)> {
        let (location, id_key, secret_key, field) = match (reference, &self.default) {
            (
                None,
                DefaultCredential::Fixed {
                    client_id,
                    client_secret,
                },
            ) => {
                return Ok((client_id.clone(), client_secret.clone(), None));
            }
            (Some(r), _) => (
                SecretLocation {
                    namespace: namespace.to_owned(),
                    name: r.name.clone(),
                },
                r.client_id_key.clone(),
                r.client_secret_key.clone(),
                "spec.credentialsSecretRef",
            ),
            (None, DefaultCredential::Secret(default)) => (
                default.clone(),
                default_client_id_key(),
                default_client_secret_key(),
                "the operator's default credentials Secret",
            ),
            (None, DefaultCredential::None) => {
                return Err(Error::invalid(
                    "credentialsSecretRef",
                    "is required: the operator has no default credentials Secret",
                ));
            }
        };
        let secrets: Api<Secret> = Api::namespaced(kube.clone(), &location.namespace);
        let secret = secrets.get_opt(&location.name).await?.ok_or_else(|| {
            Error::Credentials(format!(
                "{field}: Secret {}/{} not found",
                location.namespace, location.name
            ))
        })?;
        let value = |key: &str| key_value(&secret, key, field, &location);
        let client_id = value(&id_key)?;
        let client_secret = SecretString::from(value(&secret_key)?);
        Ok((client_id, client_secret, Some(secret)))
    }

    /// Each known credential's rate budget, by client id.
    pub fn budgets(&self) -> Vec<(String, Arc<aura::RateBudget>)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .iter()
            .map(|(id, (_, client))| (id.clone(), Arc::clone(client.budget())))
            .collect()
    }

    /// The cached client for this credential, or a new one.
    pub fn client(&self, client_id: &str, secret: SecretString) -> Result<aura::Client> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((known, client)) = cache.get(client_id)
            && known.expose_secret() == secret.expose_secret()
        {
            return Ok(client.clone());
        }
        let credentials = aura::Credentials::new(client_id, secret.clone())
            .map_err(|e| Error::Credentials(e.to_string()))?;
        let mut builder = aura::ClientBuilder::new(credentials)
            .base_url(&self.settings.base_url)
            .allow_insecure_http(self.settings.allow_insecure_http)
            .rate_limit(self.settings.rate_limit)
            .retry(self.settings.retry.clone())
            .timeout(self.settings.timeout);
        if let Some(observer) = &self.settings.observer {
            builder = builder.observer(Arc::clone(observer));
        }
        let client = builder
            .build()
            .map_err(|e| Error::Credentials(e.to_string()))?;
        cache.insert(client_id.to_owned(), (secret, client.clone()));
        Ok(client)
    }
}
/// The text under `key` of a credentials Secret (`data`, or `stringData` as written), trimmed.
/// Errors name `field` (where the Secret was named) and the Secret, never the value.
fn key_value(secret: &Secret, key: &str, field: &str, at: &SecretLocation) -> Result<String> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            let text = secret.string_data.as_ref()?.get(key)?;
            Some(text.clone().into_bytes())
        })
        .ok_or_else(|| {
            let (ns, name) = (&at.namespace, &at.name);
            Error::Credentials(format!("{field}: Secret {ns}/{name} has no key {key:?}"))
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Credentials(format!(
            "{field}: key {key:?} of Secret {} is not UTF-8 text",
            at.name
        ))
    })?;
    Ok(text.trim().to_owned())
}
