//! Taking the snapshot exactly once.
//!
//! Aura's `POST /instances/{id}/snapshots` is not idempotent, answers only a snapshot id, and
//! snapshots carry no name or tag the operator could mark. The protocol:
//! 1. Record the intent (the instance and the time, rounded down to the second) in the status
//!    *before* asking Aura.
//! 2. When Aura answers, record the snapshot id and clear the intent.
//! 3. A pass that finds an intent but no snapshot id (the operator stopped, or the answer was
//!    lost) does not ask again before looking: it lists the instance's snapshots of the intent's
//!    day (and of today, should midnight UTC have passed) and recognises the one it asked for
//!    with [`recognise`]. Only when there is none does it ask Aura again, under the same intent.
//!
//! The recognition rule: the earliest `AdHoc` snapshot whose timestamp is at or after the
//! intent's time and that no other AuraSnapshot in the namespace has recorded. Scheduled
//! snapshots and anything older than the intent are never taken for ours. It assumes the
//! operator's clock and Aura's agree to within the time a request takes (both keep UTC by NTP);
//! two AuraSnapshots of the same instance interrupted within the same second could swap
//! snapshots, which is harmless (both are of the same instance at the same moment).

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::ResourceExt;

use super::{Pass, Result};
use crate::aura::{self, InstanceId, InstanceStatus, Snapshot, SnapshotId, SnapshotProfile};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::error::Wait;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::crd::AuraSnapshot;
use crate::crd::snapshot::SnapshotIntent;

/// The snapshot an interrupted request produced, among `snapshots`: the earliest `AdHoc` one
/// taken at or after `since` (to the second) that is not in `claimed`.
pub fn recognise<'s>(
    snapshots: &'s [Snapshot],
    since: jiff::Timestamp,
    claimed: &HashSet<String>,
) -> Option<&'s Snapshot> {
    let since = jiff::Timestamp::from_second(since.as_second()).unwrap_or(since);
    snapshots
        .iter()
        .filter(|s| s.profile == Some(SnapshotProfile::AdHoc))
        .filter(|s| !claimed.contains(s.snapshot_id.as_str()))
        .filter_map(|s| {
            let at: jiff::Timestamp = s.timestamp.as_deref()?.parse().ok()?;
            (at >= since).then_some((at, s))
        })
        .min_by_key(|(at, _)| *at)
        .map(|(_, s)| s)
}

