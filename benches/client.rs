//! Aura client against the emulator on loopback: throughput, per-request overhead, and the rate
//! budget's accuracy.
//!
//! Run: `cargo bench --bench client` (add `-- --quick` to skip the two-minute rate phase).
//!
//! Figures are medians over rounds run back to back in one process, and the overhead is a ratio
//! against a bare reqwest GET to the same endpoint with the same token, measured in the same
//! run, so that a noisy machine moves both sides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_operator::aura::{
    Client, ClientBuilder, CloudProvider, CreateInstance, Credentials, InstanceId, InstanceStatus,
    InstanceType, PollBackoff, RateLimit, TenantId,
};
use aura_operator::emulator::{self, DEFAULT_TENANT_ID, EmulatorConfig, Timings};

const ROUNDS: usize = 5;
const SINGLE_REQUESTS: usize = 1_000;
const CONCURRENT_CALLERS: usize = 32;
const CONCURRENT_REQUESTS: usize = 4_000;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let emu = emulator::start(
        EmulatorConfig {
            rate_limit_per_minute: None,
            timings: Timings::uniform(Duration::ZERO),
            invisible_after_create: Duration::ZERO,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let credentials = Credentials::new("emulator-client", "emulator-secret".to_owned()).unwrap();
    let client = ClientBuilder::new(credentials)
        .base_url(emu.base_url())
        .allow_insecure_http(true)
        // Throughput phases measure the client, not the budget.
        .rate_limit(RateLimit {
            per_minute: 100_000_000,
            burst: 1_000_000,
        })
        .build()
        .unwrap();
    let tenant = TenantId::new(DEFAULT_TENANT_ID).unwrap();
    let request = CreateInstance::new(
        "bench",
        tenant,
        CloudProvider::Gcp,
        "europe-west1",
        InstanceType::ProfessionalDb,
        "2GB",
    );
    let id = client.instances().create(&request).await.unwrap().id;
    let polls = PollBackoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(10),
        factor: 1.0,
    };
    client
        .wait_for_instance(
            &id,
            &[InstanceStatus::Running],
            Duration::from_secs(10),
            polls,
        )
        .await
        .unwrap();

    let raw = RawGet::new(&emu.token_url(), &emu.base_url(), &id).await;

    println!("Aura client vs emulator on loopback; medians of {ROUNDS} rounds\n");
    println!(
        "{:<34} {:>12} {:>14} {:>12}",
        "scenario", "requests/s", "median µs/req", "vs raw GET"
    );
    let (raw_get, client_get) = (raw.call(), client_get(&client, &id));
    let single_raw = round_median(|| single(SINGLE_REQUESTS, raw_get.clone())).await;
    let single_client_figures = round_median(|| single(SINGLE_REQUESTS, client_get.clone())).await;
    let conc_raw = round_median(|| concurrent(CONCURRENT_REQUESTS, raw_get.clone())).await;
    let conc = round_median(|| concurrent(CONCURRENT_REQUESTS, client_get.clone())).await;
    let single = single_client_figures;
    row(
        "GET instance, raw reqwest, 1 caller",
        single_raw,
        single_raw,
    );
    row("GET instance, client, 1 caller", single, single_raw);
    row("GET instance, raw reqwest, 32 callers", conc_raw, conc_raw);
    row("GET instance, client, 32 callers", conc, conc_raw);
    println!(
        "\nper-request client overhead, 1 caller: {:.1} µs (median latency {:.1} µs vs {:.1} µs raw)",
        single.latency_us - single_raw.latency_us,
        single.latency_us,
        single_raw.latency_us
    );

    if quick {
        println!("\nrate phase skipped (--quick)");
        return;
    }
    rate_accuracy().await;
}

#[derive(Clone, Copy)]
struct Figures {
    per_second: f64,
    latency_us: f64,
}

fn row(name: &str, f: Figures, baseline: Figures) {
    println!(
        "{:<34} {:>12.0} {:>14.1} {:>11.2}x",
        name,
        f.per_second,
        f.latency_us,
        f.per_second / baseline.per_second
    );
}

