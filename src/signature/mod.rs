//! Signatures and who may make them: the `.nv2` envelope, keys and
//! algorithms, certificates, distinguished names, and trust material.

pub(crate) mod cert;
pub(crate) mod crypto;
pub(crate) mod dn;
pub(crate) mod envelope;
pub(crate) mod format;
pub(crate) mod jws;
pub(crate) mod keygen;
pub(crate) mod trust;

pub use cert::Certificate;
pub use crypto::{Algorithm, SigningKey};
pub use dn::Name;
pub use envelope::X5cError;
pub use envelope::{Envelope, SignedContent, Signer, decode_base64};
pub use format::{FormatError, SignatureEnvelope};
pub use jws::JwsError;
pub use trust::{TrustError, TrustMaterial};
