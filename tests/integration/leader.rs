//! Leader election through a Lease: one leader at a time, takeover only after expiry.

use std::time::Duration;

use aura_operator::leader::{Attempt, Elector, LeaseConfig};
use k8s_openapi::api::coordination::v1::Lease;
use memory_apiserver::ApiServer;

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        duration: Duration::from_secs(1),
        renew: Duration::from_millis(200),
        ..LeaseConfig::new("operators", identity)
    }
}

fn holder(api: &ApiServer) -> Option<String> {
    api.get_as::<Lease>(Some("operators"), "aura-operator")?
        .spec?
        .holder_identity
}

#[tokio::test]
async fn one_replica_leads_and_the_other_follows_until_the_lease_expires() {
    let api = ApiServer::new();
    let a = Elector::new(api.client(), config("pod-a"));
    let b = Elector::new(api.client(), config("pod-b"));
    assert_eq!(a.try_acquire().await.unwrap(), Attempt::Leading);
    assert_eq!(b.try_acquire().await.unwrap(), Attempt::Following);
    assert_eq!(
        a.try_acquire().await.unwrap(),
        Attempt::Leading,
        "the holder renews"
    );
    assert_eq!(holder(&api).as_deref(), Some("pod-a"));

    // pod-a stops renewing; its Lease runs out.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(b.try_acquire().await.unwrap(), Attempt::Leading);
    assert_eq!(
        a.try_acquire().await.unwrap(),
        Attempt::Following,
        "the old leader does not come back"
    );
    let lease = api
        .get_as::<Lease>(Some("operators"), "aura-operator")
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some("pod-b"));
    assert_eq!(lease.lease_transitions, Some(1));
}

#[tokio::test]
async fn replicas_racing_for_an_expired_lease_cannot_both_win() {
    let api = ApiServer::new();
    let old = Elector::new(api.client(), config("pod-old"));
    assert_eq!(old.try_acquire().await.unwrap(), Attempt::Leading);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for round in 0..5 {
        let b = Elector::new(api.client(), config("pod-b"));
        let c = Elector::new(api.client(), config("pod-c"));
        let (rb, rc) = tokio::join!(b.try_acquire(), c.try_acquire());
        let leaders = [rb.unwrap(), rc.unwrap()]
            .iter()
            .filter(|r| **r == Attempt::Leading)
            .count();
        assert!(leaders <= 1, "round {round}: two leaders");
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let api = ApiServer::new();
    let elector = Elector::new(api.client(), config("pod-a"));
    let leading = elector.lead().await;
    assert!(*leading.borrow());
    // The API server refuses every Lease write from now on.
    api.fail_next("*", "coordination.k8s.io", "leases", 1_000, 500);
    let stepped_down =
        tokio::time::timeout(Duration::from_secs(2), aura_operator::leader::lost(leading)).await;
    assert!(
        stepped_down.is_ok(),
        "still leading after the Lease could have expired"
    );
}
