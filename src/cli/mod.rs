//! Subcommands of the `aura-operator` binary that need more than a line in `main.rs`.

pub mod crd;
pub mod import;
pub mod kube_connect;
pub mod manifests;
pub mod plan;
pub mod plugin;
pub mod reference;
pub mod run;
pub mod sandbox;
