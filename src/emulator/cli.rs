//! `aura-operator emulator ...`: run the emulator from the command line until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::config::{Credential, EmulatorConfig, SeedError, SeedFile, Timings};

/// Options for `aura-operator emulator`. `Debug` hides the client secret.
#[derive(Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// JSON seed file with `tenants` (and optionally more `credentials`); replaces the default tenants.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Client id the token endpoint accepts.
    #[arg(long, default_value = "emulator-client")]
    pub client_id: String,
    /// Client secret the token endpoint accepts. Never printed.
    #[arg(
        long,
        env = "AURA_EMULATOR_CLIENT_SECRET",
        default_value = "emulator-secret",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub client_secret: String,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Requests per credential per minute; 0 turns the limiter off.
    #[arg(long, default_value_t = 125)]
    pub rate_limit: u32,
    /// Duration of every status transition, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub transition_ms: u64,
    /// How long a new instance answers 404 to GET and is left out of lists, in milliseconds
    /// (Aura: about two seconds); 0 turns this off.
    #[arg(long, default_value_t = 2000)]
    pub invisible_after_create_ms: u64,
    /// Status for requests with an expired token (Aura documents 403; some clients expect 401).
    #[arg(long, default_value_t = 403, value_parser = parse_expired_status)]
    pub expired_token_status: u16,
    /// Serve Bolt over TLS for each new instance (its `connection_url` then points at a port of
    /// its own on 127.0.0.1), signed by a CA made at start.
    #[arg(long)]
    pub bolt: bool,
    /// Where to write that CA's PEM (default: a file in the temp directory, printed at start).
    #[arg(long, value_name = "FILE", requires = "bolt")]
    pub bolt_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for EmulatorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorArgs")
            .field("listen", &self.listen)
            .field("seed", &self.seed)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("rate_limit", &self.rate_limit)
            .field("transition_ms", &self.transition_ms)
            .field("invisible_after_create_ms", &self.invisible_after_create_ms)
            .field("expired_token_status", &self.expired_token_status)
            .field("bolt", &self.bolt)
            .field("bolt_ca_file", &self.bolt_ca_file)
            .finish()
    }
}

fn parse_expired_status(text: &str) -> Result<u16, String> {
    match text {
        "401" => Ok(401),
        "403" => Ok(403),
        _ => Err("must be 401 or 403".to_string()),
    }
}

/// Why the emulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("waiting for Ctrl-C failed: {0}")]
    Signal(std::io::Error),
}

impl EmulatorArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<EmulatorConfig, SeedError> {
        let mut config = EmulatorConfig {
            credentials: vec![Credential::new(&self.client_id, &self.client_secret)],
            timings: Timings::uniform(Duration::from_millis(self.transition_ms)),
            invisible_after_create: Duration::from_millis(self.invisible_after_create_ms),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            expired_token_status: self.expired_token_status,
            rate_limit_per_minute: (self.rate_limit > 0).then_some(self.rate_limit),
            bolt: self.bolt,
            bolt_ca_file: self.bolt_ca_file.clone(),
            ..EmulatorConfig::default()
        };
        if let Some(path) = &self.seed {
            let seed = SeedFile::load(path)?;
            config.tenants = seed.tenants;
            config.credentials.extend(seed.credentials);
        }
        Ok(config)
    }
}

/// What `aura-operator emulator` prints at startup. Clients differ in what they want: some take
/// the origin and add `/v1` themselves (the Go client does), others take the base URL with `/v1`
/// (ours does). Printing only one made the first kind call `/v1/v1/...`, so both are labelled.
pub fn banner(origin: &str, base_url: &str, token_url: &str, client_id: &str) -> String {
    format!(
        "Aura API emulator listening\n\
         \x20 origin (scheme://host:port, for clients that add /v1): {origin}\n\
         \x20 API base URL (with /v1):                               {base_url}\n\
         \x20 token URL:                                             {token_url}\n\
         \x20 client id:                                             {client_id}"
    )
}

/// Starts the emulator, prints where it listens, and serves until Ctrl-C.
pub async fn run(args: EmulatorArgs) -> Result<(), RunError> {
    let config = args.config()?;
    let running = super::start(config, args.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: args.listen,
            source,
        })?;
    println!(
        "{}",
        banner(
            &running.origin(),
            &running.base_url(),
            &running.token_url(),
            &args.client_id
        )
    );
    if let Some(ca) = running.bolt_ca_file() {
        println!(
            "  Bolt CA (trust it in drivers and the operator's --extra-ca-file): {}",
            ca.display()
        );
    }
    let waited = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    waited.map_err(RunError::Signal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    #[test]
    fn a_seed_file_replaces_the_tenants_and_adds_credentials() {
        let path =
            std::env::temp_dir().join(format!("aura-emulator-seed-{}.json", std::process::id()));
        let seed = serde_json::json!({
            "tenants": [{ "id": "t-1", "name": "Seeded", "instance_configurations": [] }],
            "credentials": [{ "client_id": "extra", "client_secret": "s" }],
        });
        std::fs::write(&path, seed.to_string()).expect("write seed");
        let wrapper = Wrapper::try_parse_from([
            "emulator",
            "--seed",
            path.to_str().expect("utf-8 path"),
            "--rate-limit",
            "0",
            "--expired-token-status",
            "401",
            "--invisible-after-create-ms",
            "0",
        ])
        .expect("arguments parse");
        let config = wrapper.args.config().expect("seed loads");
        std::fs::remove_file(&path).ok();
        assert_eq!(config.tenants.len(), 1);
        assert_eq!(config.tenants[0].name, "Seeded");
        assert_eq!(config.credentials.len(), 2);
        assert_eq!(config.rate_limit_per_minute, None);
        assert_eq!(config.expired_token_status, 401);
        assert_eq!(config.invisible_after_create, Duration::ZERO);
    }

    #[test]
    fn the_banner_labels_the_origin_and_the_v1_base_url() {
        let text = banner(
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/v1",
            "http://127.0.0.1:8787/oauth/token",
            "emulator-client",
        );
        let line = |label: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("no {label:?} line in {text}"))
                .to_owned()
        };
        assert!(
            line("origin")
                .trim_end()
                .ends_with(" http://127.0.0.1:8787")
        );
        assert!(
            line("API base URL")
                .trim_end()
                .ends_with(" http://127.0.0.1:8787/v1")
        );
        assert!(line("token URL").ends_with("/oauth/token"));
        assert!(line("client id").ends_with("emulator-client"));
    }

    #[test]
    fn new_instances_are_invisible_for_two_seconds_by_default() {
        let wrapper = Wrapper::try_parse_from(["emulator"]).expect("arguments parse");
        let config = wrapper.args.config().expect("no seed");
        assert_eq!(config.invisible_after_create, Duration::from_secs(2));
    }

    #[test]
    fn the_expired_token_status_must_be_401_or_403() {
        assert!(Wrapper::try_parse_from(["emulator", "--expired-token-status", "500"]).is_err());
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let shown = format!("{:?}", Credential::new("id", "very-secret"));
        assert!(!shown.contains("very-secret"));
        let wrapper = Wrapper::try_parse_from(["emulator", "--client-secret", "very-secret"])
            .expect("arguments parse");
        assert!(!format!("{:?}", wrapper.args).contains("very-secret"));
    }
}
