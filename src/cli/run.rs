//! `aura-operator run`: the controllers against the current Kubernetes context.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kube::Api;
use kube::api::ListParams;
use kube::core::Selector;
use secrecy::SecretString;

use crate::aura;
use crate::controllers::{
    AuraClients, AuraSettings, Context, DefaultCredential, InstallationClass, NamespaceAllow,
    SecretLocation, Timing,
};
use crate::crd::{AuraInstance, AuraSnapshot, ClusterAuraCredential, GdsSession};
use crate::emulator;
use crate::http::{self, HttpState};
use crate::leader::{self, Elector, LeaseConfig};
use crate::metrics::{AuraCallMetrics, Metrics};

/// Options for `aura-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Watch only these namespaces (repeat the flag, or comma-separate); default: all.
    #[arg(
        long = "namespace",
        env = "AURA_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Address of the operator's HTTP port (/metrics, /healthz, /readyz).
    #[arg(
        long,
        env = "AURA_OPERATOR_HTTP_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub http_listen: SocketAddr,

    /// Act only while holding the Lease `aura-operator` (`aura-operator-<class>` with
    /// --installation-class) in the operator's namespace (run several replicas safely).
    #[arg(long, env = "AURA_OPERATOR_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Serve only the resources and ClusterAuraCredentials labelled
    /// `aura.neo4j.io/installation-class=NAME`. Unset: the default installation, which serves
    /// those without the label. For several installations in one cluster.
    #[arg(long = "installation-class", env = "AURA_INSTALLATION_CLASS", value_name = "NAME", value_parser = parse_class)]
    pub installation_class: Option<InstallationClass>,

    /// Aura API base URL.
    #[arg(long, env = "AURA_API_URL", default_value = aura::DEFAULT_BASE_URL)]
    pub aura_url: String,

    /// Secret (NAMESPACE/NAME, keys clientId and clientSecret) used by resources that name no
    /// credentials Secret of their own.
    #[arg(long, env = "AURA_DEFAULT_CREDENTIALS_SECRET", value_parser = parse_location)]
    pub default_credentials_secret: Option<SecretLocation>,

    /// Namespaces allowed to use the default credential (repeat, or comma-separate; `*` for
    /// all). Without this and --default-credentials-namespace-selector: only the operator's own
    /// namespace, or every namespace with --emulator.
    #[arg(
        long,
        env = "AURA_DEFAULT_CREDENTIALS_NAMESPACES",
        value_delimiter = ','
    )]
    pub default_credentials_namespaces: Vec<String>,

    /// Namespaces allowed to use the default credential, by label: `key=value` terms joined by
    /// commas, all of which must hold (for example `aura.neo4j.io/default-credential=true`).
    #[arg(long, env = "AURA_DEFAULT_CREDENTIALS_NAMESPACE_SELECTOR", value_parser = parse_selector)]
    pub default_credentials_namespace_selector: Option<Selector>,

    /// The operator's own namespace: where the Secrets of ClusterAuraCredentials, the
    /// leader-election Lease and the claims (which resource manages which Aura object) live.
    #[arg(
        long,
        alias = "lease-namespace",
        env = "POD_NAMESPACE",
        default_value = "default"
    )]
    pub operator_namespace: String,

    /// Start the built-in Aura emulator and send every Aura call to it instead of Aura. For
    /// trying the operator without an Aura account; nothing it creates is real.
    #[arg(long)]
    pub emulator: bool,

    /// Log in to each instance over Bolt (port 7687, TLS verified) to check its connection
    /// Secret (condition ConnectionVerified). Turn off where the cluster has no egress to 7687.
    #[arg(
        long,
        env = "AURA_VERIFY_CONNECTIONS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub verify_connections: bool,

    /// A PEM CA file to trust for Bolt instead of the system roots (a private CA; with
    /// --emulator the emulator's own CA is used when this is not set).
    #[arg(long, env = "AURA_EXTRA_CA_FILE", value_name = "FILE")]
    pub extra_ca_file: Option<std::path::PathBuf>,

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

    /// Passes (reconciles) that run at once for changes someone made; polls and drift checks get
    /// half as many. The rest wait in a queue that costs little memory: the operator's peak
    /// memory follows this number, not the number of resources.
    #[arg(long, env = "AURA_MAX_CONCURRENT_PASSES", default_value_t = crate::controllers::machinery::admission::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_passes: u16,
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

