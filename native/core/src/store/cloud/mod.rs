//! Object-store URLs and their clients, for every store that reaches a cloud: the one
//! table of schemes, the one parser of `storageOptions` (with the `AWS_*`, `GOOGLE_*`,
//! `AZURE_*` environment beneath it), the GCS credential rule, and the runtime all
//! object-store I/O runs on. The plain object store and Icechunk repositories both
//! get their provider here, so a scheme or an option means the same to both.

mod gcs;
mod options;
mod runtime;

// Only Icechunk's storage needs it outside this module.
#[cfg(feature = "icechunk")]
pub(crate) use gcs::metadata_server_credentials;
pub use gcs::{credential_source as gcs_credential_source, GcsCredentialSource};
pub use options::Settings;
pub use runtime::runtime;

use crate::error::{Result, SaveError};

/// The clouds zarr-saver writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    S3,
    Gcs,
    Azure,
}

impl Provider {
    /// How the provider's option keys may be prefixed (`aws_region` or `region`).
    fn key_prefix(self) -> &'static str {
        match self {
            Provider::S3 => "aws_",
            Provider::Gcs => "google_",
            Provider::Azure => "azure_",
        }
    }
}

/// Every URL scheme that names an object store, and its provider. The facade asks
/// for this table; nothing else lists schemes.
pub const SCHEMES: &[(&str, Provider)] = &[
    ("s3", Provider::S3),
    ("s3a", Provider::S3),
    ("gs", Provider::Gcs),
    ("gcs", Provider::Gcs),
    ("az", Provider::Azure),
    ("azure", Provider::Azure),
    ("abfs", Provider::Azure),
    ("abfss", Provider::Azure),
];

/// The schemes of [`SCHEMES`], in its order.
pub fn schemes() -> Vec<&'static str> {
    SCHEMES.iter().map(|(s, _)| *s).collect()
}

/// An object-store location: its provider, bucket (or Azure container) and the
/// prefix inside it.
#[derive(Debug, Clone)]
pub struct CloudUrl {
    pub url: url::Url,
    pub provider: Provider,
    /// The bucket, or the Azure container.
    pub bucket: String,
    /// The storage account an `abfs://container@account.dfs.core.windows.net` URL names.
    pub account: Option<String>,
    /// The path inside the bucket, without leading or trailing `/`.
    pub prefix: String,
}

impl CloudUrl {
    /// Parse `location`, refusing a scheme that is not in [`SCHEMES`] with the same
    /// error for every store.
    pub fn parse(location: &str) -> Result<Self> {
        let shown = super::redact(location);
        let url = url::Url::parse(location).map_err(|e| {
            SaveError::InvalidArgument(format!("filePath '{shown}' is not a valid URL: {e}"))
        })?;
        let scheme = url.scheme().to_ascii_lowercase();
        let Some(&(_, provider)) = SCHEMES.iter().find(|(s, _)| *s == scheme) else {
            let known: Vec<String> = schemes().iter().map(|s| format!("{s}://")).collect();
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{shown}': unknown scheme '{scheme}://'; zarr-saver writes to a local \
                 path, file:// or {}",
                known.join(", ")
            )));
        };
        let host = url.host_str().unwrap_or_default().to_string();
        // abfs(s)://container@account.dfs.core.windows.net/path (Hadoop's form) or
        // abfs(s)://container/path (fsspec's), as object_store reads them.
        let (bucket, account) = if url.username().is_empty() {
            (host, None)
        } else {
            let account = host.split('.').next().unwrap_or_default().to_string();
            (url.username().to_string(), Some(account))
        };
        if bucket.is_empty() {
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{shown}' must name a bucket ({scheme}://bucket/path)"
            )));
        }
        let prefix = url.path().trim_matches('/').to_string();
        Ok(Self {
            url,
            provider,
            bucket,
            account,
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses_to_its_provider_and_others_are_refused_alike() {
        for (scheme, provider) in SCHEMES {
            let url = CloudUrl::parse(&format!("{scheme}://bkt/a/b.zarr")).unwrap();
            assert_eq!(url.provider, *provider);
            assert_eq!(
                (url.bucket.as_str(), url.prefix.as_str()),
                ("bkt", "a/b.zarr")
            );
        }
        let err = CloudUrl::parse("ftp://host/x").unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert!(err.to_string().contains("unknown scheme 'ftp://'"), "{err}");
    }

    #[test]
    fn abfs_urls_name_their_container_either_way() {
        let hadoop = CloudUrl::parse("abfss://data@acct.dfs.core.windows.net/runs/x").unwrap();
        assert_eq!(hadoop.bucket, "data");
        assert_eq!(hadoop.account.as_deref(), Some("acct"));
        assert_eq!(hadoop.prefix, "runs/x");
        let fsspec = CloudUrl::parse("abfs://data/runs/x").unwrap();
        assert_eq!((fsspec.bucket.as_str(), fsspec.account), ("data", None));
    }
}
