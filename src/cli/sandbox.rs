//! `aura-operator sandbox`: a Kubernetes API server, the Aura emulator and the controllers in
//! one process, with nothing to install (GitHub issue 19).
//!
//! The API server is `memory_apiserver` served over HTTP on loopback, with the operator's CRDs
//! and the namespaces every cluster has; the controllers run exactly as `run --emulator` runs
//! them (the same [`Operator`]), against that server. A kubeconfig for it is written to a fixed
//! file per user, so `kubectl` works from another shell. Everything lives in this process's
//! memory and is gone when it stops.
//!
//! With `--apply PATH... --wait-ready SECONDS` it is an offline check of a user's manifests for
//! CI: it creates the objects, waits for every Aura resource among them to be Ready, and exits
//! 0 (all Ready) or 1 (a refusal, a resource only a person can fix, or the time is up), printing
//! each resource's Ready condition, as text or one JSON document.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use memory_apiserver::ApiServer;
use serde::Serialize;
use serde_json::Value;

use super::manifests::{self, Manifest, ManifestError};
use super::run::{Operator, RunArgs, RunError, Stop, shutdown_signal};
use crate::controllers::Reason;
use crate::crd::{AuraInstance, AuraSnapshot, ClusterAuraCredential, GdsSession};
use crate::emulator::{EmulatorConfig, Timings};

/// The namespaces every Kubernetes cluster starts with.
pub const NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The namespace of the kubeconfig's context, and of applied objects that name none.
const DEFAULT_NAMESPACE: &str = "default";

/// The name of the kubeconfig's cluster, user and context. A file whose current context has
/// this name was written by the sandbox and may be overwritten by it.
pub const CONTEXT: &str = "aura-operator-sandbox";

/// How long a resource must stay Stalled before `--wait-ready` gives up on it. A pass that
/// ran before an object it needs was created (a credential, say) may stall a resource for a
/// moment; the controllers look again when that object appears.
const STALL_GRACE: Duration = Duration::from_secs(2);

/// How often `--wait-ready` looks at the applied resources.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// The default of `--transition-ms`: the emulator's own, as `run --emulator` uses it.
fn default_transition_ms() -> u64 {
    u64::try_from(Timings::default().create.as_millis()).unwrap_or(300)
}

/// Options for `aura-operator sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address of the in-memory Kubernetes API server. Loopback only: it has no
    /// authentication. `127.0.0.1:0` takes any free port.
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub listen: SocketAddr,

    /// Where to write the kubeconfig for the sandbox (an existing file is replaced only if the
    /// sandbox wrote it). [default: $XDG_RUNTIME_DIR/aura-operator/sandbox.kubeconfig, or
    /// /tmp/aura-operator-<uid>/sandbox.kubeconfig without XDG_RUNTIME_DIR]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Create the objects in these files or folders (a folder: its *.yaml, *.yml and *.json
    /// files; multi-document YAML). Namespaces they name are created if missing.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub apply: Vec<PathBuf>,

    /// After --apply, wait up to SECONDS for every AuraInstance, AuraSnapshot, GdsSession and
    /// ClusterAuraCredential applied to be Ready, then exit: 0 if all are, 1 if not (or as soon
    /// as one is refused or Stalled).
    #[arg(long, value_name = "SECONDS", requires = "apply")]
    pub wait_ready: Option<u64>,

    /// Report format of --wait-ready: text, or one JSON document on stdout (the startup
    /// banner then goes to stderr).
    #[arg(long, value_enum, default_value = "text", requires = "wait_ready")]
    pub output: OutputFormat,

    /// Duration of every status transition in the Aura emulator, in milliseconds.
    #[arg(long, default_value_t = default_transition_ms())]
    pub transition_ms: u64,

    /// Address of the operator's HTTP port (/metrics, /healthz, /readyz).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub http_listen: SocketAddr,
}

