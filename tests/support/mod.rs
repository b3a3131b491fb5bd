//! Shared test support: an emulator on an ephemeral loopback port and a client for it.

#![allow(dead_code)]

pub mod operator;
pub mod writes;

use std::time::Duration;

use aura_operator::aura::{
    Client, ClientBuilder, Credentials, PollBackoff, RateLimit, RetryPolicy,
};
use aura_operator::emulator::{self, EmulatorConfig, EmulatorHandle, RunningEmulator, Timings};

pub const CLIENT_ID: &str = "emulator-client";
pub const CLIENT_SECRET: &str = "emulator-secret";

/// Quick transitions so that lifecycle tests take well under a second each. Aura's own limit
/// of 125 requests a minute is off: the tests compress minutes of polling into a second or two
/// (a 50 ms poll where the operator waits 5 s), so that limit would only measure the compression.
/// The tests of throttling set a limit of their own. New instances stay invisible for 500 ms
/// instead of Aura's two seconds, compressed like the rest but still longer than several
/// polls, so every create goes through a few 404s (the binary's smoke test keeps the default).
pub fn fast_config() -> EmulatorConfig {
    EmulatorConfig {
        timings: Timings::uniform(Duration::from_millis(60)),
        rate_limit_per_minute: None,
        invisible_after_create: Duration::from_millis(500),
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts on loopback")
}

/// A builder pointed at the emulator, with short retry delays and a budget far above what the
/// tests send (the budget has tests of its own).
pub fn builder(emu: &RunningEmulator) -> ClientBuilder {
    let credentials = Credentials::new(CLIENT_ID, CLIENT_SECRET.to_owned()).unwrap();
    ClientBuilder::new(credentials)
        .base_url(emu.base_url())
        .allow_insecure_http(true)
        .retry(RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
        })
        .rate_limit(RateLimit {
            per_minute: 100_000,
            burst: 1_000,
        })
}

pub fn client(emu: &RunningEmulator) -> Client {
    builder(emu).build().unwrap()
}

pub fn quick_polls() -> PollBackoff {
    PollBackoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        factor: 1.5,
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// Keeps the emulator's clock (real time plus an offset) at tokio's paused clock, a few
/// milliseconds behind at most, so that Aura's one-minute window passes with the client's.
pub async fn follow_tokio_clock(emu: EmulatorHandle) {
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

/// The one way the tests wait: polls `check` until it gives a value, and fails after `within`
/// naming `what` and what `check` saw last. No test sleeps for a fixed time where something it
/// can observe will do.
pub async fn wait_for<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check() {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
