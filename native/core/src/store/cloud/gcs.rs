//! Which credentials a GCS client uses: it asks the cloud metadata server for a
//! token only when nothing else was given, and then within a bound. One rule for the
//! plain `gs://` client and Icechunk's.

use std::sync::Arc;
use std::time::Duration;

/// How long a `gs://` save waits for the metadata server's token when it is the only
/// credential source left: on a cloud VM it answers in milliseconds, elsewhere the
/// request would otherwise hang until the connection and retry timeouts run out.
const METADATA_WAIT: Duration = Duration::from_secs(5);

/// Where a GCS client takes its token from, chosen so that it asks the metadata
/// server only when nothing else was given:
///
/// - `skip_signature`, or a `base_url` (an emulator, a proxy) with no credentials:
///   [`GcsCredentialSource::None`].
/// - a service account (path or key), `application_credentials`, a `bearer_token` (from
///   storageOptions or `GOOGLE_*` variables) or gcloud's application-default file:
///   [`GcsCredentialSource::Given`], object_store's own handling.
/// - nothing: [`GcsCredentialSource::MetadataServer`], bounded by `METADATA_WAIT` (5 s) and
///   failing with the list of the sources that were looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcsCredentialSource {
    None,
    Given,
    MetadataServer,
}

/// The credential source of a GCS client `builder` would build.
pub fn credential_source(
    builder: &object_store::gcp::GoogleCloudStorageBuilder,
) -> GcsCredentialSource {
    use object_store::gcp::GoogleConfigKey as Key;
    let set = |key: Key| {
        builder
            .get_config_value(&key)
            .is_some_and(|v| !v.is_empty())
    };
    let skip = builder
        .get_config_value(&Key::SkipSignature)
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "y" | "on"
            )
        });
    let given = [
        Key::ServiceAccount,
        Key::ServiceAccountKey,
        Key::ApplicationCredentials,
        Key::BearerToken,
    ]
    .into_iter()
    .any(set)
        || gcloud_default_credentials_file().is_some_and(|p| p.exists());
    if skip || (!given && set(Key::BaseUrl)) {
        GcsCredentialSource::None
    } else if given {
        GcsCredentialSource::Given
    } else {
        GcsCredentialSource::MetadataServer
    }
}

/// The GCS client's credentials by [`credential_source`]. With no token at all,
/// object_store's GCS client still fetches one for writes even with `skip_signature`,
/// so an empty bearer (as its `disable_oauth` keys do) is set.
pub(super) fn with_credentials(
    builder: object_store::gcp::GoogleCloudStorageBuilder,
) -> std::result::Result<object_store::gcp::GoogleCloudStorageBuilder, object_store::Error> {
    use object_store::gcp::GcpCredential;
    use object_store::StaticCredentialProvider;
    Ok(match credential_source(&builder) {
        GcsCredentialSource::None => {
            let anonymous = StaticCredentialProvider::new(GcpCredential {
                bearer: String::new(),
            });
            builder
                .with_skip_signature(true)
                .with_credentials(Arc::new(anonymous))
        }
        GcsCredentialSource::Given => builder,
        GcsCredentialSource::MetadataServer => {
            let provider = metadata_server_credentials(builder.clone())?;
            builder.with_credentials(provider)
        }
    })
}

/// The token provider object_store would use for `builder` when nothing was given (the
/// metadata server), bounded by [`METADATA_WAIT`], with an error that says where else
/// credentials could have come from.
pub(crate) fn metadata_server_credentials(
    builder: object_store::gcp::GoogleCloudStorageBuilder,
) -> std::result::Result<object_store::gcp::GcpCredentialProvider, object_store::Error> {
    let inner = builder.build()?.credentials().clone();
    Ok(Arc::new(MetadataServerCredentials { inner }))
}

/// gcloud's application-default credentials file, which object_store reads when present.
fn gcloud_default_credentials_file() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(std::path::Path::new(&home).join(".config/gcloud/application_default_credentials.json"))
}

/// The metadata server's token, or within [`METADATA_WAIT`] an error naming every
/// credential source that was tried.
#[derive(Debug)]
struct MetadataServerCredentials {
    inner: object_store::gcp::GcpCredentialProvider,
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for MetadataServerCredentials {
    type Credential = object_store::gcp::GcpCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<Self::Credential>> {
        let why = match tokio::time::timeout(METADATA_WAIT, self.inner.get_credential()).await {
            Ok(Ok(credential)) => return Ok(credential),
            Ok(Err(object_store::Error::Generic { source, .. })) => source.to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", METADATA_WAIT.as_secs()),
        };
        Err(object_store::Error::Generic {
            store: "GCS",
            source: format!(
                "no Google Cloud credentials: none in storageOptions (serviceAccount, \
                 serviceAccountKey, applicationCredentials, bearerToken, skipSignature, baseUrl), \
                 none in GOOGLE_* environment variables, no gcloud application-default file \
                 (~/.config/gcloud/application_default_credentials.json), and the metadata \
                 server (metadata.google.internal, 169.254.169.254) gave no token: {why}"
            )
            .into(),
        })
    }
}