/// Report format of `--wait-ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Why the sandbox could not start. Nothing is left running or half-written when it returns
/// one of these.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "--listen {addr}: not a loopback address. The sandbox's API server has no \
         authentication, so it listens on loopback only (127.0.0.1 or [::1])"
    )]
    NotLoopback { addr: SocketAddr },
    #[error(
        "cannot listen on {addr}: the address is in use (another sandbox, or another program). \
         Stop that, or choose another port: `--listen 127.0.0.1:0` takes any free one"
    )]
    PortBusy {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} exists and is not a kubeconfig written by the sandbox, so it is left alone: pass \
         another --kubeconfig path, or remove that file",
        path.display()
    )]
    ForeignKubeconfig { path: PathBuf },
    #[error(
        "will not write the kubeconfig into {}: {problem}. Pass --kubeconfig PATH, or set \
         XDG_RUNTIME_DIR",
        path.display()
    )]
    UnsafeFolder { path: PathBuf, problem: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("installing the CRD {name} in the sandbox's API server: {source}")]
    Crd {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the sandbox's API server does not answer through its kubeconfig: {0}")]
    SelfCheck(String),
    #[error(transparent)]
    Operator(#[from] RunError),
}

/// Runs the sandbox until Ctrl-C or SIGTERM, or, with `--wait-ready`, until the applied
/// resources are decided. `Ok(false)`: the resources were not all Ready (already reported).
pub async fn run(args: SandboxArgs) -> Result<bool, SandboxError> {
    let started = Instant::now();
    let signal: Stop = shutdown_signal().boxed().shared();

    // Everything that can be checked before anything starts.
    if !args.listen.ip().is_loopback() {
        return Err(SandboxError::NotLoopback { addr: args.listen });
    }
    let applying = manifests::read_all(&args.apply)?;
    let kubeconfig = KubeconfigFile::prepare(match &args.kubeconfig {
        Some(path) => path.clone(),
        None => default_kubeconfig_path()?,
    })?;

    // The cluster: the CRDs (through the API, as a user would install them) and namespaces.
    let crds: Vec<CustomResourceDefinition> =
        super::crd::all().into_iter().map(|(_, crd)| crd).collect();
    // Creating in a namespace that does not exist is refused, as on a cluster.
    let api = ApiServer::new().with_namespace_lifecycle();
    let served = api.serve(args.listen).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            SandboxError::PortBusy {
                addr: args.listen,
                source,
            }
        } else {
            SandboxError::Listen {
                addr: args.listen,
                source,
            }
        }
    })?;
    let installer: Api<CustomResourceDefinition> = Api::all(api.client());
    for crd in &crds {
        installer
            .create(&PostParams::default(), crd)
            .await
            .map_err(|source| SandboxError::Crd {
                name: crd.metadata.name.clone().unwrap_or_default(),
                source,
            })?;
    }
    for namespace in NAMESPACES {
        api.create_namespace(namespace);
    }

    // The operator, as `run --emulator` runs it, on the same store (in process: no HTTP hop).
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let stop: Stop = futures::future::select(signal.clone(), finished)
        .map(|_| ())
        .boxed()
        .shared();
    let emulator = EmulatorConfig {
        timings: Timings::uniform(Duration::from_millis(args.transition_ms)),
        ..EmulatorConfig::default()
    };
    let operator = Operator::start(
        api.client(),
        operator_args(args.http_listen),
        emulator,
        stop.clone(),
    )
    .await?;
    let emulator_url = operator.emulator_url().unwrap_or_default();
    let metrics_url = format!("http://{}/metrics", operator.http_addr());

    // The kubeconfig, checked through HTTP as kubectl would use it, then in place.
    let text = kubeconfig_text(&served.kubeconfig(DEFAULT_NAMESPACE))?;
    self_check(&text).await?;
    kubeconfig.write(&text)?;
    tracing::info!(
        url = %served.url(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sandbox ready: API answering"
    );
    let banner = Banner {
        api_url: served.url(),
        emulator_url,
        metrics_url,
        kubeconfig: kubeconfig.path.clone(),
        bolt_ca: operator.bolt_ca_file(),
        waiting: args.wait_ready.is_some(),
    };
    match args.output {
        OutputFormat::Text => print_out(&banner.to_string()),
        OutputFormat::Json => eprintln!("{banner}"),
    }

    let session = async {
        let outcome = session(&api, &served.url(), &args, applying, signal.clone()).await;
        let _ = finish.send(());
        outcome
    };
    let (ran, ok) = tokio::join!(operator.run(), session);
    served.shutdown().await;
    ran?;
    tracing::info!("sandbox stopped");
    Ok(ok)
}

/// What the sandbox does once it serves: apply, then wait or serve until a signal.
async fn session(
    api: &ApiServer,
    api_url: &str,
    args: &SandboxArgs,
    applying: Vec<Manifest>,
    signal: Stop,
) -> bool {
    let text = args.output == OutputFormat::Text;
    let mut applier = Applier::new(api.clone());
    let mut applied = Vec::with_capacity(applying.len());
    for manifest in in_apply_order(applying) {
        let done = applier.apply(manifest).await;
        if text {
            done.print_applied();
        }
        applied.push(done);
    }
    applied.sort_by_key(|a| a.index);
    let Some(seconds) = args.wait_ready else {
        if !applied.is_empty() && text {
            print_out("Applied; serving until Ctrl-C.");
        }
        signal.await;
        return true;
    };
    let report = wait_ready(
        api,
        api_url,
        &applied,
        &applier.namespaces_created,
        Duration::from_secs(seconds),
        signal,
    )
    .await;
    match args.output {
        OutputFormat::Text => print_out(&report.text()),
        OutputFormat::Json => {
            print_out(&serde_json::to_string_pretty(&report).unwrap_or_default());
        }
    }
    report.ok
}

/// Prints to stdout and flushes (a pipe to a test or a CI log is block-buffered otherwise).
fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The flags of `run --emulator` with the sandbox's choices: every namespace, no leader
/// election, the emulator on any free loopback port. Built here rather than parsed, so that the
/// AURA_* environment of a shell cannot point the sandbox at the real Aura.
fn operator_args(http_listen: SocketAddr) -> RunArgs {
    RunArgs {
        namespaces: Vec::new(),
        http_listen,
        leader_election: false,
        installation_class: None,
        aura_url: crate::aura::DEFAULT_BASE_URL.to_owned(),
        default_credentials_secret: None,
        default_credentials_namespaces: Vec::new(),
        default_credentials_namespace_selector: None,
        operator_namespace: DEFAULT_NAMESPACE.to_owned(),
        emulator: true,
        emulator_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        allow_insecure_http: false,
        rate_limit: 125,
        resync_seconds: 300,
        max_concurrent_passes: crate::controllers::machinery::admission::DEFAULT_CONCURRENCY as u16,
        // Instances answer Bolt with the emulator's CA, which the operator then trusts.
        verify_connections: true,
        extra_ca_file: None,
    }
}

