//! One reconcile loop for every kind.
//!
//! A kind implements [`Reconciler`]: the same named steps in the same order for all three.
//! 1. `validate` (pure): the spec alone, before any call.
//! 2. `observe`: references, the credential, and the Aura object as Aura reports it — found, or
//!    created by the kind's crash-safe protocol when it does not exist yet.
//! 3. `plan` (pure): the one step towards the spec, from the spec and what was observed.
//! 4. `act`: take that step (at most one changing call) and say how the pass ended.
//! 5. report ([`pass::finish`]): conditions, Events, metric, and when to come back.
//!
//! On deletion, `clean_up` runs instead (never `validate`: a broken spec must not block
//! deletion), under the kind's finalizer when its Aura side needs cleaning up. Everything else
//! — triggers, superseding of queued background passes, error back-off, finalizers, metrics —
//! is here, once.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

pub mod context;
pub mod drift;
pub mod pass;
pub mod suspend;

pub use context::Context;
use pass::{Kind, Pass, Verdict};

use crate::controllers::connection::secrets;
use crate::controllers::machinery::error::{Error, Result, Retry};
use crate::controllers::machinery::supersede::{Committed, unless_superseded};
use crate::controllers::machinery::watch::{once_listed, scoped, slim, worth_a_pass};
use crate::controllers::machinery::{events, finalizer};
use crate::controllers::tenancy::{claims, credential_hold};
use crate::crd::ClusterAuraCredential;
use crate::crd::common::CredentialsSecretRef;
use crate::crd::conditions::READY;
use crate::crd::credential::CredentialRef;

/// What a kind brings to the reconcile loop: its steps, in the order the loop runs them.
pub trait Reconciler: Kind {
    /// The kind's name, for metrics and logs.
    const KIND: &'static str;
    /// The finalizer that keeps a resource until its Aura side is cleaned up; None for a kind
    /// whose deletion needs no Aura call.
    const FINALIZER: Option<&'static str>;
    /// Whether the kind writes Secrets it owns (watched, so a deleted one is written again).
    const OWNS_SECRETS: bool;
    /// What `observe` found.
    type Observed: Send;
    /// What `plan` decided.
    type Step: Send;

    /// The Aura status word of a cached resource, for the `resources{kind,status}` gauge.
    fn status_word(&self) -> Option<String>;

    /// The credentials Secret of the resource's namespace it may hold for its cleanup (see
    /// [`credential_hold`]); released once its cleanup is done.
    fn credentials_held(&self) -> Option<&CredentialsSecretRef>;

    /// The ClusterAuraCredential the resource names: a change of it (the administrator allows
    /// this namespace, the Secret comes) triggers a pass.
    fn credential_ref(&self) -> Option<&CredentialRef>;

    /// Checks of the spec alone (pure).
    fn validate(&self) -> Result<(), Error>;

