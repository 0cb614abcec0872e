//! Sending one registry request with its credentials, answering one auth
//! challenge (basic or bearer token) and sending it again, once.

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::answer::transport_reason;
use super::auth;
use super::error::RegistryError;
use super::{Access, Registry, pull_scope};
use crate::oci::reference::Reference;

impl Registry {
    pub(super) async fn send_typed(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_inner(
            r,
            Access::Push,
            method,
            url,
            None,
            Some((content_type, body)),
            what,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send(
        &self,
        r: &Reference,
        access: Access,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let body = body.map(|b| ("application/octet-stream", b));
        self.send_inner(r, access, method, url, accept, body, what)
            .await
    }

    /// Sends one request, answering one auth challenge if the registry
    /// poses it (then the request is sent again, once).
    #[allow(clippy::too_many_arguments)]
    // Over 60 lines: the send / challenge / resend loop is one state machine.
    pub(super) async fn send_inner(
        &self,
        r: &Reference,
        access: Access,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = r.registry().to_owned();
        let scope = match access {
            Access::Push => format!("repository:{}:pull,push", r.repository()),
            Access::Pull => pull_scope(r),
        };
        // What the challenge just granted, used even if the store did not keep it.
        let mut granted: Option<HeaderValue> = None;
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some((ct, b)) = &body {
                req = req.header(CONTENT_TYPE, *ct).body(b.clone());
            }
            if let Some(auth) = granted
                .clone()
                .or_else(|| self.auth_header(&host, &scope, false))
            {
                req = req.header(AUTHORIZATION, auth);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            if let Some(obs) = &self.options.observer {
                obs.observe(
                    &host,
                    sent.as_ref().ok().map(|r| r.status().as_u16()),
                    started.elapsed(),
                );
            }
            let resp = sent.map_err(|e| RegistryError::Transport {
                what: what.to_owned(),
                reason: transport_reason(&e),
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if resp.status() == StatusCode::UNAUTHORIZED {
                    return Err(RegistryError::Auth {
                        what: what.to_owned(),
                        reason: "the registry refused the credentials".into(),
                    });
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge);
            match challenge {
                Some(auth::Challenge::Basic) => {
                    if self.options.credentials.for_host(&host).is_none() {
                        return Err(RegistryError::Auth {
                            what: what.to_owned(),
                            reason: "the registry requires credentials (use -u/-p or docker login)"
                                .into(),
                        });
                    }
                    self.options.auth_store.basic(self.id, &host);
                    granted = self.auth_header(&host, &scope, true);
                }
                Some(auth::Challenge::Bearer {
                    realm,
                    service,
                    scope: asked,
                }) => {
                    let token_scope = asked.unwrap_or_else(|| scope.clone());
                    let (token, ttl) = self
                        .fetch_token(r, &realm, service.as_deref(), &token_scope, what)
                        .await?;
                    granted = Some(token.clone());
                    self.options
                        .auth_store
                        .bearer(self.id, &host, &scope, token, ttl);
                }
                None => {
                    return Err(RegistryError::Auth {
                        what: what.to_owned(),
                        reason: "401 without a usable WWW-Authenticate challenge".into(),
                    });
                }
            }
        }
        Err(RegistryError::Auth {
            what: what.to_owned(),
            reason: "authentication did not complete".into(),
        })
    }
}
