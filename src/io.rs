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
    #[error("not a regular file (a FIFO, device, socket or directory is never read)")]
    NotRegular,
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

/// Reads a configuration file the webhook reads again and again (trust
/// policy and stores, TLS files, registry CA and credentials): a regular
/// file only, at most `limit` bytes. It is opened without blocking and
/// checked before any read, so a FIFO or device put in its place is refused
/// at once instead of stalling the reader (and with it a reload or a worker).
pub(crate) fn read_config(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotRegular);
    }
    read_all_bounded(file, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_read_only_from_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(read_config(&file, 3).unwrap(), b"abc");
        assert!(matches!(
            read_config(&file, 2),
            Err(ReadError::TooLarge { limit: 2 })
        ));
        let fifo = dir.path().join("p");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Returns at once (no writer would ever come).
        assert!(matches!(read_config(&fifo, 10), Err(ReadError::NotRegular)));
        assert!(matches!(
            read_config(dir.path(), 10),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            read_config(Path::new("/dev/zero"), 10),
            Err(ReadError::NotRegular)
        ));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            read_config(&link, 3).unwrap(),
            b"abc",
            "symlinks (Kubernetes mounts) are followed"
        );
    }
}
