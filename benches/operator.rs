//! The operator binary at scale: many AuraInstances converging through one Aura credential, then
//! a quiet steady state.
//!
//! Run: `cargo bench --bench operator` (options after `--`: `--instances N` (1000),
//! `--rate-limit PER_MINUTE` (6000), `--steady-seconds S` (300), `--resync-seconds R` (60),
//! `--transition-ms MS` (200)).
//!
//! Set-up: the in-memory Kubernetes API server served over loopback HTTP and an Aura emulator
//! (transitions of `--transition-ms`, a sliding-window limit of `--rate-limit` requests per
//! minute) run in this process; the operator is the release binary in a child process of its
//! own (so its peak RSS is its own), started with `run --aura-url ... --rate-limit <same budget>
//! --default-credentials-secret default/aura-creds`. The bench creates that Secret, then the
//! AuraInstances, and measures:
//!
//! - time until every instance is Ready, against a bound of (minimal Aura calls ÷ budget). The
//!   minimal calls are what an ideal client needs: per instance one `POST /v1/instances` and one
//!   `GET /v1/instances/{id}` that sees it running; per credential one token and one tenant read
//!   (so `2N + 2` in all). Aura's own 125/min is the figure that matters in production, but 1,000
//!   instances need at least 16 minutes at that rate, so the default run uses 6,000/min;
//!   `--rate-limit 125` runs the real budget;
//! - Aura calls per converged instance by route, Kubernetes writes per converged instance by kind
//!   (the bench's own creates left out), and 429s received (must be 0);
//! - in the steady phase: reconciles (each settled pass makes exactly one
//!   `GET /v1/instances/{id}`, so those are counted), every other Aura call, and Kubernetes writes
//!   (should be about 0);
//! - the operator's peak RSS (`VmHWM`), read just before it is stopped with SIGTERM, in all and
//!   per resource (an AuraInstance with its connection Secret; the Events are written, not
//!   kept), and its RSS once its watches were open and before the first instance (the fixed part).
//!
//! At 10,000 instances (a few minutes; the budget is raised so that Aura's limit is not what
//! takes the time): `cargo bench --bench operator -- --instances 10000 --rate-limit 60000
//! --steady-seconds 60`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aura_operator::emulator::{self, EmulatorConfig, Stats, Timings};
use memory_apiserver::{ApiServer, Counters};

#[path = "support/mod.rs"]
mod support;
use support::{
    Budget, GROUP, NS, OperatorProcess, PLURAL, Report, create_credentials_secret,
    create_instances, wait_for_ready,
};

/// Calls an ideal client makes per instance (create + one poll) and per credential (token +
/// tenant).
const MINIMAL_CALLS_PER_INSTANCE: u64 = 2;
const MINIMAL_CALLS_PER_CREDENTIAL: u64 = 2;

