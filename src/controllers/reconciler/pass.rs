//! The state of one pass over one resource, the same for every kind, and how a pass is reported:
//! the Ready and Synced conditions, `observedGeneration`, Events, and when to come back.
//!
//! Each kind adds its steps in inherent `impl Pass<'_, ItsKind>` blocks and says how its pass
//! ended with a [`Verdict`]; [`super`] runs the steps and calls [`finish`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::NamespaceResourceScope;
use kube::core::object::HasStatus;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Context;
use crate::aura;
use crate::controllers::machinery::error::{Error, Stop, Wait};
use crate::controllers::machinery::pacing::{growing_wait, next_pass};
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::machinery::supersede::Committed;
use crate::controllers::machinery::watch::worth_a_pass;
use crate::controllers::machinery::{events, status};
use crate::controllers::tenancy::access::Restrictions;
use crate::crd::conditions::{self, Desired, READY, RECONCILING, STALLED, SYNCED};
use crate::crd::{
    AuraInstance, AuraInstanceStatus, AuraSnapshot, AuraSnapshotStatus, GdsSession,
    GdsSessionStatus,
};

/// How an apply pass that ran to its end left the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the resource is Ready, with the reason and message of its Ready condition.
    pub ready: bool,
    pub reason: Reason,
    pub message: String,
    /// Aura is still at work (its status or our step): poll with growing intervals while this
    /// holds. None: settled, look again after the resync interval.
    pub busy: Option<String>,
    /// Not ready, and only a person can change that (kstatus `Stalled`).
    pub stalled: bool,
}

impl Verdict {
    pub fn ready(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            ready: true,
            reason,
            message: message.into(),
            busy: None,
            stalled: false,
        }
    }

    /// Not ready, and nothing to poll for: only a change (or the resync) brings news.
    pub fn not_ready(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            ready: false,
            reason,
            message: message.into(),
            busy: None,
            stalled: false,
        }
    }

    /// Not ready, and it will stay so until a person acts (in Aura, on the spec or a Secret):
    /// `Stalled` True, so that GitOps tools report a failure instead of progress forever.
    pub fn stalled(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            stalled: true,
            ..Self::not_ready(reason, message)
        }
    }

    /// Not ready yet: Aura is at work (`state`).
    pub fn busy(state: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            ready: false,
            reason: Reason::InProgress,
            message: message.into(),
            busy: Some(state.into()),
            stalled: false,
        }
    }
}

/// An Event that announces something a pass learned (a session that expired, an instance Aura
/// resumed): published once the status that records it is written, so that it goes out once,
/// with that status, however the pass is interrupted.
#[derive(Debug, Clone, PartialEq)]
pub struct News {
    warning: bool,
    reason: &'static str,
    note: String,
}

