//! Snapshots of an instance: list, take, get, restore.

use http::Method;
use serde::{Deserialize, Serialize};

use super::client::{Call, Client};
use super::embedded::get_one;
use super::error::Result;
use super::ids::{InstanceId, SnapshotId};
use super::instances::Instance;
use super::values::{SnapshotProfile, SnapshotStatus};

/// A snapshot of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Snapshot {
    pub snapshot_id: SnapshotId,
    #[serde(default)]
    pub instance_id: Option<InstanceId>,
    #[serde(default)]
    pub profile: Option<SnapshotProfile>,
    pub status: SnapshotStatus,
    /// RFC 3339 time the snapshot was taken.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Whether it can be a source for overwrite or clone.
    #[serde(default)]
    pub exportable: Option<bool>,
}

#[derive(Deserialize)]
struct Taken {
    snapshot_id: SnapshotId,
}

/// `client.snapshots(&instance)`.
pub struct Snapshots<'c> {
    pub(crate) client: &'c Client,
    pub(crate) instance: &'c InstanceId,
}

impl Snapshots<'_> {
    /// Snapshots of one day (`None`: Aura's default, today in UTC).
    pub async fn list(&self, date: Option<jiff::civil::Date>) -> Result<Vec<Snapshot>> {
        let id = self.instance;
        let mut call = Call::get(
            "/instances/{instanceId}/snapshots",
            format!("/instances/{id}/snapshots"),
        );
        if let Some(date) = date {
            call = call.query("date", date.strftime("%Y-%m-%d"));
        }
        self.client.send(call).await?.data()
    }

    /// Takes an on-demand snapshot. Not resent after it may have reached Aura (a second
    /// snapshot is not harmful, but it is not what was asked for).
    pub async fn create(&self) -> Result<SnapshotId> {
        let id = self.instance;
        let call = Call::new(
            Method::POST,
            "/instances/{instanceId}/snapshots",
            format!("/instances/{id}/snapshots"),
            false,
        );
        Ok(self.client.send(call).await?.data::<Taken>()?.snapshot_id)
    }

    /// One snapshot.
    pub async fn get(&self, snapshot: &SnapshotId) -> Result<Snapshot> {
        let id = self.instance;
        let call = Call::get(
            "/instances/{instanceId}/snapshots/{snapshotId}",
            format!("/instances/{id}/snapshots/{snapshot}"),
        );
        get_one(self.client, call).await
    }

    /// Restores the instance from one of its snapshots; the instance goes to `restoring`.
    pub async fn restore(&self, snapshot: &SnapshotId) -> Result<Instance> {
        let id = self.instance;
        let call = Call::new(
            Method::POST,
            "/instances/{instanceId}/snapshots/{snapshotId}/restore",
            format!("/instances/{id}/snapshots/{snapshot}/restore"),
            false,
        );
        self.client.send(call).await?.data()
    }
}