/// Lists AuraInstances through the kubeconfig over HTTP: the file we are about to hand out works.
async fn self_check(kubeconfig: &str) -> Result<(), SandboxError> {
    let client = memory_apiserver::client_from_kubeconfig(kubeconfig)
        .await
        .map_err(|e| SandboxError::SelfCheck(e.to_string()))?;
    Api::<AuraInstance>::all(client)
        .list(&ListParams::default().limit(1))
        .await
        .map(|_| ())
        .map_err(|e| SandboxError::SelfCheck(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// The kubeconfig file

/// The default kubeconfig: one fixed file per user, so that the `export KUBECONFIG=...` line a
/// user copied stays valid across restarts of the sandbox (with the default `--listen`, even the
/// port is the same).
///
/// `$XDG_RUNTIME_DIR/aura-operator/sandbox.kubeconfig` where the session has one: that folder
/// belongs to the user alone (mode 0700), lives in memory and is emptied at logout, which fits a
/// file that points at a port of a process that keeps nothing. Without it (macOS, containers,
/// cron, `su`), `<temp dir>/aura-operator-<uid>/sandbox.kubeconfig`: the uid keeps users of a
/// shared /tmp apart, and [`KubeconfigFile::prepare`] creates that folder 0700 and refuses one
/// that someone else made first (anyone may create a name in /tmp).
pub fn default_kubeconfig_path() -> Result<PathBuf, SandboxError> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir());
    if let Some(dir) = runtime {
        return Ok(dir.join("aura-operator").join("sandbox.kubeconfig"));
    }
    let user = match current_uid() {
        Some(uid) => uid.to_string(),
        None => std::env::var("USER").unwrap_or_else(|_| "user".to_owned()),
    };
    let folder = std::env::temp_dir().join(format!("aura-operator-{user}"));
    private_folder(&folder)?;
    Ok(folder.join("sandbox.kubeconfig"))
}

/// The uid of this process, from the owner of `/proc/self` (no `unsafe` call to getuid).
fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    None
}

