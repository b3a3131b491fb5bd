//! Aura credentials from Kubernetes Secrets, and one Aura client per credential.
//!
//! A credential is read from the Secret the resource names (`spec.credentialsSecretRef`), from
//! the Secret of the ClusterAuraCredential it names (`spec.credentialRef`, if that allows the
//! resource's namespace; see [`super::access`]), or from the operator-wide default (if the
//! operator allows it for the namespace). Clients are cached by client id, so every resource using
//! the same credential shares its token and its rate budget; a changed secret (a rotation)
//! replaces the cached client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secrecy::{ExposeSecret, SecretString};

use super::access::{NamespaceAllow, Restrictions, refused};
use super::installation::InstallationClass;
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::reasons::Reason;

use crate::aura::{self, CallObserver, RateLimit};
use crate::crd::common::{CredentialsSecretRef, default_client_id_key, default_client_secret_key};
use crate::crd::credential::{ClusterAuraCredential, ClusterAuraCredentialSpec, CredentialRef};

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

impl AuraSettings {
    /// The settings `run` and `plan` take from their flags: where Aura is, whether plain http
    /// is allowed (the emulator's), and the budget per credential; the rest as default.
    pub fn from_flags(base_url: &str, allow_insecure_http: bool, per_minute: u32) -> Self {
        Self {
            base_url: base_url.to_owned(),
            allow_insecure_http,
            rate_limit: RateLimit {
                per_minute,
                ..RateLimit::default()
            },
            ..Self::default()
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

/// Which credential a resource uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A Secret of the resource's namespace (`credentialsSecretRef`).
    Secret(CredentialsSecretRef),
    /// A ClusterAuraCredential (`credentialRef`).
    Cluster(String),
    /// The operator-wide default credential.
    Default,
}

impl CredentialSource {
    /// The credential a resource names (the schema allows one of the two at most).
    pub fn named(
        secret: Option<&CredentialsSecretRef>,
        cluster: Option<&CredentialRef>,
    ) -> Option<Self> {
        match (secret, cluster) {
            (Some(secret), _) => Some(Self::Secret(secret.clone())),
            (None, Some(cluster)) => Some(Self::Cluster(cluster.name.clone())),
            (None, None) => None,
        }
    }

    /// The Secret of the resource's namespace, if that is the source.
    pub fn secret(&self) -> Option<&CredentialsSecretRef> {
        match self {
            Self::Secret(secret) => Some(secret),
            _ => None,
        }
    }

    /// The ClusterAuraCredential, if that is the source.
    pub fn cluster(&self) -> Option<CredentialRef> {
        match self {
            Self::Cluster(name) => Some(CredentialRef { name: name.clone() }),
            _ => None,
        }
    }
}

/// A client for a resource, with what its credential still restricts (tenants, limits).
pub struct Grant {
    pub client: aura::Client,
    pub restrictions: Restrictions,
}

/// Aura clients by client id, and who may use the shared credentials.
pub struct AuraClients {
    settings: AuraSettings,
    default: DefaultCredential,
    /// Namespaces allowed to use the default credential.
    default_namespaces: NamespaceAllow,
    /// Where the Secrets of ClusterAuraCredentials live unless they name a namespace.
    operator_namespace: String,
    /// The installation class: only ClusterAuraCredentials of this class are served.
    class: InstallationClass,
    cache: Mutex<HashMap<String, (SecretString, aura::Client)>>,
}

impl AuraClients {
    /// Clients with `default` usable from every namespace, and ClusterAuraCredential Secrets in
    /// the namespace "default"; see [`Self::with_access`].
    pub fn new(settings: AuraSettings, default: DefaultCredential) -> Self {
        Self {
            settings,
            default,
            default_namespaces: NamespaceAllow::all(),
            operator_namespace: "default".to_owned(),
            class: InstallationClass::default(),
            cache: Mutex::default(),
        }
    }

    /// The operator's namespace (where ClusterAuraCredential Secrets live) and the namespaces
    /// that may use the default credential.
    pub fn with_access(
        mut self,
        operator_namespace: impl Into<String>,
        default_namespaces: NamespaceAllow,
    ) -> Self {
        self.operator_namespace = operator_namespace.into();
        self.default_namespaces = default_namespaces;
        self
    }

    /// The installation class whose ClusterAuraCredentials (and resources) this operator
    /// serves; the default installation's unless set.
    pub fn with_class(mut self, class: InstallationClass) -> Self {
        self.class = class;
        self
    }

    pub fn operator_namespace(&self) -> &str {
        &self.operator_namespace
    }

    pub fn class(&self) -> &InstallationClass {
        &self.class
    }

    /// The namespace of a ClusterAuraCredential's Secret: the one it names, else the
    /// operator's.
    pub fn secret_namespace<'a>(&'a self, spec: &'a ClusterAuraCredentialSpec) -> &'a str {
        spec.secret_ref
            .namespace
            .as_deref()
            .unwrap_or(&self.operator_namespace)
    }

    /// The client for the credential a resource in `namespace` uses.
    pub async fn for_resource(
        &self,
        kube: &kube::Client,
        namespace: &str,
        source: &CredentialSource,
    ) -> Result<Grant> {
        self.for_resource_held(kube, namespace, source, false).await
    }

    /// Like [`Self::for_resource`]; with `hold`, a credentials Secret of the resource's own
    /// namespace also gets the hold that keeps it until the resource's cleanup is done (see
    /// [`super::credential_hold`]). Refuses a shared credential the namespace may not use.
    pub async fn for_resource_held(
        &self,
        kube: &kube::Client,
        namespace: &str,
        source: &CredentialSource,
        hold: bool,
    ) -> Result<Grant> {
        let mut restrictions = Restrictions::default();
        let (client_id, secret) = match source {
            CredentialSource::Secret(reference) => {
                let location = SecretLocation {
                    namespace: namespace.to_owned(),
                    name: reference.name.clone(),
                };
                let keys = (&reference.client_id_key, &reference.client_secret_key);
                let field = "spec.credentialsSecretRef";
                let (id, secret, read) = read_secret(kube, &location, keys, field).await?;
                if hold {
                    let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
                    super::credential_hold::hold(&api, &read).await?;
                }
                (id, secret)
            }
            CredentialSource::Cluster(name) => {
                let (spec, read) = self.cluster(kube, namespace, name).await?;
                restrictions = Restrictions::of(name, spec);
                read
            }
            CredentialSource::Default => self.default(kube, namespace).await?,
        };
        Ok(Grant {
            client: self.client(&client_id, secret)?,
            restrictions,
        })
    }

    /// The ClusterAuraCredential `name`, if `namespace` may use it, and its key.
    async fn cluster(
        &self,
        kube: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<(ClusterAuraCredentialSpec, (String, SecretString))> {
        let spec = self.cluster_spec(kube, namespace, name).await?;
        let key = self.cluster_key(kube, name, &spec).await?;
        Ok((spec, key))
    }

    /// The spec of ClusterAuraCredential `name`, if this installation serves it and
    /// `namespace` may use it; its Secret is not read (`aura-operator plan` checks these with a
    /// key of its own).
    pub async fn cluster_spec(
        &self,
        kube: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<ClusterAuraCredentialSpec> {
        let api: Api<ClusterAuraCredential> = Api::all(kube.clone());
        let credential = api.get_opt(name).await?.ok_or_else(|| {
            refused(
                Reason::CredentialNotFound,
                "credentialRef",
                format!("ClusterAuraCredential {name:?} does not exist"),
            )
        })?;
        if !self.class.serves(&credential) {
            return Err(other_class(name, &credential, &self.class));
        }
        let allow =
            NamespaceAllow::from_spec(&credential.spec.allowed_namespaces).map_err(|e| {
                refused(
                    Reason::CredentialNotAllowed,
                    "credentialRef",
                    format!(
                        "ClusterAuraCredential {name:?} has an unusable allowedNamespaces: {e}"
                    ),
                )
            })?;
        if !allow.allows(kube, namespace).await? {
            return Err(refused(
                Reason::CredentialNotAllowed,
                "credentialRef",
                format!(
                    "ClusterAuraCredential {name:?} may not be used from namespace {namespace:?} \
                     (it allows {}); ask a cluster administrator",
                    allow.describe()
                ),
            ));
        }
        Ok(credential.spec)
    }

    /// The key a ClusterAuraCredential's Secret holds. Errors name the credential and its
    /// Secret, never a value.
    pub async fn cluster_key(
        &self,
        kube: &kube::Client,
        name: &str,
        spec: &ClusterAuraCredentialSpec,
    ) -> Result<(String, SecretString)> {
        let location = SecretLocation {
            namespace: self.secret_namespace(spec).to_owned(),
            name: spec.secret_ref.name.clone(),
        };
        let keys = (
            &spec.secret_ref.client_id_key,
            &spec.secret_ref.client_secret_key,
        );
        let field = format!("ClusterAuraCredential {name:?}");
        let (id, secret, _) = read_secret(kube, &location, keys, &field).await?;
        Ok((id, secret))
    }

    /// The default credential, if there is one and `namespace` may use it.
    async fn default(
        &self,
        kube: &kube::Client,
        namespace: &str,
    ) -> Result<(String, SecretString)> {
        if matches!(self.default, DefaultCredential::None) {
            return Err(no_default());
        }
        if !self.default_namespaces.allows(kube, namespace).await? {
            return Err(refused(
                Reason::CredentialNotAllowed,
                "credentialRef",
                format!(
                    "the operator's default credential may not be used from namespace \
                     {namespace:?} (it allows {}); name a ClusterAuraCredential (credentialRef) \
                     or a Secret of this namespace (credentialsSecretRef)",
                    self.default_namespaces.describe()
                ),
            ));
        }
        match &self.default {
            DefaultCredential::Fixed {
                client_id,
                client_secret,
            } => Ok((client_id.clone(), client_secret.clone())),
            DefaultCredential::Secret(location) => {
                let keys = (&default_client_id_key(), &default_client_secret_key());
                let field = "the operator's default credentials Secret";
                let (id, secret, _) = read_secret(kube, location, keys, field).await?;
                Ok((id, secret))
            }
            DefaultCredential::None => Err(no_default()),
        }
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
/// The refusal of a ClusterAuraCredential that another installation serves: this one never
/// reads its Secret nor writes to it, and says which label would make it usable here.
fn other_class(name: &str, credential: &ClusterAuraCredential, ours: &InstallationClass) -> Error {
    let label = super::installation::LABEL;
    let fix = match ours.name() {
        Some(class) => format!("labelled {label}={class}"),
        None => format!("without the label {label}"),
    };
    refused(
        Reason::CredentialNotAllowed,
        "credentialRef",
        format!(
            "ClusterAuraCredential {name:?} belongs to {}, and this resource to {ours}: name a \
             ClusterAuraCredential {fix}, or mark this resource for that installation",
            InstallationClass::of(credential)
        ),
    )
}

/// A resource that names no credential, with no default to fall back on.
fn no_default() -> Error {
    Error::invalid(
        "credentialsSecretRef",
        "name a credential (credentialRef or credentialsSecretRef): the operator has no default \
         credential",
    )
}

/// The client id and secret in the Secret at `location` under `keys`, and the Secret as read.
/// Errors name `field` (where the Secret was named) and the Secret, never a value.
async fn read_secret(
    kube: &kube::Client,
    location: &SecretLocation,
    (id_key, secret_key): (&String, &String),
    field: &str,
) -> Result<(String, SecretString, Secret)> {
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), &location.namespace);
    let secret = secrets.get_opt(&location.name).await?.ok_or_else(|| {
        Error::Credentials(format!(
            "{field}: Secret {}/{} not found",
            location.namespace, location.name
        ))
    })?;
    let value = |key: &str| key_value(&secret, key, field, location);
    let client_id = value(id_key)?;
    let client_secret = SecretString::from(value(secret_key)?);
    Ok((client_id, client_secret, secret))
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
