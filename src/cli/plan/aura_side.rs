//! The Aura side of a plan: clients for the credential each resource would use, and the reads
//! the plan needs, each made once per credential and tenant (the instance list, the tenant's
//! offers) and counted. Only reads: no method here changes anything in Aura.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;

use crate::aura::{self, CallObserver, Instance, InstanceId, InstanceSummary, Tenant, TenantId};
use crate::controllers::instance::validate::{fetch_tenant, unknown_tenant};
use crate::controllers::tenancy::access::Restrictions;
use crate::controllers::tenancy::installation::InstallationClass;
use crate::controllers::{
    AuraClients, AuraSettings, CredentialSource, DefaultCredential, Error, Grant, NamespaceAllow,
};

/// Counts every request the plan's clients send.
#[derive(Default)]
struct Counter(AtomicU64);

impl CallObserver for Counter {
    fn on_attempt(&self, _: &Method, _: &'static str, _: Option<StatusCode>, _: Duration) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A credential from a file: `clientId` and `clientSecret` (YAML or JSON).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsFile {
    client_id: String,
    client_secret: SecretString,
}

/// Why the credentials file cannot be used; never shows its content.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read the credentials file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the credentials file {path} is not YAML with the keys clientId and clientSecret (line {line})"
    )]
    Shape { path: String, line: usize },
}

/// Reads a credentials file; errors name the file, never a value.
pub fn read_credentials(path: &Path) -> Result<(String, SecretString), FileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: name.clone(),
        source,
    })?;
    let parsed: CredentialsFile = serde_norway::from_str(&text).map_err(|e| FileError::Shape {
        path: name,
        line: e.location().map_or(0, |l| l.line()),
    })?;
    Ok((parsed.client_id.trim().to_owned(), parsed.client_secret))
}

/// The clients and what they have read so far.
pub struct AuraSide {
    kube: kube::Client,
    clients: AuraClients,
    file: Option<(String, SecretString)>,
    calls: Arc<Counter>,
    lists: HashMap<(String, String), Vec<InstanceSummary>>,
    tenants: HashMap<(String, String), Tenant>,
}

impl AuraSide {
    /// Clients for `settings` (the operator's rate budget), with `file` for every resource
    /// when given; ClusterAuraCredential Secrets are read in `operator_namespace`.
    pub fn new(
        kube: kube::Client,
        mut settings: AuraSettings,
        file: Option<(String, SecretString)>,
        operator_namespace: &str,
    ) -> Self {
        let calls = Arc::new(Counter::default());
        settings.observer = Some(Arc::clone(&calls) as Arc<dyn CallObserver>);
        Self {
            kube,
            clients: AuraClients::new(settings, DefaultCredential::None)
                .with_access(operator_namespace, NamespaceAllow::all()),
            file,
            calls,
            lists: HashMap::new(),
            tenants: HashMap::new(),
        }
    }

    /// Plans as the installation of `class`: its ClusterAuraCredentials only.
    pub fn with_class(mut self, class: InstallationClass) -> Self {
        self.clients = self.clients.with_class(class);
        self
    }

    /// Aura requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.0.load(Ordering::Relaxed)
    }

    /// The client a resource in `namespace` naming `source` would get, and what its credential
    /// restricts. With a credentials file, its key stands in for the credential's own; a
    /// ClusterAuraCredential's allowlist and limits still apply.
    pub async fn grant(&self, namespace: &str, source: &CredentialSource) -> Result<Grant, Error> {
        let Some((id, secret)) = &self.file else {
            if *source == CredentialSource::Default {
                return Err(Error::Credentials(
                    "the resource names no credential, so the operator would use its default \
                     credential, which plan cannot read: pass --credentials-file"
                        .to_owned(),
                ));
            }
            return self
                .clients
                .for_resource(&self.kube, namespace, source)
                .await;
        };
        let restrictions = match source {
            CredentialSource::Cluster(name) => Restrictions::of(
                name,
                self.clients
                    .cluster_spec(&self.kube, namespace, name)
                    .await?,
            ),
            _ => Restrictions::default(),
        };
        Ok(Grant {
            client: self.clients.client(id, secret.clone())?,
            restrictions,
        })
    }

    /// The tenant's instances (one list per credential and tenant).
    pub async fn instances(
        &mut self,
        aura: &aura::Client,
        tenant: &TenantId,
    ) -> Result<&[InstanceSummary], Error> {
        let key = (aura.client_id().to_owned(), tenant.to_string());
        if !self.lists.contains_key(&key) {
            let listed = aura.instances().list(Some(tenant)).await?;
            self.lists.insert(key.clone(), listed);
        }
        Ok(self.lists.get(&key).map(Vec::as_slice).unwrap_or_default())
    }

    /// What the tenant offers (one read per credential and tenant).
    pub async fn tenant(&mut self, aura: &aura::Client, id: &TenantId) -> Result<&Tenant, Error> {
        let key = (aura.client_id().to_owned(), id.to_string());
        if !self.tenants.contains_key(&key) {
            let fetched = fetch_tenant(aura, id).await?;
            self.tenants.insert(key.clone(), fetched);
        }
        self.tenants.get(&key).ok_or_else(|| unknown_tenant(id))
    }

    /// One instance, read live; None when Aura does not show it.
    pub async fn instance(
        &self,
        aura: &aura::Client,
        id: &InstanceId,
    ) -> Result<Option<Instance>, Error> {
        match aura.instances().get(id).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// How `import` and `kubectl aura adopt` read Aura: with a credentials file, or with a
/// ClusterAuraCredential of the cluster (which the manifests then name).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// A YAML file with clientId and clientSecret to read Aura with.
    #[arg(long)]
    pub credentials_file: Option<std::path::PathBuf>,
    /// A ClusterAuraCredential: read with its key (unless --credentials-file is given), and
    /// named in the manifests' spec.credentialRef.
    #[arg(long)]
    pub credential_ref: Option<String>,
    /// Aura API base URL.
    #[arg(long, env = "AURA_API_URL", default_value = aura::DEFAULT_BASE_URL)]
    pub aura_url: String,
    /// Allow a plain-http Aura URL (the emulator's).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// The operator's namespace: its claims and the Secrets of ClusterAuraCredentials.
    #[arg(long, env = "AURA_OPERATOR_NAMESPACE", default_value = "aura-operator")]
    pub operator_namespace: String,
}

impl ReadArgs {
    /// The reads and the client, for work in `namespace`.
    pub async fn client(
        &self,
        kube: &kube::Client,
        namespace: &str,
    ) -> Result<(AuraSide, aura::Client), Error> {
        let file = match &self.credentials_file {
            Some(path) => {
                Some(read_credentials(path).map_err(|e| Error::Credentials(e.to_string()))?)
            }
            None => None,
        };
        let source = match (&file, &self.credential_ref) {
            (None, Some(name)) => CredentialSource::Cluster(name.clone()),
            (None, None) => {
                return Err(Error::Credentials(
                    "pass --credentials-file or --credential-ref to read Aura with".to_owned(),
                ));
            }
            (Some(_), _) => CredentialSource::Default,
        };
        let settings = AuraSettings {
            base_url: self.aura_url.clone(),
            allow_insecure_http: self.allow_insecure_http,
            ..AuraSettings::default()
        };
        let side = AuraSide::new(kube.clone(), settings, file, &self.operator_namespace);
        let client = side.grant(namespace, &source).await?.client;
        Ok((side, client))
    }
}