impl Pass<'_> {
    /// The snapshot this resource stands for: recorded, adopted, recognised, or taken now.
    pub(super) async fn ensure_snapshot(
        &mut self,
        aura: &aura::Client,
        instance: &InstanceId,
    ) -> Result<Snapshot> {
        if let Some(id) = self.status.snapshot_id.clone() {
            return self.recorded(aura, instance, &id).await;
        }
        if let Some(id) = self.obj.spec.snapshot_id.clone() {
            return self.adopt(aura, instance, &id).await;
        }
        if self.observe_only() {
            // validate() refuses this first; kept so that no Observe path can take a snapshot.
            return Err(Error::invalid("snapshotId", "managementPolicy Observe needs it").into());
        }
        if let Some(intent) = self.status.create_intent.clone()
            && let Some(found) = self.find_requested(aura, instance, &intent).await?
        {
            self.record(&found).await?;
            events::normal(
                self.ctx,
                &*self.obj,
                "Recovered",
                format!(
                    "found snapshot {} requested by an earlier pass; recorded it",
                    found.snapshot_id
                ),
            )
            .await;
            return Ok(found);
        }
        self.check_instance(aura, instance).await?;
        if self.status.create_intent.is_none() {
            let now = jiff::Timestamp::now();
            self.status.create_intent = Some(SnapshotIntent {
                instance_id: instance.to_string(),
                since: Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)),
            });
            self.save().await?;
        }
        self.take(aura, instance).await
    }

    async fn recorded(
        &mut self,
        aura: &aura::Client,
        instance: &InstanceId,
        id: &str,
    ) -> Result<Snapshot> {
        let snapshot_id = SnapshotId::new(id).map_err(Error::Aura)?;
        let snapshot = aura
            .snapshots(instance)
            .get(&snapshot_id)
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    Error::NeedsAttention {
                        reason: Reason::SnapshotNotFound,
                        message: format!(
                            "Aura no longer has snapshot {id} of instance {instance} (its retention \
                             ended, or the instance was deleted); this resource can be deleted"
                        ),
                    }
                } else {
                    Error::Aura(e)
                }
            })?;
        Ok(snapshot)
    }

    async fn adopt(
        &mut self,
        aura: &aura::Client,
        instance: &InstanceId,
        id: &str,
    ) -> Result<Snapshot> {
        let snapshot_id = SnapshotId::new(id)
            .map_err(|_| Error::invalid("snapshotId", format!("{id:?} is not a snapshot id")))?;
        let snapshot = aura
            .snapshots(instance)
            .get(&snapshot_id)
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    let observing = if self.observe_only() {
                        "; under managementPolicy Observe the operator never takes one"
                    } else {
                        ""
                    };
                    Error::invalid(
                        "snapshotId",
                        format!(
                            "instance {instance} has no snapshot {id} visible to this \
                             credential{observing}"
                        ),
                    )
                } else {
                    Error::Aura(e)
                }
            })?;
        self.record(&snapshot).await?;
        let (reason, note) = if self.observe_only() {
            (
                "Observing",
                format!(
                    "observing snapshot {id} of instance {instance}: managementPolicy is \
                     Observe, nothing in Aura is changed"
                ),
            )
        } else {
            (
                "Adopted",
                format!("adopted existing snapshot {id} of instance {instance}"),
            )
        };
        events::normal(self.ctx, &*self.obj, reason, note).await;
        Ok(snapshot)
    }

    async fn record(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.status.snapshot_id = Some(snapshot.snapshot_id.to_string());
        self.status.create_intent = None;
        self.observe(snapshot);
        Ok(self.save().await?)
    }

    /// The snapshot an earlier, interrupted request produced, if any.
    async fn find_requested(
        &self,
        aura: &aura::Client,
        instance: &InstanceId,
        intent: &SnapshotIntent,
    ) -> Result<Option<Snapshot>> {
        let since = intent.since.0;
        let utc = jiff::tz::TimeZone::UTC;
        let mut days = vec![since.to_zoned(utc.clone()).date()];
        let today = jiff::Timestamp::now().to_zoned(utc).date();
        if !days.contains(&today) {
            days.push(today);
        }
        let mut listed = Vec::new();
        for day in days {
            listed.extend(aura.snapshots(instance).list(Some(day)).await?);
        }
        let claimed = self.claimed_elsewhere().await?;
        Ok(recognise(&listed, since, &claimed).cloned())
    }

    /// Snapshot ids other AuraSnapshots in this namespace stand for.
    async fn claimed_elsewhere(&self) -> Result<HashSet<String>> {
        let api: Api<AuraSnapshot> = Api::namespaced(self.ctx.kube.clone(), &self.namespace());
        let me = self.obj.uid();
        Ok(api
            .list(&Default::default())
            .await?
            .into_iter()
            .filter(|other| other.uid() != me)
            .filter_map(|other| other.status.and_then(|s| s.snapshot_id))
            .collect())
    }

    /// Waits (with a clear reason) while the instance cannot be snapshotted.
    async fn check_instance(&self, aura: &aura::Client, instance: &InstanceId) -> Result<()> {
        let found = aura.instances().get(instance).await.map_err(|e| {
            if e.is_not_found() {
                let field = if self.obj.spec.instance_id.is_some() {
                    "instanceId"
                } else {
                    "instanceRef"
                };
                Error::invalid(
                    field,
                    format!("Aura has no instance {instance} visible to this credential"),
                )
            } else {
                Error::Aura(e)
            }
        })?;
        match found.status {
            InstanceStatus::Running => Ok(()),
            InstanceStatus::Paused
            | InstanceStatus::Pausing
            | InstanceStatus::Suspended
            | InstanceStatus::Suspending => {
                Err(self.waiting_for_instance(true, &found.status).into())
            }
            status if status.is_transient() => {
                Err(self.waiting_for_instance(false, &status).into())
            }
            // A status this client does not know: let Aura decide.
            _ => Ok(()),
        }
    }

    fn waiting_for_instance(&self, paused: bool, status: &dyn std::fmt::Display) -> Wait {
        let (reason, message) = if paused {
            (
                Reason::InstancePaused,
                format!(
                    "instance is {status}: Aura cannot snapshot a paused instance; the snapshot is \
                     taken once it is resumed"
                ),
            )
        } else {
            (
                Reason::InstanceBusy,
                format!("instance is {status}: the snapshot is taken once it is running"),
            )
        };
        self.wait(reason, message)
    }

    /// Asks Aura for the snapshot (the intent is already recorded).
    async fn take(&mut self, aura: &aura::Client, instance: &InstanceId) -> Result<Snapshot> {
        match aura.snapshots(instance).create().await {
            Ok(id) => {
                let snapshot = Snapshot {
                    snapshot_id: id.clone(),
                    instance_id: Some(instance.clone()),
                    profile: Some(SnapshotProfile::AdHoc),
                    status: aura::SnapshotStatus::Pending,
                    timestamp: None,
                    exportable: None,
                };
                self.record(&snapshot).await?;
                events::normal(
                    self.ctx,
                    &*self.obj,
                    "SnapshotRequested",
                    format!("Aura is taking snapshot {id} of instance {instance}"),
                )
                .await;
                Ok(snapshot)
            }
            Err(e) => {
                if !e.request_may_have_acted() {
                    // Aura certainly took nothing: the next pass need not look.
                    self.status.create_intent = None;
                    self.save().await?;
                }
                if e.is_busy() {
                    let paused = e.reason() == Some("db-paused");
                    return Err(self.waiting_for_instance(paused, &"busy").into());
                }
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: u8, profile: SnapshotProfile, at: &str) -> Snapshot {
        Snapshot {
            snapshot_id: SnapshotId::new(format!("00000000-0000-4000-8000-0000000000{id:02}"))
                .unwrap(),
            instance_id: None,
            profile: Some(profile),
            status: aura::SnapshotStatus::Completed,
            timestamp: Some(at.to_owned()),
            exportable: Some(true),
        }
    }

    fn since() -> jiff::Timestamp {
        "2026-03-01T10:00:00.700Z".parse().unwrap()
    }

    #[test]
    fn the_first_ad_hoc_snapshot_at_or_after_the_intent_is_ours() {
        let list = [
            snap(1, SnapshotProfile::AdHoc, "2026-03-01T09:59:59Z"),
            snap(2, SnapshotProfile::Scheduled, "2026-03-01T10:00:00Z"),
            snap(3, SnapshotProfile::AdHoc, "2026-03-01T10:00:05Z"),
            snap(4, SnapshotProfile::AdHoc, "2026-03-01T10:00:00Z"),
        ];
        let found = recognise(&list, since(), &HashSet::new()).unwrap();
        assert_eq!(
            found.snapshot_id.as_str(),
            "00000000-0000-4000-8000-000000000004",
            "same second counts: Aura's timestamps have no fraction"
        );
    }

    #[test]
    fn older_scheduled_and_claimed_snapshots_are_never_ours() {
        let list = [
            snap(1, SnapshotProfile::AdHoc, "2026-03-01T09:59:59Z"),
            snap(2, SnapshotProfile::Scheduled, "2026-03-01T10:00:03Z"),
            snap(3, SnapshotProfile::AdHoc, "2026-03-01T10:00:04Z"),
        ];
        let claimed = HashSet::from(["00000000-0000-4000-8000-000000000003".to_owned()]);
        assert!(recognise(&list, since(), &claimed).is_none());
        assert!(recognise(&list[..2], since(), &HashSet::new()).is_none());
    }
}
