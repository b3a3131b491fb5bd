//! The custom resource types. No I/O here: types, defaults, and pure helpers.

pub mod conditions;
pub mod instance;

pub use instance::{AuraInstance, AuraInstanceSpec, AuraInstanceStatus};