    /// References, credential, and the Aura object (found, or created crash-safely).
    fn observe(pass: &mut Pass<'_, Self>) -> impl Future<Output = Result<Self::Observed>> + Send;

    /// The one step towards the spec (pure).
    fn plan(pass: &Pass<'_, Self>, observed: &Self::Observed) -> Self::Step;

    /// Takes the step and says how the pass ended.
    fn act(
        pass: &mut Pass<'_, Self>,
        observed: Self::Observed,
        step: Self::Step,
    ) -> impl Future<Output = Result<Verdict>> + Send;

    /// Cleans up in Aura after a deletion (only for kinds with a finalizer).
    fn clean_up(pass: &mut Pass<'_, Self>) -> impl Future<Output = Result<()>> + Send;

    /// Whether this pass may be abandoned when the resource changes meanwhile: a background
    /// pass whose every step is safe to cut short and redo.
    fn may_be_superseded(pass: &Pass<'_, Self>) -> bool;

    /// The Event note when the resource becomes Ready.
    fn ready_note(pass: &Pass<'_, Self>) -> String;

    /// Whether resources of the kind can be refused for want of room among their peers (a
    /// credential's per-namespace limit): then a peer that goes brings a pass of those waiting
    /// (see [`Self::waits_for_room_left_by`]).
    const LIMITED_BY_PEERS: bool = false;

    /// Whether this resource, refused for want of room among its peers, may go on now that
    /// `gone` (marked for deletion, or removed) no longer counts.
    fn waits_for_room_left_by(&self, _gone: &Self) -> bool {
        false
    }
}

/// Runs the controller of kind `K` until `shutdown` resolves.
pub async fn run<K: Reconciler>(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let mut controller = self::controller::<K>(&ctx, namespace);
    let cached = controller.store();
    let shutdown = once_listed(shutdown, controller.store());
    let specs = std::sync::Mutex::new(std::collections::HashMap::new());
    let nudges = Arc::clone(&ctx);
    controller = controller.watches_stream(credential_changes(&ctx), move |changed| {
        let name = changed.name_any();
        // A new spec (a namespace allowed, a limit) is judged by a full pass; a Ready change
        // alone is a nudge that a settled resource may let wait for its resync.
        let generation = changed.meta().generation;
        let spec_changed = specs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), generation)
            != Some(generation);
        let using = cached
            .state()
            .into_iter()
            .filter(|obj| obj.credential_ref().is_some_and(|r| r.name == name));
        using
            .inspect(|obj| {
                if !spec_changed {
                    nudges.memory.nudged(&obj.uid().unwrap_or_default());
                }
            })
            .map(|obj| ObjectRef::from_obj(&*obj))
            .collect::<Vec<_>>()
    });
    if K::LIMITED_BY_PEERS {
        // Refused ones wait for a change or the long spec-error retry; a peer that goes is
        // the change they wait for, though it is not theirs.
        let cached = controller.store();
        controller = controller.watches_stream(going::<K>(&ctx, namespace), move |gone| {
            cached
                .state()
                .into_iter()
                .filter(|obj| obj.waits_for_room_left_by(&gone))
                .map(|obj| ObjectRef::from_obj(&*obj))
                .collect::<Vec<_>>()
        });
    }
    if K::OWNS_SECRETS {
        let owned = Arc::clone(&ctx);
        controller = controller.watches_stream(owned_secrets(&ctx, namespace), move |s| {
            owners::<K>(&owned, &s)
        });
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, Arc::clone(&ctx))
        .for_each(|result| {
            stream_error(result);
            std::future::ready(())
        })
        .await;
}

/// This installation's owned Secrets as they change or go: selected by the API server (another
/// installation's are never sent here), and their metadata only (the owners are all a change
/// needs: no Secret's data, password included, comes through this watch).
fn owned_secrets(
    ctx: &Context,
    namespace: Option<&str>,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static
{
    let selected = ctx.aura.class().watch_among(&secrets::managed());
    watcher(
        scoped::<PartialObjectMeta<Secret>>(&ctx.kube, namespace),
        selected,
    )
    .default_backoff()
    .touched_objects()
}

/// The resources of kind `K` that own `secret`: a change of it brings each a full pass, even
/// if a credential's nudge (see [`Memory::quiet_for`]) is queued for the same resource.
///
/// [`Memory::quiet_for`]: crate::controllers::machinery::memory::Memory::quiet_for
fn owners<K: Reconciler>(ctx: &Context, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<K>> {
    let namespace = secret.namespace().unwrap_or_default();
    secret
        .owner_references()
        .iter()
        .filter(|owner| owner.kind == K::kind(&()) && owner.api_version == K::api_version(&()))
        .inspect(|owner| ctx.memory.unnudged(&owner.uid))
        .map(|owner| ObjectRef::new(&owner.name).within(&namespace))
        .collect()
}

/// This installation's ClusterAuraCredentials whose spec or Ready status changed: what their
/// resources act on (a resource naming another class's credential is refused anyway).
/// Not every write: another installation (or anyone) writing a credential's status, labels or
/// annotations, or its message, must not send every resource using it back to Aura. A new key
/// in its Secret, Ready all along, is used from each resource's next pass on; a Secret that comes
/// or goes flips Ready.
fn credential_changes(
    ctx: &Context,
) -> impl futures::Stream<Item = Result<ClusterAuraCredential, watcher::Error>> + Send + 'static {
    let credentials = Api::<ClusterAuraCredential>::all(ctx.kube.clone());
    watcher(credentials, ctx.aura.class().watch())
        .default_backoff()
        .touched_objects()
        .predicate_filter(credential_worth_a_pass, Default::default())
}

/// The parts of a ClusterAuraCredential its resources act on: its spec (generation) and
/// whether it is Ready.
fn credential_worth_a_pass(credential: &ClusterAuraCredential) -> Option<u64> {
    let ready = credential
        .status
        .as_ref()
        .is_some_and(|status| crate::crd::conditions::is_true(&status.conditions, READY));
    let mut hasher = DefaultHasher::new();
    credential.meta().generation.hash(&mut hasher);
    ready.hash(&mut hasher);
    Some(hasher.finish())
}

/// This installation's resources of kind `K` as they go: marked for deletion (each later write
/// of theirs too), or removed.
fn going<K: Reconciler>(
    ctx: &Context,
    namespace: Option<&str>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    watcher(scoped::<K>(&ctx.kube, namespace), ctx.aura.class().watch())
        .default_backoff()
        .try_filter_map(|event| {
            let gone = match event {
                watcher::Event::Delete(obj) => Some(obj),
                watcher::Event::Apply(obj) if obj.meta().deletion_timestamp.is_some() => Some(obj),
                _ => None,
            };
            std::future::ready(Ok(gone))
        })
}

/// One pass over one resource, once a slot is free (see [`admission`]). The pass itself is
/// boxed only then, so that a pass still waiting for its slot costs a small future rather than
/// the largest state of the whole pass.
///
/// [`admission`]: crate::controllers::machinery::admission
pub async fn reconcile<K: Reconciler>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = obj.uid().unwrap_or_default();
    if let Some(wait) = worth_a_pass(&*obj).and_then(|seen| ctx.memory.quiet_for(&key, seen)) {
        // Only a credential's Ready changed, and this resource is settled: its outcome cannot
        // differ before its resync, which comes as planned.
        tracing::debug!(uid = key, "credential nudge: settled, next look as planned");
        return Ok(Action::requeue(wait));
    }
    let slot = ctx.admission.admit(pass::goes_first(&*obj));
    // Nothing is done before the slot, so any wait for it may give way to a newer copy.
    let nothing_learned = Committed::default();
    let Some(_slot) = unless_superseded(&ctx, &key, true, &nothing_learned, slot).await else {
        return Ok(Action::requeue(Duration::ZERO));
    };
    // From the slot on: the wait for a slot is queueing, not the pass's own time.
    let started = tokio::time::Instant::now();
    let result = Box::pin(one_pass(obj, Arc::clone(&ctx))).await;
    ctx.metrics.pass_took(K::KIND, started.elapsed());
    result
}

async fn one_pass<K: Reconciler>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let deleting = obj.meta().deletion_timestamp.is_some();
    let holds = K::FINALIZER.is_some_and(|name| obj.finalizers().iter().any(|f| f == name));
    // Suspended: no Aura call at all, before anything else (a deletion waits with its finalizer).
    if suspend::is_on(&*obj) && (!deleting || holds) {
        let mut pass = Pass::new(obj, &ctx);
        return suspend::hold(&mut pass, K::KIND).await;
    }
    if suspend::was_on(&*obj) {
        let note = format!(
            "the annotation {} is gone: reconciling again",
            suspend::ANNOTATION
        );
        events::normal(&ctx, &*obj, "Resumed", note).await;
    }
    let Some(name) = K::FINALIZER else {
        if deleting {
            // Nothing to undo in Aura.
            ctx.memory.forget(&obj.uid().unwrap_or_default());
            return Ok(Action::await_change());
        }
        return apply(obj, &ctx).await;
    };
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    match (deleting, holds) {
        (false, true) => apply(obj, &ctx).await,
        (false, false) => {
            // The write triggers the next pass.
            finalizer::add(&api, &*obj, name).await?;
            Ok(Action::await_change())
        }
        (true, true) => clean_up(&api, name, obj, &ctx).await,
        (true, false) => Ok(Action::await_change()),
    }
}

/// The apply pass: validate, observe, plan, act, report. A background pass that may be
/// superseded gives way to a change someone made meanwhile.
async fn apply<K: Reconciler>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let mut pass = Pass::new(obj, ctx);
    let may = K::may_be_superseded(&pass);
    let committed = pass.committed();
    let key = pass.key();
    let steps = async {
        pass.obj.validate()?;
        // Boxed: a kind's steps nest futures deep (rotation, strategy switches, Bolt logins),
        // and inlined into this state machine they took a release build past rustc's layout
        // depth limit ("queries overflow the depth limit" on one_pass::<AuraInstance>).
        let observed = Box::pin(K::observe(&mut pass)).await?;
        let step = K::plan(&pass, &observed);
        Box::pin(K::act(&mut pass, observed, step)).await
    };
    let Some(result) = unless_superseded(ctx, &key, may, &committed, steps).await else {
        return Ok(Action::requeue(Duration::ZERO));
    };
    let note = K::ready_note(&pass);
    pass::finish(&mut pass, K::KIND, result, &note).await
}

/// The cleanup pass; the finalizer goes once it succeeds.
async fn clean_up<K: Reconciler>(
    api: &Api<K>,
    finalizer_name: &str,
    obj: Arc<K>,
    ctx: &Context,
) -> Result<Action, Error> {
    let mut pass = Pass::new(Arc::clone(&obj), ctx);
    match Box::pin(K::clean_up(&mut pass)).await {
        Ok(()) => {
            // Done with Aura: the credentials Secret need not wait for this resource any more.
            if let Some(credentials) = obj.credentials_held() {
                let namespace = obj.namespace().unwrap_or_default();
                credential_hold::release_if_unused(
                    &ctx.kube,
                    &namespace,
                    &credentials.name,
                    &pass.key(),
                )
                .await?;
            }
            // Last: whatever happened in Aura, this resource manages nothing any more.
            claims::release_all(&ctx.claims, &pass.key()).await?;
            finalizer::remove(api, &*obj, finalizer_name).await?;
            ctx.metrics.reconciled(K::KIND, "ok");
            Ok(Action::await_change())
        }
        Err(stop) => {
            let note = K::ready_note(&pass);
            pass::finish(&mut pass, K::KIND, Err(stop), &note).await
        }
    }
}

/// Backs off per resource after a failed pass: errors a change can fix wait long (the change
/// itself triggers a pass), transient ones retry sooner and back off exponentially.
pub fn error_policy<K: Reconciler>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = obj.meta().uid.clone().unwrap_or_default();
    let failures = ctx.memory.failed(&key);
    let timing = &ctx.timing;
    let wait = match err.retry() {
        Retry::AfterChange => timing.spec_error_retry,
        Retry::After(wait) => wait,
        Retry::Soon => {
            let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(6));
            timing
                .error_retry
                .saturating_mul(factor)
                .min(timing.spec_error_retry)
        }
    };
    Action::requeue(wait)
}

