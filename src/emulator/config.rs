//! Emulator configuration: credentials, seeded tenants, transition timings and limits.
//!
//! Everything here is plain data. The defaults give a realistic project so that a client can be
//! pointed at a fresh emulator without writing a seed file; `--seed FILE` replaces the tenants.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An API credential the token endpoint accepts.
///
/// `Debug` is written by hand so the secret can never reach a log line.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    pub client_id: String,
    pub client_secret: String,
}

impl Credential {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// One allowed combination for instance creation, exactly as a tenant lists it (§4.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceConfiguration {
    pub cloud_provider: String,
    pub region: String,
    pub region_name: String,
    #[serde(rename = "type")]
    pub instance_type: String,
    pub memory: String,
    pub storage: String,
    pub version: String,
}

/// A tenant (project) the emulator starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantSeed {
    pub id: String,
    pub name: String,
    pub instance_configurations: Vec<InstanceConfiguration>,
}

/// The seed file format for `--seed FILE`: the tenants and, optionally, more credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedFile {
    pub tenants: Vec<TenantSeed>,
    #[serde(default)]
    pub credentials: Vec<Credential>,
}

/// Errors reading a seed file.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seed file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl SeedFile {
    pub fn load(path: &Path) -> Result<Self, SeedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SeedError::Parse {
            path: shown,
            source,
        })
    }
}

/// How long each lazy transition takes, measured on the emulator clock.
///
/// Short defaults keep tests fast; tests that must not sleep use
/// [`EmulatorHandle::advance_clock`](super::EmulatorHandle::advance_clock) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub create: Duration,
    /// `loading` after `creating`, for instances created from a source (clone or snapshot).
    pub loading: Duration,
    pub pause: Duration,
    pub resume: Duration,
    pub update: Duration,
    pub overwrite: Duration,
    pub restore: Duration,
    pub delete: Duration,
    /// Whole snapshot: `Pending` for the first half, `InProgress` for the second.
    pub snapshot: Duration,
    pub cmek: Duration,
    pub session_start: Duration,
}

impl Timings {
    /// Every transition takes the same time; `Duration::ZERO` makes them all immediate.
    pub fn uniform(each: Duration) -> Self {
        Self {
            create: each,
            loading: each,
            pause: each,
            resume: each,
            update: each,
            overwrite: each,
            restore: each,
            delete: each,
            snapshot: each,
            cmek: each,
            session_start: each,
        }
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self::uniform(Duration::from_millis(300))
    }
}

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub credentials: Vec<Credential>,
    pub tenants: Vec<TenantSeed>,
    pub timings: Timings,
    /// How long a new instance stays invisible: `GET /instances/{id}` answers 404 and lists leave
    /// it out, as Aura does for about two seconds (§10). `Duration::ZERO` turns this off.
    pub invisible_after_create: Duration,
    /// Lifetime of issued tokens, reported as `expires_in`.
    pub token_ttl: Duration,
    /// Status for a request with an expired token. The docs say 403; some clients only refresh on
    /// 401, so tests can pick either. Unknown or missing tokens always get 403.
    pub expired_token_status: u16,
    /// Requests per credential per sliding 60 s window; `None` disables the limiter.
    pub rate_limit_per_minute: Option<u32>,
    /// GDS session TTL when the create request gives none (Aura: one hour).
    pub default_session_ttl: Duration,
    /// Body size for the `oversized_body` fault.
    pub oversized_body_bytes: usize,
    /// Serve Bolt over TLS for every new instance (issue 22): `connection_url` then points at a
    /// listener of the instance's own on 127.0.0.1.
    pub bolt: bool,
    /// Where to write the Bolt CA's PEM; a file in the temp directory when `None`.
    pub bolt_ca_file: Option<std::path::PathBuf>,
    /// Neo4j's auth rate limit on every instance: refused logins of a user in a row that lock
    /// it, and for how long (Neo4j's defaults, 3 and 5 s; tests shorten the lock).
    pub bolt_auth_lock: super::bolt::AuthLockPolicy,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            credentials: vec![Credential::new("emulator-client", "emulator-secret")],
            tenants: default_tenants(),
            timings: Timings::default(),
            invisible_after_create: DEFAULT_INVISIBLE_AFTER_CREATE,
            token_ttl: Duration::from_secs(3600),
            expired_token_status: 403,
            rate_limit_per_minute: Some(125),
            default_session_ttl: Duration::from_secs(3600),
            oversized_body_bytes: 16 * 1024 * 1024,
            bolt: false,
            bolt_ca_file: None,
            bolt_auth_lock: super::bolt::AuthLockPolicy::default(),
        }
    }
}

