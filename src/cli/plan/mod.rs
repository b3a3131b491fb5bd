//! `aura-operator plan`: what the operator would do in Aura for a set of manifests, before they
//! are applied (as `terraform plan`).
//!
//! For each AuraInstance, AuraSnapshot and GdsSession in the files it runs what a pass of the
//! controller runs before acting: the API server's admission (schema and CEL, see
//! [`admission`]), the kind's `validate`, the credential the resource would use and what that
//! credential allows, the tenant's offers, the claim on an adopted instance, and the kind's pure
//! `plan` step, fed with the instance as the operator last observed it (the resource's status
//! and one instance list per credential and tenant) or, with `--refresh`, as Aura reports it
//! now. It makes no Kubernetes write and no changing Aura call.
//!
//! Exit status: 0 when nothing in Aura would change, 2 when something would, 1 when a
//! resource would be refused or the plan could not be made.

pub mod admission;
pub mod aura_side;
pub mod cluster;
pub mod input;
pub mod instance;
pub mod prune;
pub mod report;
pub mod session;
pub mod snapshot;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use self::admission::Admission;
use self::aura_side::AuraSide;
use self::cluster::{Cluster, Listed};
use self::input::Input;
use self::report::{Action, Entry, Report};
use crate::aura;
use crate::cli::kube_connect::{ConnectError, KubeArgs};
use crate::controllers::AuraSettings;
use crate::controllers::tenancy::installation::InstallationClass;
use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};

