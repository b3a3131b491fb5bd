//! The kubectl plugin: the same binary, called as `kubectl-aura` (a symlink on PATH), answers
//! `kubectl aura status|plan|import|connect|suspend|resume|adopt`, with kubectl's -n,
//! --context and --kubeconfig.

use std::fmt::Write as _;

use clap::{Parser, Subcommand};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::cli::import::{self, ImportArgs, Policy};
use crate::cli::kube_connect::{Connection, KubeArgs};
use crate::cli::plan::aura_side::ReadArgs;
use crate::cli::plan::{self, PlanArgs};
use crate::controllers::connection::secrets::Existing;
use crate::controllers::instance::secret;
use crate::controllers::reconciler::suspend;
use crate::crd::conditions::{self, DRIFTED, READY};
use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};

/// The field manager of the plugin's writes (suspend, resume, adopt).
const FIELD_MANAGER: &str = "kubectl-aura";

/// Whether the program was called as the kubectl plugin (its file name is `kubectl-aura`).
pub fn called_as_plugin(argv0: &str) -> bool {
    std::path::Path::new(argv0)
        .file_stem()
        .is_some_and(|name| name == "kubectl-aura")
}

/// Neo4j Aura resources from kubectl.
#[derive(Debug, Parser)]
#[command(name = "kubectl aura", bin_name = "kubectl aura", version)]
pub struct PluginCli {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Every Aura resource of the namespace (or all, with -A): Ready, reason, instance id,
    /// Aura status, memory and drift.
    Status {
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// What the operator would do in Aura for these manifests (see `aura-operator plan`).
    Plan(PlanArgs),
    /// Manifests for the instances of a tenant that nothing manages yet.
    Import(ImportArgs),
    /// The connection URI of an AuraInstance and a cypher-shell line, from its Secret.
    Connect { name: String },
    /// Stop every Aura call for a resource (the aura.neo4j.io/suspend annotation).
    Suspend {
        name: String,
        #[arg(long, value_enum, default_value = "AuraInstance")]
        kind: Kind,
    },
    /// Let the operator act on a suspended resource again.
    Resume {
        name: String,
        #[arg(long, value_enum, default_value = "AuraInstance")]
        kind: Kind,
    },
    /// Write an AuraInstance for an existing Aura instance (spec from its live state).
    Adopt(AdoptArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    #[value(name = "AuraInstance")]
    AuraInstance,
    #[value(name = "AuraSnapshot")]
    AuraSnapshot,
    #[value(name = "GdsSession")]
    GdsSession,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AdoptArgs {
    pub instance_id: String,
    /// The resource's name; default: from the instance's Aura name.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum, default_value = "Observe")]
    pub management_policy: Policy,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs the plugin; the exit status (plan's 0/2/1, else 0 or 1).
pub async fn run(cli: PluginCli) -> Result<u8, String> {
    let kube = &cli.kube;
    let text = match cli.command {
        PluginCommand::Plan(args) => {
            return plan::run(kube, &args).await.map_err(|e| e.to_string());
        }
        PluginCommand::Import(args) => {
            return import::run(kube, &args)
                .await
                .map(|()| 0)
                .map_err(|e| e.to_string());
        }
        PluginCommand::Status { all_namespaces } => {
            status(&to(kube).await?, all_namespaces).await?
        }
        PluginCommand::Connect { name } => connect(&to(kube).await?, &name).await?,
        PluginCommand::Suspend { name, kind } => {
            annotate(&to(kube).await?, kind, &name, true).await?
        }
        PluginCommand::Resume { name, kind } => {
            annotate(&to(kube).await?, kind, &name, false).await?
        }
        PluginCommand::Adopt(args) => adopt(&to(kube).await?, &args).await?,
    };
    print!("{text}");
    Ok(0)
}

/// The cluster, as kubectl would reach it with the same flags.
async fn to(kube: &KubeArgs) -> Result<Connection, String> {
    kube.connect().await.map_err(|e| e.to_string())
}

fn api<K>(c: &Connection, all: bool) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match all {
        true => Api::all(c.client.clone()),
        false => Api::namespaced(c.client.clone(), &c.namespace),
    }
}

/// One row of `status`.
struct Row {
    kind: &'static str,
    namespace: String,
    name: String,
    ready: String,
    reason: String,
    id: String,
    aura: String,
    memory: String,
    drift: String,
}

fn row<K: kube::Resource>(
    kind: &'static str,
    obj: &K,
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Row {
    let ready = conditions::find(conds, READY);
    let dash = || "-".to_owned();
    Row {
        kind,
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        ready: ready.map_or_else(dash, |c| c.status.clone()),
        reason: ready.map_or_else(dash, |c| c.reason.clone()),
        id: dash(),
        aura: dash(),
        memory: dash(),
        drift: conditions::find(conds, DRIFTED).map_or_else(dash, |c| c.status.clone()),
    }
}

async fn status(c: &Connection, all: bool) -> Result<String, String> {
    let listed = |e: kube::Error| format!("cannot list Aura resources: {e}");
    let params = ListParams::default();
    let mut rows = Vec::new();
    for obj in api::<AuraInstance>(c, all)
        .list(&params)
        .await
        .map_err(listed)?
    {
        let s = obj.status.clone().unwrap_or_default();
        rows.push(Row {
            id: s.instance_id.clone().unwrap_or_else(|| "-".into()),
            aura: s.status.as_ref().map_or("-".into(), |v| v.to_string()),
            memory: s.memory.clone().unwrap_or_else(|| "-".into()),
            ..row("AuraInstance", &obj, &s.conditions)
        });
    }
    for obj in api::<AuraSnapshot>(c, all)
        .list(&params)
        .await
        .map_err(listed)?
    {
        let s = obj.status.clone().unwrap_or_default();
        rows.push(Row {
            id: s.snapshot_id.clone().unwrap_or_else(|| "-".into()),
            aura: s.status.as_ref().map_or("-".into(), |v| v.to_string()),
            ..row("AuraSnapshot", &obj, &s.conditions)
        });
    }
    for obj in api::<GdsSession>(c, all)
        .list(&params)
        .await
        .map_err(listed)?
    {
        let s = obj.status.clone().unwrap_or_default();
        rows.push(Row {
            id: s.session_id.clone().unwrap_or_else(|| "-".into()),
            aura: s.status.as_ref().map_or("-".into(), |v| v.to_string()),
            memory: s.memory.clone().unwrap_or_else(|| "-".into()),
            ..row("GdsSession", &obj, &s.conditions)
        });
    }
    if rows.is_empty() {
        return Ok(format!("No Aura resources in namespace {}.\n", c.namespace));
    }
    Ok(table(&rows, all))
}

fn table(rows: &[Row], all: bool) -> String {
    let mut lines = vec![
        vec![
            "KIND",
            "NAMESPACE",
            "NAME",
            "READY",
            "REASON",
            "ID",
            "AURA",
            "MEMORY",
            "DRIFT",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>(),
    ];
    for r in rows {
        lines.push(vec![
            r.kind.to_owned(),
            r.namespace.clone(),
            r.name.clone(),
            r.ready.clone(),
            r.reason.clone(),
            r.id.clone(),
            r.aura.clone(),
            r.memory.clone(),
            r.drift.clone(),
        ]);
    }
    if !all {
        lines.iter_mut().for_each(|l| {
            l.remove(1);
        });
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("   ").trim_end());
    }
    out
}

async fn connect(c: &Connection, name: &str) -> Result<String, String> {
    let instances: Api<AuraInstance> = api(c, false);
    let obj = instances
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read AuraInstance {name}: {e}"))?
        .ok_or_else(|| {
            format!(
                "AuraInstance {:?} not found in namespace {}",
                name, c.namespace
            )
        })?;
    let secret_name = secret::name(&obj);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = api(c, false);
    let found = match secrets.get_opt(&secret_name).await {
        Ok(found) => found,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(format!(
                "you may not read Secret {}/{secret_name}, which holds the connection details \
                 (RBAC: get on secrets in this namespace); ask for it, or for the URI from \
                 someone who may",
                c.namespace
            ));
        }
        Err(e) => return Err(format!("cannot read Secret {secret_name}: {e}")),
    };
    let Some(found) = found else {
        return Err(format!(
            "Secret {}/{secret_name} does not exist yet: is AuraInstance {name} Ready?",
            c.namespace
        ));
    };
    let fields = Existing { secret: found }.fields();
    let uri = fields.get("uri").ok_or("the Secret holds no URI yet")?;
    let username = fields.get("username").unwrap_or("neo4j");
    let password = secret::layout(&obj).describe("password");
    let key = password.strip_prefix("key ").unwrap_or("NEO4J_PASSWORD");
    Ok(format!(
        "URI:      {uri}\nUsername: {username}\nPassword: {password} of Secret {secret_name}\n\n\
         cypher-shell -a '{uri}' -u '{username}' -p \"$(kubectl get secret {secret_name} -n {} \
         -o jsonpath='{{.data.{key}}}' | base64 -d)\"\n",
        c.namespace
    ))
}

async fn annotate(c: &Connection, kind: Kind, name: &str, on: bool) -> Result<String, String> {
    let value = on.then_some("true");
    let patch = json!({"metadata": {"annotations": {suspend::ANNOTATION: value}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(&patch);
    let done = match kind {
        Kind::AuraInstance => api::<AuraInstance>(c, false)
            .patch(name, &params, &patch)
            .await
            .map(|_| ()),
        Kind::AuraSnapshot => api::<AuraSnapshot>(c, false)
            .patch(name, &params, &patch)
            .await
            .map(|_| ()),
        Kind::GdsSession => api::<GdsSession>(c, false)
            .patch(name, &params, &patch)
            .await
            .map(|_| ()),
    };
    done.map_err(|e| format!("cannot annotate {kind:?} {name}: {e}"))?;
    Ok(match on {
        true => format!("{kind:?} {name} suspended: the operator makes no Aura call for it\n"),
        false => format!("{kind:?} {name} resumed: the operator acts on it again\n"),
    })
}

async fn adopt(c: &Connection, args: &AdoptArgs) -> Result<String, String> {
    let (side, aura) = args
        .read
        .client(&c.client, &c.namespace)
        .await
        .map_err(|e| e.to_string())?;
    let id = crate::aura::InstanceId::new(args.instance_id.as_str()).map_err(|e| e.to_string())?;
    let instance = side
        .instance(&aura, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Aura has no instance {id} visible to this credential"))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| import::resource_name(&instance));
    let credential = args.read.credential_ref.as_deref();
    let manifest = import::manifest(
        &instance,
        &name,
        &c.namespace,
        args.management_policy,
        credential,
    );
    let obj: AuraInstance = serde_json::from_value(manifest).map_err(|e| e.to_string())?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    api::<AuraInstance>(c, false)
        .create(&params, &obj)
        .await
        .map_err(|e| format!("cannot create AuraInstance {name}: {e}"))?;
    Ok(format!(
        "auraInstance.aura.neo4j.io/{name} created: adopts Aura instance {id} ({})\n",
        instance.name
    ))
}
