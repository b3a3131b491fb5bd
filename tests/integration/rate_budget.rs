//! Many concurrent callers of one credential share one request budget: they never cause a 429
//! themselves, and when Aura refuses anyway (another tool spends the same credential) they back
//! off together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};

use crate::support::*;
use aura_operator::aura::{CallObserver, RateLimit, RetryPolicy};
use aura_operator::emulator::{EmulatorConfig, EmulatorHandle};

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

#[tokio::test(start_paused = true)]
async fn callers_back_off_together_when_aura_allows_less_than_the_budget() {
    // Aura (the emulator) allows 20 requests a minute; the client believes 6,000. Five callers
    // each list tenants twelve times in a row: 60 calls and one token, about three of Aura's
    // minutes. Tokio's clock is paused and the emulator's follows it, so those minutes take
    // milliseconds.
    let emu = start(EmulatorConfig {
        rate_limit_per_minute: Some(20),
        ..fast_config()
    })
    .await;
    let follow = tokio::spawn(follow_tokio_clock(emu.handle()));
    let seen = Arc::new(Refusals::default());
    let client = builder(&emu)
        .observer(seen.clone())
        .rate_limit(RateLimit {
            per_minute: 6_000,
            burst: 10,
        })
        .retry(RetryPolicy {
            max_retry_after: Duration::from_secs(120),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();

    let (callers, calls) = (5, 12);
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..calls {
                    client.tenants().list().await.expect("every call completes");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    follow.abort();

    let stats = emu.handle().stats();
    let (total, refused) = (stats.total_requests, stats.rate_limited);
    eprintln!(
        "{total} requests, {refused} answered 429 ({:.1}%), {elapsed:?} on the paused clock, \
         effective budget {}/min",
        100.0 * refused as f64 / total as f64,
        client.budget().effective_per_minute()
    );
    assert_eq!(
        stats.count("GET", "/v1/tenants", 200),
        callers * calls,
        "every call got its answer"
    );
    assert_eq!(
        seen.0.load(Ordering::Relaxed),
        refused,
        "the client saw every 429"
    );
    assert!(
        refused * 10 < total,
        "{refused} of {total} requests answered 429: the callers did not back off together"
    );
    // Three windows of 20 are the least Aura allows for 61 requests.
    assert!(elapsed >= Duration::from_secs(120), "{elapsed:?}");
    assert!(client.budget().effective_per_minute() < 6_000);
}

#[tokio::test(start_paused = true)]
async fn after_an_understated_retry_after_the_budget_recovers_without_429s() {
    // Aura (the emulator) allows 20 a minute and answers every 429 with `Retry-After: 2` however
    // long its window stays full (issue 20). Once the callers have learnt not to trust the header,
    // the other tool stops and Aura allows the whole budget again: over the next minutes the
    // budget must climb back to it, and trust the header again, without another 429.
    let emu = start(EmulatorConfig {
        rate_limit_per_minute: Some(20),
        ..fast_config()
    })
    .await;
    emu.handle().set_fixed_retry_after(Some(2));
    let follow = tokio::spawn(follow_tokio_clock(emu.handle()));
    let seen = Arc::new(Refusals::default());
    let client = builder(&emu)
        .observer(seen.clone())
        .rate_limit(RateLimit::default())
        .retry(RetryPolicy {
            max_retries: 10,
            max_retry_after: Duration::from_secs(120),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let calls = |n: usize| {
        let client = client.clone();
        async move {
            let tasks: Vec<_> = (0..5)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        for _ in 0..n {
                            client.tenants().list().await.expect("every call completes");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
    };

    calls(8).await;
    let before = emu.handle().stats();
    assert!(before.rate_limited > 0, "Aura never refused");
    assert!(
        client.budget().learned_pause() > Duration::ZERO,
        "the header was not found to understate"
    );
    assert!(client.budget().effective_per_minute() < 125);

    emu.handle().set_rate_limit(Some(125));
    let started = tokio::time::Instant::now();
    while client.budget().effective_per_minute() < 125 {
        calls(4).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "still at {}/min after {:?}",
            client.budget().effective_per_minute(),
            started.elapsed()
        );
    }
    let recovered_in = started.elapsed();
    calls(20).await;
    follow.abort();

    let after = emu.handle().stats();
    eprintln!(
        "{} requests and {} 429s while Aura allowed 20/min; {} requests and {} 429s after, \
         configured rate back in {recovered_in:?}",
        before.total_requests,
        before.rate_limited,
        after.total_requests - before.total_requests,
        after.rate_limited - before.rate_limited,
    );
    assert_eq!(
        after.rate_limited, before.rate_limited,
        "no 429 while climbing back"
    );
    assert_eq!(seen.0.load(Ordering::Relaxed), after.rate_limited);
    assert_eq!(
        client.budget().learned_pause(),
        Duration::ZERO,
        "trusted again"
    );
    assert!(recovered_in <= Duration::from_secs(420), "{recovered_in:?}");
}

/// Keeps the emulator's clock (real time plus an offset) at tokio's paused clock, a few
/// milliseconds behind at most, so that Aura's one-minute window passes with the client's.
async fn follow_tokio_clock(emu: EmulatorHandle) {
    let real = std::time::Instant::now();
    let tokio_start = tokio::time::Instant::now();
    let mut offset = Duration::ZERO;
    loop {
        let lead = tokio_start.elapsed().saturating_sub(real.elapsed());
        if lead > offset {
            emu.advance_clock(lead - offset);
            offset = lead;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Counts the 429s the client saw.
#[derive(Default)]
struct Refusals(AtomicU64);

impl CallObserver for Refusals {
    fn on_attempt(&self, _: &Method, _: &'static str, status: Option<StatusCode>, _: Duration) {
        if status == Some(StatusCode::TOO_MANY_REQUESTS) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
