//! Icechunk's object-store clients, configured from `store::cloud`: the same URLs,
//! the same parsed `storageOptions` and the same GCS credential rule as a plain save.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use icechunk::Storage;
use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;

use super::{block_on, io_error};
use crate::error::{Result, SaveError};
use crate::store::cloud::{
    gcs_credential_source, metadata_server_credentials, CloudUrl, GcsCredentialSource, Provider,
    Settings,
};
use crate::store::redact;

/// An object-store repository at `bucket/prefix` of any scheme `store::cloud`
/// knows, with the client options of `storageOptions`.
pub(super) fn object_storage(
    location: &str,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn Storage + Send + Sync>> {
    let shown = redact(location);
    let url = CloudUrl::parse(location)?;
    if url.prefix.is_empty() {
        return Err(SaveError::InvalidArgument(format!(
            "filePath '{shown}' must name a bucket and a prefix inside it ({}://bucket/repo)",
            url.url.scheme()
        )));
    }
    let settings = match url.provider {
        Provider::S3 => Settings::parse_as_given(Provider::S3, options)?,
        provider => Settings::parse(provider, options)?,
    };
    let storage = match settings {
        Settings::S3(keys) => block_on(s3_storage(url, keys)?),
        Settings::Gcs(keys) => gcs_storage(url, keys)?,
        Settings::Azure(keys) => block_on(azure_storage(url, keys)?),
    };
    storage.map_err(|e| io_error(&format!("opening {shown}"), e.kind()))
}

type StorageResult = icechunk::storage::StorageResult<Arc<dyn Storage + Send + Sync>>;

/// Icechunk's S3 client, which takes the subset of the parsed options below (any
/// other is refused by name).
fn s3_storage(
    url: CloudUrl,
    keys: Vec<(AmazonS3ConfigKey, String)>,
) -> Result<impl core::future::Future<Output = StorageResult>> {
    use icechunk::storage::{S3Credentials, S3Options, S3StaticCredentials};
    let flag = |key: &str, value: &str| match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SaveError::InvalidArgument(format!(
            "storageOptions.{key} must be true or false"
        ))),
    };
    // As object_store reads the environment when no option says otherwise.
    let env_http = std::env::var("AWS_ALLOW_HTTP").ok();
    let mut config = S3Options::default();
    config.allow_http = env_http.is_some_and(|v| flag("allowHttp", &v).unwrap_or(false));
    let (mut key_id, mut secret, mut token) = (None, None, None);
    for (key, value) in keys {
        let name = key.as_ref().to_string();
        match name.as_str() {
            "aws_endpoint" => config.endpoint_url = Some(value),
            "aws_region" | "aws_default_region" => config.region = Some(value),
            "aws_access_key_id" => key_id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            "allow_http" => config.allow_http = flag(&name, &value)?,
            "aws_skip_signature" => config.anonymous = flag(&name, &value)?,
            _ => {
                return Err(SaveError::InvalidArgument(format!(
                    "storageOptions: option '{name}' is not taken by an Icechunk repository on S3; \
                     it takes endpoint, region, access_key_id, secret_access_key, session_token, \
                     allow_http and skip_signature"
                )))
            }
        }
    }
    let credentials = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => {
            S3Credentials::Static(S3StaticCredentials {
                access_key_id,
                secret_access_key,
                session_token: token,
                expires_after: None,
            })
        }
        (None, None) if config.anonymous => S3Credentials::Anonymous,
        (None, None) => S3Credentials::FromEnv,
        _ => {
            return Err(SaveError::InvalidArgument(
                "storageOptions: accessKeyId and secretAccessKey go together".into(),
            ))
        }
    };
    Ok(icechunk::new_s3_object_store_storage(
        config,
        url.bucket,
        Some(url.prefix),
        Some(credentials),
        Vec::new(),
        Vec::new(),
    ))
}

/// Parsed client options as the names Icechunk's constructors parse again.
fn by_name<K: AsRef<str>>(config: Vec<(K, String)>) -> HashMap<String, String> {
    config
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v))
        .collect()
}

/// Icechunk's Azure client, configured as a plain `az://` save's client is: the
/// `AZURE_*` environment, then every option of `storageOptions` (the account name
/// among them, or `AZURE_STORAGE_ACCOUNT_NAME`, or the account an `abfs://` URL names).
fn azure_storage(
    url: CloudUrl,
    keys: Vec<(AzureConfigKey, String)>,
) -> Result<impl core::future::Future<Output = StorageResult>> {
    let builder = Settings::azure_builder(&keys);
    let account = builder
        .get_config_value(&AzureConfigKey::AccountName)
        .filter(|a| !a.is_empty())
        .or(url.account)
        .ok_or_else(|| {
            SaveError::InvalidArgument(
                "storageOptions.accountName (or AZURE_STORAGE_ACCOUNT_NAME) must name the \
                 storage account of an az:// Icechunk repository"
                    .into(),
            )
        })?;
    Ok(icechunk::storage::new_azure_blob_storage(
        account,
        url.bucket,
        Some(url.prefix),
        None, // the environment, then `keys`: as the plain client
        Some(by_name(keys)),
    ))
}

