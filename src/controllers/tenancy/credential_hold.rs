//! Keeping a namespace's credentials Secret readable until the resources that need it to clean
//! up in Aura are done.
//!
//! `kubectl delete namespace` deletes everything in it at once: a credentials Secret without a
//! finalizer is gone before the AuraInstances (deletionPolicy Delete) and GdsSessions that need it
//! to delete their Aura side, and the namespace would then wait on their finalizers for ever. So
//! while such a resource uses a Secret of its own namespace, the Secret carries the finalizer
//! [`FINALIZER`] (and the label [`LABEL`], to be found). It is lifted when the last resource that
//! needs it has finished its cleanup, or, for a Secret being deleted, as soon as no resource
//! needs it any more (see [`run`]: a resource may have switched to another Secret).
//!
//! The operator-wide default credential lives in the operator's own namespace and is not held.
//! If the operator is uninstalled before the resources, nothing lifts the hold: the book's
//! Lifecycle page (docs/src/lifecycle.md, "If the operator is uninstalled first") gives the
//! commands that do.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::watch::{once_listed, scoped, slim};
use crate::controllers::machinery::{Timing, finalizer};

type Result<T> = std::result::Result<T, Error>;
use crate::crd::common::CredentialsSecretRef;
use crate::crd::instance::{DeletionPolicy, ManagementPolicy};
use crate::crd::{AuraInstance, GdsSession};

/// Finalizer on a credentials Secret that resources still need.
pub const FINALIZER: &str = "aura.neo4j.io/credentials-in-use";
/// Label on a credentials Secret that carries [`FINALIZER`].
pub const LABEL: &str = "aura.neo4j.io/credentials-in-use";

/// Puts the hold on `secret` (as just read) unless it has it. A Secret already being deleted
/// cannot take a new finalizer; the resources then make do with it while it lasts.
pub async fn hold(api: &Api<Secret>, secret: &Secret) -> kube::Result<()> {
    if secret.metadata.deletion_timestamp.is_some()
        || secret.finalizers().iter().any(|f| f == FINALIZER)
    {
        return Ok(());
    }
    if !secret.labels().contains_key(LABEL) {
        let patch = json!({ "metadata": { "labels": { LABEL: "true" } } });
        api.patch(
            &secret.name_any(),
            &finalizer::params(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    finalizer::add(api, secret, FINALIZER).await
}

/// Lifts the hold on the Secret `name` of `namespace` if no resource there needs it any more,
/// not counting `leaving` (the UID of a resource whose cleanup just finished). Returns whether
/// the Secret is free.
pub async fn release_if_unused(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    leaving: &str,
) -> Result<bool> {
    if !needed_by(kube, namespace, name, leaving).await?.is_empty() {
        return Ok(false);
    }
    let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let Some(secret) = api.get_opt(name).await? else {
        return Ok(true);
    };
    finalizer::remove(&api, &secret, FINALIZER).await?;
    Ok(true)
}

/// The resources of `namespace` that need the Secret `name` to clean up in Aura.
async fn needed_by(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    leaving: &str,
) -> Result<Vec<String>> {
    let uses = |r: Option<&CredentialsSecretRef>| r.is_some_and(|r| r.name == name);
    let stays = |meta: &kube::api::ObjectMeta| meta.uid.as_deref() != Some(leaving);
    let instances: Api<AuraInstance> = Api::namespaced(kube.clone(), namespace);
    let sessions: Api<GdsSession> = Api::namespaced(kube.clone(), namespace);
    let mut users = Vec::new();
    for i in instances.list(&ListParams::default()).await? {
        if stays(&i.metadata)
            && needs_for_cleanup(&i)
            && uses(i.spec.credentials_secret_ref.as_ref())
        {
            users.push(format!("AuraInstance {}", i.name_any()));
        }
    }
    for s in sessions.list(&ListParams::default()).await? {
        if stays(&s.metadata) && uses(session_credentials(&s)) {
            users.push(format!("GdsSession {}", s.name_any()));
        }
    }
    Ok(users)
}

/// Whether an AuraInstance's cleanup calls Aura (and so needs its credential).
/// Not under managementPolicy Observe, whose cleanup never calls Aura whatever deletionPolicy says.
pub fn needs_for_cleanup(instance: &AuraInstance) -> bool {
    instance.spec.deletion_policy == DeletionPolicy::Delete
        && instance.spec.management_policy != ManagementPolicy::Observe
}

/// The credentials Secret a GdsSession's cleanup uses: its own, or the one it was created with.
/// None under managementPolicy Observe, whose cleanup makes no Aura call.
pub fn session_credentials(session: &GdsSession) -> Option<&CredentialsSecretRef> {
    if session.spec.management_policy == ManagementPolicy::Observe {
        return None;
    }
    session
        .spec
        .credentials_secret_ref
        .as_ref()
        .or_else(|| session.status.as_ref()?.credentials_secret_ref.as_ref())
}

/// Lifts holds on credentials Secrets being deleted that no resource needs any more (a resource
/// switched to another Secret, or changed its deletion policy), until `shutdown` resolves.
pub async fn run(
    kube: kube::Client,
    timing: Timing,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let held = watcher::Config::default().labels(&format!("{LABEL}=true"));
    // A pass reads only the Secret's name, deletion and finalizers: a metadata-only watch, so
    // that no credential is cached in this process.
    let (reader, writer) = reflector::store();
    let shutdown = once_listed(shutdown, reader.clone());
    let secrets = watcher(scoped::<PartialObjectMeta<Secret>>(&kube, namespace), held)
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects();
    Controller::for_stream(secrets, reader)
        .graceful_shutdown_on(shutdown)
        .run(
            sweep,
            |_, _: &Error, ctx| Action::requeue(ctx.timing.error_retry),
            Arc::new(Sweep { kube, timing }),
        )
        .for_each(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "credentials hold pass failed");
            }
            std::future::ready(())
        })
        .await;
}

/// What a sweep needs.
struct Sweep {
    kube: kube::Client,
    timing: Timing,
}

/// One pass over a held Secret: nothing while it lives; once it is being deleted, lift the hold
/// when no resource needs it, else look again shortly.
async fn sweep(secret: Arc<PartialObjectMeta<Secret>>, ctx: Arc<Sweep>) -> Result<Action> {
    if secret.meta().deletion_timestamp.is_none()
        || !secret.finalizers().iter().any(|f| f == FINALIZER)
    {
        return Ok(Action::await_change());
    }
    let namespace = secret.namespace().unwrap_or_default();
    if release_if_unused(&ctx.kube, &namespace, &secret.name_any(), "").await? {
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(ctx.timing.poll.initial))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(policy: &str, management: &str) -> AuraInstance {
        serde_json::from_value(json!({
            "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
            "metadata": {"name": "orders"},
            "spec": {"instanceId": "c9f0d13a", "cloudProvider": "gcp", "region": "europe-west1",
                     "type": "professional-db", "memory": "2GB",
                     "deletionPolicy": policy, "managementPolicy": management}
        }))
        .unwrap()
    }

    #[test]
    fn only_a_managed_instance_with_delete_needs_its_credentials_for_cleanup() {
        assert!(needs_for_cleanup(&instance("Delete", "Full")));
        assert!(!needs_for_cleanup(&instance("Retain", "Full")));
        // Observe never deletes in Aura, so it must not keep a Secret from going.
        assert!(!needs_for_cleanup(&instance("Delete", "Observe")));
    }
}
