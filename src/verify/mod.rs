//! Verification: the one pipeline that checks a signature envelope against a
//! target and trust material ([`pipeline`]), and its remote form that
//! discovers and fetches an image's signatures first ([`remote`]).

pub(crate) mod notation;
pub(crate) mod pipeline;
pub(crate) mod remote;

pub use notation::verify_notation_jws;
pub use pipeline::{Identities, Requirements, Subject, Verdict, verify_envelope};
pub use remote::{
    Discovered, FetchError, FoundSignature, MAX_IMAGE_SIGNATURE_BYTES, MAX_IMAGE_SIGNATURES,
    MAX_SIGNATURE_MANIFEST, verify_found,
};
