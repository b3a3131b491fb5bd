//! The reconcile machinery: what every pass of every kind runs on, knowing nothing of tenants,
//! credentials or what a connection Secret holds.
//!
//! Slots for passes ([`admission`]), what is remembered between passes ([`memory`]), when the
//! next pass comes ([`pacing`]), giving way to a newer copy ([`supersede`]), errors and their
//! condition reasons ([`error`], [`reasons`]), status writes, finalizers, Events, the watches'
//! filters ([`watch`]), the clock, and the achieved resync ([`cadence`]). [`Engine`] holds the
//! shared parts; the reconcile loop's `Context` adds the tenancy parts on top of it.

pub mod admission;
pub mod cadence;
pub mod clock;
pub mod engine;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod memory;
pub mod pacing;
pub mod reasons;
pub mod status;
pub mod supersede;
pub mod watch;

pub use engine::{Engine, FIELD_MANAGER, StatusSource, Stopping, Timing};
