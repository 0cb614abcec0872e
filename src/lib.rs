//! nv2: Notary v2 signatures for container images, and the verification
//! pipeline shared by the `nv2` CLI and its Kubernetes admission webhook.
//!
//! Layers, bottom up: [`digest`], [`reference`] and [`target`] name what is
//! signed; [`crypto`], [`cert`] and [`trust`] decide who can sign; [`signature`]
//! is the `.nv2` file; [`verifier`] is the one pipeline that checks a file
//! against a target. [`cli`] is a thin shell over these.

pub mod cache;
pub mod cert;
pub mod cli;
pub mod cluster;
pub mod crypto;
pub mod digest;
pub mod dn;
pub mod engine;
pub mod inspect;
pub mod io;
pub mod keygen;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod remote;
pub mod signature;
pub mod target;
pub mod time;
pub mod trust;
pub mod verifier;
pub mod webhook;