async fn round_median<F, Fut>(mut run: F) -> Figures
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Figures>,
{
    run().await; // warm-up
    let mut rates = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..ROUNDS {
        let f = run().await;
        rates.push(f.per_second);
        latencies.push(f.latency_us);
    }
    Figures {
        per_second: median(&mut rates),
        latency_us: median(&mut latencies),
    }
}

/// `n` calls one after the other.
async fn single<F, Fut>(n: usize, call: F) -> Figures
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        call().await;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Figures {
        per_second: n as f64 / start.elapsed().as_secs_f64(),
        latency_us: median(&mut latencies),
    }
}

/// `n` calls spread over [`CONCURRENT_CALLERS`] tasks.
async fn concurrent<F, Fut>(n: usize, call: F) -> Figures
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let per_caller = n / CONCURRENT_CALLERS;
    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_caller);
                for _ in 0..per_caller {
                    let t = Instant::now();
                    call().await;
                    latencies.push(t.elapsed().as_secs_f64() * 1e6);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Figures {
        per_second: all.len() as f64 / start.elapsed().as_secs_f64(),
        latency_us: median(&mut all),
    }
}

/// A GET of the instance through the client under test.
fn client_get(
    client: &Client,
    id: &InstanceId,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + Send + 'static {
    let (client, id) = (client.clone(), id.clone());
    move || {
        let (client, id) = (client.clone(), id.clone());
        Box::pin(async move {
            client.instances().get(&id).await.unwrap();
        })
    }
}

/// The baseline: reqwest with a fixed bearer token, decoding the same JSON into a Value.
struct RawGet {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl RawGet {
    async fn new(token_url: &str, base: &str, id: &InstanceId) -> Arc<Self> {
        let http = reqwest::Client::new();
        let answer: serde_json::Value = http
            .post(token_url)
            .basic_auth("emulator-client", Some("emulator-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        Arc::new(Self {
            http,
            url: format!("{base}/instances/{id}"),
            token,
        })
    }

    /// A GET of the instance with no client machinery around it.
    fn call(
        self: &Arc<Self>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + Send + 'static
    {
        let me = Arc::clone(self);
        move || {
            let me = Arc::clone(&me);
            Box::pin(async move {
                let body: serde_json::Value = me
                    .http
                    .get(&me.url)
                    .bearer_auth(&me.token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(body["data"]["id"].is_string());
            })
        }
    }
}

/// 32 callers hammer a client with the default budget (125/min, burst 5) for two minutes against
/// an emulator enforcing 125/min. Reports admissions in the busiest 60 s window, the sustained
/// rate over the second minute, and the 429s Aura answered.
async fn rate_accuracy() {
    let budget = 125;
    let emu = emulator::start(
        EmulatorConfig {
            rate_limit_per_minute: Some(budget),
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let credentials = Credentials::new("emulator-client", "emulator-secret".to_owned()).unwrap();
    let client = ClientBuilder::new(credentials)
        .base_url(emu.base_url())
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let phase = Duration::from_secs(120);
    let start = Instant::now();
    let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT_CALLERS {
        let (client, stamps) = (client.clone(), Arc::clone(&stamps));
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < phase {
                let left = phase.saturating_sub(start.elapsed());
                if let Ok(result) = tokio::time::timeout(left, client.tenants().list()).await {
                    result.unwrap();
                    stamps.lock().unwrap().push(start.elapsed());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    let busiest = (0..stamps.len())
        .map(|i| {
            stamps[i..]
                .iter()
                .take_while(|t| **t < stamps[i] + Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap_or(0);
    let second_minute = stamps
        .iter()
        .filter(|t| **t >= Duration::from_secs(60))
        .count();
    let stats = emu.handle().stats();
    println!(
        "\nrate budget {budget}/min (burst 5), 32 callers, 120 s against an emulator enforcing {budget}/min:"
    );
    println!(
        "  API calls completed: {}; admitted by the budget (incl. token): {}",
        stamps.len(),
        client.budget().admitted()
    );
    println!(
        "  busiest 60 s window: {busiest} calls ({:.1}% of budget)",
        100.0 * busiest as f64 / budget as f64
    );
    println!(
        "  sustained, second minute: {second_minute} calls/min ({:.1}% of budget)",
        100.0 * second_minute as f64 / budget as f64
    );
    println!("  429 answers from Aura: {}", stats.rate_limited);
}
