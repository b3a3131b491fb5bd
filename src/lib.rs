//! aura-operator: manage Neo4j Aura from Kubernetes.
//!
//! - [`aura`]: the embedded Aura API client. It knows nothing about Kubernetes.
//! - [`emulator`]: a local HTTP server that behaves like the Aura API, for tests and trials.

pub mod aura;
pub mod cli;
pub mod controllers;
pub mod crd;
pub mod database;
pub mod emulator;
pub mod http;
pub mod leader;
pub mod metrics;
