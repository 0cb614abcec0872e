//! Bounded reads: nothing nv2 reads from a file or stdin can exhaust memory.

use std::io::Read;
use std::path::Path;

/// A signature file larger than this is refused (DESIGN §4).
pub(crate) const MAX_SIGNATURE_FILE: u64 = 1 << 20;
/// A manifest larger than this is refused (DESIGN §4).
pub(crate) const MAX_MANIFEST: u64 = 4 << 20;
/// Certificates and keys are small; a bundle past this is a mistake.
pub(crate) const MAX_CERT_FILE: u64 = 1 << 20;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
}

/// Reads all of `reader`, failing once more than `limit` bytes arrive.
pub(crate) fn read_all_bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    reader.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(buf)
}

/// Reads the file at `path`, failing past `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    read_all_bounded(file, limit)
}
