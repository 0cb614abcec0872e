//! Following a registry's redirects for manifests and blobs: HTTPS only
//! (or plain HTTP on the same insecure host), never to an internal address
//! the registry itself does not have, credentials only on its own origin.

use reqwest::header::{ACCEPT, AUTHORIZATION, LOCATION};
use reqwest::{Method, Url};

use super::answer::{header_str, transport_reason};
use super::error::RegistryError;
use super::{Access, MAX_REDIRECTS, Registry, guard, pull_scope};
use crate::oci::digest::shorten;
use crate::oci::reference::Reference;

/// A response, and the host it came from when a redirect led elsewhere.
pub(super) struct Fetched {
    pub(super) resp: reqwest::Response,
    pub(super) elsewhere: Option<String>,
}

impl Registry {
    /// A manifest or blob GET, following up to [`MAX_REDIRECTS`] redirects:
    /// only to HTTPS (or plain HTTP on the same insecure registry host), never
    /// to an internal address unless the registry itself has one of that
    /// class, and with `Authorization` only on the registry's own origin.
    // Over 60 lines: one redirect hop's checks (scheme, address class, credentials) stay in one loop so none is skipped.
    pub(super) async fn get_content(
        &self,
        r: &Reference,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Fetched, RegistryError> {
        let mut resp = self
            .send(r, Access::Pull, Method::GET, url, accept, None, what)
            .await?;
        let refuse = |reason: String| RegistryError::Redirect {
            what: what.to_owned(),
            reason,
        };
        let origin = Url::parse(url).map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: format!("bad URL: {e}"),
        })?;
        let mut current = origin.clone();
        let mut elsewhere = None;
        // The registry's own internal address classes, looked up once.
        let mut own: Option<Vec<guard::AddrClass>> = None;
        for hop in 0..=MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                return Ok(Fetched { resp, elsewhere });
            }
            let Some(location) = header_str(resp.headers(), LOCATION.as_str()) else {
                return Ok(Fetched { resp, elsewhere });
            };
            if hop == MAX_REDIRECTS {
                break;
            }
            let target = current
                .join(&location)
                .map_err(|_| refuse("an unreadable Location".into()))?;
            let shown = guard::host_port(&target);
            guard::redirect_scheme_ok(&origin, &target)
                .map_err(|e| refuse(format!("{e} ({})", shorten(&shown))))?;
            let same = guard::same_origin(&origin, &target);
            let client = if same {
                &self.http
            } else {
                let host = target.host_str().unwrap_or_default();
                let addrs = guard::resolve(host)
                    .await
                    .ok()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| RegistryError::Redirected {
                        what: what.to_owned(),
                        host: shorten(&shown),
                    })?;
                let own = match &own {
                    Some(c) => c,
                    None => {
                        let addrs = guard::resolve(origin.host_str().unwrap_or_default())
                            .await
                            .unwrap_or_default();
                        let mut classes: Vec<_> = addrs
                            .into_iter()
                            .map(guard::classify)
                            .filter(|c| c.is_internal())
                            .collect();
                        classes.dedup();
                        own.insert(classes)
                    }
                };
                if let Some(class) = guard::forbidden_among(&addrs, own) {
                    return Err(refuse(format!("{}, a {class} address", shorten(&shown))));
                }
                // Off the registry's origin, the target's name is resolved
                // again at connect time: the guarded client keeps that from
                // turning internal, unless the registry itself is internal.
                if own.is_empty() {
                    self.guarded().map_err(|e| RegistryError::Invalid {
                        what: what.to_owned(),
                        reason: e.to_string(),
                    })?
                } else {
                    &self.http
                }
            };
            let mut req = client.get(target.clone());
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if same && let Some(auth) = self.auth_header(r.registry(), &pull_scope(r), false) {
                req = req.header(AUTHORIZATION, auth);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            if let Some(obs) = &self.options.observer {
                obs.observe(
                    r.registry(),
                    sent.as_ref().ok().map(|r| r.status().as_u16()),
                    started.elapsed(),
                );
            }
            resp = match sent {
                Ok(resp) => resp,
                Err(e) if same => {
                    return Err(RegistryError::Transport {
                        what: what.to_owned(),
                        reason: transport_reason(&e),
                    });
                }
                Err(e) => {
                    tracing::debug!(%what, target = %shown, error = %transport_reason(&e), "redirect target unreachable");
                    return Err(RegistryError::Redirected {
                        what: what.to_owned(),
                        host: shorten(&shown),
                    });
                }
            };
            elsewhere = (!same).then(|| shorten(&shown));
            current = target;
        }
        Err(refuse(format!("more than {MAX_REDIRECTS} times")))
    }
}
