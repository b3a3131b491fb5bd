//! `aura-operator run`: the controllers against the current Kubernetes context.

use std::net::SocketAddr;
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use secrecy::SecretString;

use crate::aura::{self, RateLimit};
use crate::controllers::{
    AuraClients, AuraSettings, Context, DefaultCredential, SecretLocation, Timing, instance,
};
use crate::crd::AuraInstance;
use crate::emulator;

/// Options for `aura-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "AURA_OPERATOR_NAMESPACE")]
    pub namespace: Option<String>,

    /// Aura API base URL.
    #[arg(long, env = "AURA_API_URL", default_value = aura::DEFAULT_BASE_URL)]
    pub aura_url: String,

    /// Secret (NAMESPACE/NAME, keys clientId and clientSecret) used by resources that name no
    /// credentials Secret of their own.
    #[arg(long, env = "AURA_DEFAULT_CREDENTIALS_SECRET", value_parser = parse_location)]
    pub default_credentials_secret: Option<SecretLocation>,

    /// Start the built-in Aura emulator and send every Aura call to it instead of Aura. For
    /// trying the operator without an Aura account; nothing it creates is real.
    #[arg(long)]
    pub emulator: bool,

    /// Address the built-in emulator listens on (with --emulator).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub emulator_listen: SocketAddr,

    /// Allow a plain-http Aura URL (credentials travel in clear text).
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Aura requests per minute per credential.
    #[arg(long, env = "AURA_RATE_LIMIT", default_value_t = 125)]
    pub rate_limit: u32,

    /// Seconds between comparisons of a settled resource with Aura (drift detection).
    #[arg(long, env = "AURA_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,
}

fn parse_location(text: &str) -> Result<SecretLocation, String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok(SecretLocation {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(format!("{text:?} is not NAMESPACE/NAME")),
    }
}

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no Kubernetes connection (kubeconfig or in-cluster service account): {0}")]
    Kubeconfig(#[source] kube::Error),
    #[error("cannot reach the Kubernetes API server at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error("the AuraInstance CRD is not installed in this cluster (kubectl apply -f crds/): {0}")]
    CrdMissing(#[source] kube::Error),
    #[error("the Kubernetes API server refused to list AuraInstances (check RBAC): {0}")]
    ListRefused(#[source] kube::Error),
    #[error("cannot start the built-in emulator on {addr}: {source}")]
    Emulator {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--default-credentials-secret and --emulator exclude each other")]
    Conflicting,
}

/// Runs the controllers until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Kubeconfig(kube::Error::InferConfig(e)))?;
    let cluster_url = config.cluster_url.to_string();
    let kube = kube::Client::try_from(config).map_err(RunError::Kubeconfig)?;
    let probe: Api<AuraInstance> = match &args.namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    probe
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|err| classify_probe_error(err, cluster_url))?;

    let mut settings = AuraSettings {
        base_url: args.aura_url.clone(),
        allow_insecure_http: args.allow_insecure_http,
        rate_limit: RateLimit {
            per_minute: args.rate_limit,
            ..RateLimit::default()
        },
        ..AuraSettings::default()
    };
    let mut default = match args.default_credentials_secret.clone() {
        Some(location) => DefaultCredential::Secret(location),
        None => DefaultCredential::None,
    };
    let _emulator = if args.emulator {
        if args.default_credentials_secret.is_some() {
            return Err(RunError::Conflicting);
        }
        let config = emulator::EmulatorConfig::default();
        let credential = config.credentials[0].clone();
        let running = emulator::start(config, args.emulator_listen)
            .await
            .map_err(|source| RunError::Emulator {
                addr: args.emulator_listen,
                source,
            })?;
        tracing::warn!(
            url = %running.base_url(),
            "USING THE BUILT-IN AURA EMULATOR: no real Aura instance will be created; every \
             AuraInstance is backed by an in-memory emulation that is lost when the operator stops"
        );
        settings.base_url = running.base_url();
        settings.allow_insecure_http = true;
        default = DefaultCredential::Fixed {
            client_id: credential.client_id.clone(),
            client_secret: SecretString::from(credential.client_secret.clone()),
        };
        Some(running)
    } else {
        None
    };
    let timing = Timing {
        resync: Duration::from_secs(args.resync_seconds.max(10)),
        ..Timing::default()
    };
    let ctx = Context::new(kube, AuraClients::new(settings, default), timing);
    tracing::info!(
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        "aura-operator running"
    );
    instance::run(ctx, args.namespace.as_deref(), shutdown_signal()).await;
    tracing::info!("aura-operator stopped");
    Ok(())
}

/// Tells a missing CRD (404) from an API server that never answered, so that the message
/// points at the right fix.
fn classify_probe_error(err: kube::Error, url: String) -> RunError {
    match &err {
        kube::Error::Api(status) if status.code == 404 => RunError::CrdMissing(err),
        kube::Error::Api(_) => RunError::ListRefused(err),
        _ => RunError::Unreachable { url, source: err },
    }
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
