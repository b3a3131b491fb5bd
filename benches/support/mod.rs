//! What the operator benchmarks share: the operator binary as a child process, the resources
//! they create, and the two-column report.
//!
//! Included by each bench with `#[path = "support/mod.rs"] mod support;`; not every bench uses
//! every item.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aura_operator::crd::AuraInstance;
use aura_operator::emulator::DEFAULT_TENANT_ID;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use memory_apiserver::ApiServer;
use serde_json::json;

pub const BINARY: &str = env!("CARGO_BIN_EXE_aura-operator");
pub const NS: &str = "default";
pub const CREDENTIALS_SECRET: &str = "aura-creds";
pub const GROUP: &str = "aura.neo4j.io";
pub const PLURAL: &str = "aurainstances";

/// A bench's command line: `--name NUMBER` pairs, and whether cargo ran it as a benchmark
/// (`--bench`; `cargo test --all-targets` runs bench targets without it).
pub struct Flags {
    pub numbers: Vec<(String, u64)>,
    pub benchmarking: bool,
}

impl Flags {
    pub fn read() -> Result<Self, String> {
        let mut flags = Self {
            numbers: Vec::new(),
            benchmarking: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--bench" {
                flags.benchmarking = true;
                continue;
            }
            let text = args.next().ok_or(format!("{arg} needs a value"))?;
            let value = text
                .parse()
                .map_err(|_| format!("{arg}: {text:?} is not a number"))?;
            flags.numbers.push((arg, value));
        }
        Ok(flags)
    }
}

/// The operator's budget and resync, as its flags take them.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub rate_limit: u32,
    pub resync_seconds: u64,
}

pub async fn create_credentials_secret(api: &ApiServer, client_id: &str, client_secret: &str) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(CREDENTIALS_SECRET.into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [("clientId", client_id), ("clientSecret", client_secret)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(api.client(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("credentials Secret created");
}

/// Creates the instances through the in-process client (the bench's own traffic stays off the
/// operator's connection), a few at a time, as `kubectl apply` of a big manifest would.
pub async fn create_instances(api: &ApiServer, count: usize) {
    let instances: Api<AuraInstance> = Api::namespaced(api.client(), NS);
    futures::stream::iter(0..count)
        .map(|i| {
            let instances = instances.clone();
            async move {
                let obj: AuraInstance = serde_json::from_value(json!({
                    "apiVersion": "aura.neo4j.io/v1alpha1",
                    "kind": "AuraInstance",
                    "metadata": { "name": format!("bench-{i:05}"), "namespace": NS },
                    "spec": {
                        "tenantId": DEFAULT_TENANT_ID,
                        "cloudProvider": "gcp",
                        "region": "europe-west1",
                        "type": "professional-db",
                        "memory": "2GB"
                    }
                }))
                .expect("a valid AuraInstance");
                instances.create(&PostParams::default(), &obj).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("instances created");
}

pub fn is_ready(obj: &AuraInstance) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Polls until every instance is Ready or the deadline passes; returns how many were Ready and
/// when the last one became so (or the deadline).
pub async fn wait_for_ready(
    api: &ApiServer,
    expected: usize,
    deadline: Duration,
) -> (usize, Duration) {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let ready = api
            .list_as::<AuraInstance>(Some(NS))
            .iter()
            .filter(|obj| is_ready(obj))
            .count();
        if ready >= expected || started.elapsed() >= deadline {
            return (ready, started.elapsed());
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            println!(
                "  {:>5.0} s: {ready}/{expected} Ready",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub struct OperatorProcess {
    child: Child,
}

impl OperatorProcess {
    /// Starts the operator against `aura_url`; with `bolt_ca`, the emulator's Bolt CA, so that
    /// its connection checks log in as they do against Aura (without it they fail to resolve
    /// the instances' made-up host names, which costs what no real cluster pays).
    pub fn start(
        budget: Budget,
        aura_url: &str,
        bolt_ca: Option<&Path>,
        kubeconfig: &Path,
        log_path: &Path,
    ) -> Self {
        let log = std::fs::File::create(log_path).expect("log file");
        // A profiler in front of the binary, e.g. `AURA_BENCH_WRAP="heaptrack -o /tmp/op"`; the
        // RSS figures are then the wrapper's, so use it to find allocations, not to quote memory.
        let wrap = std::env::var("AURA_BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(BINARY);
                command
            }
            None => Command::new(BINARY),
        };
        let child = command
            .args([
                "run",
                "--http-listen",
                "127.0.0.1:0",
                "--namespace",
                NS,
                "--aura-url",
                aura_url,
                "--allow-insecure-http",
                "--rate-limit",
                &budget.rate_limit.to_string(),
                "--resync-seconds",
                &budget.resync_seconds.to_string(),
                "--default-credentials-secret",
                &format!("{NS}/{CREDENTIALS_SECRET}"),
                "--default-credentials-namespaces",
                NS,
            ])
            .args(
                bolt_ca
                    .into_iter()
                    .flat_map(|ca| [std::ffi::OsStr::new("--extra-ca-file"), ca.as_os_str()]),
            )
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn,neo4rs=error")
            .env_remove("AURA_OPERATOR_NAMESPACE")
            .env_remove("AURA_API_URL")
            .env_remove("AURA_DEFAULT_CREDENTIALS_SECRET")
            .env_remove("AURA_DEFAULT_CREDENTIALS_NAMESPACE_SELECTOR")
            .env_remove("AURA_RATE_LIMIT")
            .env_remove("AURA_RESYNC_SECONDS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the operator binary starts");
        Self { child }
    }

    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            peak_kib: field("VmHWM:"),
            current_kib: field("VmRSS:"),
        }
    }

    /// SIGTERM (through `kill`, keeping this file free of unsafe code), then up to 10 s for a
    /// clean exit before a SIGKILL.
    pub fn stop(&mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return format!("{status} after {:.1} s", started.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        "did not stop within 10 s (killed)".to_string()
    }
}

pub struct Memory {
    pub peak_kib: u64,
    pub current_kib: u64,
}

impl Memory {
    pub fn peak_mib(&self) -> String {
        format!("{:.1}", self.peak_kib as f64 / 1024.0)
    }

    pub fn current_mib(&self) -> String {
        format!("{:.1}", self.current_kib as f64 / 1024.0)
    }
}

/// Two-column output: a figure per line under section headings.
#[derive(Default)]
pub struct Report {
    lines: Vec<(String, String)>,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        self.lines.push((String::new(), String::new()));
        self.lines.push((format!("== {title}"), String::new()));
    }

    pub fn figure(&mut self, name: &str, value: impl std::fmt::Display) {
        self.lines.push((name.to_string(), value.to_string()));
    }

    /// A section of counts with each one's share per Ready instance, and their total.
    pub fn per_instance(
        &mut self,
        title: &str,
        counts: &BTreeMap<(String, String), u64>,
        total_name: &str,
        per: f64,
    ) -> u64 {
        self.section(title);
        for ((a, b), count) in counts {
            self.figure(
                &format!("{a} {b}"),
                format!("{count} ({:.2})", *count as f64 / per),
            );
        }
        let total: u64 = counts.values().sum();
        self.figure(total_name, format!("{total} ({:.2})", total as f64 / per));
        total
    }

    pub fn print(&self) {
        let width = self.lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, value) in &self.lines {
            if value.is_empty() {
                println!("{name}");
            } else {
                println!("{name:<width$}  {value}");
            }
        }
    }
}
