//! The `aura-operator` binary: subcommands over the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use aura_operator::cli::crd::{CrdArgs, run as run_crd};
use aura_operator::cli::import::{ImportArgs, run as run_import};
use aura_operator::cli::kube_connect::KubeArgs;
use aura_operator::cli::plan::{PlanArgs, run as run_plan};
use aura_operator::cli::plugin::{self, PluginCli};
use aura_operator::cli::reference::{ReferenceArgs, run as run_reference};
use aura_operator::cli::run::{RunArgs, run as run_operator};
use aura_operator::cli::sandbox::{SandboxArgs, run as run_sandbox};
use aura_operator::emulator::cli::{EmulatorArgs, run as run_emulator};

/// Manage Neo4j Aura from Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "aura-operator", version, about)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "AURA_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers against the current Kubernetes context (kubeconfig or in-cluster).
    Run(RunArgs),
    /// Try the operator with nothing installed: a Kubernetes API server, the Aura emulator and
    /// the controllers, in memory in this process.
    ///
    /// Writes a kubeconfig for kubectl and prints what to try. Nothing real is created (no Aura
    /// account is used) and nothing is kept when it stops. With --apply and --wait-ready: an
    /// offline check of manifests for CI.
    Sandbox(SandboxArgs),
    /// Print the CustomResourceDefinitions (or write them with --out-dir).
    Crd(CrdArgs),
    /// Show what the operator would do in Aura for these manifests, before they are applied.
    ///
    /// Reads AuraInstance, AuraSnapshot and GdsSession manifests, finds them in the current
    /// cluster and in Aura (reads only), and prints the step the operator would take for each.
    /// Exit status: 0 nothing would change, 2 something would, 1 a refusal or an error.
    Plan {
        #[command(flatten)]
        kube: KubeArgs,
        #[command(flatten)]
        args: PlanArgs,
    },
    /// Write an AuraInstance manifest for each instance of an Aura tenant that nothing manages
    /// yet (instanceId set, managementPolicy Observe unless asked otherwise).
    Import {
        #[command(flatten)]
        kube: KubeArgs,
        #[command(flatten)]
        args: ImportArgs,
    },
    /// Print the API reference of the documentation book, generated from the CRDs (or write
    /// one Markdown page per kind with --out-dir).
    Reference(ReferenceArgs),
    /// Serve a local emulation of the Aura API (for trials and tests; never for production data).
    Emulator(EmulatorArgs),
}

fn init_logging(format: LogFormat) {
    // neo4rs warns at every login over neo4j+s that its client-side routing is experimental (the
    // operator does not use it: the server routes): by default only its errors are shown.
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,neo4rs=error"));
    // Colour only on a terminal: escape codes in a pod's log or a file are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    if plugin::called_as_plugin(&argv0) {
        return as_plugin().await;
    }
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run_operator(args).await.map_err(|e| e.to_string()),
        Command::Sandbox(args) => match run_sandbox(args).await {
            Ok(true) => Ok(()),
            // Not every resource was Ready: the report says which and why.
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e.to_string()),
        },
        Command::Crd(args) => run_crd(args),
        Command::Import { kube, args } => run_import(&kube, &args).await.map_err(|e| e.to_string()),
        Command::Plan { kube, args } => match run_plan(&kube, &args).await {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e.to_string()),
        },
        Command::Reference(args) => run_reference(args),
        Command::Emulator(args) => run_emulator(args).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aura-operator: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `kubectl aura ...`: the binary called through a `kubectl-aura` symlink.
async fn as_plugin() -> ExitCode {
    let cli = PluginCli::parse();
    init_logging(LogFormat::Text);
    match plugin::run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("kubectl aura: {message}");
            ExitCode::FAILURE
        }
    }
}
