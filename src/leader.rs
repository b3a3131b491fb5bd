//! Leader election through a Kubernetes Lease, so that two replicas never act at once.
//!
//! Each replica tries to hold the Lease `<name>` in its namespace. The holder renews it every
//! `renew` interval; another replica takes it over only after `duration` passes without a
//! renewal. Every write is a replace guarded by the Lease's resourceVersion, so two replicas that
//! race for an expired Lease cannot both win: the second gets a 409 and stays a follower.
//!
//! A leader that fails to renew before its Lease would expire stops leading at once (its
//! `lost` future resolves), so it never acts while someone else may hold the Lease.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;

/// Lease timing.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name: `aura-operator`, or `aura-operator-<class>` for an installation class (see
    /// [`installation`](crate::controllers::tenancy::installation)), so that installations
    /// sharing a namespace do not share a leader.
    pub name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (well below `duration`).
    pub renew: Duration,
}

impl LeaseConfig {
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            name: "aura-operator".to_owned(),
            namespace: namespace.into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }
    }
}

/// What happened to one attempt at the Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// This replica holds the Lease now.
    Leading,
    /// Someone else holds a valid Lease.
    Following,
}

/// Contends for the Lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl Elector {
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// One try: create the Lease, renew our own, or take over an expired one.
    pub async fn try_acquire(&self) -> kube::Result<Attempt> {
        let now = jiff::Timestamp::now();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            let fresh = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &fresh).await {
                Ok(_) => Ok(Attempt::Leading),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Following),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.config.identity.as_str());
        let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
            (Some(renewed), Some(seconds)) => {
                renewed.0 + jiff::SignedDuration::from_secs(i64::from(seconds)) < now
            }
            _ => true,
        };
        if !ours && !expired {
            return Ok(Attempt::Following);
        }
        let acquired = if ours {
            spec.acquire_time.map_or(now, |t| t.0)
        } else {
            now
        };
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let mut updated = lease.clone();
        updated.spec = Some(self.spec(acquired, now, transitions));
        // The resourceVersion we read guards the replace: a racing replica gets a 409.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Attempt::Leading),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Following),
            Err(e) => Err(e),
        }
    }

    fn spec(
        &self,
        acquired: jiff::Timestamp,
        renewed: jiff::Timestamp,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                self.config
                    .duration
                    .as_secs()
                    .try_into()
                    .unwrap_or(i32::MAX),
            ),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Waits until this replica leads, then keeps renewing in the background. The returned
    /// receiver turns `false` (and stays so) when leadership is lost.
    pub async fn lead(self) -> watch::Receiver<bool> {
        loop {
            match self.try_acquire().await {
                Ok(Attempt::Leading) => break,
                Ok(Attempt::Following) => {}
                Err(err) => tracing::warn!(error = %err, "leader election: cannot reach the Lease"),
            }
            tokio::time::sleep(self.config.renew).await;
        }
        tracing::info!(identity = %self.config.identity, lease = %self.config.name, "leading");
        let (tx, rx) = watch::channel(true);
        tokio::spawn(async move {
            let mut last_renewal = Instant::now();
            loop {
                tokio::time::sleep(self.config.renew).await;
                match self.try_acquire().await {
                    Ok(Attempt::Leading) => last_renewal = Instant::now(),
                    Ok(Attempt::Following) => break,
                    Err(err) => tracing::warn!(error = %err, "leader election: renewal failed"),
                }
                // Stop before the Lease can have expired in someone else's eyes.
                if last_renewal.elapsed() + self.config.renew >= self.config.duration {
                    break;
                }
            }
            tracing::warn!(identity = %self.config.identity, "lost leadership");
            let _ = tx.send(false);
        });
        rx
    }
}

/// Resolves when `leading` turns false.
pub async fn lost(mut leading: watch::Receiver<bool>) {
    while *leading.borrow_and_update() {
        if leading.changed().await.is_err() {
            return;
        }
    }
}
