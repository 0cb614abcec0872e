//! The envelope formats nv2 reads, behind one type. Discovery parses a
//! signature blob by its media type into a [`SignatureEnvelope`]; the
//! verification pipeline, the admission path and the CLI see only this type,
//! so another format (Notation's JWS or COSE) is a new variant here and an
//! arm in [`crate::verify::pipeline::verify_any_within`], nothing else.

use crate::oci::artifact::{PROTOTYPE_CONFIG_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE};
use crate::signature::envelope::Envelope;

/// A parsed signature envelope of any supported format.
#[derive(Clone, Debug)]
pub enum SignatureEnvelope {
    /// The `.nv2` file (`application/vnd.cncf.notary.v2.signature+json`).
    Nv2(Envelope),
}

/// Why a signature blob cannot be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("signature media type {0:?} is not one nv2 reads")]
    Unsupported(String),
    #[error("{0}")]
    Malformed(String),
}

impl SignatureEnvelope {
    /// Parses `bytes` as the format `media_type` names.
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Self, FormatError> {
        match media_type {
            // The 2020 prototype kept the `.nv2` file in the config blob.
            SIGNATURE_MEDIA_TYPE | PROTOTYPE_CONFIG_MEDIA_TYPE => Envelope::parse(bytes)
                .map(SignatureEnvelope::Nv2)
                .map_err(|e| FormatError::Malformed(e.to_string())),
            other => Err(FormatError::Unsupported(crate::oci::digest::shorten(other))),
        }
    }

    /// How many signatures it holds (for work budgets).
    pub fn signature_count(&self) -> usize {
        match self {
            SignatureEnvelope::Nv2(e) => e.signatures().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_formats_are_named_not_guessed() {
        assert_eq!(
            SignatureEnvelope::parse("application/jose+json", b"{}").unwrap_err(),
            FormatError::Unsupported("application/jose+json".into())
        );
        for nv2 in [SIGNATURE_MEDIA_TYPE, PROTOTYPE_CONFIG_MEDIA_TYPE] {
            assert!(matches!(
                SignatureEnvelope::parse(nv2, b"{}"),
                Err(FormatError::Malformed(_))
            ));
        }
    }
}
