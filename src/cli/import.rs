//! `aura-operator import`: one AuraInstance manifest per instance that already exists in an
//! Aura tenant, so that it comes under management without writing each by hand (as
//! `terraform import`). Each spec is the instance's live state with `instanceId` set and
//! `managementPolicy: Observe` unless asked otherwise, so that `plan` on the output says "no
//! change" and applying it changes nothing in Aura. Instances another resource already manages
//! (an AuraInstance records or names them, or holds their claim) are skipped. Only reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use crate::aura::{self, Instance, InstanceStatus, TenantId};
use crate::cli::kube_connect::{ConnectError, KubeArgs};
use crate::cli::plan::aura_side::ReadArgs;
use crate::controllers::Error;
use crate::controllers::tenancy::claims::{self, AuraObject};
use crate::crd::AuraInstance;

/// Options of `import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The tenant (project) whose instances to import: its id or its name.
    #[arg(long)]
    pub tenant: String,
    /// `Observe` (the operator only reads the instance) or `Full` (it manages it).
    #[arg(long, value_enum, default_value = "Observe")]
    pub management_policy: Policy,
    /// Write one file per instance into this folder; default: all to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    #[value(name = "Observe")]
    Observe,
    #[value(name = "Full")]
    Full,
}

/// Why the import could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Aura(#[from] Error),
    #[error("cannot list AuraInstances to skip the managed ones: {0}")]
    Cluster(#[source] kube::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What an import produced.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// File name (`<name>.yaml`) and manifest, per instance.
    pub manifests: Vec<(String, Value)>,
    /// Instances left out, with who manages them.
    pub skipped: Vec<String>,
}

/// Imports, writes the manifests (to `--out` or standard output) and says what was skipped.
pub async fn run(kube: &KubeArgs, args: &ImportArgs) -> Result<(), ImportError> {
    let imported = make(kube, args).await?;
    for line in &imported.skipped {
        eprintln!("skipped: {line}");
    }
    let Some(folder) = &args.out else {
        for (_, manifest) in &imported.manifests {
            print!(
                "---\n{}",
                serde_norway::to_string(manifest).unwrap_or_default()
            );
        }
        return Ok(());
    };
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|source| ImportError::Write { path, source })
    };
    std::fs::create_dir_all(folder).map_err(|source| ImportError::Write {
        path: folder.clone(),
        source,
    })?;
    for (file, manifest) in &imported.manifests {
        write(
            folder.join(file),
            serde_norway::to_string(manifest).unwrap_or_default(),
        )?;
    }
    eprintln!(
        "wrote {} manifests to {}",
        imported.manifests.len(),
        folder.display()
    );
    Ok(())
}

/// The manifests for the tenant's unmanaged instances.
pub async fn make(kube: &KubeArgs, args: &ImportArgs) -> Result<Imported, ImportError> {
    let connection = kube.connect().await?;
    let (mut side, aura) = args
        .read
        .client(&connection.client, &connection.namespace)
        .await?;
    let tenant = tenant_id(&aura, &args.tenant).await?;
    let managers = managers(&connection.client).await?;
    let listed = side.instances(&aura, &tenant).await?.to_vec();
    let mut imported = Imported::default();
    let mut names = BTreeMap::new();
    for summary in listed {
        let id = summary.id.to_string();
        if let Some(by) = managed_by(&connection.client, args, &managers, &id).await? {
            imported
                .skipped
                .push(format!("{id} ({}): managed by {by}", summary.name));
            continue;
        }
        let Some(instance) = side.instance(&aura, &summary.id).await? else {
            continue;
        };
        let name = unique(&mut names, &resource_name(&instance));
        let namespace = &connection.namespace;
        let credential = args.read.credential_ref.as_deref();
        let manifest = manifest(
            &instance,
            &name,
            namespace,
            args.management_policy,
            credential,
        );
        imported.manifests.push((format!("{name}.yaml"), manifest));
    }
    Ok(imported)
}

async fn tenant_id(aura: &aura::Client, given: &str) -> Result<TenantId, Error> {
    if let Ok(id) = TenantId::new(given) {
        return Ok(id);
    }
    aura.tenants()
        .find_id_by_name(given)
        .await
        .map_err(|e| Error::invalid("tenant", e.to_string()))
}