/// What the gauges count of a cached resource: its Aura status and its conditions.
fn seen<K: Reconciler>(obj: &K) -> crate::metrics::Seen {
    let conditions = obj
        .status()
        .map(pass::Judged::conditions)
        .unwrap_or_default();
    crate::metrics::Seen {
        status: Some(obj.status_word().unwrap_or_else(|| "pending".to_owned())),
        ..crate::metrics::Seen::of(conditions)
    }
}

/// The Controller of a kind, over this installation's resources of it: triggered by the
/// changes that deserve a pass ([`worth_a_pass`]), with its cache counted by status for
/// `/metrics`.
fn controller<K: Reconciler>(ctx: &Arc<Context>, namespace: Option<&str>) -> Controller<K> {
    let (reader, writer) = reflector::store();
    let notify = Arc::clone(ctx);
    // Only this installation's resources, selected by the API server: another installation's
    // are never sent here, so never cached, reconciled or written to.
    let triggers = watcher(scoped::<K>(&ctx.kube, namespace), ctx.aura.class().watch())
        .default_backoff()
        // The cache keeps one copy of every resource for as long as it lives; it keeps only
        // what the controllers read.
        .modify(slim)
        .reflect(writer)
        .touched_objects()
        .predicate_filter(worth_a_pass, Default::default())
        // A change someone made supersedes a background pass of the same object that is still
        // queued for the Aura budget (see `Memory::superseded`).
        .inspect_ok(move |obj| {
            notify
                .memory
                .changed(obj.meta().uid.as_deref().unwrap_or_default())
        });
    let cache = reader.clone();
    ctx.add_status_source(
        K::KIND,
        Box::new(move || cache.state().iter().map(|o| seen(o.as_ref())).collect()),
    );
    Controller::for_stream(triggers, reader)
}

