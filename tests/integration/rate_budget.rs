//! Many concurrent callers of one credential share one request budget and never cause a 429.

use std::time::Duration;

use crate::support::*;
use aura_operator::aura::RateLimit;
use aura_operator::emulator::EmulatorConfig;

#[tokio::test]
async fn concurrent_callers_of_one_credential_stay_within_the_budget_and_see_no_429() {
    // Aura (the emulator) allows 10 requests a minute. Two separately built clients of the same
    // credential each think they may burst 9; together they must still send at most 10.
    let emu = start(EmulatorConfig {
        rate_limit_per_minute: Some(10),
        ..fast_config()
    })
    .await;
    let limit = RateLimit {
        per_minute: 10,
        burst: 9,
    };
    let a = builder(&emu).rate_limit(limit).build().unwrap();
    let b = builder(&emu).rate_limit(limit).build().unwrap();
    assert!(
        std::sync::Arc::ptr_eq(a.budget(), b.budget()),
        "one budget per credential"
    );

    let mut tasks = Vec::new();
    for i in 0..32 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(3), client.tenants().list()).await
        }));
    }
    let mut completed = 0;
    for task in tasks {
        if let Ok(result) = task.await.unwrap() {
            result.expect("no admitted request fails");
            completed += 1;
        }
    }
    let stats = emu.handle().stats();
    assert_eq!(stats.rate_limited, 0, "the client must never provoke a 429");
    assert!(
        stats.total_requests <= 10,
        "{} requests reached Aura",
        stats.total_requests
    );
    // The burst (9 slots) covers one shared token request and eight calls; the rest wait.
    assert_eq!(
        stats.count("POST", "/oauth/token", 200),
        1,
        "one token for the credential"
    );
    assert_eq!(completed, 8);
    assert_eq!(a.budget().admitted(), 9);
}
