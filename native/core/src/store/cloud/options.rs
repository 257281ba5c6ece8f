//! `storageOptions` parsed once per provider: a key as object_store names it, with
//! or without the provider's prefix (`aws_`, `google_`, `azure_`); an unknown key is
//! refused by name. The parsed settings build the plain object-store client and are
//! what an Icechunk repository's client is configured from.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::ObjectStore;

use super::{gcs, CloudUrl, Provider};
use crate::error::{Result, SaveError};

/// One provider's client options, parsed.
#[derive(Debug, Clone)]
pub enum Settings {
    S3(Vec<(AmazonS3ConfigKey, String)>),
    Gcs(Vec<(GoogleConfigKey, String)>),
    Azure(Vec<(AzureConfigKey, String)>),
}

/// `options` as one provider's config keys (`prefix`: its key prefix), with the
/// client timeouts unless given when `timeouts`.
fn parse_keys<K: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    prefix: &str,
    timeouts: bool,
) -> Result<Vec<(K, String)>> {
    // Timeouts go in as config keys: `with_client_options` would drop the client
    // settings `from_env` read (AWS_ALLOW_HTTP, ...).
    let mut options = options.clone();
    if timeouts {
        options
            .entry("connect_timeout".into())
            .or_insert_with(|| "5s".into());
        options
            .entry("timeout".into())
            .or_insert_with(|| "60s".into());
    }
    options
        .into_iter()
        .map(|(key, value)| {
            let parsed = key
                .parse()
                .or_else(|_| format!("{prefix}{key}").parse())
                .map_err(|_| {
                    SaveError::InvalidArgument(format!("storageOptions: unknown option '{key}'"))
                })?;
            Ok((parsed, value))
        })
        .collect()
}

fn invalid(e: object_store::Error) -> SaveError {
    SaveError::InvalidArgument(format!("storageOptions: {e}"))
}

impl Settings {
    /// Parse `options` (already snake_case) for `provider`, with the client timeouts
    /// every save gets unless given (a connection in 5 s, a request in 60 s).
    pub fn parse(provider: Provider, options: &BTreeMap<String, String>) -> Result<Self> {
        Self::parse_keys(provider, options, true)
    }

    /// Parse `options` as given, for a client that takes no timeouts.
    pub fn parse_as_given(provider: Provider, options: &BTreeMap<String, String>) -> Result<Self> {
        Self::parse_keys(provider, options, false)
    }

    fn parse_keys(
        provider: Provider,
        options: &BTreeMap<String, String>,
        timeouts: bool,
    ) -> Result<Self> {
        let prefix = provider.key_prefix();
        Ok(match provider {
            Provider::S3 => Settings::S3(parse_keys(options, prefix, timeouts)?),
            Provider::Gcs => Settings::Gcs(parse_keys(options, prefix, timeouts)?),
            Provider::Azure => Settings::Azure(parse_keys(options, prefix, timeouts)?),
        })
    }

    /// The GCS builder these settings make, on top of the `GOOGLE_*` environment.
    pub fn gcs_builder(keys: &[(GoogleConfigKey, String)]) -> GoogleCloudStorageBuilder {
        keys.iter()
            .fold(GoogleCloudStorageBuilder::from_env(), |b, (k, v)| {
                b.with_config(*k, v.clone())
            })
    }

    /// The Azure builder these settings make, on top of the `AZURE_*` environment.
    pub fn azure_builder(keys: &[(AzureConfigKey, String)]) -> MicrosoftAzureBuilder {
        keys.iter()
            .fold(MicrosoftAzureBuilder::from_env(), |b, (k, v)| {
                b.with_config(*k, v.clone())
            })
    }

    /// The object_store client for `url`: the environment, then the URL's bucket (and
    /// account), then these settings, with bounded retries; on GCS the credential
    /// rule of [`gcs_credential_source`](super::gcs_credential_source). The bucket is
    /// set from [`CloudUrl`], not parsed again by object_store, which knows fewer
    /// schemes (`gcs://` is not one of its own).
    pub fn client(&self, url: &CloudUrl) -> Result<Arc<dyn ObjectStore>> {
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..Default::default()
        };
        let bucket = url.bucket.as_str();
        Ok(match self {
            Settings::S3(keys) => {
                let b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let b = keys
                    .iter()
                    .fold(b, |b, (k, v)| b.with_config(*k, v.clone()));
                Arc::new(b.with_retry(retry).build().map_err(invalid)?)
            }
            Settings::Gcs(keys) => {
                let b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                let b = keys
                    .iter()
                    .fold(b, |b, (k, v)| b.with_config(*k, v.clone()));
                let b = gcs::with_credentials(b).map_err(invalid)?;
                Arc::new(b.with_retry(retry).build().map_err(invalid)?)
            }
            Settings::Azure(keys) => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
                if let Some(account) = &url.account {
                    b = b.with_account(account);
                }
                let b = keys
                    .iter()
                    .fold(b, |b, (k, v)| b.with_config(*k, v.clone()));
                Arc::new(b.with_retry(retry).build().map_err(invalid)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_taken_with_or_without_the_prefix_and_unknown_ones_named() {
        let options = BTreeMap::from([
            ("region".to_string(), "eu-west-1".to_string()),
            ("aws_endpoint".to_string(), "http://127.0.0.1:1".to_string()),
        ]);
        let Settings::S3(keys) = Settings::parse(Provider::S3, &options).unwrap() else {
            panic!("S3 settings")
        };
        assert!(keys.contains(&(AmazonS3ConfigKey::Region, "eu-west-1".into())));
        assert!(keys
            .iter()
            .any(|(k, v)| *k == AmazonS3ConfigKey::Endpoint && v == "http://127.0.0.1:1"));
        let bad = BTreeMap::from([("regoin".to_string(), "x".to_string())]);
        let err = Settings::parse(Provider::Gcs, &bad).unwrap_err();
        assert!(err.to_string().contains("unknown option 'regoin'"), "{err}");
    }
}