/// Icechunk's GCS client, with the plain `gs://` client's options and its rule for
/// credentials: no token for `skipSignature` or an emulator's `baseUrl`, the given
/// ones as object_store reads them, and the metadata server only when nothing was
/// given, within a bound.
fn gcs_storage(url: CloudUrl, mut config: Vec<(GoogleConfigKey, String)>) -> Result<StorageResult> {
    use icechunk::storage::{GcsBearerCredential, GcsCredentials, GcsStaticCredentials};
    let bucket = url.bucket;
    let builder = Settings::gcs_builder(&config);
    let credentials = match gcs_credential_source(&builder) {
        GcsCredentialSource::None => {
            config.push((GoogleConfigKey::SkipSignature, "true".into()));
            GcsCredentials::Static(GcsStaticCredentials::BearerToken(GcsBearerCredential {
                bearer: String::new(),
                expires_after: None,
            }))
        }
        GcsCredentialSource::Given => GcsCredentials::FromEnv,
        GcsCredentialSource::MetadataServer => {
            GcsCredentials::Refreshable(Arc::new(MetadataServerToken::new(bucket.clone())))
        }
    };
    Ok(icechunk::storage::new_gcs_storage(
        bucket,
        Some(url.prefix),
        Some(credentials),
        Some(by_name(config)),
        Vec::new(),
        Vec::new(),
    ))
}

/// A GCS token from the metadata server, as a plain `gs://` save gets one when nothing
/// else was given: bounded in time, failing with the sources that were looked at.
/// (Icechunk asks for credentials through this serialisable trait.)
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct MetadataServerToken {
    bucket: String,
    /// Built on first use; it caches the token until it expires.
    #[serde(skip)]
    provider: OnceLock<object_store::gcp::GcpCredentialProvider>,
}

impl MetadataServerToken {
    fn new(bucket: String) -> Self {
        Self {
            bucket,
            provider: OnceLock::new(),
        }
    }
}

#[async_trait::async_trait]
#[typetag::serde(name = "zarr_saver_metadata_server_token")]
impl icechunk::storage::GcsCredentialsFetcher for MetadataServerToken {
    async fn get(&self) -> std::result::Result<icechunk::storage::GcsBearerCredential, String> {
        let provider = match self.provider.get() {
            Some(p) => p.clone(),
            None => {
                let builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&self.bucket);
                let p = metadata_server_credentials(builder).map_err(|e| e.to_string())?;
                self.provider.get_or_init(|| p).clone()
            }
        };
        let token = provider.get_credential().await.map_err(|e| match e {
            object_store::Error::Generic { source, .. } => source.to_string(),
            other => other.to_string(),
        })?;
        Ok(icechunk::storage::GcsBearerCredential {
            bearer: token.bearer.clone(),
            // None: asked again for every request, answered from the provider's cache
            expires_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cloud::SCHEMES;
    use crate::store::object::ObjectStorage;

    /// Options that let each provider's client be built without reaching anything.
    fn options(provider: Provider) -> BTreeMap<String, String> {
        let pairs: &[(&str, &str)] = match provider {
            Provider::S3 => &[("endpoint", "http://127.0.0.1:1"), ("allow_http", "true")],
            Provider::Gcs => &[
                ("base_url", "http://127.0.0.1:1"),
                ("skip_signature", "true"),
            ],
            Provider::Azure => &[("account_name", "acct"), ("access_key", "a2V5")],
        };
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_scheme_is_taken_by_plain_stores_and_repositories_alike() {
        for (scheme, provider) in SCHEMES {
            let location = format!("{scheme}://bkt/repo");
            let opts = options(*provider);
            assert!(
                ObjectStorage::open(&location, &opts, 1, Default::default()).is_ok(),
                "plain {scheme}"
            );
            assert!(
                object_storage(&location, &opts).is_ok(),
                "icechunk {scheme}"
            );
        }
        let plain = ObjectStorage::open("ftp://bkt/repo", &BTreeMap::new(), 1, Default::default())
            .unwrap_err();
        let repo = object_storage("ftp://bkt/repo", &BTreeMap::new())
            .err()
            .unwrap();
        assert_eq!(plain.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert_eq!(plain.to_string(), repo.to_string());
    }
}