/// Instance id → `namespace/name` of the AuraInstance that records or names it.
async fn managers(kube: &kube::Client) -> Result<BTreeMap<String, String>, ImportError> {
    let api: Api<AuraInstance> = Api::all(kube.clone());
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(ImportError::Cluster)?;
    let mut found = BTreeMap::new();
    for obj in all.items {
        let who = format!(
            "AuraInstance {}/{}",
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default()
        );
        let recorded = obj.status.as_ref().and_then(|s| s.instance_id.clone());
        for id in [recorded, obj.spec.instance_id.clone()]
            .into_iter()
            .flatten()
        {
            found.insert(id, who.clone());
        }
    }
    Ok(found)
}

/// Who manages instance `id`: a resource that records or names it, or the holder of its claim.
async fn managed_by(
    kube: &kube::Client,
    args: &ImportArgs,
    managers: &BTreeMap<String, String>,
    id: &str,
) -> Result<Option<String>, ImportError> {
    if let Some(who) = managers.get(id) {
        return Ok(Some(who.clone()));
    }
    match claims::holder(
        kube,
        &args.read.operator_namespace,
        AuraObject::Instance,
        id,
    )
    .await
    {
        Ok(found) => Ok(found.map(|(holder, _)| format!("AuraInstance {holder} (its claim)"))),
        // Claims the user may not read: the resources listed above are what can be told.
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
        Err(e) => Err(ImportError::Cluster(e)),
    }
}

/// The manifest of one instance: its live state as a spec, `instanceId` set, and the
/// ClusterAuraCredential it names, if any.
pub fn manifest(
    instance: &Instance,
    name: &str,
    namespace: &str,
    policy: Policy,
    credential: Option<&str>,
) -> Value {
    let mut spec = json!({
        "instanceId": instance.id.to_string(),
        "region": instance.region,
        "memory": instance.memory,
        "paused": instance.status == InstanceStatus::Paused,
        "managementPolicy": match policy {
            Policy::Observe => "Observe",
            Policy::Full => "Full",
        },
    });
    let fields = [
        (
            "tenantId",
            instance.tenant_id.as_ref().map(|t| json!(t.as_str())),
        ),
        (
            "cloudProvider",
            instance.cloud_provider.as_ref().map(|p| json!(p.as_str())),
        ),
        (
            "type",
            instance.instance_type.as_ref().map(|t| json!(t.as_str())),
        ),
        (
            "storage",
            valid_storage(instance.storage.as_deref()).map(|s| json!(s)),
        ),
        (
            "secondariesCount",
            instance
                .secondaries_count
                .filter(|n| *n > 0)
                .map(|n| json!(n)),
        ),
        (
            "cdcEnrichmentMode",
            instance.cdc_enrichment_mode.as_ref().map(|m| json!(m)),
        ),
        (
            "vectorOptimized",
            instance.vector_optimized.map(|v| json!(v)),
        ),
        (
            "graphAnalyticsPlugin",
            instance.graph_analytics_plugin.map(|v| json!(v)),
        ),
        (
            "credentialRef",
            credential.map(|name| json!({"name": name})),
        ),
    ];
    if let Some(map) = spec.as_object_mut() {
        for (key, value) in fields {
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        }
    }
    json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"aura.neo4j.io/imported-from": instance.name},
        },
        "spec": spec,
    })
}

/// A storage size the spec accepts (others are left for Aura to report).
fn valid_storage(storage: Option<&str>) -> Option<&str> {
    storage.filter(|s| aura::values::check_in("storage", s, aura::INSTANCE_STORAGE).is_ok())
}

/// A Kubernetes name from an Aura name: lower case, other characters as dashes, 63 at most.
pub fn resource_name(instance: &Instance) -> String {
    let mut name: String = instance
        .name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        return format!("instance-{}", instance.id);
    }
    name
}

/// `name`, or `name-2`, `name-3`... when taken.
fn unique(taken: &mut BTreeMap<String, u32>, name: &str) -> String {
    let count = taken.entry(name.to_owned()).or_insert(0);
    *count += 1;
    match *count {
        1 => name.to_owned(),
        n => format!("{name}-{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(name: &str) -> Instance {
        serde_json::from_value(json!({"id": "c9f0d13a", "name": name, "status": "running"}))
            .unwrap()
    }

    #[test]
    fn aura_names_become_kubernetes_names() {
        assert_eq!(
            resource_name(&instance("Orders DB (prod)")),
            "orders-db--prod"
        );
        assert_eq!(resource_name(&instance("!!!")), "instance-c9f0d13a");
        let mut taken = BTreeMap::new();
        assert_eq!(unique(&mut taken, "orders"), "orders");
        assert_eq!(unique(&mut taken, "orders"), "orders-2");
    }
}
