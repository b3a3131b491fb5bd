//! One credential's capacity: more instances than Aura's 125 requests a minute can check every
//! resync interval, and users' changes while the budget is saturated.
//!
//! Run: `cargo bench --bench capacity` (options after `--`: `--instances N` (300),
//! `--rate-limit PER_MINUTE` (125), `--resync-seconds R` (60), `--changes K` (6),
//! `--intervals I` (3), `--transition-ms MS` (1000)).
//!
//! Set-up: the in-memory API server and the Aura emulator in this process, the operator binary in
//! a child process. The instances are created and converge first with a raised budget (so that
//! the run takes minutes, not the N ÷ 62 minutes two calls an instance take at 125/min); that
//! operator stops, the emulator's window empties, and a second operator starts with the budget
//! under test (`--rate-limit`, which the emulator enforces too). Its first look at every
//! instance (a restart's sweep) is left out; then the bench watches `--intervals` achievable
//! intervals (N ÷ budget, at least the resync) and, halfway, changes `--changes` instances
//! (half resized, half paused). It reports:
//!
//! - time from each change to Ready with the change carried out (p50, p99), with the interval
//!   the background checks achieve beside it, since a change must not wait behind them;
//! - the gap between two looks at the same unchanged instance (p10, p50, p90) against the ideal
//!   (N ÷ budget, or the resync when that is longer), and how evenly the looks spread: requests
//!   per 10 s, the largest bucket against the mean;
//! - 429s (must be 0: the operator never sends more than its budget);
//! - the budget's share: changes (every call on a changed instance from its change until it is
//!   Ready), background looks, tokens and tenant reads.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aura_operator::crd::AuraInstance;
use aura_operator::emulator::{self, Call, EmulatorConfig, Timings};
use kube::Api;
use kube::api::{Patch, PatchParams};
use memory_apiserver::ApiServer;
use serde_json::json;

#[path = "support/mod.rs"]
mod support;
use support::{
    Budget, NS, OperatorProcess, Report, create_credentials_secret, create_instances,
    wait_for_ready,
};

/// The budget the instances converge with before the measured operator starts.
const CONVERGE_RATE: u32 = 60_000;

