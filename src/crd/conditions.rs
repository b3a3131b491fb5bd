//! Status conditions in the standard Kubernetes shape, set without churn.
//!
//! Argo CD, Flux (kstatus) and `kubectl wait --for=condition=Ready` read these. Beside `Ready`
//! and `Synced`, every kind carries kstatus's two abnormal-true conditions, `Reconciling` and
//! `Stalled`: True only while they hold, and present as False otherwise (kstatus allows False or
//! absent; False keeps `lastTransitionTime`, so one can tell since when a resource is healthy).
//! `Stalled` is never True beside `Ready` or `Reconciling`. A condition's
//! `lastTransitionTime` only moves when its status flips, and setting a condition to what it
//! already says changes nothing, so a reconcile that finds everything in order writes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The resource does what its spec says (the instance is running, its Secret is usable).
pub const READY: &str = "Ready";
/// The last reconcile reached Aura and Kubernetes without error.
pub const SYNCED: &str = "Synced";

/// kstatus: the operator is working towards the spec (Aura busy, a wait, a new generation not
/// acted on yet, a passing failure it retries).
pub const RECONCILING: &str = "Reconciling";
/// kstatus: progress needs a person (a spec or credential change, or a fix in Aura); the
/// operator will not get there by retrying.
pub const STALLED: &str = "Stalled";
/// Observe-only resources: whether Aura differs from the spec (the message lists the fields).
pub const DRIFTED: &str = "Drifted";
/// AuraInstance: whether the connection Secret's credentials log in to the database over Bolt.
pub const CONNECTION_VERIFIED: &str = "ConnectionVerified";
/// AuraInstance: whether the connection Secret holds the user `connectionSecret.rotation.strategy`
/// asks for (False while a switch of strategy is under way or refused).
pub const ROTATION_STRATEGY: &str = "RotationStrategy";

/// A condition to set: type, status, reason, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> Desired<'a> {
    pub fn yes(type_: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: true,
            reason,
            message: message.into(),
        }
    }

    pub fn no(type_: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: false,
            reason,
            message: message.into(),
        }
    }
}

fn status_text(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// [`set`], returning the reason the condition had before (None: it was absent), for callers
/// that announce a change of reason.
pub fn set_after(
    conditions: &mut Vec<Condition>,
    desired: Desired<'_>,
    generation: Option<i64>,
    now: Time,
) -> Option<String> {
    let was = find(conditions, desired.type_).map(|c| c.reason.clone());
    set(conditions, desired, generation, now);
    was
}

/// Sets `desired` in `conditions`, keeping `lastTransitionTime` unless the status flips.
/// Returns whether anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    desired: Desired<'_>,
    generation: Option<i64>,
    now: Time,
) -> bool {
    let status = status_text(desired.status);
    match conditions.iter_mut().find(|c| c.type_ == desired.type_) {
        Some(existing) => {
            let unchanged = existing.status == status
                && existing.reason == desired.reason
                && existing.message == desired.message
                && existing.observed_generation == generation;
            if unchanged {
                return false;
            }
            if existing.status != status {
                existing.last_transition_time = now;
            }
            existing.status = status.to_owned();
            existing.reason = desired.reason.to_owned();
            existing.message = desired.message;
            existing.observed_generation = generation;
            true
        }
        None => {
            conditions.push(Condition {
                type_: desired.type_.to_owned(),
                status: status.to_owned(),
                reason: desired.reason.to_owned(),
                message: desired.message,
                observed_generation: generation,
                last_transition_time: now,
            });
            true
        }
    }
}

/// The condition of `type_`, if present.
pub fn find<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn setting_the_same_condition_changes_nothing() {
        let mut conditions = Vec::new();
        assert!(set(
            &mut conditions,
            Desired::yes(READY, "Running", "ok"),
            Some(1),
            at(10)
        ));
        assert!(!set(
            &mut conditions,
            Desired::yes(READY, "Running", "ok"),
            Some(1),
            at(20)
        ));
        assert_eq!(conditions[0].last_transition_time, at(10));
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            Desired::no(READY, "Creating", "wait"),
            Some(1),
            at(10),
        );
        assert!(set(
            &mut conditions,
            Desired::no(READY, "Creating", "still waiting"),
            Some(1),
            at(20)
        ));
        assert_eq!(conditions[0].last_transition_time, at(10));
        assert!(set(
            &mut conditions,
            Desired::yes(READY, "Running", "ok"),
            Some(1),
            at(30)
        ));
        assert_eq!(conditions[0].last_transition_time, at(30));
        assert!(is_true(&conditions, READY));
        assert_eq!(conditions.len(), 1);
    }
}