pub(crate) fn parse_class(text: &str) -> Result<InstallationClass, String> {
    InstallationClass::named(text).map_err(|e| e.to_string())
}

fn parse_selector(text: &str) -> Result<Selector, String> {
    text.split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .map(|term| {
            let (key, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .filter(|(key, _)| !key.is_empty() && !key.ends_with('!'))
                .ok_or_else(|| format!("{term:?} is not key=value (only equality terms)"))?;
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Selector::from_iter)
}

impl RunArgs {
    /// The installation class (the default installation's unless set).
    pub fn class(&self) -> InstallationClass {
        self.installation_class.clone().unwrap_or_default()
    }

    /// Who may use the default credential. Without a flag: every namespace for the emulator
    /// (nothing real is at stake), else only the operator's own namespace, so that installing
    /// the operator with a real key does not hand that key to every namespace.
    pub fn default_namespaces(&self) -> NamespaceAllow {
        let listed = &self.default_credentials_namespaces;
        let selector = self.default_credentials_namespace_selector.clone();
        if listed.iter().any(|n| n == "*") {
            return NamespaceAllow::all();
        }
        if listed.is_empty() && selector.is_none() {
            return match self.emulator {
                true => NamespaceAllow::all(),
                false => NamespaceAllow::names([self.operator_namespace.clone()]),
            };
        }
        NamespaceAllow {
            all: false,
            names: listed.clone(),
            selector,
        }
    }
}

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no Kubernetes connection (kubeconfig or in-cluster service account): {0}. `run` needs a \
         cluster with the CRDs installed: for example `kind create cluster` then \
         `kubectl apply -f crds/`; `cargo test` needs none"
    )]
    Kubeconfig(#[source] kube::Error),
    #[error(
        "cannot reach the Kubernetes API server at {url}: {source}. Is the cluster of your current \
         kube context running?"
    )]
    Unreachable {
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error("the {kind} CRD is not installed in this cluster (kubectl apply -f crds/): {source}")]
    CrdMissing {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("the Kubernetes API server refused to list {kind} resources (check RBAC): {source}")]
    ListRefused {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("cannot start the built-in emulator on {addr}: {source}")]
    Emulator {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--default-credentials-secret and --emulator exclude each other")]
    Conflicting,
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "lost the leader-election Lease; stopping so that Kubernetes restarts this replica as a follower"
    )]
    LostLeadership,
}

/// Runs the controllers until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    // Listening from the start: a SIGTERM during the probes is not lost.
    let stop = shutdown_signal().boxed().shared();
    let config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Kubeconfig(kube::Error::InferConfig(e)))?;
    let cluster_url = config.cluster_url.to_string();
    let kube = kube::Client::try_from(config).map_err(RunError::Kubeconfig)?;
    // Where the CRDs can be listed: the first watched namespace, or the whole cluster.
    let probe_scope = args.namespaces.first().map(String::as_str);
    probe::<AuraInstance>(&kube, probe_scope, "AuraInstance", &cluster_url).await?;
    probe::<AuraSnapshot>(&kube, probe_scope, "AuraSnapshot", &cluster_url).await?;
    probe::<GdsSession>(&kube, probe_scope, "GdsSession", &cluster_url).await?;
    probe_api(
        Api::<ClusterAuraCredential>::all(kube.clone()),
        "ClusterAuraCredential",
        &cluster_url,
    )
    .await?;
    Operator::start(kube, args, emulator::EmulatorConfig::default(), stop)
        .await?
        .run()
        .await
}

/// How long the controllers may take to stop after the stop signal: passes in flight finish
/// within it. Below the 30 s a pod gets between SIGTERM and SIGKILL by default.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// What stops the operator: every part (controllers, HTTP port, leader election) holds a clone
/// of the same shared future.
pub type Stop = Shared<BoxFuture<'static, ()>>;