impl News {
    pub fn normal(reason: &'static str, note: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason,
            note: note.into(),
        }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::normal(reason, note)
        }
    }

    async fn publish<K: Resource<DynamicType = ()>>(self, ctx: &Context, obj: &K) {
        if self.warning {
            events::warning(ctx, obj, self.reason, self.note).await;
        } else {
            events::normal(ctx, obj, self.reason, self.note).await;
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

/// Whether `obj` carries a change someone made that no pass has acted on yet (a new generation
/// or a deletion): such passes go first, for a slot and for the Aura budget.
pub fn user_driven<K: Kind>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
        || obj.meta().generation != obj.status().and_then(|status| status.observed_generation())
}

/// Whether a pass of `obj` goes first, for a slot and for the Aura budget: a change someone
/// made that no pass has acted on yet, or the follow-through of one. While `Reconciling` is True
/// the operator is carrying a change out (Aura resizing, pausing, creating; a retry), and the
/// polls that see it done are what the user waits for: behind a saturated budget's drift checks
/// they waited minutes (benches/capacity.rs). Only looks at settled resources wait.
pub fn goes_first<K: Kind>(obj: &K) -> bool {
    user_driven(obj)
        || obj
            .status()
            .is_some_and(|status| conditions::is_true(status.conditions(), RECONCILING))
}

/// The state of one pass over one resource: the object, its API handles, the status as last
/// written and the status being built.
pub struct Pass<'c, K: Kind> {
    pub ctx: &'c Context,
    pub obj: Arc<K>,
    pub api: Api<K>,
    pub secrets: Api<Secret>,
    /// Status as last written.
    pub written: K::Status,
    /// Status being built.
    pub status: K::Status,
    /// What the credential in use restricts (tenants, limits); set when the credential is read.
    pub restrictions: Restrictions,
    /// A time the spec ties to the calendar (a scheduled pause or resume, an expiry) by which
    /// the next pass must come, if that is sooner than it would otherwise.
    pub wake_at: Option<jiff::Timestamp>,
    /// What this pass learned and will announce once its status is written (see [`News`]).
    news: Vec<News>,
    /// Whether it holds news (shared with whatever may supersede the pass).
    committed: Committed,
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
            restrictions: Restrictions::default(),
            wake_at: None,
            news: Vec::new(),
            committed: Committed::default(),
        }
    }

    /// Keeps `news` for [`finish`] to publish after the status write, and commits the pass to
    /// running to its end.
    pub fn announce(&mut self, news: News) {
        self.news.push(news);
        self.committed.set();
    }

    /// Whether this pass holds news, readable while the pass runs.
    pub fn committed(&self) -> Committed {
        self.committed.clone()
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

    /// The Aura budget priority of this pass (see [`goes_first`]).
    pub fn priority(&self) -> aura::Priority {
        let reconciling = conditions::is_true(self.written.conditions(), RECONCILING);
        if self.user_driven() || reconciling {
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

    /// Asks for a pass by `at` (on the controllers' [`clock`]); the earliest asked wins.
    ///
    /// [`clock`]: crate::controllers::machinery::clock
    pub fn wake_by(&mut self, at: jiff::Timestamp) {
        self.wake_at = Some(self.wake_at.map_or(at, |was| was.min(at)));
    }

    /// A wait on the growing polling schedule (see [`growing_wait`]).
    pub fn wait(&self, reason: Reason, message: impl Into<String>) -> Wait {
        Wait {
            reason,
            message: message.into(),
            retry: growing_wait(self.ctx, &self.key(), reason.as_str()),
        }
    }
}

/// Reports a pass and decides the next: Ready and Synced (with observedGeneration once this
/// generation has been judged), the status write, the pass's [`News`] and the Events of a new
/// state (only once the status that records them is written: if the write fails, the next pass
/// learns it all again), the metric and the log. A wait is reported like any state and comes back by itself; a failure goes back to the
/// Controller (and its error policy). A status write that fails fails the pass.
pub async fn finish<K: Kind>(
    pass: &mut Pass<'_, K>,
    kind: &'static str,
    result: Result<Verdict, Stop>,
    ready_note: &str,
) -> Result<Action, Error> {
    let key = pass.key();
    let (judged, next) = match &result {
        Ok(verdict) => (
            Judgement::Done(verdict),
            Some(next_pass(
                pass.ctx,
                &key,
                verdict.busy.as_deref(),
                pass.wake_at,
            )),
        ),
        Err(Stop::Wait(wait)) => (Judgement::Waiting(wait), Some(wait.retry)),
        Err(Stop::Fail(err)) => (Judgement::Failed(err), None),
    };
    let action = next.map_or_else(Action::await_change, Action::requeue);
    let before = Before::of(pass.written.conditions());
    let generation = pass.obj.meta().generation;
    let (conditions, observed) = pass.status.bookkeeping();
    let acted_on = record(conditions, &judged, &before, generation) || *observed == generation;
    if acted_on {
        *observed = generation;
    }
    progress(conditions, &judged, acted_on, generation);
    if matches!(judged, Judgement::Done(_) | Judgement::Waiting(_)) {
        pass.ctx.memory.succeeded(&key);
    }
    let saved = pass.save().await;
    let news = std::mem::take(&mut pass.news);
    if saved.is_ok() {
        for item in news {
            item.publish(pass.ctx, &*pass.obj).await;
        }
    }
    announce(
        pass.ctx,
        &*pass.obj,
        &before,
        pass.status.conditions(),
        ready_note,
        &judged,
    )
    .await;
    let label = judged.label();
    match &saved {
        Ok(()) => {
            count_first_ready(pass, kind, &before);
            remember_settled(pass, &result, next);
        }
        Err(_) => pass.ctx.memory.unsettled(&key),
    }
    match (result, saved) {
        (Err(Stop::Fail(err)), saved) => {
            if let Err(write) = saved {
                tracing::warn!(error = %write, "could not write status");
            }
            tracing::warn!(kind, name = %pass.obj.name_any(), namespace = %pass.namespace(),
                reason = %err.reason(), error = %err, "reconcile failed");
            pass.ctx.metrics.reconciled(kind, err.reason().as_str());
            Err(err)
        }
        (_, Err(write)) => {
            tracing::warn!(kind, name = %pass.obj.name_any(), namespace = %pass.namespace(),
                error = %write, "could not write status");
            pass.ctx
                .metrics
                .reconciled(kind, Reason::KubernetesError.as_str());
            Err(write)
        }
        (_, Ok(())) => {
            pass.ctx.metrics.reconciled(kind, label);
            Ok(action)
        }
    }
}

/// Remembers whether the pass left the resource settled (Ready, nothing to poll) and until when,
/// so that a credential's nudge before then need not look at Aura (see [`Memory::quiet_for`]).
///
/// [`Memory::quiet_for`]: crate::controllers::machinery::memory::Memory::quiet_for
fn remember_settled<K: Kind>(
    pass: &Pass<'_, K>,
    result: &Result<Verdict, Stop>,
    next: Option<Duration>,
) {
    let key = pass.key();
    let settled = matches!(result, Ok(verdict) if verdict.busy.is_none())
        && conditions::is_true(pass.status.conditions(), READY);
    let seen = worth_a_pass(&*pass.obj);
    match (settled, next, seen) {
        (true, Some(next), Some(seen)) => {
            let due = tokio::time::Instant::now() + next;
            if let Some(gap) = pass.ctx.memory.settled(&key, due, seen) {
                pass.ctx.cadence.looked(gap, &pass.ctx.metrics);
            }
        }
        _ => pass.ctx.memory.unsettled(&key),
    }
}

/// What a pass came to, for the conditions.
enum Judgement<'r> {
    Done(&'r Verdict),
    Waiting(&'r Wait),
    Failed(&'r Error),
}

impl Judgement<'_> {
    /// The reconcile metric's `result`.
    fn label(&self) -> &'static str {
        match self {
            Self::Done(_) => "ok",
            Self::Waiting(_) => "waiting",
            Self::Failed(err) => err.reason().as_str(),
        }
    }
}

/// The conditions as they were before the pass, to tell what changed.
struct Before {
    was_ready: bool,
    /// When Ready last changed status, while it was not True; None when it was never written.
    not_ready_since: Option<jiff::Timestamp>,
    sync: Option<(String, String)>,
}

impl Before {
    fn of(conditions: &[Condition]) -> Self {
        let ready = conditions::find(conditions, READY);
        Self {
            was_ready: conditions::is_true(conditions, READY),
            not_ready_since: ready.map(|c| c.last_transition_time.0),
            sync: sync_of(conditions),
        }
    }

    /// Whether a Ready written now is the resource's first: Ready was never written, or has
    /// been not-True since the resource's first passes (a status transition moves
    /// lastTransitionTime, so a resource that was Ready once and lost it has a later one). A
    /// resource first looked at more than [`FIRST_PASS_WINDOW`] after its creation (the
    /// operator was down) is not counted rather than counted wrong.
    fn first_ready_after(&self, created: jiff::Timestamp, now: jiff::Timestamp) -> bool {
        // When the first pass is the one making it Ready (an adoption), that pass is now.
        let first_pass = self.not_ready_since.unwrap_or(now);
        !self.was_ready && first_pass.duration_since(created) <= FIRST_PASS_WINDOW
    }
}

/// How soon after a resource's creation its first pass writes Ready, for the time-to-Ready
/// metric to count it.
const FIRST_PASS_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// Records the time-to-Ready of a resource whose first Ready this pass wrote.
fn count_first_ready<K: Kind>(pass: &Pass<'_, K>, kind: &'static str, before: &Before) {
    let Some(created) = pass.obj.meta().creation_timestamp.as_ref().map(|t| t.0) else {
        return;
    };
    let now = jiff::Timestamp::now();
    if !conditions::is_true(pass.status.conditions(), READY)
        || !before.first_ready_after(created, now)
    {
        return;
    }
    let took = now.duration_since(created);
    if let Ok(took) = Duration::try_from(took) {
        pass.ctx.metrics.first_ready(kind, took);
    }
}

fn sync_of(conditions: &[Condition]) -> Option<(String, String)> {
    conditions::find(conditions, SYNCED).map(|c| (c.reason.clone(), c.message.clone()))
}

/// Sets Synced and Ready after a pass. Returns whether this generation has been dealt with
/// (it ran to its end, or failed in a way only a change can fix), i.e. whether
/// `observedGeneration` moves.
fn record(
    conds: &mut Vec<Condition>,
    judged: &Judgement<'_>,
    before: &Before,
    generation: Option<i64>,
) -> bool {
    let now = Time(jiff::Timestamp::now());
    let mut set = |desired: Desired<'_>| {
        conditions::set(conds, desired, generation, now.clone());
    };
    match judged {
        Judgement::Done(verdict) => {
            set(Desired::yes(
                SYNCED,
                Reason::ReconcileSucceeded.as_str(),
                "the last pass reached Aura and Kubernetes",
            ));
            let reason = verdict.reason.as_str();
            set(if verdict.ready {
                Desired::yes(READY, reason, verdict.message.clone())
            } else {
                Desired::no(READY, reason, verdict.message.clone())
            });
            true
        }
        Judgement::Waiting(wait) => {
            let reason = wait.reason.as_str();
            set(Desired::no(SYNCED, reason, wait.message.clone()));
            set(Desired::no(READY, reason, wait.message.clone()));
            false
        }
        Judgement::Failed(err) => {
            let reason = err.reason().as_str();
            set(Desired::no(SYNCED, reason, err.to_string()));
            // A passing failure (Aura unreachable) does not make a ready resource unready.
            if err.needs_change() || !before.was_ready {
                set(Desired::no(READY, reason, err.to_string()));
            }
            err.needs_change()
        }
    }
}

/// Sets kstatus's `Reconciling` and `Stalled` from the pass and the `Ready` it left: Stalled
/// while only a person can help (a verdict that says so, or a failure only a change fixes);
/// otherwise Reconciling while the resource is not ready or this generation has not been acted
/// on. `acted_on`: `observedGeneration` is this generation after the pass.
fn progress(
    conds: &mut Vec<Condition>,
    judged: &Judgement<'_>,
    acted_on: bool,
    generation: Option<i64>,
) {
    let (reason, message, stalled) = match judged {
        Judgement::Done(verdict) => (verdict.reason, verdict.message.clone(), verdict.stalled),
        Judgement::Waiting(wait) => (wait.reason, wait.message.clone(), false),
        Judgement::Failed(err) => (err.reason(), err.to_string(), err.needs_change()),
    };
    let settled = acted_on && conditions::is_true(conds, READY);
    let reconciling = !stalled && !settled;
    let word = reason.as_str();
    let now = Time(jiff::Timestamp::now());
    let stalled_condition = if stalled {
        Desired::yes(STALLED, word, message.clone())
    } else {
        Desired::no(STALLED, word, "nothing needs a person")
    };
    let reconciling_condition = if reconciling {
        Desired::yes(RECONCILING, word, message)
    } else if stalled {
        Desired::no(
            RECONCILING,
            word,
            "the operator cannot go on without a change",
        )
    } else {
        Desired::no(RECONCILING, word, "the resource is as its spec says")
    };
    conditions::set(conds, reconciling_condition, generation, now.clone());
    conditions::set(conds, stalled_condition, generation, now);
}

/// Publishes the Events a pass deserves: `Ready` when the resource became ready, and one Event
/// per new wait or problem (not one per retry).
async fn announce<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    before: &Before,
    after: &[Condition],
    ready_note: &str,
    judged: &Judgement<'_>,
) {
    if conditions::is_true(after, READY) && !before.was_ready {
        events::normal(ctx, obj, Reason::Ready.as_str(), ready_note.to_owned()).await;
    }
    if sync_of(after) == before.sync {
        return;
    }
    match judged {
        Judgement::Done(_) => {}
        Judgement::Waiting(wait) => {
            events::normal(ctx, obj, wait.reason.as_str(), wait.message.clone()).await;
        }
        Judgement::Failed(err) => {
            events::warning(ctx, obj, err.reason().as_str(), err.to_string()).await;
        }
    }
}

