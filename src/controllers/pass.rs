//! What every controller's pass shares: which changes trigger a pass, how long to wait after an
//! error or while Aura is busy, and how the Ready and Synced conditions and their Events follow
//! from a pass's result.
//!
//! One generic [`Pass`] holds a pass's state for every kind; each controller adds its own steps
//! to it and decides what Ready says when a pass succeeds. The rules for errors, conditions and
//! Events are the same everywhere.

use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::NamespaceResourceScope;
use kube::core::object::HasStatus;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, Retry};
use super::{Context, events, status};
use crate::aura;
use crate::crd::conditions::{self, Desired, READY, SYNCED};
use crate::crd::{
    AuraInstance, AuraInstanceStatus, AuraSnapshot, AuraSnapshotStatus, GdsSession,
    GdsSessionStatus,
};

/// The parts of a resource whose change deserves a pass: spec (generation), finalizers,
/// deletion and annotations. Status writes do not: the controllers schedule their own polls.
pub fn worth_a_pass<K: Resource>(obj: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    obj.meta().generation.hash(&mut hasher);
    obj.finalizers().hash(&mut hasher);
    obj.meta()
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut hasher);
    obj.annotations().hash(&mut hasher);
    Some(hasher.finish())
}

/// Backs off per resource: errors a spec change can fix wait long (the change itself triggers a
/// pass), transient ones retry sooner and back off exponentially.
pub fn error_policy<K: Resource>(obj: &K, err: &Error, ctx: &Context) -> Action {
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

/// An `Api` for `K` in one namespace, or in all.
pub fn scoped<K>(ctx: &Context, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(ctx.kube.clone(), ns),
        None => Api::all(ctx.kube.clone()),
    }
}

/// The Controller of a kind: triggered by the changes that deserve a pass ([`worth_a_pass`]),
/// with its cache counted by status for `/metrics`.
pub fn controller<K: Kind>(
    ctx: &Arc<Context>,
    namespace: Option<&str>,
    kind: &'static str,
    status: fn(&K) -> Option<String>,
) -> Controller<K> {
    let (reader, writer) = reflector::store();
    let notify = Arc::clone(ctx);
    let triggers = watcher(scoped::<K>(ctx, namespace), watcher::Config::default())
        .default_backoff()
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
    count_statuses(ctx, kind, reader.clone(), status);
    Controller::for_stream(triggers, reader)
}

/// Drives a running controller's result stream to its end, logging and counting each pass.
pub async fn drive<K, E>(
    ctx: &Context,
    kind: &'static str,
    results: impl Stream<
        Item = std::result::Result<(ObjectRef<K>, Action), controller::Error<Error, E>>,
    >,
) where
    K: Resource,
    E: std::error::Error + 'static,
{
    results
        .for_each(|result| {
            finished(ctx, kind, &result);
            std::future::ready(())
        })
        .await;
}

/// Registers a controller's cache as the source of its `resources{kind,status}` gauge.
fn count_statuses<K>(
    ctx: &Context,
    kind: &'static str,
    cache: Store<K>,
    status: fn(&K) -> Option<String>,
) where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    ctx.add_status_source(
        kind,
        Box::new(move || {
            cache
                .state()
                .iter()
                .map(|o| status(o).unwrap_or_else(|| "pending".to_owned()))
                .collect()
        }),
    );
}

/// Logs and counts one finished pass of a controller's result stream.
pub fn finished<K, E>(
    ctx: &Context,
    kind: &'static str,
    result: &std::result::Result<(ObjectRef<K>, Action), controller::Error<Error, E>>,
) where
    K: Resource,
    E: std::error::Error,
{
    match result {
        Ok((obj, _)) => {
            tracing::debug!(object = %obj, "reconciled");
            ctx.metrics.reconciled(kind, Ok(()));
        }
        Err(controller::Error::ReconcilerFailed(err, obj)) => {
            tracing::debug!(object = %obj, error = %err, "reconcile failed");
            ctx.metrics.reconciled(kind, Err(err.category()));
        }
        Err(err) => tracing::debug!(error = %err, "controller stream error"),
    }
}

/// Runs a pass's `work`; when it `may` be superseded (a background pass whose work is safe to
/// cut short and redo), only until the resource changes. A change someone made should not wait
/// behind a poll still queued for the Aura budget with an older copy of the resource: on a change
/// this gives up (None) and the caller requeues at once, so the Controller runs the newer copy.
pub async fn unless_superseded<T>(
    ctx: &Context,
    key: &str,
    may: bool,
    work: impl Future<Output = T>,
) -> Option<T> {
    if !may {
        return Some(work.await);
    }
    let superseded = ctx.memory.superseded(key);
    tokio::select! {
        biased;
        done = work => Some(done),
        () = superseded => {
            tracing::debug!(uid = key, "background pass superseded by a change");
            None
        }
    }
}

