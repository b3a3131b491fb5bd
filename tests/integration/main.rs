//! The end-to-end tests, compiled as one test binary: each separate binary linked the whole
//! dependency tree again (~60 MB and a link step each). `secrets_in_logs.rs` stays its own
//! binary because it installs a global tracing subscriber.

#[path = "../support/mod.rs"]
mod support;

mod aura_client;
mod binary_smoke;
mod bolt;
mod cluster_credentials;
mod connection_formats;
mod connection_verification;
mod contract;
mod crds;
mod docs;
mod emulator;
mod examples;
mod gds_session_controller;
mod health;
mod import;
mod installations;
mod installations_owned;
mod instance_controller;
mod layers;
mod leader;
mod lifecycle_controls;
mod metrics;
mod multi_tenant;
mod namespace_deletion;
mod password_rotation;
mod plan;
mod plan_against_operator;
mod plugin;
mod rate_budget;
mod request_shapes;
mod sandbox;
mod sandbox_kubectl;
mod schedules;
mod snapshot_controller;
mod upgrade;