/// PascalCase for an Aura status or a step (`creating` → `Creating`), for messages.
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
    fn states_become_pascal_case() {
        assert_eq!(pascal("creating"), "Creating");
        assert_eq!(pascal("loading failed"), "LoadingFailed");
        assert_eq!(pascal("AuraBusy"), "AuraBusy");
    }

    #[test]
    fn a_passing_failure_keeps_a_ready_resource_ready() {
        let mut conds = Vec::new();
        let none = Before::of(&conds);
        let done = Verdict::ready(Reason::Completed, "done");
        assert!(record(&mut conds, &Judgement::Done(&done), &none, Some(1)));
        let before = Before::of(&conds);
        assert!(before.was_ready);
        let transient = Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded);
        assert!(!record(
            &mut conds,
            &Judgement::Failed(&transient),
            &before,
            Some(1)
        ));
        assert!(conditions::is_true(&conds, READY));
        assert!(!conditions::is_true(&conds, SYNCED));
        let spec = Error::invalid("memory", "no");
        assert!(record(
            &mut conds,
            &Judgement::Failed(&spec),
            &before,
            Some(2)
        ));
        assert!(!conditions::is_true(&conds, READY));
    }

    #[test]
    fn a_wait_makes_the_resource_unready_without_judging_the_generation() {
        let mut conds = Vec::new();
        let before = Before::of(&conds);
        let wait = Wait {
            reason: Reason::SourceNotReady,
            message: "m".into(),
            retry: Duration::from_secs(1),
        };
        assert!(!record(
            &mut conds,
            &Judgement::Waiting(&wait),
            &before,
            Some(1)
        ));
        let ready = conditions::find(&conds, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "SourceNotReady")
        );
    }

    /// `(Ready, Reconciling, Stalled)` as True/False.
    fn health(conds: &[Condition]) -> (bool, bool, bool) {
        (
            conditions::is_true(conds, READY),
            conditions::is_true(conds, RECONCILING),
            conditions::is_true(conds, STALLED),
        )
    }

    /// Runs `record` and `progress` as `finish` does, from `observed`.
    fn judge(conds: &mut Vec<Condition>, judged: &Judgement<'_>, observed: Option<i64>) {
        let before = Before::of(conds);
        let acted_on = record(conds, judged, &before, Some(2)) || observed == Some(2);
        progress(conds, judged, acted_on, Some(2));
    }

    #[test]
    fn reconciling_and_stalled_follow_the_pass() {
        let mut conds = Vec::new();
        let busy = Verdict::busy("creating", "waiting");
        judge(&mut conds, &Judgement::Done(&busy), None);
        assert_eq!(health(&conds), (false, true, false));

        let ready = Verdict::ready(Reason::Running, "ok");
        judge(&mut conds, &Judgement::Done(&ready), Some(1));
        assert_eq!(health(&conds), (true, false, false));
        let stalled = conditions::find(&conds, STALLED).unwrap();
        assert_eq!(stalled.status, "False", "abnormal-true: present as False");

        let failed = Verdict::stalled(Reason::LoadingFailed, "look in Aura");
        judge(&mut conds, &Judgement::Done(&failed), Some(2));
        assert_eq!(health(&conds), (false, false, true));
        let stalled = conditions::find(&conds, STALLED).unwrap();
        assert_eq!(stalled.reason, "LoadingFailed");

        let spec = Error::invalid("memory", "no");
        judge(&mut conds, &Judgement::Failed(&spec), Some(1));
        assert_eq!(health(&conds), (false, false, true));
    }

    #[test]
    fn a_passing_failure_on_a_new_generation_is_still_reconciling() {
        let mut conds = Vec::new();
        let ready = Verdict::ready(Reason::Running, "ok");
        judge(&mut conds, &Judgement::Done(&ready), None);
        let transient = Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded);
        // Same generation: still ready, nothing to reconcile.
        judge(&mut conds, &Judgement::Failed(&transient), Some(2));
        assert_eq!(health(&conds), (true, false, false));
        // A generation not acted on yet: ready (the old spec), but reconciling.
        judge(&mut conds, &Judgement::Failed(&transient), Some(1));
        assert_eq!(health(&conds), (true, true, false));
    }

    #[test]
    fn only_a_ready_that_follows_the_first_passes_counts_as_the_first() {
        let created = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let at = |seconds: i64| created + jiff::SignedDuration::from_secs(seconds);
        let before = |ready: bool, since: Option<i64>| Before {
            was_ready: ready,
            not_ready_since: since.map(at),
            sync: None,
        };
        // Created, not Ready since the first pass a second later: a slow create still counts.
        assert!(before(false, Some(1)).first_ready_after(created, at(900)));
        // Ready once, lost it an hour later: its recovery is no first Ready.
        assert!(!before(false, Some(3_600)).first_ready_after(created, at(3_700)));
        // Already Ready.
        assert!(!before(true, Some(1)).first_ready_after(created, at(900)));
        // Never judged, Ready at its first pass: counted only when that pass is soon after the
        // creation (an operator down for a day must not report a day).
        assert!(before(false, None).first_ready_after(created, at(3)));
        assert!(!before(false, None).first_ready_after(created, at(86_400)));
    }
}
