//! The custom resource types. No I/O here: types, defaults, and pure helpers.

pub mod common;
pub mod conditions;
pub mod credential;
pub mod gds_session;
pub mod instance;
pub mod snapshot;

pub use credential::{
    ClusterAuraCredential, ClusterAuraCredentialSpec, ClusterAuraCredentialStatus,
};
pub use gds_session::{GdsSession, GdsSessionSpec, GdsSessionStatus};
pub use instance::{AuraInstance, AuraInstanceSpec, AuraInstanceStatus};
pub use snapshot::{AuraSnapshot, AuraSnapshotSpec, AuraSnapshotStatus};