/// Creates `folder` with mode 0700, or checks that the existing one is a real folder of this
/// user that nobody else may write into.
fn private_folder(folder: &Path) -> Result<(), SandboxError> {
    let unsafe_folder = |problem: &str| SandboxError::UnsafeFolder {
        path: folder.to_owned(),
        problem: problem.to_owned(),
    };
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(folder) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(SandboxError::Kubeconfig {
                path: folder.to_owned(),
                source,
            });
        }
    }
    let metadata =
        std::fs::symlink_metadata(folder).map_err(|source| SandboxError::Kubeconfig {
            path: folder.to_owned(),
            source,
        })?;
    if !metadata.is_dir() {
        return Err(unsafe_folder(
            "it is not a folder (a symbolic link or a file)",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if current_uid().is_some_and(|uid| uid != metadata.uid()) {
            return Err(unsafe_folder("another user owns it"));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(unsafe_folder("other users may write into it"));
        }
    }
    Ok(())
}

/// The kubeconfig file: checked before anything starts, written (mode 0600, atomically) once
/// the server answers.
///
/// It stays when the sandbox stops: the `export KUBECONFIG=...` line in the user's shells then
/// still names a file, kubectl says plainly that nothing answers on the sandbox's loopback port
/// (rather than "no configuration"), and the next start rewrites it. It points at a loopback
/// port and holds no credential, so keeping it exposes nothing.
struct KubeconfigFile {
    path: PathBuf,
}

impl KubeconfigFile {
    /// Creates the folder, refuses to replace a file the sandbox did not write, and proves that
    /// a file can be written beside it.
    fn prepare(path: PathBuf) -> Result<Self, SandboxError> {
        let failed = |source| SandboxError::Kubeconfig {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        match std::fs::read_to_string(&path) {
            Ok(existing) if !is_ours(&existing) => {
                return Err(SandboxError::ForeignKubeconfig { path });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A folder, or a file we may not read: not ours to replace.
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                return Err(SandboxError::ForeignKubeconfig { path });
            }
            Err(source) => return Err(failed(source)),
        }
        let file = Self { path };
        let probe = file.partial();
        file.create_partial(&probe)?;
        let _ = std::fs::remove_file(&probe);
        Ok(file)
    }

    /// The file beside the kubeconfig that is renamed into place.
    fn partial(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubeconfig".to_owned());
        self.path
            .with_file_name(format!(".{name}.{}.partial", std::process::id()))
    }

    /// Creates `partial` anew, readable by this user only (never through a planted symlink).
    fn create_partial(&self, partial: &Path) -> Result<std::fs::File, SandboxError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let _ = std::fs::remove_file(partial);
        options
            .open(partial)
            .map_err(|source| SandboxError::Kubeconfig {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes `text` beside the file and renames it into place: a reader never sees half a
    /// file, and the file's appearance means the server answers.
    fn write(&self, text: &str) -> Result<(), SandboxError> {
        let partial = self.partial();
        let written = self
            .create_partial(&partial)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|source| SandboxError::Kubeconfig {
                        path: self.path.clone(),
                        source,
                    })
            })
            .and_then(|()| {
                std::fs::rename(&partial, &self.path).map_err(|source| SandboxError::Kubeconfig {
                    path: self.path.clone(),
                    source,
                })
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }
}

/// Whether a kubeconfig's text is one the sandbox wrote (or an empty file, as `mktemp` makes).
fn is_ours(text: &str) -> bool {
    if text.trim().is_empty() {
        return true;
    }
    serde_norway::from_str::<Value>(text)
        .ok()
        .is_some_and(|config| config["current-context"] == CONTEXT)
}

/// memory-apiserver's kubeconfig with the sandbox's name for its cluster, user and context
/// (what `kubectl config current-context` shows, and how [`is_ours`] knows the file), as YAML.
fn kubeconfig_text(served: &str) -> Result<String, SandboxError> {
    let mut config: Value =
        serde_json::from_str(served).map_err(|e| SandboxError::SelfCheck(e.to_string()))?;
    for list in ["clusters", "users", "contexts"] {
        if let Some(entries) = config[list].as_array_mut() {
            for entry in entries {
                entry["name"] = Value::from(CONTEXT);
            }
        }
    }
    if let Some(contexts) = config["contexts"].as_array_mut() {
        for context in contexts {
            context["context"]["cluster"] = Value::from(CONTEXT);
            context["context"]["user"] = Value::from(CONTEXT);
        }
    }
    config["current-context"] = Value::from(CONTEXT);
    let yaml =
        serde_norway::to_string(&config).map_err(|e| SandboxError::SelfCheck(e.to_string()))?;
    Ok(format!(
        "# Written by `aura-operator sandbox`: its in-memory API server on loopback, no \
         credentials.\n# Rewritten at each start; only the sandbox writes over this file.\n{yaml}"
    ))
}

// ---------------------------------------------------------------------------------------------
// What it prints at startup

struct Banner {
    api_url: String,
    emulator_url: String,
    metrics_url: String,
    kubeconfig: PathBuf,
    /// The emulator's Bolt CA, to trust in drivers that connect to its instances.
    bolt_ca: Option<PathBuf>,
    /// `--wait-ready`: it will exit by itself, so no "try" commands.
    waiting: bool,
}

impl std::fmt::Display for Banner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let export = format!(
            "export KUBECONFIG={}",
            shell_quote(&self.kubeconfig.display().to_string())
        );
        writeln!(
            f,
            "aura-operator sandbox: everything runs in memory in this process. Nothing real is \
             created (no Aura account is used) and nothing is kept when it stops."
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  Kubernetes API:   {} (CRDs installed; namespaces {})",
            self.api_url,
            NAMESPACES.join(", ")
        )?;
        writeln!(f, "  Aura emulator:    {}", self.emulator_url)?;
        writeln!(f, "  operator metrics: {}", self.metrics_url)?;
        writeln!(f, "  kubeconfig:       {}", self.kubeconfig.display())?;
        if let Some(ca) = &self.bolt_ca {
            writeln!(f, "  Bolt CA (PEM):    {}", ca.display())?;
        }
        writeln!(f)?;
        if self.waiting {
            return write!(f, "  {export}");
        }
        writeln!(f, "Try, in another shell (from the repository's folder):")?;
        writeln!(f, "  {export}")?;
        writeln!(
            f,
            "  kubectl apply -f deploy/examples/aurainstance-emulator.yaml"
        )?;
        writeln!(
            f,
            "  kubectl wait auraInstance/demo --for=condition=Ready --timeout=2m"
        )?;
        writeln!(f, "  kubectl get auraInstances")?;
        writeln!(f)?;
        write!(f, "Ctrl-C stops the sandbox.")
    }
}

/// `text` as one shell word: unchanged when it is plain, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,%".contains(c));
    match plain {
        true => text.to_owned(),
        false => format!("'{}'", text.replace('\'', r"'\''")),
    }
}

// ---------------------------------------------------------------------------------------------
// Applying manifests

/// The kinds `--wait-ready` waits for.
fn waited(group: &str, kind: &str) -> bool {
    use kube::Resource;
    group == AuraInstance::group(&())
        && [
            AuraInstance::kind(&()),
            AuraSnapshot::kind(&()),
            GdsSession::kind(&()),
            ClusterAuraCredential::kind(&()),
        ]
        .iter()
        .any(|k| k == kind)
}

/// The order objects are created in, as Helm installs: namespaces and CRDs first, then what
/// Aura resources refer to (Secrets, credentials), then instances before what attaches to them.
/// A resource created before its credentials Secret could be judged without it.
fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ClusterAuraCredential" => 3,
        "AuraInstance" => 4,
        "AuraSnapshot" => 5,
        "GdsSession" => 6,
        _ => 2,
    }
}