/// Options of `plan` (the kubectl flags come with [`KubeArgs`]).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or folders (their *.yaml, *.yml and *.json files), as kubectl's -f.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// `text`, or `json` for bots.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    /// Read every instance from Aura now (through the operator's rate budget) instead of
    /// taking the state the operator last recorded.
    #[arg(long)]
    pub refresh: bool,
    /// Also list resources in the cluster that the files do not name, with what deleting them
    /// would do in Aura.
    #[arg(long)]
    pub prune: bool,
    /// A YAML file with clientId and clientSecret, used for every resource instead of the
    /// credential it names (which plan otherwise reads from the cluster).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Aura API base URL.
    #[arg(long, env = "AURA_API_URL", default_value = aura::DEFAULT_BASE_URL)]
    pub aura_url: String,
    /// Allow a plain-http Aura URL (the emulator's).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Aura requests per minute per credential (the operator's budget).
    #[arg(long, env = "AURA_RATE_LIMIT", default_value_t = 125)]
    pub rate_limit: u32,
    /// The operator's namespace, where its claims (which resource manages which instance) live.
    #[arg(long, env = "AURA_OPERATOR_NAMESPACE", default_value = "aura-operator")]
    pub operator_namespace: String,
    /// Plan as the installation of this class (`run --installation-class`): manifests labelled
    /// for another installation are skipped with a warning, and ClusterAuraCredentials of another
    /// class are refused as that installation's. Unset: the default installation.
    #[arg(long, env = "AURA_INSTALLATION_CLASS", value_parser = crate::cli::run::parse_class)]
    pub installation_class: Option<InstallationClass>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Why no plan could be made at all (a resource's own problem is a refused entry instead).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Manifests(#[from] crate::cli::manifests::ManifestError),
    #[error(transparent)]
    Credentials(#[from] aura_side::FileError),
    #[error("cannot read {what} from the cluster: {source}")]
    Cluster {
        what: String,
        #[source]
        source: kube::Error,
    },
}

/// Makes the plan, prints it, and returns the exit status.
pub async fn run(kube: &KubeArgs, args: &PlanArgs) -> Result<u8, PlanError> {
    let report = make(kube, args).await?;
    match args.output {
        Output::Text => print!("{}", report::text(&report)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    Ok(report::exit_code(&report))
}

/// The plan of `args.files` against the cluster `kube` connects to.
pub async fn make(kube: &KubeArgs, args: &PlanArgs) -> Result<Report, PlanError> {
    let connection = kube.connect().await?;
    let mut warnings = Vec::new();
    let class = args.installation_class.clone().unwrap_or_default();
    let inputs = input::read(&args.files, &connection.namespace, &mut warnings)?;
    let inputs = input::of_class(inputs, &class, &mut warnings);
    let file = args
        .credentials_file
        .as_deref()
        .map(aura_side::read_credentials)
        .transpose()?;
    let settings =
        AuraSettings::from_flags(&args.aura_url, args.allow_insecure_http, args.rate_limit);
    let mut planner = Planner {
        aura: AuraSide::new(
            connection.client.clone(),
            settings,
            file,
            &args.operator_namespace,
        )
        .with_class(class),
        cluster: Cluster::new(connection.client),
        admission: Admission::new(),
        refresh: args.refresh,
        operator_namespace: args.operator_namespace.clone(),
        created: applied_now(),
        pending: Vec::new(),
    };
    let started = Instant::now();
    let mut admitted = Vec::new();
    for input in &inputs {
        admitted.push(planner.admit(input).await?);
    }
    planner.pending = pending(&admitted);
    let mut resources = Vec::new();
    for one in admitted {
        resources.push(planner.one(one).await);
    }
    let took = started.elapsed();
    if args.prune {
        let mut namespaces: BTreeSet<String> = inputs.iter().map(|i| i.namespace.clone()).collect();
        namespaces.insert(connection.namespace.clone());
        let named = inputs
            .iter()
            .map(|i| {
                (
                    i.manifest.kind.clone(),
                    i.namespace.clone(),
                    i.manifest.name.clone(),
                )
            })
            .collect();
        let pruned = prune::unnamed(&mut planner.cluster, &namespaces, &named)
            .await
            .map_err(|source| cluster_error("the resources to prune", source))?;
        resources.extend(pruned);
    }
    Ok(Report {
        resources,
        warnings,
        aura_calls: planner.aura.calls(),
        refresh_seconds: args.refresh.then(|| seconds(took)),
        observed_from: if args.refresh { "live" } else { "status" },
    })
}

fn seconds(took: Duration) -> f64 {
    (took.as_secs_f64() * 10.0).round() / 10.0
}

fn cluster_error(what: &str, source: kube::Error) -> PlanError {
    PlanError::Cluster {
        what: what.to_owned(),
        source,
    }
}

/// When the manifests not in the cluster yet would be created: now, to the second as the API
/// server stamps `creationTimestamp`, and the same for all of them, as for one `kubectl apply`.
fn applied_now() -> Time {
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// An admitted manifest: its entry, the object as the API server would store it, and the
/// cluster's copy.
struct Stored<K> {
    entry: Entry,
    obj: K,
    cluster: Option<K>,
}

/// A manifest after the API server's admission, or its refused entry.
enum Admitted {
    Instance(Box<Stored<AuraInstance>>),
    Snapshot(Box<Stored<AuraSnapshot>>),
    Session(Box<Stored<GdsSession>>),
    Refused(Entry),
}

fn stored<K>(entry: Entry, obj: K, cluster: Option<K>) -> Box<Stored<K>> {
    Box::new(Stored {
        entry,
        obj,
        cluster,
    })
}

/// The AuraInstances that applying the manifests would add to the cluster, each with a stand-in
/// UID (the operator's count tells resources apart by UID).
fn pending(admitted: &[Admitted]) -> Vec<AuraInstance> {
    admitted
        .iter()
        .filter_map(|one| match one {
            Admitted::Instance(stored) if stored.cluster.is_none() => {
                let (entry, mut obj) = (&stored.entry, stored.obj.clone());
                obj.metadata.uid = Some(format!("planned:{}/{}", entry.namespace, entry.name));
                Some(obj)
            }
            _ => None,
        })
        .collect()
}

/// What planning needs: the cluster, Aura, the API server's admission, and the options.
pub struct Planner {
    cluster: Cluster,
    aura: AuraSide,
    admission: Admission,
    refresh: bool,
    operator_namespace: String,
    /// The `creationTimestamp` of every manifest not in the cluster yet.
    created: Time,
    /// The AuraInstances of the files not in the cluster yet, as admitted (see [`pending`]).
    pending: Vec<AuraInstance>,
}

impl Planner {
    /// One manifest through the API server's admission.
    async fn admit(&mut self, input: &Input) -> Result<Admitted, PlanError> {
        let m = &input.manifest;
        let entry = Entry::new(
            &m.kind,
            &input.namespace,
            &m.name,
            &m.origin.to_string(),
            Action::NoChange,
        );
        Ok(match m.kind.as_str() {
            "AuraInstance" => match self.admitted::<AuraInstance>(input, &entry).await? {
                Ok((obj, cluster)) => Admitted::Instance(stored(entry, obj, cluster)),
                Err(refused) => Admitted::Refused(refused),
            },
            "AuraSnapshot" => match self.admitted::<AuraSnapshot>(input, &entry).await? {
                Ok((obj, cluster)) => Admitted::Snapshot(stored(entry, obj, cluster)),
                Err(refused) => Admitted::Refused(refused),
            },
            _ => match self.admitted::<GdsSession>(input, &entry).await? {
                Ok((obj, cluster)) => Admitted::Session(stored(entry, obj, cluster)),
                Err(refused) => Admitted::Refused(refused),
            },
        })
    }

    /// The entry of one admitted manifest.
    async fn one(&mut self, admitted: Admitted) -> Entry {
        match admitted {
            Admitted::Instance(s) => {
                let Stored {
                    entry,
                    obj,
                    cluster,
                } = *s;
                let cluster = cluster.as_ref();
                self.instance(instance::Subject {
                    obj,
                    cluster,
                    entry,
                })
                .await
            }
            Admitted::Snapshot(s) => self.snapshot(s.entry, &s.obj, s.cluster.as_ref()).await,
            Admitted::Session(s) => self.session(s.entry, &s.obj, s.cluster.as_ref()).await,
            Admitted::Refused(entry) => entry,
        }
    }

    /// The manifest as the API server would store it (defaults filled in) with the identity
    /// of the cluster's copy, and that copy; or the refused entry.
    async fn admitted<K: Listed + serde::Serialize>(
        &mut self,
        input: &Input,
        entry: &Entry,
    ) -> Result<Result<(K, Option<K>), Entry>, PlanError> {
        let m = &input.manifest;
        let cluster: Option<K> =
            self.cluster
                .find(&input.namespace, &m.name)
                .await
                .map_err(|source| {
                    cluster_error(
                        &format!("{} {}/{}", m.kind, input.namespace, m.name),
                        source,
                    )
                })?;
        let current = cluster
            .as_ref()
            .map(|c| serde_json::to_value(c).unwrap_or_default());
        let refuse = |reason: &str, message: String| {
            Entry {
                action: Action::Refused,
                ..entry.clone()
            }
            .with_note(reason, message)
        };
        let admitted = match self
            .admission
            .admit(&input.namespace, &m.object, current.as_ref())
            .await
        {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(Err(refuse(&refusal.reason, refusal.message))),
        };
        let mut obj: K = match serde_json::from_value(admitted) {
            Ok(obj) => obj,
            Err(e) => return Ok(Err(refuse("BadRequest", e.to_string()))),
        };
        let identity = cluster
            .as_ref()
            .map(|c| c.meta().clone())
            .unwrap_or_default();
        let meta = obj.meta_mut();
        meta.namespace = Some(input.namespace.clone());
        meta.uid = identity.uid;
        meta.generation = identity.generation;
        // A resource not in the cluster yet would be created now, after every other, in the
        // same second as the other new ones.
        meta.creation_timestamp = identity
            .creation_timestamp
            .or_else(|| Some(self.created.clone()));
        meta.resource_version = identity.resource_version;
        Ok(Ok((obj, cluster)))
    }
}
