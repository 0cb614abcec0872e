//! The `WWW-Authenticate` answer: Basic, or the Bearer token flow under the
//! realm rules (HTTPS for HTTPS registries, credentials only to the
//! registry's host or an `--auth-host`, no internal addresses elsewhere).

use super::*;

impl Registry {
    /// The `Authorization` value for `host` and `scope`: a held token, or
    /// Basic credentials when the host asked for them (or `basic` says so).
    pub(super) fn auth_header(&self, host: &str, scope: &str, basic: bool) -> Option<HeaderValue> {
        let store = &self.options.auth_store;
        if let Some(tokens::Grant::Bearer(value)) = store.get(self.id, host, scope) {
            return Some(value);
        }
        if basic || matches!(store.get(self.id, host, ""), Some(tokens::Grant::Basic)) {
            let mut value =
                HeaderValue::from_str(&self.options.credentials.for_host(host)?.header()).ok()?;
            value.set_sensitive(true);
            return Some(value);
        }
        None
    }

    /// The Bearer token flow: GET realm?service=…&scope=…, and the token's
    /// lifetime (`expires_in`, else 60 s). The realm is the registry's
    /// choice, so:
    /// - it must be HTTPS when the registry is;
    /// - the registry's credentials go with the request only when the realm
    ///   is on the registry's own host, or on one `--auth-host` names for it;
    /// - a realm on any other host may not be an internal address (checked
    ///   at connect time by the guarded client);
    /// - the answer goes to the registry that asked, and nowhere else.
    // Over 60 lines: the bearer flow's checks in order (realm host, address class, size, lifetime); split, they could be reordered.
    pub(super) async fn fetch_token(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        what: &str,
    ) -> Result<(HeaderValue, Duration), RegistryError> {
        let host = r.registry();
        let auth_err = |reason: String| RegistryError::Auth {
            what: what.to_owned(),
            reason,
        };
        let realm_url = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or_else(|| {
                auth_err(format!(
                    "token realm {:?} is not an http(s) URL",
                    shorten(realm)
                ))
            })?;
        let realm_host = guard::host_port(&realm_url);
        let shown = shorten(&realm_host);
        if realm_url.scheme() == "http" && !self.plain(r) {
            return Err(auth_err(format!(
                "token realm {shown} is plain HTTP for an HTTPS registry; refused"
            )));
        }
        let registry_url = Url::parse(&self.base_url(r)).map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: format!("bad URL: {e}"),
        })?;
        // The registry's own host name, any port: the credentials sent are
        // the ones configured for this host (a realm elsewhere needs --auth-host).
        let own_host = guard::same_host(&realm_url, &registry_url);
        let api_host = guard::host_port(&registry_url);
        let configured = self.options.auth_hosts.iter().any(|a| {
            (a.registry.eq_ignore_ascii_case(host) || a.registry == api_host)
                && a.host == realm_host
        });
        let client = if own_host || configured {
            &self.http
        } else {
            let addrs = guard::resolve(realm_url.host_str().unwrap_or_default())
                .await
                .unwrap_or_default();
            if let Some(class) = guard::forbidden_among(&addrs, &[]) {
                return Err(auth_err(format!(
                    "token realm {shown} is a {class} address; refused (a token service on another host must be named with --auth-host {host}={realm_host})"
                )));
            }
            self.guarded().map_err(|e| auth_err(e.to_string()))?
        };
        let mut url = realm_url;
        url.query_pairs_mut().append_pair("scope", scope);
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", s);
        }
        let mut req = client.get(url);
        if (own_host || configured)
            && let Some(b) = self.options.credentials.for_host(host)
        {
            req = req.header(AUTHORIZATION, b.header());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| auth_err(format!("token service {shown}: {}", transport_reason(&e))))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(auth_err(format!("token service answered {status}")));
        }
        let body = read_body(resp, MAX_SMALL_BODY, "token response").await?;
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<serde_json::Value>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("token response: {}", one_line(e))))?;
        let ttl = t
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64())
            .filter(|s| *s > 0)
            .map_or(tokens::DEFAULT_TOKEN_TTL, Duration::from_secs)
            .min(tokens::MAX_TOKEN_TTL);
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_err("token response has no token".into()))?;
        if token.len() > tokens::MAX_TOKEN {
            return Err(auth_err(format!(
                "token response: the token is larger than {} bytes; refused",
                tokens::MAX_TOKEN
            )));
        }
        let mut value = token
            .bytes()
            .all(|b| b.is_ascii_graphic())
            .then(|| HeaderValue::from_str(&format!("Bearer {token}")).ok())
            .flatten()
            .ok_or_else(|| auth_err("token response: the token is not printable ASCII".into()))?;
        value.set_sensitive(true);
        Ok((value, ttl))
    }
}