/// Aura's observed window in which a just-created instance answers 404.
pub const DEFAULT_INVISIBLE_AFTER_CREATE: Duration = Duration::from_secs(2);

/// Id of the first default tenant; stable so that docs and scripts can name it.
pub const DEFAULT_TENANT_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
/// Id of the second default tenant (professional only, no free tier).
pub const SECOND_TENANT_ID: &str = "a1b2c3d4-0000-4000-8000-000000000002";

const REGIONS: &[(&str, &str, &str)] = &[
    ("gcp", "europe-west1", "Belgium (europe-west1)"),
    ("gcp", "us-central1", "Iowa (us-central1)"),
    ("aws", "us-east-1", "US East, N. Virginia (us-east-1)"),
];

const SMALL_TIER_MEMORY: &[&str] = &[
    "1GB", "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB",
];
const LARGE_TIER_MEMORY: &[&str] = &[
    "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "128GB",
];

/// Storage is twice the memory in every default configuration.
fn double(memory: &str) -> String {
    let gb: u32 = memory.trim_end_matches("GB").parse().unwrap_or(1);
    format!("{}GB", gb * 2)
}

fn configuration(
    provider: &str,
    region: &str,
    region_name: &str,
    kind: &str,
    memory: &str,
    version: &str,
) -> InstanceConfiguration {
    InstanceConfiguration {
        cloud_provider: provider.into(),
        region: region.into(),
        region_name: region_name.into(),
        instance_type: kind.into(),
        memory: memory.into(),
        storage: double(memory),
        version: version.into(),
    }
}

/// The default seed: "Emulated Tenant" with every tier, and "Second Tenant" with professional only.
pub fn default_tenants() -> Vec<TenantSeed> {
    let mut full = vec![configuration(
        "gcp",
        "europe-west1",
        "Belgium (europe-west1)",
        "free-db",
        "1GB",
        "5",
    )];
    for (provider, region, region_name) in REGIONS {
        for kind in ["professional-db", "professional-ds"] {
            for memory in SMALL_TIER_MEMORY {
                for version in ["5", "4"] {
                    full.push(configuration(
                        provider,
                        region,
                        region_name,
                        kind,
                        memory,
                        version,
                    ));
                }
            }
        }
        for kind in ["enterprise-db", "enterprise-ds", "business-critical"] {
            for memory in LARGE_TIER_MEMORY {
                full.push(configuration(
                    provider,
                    region,
                    region_name,
                    kind,
                    memory,
                    "5",
                ));
            }
        }
    }
    let mut second = Vec::new();
    for memory in SMALL_TIER_MEMORY {
        second.push(configuration(
            "aws",
            "us-east-1",
            "US East, N. Virginia (us-east-1)",
            "professional-db",
            memory,
            "5",
        ));
    }
    vec![
        TenantSeed {
            id: DEFAULT_TENANT_ID.into(),
            name: "Emulated Tenant".into(),
            instance_configurations: full,
        },
        TenantSeed {
            id: SECOND_TENANT_ID.into(),
            name: "Second Tenant".into(),
            instance_configurations: second,
        },
    ]
}
