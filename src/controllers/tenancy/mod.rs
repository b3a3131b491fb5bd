//! Tenancy: which credential a resource uses and whether its namespace may use it
//! ([`credentials`], [`access`]), which resource manages which Aura object ([`claims`]),
//! keeping credentials readable until cleanups are done ([`credential_hold`]), which
//! installation serves which objects ([`installation`]), and references between resources.

pub mod access;
pub mod claims;
pub mod credential_hold;
pub mod credentials;
pub mod installation;
pub mod references;