#[derive(Debug, Clone)]
struct Options {
    instances: usize,
    rate_limit: u32,
    steady_seconds: u64,
    resync_seconds: u64,
    transition_ms: u64,
    /// Whether cargo ran this as a benchmark (`--bench`) rather than as a test target.
    benchmarking: bool,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Self {
            instances: 1_000,
            rate_limit: 6_000,
            steady_seconds: 300,
            resync_seconds: 60,
            transition_ms: 200,
            benchmarking: false,
        };
        let flags = support::Flags::read()?;
        options.benchmarking = flags.benchmarking;
        for (name, value) in flags.numbers {
            match name.as_str() {
                "--instances" => options.instances = value as usize,
                "--rate-limit" => options.rate_limit = value as u32,
                "--steady-seconds" => options.steady_seconds = value,
                "--resync-seconds" => options.resync_seconds = value,
                "--transition-ms" => options.transition_ms = value,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.instances == 0 || options.rate_limit < 10 {
            return Err("--instances must be > 0 and --rate-limit at least 10".into());
        }
        Ok(options)
    }

    fn command(&self) -> String {
        format!(
            "cargo bench --bench operator -- --instances {} --rate-limit {} --steady-seconds {} \
             --resync-seconds {} --transition-ms {}",
            self.instances,
            self.rate_limit,
            self.steady_seconds,
            self.resync_seconds,
            self.transition_ms
        )
    }

    /// The operator clamps resync to at least 10 s.
    fn effective_resync(&self) -> u64 {
        self.resync_seconds.max(10)
    }
}

#[tokio::main]
async fn main() {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("operator bench: {message}");
            std::process::exit(2);
        }
    };
    if !options.benchmarking {
        // `cargo test --all-targets` runs bench targets without --bench: minutes of load are
        // not a test.
        println!("operator bench: skipped (run it with `cargo bench --bench operator`)");
        return;
    }
    let n = options.instances as u64;
    let minimal_calls = MINIMAL_CALLS_PER_INSTANCE * n + MINIMAL_CALLS_PER_CREDENTIAL;
    let bound = Duration::from_secs_f64(minimal_calls as f64 * 60.0 / options.rate_limit as f64);
    println!("reproduce: {}", options.command());
    if options.rate_limit > 125 {
        println!(
            "note: Aura allows 125 requests/min; this run uses {}/min so it ends sooner \
             (at 125/min the bound alone would be {:.1} min; add --rate-limit 125 for that run)",
            options.rate_limit,
            minimal_calls as f64 / 125.0
        );
    }

    // Kubernetes and Aura, both in this process.
    let api = ApiServer::new().with_status_subresource(GROUP, PLURAL);
    let served = api
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("memory-apiserver serves on loopback");
    let emulator_config = EmulatorConfig {
        timings: Timings::uniform(Duration::from_millis(options.transition_ms)),
        rate_limit_per_minute: Some(options.rate_limit),
        // Instances answer Bolt, so the operator's connection checks log in as against Aura.
        bolt: true,
        ..EmulatorConfig::default()
    };
    let credential = emulator_config.credentials[0].clone();
    let emu = emulator::start(emulator_config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the emulator starts on loopback");
    let emu_handle = emu.handle();
    create_credentials_secret(&api, &credential.client_id, &credential.client_secret).await;

    let scratch = std::env::temp_dir().join(format!("aura-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let kubeconfig = scratch.join("kubeconfig");
    served
        .write_kubeconfig(&kubeconfig, NS)
        .expect("kubeconfig written");
    let log_path = scratch.join("operator.log");
    let budget = Budget {
        rate_limit: options.rate_limit,
        resync_seconds: options.resync_seconds,
    };
    let mut operator = OperatorProcess::start(
        budget,
        &emu.base_url(),
        emu.bolt_ca_file(),
        &kubeconfig,
        &log_path,
    );

    // The operator has started once its watches are open.
    let watching = api
        .wait_until(Duration::from_secs(60), |api| {
            api.counters().watches_opened >= 2
        })
        .await;
    if !watching {
        operator.stop();
        panic!(
            "the operator never opened its watches; log at {}",
            log_path.display()
        );
    }

    // What the operator holds with no resource yet: the fixed part of its memory.
    let idle = operator.memory();
    let kube_before = api.counters();
    let aura_before = emu_handle.stats();
    let started = Instant::now();
    create_instances(&api, options.instances).await;
    let created_in = started.elapsed();

    let deadline = bound * 10 + Duration::from_secs(180);
    let (ready, converged_in) = wait_for_ready(&api, options.instances, deadline).await;
    let kube_converged = api.counters();
    let aura_converged = emu_handle.stats();
    let secrets = api.list("", "secrets", Some(NS)).len().saturating_sub(1);

    if ready < options.instances {
        println!(
            "WARNING: only {ready} of {} Ready after {:.0} s; figures below are per Ready instance",
            options.instances,
            converged_in.as_secs_f64()
        );
    }
    println!(
        "steady phase: {} s with resync every {} s ...",
        options.steady_seconds,
        options.effective_resync()
    );
    tokio::time::sleep(Duration::from_secs(options.steady_seconds)).await;
    let kube_steady = api.counters();
    let aura_steady = emu_handle.stats();
    let memory = operator.memory();
    let exit = operator.stop();

    let per = ready.max(1) as f64;
    let mut report = Report::default();
    report.section("convergence");
    report.figure("instances created", options.instances);
    report.figure("instances Ready", ready);
    report.figure("connection Secrets written", secrets);
    report.figure("Aura budget (requests/min)", options.rate_limit);
    report.figure(
        "creating them took (s)",
        format!("{:.1}", created_in.as_secs_f64()),
    );
    report.figure(
        "time to all Ready (s)",
        format!("{:.1}", converged_in.as_secs_f64()),
    );
    report.figure(
        &format!("minimal Aura calls ({MINIMAL_CALLS_PER_INSTANCE}/instance + {MINIMAL_CALLS_PER_CREDENTIAL})"),
        minimal_calls,
    );
    report.figure(
        "bound = minimal calls / budget (s)",
        format!("{:.1}", bound.as_secs_f64()),
    );
    report.figure(
        "time to all Ready / bound",
        format!("{:.2}", converged_in.as_secs_f64() / bound.as_secs_f64()),
    );

    let aura = route_counts(&aura_before, &aura_converged);
    let aura_total = report.per_instance(
        "Aura calls until converged, per Ready instance",
        &aura,
        "all Aura calls",
        per,
    );
    report.figure(
        "calls / minimal calls",
        format!("{:.2}", aura_total as f64 / minimal_calls as f64),
    );
    report.figure(
        "429s received (must be 0)",
        aura_converged.rate_limited - aura_before.rate_limited,
    );

    let mut writes = writes_by_kind(&kube_before, &kube_converged);
    // The bench's own creates are not the operator's writes.
    if let Some(created) = writes.get_mut(&("AuraInstance".to_string(), "create".to_string())) {
        *created = created.saturating_sub(n);
    }
    writes.retain(|_, count| *count > 0);
    report.per_instance(
        "Kubernetes writes until converged, per Ready instance",
        &writes,
        "all writes",
        per,
    );
    report.figure(
        "reads: gets / lists / watches opened",
        format!(
            "{} / {} / {}",
            kube_converged.gets - kube_before.gets,
            kube_converged.lists_served - kube_before.lists_served,
            kube_converged.watches_opened - kube_before.watches_opened
        ),
    );

    let steady_aura = route_counts(&aura_converged, &aura_steady);
    let reconciles = steady_aura
        .get(&("GET".to_string(), "/v1/instances/{id}".to_string()))
        .copied()
        .unwrap_or(0);
    let steady_other: u64 = steady_aura.values().sum::<u64>() - reconciles;
    let expected = n * options.steady_seconds / options.effective_resync();
    let steady_writes: u64 = writes_by_kind(&kube_converged, &kube_steady).values().sum();
    report.section(&format!(
        "steady state ({} s, resync {} s)",
        options.steady_seconds,
        options.effective_resync()
    ));
    report.figure("reconciles (GET /v1/instances/{id})", reconciles);
    report.figure("expected: instances x steady / resync", expected);
    report.figure(
        "reconciles per instance per resync interval",
        format!(
            "{:.2}",
            reconciles as f64
                / per
                / (options.steady_seconds as f64 / options.effective_resync() as f64)
        ),
    );
    report.figure("other Aura calls", steady_other);
    report.figure(
        "429s received",
        aura_steady.rate_limited - aura_converged.rate_limited,
    );
    report.figure("Kubernetes writes (should be ~0)", steady_writes);
    for ((kind, verb), count) in writes_by_kind(&kube_converged, &kube_steady) {
        if count > 0 {
            report.figure(&format!("  {kind} {verb}"), count);
        }
    }

    report.section("operator process");
    report.figure(
        "RSS before the first instance, VmRSS (MiB)",
        idle.current_mib(),
    );
    report.figure("peak RSS, VmHWM (MiB)", memory.peak_mib());
    report.figure("RSS at the end, VmRSS (MiB)", memory.current_mib());
    report.figure(
        "peak RSS per resource (KiB; AuraInstance + Secret)",
        format!("{:.1}", memory.peak_kib as f64 / per),
    );
    report.figure(
        "  of which above the idle RSS (KiB)",
        format!(
            "{:.1}",
            memory.peak_kib.saturating_sub(idle.current_kib) as f64 / per
        ),
    );
    report.figure("exit after SIGTERM", exit);
    report.print();
    println!(
        "peak RSS: {} MiB for {} AuraInstances with their Secrets = {:.1} KiB per resource",
        memory.peak_mib(),
        options.instances,
        memory.peak_kib as f64 / options.instances as f64
    );
    println!("operator log: {}", log_path.display());

    drop(served);
    emu.shutdown().await;
}

/// Requests between two snapshots by (method, route template), every status together.
fn route_counts(before: &Stats, after: &Stats) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for r in &after.requests {
        *counts
            .entry((r.method.clone(), r.route.clone()))
            .or_insert(0) += r.count;
    }
    for r in &before.requests {
        if let Some(count) = counts.get_mut(&(r.method.clone(), r.route.clone())) {
            *count = count.saturating_sub(r.count);
        }
    }
    counts.retain(|_, count| *count > 0);
    counts
}

/// Writes between two snapshots by (kind, verb).
fn writes_by_kind(before: &Counters, after: &Counters) -> BTreeMap<(String, String), u64> {
    let mut writes = BTreeMap::new();
    for (key, count) in &after.writes {
        let earlier = before.writes.get(key).copied().unwrap_or(0);
        let kind = match (
            key.group.as_str(),
            key.plural.as_str(),
            key.subresource.as_str(),
        ) {
            (GROUP, PLURAL, "") => "AuraInstance".to_string(),
            (GROUP, PLURAL, "status") => "AuraInstance status".to_string(),
            ("", "secrets", _) => "Secret".to_string(),
            (_, "events", _) => "Event".to_string(),
            (group, plural, sub) => format!("{group}/{plural}/{sub}"),
        };
        *writes.entry((kind, key.verb.clone())).or_insert(0) += count - earlier;
    }
    writes
}