/// The manifests with their position, in the order to create them.
fn in_apply_order(manifests: Vec<Manifest>) -> Vec<(usize, Manifest)> {
    let mut ordered: Vec<(usize, Manifest)> = manifests.into_iter().enumerate().collect();
    ordered.sort_by_key(|(index, m)| (apply_rank(&m.kind), *index));
    ordered
}

/// What happened to one object of the manifests.
#[derive(Debug, Clone, PartialEq)]
enum Applied {
    Created,
    /// The sandbox made it already (its CRDs and namespaces): left as it is.
    Exists,
    /// The API server (or the sandbox, for a kind no CRD serves) said no.
    Refused {
        reason: String,
        message: String,
    },
}

/// One object and what became of it.
#[derive(Debug, Clone)]
struct AppliedObject {
    /// Position in the manifests, for reporting in their order.
    index: usize,
    manifest: Manifest,
    resource: ApiResource,
    namespace: Option<String>,
    /// The namespace was created for this object.
    created_namespace: Option<String>,
    applied: Applied,
}

impl AppliedObject {
    fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.manifest.kind, self.manifest.name),
            None => format!("{} {}", self.manifest.kind, self.manifest.name),
        }
    }

    fn print_applied(&self) {
        if let Some(ns) = &self.created_namespace {
            print_out(&format!(
                "created namespace {ns} (it did not exist; {} is in it)",
                self.display_name()
            ));
        }
        let line = match &self.applied {
            Applied::Created => format!("created {}", self.display_name()),
            Applied::Exists => format!(
                "unchanged {} (the sandbox has it already)",
                self.display_name()
            ),
            Applied::Refused { reason, message } => format!(
                "refused {} ({}): {reason}: {message}",
                self.display_name(),
                self.manifest.origin
            ),
        };
        print_out(&line);
    }
}

/// Creates objects through the API server, as `kubectl create -f` would.
struct Applier {
    api: ApiServer,
    namespaces_created: Vec<String>,
}

impl Applier {
    fn new(api: ApiServer) -> Self {
        Self {
            api,
            namespaces_created: Vec::new(),
        }
    }

