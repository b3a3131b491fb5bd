//! memory-apiserver as an API server of its own on loopback, for running an operator binary or a
//! container image (host network) against it with no cluster:
//!
//! ```text
//! cargo run -p memory-apiserver --example serve -- --kubeconfig FILE [--crds DIR]
//!     [--create FILE.yaml]... [--wait-ready SECONDS] [--listen 127.0.0.1:0] [--namespace default]
//! ```
//!
//! The CustomResourceDefinitions in `--crds` are installed (stored as objects, and those that
//! declare a status subresource get one), then the server listens and writes a kubeconfig for
//! itself to `--kubeconfig`. That file is written last and renamed into place, so its appearance
//! means the server is up. `--create` creates every object in a YAML file (as `kubectl create -f`).
//! With `--wait-ready` it exits 0 once every created object has the condition `Ready=True`, or 1
//! after SECONDS, printing each object's status either way; without it, it serves until killed.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use memory_apiserver::ApiServer;
use serde::Deserialize;
use serde_json::Value;

const USAGE: &str = "usage: serve --kubeconfig FILE [--crds DIR] [--create FILE.yaml]... \
                     [--wait-ready SECONDS] [--listen ADDR] [--namespace NS]";

#[derive(Debug)]
struct Options {
    kubeconfig: PathBuf,
    crds: Option<PathBuf>,
    create: Vec<PathBuf>,
    wait_ready: Option<Duration>,
    listen: SocketAddr,
    namespace: String,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut kubeconfig = None;
        let mut options = Options {
            kubeconfig: PathBuf::new(),
            crds: None,
            create: Vec::new(),
            wait_ready: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            namespace: "default".to_owned(),
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--kubeconfig" => kubeconfig = Some(PathBuf::from(value)),
                "--crds" => options.crds = Some(PathBuf::from(value)),
                "--create" => options.create.push(PathBuf::from(value)),
                "--wait-ready" => {
                    let seconds = value.parse().map_err(|_| {
                        format!("--wait-ready {value:?} is not a number of seconds")
                    })?;
                    options.wait_ready = Some(Duration::from_secs(seconds));
                }
                "--listen" => {
                    options.listen = value
                        .parse()
                        .map_err(|_| format!("--listen {value:?} is not an address"))?;
                }
                "--namespace" => options.namespace = value,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        options.kubeconfig = kubeconfig.ok_or("--kubeconfig is required")?;
        Ok(options)
    }
}

/// An object this program created, to be found again in the store.
struct Created {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&options).await {
        Ok(code) => code,
        Err(problem) => {
            eprintln!("memory-apiserver serve: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(options: &Options) -> Result<ExitCode, String> {
    let crds = match &options.crds {
        Some(dir) => read_crds(dir)?,
        None => Vec::new(),
    };
    let api = crds.iter().fold(ApiServer::new(), |api, crd| {
        if has_status_subresource(crd) {
            api.with_status_subresource(&crd.spec.group, &crd.spec.names.plural)
        } else {
            api
        }
    });
    install_crds(&api, &crds).await?;
    let served = api
        .serve(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    eprintln!("memory-apiserver serving on {}", served.url());

    let mut created = Vec::new();
    for file in &options.create {
        for object in read_documents(file)? {
            created.push(create(&api, &crds, &options.namespace, object).await?);
        }
    }
    write_kubeconfig(&options.kubeconfig, &served.kubeconfig(&options.namespace))?;

    let Some(timeout) = options.wait_ready else {
        std::future::pending::<()>().await;
        unreachable!("pending never completes");
    };
    let ready = api
        .wait_until(timeout, |api| created.iter().all(|c| is_ready(api, c)))
        .await;
    for object in &created {
        print_status(&api, object);
    }
    if ready {
        eprintln!("every created object is Ready");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("not every created object was Ready within {timeout:?}");
    Ok(ExitCode::FAILURE)
}

/// Every document of every `*.yaml` file in `dir`, as CRDs.
fn read_crds(dir: &Path) -> Result<Vec<CustomResourceDefinition>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        for document in read_documents(&file)? {
            let crd = serde_json::from_value(document)
                .map_err(|e| format!("{}: not a CustomResourceDefinition: {e}", file.display()))?;
            crds.push(crd);
        }
    }
    Ok(crds)
}

/// The non-empty YAML documents of one file.
fn read_documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|e| format!("{}: {e}", path.display()))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

fn has_status_subresource(crd: &CustomResourceDefinition) -> bool {
    crd.spec.versions.iter().any(|version| {
        version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some())
    })
}

async fn install_crds(api: &ApiServer, crds: &[CustomResourceDefinition]) -> Result<(), String> {
    let store: Api<CustomResourceDefinition> = Api::all(api.client());
    for crd in crds {
        store
            .create(&PostParams::default(), crd)
            .await
            .map_err(|e| format!("installing CRD {}: {e}", crd.spec.names.plural))?;
    }
    Ok(())
}

/// Creates one object, in its own namespace or `namespace` (unless its CRD is cluster-scoped).
async fn create(
    api: &ApiServer,
    crds: &[CustomResourceDefinition],
    namespace: &str,
    object: Value,
) -> Result<Created, String> {
    let object: DynamicObject =
        serde_json::from_value(object).map_err(|e| format!("not a Kubernetes object: {e}"))?;
    let types = object
        .types
        .as_ref()
        .ok_or("an object without apiVersion and kind")?;
    let gvk = GroupVersionKind::try_from(types).map_err(|e| e.to_string())?;
    let crd = crds
        .iter()
        .find(|crd| crd.spec.group == gvk.group && crd.spec.names.kind == gvk.kind);
    let resource = match crd {
        Some(crd) => ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural),
        None => ApiResource::from_gvk(&gvk),
    };
    let cluster_scoped = crd.is_some_and(|crd| crd.spec.scope == "Cluster");
    let namespace = if cluster_scoped {
        None
    } else {
        let own = object.metadata.namespace.clone();
        Some(own.unwrap_or_else(|| namespace.to_owned()))
    };
    let target: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(api.client(), ns, &resource),
        None => Api::all_with(api.client(), &resource),
    };
    let stored = target
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| format!("creating {} {:?}: {e}", gvk.kind, object.metadata.name))?;
    let name = stored.metadata.name.unwrap_or_default();
    eprintln!("created {} {name}", gvk.kind);
    Ok(Created {
        resource,
        namespace,
        name,
    })
}

fn stored(api: &ApiServer, object: &Created) -> Option<Value> {
    api.get(
        &object.resource.group,
        &object.resource.plural,
        object.namespace.as_deref(),
        &object.name,
    )
}

/// Whether the object carries `Ready=True` in `status.conditions`, as `kubectl wait
/// --for=condition=Ready` checks.
fn is_ready(api: &ApiServer, object: &Created) -> bool {
    let Some(stored) = stored(api, object) else {
        return false;
    };
    stored["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn print_status(api: &ApiServer, object: &Created) {
    let status = stored(api, object).map(|stored| stored["status"].clone());
    let text = serde_json::to_string_pretty(&status).unwrap_or_default();
    println!("{} {}: status {text}", object.resource.kind, object.name);
}

/// Writes `text` beside `path` and renames it into place, so a reader never sees half a file.
/// Readable by anyone: a container running as another user mounts it.
fn write_kubeconfig(path: &Path, text: &str) -> Result<(), String> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).map_err(|e| format!("{}: {e}", partial.display()))?;
    let readable = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&partial, readable)
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
}