/// The operator set up on a Kubernetes client, before its controllers run: the Aura clients
/// (pointed at a built-in emulator with `--emulator`), the controllers' context and the HTTP
/// port. `run` builds one on the current kube context, `sandbox` on its in-memory API server;
/// both then call [`Operator::run`].
pub struct Operator {
    args: RunArgs,
    kube: kube::Client,
    ctx: Arc<Context>,
    emulator: Option<emulator::RunningEmulator>,
    http_addr: SocketAddr,
    stop: Stop,
}

/// Starts the built-in emulator. If its Bolt CA cannot be written (a read-only filesystem),
/// it starts without Bolt and connection checks go off, with a warning, rather than not at all.
async fn start_emulator(
    config: emulator::EmulatorConfig,
    listen: SocketAddr,
    database: &mut crate::database::DatabaseSettings,
) -> std::io::Result<emulator::RunningEmulator> {
    match emulator::start(config.clone(), listen).await {
        Err(error) if config.bolt => {
            tracing::warn!(%error, "the emulator cannot serve Bolt; connection checks are off");
            database.verify = false;
            let without = emulator::EmulatorConfig {
                bolt: false,
                ..config
            };
            emulator::start(without, listen).await
        }
        started => started,
    }
}

impl Operator {
    /// Sets up everything the controllers need on `kube` and serves the HTTP port (ready from
    /// now on: a follower is a healthy standby). With `args.emulator`, starts the emulator with
    /// `emulator_config` on `args.emulator_listen` and sends every Aura call there. Nothing runs
    /// yet; `stop` ends the HTTP port and, later, the controllers.
    pub async fn start(
        kube: kube::Client,
        args: RunArgs,
        mut emulator_config: emulator::EmulatorConfig,
        stop: Stop,
    ) -> Result<Self, RunError> {
        let mut database = crate::database::DatabaseSettings {
            verify: args.verify_connections,
            extra_ca_file: args.extra_ca_file.clone(),
            ..Default::default()
        };
        let mut settings =
            AuraSettings::from_flags(&args.aura_url, args.allow_insecure_http, args.rate_limit);
        let mut default = match args.default_credentials_secret.clone() {
            Some(location) => DefaultCredential::Secret(location),
            None => DefaultCredential::None,
        };
        let emulator = if args.emulator {
            if args.default_credentials_secret.is_some() {
                return Err(RunError::Conflicting);
            }
            let credential = emulator_config.credentials[0].clone();
            // Instances then answer Bolt, so verification works as against Aura.
            emulator_config.bolt |= args.verify_connections;
            let running = start_emulator(emulator_config, args.emulator_listen, &mut database)
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
            if database.extra_ca_file.is_none() {
                database.extra_ca_file = running.bolt_ca_file().map(|p| p.to_path_buf());
            }
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
            concurrency: usize::from(args.max_concurrent_passes),
            ..Timing::default()
        };
        let metrics = Metrics::new();
        settings.observer = Some(Arc::new(AuraCallMetrics(Arc::clone(&metrics))));
        let allowed = args.default_namespaces();
        tracing::info!(
            operator_namespace = %args.operator_namespace,
            allowed = %allowed.describe(),
            "namespaces that may use the default credential"
        );
        tracing::info!(installation = %args.class(), "serving the objects of");
        let clients = AuraClients::new(settings, default)
            .with_access(args.operator_namespace.clone(), allowed)
            .with_class(args.class());
        let ctx = Context::with_clock(
            kube.clone(),
            clients,
            timing,
            metrics,
            &args.operator_namespace,
            crate::controllers::machinery::clock::Clock::default(),
            database,
        );

        let ready = Arc::new(AtomicBool::new(false));
        let refresh_ctx = Arc::clone(&ctx);
        let http_state = HttpState {
            metrics: Arc::clone(&ctx.metrics),
            ready: Arc::clone(&ready),
            refresh: Some(Arc::new(move || refresh_ctx.refresh_gauges())),
        };
        let (http_addr, _http) = http::serve(args.http_listen, http_state, stop.clone())
            .await
            .map_err(|source| RunError::Http {
                addr: args.http_listen,
                source,
            })?;
        tracing::info!(%http_addr, "serving /metrics, /healthz and /readyz");
        // Followers are healthy standbys: ready, but not acting until they hold the Lease.
        ready.store(true, Ordering::Relaxed);
        Ok(Self {
            args,
            kube,
            ctx,
            emulator,
            http_addr,
            stop,
        })
    }