#[derive(Debug, Clone)]
struct Options {
    instances: usize,
    rate_limit: u32,
    resync_seconds: u64,
    changes: usize,
    intervals: u64,
    transition_ms: u64,
    benchmarking: bool,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Self {
            instances: 300,
            rate_limit: 125,
            resync_seconds: 60,
            changes: 6,
            intervals: 3,
            transition_ms: 1_000,
            benchmarking: false,
        };
        let flags = support::Flags::read()?;
        options.benchmarking = flags.benchmarking;
        for (name, value) in flags.numbers {
            match name.as_str() {
                "--instances" => options.instances = value as usize,
                "--rate-limit" => options.rate_limit = value as u32,
                "--resync-seconds" => options.resync_seconds = value,
                "--changes" => options.changes = value as usize,
                "--intervals" => options.intervals = value,
                "--transition-ms" => options.transition_ms = value,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.instances < 2 || options.rate_limit < 10 || options.changes >= options.instances
        {
            return Err("need --instances > --changes, and --rate-limit at least 10".into());
        }
        Ok(options)
    }

    fn command(&self) -> String {
        format!(
            "cargo bench --bench capacity -- --instances {} --rate-limit {} --resync-seconds {} \
             --changes {} --intervals {} --transition-ms {}",
            self.instances,
            self.rate_limit,
            self.resync_seconds,
            self.changes,
            self.intervals,
            self.transition_ms
        )
    }

    /// The interval between looks the budget allows: one read a look, every instance in turn.
    fn ideal_interval(&self) -> Duration {
        let by_budget = self.instances as f64 * 60.0 / self.rate_limit as f64;
        Duration::from_secs_f64(by_budget.max(self.resync_seconds.max(10) as f64))
    }
}

#[tokio::main]
async fn main() {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("capacity bench: {message}");
            std::process::exit(2);
        }
    };
    if !options.benchmarking {
        println!("capacity bench: skipped (run it with `cargo bench --bench capacity`)");
        return;
    }
    println!("reproduce: {}", options.command());
    let ideal = options.ideal_interval();
    println!(
        "{} instances at {}/min: a look at each every {:.0} s at best (resync {} s)",
        options.instances,
        options.rate_limit,
        ideal.as_secs_f64(),
        options.resync_seconds
    );

    let api = ApiServer::new().with_status_subresource(support::GROUP, support::PLURAL);
    let served = api
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("memory-apiserver serves on loopback");
    let config = EmulatorConfig {
        timings: Timings::uniform(Duration::from_millis(options.transition_ms)),
        rate_limit_per_minute: Some(CONVERGE_RATE),
        // Instances answer Bolt, so the operator's connection checks log in as against Aura.
        bolt: true,
        ..EmulatorConfig::default()
    };
    let credential = config.credentials[0].clone();
    let emu = emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the emulator starts on loopback");
    let aura = emu.handle();
    create_credentials_secret(&api, &credential.client_id, &credential.client_secret).await;
    let scratch = std::env::temp_dir().join(format!("aura-capacity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let kubeconfig = scratch.join("kubeconfig");
    served
        .write_kubeconfig(&kubeconfig, NS)
        .expect("kubeconfig written");

    // Converge with a raised budget.
    let converging = Budget {
        rate_limit: CONVERGE_RATE,
        resync_seconds: 3_600,
    };
    let mut first = OperatorProcess::start(
        converging,
        &emu.base_url(),
        emu.bolt_ca_file(),
        &kubeconfig,
        &scratch.join("converge.log"),
    );
    create_instances(&api, options.instances).await;
    let (ready, took) = wait_for_ready(&api, options.instances, Duration::from_secs(900)).await;
    first.stop();
    assert_eq!(ready, options.instances, "not every instance became Ready");
    println!(
        "converged: {ready} Ready in {:.0} s; emptying Aura's window ...",
        took.as_secs_f64()
    );
    aura.set_rate_limit(Some(options.rate_limit));
    tokio::time::sleep(Duration::from_secs(61)).await;

    // The operator under test.
    let measured = Budget {
        rate_limit: options.rate_limit,
        resync_seconds: options.resync_seconds,
    };
    let log_path = scratch.join("operator.log");
    aura.start_journal();
    let mut operator = OperatorProcess::start(
        measured,
        &emu.base_url(),
        emu.bolt_ca_file(),
        &kubeconfig,
        &log_path,
    );
    let ids = instance_ids(&api);
    let sweep_started = Instant::now();
    wait_for_sweep(&aura, &ids).await;
    println!(
        "restart sweep: every instance looked at once in {:.0} s",
        sweep_started.elapsed().as_secs_f64()
    );
    let _ = aura.take_journal();

    let window = ideal * options.intervals as u32;
    let window_started = Instant::now();
    println!("watching {:.0} s ...", window.as_secs_f64());
    tokio::time::sleep(window / 2).await;
    let changes = change_some(&api, options.changes).await;
    let elapsed = window_started.elapsed();
    if elapsed < window {
        tokio::time::sleep(window - elapsed).await;
    }
    let journal = aura.take_journal();
    let exit = operator.stop();

    let report = analyse(&options, &ids, &changes, &journal, window_started, window);
    report.print();
    println!("operator exit: {exit}");
    println!("operator log: {}", log_path.display());
    drop(served);
    emu.shutdown().await;
}

/// Every instance's Aura id, by resource name.
fn instance_ids(api: &ApiServer) -> BTreeMap<String, String> {
    api.list_as::<AuraInstance>(Some(NS))
        .into_iter()
        .filter_map(|obj| {
            let id = obj.status.as_ref()?.instance_id.clone()?;
            Some((obj.metadata.name.clone()?, id))
        })
        .collect()
}

/// Waits until the restarted operator has read every instance once.
async fn wait_for_sweep(aura: &emulator::EmulatorHandle, ids: &BTreeMap<String, String>) {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    loop {
        kept.extend(aura.take_journal());
        for call in &kept {
            if let Some(id) = instance_of(call) {
                seen.insert(id.to_owned());
            }
        }
        kept.clear();
        if ids.values().all(|id| seen.contains(id)) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The instance id a call is about, for `/v1/instances/{id}` and what lies under it.
fn instance_of(call: &Call) -> Option<&str> {
    let rest = call.path.strip_prefix("/v1/instances/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// A change someone made, and when it was carried out.
struct Change {
    name: String,
    what: &'static str,
    at: Instant,
    done: Option<Duration>,
}

/// Resizes half of the first `count` instances and pauses the others, then waits until each is
/// Ready with its change carried out.
async fn change_some(api: &ApiServer, count: usize) -> Vec<Change> {
    let instances: Api<AuraInstance> = Api::namespaced(api.client(), NS);
    let mut changes = Vec::new();
    for i in 0..count {
        let name = format!("bench-{i:05}");
        let (what, spec) = if i % 2 == 0 {
            ("resize", json!({"spec": {"memory": "4GB"}}))
        } else {
            ("pause", json!({"spec": {"paused": true}}))
        };
        instances
            .patch(&name, &PatchParams::default(), &Patch::Merge(&spec))
            .await
            .expect("change applied");
        changes.push(Change {
            name,
            what,
            at: Instant::now(),
            done: None,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while changes.iter().any(|c| c.done.is_none()) && Instant::now() < deadline {
        for change in changes.iter_mut().filter(|c| c.done.is_none()) {
            let obj = instances.get(&change.name).await.expect("instance");
            if carried_out(&obj, change.what) {
                change.done = Some(change.at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    changes
}

fn carried_out(obj: &AuraInstance, what: &str) -> bool {
    let Some(status) = &obj.status else {
        return false;
    };
    let judged = status.observed_generation == obj.metadata.generation;
    let applied = match what {
        "resize" => status.memory.as_deref() == Some("4GB"),
        _ => status.status.as_ref().map(|s| s.as_str()) == Some("paused"),
    };
    judged && applied && support::is_ready(obj)
}

fn analyse(
    options: &Options,
    ids: &BTreeMap<String, String>,
    changes: &[Change],
    journal: &[Call],
    started: Instant,
    window: Duration,
) -> Report {
    let mut report = Report::default();
    report.section("users' changes while the budget is saturated");
    let mut times: Vec<f64> = changes
        .iter()
        .filter_map(|c| c.done.map(|d| d.as_secs_f64()))
        .collect();
    times.sort_by(f64::total_cmp);
    report.figure("changes (resize, pause)", changes.len());
    report.figure("carried out and Ready", times.len());
    report.figure(
        "change to Ready p50 (s)",
        format!("{:.1}", quantile(&times, 0.5)),
    );
    report.figure(
        "change to Ready p99 (s)",
        format!("{:.1}", quantile(&times, 0.99)),
    );

    // Gaps between looks at the instances nobody changed.
    let changed: std::collections::HashSet<&str> = changes
        .iter()
        .filter_map(|c| ids.get(&c.name).map(String::as_str))
        .collect();
    let mut looks: HashMap<&str, Vec<Instant>> = HashMap::new();
    for call in journal {
        if call.method == "GET"
            && call.status == 200
            && let Some(id) = instance_of(call)
            && !changed.contains(id)
            && call.path.matches('/').count() == 3
        {
            looks.entry(id).or_default().push(call.at);
        }
    }
    let mut gaps: Vec<f64> = looks
        .values()
        .flat_map(|times| times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()))
        .collect();
    gaps.sort_by(f64::total_cmp);
    let ideal = options.ideal_interval().as_secs_f64();
    report.section(&format!(
        "background looks at unchanged instances ({:.0} s watched)",
        window.as_secs_f64()
    ));
    report.figure(
        "ideal interval: max(N / budget, resync) (s)",
        format!("{ideal:.0}"),
    );
    report.figure("gaps measured", gaps.len());
    for (name, q) in [("p10", 0.1), ("p50", 0.5), ("p90", 0.9)] {
        let gap = quantile(&gaps, q);
        report.figure(
            &format!("gap {name} (s; / ideal)"),
            format!("{gap:.0} ({:.2})", gap / ideal),
        );
    }
    let looked_at = looks.len();
    report.figure(
        "unchanged instances looked at",
        format!("{looked_at} of {}", ids.len() - changed.len()),
    );

    // Evenness: requests per 10 s.
    let buckets = (window.as_secs() / 10).max(1) as usize;
    let mut per_bucket = vec![0u32; buckets];
    for call in journal {
        let slot = (call.at.saturating_duration_since(started).as_secs() / 10) as usize;
        if let Some(count) = per_bucket.get_mut(slot) {
            *count += 1;
        }
    }
    let mean = per_bucket.iter().sum::<u32>() as f64 / buckets as f64;
    let max = per_bucket.iter().copied().max().unwrap_or(0);
    report.figure("Aura requests per 10 s: mean", format!("{mean:.1}"));
    report.figure(
        "  largest 10 s (/ mean; budget allows)",
        format!(
            "{max} ({:.2}; {:.1})",
            max as f64 / mean.max(1e-9),
            options.rate_limit as f64 / 6.0
        ),
    );

    report.section("the budget");
    let total = journal.len();
    let limited = journal.iter().filter(|c| c.status == 429).count();
    report.figure("Aura requests in the window", total);
    report.figure(
        "achieved rate (/min; budget)",
        format!(
            "{:.1} ({})",
            total as f64 * 60.0 / window.as_secs_f64(),
            options.rate_limit
        ),
    );
    report.figure("429s received (must be 0)", limited);
    let mut shares: BTreeMap<&str, usize> = BTreeMap::new();
    for call in journal {
        let for_change = instance_of(call).is_some_and(|id| {
            changes.iter().any(|c| {
                ids.get(&c.name).is_some_and(|cid| cid == id)
                    && call.at >= c.at
                    && c.done.is_none_or(|d| call.at <= c.at + d)
            })
        });
        let share = if call.path.contains("oauth") || call.path.ends_with("/token") {
            "tokens"
        } else if call.path.starts_with("/v1/tenants") {
            "tenant reads"
        } else if for_change {
            "users' changes"
        } else if instance_of(call).is_some() {
            "background looks"
        } else {
            "other"
        };
        *shares.entry(share).or_default() += 1;
    }
    for (share, count) in shares {
        report.figure(
            &format!("  {share}"),
            format!(
                "{count} ({:.1} %)",
                count as f64 * 100.0 / total.max(1) as f64
            ),
        );
    }
    report
}

/// The `q` quantile of sorted values (nearest rank); 0 for none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