/// The next pass for a superseded one: at once, with the newer copy.
pub fn rerun_now() -> Action {
    Action::requeue(Duration::ZERO)
}

/// How long until the next pass: a settled resource is compared with Aura again after the
/// resync interval; a busy one is polled with intervals that grow while `state` holds.
pub fn next_pass(ctx: &Context, key: &str, busy_state: Option<&str>) -> Action {
    match busy_state {
        None => {
            ctx.memory.reset_polls(key);
            Action::requeue(ctx.timing.resync)
        }
        Some(state) => Action::requeue(ctx.memory.next_poll(key, state, ctx.timing.poll)),
    }
}

/// A growing wait while something outside the resource (an instance, a referenced resource)
/// is not ready: the same schedule as polling a busy resource.
pub fn growing_wait(ctx: &Context, key: &str, state: &str) -> Duration {
    ctx.memory.next_poll(key, state, ctx.timing.poll)
}

/// The conditions as they were before the pass, to tell what changed.
struct Before {
    was_ready: bool,
    sync: Option<(String, String)>,
}

impl Before {
    fn of(conditions: &[Condition]) -> Self {
        Self {
            was_ready: conditions::is_true(conditions, READY),
            sync: sync_of(conditions),
        }
    }
}

fn sync_of(conditions: &[Condition]) -> Option<(String, String)> {
    conditions::find(conditions, SYNCED).map(|c| (c.reason.clone(), c.message.clone()))
}

/// Sets Synced and Ready after a pass: `ready` when it succeeded, or from the error. Returns
/// whether this generation has been dealt with (success, or an error only a change can fix),
/// i.e. whether `observedGeneration` moves.
fn record(
    conds: &mut Vec<Condition>,
    result: Result<Desired<'_>, &Error>,
    before: &Before,
    generation: Option<i64>,
) -> bool {
    let now = Time(jiff::Timestamp::now());
    match result {
        Ok(ready) => {
            conditions::set(
                conds,
                Desired::yes(
                    SYNCED,
                    "ReconcileSucceeded",
                    "the last pass reached Aura and Kubernetes",
                ),
                generation,
                now.clone(),
            );
            conditions::set(conds, ready, generation, now);
            true
        }
        Err(err) => {
            let reason = err.category();
            conditions::set(
                conds,
                Desired::no(SYNCED, reason, err.to_string()),
                generation,
                now.clone(),
            );
            // A passing failure (Aura unreachable) does not make a ready resource unready.
            if err.needs_change() || matches!(err, Error::Waiting { .. }) || !before.was_ready {
                conditions::set(
                    conds,
                    Desired::no(READY, reason, err.to_string()),
                    generation,
                    now,
                );
            }
            err.needs_change()
        }
    }
}

/// A status with the bookkeeping every kind keeps: the standard conditions and the generation
/// they judged.
pub trait Judged: Clone + Default + PartialEq + Serialize + Send + Sync {
    fn conditions(&self) -> &[Condition];
    fn observed_generation(&self) -> Option<i64>;
    /// The conditions and observedGeneration, to update together.
    fn bookkeeping(&mut self) -> (&mut Vec<Condition>, &mut Option<i64>);
}

macro_rules! judged {
    ($($status:ty),+) => {$(
        impl Judged for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn bookkeeping(&mut self) -> (&mut Vec<Condition>, &mut Option<i64>) {
                (&mut self.conditions, &mut self.observed_generation)
            }
        }
    )+};
}
judged!(AuraInstanceStatus, AuraSnapshotStatus, GdsSessionStatus);

/// A custom resource kind the operator reconciles: namespaced, with a [`Judged`] status.
pub trait Kind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + HasStatus<Status: Judged>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl Kind for AuraInstance {}
impl Kind for AuraSnapshot {}
impl Kind for GdsSession {}

/// The state of one pass over one resource, the same for every kind: the object, its API
/// handles, the status as last written and the status being built. Each controller adds its
/// steps in inherent `impl Pass<'_, ItsKind>` blocks.
pub struct Pass<'c, K: Kind> {
    pub ctx: &'c Context,
    pub obj: Arc<K>,
    pub api: Api<K>,
    pub secrets: Api<Secret>,
    /// Status as last written.
    pub written: K::Status,
    /// Status being built.
    pub status: K::Status,
}