    /// The built-in emulator's API base URL (with `/v1`), if there is one.
    /// The PEM file of the built-in emulator's Bolt CA, when its instances answer Bolt.
    pub fn bolt_ca_file(&self) -> Option<PathBuf> {
        let emulator = self.emulator.as_ref()?;
        emulator.bolt_ca_file().map(Path::to_path_buf)
    }

    pub fn emulator_url(&self) -> Option<String> {
        self.emulator
            .as_ref()
            .map(emulator::RunningEmulator::base_url)
    }

    /// The address of the HTTP port (/metrics, /healthz, /readyz) as bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Runs the controllers (after taking the Lease, with `--leader-election`) until the stop
    /// signal, then stops the emulator.
    pub async fn run(self) -> Result<(), RunError> {
        let Self {
            args,
            kube,
            ctx,
            emulator,
            stop: signal,
            ..
        } = self;
        let result = run_controllers(&args, kube, ctx, signal).await;
        if let Some(emulator) = emulator {
            emulator.shutdown().await;
        }
        result
    }
}

/// The part of [`Operator::run`] before the emulator stops.
async fn run_controllers(
    args: &RunArgs,
    kube: kube::Client,
    ctx: Arc<Context>,
    signal: Stop,
) -> Result<(), RunError> {
    let leadership = if args.leader_election {
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("aura-operator-{}", std::process::id()));
        let mut lease = LeaseConfig::new(args.operator_namespace.clone(), identity);
        lease.name = args.class().lease_name();
        let elector = Elector::new(kube, lease);
        tokio::select! {
            leading = elector.lead() => Some(leading),
            () = signal.clone() => return Ok(()),
        }
    } else {
        None
    };
    let lost_lead = async move {
        match leadership {
            Some(leading) => leader::lost(leading).await,
            None => std::future::pending().await,
        }
    }
    .boxed()
    .shared();
    // One signal stops every controller: each gets a clone of the same shared future.
    let stop = futures::future::select(signal.clone(), lost_lead.clone())
        .map(|_| ())
        .boxed()
        .shared();
    let scopes: Vec<Option<&str>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    tracing::info!(namespaces = ?args.namespaces, "aura-operator running");
    let credentials = crate::controllers::cluster_credential::run(Arc::clone(&ctx), stop.clone());
    let kinds = futures::future::join_all(scopes.into_iter().map(|namespace| {
        let (ctx, stop) = (Arc::clone(&ctx), stop.clone());
        async move {
            crate::controllers::run_all(ctx, namespace, stop).await;
        }
    }));
    let controllers = async {
        tokio::join!(credentials, kinds);
    };
    // A controller whose first list never came (an API server that stopped answering) would
    // hold the process forever; passes are crash-safe, so it is given up after a while.
    let give_up = async {
        stop.clone().await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::select! {
        () = controllers => {}
        () = give_up => tracing::warn!(
            grace = ?STOP_GRACE,
            "the controllers did not stop in time after the stop signal; stopping anyway"
        ),
    }
    if lost_lead.peek().is_some() {
        return Err(RunError::LostLeadership);
    }
    tracing::info!("aura-operator stopped");
    Ok(())
}

/// Fails when the CRD of `K` is not installed, the operator may not list it, or the API server
/// does not answer; each with a message that points at the right fix.
async fn probe<K>(
    kube: &kube::Client,
    namespace: Option<&str>,
    kind: &'static str,
    url: &str,
) -> Result<(), RunError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    probe_api(api, kind, url).await
}

