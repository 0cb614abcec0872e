//! The decision for one image: a pure function of the policy level and of
//! what verification found (or why it could not run). Every allow, warn and
//! deny of an image is made here.

use crate::admission::pull_secrets::PullSecretError;
use crate::oci::client::RegistryError;
use crate::policy::document::Level;
use crate::verify::pipeline::Check;
use crate::verify::remote::{RemoteSignatureVerdict, RemoteVerdict};

/// What to do with one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed, with a warning (audit-level failures, logged checks).
    Warn(String),
    Deny(String),
}

impl Decision {
    /// The message's size in bytes (for cache weights).
    pub fn message_len(&self) -> usize {
        match self {
            Decision::Allow => 0,
            Decision::Warn(m) | Decision::Deny(m) => m.len(),
        }
    }

    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Allow => "verified",
            Decision::Warn(_) => "warned",
            Decision::Deny(_) => "denied",
        }
    }
}

/// The longest message of one image's decision, in bytes: it is cached,
/// logged and sent to the API server, and quotes what registries answered.
pub(crate) const MAX_MESSAGE: usize = 2048;

fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    crate::oci::digest::shorten_to(&message, MAX_MESSAGE)
}

/// Why an image's signatures could not be verified at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unverifiable {
    #[error("cannot resolve the image: {0}")]
    Resolve(RegistryError),
    #[error("cannot fetch signatures: {0}")]
    Discover(RegistryError),
    #[error("verification is shutting down")]
    ShuttingDown,
    #[error("the trust policy changed during verification")]
    PolicyChanged,
    #[error("verification failed: {0}")]
    Crashed(String),
    #[error("{0}")]
    PullSecrets(#[from] PullSecretError),
    #[error("verification did not finish within {0:?}")]
    Deadline(std::time::Duration),
}

/// Verification could not run (registry error, deadline, unreadable pull
/// secrets): an audit-like level warns, any other denies.
pub(crate) fn when_unverifiable(audit: bool, why: Unverifiable) -> Decision {
    let reason = bounded(why.to_string());
    if audit {
        Decision::Warn(reason)
    } else {
        Decision::Deny(reason)
    }
}

/// The decision for an image whose linked signatures were verified:
/// - one passes every enforced check → allow (warn when logged checks failed);
/// - none passes, under an audit-like level, and no signature fails
///   integrity → warn (audit never admits tampering);
/// - otherwise → deny, with every signature's reason.
pub(crate) fn for_verdict(level: &Level, verdict: &RemoteVerdict) -> Decision {
    if verdict.passes(&level.enforced()) {
        if verdict.is_verified() {
            return Decision::Allow;
        }
        return Decision::Warn(bounded(format!(
            "verified under level {}, with logged failures: {}",
            level.name,
            verdict.reasons().join("; ")
        )));
    }
    if level.is_audit() && !verdict.signatures.iter().any(fails_integrity) {
        return Decision::Warn(bounded(format!(
            "not verified (level {}): {}",
            level.name,
            verdict.reasons().join("; ")
        )));
    }
    Decision::Deny(bounded(verdict.reasons().join("; ")))
}

