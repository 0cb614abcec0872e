//! Writing to a registry: blob uploads (monolithic, refusing an upload
//! `Location` off the registry's origin) and manifest puts.

use super::*;

impl Registry {
    /// Uploads a blob to `r`'s repository unless it is already there.
    // Over 60 lines: the upload protocol's steps (start, PUT, or PATCH then PUT) in order.
    pub async fn push_blob(&self, r: &Reference, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let what = format!("blob {digest}");
        let base = self.base_url(r);
        let head = self
            .send(
                r,
                Access::Push,
                Method::HEAD,
                &format!("{base}/blobs/{digest}"),
                None,
                None,
                &what,
            )
            .await?;
        if head.status() == StatusCode::OK {
            return Ok(digest);
        }
        let start = self
            .send(
                r,
                Access::Push,
                Method::POST,
                &format!("{base}/blobs/uploads/"),
                None,
                Some(Vec::new()),
                &what,
            )
            .await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(status_error(start, &what).await);
        }
        let location = header_str(start.headers(), LOCATION.as_str()).ok_or_else(|| {
            RegistryError::Invalid {
                what: what.clone(),
                reason: "upload started without a Location".into(),
            }
        })?;
        // The upload goes where the registry says, with its credentials: on
        // its own origin only (the same rule as for redirects).
        let base_url = Url::parse(&base).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            reason: format!("bad URL: {e}"),
        })?;
        let mut upload = base_url
            .join(&location)
            .ok()
            .filter(|u| guard::same_origin(u, &base_url))
            .ok_or_else(|| RegistryError::Invalid {
                what: what.clone(),
                reason: format!(
                    "upload location {:?} is not on the registry's own origin; refused",
                    shorten(&location)
                ),
            })?;
        upload
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let upload = upload.to_string();
        let done = self
            .send(
                r,
                Access::Push,
                Method::PUT,
                &upload,
                None,
                Some(bytes.to_vec()),
                &what,
            )
            .await?;
        if done.status() != StatusCode::CREATED {
            return Err(status_error(done, &what).await);
        }
        Ok(digest)
    }

    /// Uploads manifest `bytes` to `r`'s repository under `tag_or_digest`.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<PutManifest, RegistryError> {
        let digest = Digest::of(&bytes);
        let what = format!("manifest {}:{}", r.repo_name(), tag_or_digest);
        let url = format!("{}/manifests/{tag_or_digest}", self.base_url(r));
        let resp = self
            .send_typed(r, Method::PUT, &url, media_type, bytes, &what)
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, &what).await);
        }
        if let Some(h) = header_str(resp.headers(), "docker-content-digest")
            && h != digest.as_str()
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_string(),
                got: h,
            });
        }
        Ok(PutManifest {
            subject_handled: resp.headers().contains_key("oci-subject"),
            digest,
        })
    }
}