impl<'c, K: Kind> Pass<'c, K> {
    pub fn new(obj: Arc<K>, ctx: &'c Context) -> Self {
        let namespace = obj.namespace().unwrap_or_default();
        let status = obj.status().cloned().unwrap_or_default();
        Self {
            api: Api::namespaced(ctx.kube.clone(), &namespace),
            secrets: Api::namespaced(ctx.kube.clone(), &namespace),
            ctx,
            written: status.clone(),
            status,
            obj,
        }
    }

    /// The key of this resource in the operator's memory (its UID).
    pub fn key(&self) -> String {
        self.obj.uid().unwrap_or_default()
    }

    pub fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// Whether the user changed something this operator has not acted on yet (a new generation
    /// or a deletion); such passes go before background ones in the Aura budget.
    pub fn user_driven(&self) -> bool {
        self.obj.meta().deletion_timestamp.is_some()
            || self.obj.meta().generation != self.written.observed_generation()
    }

    /// The Aura budget priority of this pass (see [`Self::user_driven`]).
    pub fn priority(&self) -> aura::Priority {
        if self.user_driven() {
            aura::Priority::Interactive
        } else {
            aura::Priority::Background
        }
    }

    /// Writes the status built so far, if it changed.
    pub async fn save(&mut self) -> Result<(), Error> {
        status::write(&self.api, &self.obj.name_any(), &self.written, &self.status).await?;
        self.written = self.status.clone();
        Ok(())
    }
}

/// Reports a pass the same way for every kind: Ready and Synced (with observedGeneration when
/// this generation has been judged), the failure count, the status write (best effort: the next
/// pass writes it again), and the Events of a new state.
pub async fn report<K: Kind>(
    pass: &mut Pass<'_, K>,
    ready: Result<Desired<'_>, &Error>,
    ready_note: &str,
) {
    let generation = pass.obj.meta().generation;
    let before = Before::of(pass.written.conditions());
    let succeeded = ready.is_ok();
    let failure = ready.as_ref().err().copied();
    let (conditions, observed) = pass.status.bookkeeping();
    if record(conditions, ready, &before, generation) {
        *observed = generation;
    }
    if succeeded {
        pass.ctx.memory.succeeded(&pass.key());
    }
    if let Err(write_err) = pass.save().await {
        tracing::warn!(error = %write_err, "could not write status");
    }
    let after = pass.status.conditions();
    announce(pass.ctx, &*pass.obj, &before, after, ready_note, failure).await;
}

/// Publishes the Events a pass deserves: `Ready` when the resource became ready, and one Event
/// per new problem (not one per retry).
async fn announce<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    before: &Before,
    after: &[Condition],
    ready_note: &str,
    err: Option<&Error>,
) {
    if conditions::is_true(after, READY) && !before.was_ready {
        events::normal(ctx, obj, "Ready", ready_note.to_owned()).await;
    }
    let Some(err) = err else {
        return;
    };
    if sync_of(after) != before.sync {
        let note = err.to_string();
        match err {
            Error::Waiting { reason, .. } => events::normal(ctx, obj, reason, note).await,
            other => events::warning(ctx, obj, other.category(), note).await,
        }
    }
}

/// PascalCase reason for an Aura status or a step (`creating` → `Creating`).
pub fn pascal(state: &str) -> String {
    state
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_become_pascal_case_reasons() {
        assert_eq!(pascal("creating"), "Creating");
        assert_eq!(pascal("loading failed"), "LoadingFailed");
        assert_eq!(pascal("AuraBusy"), "AuraBusy");
    }

    #[test]
    fn a_passing_failure_keeps_a_ready_resource_ready() {
        let mut conds = Vec::new();
        let none = Before::of(&conds);
        assert!(record(
            &mut conds,
            Ok(Desired::yes(READY, "Completed", "done")),
            &none,
            Some(1)
        ));
        let before = Before::of(&conds);
        assert!(before.was_ready);
        let transient = Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded);
        assert!(!record(&mut conds, Err(&transient), &before, Some(1)));
        assert!(conditions::is_true(&conds, READY));
        assert!(!conditions::is_true(&conds, SYNCED));
        let spec = Error::invalid("memory", "no");
        assert!(record(&mut conds, Err(&spec), &before, Some(2)));
        assert!(!conditions::is_true(&conds, READY));
    }
}