/// Whether this signature fails integrity (tampered, wrong digest, bad math).
fn fails_integrity(s: &RemoteSignatureVerdict) -> bool {
    match &s.verdict {
        Ok(v) => {
            v.content_failures
                .iter()
                .any(|f| f.check == Check::Integrity)
                || (!v.signatures.is_empty()
                    && v.signatures
                        .iter()
                        .all(|sig| sig.failures.iter().any(|f| f.check == Check::Integrity)))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Digest;
    use crate::verify::pipeline::{Failure, SignatureReport, Verdict};
    use std::collections::BTreeMap;

    fn level(name: &str, overrides: &[(&str, &str)]) -> Level {
        let o: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Level::parse(name, &o).unwrap()
    }

    /// A verdict of one signature file with one signature failing `checks`.
    fn verdict(checks: &[Check]) -> RemoteVerdict {
        let digest = Digest::of(b"m");
        let signature = SignatureReport {
            index: 1,
            alg: "ES256".into(),
            signer: Some("CN=x".into()),
            key_id: None,
            cert_not_after: None,
            failures: checks
                .iter()
                .map(|c| Failure {
                    check: *c,
                    reason: format!("{c:?} failed"),
                })
                .collect(),
        };
        RemoteVerdict {
            digest: digest.clone(),
            signatures: vec![RemoteSignatureVerdict {
                manifest_digest: Digest::of(b"s").to_string(),
                verdict: Ok(Verdict {
                    digest,
                    content_failures: Vec::new(),
                    signatures: vec![signature],
                    exp: None,
                }),
            }],
            truncated: false,
        }
    }

    fn unsigned() -> RemoteVerdict {
        RemoteVerdict {
            digest: Digest::of(b"m"),
            signatures: Vec::new(),
            truncated: false,
        }
    }

    fn kind(d: &Decision) -> &'static str {
        d.label()
    }

    #[test]
    fn each_level_decides_as_notations_table() {
        use Check::*;
        // (level, overrides, failed checks, decision)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [Check], &'a str);
        let cases: &[Case] = &[
            ("strict", &[], &[], "verified"),
            ("strict", &[], &[Expiry], "denied"),
            ("strict", &[], &[Authenticity], "denied"),
            ("strict", &[("expiry", "log")], &[Expiry], "warned"),
            ("permissive", &[], &[Expiry], "warned"),
            ("permissive", &[], &[Authenticity], "denied"),
            (
                "permissive",
                &[("authenticity", "log")],
                &[Authenticity],
                "warned",
            ),
            ("audit", &[], &[Authenticity], "warned"),
            ("audit", &[], &[Expiry], "warned"),
            // Integrity is never relaxed: audit still denies tampering.
            ("audit", &[], &[Integrity], "denied"),
            ("permissive", &[], &[Integrity], "denied"),
            // A skipped check's failure is still reported, as a warning.
            (
                "strict",
                &[("authenticity", "skip")],
                &[Authenticity],
                "warned",
            ),
        ];
        for (name, overrides, checks, want) in cases {
            let d = for_verdict(&level(name, overrides), &verdict(checks));
            assert_eq!(kind(&d), *want, "{name} {overrides:?} {checks:?}: {d:?}");
        }
    }

    #[test]
    fn unsigned_images_are_denied_except_under_audit() {
        assert_eq!(
            kind(&for_verdict(&level("strict", &[]), &unsigned())),
            "denied"
        );
        assert_eq!(
            kind(&for_verdict(&level("permissive", &[]), &unsigned())),
            "denied"
        );
        let d = for_verdict(&level("audit", &[]), &unsigned());
        assert!(
            matches!(&d, Decision::Warn(m) if m.contains("no signatures are linked")),
            "{d:?}"
        );
    }

    #[test]
    fn messages_are_bounded_whatever_a_registry_says() {
        let huge = "x".repeat(1 << 20);
        let d = when_unverifiable(
            false,
            Unverifiable::Resolve(RegistryError::Invalid {
                what: "manifest".into(),
                reason: huge.clone(),
            }),
        );
        assert!(d.message_len() <= MAX_MESSAGE + 4, "{}", d.message_len());
        let mut v = verdict(&[Check::Integrity]);
        for _ in 0..50 {
            v.signatures.push(RemoteSignatureVerdict {
                manifest_digest: huge.clone(),
                verdict: Err(huge.clone()),
            });
        }
        let d = for_verdict(&level("strict", &[]), &v);
        assert!(d.message_len() <= MAX_MESSAGE + 4, "{}", d.message_len());
    }

    #[test]
    fn a_check_that_could_not_run_warns_only_under_audit() {
        let why = || Unverifiable::Deadline(std::time::Duration::from_secs(2));
        let said = "verification did not finish within 2s".to_owned();
        assert_eq!(
            when_unverifiable(false, why()),
            Decision::Deny(said.clone())
        );
        assert_eq!(when_unverifiable(true, why()), Decision::Warn(said));
    }

    #[test]
    fn one_passing_signature_is_enough_but_a_tampered_one_is_named() {
        let mut v = verdict(&[Check::Integrity]);
        let good = verdict(&[]).signatures.remove(0);
        v.signatures.push(good);
        assert_eq!(for_verdict(&level("strict", &[]), &v), Decision::Allow);
    }
}