/// Logs what the Controller's stream reports beyond a pass's own result (a pass logs and counts
/// itself in [`pass::finish`]): watch errors and queue problems.
fn stream_error<K: Resource, E: std::error::Error>(
    result: std::result::Result<(ObjectRef<K>, Action), controller::Error<Error, E>>,
) {
    match result {
        Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
        Err(controller::Error::ReconcilerFailed(err, obj)) => {
            tracing::debug!(object = %obj, error = %err, "pass failed (reported above)");
        }
        // An owned Secret changed whose owner is gone, or moved to another class in the
        // meantime (its Secret then leaves this installation's watch): nothing to do here.
        Err(controller::Error::ObjectNotFound(obj)) => {
            tracing::debug!(object = %obj, "owner not among this installation's resources");
        }
        Err(err) => tracing::warn!(error = %err, "controller stream error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AuraInstance, AuraSnapshot, GdsSession};

    /// The size of the future `make` would return, without making one.
    fn future_size<A, B, F: Future>(_make: impl FnOnce(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every due resource has a pass future held by the Controller, most of them waiting for a
    /// slot; that future must not carry the largest state of a whole pass (17 KiB for an
    /// AuraInstance in a debug build before the pass was boxed behind the slot).
    #[test]
    fn a_pass_waiting_for_its_slot_is_small() {
        let sizes = [
            future_size(reconcile::<AuraInstance>),
            future_size(reconcile::<AuraSnapshot>),
            future_size(reconcile::<GdsSession>),
        ];
        assert!(
            sizes.iter().all(|&size| size <= 1024),
            "pass futures: {sizes:?} bytes"
        );
    }
}
