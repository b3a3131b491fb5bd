//! The plan of one AuraSnapshot: the controller's checks (its `validate`, the credential it
//! would use), then where Aura is with the snapshot the resource records
//! ([`snapshot::outcome`]: from its status, or read live with `--refresh`), or the snapshot it
//! would take.

use kube::ResourceExt;

use super::Planner;
use super::instance::{refused, suspended};
use super::report::{Action, Entry};
use crate::aura::{InstanceId, SnapshotId, SnapshotStatus};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::suspend;
use crate::controllers::snapshot::{self, Outcome};
use crate::controllers::{CredentialSource, Error};
use crate::crd::instance::ManagementPolicy;
use crate::crd::{AuraInstance, AuraSnapshot};

impl Planner {
    /// The plan of `obj` (the file's spec), given the cluster's copy.
    pub async fn snapshot(
        &mut self,
        entry: Entry,
        obj: &AuraSnapshot,
        cluster: Option<&AuraSnapshot>,
    ) -> Entry {
        if let Err(err) = obj.validate() {
            return refused(entry, &err);
        }
        if suspend::is_on(obj) {
            return suspended(entry);
        }
        match self.snapshot_state(obj, cluster).await {
            Ok(Some((id, state))) => recorded(entry.with_id(Some(id.clone())), &id, &state),
            Ok(None) => unrecorded(entry, obj),
            Err(err) => refused(entry, &err),
        }
    }

    /// The recorded snapshot and its Aura status (live with `--refresh`), after the credential
    /// the resource would use is granted; None when no snapshot is recorded.
    async fn snapshot_state(
        &mut self,
        obj: &AuraSnapshot,
        cluster: Option<&AuraSnapshot>,
    ) -> Result<Option<(String, SnapshotStatus)>, Error> {
        let spec = &obj.spec;
        let namespace = obj.namespace().unwrap_or_default();
        let own = CredentialSource::named(
            spec.credentials_secret_ref.as_ref(),
            spec.credential_ref.as_ref(),
        );
        let reference = spec.instance_ref.as_ref().map(|r| r.name.as_str());
        let source = self.credential_for(&namespace, own, reference).await?;
        let grant = self.aura.grant(&namespace, &source).await?;
        let status = cluster.and_then(|c| c.status.clone()).unwrap_or_default();
        let (Some(id), Some(state)) = (status.snapshot_id, status.status) else {
            return Ok(None);
        };
        let Some(instance) = status.instance_id.filter(|_| self.refresh) else {
            return Ok(Some((id, state)));
        };
        let instance = InstanceId::new(instance.as_str()).map_err(Error::Aura)?;
        let snapshot = SnapshotId::new(id.as_str()).map_err(Error::Aura)?;
        let live = grant.client.snapshots(&instance).get(&snapshot).await?;
        Ok(Some((id, live.status)))
    }

    /// The credential the resource names (`own`), else the one of the AuraInstance it
    /// references (as the controllers resolve it), else the operator's default.
    pub(super) async fn credential_for(
        &mut self,
        namespace: &str,
        own: Option<CredentialSource>,
        reference: Option<&str>,
    ) -> Result<CredentialSource, Error> {
        if let Some(own) = own {
            return Ok(own);
        }
        let Some(reference) = reference else {
            return Ok(CredentialSource::Default);
        };
        let found: Option<AuraInstance> = self.cluster.find(namespace, reference).await?;
        let named = found.and_then(|i| {
            CredentialSource::named(
                i.spec.credentials_secret_ref.as_ref(),
                i.spec.credential_ref.as_ref(),
            )
        });
        Ok(named.unwrap_or(CredentialSource::Default))
    }
}

/// The entry for a recorded snapshot in Aura status `state`.
fn recorded(entry: Entry, id: &str, state: &SnapshotStatus) -> Entry {
    match snapshot::outcome(state) {
        Outcome::Completed => Entry {
            action: Action::NoChange,
            ..entry
        },
        Outcome::Taking(state) => Entry {
            action: Action::Wait,
            changes: vec![format!("Aura is taking the snapshot ({state})")],
            ..entry
        },
        Outcome::Failed(state) => entry.with_note(
            crate::controllers::Reason::SnapshotFailed.as_str(),
            format!("Aura reports snapshot {id} {state}; it cannot be used"),
        ),
    }
}

/// The entry for a resource with no snapshot recorded: the one it observes, or the one it
/// would take.
fn unrecorded(entry: Entry, obj: &AuraSnapshot) -> Entry {
    if obj.spec.management_policy == ManagementPolicy::Observe {
        let id = obj.spec.snapshot_id.clone().unwrap_or_default();
        return Entry {
            changes: vec![format!("observes snapshot {id} (managementPolicy Observe)")],
            ..entry
        };
    }
    let of = match (&obj.spec.instance_id, &obj.spec.instance_ref) {
        (Some(id), _) => format!("Aura instance {id}"),
        (None, Some(reference)) => format!("the instance of AuraInstance {}", reference.name),
        (None, None) => String::new(),
    };
    Entry {
        action: Action::Create,
        changes: vec![format!("takes a snapshot of {of}")],
        ..entry
    }
}
