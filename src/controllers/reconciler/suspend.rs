//! The suspend annotation: an incident responder's switch that stops every Aura call for one
//! resource of any kind, checked before anything else in a pass.
//!
//! While `aura.neo4j.io/suspend` is `"true"` a pass only says so: Synced False with reason
//! `Suspended` (Ready keeps what the last real pass found, since the Aura object is as it was),
//! and one `Suspended` Event. A suspended resource being deleted keeps its finalizer and waits:
//! its cleanup may call Aura (delete the instance, by `deletionPolicy`), and the responder who
//! stopped the operator decides — remove the annotation and the cleanup runs, or remove the
//! finalizer by hand to let go without any Aura call. Removing the annotation is a change of
//! the resource, so the next pass comes at once and does whatever is due.

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::pass::{Judged, Kind, Pass};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::crd::conditions::{self, Desired, READY, RECONCILING, STALLED, SYNCED};

/// The annotation that suspends a resource while its value is `"true"`.
pub const ANNOTATION: &str = "aura.neo4j.io/suspend";

/// Whether the resource asks the operator to leave Aura alone.
pub fn is_on<K: kube::Resource>(obj: &K) -> bool {
    obj.annotations()
        .get(ANNOTATION)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether the last pass over the resource found it suspended (to say when it resumes).
pub fn was_on<K: Kind>(obj: &K) -> bool {
    obj.status()
        .and_then(|s| conditions::find(s.conditions(), SYNCED))
        .is_some_and(|c| c.reason == Reason::Suspended.as_str())
}

/// The pass of a suspended resource: conditions, an Event when it becomes suspended, no Aura
/// call. It comes back when the resource changes (removing the annotation is a change).
pub async fn hold<K: Kind>(pass: &mut Pass<'_, K>, kind: &'static str) -> Result<Action, Error> {
    let deleting = pass.obj.meta().deletion_timestamp.is_some();
    let message = if deleting {
        format!(
            "the annotation {ANNOTATION} is \"true\": deletion waits, with its finalizer and \
             without any Aura call, until the annotation is removed (then the cleanup the spec \
             asks for runs)"
        )
    } else {
        format!(
            "the annotation {ANNOTATION} is \"true\": the operator makes no Aura call for this \
             resource; remove it to resume"
        )
    };
    let generation = pass.obj.meta().generation;
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let reason = Reason::Suspended.as_str();
    let (conds, _) = pass.status.bookkeeping();
    let changed = conditions::set(
        conds,
        Desired::no(SYNCED, reason, message.clone()),
        generation,
        now.clone(),
    );
    if conditions::find(conds, READY).is_none() {
        conditions::set(
            conds,
            Desired::no(READY, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
    // Neither working towards the spec nor stuck: held on purpose (kstatus reads the resource by
    // Ready, as it was when the hold began).
    for type_ in [RECONCILING, STALLED] {
        conditions::set(
            conds,
            Desired::no(type_, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
    pass.save().await?;
    if changed {
        events::normal(pass.ctx, &*pass.obj, reason, message).await;
    }
    tracing::info!(kind, name = %pass.obj.name_any(), namespace = %pass.namespace(), "suspended");
    pass.ctx.metrics.reconciled(kind, reason);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AuraSnapshot;

    fn with(value: Option<&str>) -> AuraSnapshot {
        let mut obj: AuraSnapshot = serde_json::from_value(serde_json::json!({
            "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraSnapshot",
            "metadata": {"name": "s"}, "spec": {"instanceRef": {"name": "orders"}}
        }))
        .unwrap();
        if let Some(v) = value {
            obj.metadata.annotations = Some([(ANNOTATION.to_owned(), v.to_owned())].into());
        }
        obj
    }

    #[test]
    fn only_true_suspends() {
        assert!(is_on(&with(Some("true"))));
        assert!(is_on(&with(Some(" True "))));
        assert!(!is_on(&with(Some("false"))));
        assert!(!is_on(&with(Some("yes"))));
        assert!(!is_on(&with(None)));
    }
}
