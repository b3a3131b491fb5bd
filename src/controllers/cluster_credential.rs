//! The status of each ClusterAuraCredential of this installation's class (see
//! [`installation`](super::tenancy::installation)): Ready when its Secret exists and holds both
//! keys, so an administrator sees a broken credential before a team does. Credentials of another
//! class are not even watched: their status is the other installation's to write.
//!
//! Only presence is checked, not the key against Aura: a check would spend the credential's
//! rate budget on every pass. The Secret's value never reaches the status. The metadata of the
//! Secrets in the operator's namespace is watched (no data cached) so that creating or fixing
//! one updates the status at once; a Secret in another namespace (`spec.secretRef.namespace`)
//! is not watched (that would mean watching every Secret of the cluster), so a credential
//! whose Secret is there and not usable is looked at again every few seconds instead.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};

use super::machinery::error::Error;
use super::machinery::reasons::Reason;
use super::machinery::status;
use super::machinery::watch::once_listed;
use super::reconciler::Context;
use super::tenancy::access::NamespaceAllow;
use crate::crd::ClusterAuraCredential;
use crate::crd::conditions::{self, Desired, READY};

/// Keeps every ClusterAuraCredential's Ready condition current until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = controller(&ctx);
    let store = controller.store();
    let cached = controller.store();
    ctx.add_status_source(
        "ClusterAuraCredential",
        Box::new(move || {
            cached
                .state()
                .iter()
                .map(|c| {
                    let conditions = c.status.as_ref().map(|s| s.conditions.as_slice());
                    crate::metrics::Seen::of(conditions.unwrap_or_default())
                })
                .collect()
        }),
    );
    let shutdown = once_listed(shutdown, controller.store());
    // Metadata only: no credential is cached in this process.
    let secrets: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(ctx.kube.clone(), ctx.aura.operator_namespace());
    let secret_changes = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    controller
        .watches_stream(secret_changes, move |secret| {
            let name = secret.name_any();
            let namespace = secret.namespace().unwrap_or_default();
            store
                .state()
                .into_iter()
                .filter(|c| {
                    c.spec.secret_ref.name == name
                        && c.spec
                            .secret_ref
                            .namespace
                            .as_ref()
                            .is_none_or(|n| *n == namespace)
                })
                .map(|c| ObjectRef::from_obj(&*c))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(
            check,
            |_, _: &Error, ctx| Action::requeue(ctx.timing.error_retry),
            Arc::clone(&ctx),
        )
        .for_each(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "ClusterAuraCredential pass failed");
            }
            std::future::ready(())
        })
        .await;
}

/// The Controller of this installation's ClusterAuraCredentials, triggered by a new spec
/// (generation) only: not by status writes, so that another writer of the status and this one
/// do not answer each other's writes. The resync and the Secret's changes bring the other
/// passes.
fn controller(ctx: &Context) -> Controller<ClusterAuraCredential> {
    let credentials: Api<ClusterAuraCredential> = Api::all(ctx.kube.clone());
    let (reader, writer) = reflector::store();
    let triggers = watcher(credentials, ctx.aura.class().watch())
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .predicate_filter(predicates::generation, Default::default());
    Controller::for_stream(triggers, reader)
}

/// One pass: judge the credential and write its Ready condition if that changed (the same
/// write-if-changed as every kind's status, [`status::write`]).
async fn check(credential: Arc<ClusterAuraCredential>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = credential.name_any();
    let judged = judge(&ctx, &name, &credential).await?;
    let next = next_look(&ctx, &credential, &judged);
    let written = credential.status.clone().unwrap_or_default();
    let mut status = written.clone();
    let generation = credential.meta().generation;
    let now = Time(jiff::Timestamp::now());
    conditions::set(&mut status.conditions, judged, generation, now);
    status.observed_generation = generation;
    let api: Api<ClusterAuraCredential> = Api::all(ctx.kube.clone());
    status::write(&api, &name, &written, &status).await?;
    Ok(Action::requeue(next))
}

/// When to judge again: at the resync, unless the Secret is in a namespace whose Secrets are
/// not watched and the credential is not Ready, so that a fix there shows within seconds.
fn next_look(ctx: &Context, credential: &ClusterAuraCredential, judged: &Desired<'_>) -> Duration {
    let unwatched = ctx.aura.secret_namespace(&credential.spec) != ctx.aura.operator_namespace();
    match unwatched && !judged.status {
        true => UNWATCHED_RETRY.min(ctx.timing.resync),
        false => ctx.timing.resync,
    }
}

/// How often a credential whose Secret is in an unwatched namespace and unusable is judged
/// again.
const UNWATCHED_RETRY: Duration = Duration::from_secs(10);

/// The Ready condition the credential deserves. Only a Kubernetes failure is an error.
async fn judge(
    ctx: &Context,
    name: &str,
    credential: &ClusterAuraCredential,
) -> Result<Desired<'static>, Error> {
    if let Err(e) = NamespaceAllow::from_spec(&credential.spec.allowed_namespaces) {
        let message = format!("spec.allowedNamespaces.selector: {e}");
        return Ok(Desired::no(READY, Reason::InvalidSpec.as_str(), message));
    }
    match ctx
        .aura
        .cluster_key(&ctx.kube, name, &credential.spec)
        .await
    {
        Ok(_) => Ok(Desired::yes(
            READY,
            Reason::Ready.as_str(),
            format!(
                "Secret {}/{} holds both keys",
                ctx.aura.secret_namespace(&credential.spec),
                credential.spec.secret_ref.name
            ),
        )),
        Err(Error::Kube(e)) => Err(Error::Kube(e)),
        Err(e) => Ok(Desired::no(
            READY,
            Reason::CredentialsInvalid.as_str(),
            e.to_string(),
        )),
    }
}