/// [`probe`] through a given `Api` (a cluster-scoped kind's).
async fn probe_api<K>(api: Api<K>, kind: &'static str, url: &str) -> Result<(), RunError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default().limit(1))
        .await
        .map(|_| ())
        .map_err(|source| match &source {
            kube::Error::Api(status) if status.code == 404 => RunError::CrdMissing { kind, source },
            kube::Error::Api(_) => RunError::ListRefused { kind, source },
            _ => RunError::Unreachable {
                url: url.to_owned(),
                source,
            },
        })
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C (SIGINT). The handlers are
/// installed when this is called, not when the future is first polled: a signal that arrives
/// between the two stops the process cleanly instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let one = |handler: std::io::Result<tokio::signal::unix::Signal>| async move {
                match handler {
                    Ok(mut handler) => {
                        handler.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = one(interrupt) => {},
                () = one(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[tokio::test]
    async fn an_emulator_that_cannot_write_its_bolt_ca_starts_without_bolt_and_checks() {
        let config = emulator::EmulatorConfig {
            bolt: true,
            bolt_ca_file: Some("/nonexistent-aura-operator-dir/ca.pem".into()),
            ..emulator::EmulatorConfig::default()
        };
        let mut database = crate::database::DatabaseSettings {
            verify: true,
            ..Default::default()
        };
        let listen = "127.0.0.1:0".parse().unwrap();
        let running = start_emulator(config, listen, &mut database)
            .await
            .expect("started without Bolt");
        assert!(running.bolt_ca_file().is_none());
        assert!(!database.verify, "checks go off with Bolt");
        running.shutdown().await;
    }

    #[test]
    fn connection_checks_are_on_by_default_and_can_be_turned_off() {
        assert!(args(&[]).verify_connections);
        let off = args(&[
            "--verify-connections",
            "false",
            "--extra-ca-file",
            "/ca.pem",
        ]);
        assert!(!off.verify_connections);
        assert_eq!(off.extra_ca_file, Some("/ca.pem".into()));
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn the_flags_the_manifests_and_chart_pass_parse() {
        let cli = Cli::try_parse_from([
            "run",
            "--leader-election",
            "--namespace=team-a",
            "--namespace",
            "team-b,team-c",
            "--http-listen",
            "0.0.0.0:9090",
            "--default-credentials-secret",
            "aura-operator/aura-credentials",
        ])
        .unwrap();
        assert!(cli.run.leader_election);
        assert_eq!(cli.run.namespaces, ["team-a", "team-b", "team-c"]);
        assert_eq!(cli.run.http_listen.port(), 9090);
        assert_eq!(cli.run.class(), InstallationClass::default_installation());
        assert_eq!(
            cli.run.default_credentials_secret.unwrap().name,
            "aura-credentials"
        );
    }

    #[test]
    fn an_installation_class_names_its_lease_and_must_be_a_dns_label() {
        let blue = args(&["--installation-class", "blue"]);
        assert_eq!(blue.class().name(), Some("blue"));
        assert_eq!(blue.class().lease_name(), "aura-operator-blue");
        let err = Cli::try_parse_from(["run", "--installation-class", "Blue_1"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a DNS label"), "{err}");
    }

    fn args(flags: &[&str]) -> RunArgs {
        let mut all = vec!["run", "--operator-namespace", "aura-system"];
        all.extend_from_slice(flags);
        Cli::try_parse_from(all).unwrap().run
    }

    #[test]
    fn the_default_credential_stays_in_the_operator_namespace_unless_widened() {
        let real = args(&["--default-credentials-secret", "aura-system/key"]);
        assert_eq!(
            real.default_namespaces(),
            NamespaceAllow::names(["aura-system"])
        );
        assert_eq!(
            args(&["--emulator"]).default_namespaces(),
            NamespaceAllow::all()
        );
        let star = args(&["--default-credentials-namespaces", "*"]);
        assert_eq!(star.default_namespaces(), NamespaceAllow::all());
        let listed = args(&[
            "--emulator",
            "--default-credentials-namespaces=team-a,team-b",
            "--default-credentials-namespace-selector",
            "tier=dev, team==data",
        ]);
        let allowed = listed.default_namespaces();
        assert!(!allowed.all, "a list narrows even the emulator's default");
        assert_eq!(allowed.names, ["team-a", "team-b"]);
        assert_eq!(allowed.selector.unwrap().to_string(), "team=data,tier=dev");
    }

    #[test]
    fn a_selector_with_other_than_equality_terms_is_refused() {
        for bad in ["tier!=dev", "tier in (a)", "=x"] {
            let err = Cli::try_parse_from(["run", "--default-credentials-namespace-selector", bad])
                .err()
                .unwrap();
            assert!(
                err.to_string().contains("only equality terms"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_malformed_credentials_location_is_refused_with_the_reason() {
        let err = Cli::try_parse_from(["run", "--default-credentials-secret", "just-a-name"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not NAMESPACE/NAME"), "{err}");
    }
}