    async fn apply(&mut self, (index, manifest): (usize, Manifest)) -> AppliedObject {
        let (group, version) = match manifest.api_version.split_once('/') {
            Some((group, version)) => (group.to_owned(), version.to_owned()),
            None => (String::new(), manifest.api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &manifest.kind);
        let mut done = AppliedObject {
            index,
            resource: ApiResource::from_gvk(&gvk),
            namespace: manifest.namespace.clone(),
            manifest,
            created_namespace: None,
            applied: Applied::Created,
        };
        let cluster_scoped = match self.resolve(&gvk) {
            Ok((resource, cluster_scoped)) => {
                done.resource = resource;
                cluster_scoped
            }
            Err(message) => {
                // Its scope is unknown: where the manifest puts it.
                done.namespace = Some(
                    done.manifest
                        .namespace
                        .clone()
                        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
                );
                done.applied = Applied::Refused {
                    reason: "NotFound".to_owned(),
                    message,
                };
                return done;
            }
        };
        done.namespace = match cluster_scoped {
            true => None,
            false => Some(
                done.manifest
                    .namespace
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            ),
        };
        if self.exists_already(&done) {
            done.applied = Applied::Exists;
            return done;
        }
        if let Some(ns) = &done.namespace
            && self.api.get("", "namespaces", None, ns).is_none()
        {
            self.api.create_namespace(ns);
            self.namespaces_created.push(ns.clone());
            done.created_namespace = Some(ns.clone());
        }
        let mut object = done.manifest.object.clone();
        if cluster_scoped && let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        done.applied = match self.create(&done, object).await {
            Ok(()) => Applied::Created,
            Err(refused) => refused,
        };
        done
    }

    /// The resource (plural) and scope of a kind, as the server serves it: the built-in
    /// catalog and every CRD stored so far (a kind or version nothing serves is refused, as
    /// kubectl refuses it on a cluster).
    fn resolve(&self, gvk: &GroupVersionKind) -> Result<(ApiResource, bool), String> {
        let info = self
            .api
            .resource_for_kind(&gvk.group, &gvk.version, &gvk.kind)
            .ok_or_else(|| {
                format!(
                    "no matches for kind {:?} in version {:?}: the API server does not serve it \
                     (is its CRD applied?)",
                    gvk.kind,
                    gvk.api_version()
                )
            })?;
        let resource = ApiResource::from_gvk_with_plural(gvk, &info.plural);
        Ok((resource, !info.namespaced))
    }

    /// Whether the object is one the sandbox made itself (a CRD or a namespace it installs).
    fn exists_already(&self, done: &AppliedObject) -> bool {
        let kind = done.manifest.kind.as_str();
        let name = done.manifest.name.as_str();
        match kind {
            "Namespace" => {
                NAMESPACES.contains(&name) || self.namespaces_created.iter().any(|n| n == name)
            }
            "CustomResourceDefinition" => super::crd::all()
                .iter()
                .any(|(_, crd)| crd.metadata.name.as_deref() == Some(name)),
            _ => false,
        }
    }

    async fn create(&self, done: &AppliedObject, object: Value) -> Result<(), Applied> {
        let object: DynamicObject =
            serde_json::from_value(object).map_err(|e| Applied::Refused {
                reason: "BadRequest".to_owned(),
                message: format!("not a Kubernetes object: {e}"),
            })?;
        let target: Api<DynamicObject> = match &done.namespace {
            Some(ns) => Api::namespaced_with(self.api.client(), ns, &done.resource),
            None => Api::all_with(self.api.client(), &done.resource),
        };
        target
            .create(&PostParams::default(), &object)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                kube::Error::Api(status) => Applied::Refused {
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                },
                other => Applied::Refused {
                    reason: "Error".to_owned(),
                    message: other.to_string(),
                },
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting for Ready

/// How one applied object ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Ready=True.
    Ready,
    /// Not Ready (yet) when the wait ended.
    NotReady,
    /// Only a person can make it Ready (Stalled=True, or a broken ClusterAuraCredential).
    Stalled,
    /// The API server refused to create it.
    Refused,
    /// Created, not a kind that is waited for.
    Created,
    /// The sandbox has it already (its own CRDs and namespaces).
    Unchanged,
}

/// One object in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// File and document it came from.
    pub source: String,
    pub outcome: Outcome,
    /// The Ready condition's status (`True`, `False`, `Unknown`); absent for kinds not waited
    /// for and for refused objects.
    pub ready: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// What `--wait-ready` found: printed as text, or as JSON with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every waited resource is Ready and nothing was refused.
    pub ok: bool,
    /// Why the wait ended: `ready`, `failed` (refused or stalled), `timeout` or `interrupted`.
    pub ended: &'static str,
    pub waited_seconds: f64,
    pub api_server: String,
    pub namespaces_created: Vec<String>,
    pub results: Vec<Entry>,
}

impl Report {
    fn text(&self) -> String {
        let mut lines = Vec::new();
        for entry in &self.results {
            let who = match &entry.namespace {
                Some(ns) => format!("{} {ns}/{}", entry.kind, entry.name),
                None => format!("{} {}", entry.kind, entry.name),
            };
            let reason = entry.reason.as_deref().unwrap_or("-");
            let message = entry.message.as_deref().unwrap_or_default();
            let ready = entry.ready.as_deref().unwrap_or("Unknown");
            lines.push(match entry.outcome {
                Outcome::NotReady if entry.reason.is_none() => {
                    format!("{who}: Ready={ready} (no Ready condition yet)")
                }
                Outcome::Ready | Outcome::NotReady => {
                    format!("{who}: Ready={ready} {reason}: {message}")
                }
                Outcome::Stalled => {
                    format!("{who}: Ready={ready} {reason} (Stalled, needs a change): {message}")
                }
                Outcome::Refused => {
                    format!("{who}: refused by the API server ({reason}): {message}")
                }
                Outcome::Created => format!("{who}: created"),
                Outcome::Unchanged => format!("{who}: unchanged (the sandbox has it already)"),
            });
        }
        let waited = self
            .results
            .iter()
            .filter(|e| {
                matches!(
                    e.outcome,
                    Outcome::Ready | Outcome::NotReady | Outcome::Stalled
                )
            })
            .count();
        let summary = match self.ended {
            "ready" => format!(
                "ok: every applied resource is Ready ({waited} waited for, {:.1} s)",
                self.waited_seconds
            ),
            "failed" => format!(
                "not ok: a resource was refused or is Stalled (after {:.1} s)",
                self.waited_seconds
            ),
            "timeout" => format!(
                "not ok: not every resource was Ready within {:.0} s",
                self.waited_seconds
            ),
            _ => "not ok: interrupted before every resource was Ready".to_owned(),
        };
        lines.push(summary);
        lines.join("\n")
    }
}

/// What a resource's conditions say.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    ready: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    stalled: bool,
}

impl Observed {
    fn is_ready(&self) -> bool {
        self.ready.as_deref() == Some("True")
    }
}

/// Reads Ready (and Stalled) from a stored object. A ClusterAuraCredential has no Stalled: a
/// spec error or a Secret without its keys stays until someone changes one (its controller
/// watches the Secret, so one created later is noticed at once).
fn observe(stored: Option<&Value>, kind: &str) -> Observed {
    let conditions = stored
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let generation = stored
        .and_then(|o| o.pointer("/metadata/generation"))
        .cloned();
    let find = |type_: &str| conditions.iter().find(|c| c["type"] == type_);
    let text = |c: &Value, key: &str| c[key].as_str().map(str::to_owned);
    let ready = find("Ready");
    let stalled = if kind == "ClusterAuraCredential" {
        ready.is_some_and(|c| {
            c["status"] == "False"
                && [Reason::InvalidSpec, Reason::CredentialsInvalid]
                    .iter()
                    .any(|r| c["reason"] == r.as_str())
        })
    } else {
        find("Stalled").is_some_and(|c| {
            let current = match (&generation, c.get("observedGeneration")) {
                (Some(generation), Some(observed)) => generation == observed,
                _ => true,
            };
            c["status"] == "True" && current
        })
    };
    let explained = ready.or_else(|| find("Stalled"));
    Observed {
        ready: ready.and_then(|c| text(c, "status")),
        reason: explained.and_then(|c| text(c, "reason")),
        message: explained.and_then(|c| text(c, "message")),
        stalled,
    }
}

