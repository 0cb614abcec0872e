//! Signatures and who may make them: the `.nv2` envelope, keys and
//! algorithms, certificates, distinguished names, and trust material.

pub mod cert;
pub mod crypto;
pub mod dn;
pub mod envelope;
pub mod format;
pub mod keygen;
pub mod trust;
