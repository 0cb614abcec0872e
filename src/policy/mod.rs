//! Trust policy: Notation's `trustpolicy.json` and trust-store layout,
//! compiled into per-scope trust material and levels.

pub(crate) mod document;

pub use document::{PolicyError, StatementError, TrustPolicy};