/// Waits until every waited resource is Ready, one is refused or stays Stalled for
/// [`STALL_GRACE`], the time is up, or a signal comes.
async fn wait_ready(
    api: &ApiServer,
    api_url: &str,
    applied: &[AppliedObject],
    namespaces_created: &[String],
    timeout: Duration,
    signal: Stop,
) -> Report {
    let started = Instant::now();
    let mut stalled_since: HashMap<usize, Instant> = HashMap::new();
    let is_waited = |a: &AppliedObject| waited(&a.resource.group, &a.manifest.kind);
    // When the first failure was known: the others then get STALL_GRACE to show a verdict of
    // their own, so that the report says more than "Unknown" about them.
    let mut failed_at: Option<Instant> = None;
    let ended = loop {
        let now = Instant::now();
        let mut all_ready = true;
        let mut all_decided = true;
        let mut failed = false;
        for (i, object) in applied.iter().enumerate() {
            if let Applied::Refused { .. } = object.applied {
                failed = true;
                continue;
            }
            if !is_waited(object) || object.applied != Applied::Created {
                continue;
            }
            let observed = observe(stored(api, object).as_ref(), &object.manifest.kind);
            all_ready &= observed.is_ready();
            let mut stuck = false;
            if observed.stalled {
                let since = *stalled_since.entry(i).or_insert(now);
                stuck = now.duration_since(since) >= STALL_GRACE;
            } else {
                stalled_since.remove(&i);
            }
            failed |= stuck;
            all_decided &= stuck || observed.is_ready();
        }
        if failed {
            let since = *failed_at.get_or_insert(now);
            if all_decided || now.duration_since(since) >= STALL_GRACE {
                break "failed";
            }
        } else if all_ready {
            break "ready";
        }
        if now.duration_since(started) >= timeout {
            break "timeout";
        }
        tokio::select! {
            () = tokio::time::sleep(WAIT_POLL) => {}
            () = signal.clone() => break "interrupted",
        }
    };
    let results: Vec<Entry> = applied
        .iter()
        .map(|object| entry(api, object, is_waited(object)))
        .collect();
    let ok = ended == "ready";
    Report {
        ok,
        ended,
        waited_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        api_server: api_url.to_owned(),
        namespaces_created: namespaces_created
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        results,
    }
}

fn stored(api: &ApiServer, object: &AppliedObject) -> Option<Value> {
    api.get(
        &object.resource.group,
        &object.resource.plural,
        object.namespace.as_deref(),
        &object.manifest.name,
    )
}

