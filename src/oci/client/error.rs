//! Why a registry operation failed (always one line, never a secret), and
//! what may be said about an answer that came from a redirect target.

/// Why a registry operation failed. Always one line, never a secret.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error("{what}: cannot reach the registry: {reason}")]
    Transport { what: String, reason: String },
    #[error("{what}: registry answered {status}{message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: content does not match its digest (expected {expected}, got {got})")]
    DigestMismatch {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: authentication failed: {reason}")]
    Auth { what: String, reason: String },
    #[error("{what}: redirect refused: the registry redirected to {reason}")]
    Redirect { what: String, reason: String },
    /// What a redirect target answered is not told: it may be an internal
    /// service whose status, errors or content digest are not the pod
    /// author's to learn.
    #[error("{what}: redirected to {host}, which gave no usable answer")]
    Redirected { what: String, host: String },
}

/// Why a registry client cannot be built from its options.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ClientSetupError {
    #[error("insecure registry {host:?}: {reason}")]
    InsecureRegistry { host: String, reason: &'static str },
    #[error("CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("HTTP client: {0}")]
    Http(String),
}

/// An error about an answer that a redirect fetched from another host says
/// only that nothing usable came back (details at debug level, for operators).
pub(super) fn redact<T>(
    result: Result<T, RegistryError>,
    elsewhere: Option<String>,
) -> Result<T, RegistryError> {
    match (result, elsewhere) {
        (Err(e), Some(host)) => {
            tracing::debug!(error = %e, target = %host, "redirect target's answer refused");
            let what = match e {
                RegistryError::Transport { what, .. }
                | RegistryError::Status { what, .. }
                | RegistryError::NotFound { what }
                | RegistryError::TooLarge { what, .. }
                | RegistryError::DigestMismatch { what, .. }
                | RegistryError::Invalid { what, .. }
                | RegistryError::Auth { what, .. }
                | RegistryError::Redirect { what, .. }
                | RegistryError::Redirected { what, .. } => what,
            };
            Err(RegistryError::Redirected { what, host })
        }
        (result, _) => result,
    }
}
