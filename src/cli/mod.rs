//! Subcommands of the `aura-operator` binary that need more than a line in `main.rs`.

pub mod crd;
pub mod manifests;
pub mod reference;
pub mod run;
pub mod sandbox;