/// The report line of one object, as it is now.
fn entry(api: &ApiServer, object: &AppliedObject, is_waited: bool) -> Entry {
    let mut entry = Entry {
        kind: object.manifest.kind.clone(),
        namespace: object.namespace.clone(),
        name: object.manifest.name.clone(),
        source: object.manifest.origin.to_string(),
        outcome: Outcome::Created,
        ready: None,
        reason: None,
        message: None,
    };
    match &object.applied {
        Applied::Refused { reason, message } => {
            entry.outcome = Outcome::Refused;
            entry.reason = Some(reason.clone());
            entry.message = Some(message.clone());
        }
        Applied::Exists => entry.outcome = Outcome::Unchanged,
        Applied::Created if is_waited => {
            let observed = observe(stored(api, object).as_ref(), &object.manifest.kind);
            entry.outcome = if observed.is_ready() {
                Outcome::Ready
            } else if observed.stalled {
                Outcome::Stalled
            } else {
                Outcome::NotReady
            };
            entry.ready = Some(observed.ready.unwrap_or_else(|| "Unknown".to_owned()));
            entry.reason = observed.reason;
            entry.message = observed.message;
        }
        Applied::Created => {}
    }
    entry
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    fn parse(flags: &[&str]) -> Result<SandboxArgs, clap::Error> {
        use clap::Parser;
        let all = std::iter::once("sandbox").chain(flags.iter().copied());
        Cli::try_parse_from(all).map(|cli| cli.sandbox)
    }

    #[test]
    fn the_flags_default_to_a_fixed_loopback_port_and_the_emulator_s_timings() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.listen.to_string(), "127.0.0.1:7443");
        assert_eq!(args.kubeconfig, None);
        assert!(args.apply.is_empty() && args.wait_ready.is_none());
        assert_eq!(args.output, OutputFormat::Text);
        assert_eq!(args.transition_ms, 300);
        let ci = parse(&[
            "--apply",
            "a.yaml",
            "deploy/",
            "--apply",
            "b.yaml",
            "--wait-ready",
            "90",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(
            ci.apply,
            [
                Path::new("a.yaml"),
                Path::new("deploy/"),
                Path::new("b.yaml")
            ]
        );
        assert_eq!(ci.wait_ready, Some(90));
        assert_eq!(ci.output, OutputFormat::Json);
    }

    #[test]
    fn waiting_needs_something_applied_and_json_needs_a_wait() {
        assert!(parse(&["--wait-ready", "10"]).is_err());
        assert!(parse(&["--apply", "a.yaml", "--output", "json"]).is_err());
    }

    #[test]
    fn ready_and_stalled_are_read_from_the_conditions() {
        let object = json!({
            "metadata": {"generation": 2},
            "status": {"conditions": [
                {"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "spec.memory: no"},
                {"type": "Stalled", "status": "True", "reason": "InvalidSpec", "observedGeneration": 2},
            ]}
        });
        let seen = observe(Some(&object), "AuraInstance");
        assert!(seen.stalled && !seen.is_ready());
        assert_eq!(seen.reason.as_deref(), Some("InvalidSpec"));
        assert_eq!(seen.message.as_deref(), Some("spec.memory: no"));
        // A Stalled of an older generation says nothing about the current spec.
        let mut newer = object.clone();
        newer["metadata"]["generation"] = json!(3);
        assert!(!observe(Some(&newer), "AuraInstance").stalled);
        let ready = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Running", "message": "ok"},
        ]}});
        assert!(observe(Some(&ready), "AuraInstance").is_ready());
        let nothing = observe(None, "AuraInstance");
        assert_eq!(nothing.ready, None);
        assert!(!nothing.stalled);
    }

    #[test]
    fn a_broken_cluster_credential_counts_as_stalled() {
        let object = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "CredentialsInvalid", "message": "m"},
        ]}});
        assert!(observe(Some(&object), "ClusterAuraCredential").stalled);
    }

    #[test]
    fn namespaces_and_secrets_are_created_before_the_resources_that_need_them() {
        let manifests = manifests::parse_yaml(
            Path::new("x.yaml"),
            "apiVersion: aura.neo4j.io/v1alpha1\nkind: GdsSession\nmetadata: {name: s}\n---\n\
             apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\nmetadata: {name: i}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: k}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
        )
        .unwrap();
        let order: Vec<(usize, String)> = in_apply_order(manifests)
            .into_iter()
            .map(|(i, m)| (i, m.kind))
            .collect();
        assert_eq!(
            order,
            [
                (3, "Namespace".to_owned()),
                (2, "Secret".to_owned()),
                (1, "AuraInstance".to_owned()),
                (0, "GdsSession".to_owned()),
            ]
        );
    }

    #[test]
    fn the_kubeconfig_carries_the_sandbox_name_and_is_recognised() {
        let served = memory_apiserver::kubeconfig("http://127.0.0.1:7443", "default");
        let text = kubeconfig_text(&served).unwrap();
        assert!(is_ours(&text), "{text}");
        assert!(is_ours(""));
        assert!(
            !is_ours(&served),
            "memory-apiserver's own file is not the sandbox's"
        );
        assert!(!is_ours(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        ));
        let config: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(
            config["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:7443"
        );
        assert_eq!(config["contexts"][0]["context"]["namespace"], "default");
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_quote("/run/user/1000/a.kubeconfig"),
            "/run/user/1000/a.kubeconfig"
        );
        assert_eq!(shell_quote("/tmp/my dir/x"), "'/tmp/my dir/x'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }

    #[test]
    fn the_banner_says_nothing_is_real_and_how_to_go_on() {
        let banner = Banner {
            api_url: "http://127.0.0.1:7443".into(),
            emulator_url: "http://127.0.0.1:4000/v1".into(),
            metrics_url: "http://127.0.0.1:4001/metrics".into(),
            bolt_ca: Some("/tmp/aura-emulator-4000-bolt-ca.pem".into()),
            kubeconfig: PathBuf::from("/run/user/1000/aura-operator/sandbox.kubeconfig"),
            waiting: false,
        }
        .to_string();
        for expected in [
            "Nothing real is created",
            "export KUBECONFIG=/run/user/1000/aura-operator/sandbox.kubeconfig",
            "http://127.0.0.1:7443",
            "http://127.0.0.1:4000/v1",
            "kubectl apply -f deploy/examples/aurainstance-emulator.yaml",
            "kubectl get auraInstances",
            "Bolt CA (PEM):    /tmp/aura-emulator-4000-bolt-ca.pem",
        ] {
            assert!(banner.contains(expected), "{expected:?} missing:\n{banner}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_in_a_shared_temp_dir_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&base).unwrap();
        let fresh = base.join("fresh");
        private_folder(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        private_folder(&fresh).expect("its own folder, again");

        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_folder(&open).unwrap_err();
        assert!(
            err.to_string().contains("other users may write into it"),
            "{err}"
        );

        let planted = base.join("planted");
        std::os::unix::fs::symlink(&fresh, &planted).unwrap();
        let err = private_folder(&planted).unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_kubeconfig_the_sandbox_did_not_write_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let theirs = dir.join("config");
        std::fs::write(
            &theirs,
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\n",
        )
        .unwrap();
        let err = KubeconfigFile::prepare(theirs.clone()).err().unwrap();
        assert!(
            matches!(err, SandboxError::ForeignKubeconfig { .. }),
            "{err}"
        );
        assert!(std::fs::read_to_string(&theirs).unwrap().contains("prod"));

        let ours = KubeconfigFile::prepare(dir.join("new/sandbox.kubeconfig")).unwrap();
        ours.write("current-context: aura-operator-sandbox\n")
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&ours.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Written again over its own file, and nothing left beside it.
        KubeconfigFile::prepare(ours.path.clone()).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.join("new")).unwrap().collect();
        assert_eq!(left.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
