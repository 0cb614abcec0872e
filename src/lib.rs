//! nv2: Notary v2 signatures for container images, and the verification
//! pipeline shared by the `nv2` CLI and its Kubernetes admission webhook.
//!
//! Layers, bottom up (each uses only those above it in this list):
//! - [`oci`]: what is signed and where it lives (digests, references,
//!   targets, the signature artifact, the registry client);
//! - [`signature`]: the `.nv2` envelope, keys, certificates, names, trust;
//! - [`verify`]: the one pipeline from envelope + target + trust to a
//!   verdict, and remote discovery of an image's signatures;
//! - [`policy`]: the trust policy document and its stores;
//! - [`admission`]: the webhook — review parsing, the decision, the
//!   engine and its caches, the HTTPS server, cluster sources;
//! - [`cli`]: the `nv2` command, one thin shell per command.
//!
//! [`cache`], [`io`], `text` (untrusted text made safe to show) and [`time`]
//! are small shared utilities.

#![warn(unreachable_pub)]

pub mod admission;
pub(crate) mod cache;
pub mod cli;
pub(crate) mod io;
pub mod oci;
pub mod policy;
pub mod signature;
pub(crate) mod text;
pub mod time;
pub mod verify;
