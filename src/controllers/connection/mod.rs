//! Connection details: what a connection Secret holds (its formats and keys), how Secrets the
//! operator owns are written, and how names and values are carried between the CRDs and Aura.

pub mod convert;
pub mod formats;
pub mod marks;
pub mod naming;
pub mod secrets;
