//! Client settings: where Meta is (base URL, API version), timeouts, and the
//! retry, usage and batch policies, each validated before a client exists.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use graphform_types::url::{self, TransportError, check_transport, is_loopback_host};
use reqwest::Url;

use crate::retry::RetryPolicy;
use crate::usage::UsagePolicy;

/// The Graph API's production base URL.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The API version graphform is written against (graph-api.md §9).
pub const DEFAULT_API_VERSION: &str = "v26.0";

/// Meta's limit on the number of operations in one batch request.
pub const MAX_BATCH_SIZE: usize = 50;

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The API version is not of the form `vMAJOR.MINOR`.
    #[error("api version `{0}` is not of the form `vMAJOR.MINOR` (e.g. `v26.0`)")]
    ApiVersion(String),
    /// The base URL does not parse.
    #[error("Graph API base URL `{url}` is not a valid URL: {reason}")]
    BaseUrl {
        /// The URL as given (base URLs carry no secret: userinfo is refused).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The base URL has no scheme (`graph.facebook.com`): `suggestion` is
    /// the same text with `https://` in front (`http://` for a loopback
    /// host, the emulator's).
    #[error("Graph API base URL `{url}` has no scheme; write it as `{suggestion}`")]
    MissingScheme {
        /// The URL as given, without any query.
        url: String,
        /// The URL with a scheme.
        suggestion: String,
    },
    /// The base URL ends in an API version (`…/v26.0`): graphform adds
    /// the version to each request's path itself.
    #[error(
        "Graph API base URL `{url}` ends in the API version `{version}`; {hint}",
        hint = url::api_version_in_path_hint(.version)
    )]
    VersionInBaseUrl {
        /// The URL as given.
        url: String,
        /// The version its path ends in.
        version: String,
    },
    /// Plain `http://` to a host that is not loopback.
    #[error(
        "Graph API base URL `{0}` uses plain http to a host that is not loopback: tokens and app secrets would cross the network unencrypted; use https (`{https}`), or plain http only to a loopback address (127.0.0.0/8, ::1, localhost), as for the emulator",
        https = url::with_https(.0)
    )]
    InsecureBaseUrl(String),
    /// A numeric setting is out of range.
    #[error("setting `{name}` is invalid: {reason}")]
    Setting {
        /// The setting's name, e.g. `batch.size`.
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("cannot build the http client: {0}")]
    HttpClient(String),
}

/// A Graph API version, `vMAJOR.MINOR` (validated like Meta's SDKs do,
/// with the regex `v[0-9]+\.[0-9]+`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiVersion(String);

impl ApiVersion {
    /// The version as it appears in a URL path, e.g. `v26.0`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self(DEFAULT_API_VERSION.to_owned())
    }
}

impl FromStr for ApiVersion {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if url::is_api_version(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ConfigError::ApiVersion(text.to_owned()))
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated Graph base URL: `https://` anywhere, or `http://` to a
/// loopback host only (127.0.0.0/8, `::1`, `localhost`) — the emulator.
///
/// No user info, query or fragment is allowed, so the URL itself can always
/// be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// The URL, always ending in `/`.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// Whether the host is loopback (the emulator, or a local proxy).
    pub fn is_loopback(&self) -> bool {
        self.0.host_str().is_some_and(is_loopback_host)
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        DEFAULT_BASE_URL
            .parse()
            .expect("the default base url is valid")
    }
}

impl FromStr for BaseUrl {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Errors show the URL without its query or fragment: a query can
        // carry `access_token` or `appsecret_proof`.
        let shown = url::shown(text);
        let refuse = |reason: &str| ConfigError::BaseUrl {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        if !text.contains("://") {
            // `Url` reads `graph.facebook.com:443` as scheme
            // `graph.facebook.com`; without `://` there is no scheme.
            return Err(match url::with_scheme(text) {
                Some(suggestion) => ConfigError::MissingScheme {
                    url: shown.clone(),
                    suggestion,
                },
                None => refuse("it is not a URL"),
            });
        }
        let mut url = Url::parse(text).map_err(|err| refuse(&err.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Don't echo the URL: the user info might be a credential.
            return Err(ConfigError::BaseUrl {
                url: "<url with user info>".to_owned(),
                reason: "user info is not allowed in the base URL".to_owned(),
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse(
                "a query or fragment is not allowed in the base URL (it is not shown: it may hold a token)",
            ));
        }
        check_transport(&url).map_err(|err| match err {
            TransportError::NoHost => refuse("the URL has no host"),
            TransportError::PlainHttp { .. } => ConfigError::InsecureBaseUrl(shown.clone()),
            TransportError::Scheme { .. } => {
                refuse("the scheme must be https (or http to loopback)")
            }
        })?;
        if let Some(version) = url::trailing_api_version(&url) {
            return Err(ConfigError::VersionInBaseUrl {
                url: shown,
                version: version.to_owned(),
            });
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self(url))
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// How independent reads are grouped into batch requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Operations per batch request, 1 to [`MAX_BATCH_SIZE`] (default 50).
    pub size: usize,
    /// Batch requests in flight at once (default 4).
    pub concurrency: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            size: MAX_BATCH_SIZE,
            concurrency: 4,
        }
    }
}

/// Everything a [`GraphClient`](crate::GraphClient) needs, with defaults
/// for production.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Where the Graph API is (default [`DEFAULT_BASE_URL`]).
    pub base_url: BaseUrl,
    /// Where [`base_url`](Self::base_url) was set, in a few words that
    /// follow the URL in errors (e.g. ``from `GRAPHFORM_GRAPH_URL` ``), so
    /// a person knows what to change. `None`: said nothing about.
    pub base_url_origin: Option<String>,
    /// The API version in every path (default [`DEFAULT_API_VERSION`]).
    pub api_version: ApiVersion,
    /// Limit on one HTTP attempt, from connecting to the last byte
    /// (default 30 s).
    pub request_timeout: Duration,
    /// Limit on establishing a connection (default 10 s).
    pub connect_timeout: Duration,
    /// When and how failed calls are retried.
    pub retry: RetryPolicy,
    /// How usage headers slow the client down.
    pub usage: UsagePolicy,
    /// How reads are batched.
    pub batch: BatchOptions,
    /// Seed for the backoff jitter; `None` seeds from the OS. Tests set it
    /// so that delays are reproducible.
    pub jitter_seed: Option<u64>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            base_url: BaseUrl::default(),
            base_url_origin: None,
            api_version: ApiVersion::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            usage: UsagePolicy::default(),
            batch: BatchOptions::default(),
            jitter_seed: None,
        }
    }
}

impl ClientSettings {
    /// Default settings pointed at `base_url` (e.g. the emulator's).
    pub fn for_base_url(base_url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: base_url.parse()?,
            ..Self::default()
        })
    }

    /// Checks the numeric settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let setting = |name, reason: &str| {
            Err(ConfigError::Setting {
                name,
                reason: reason.to_owned(),
            })
        };
        if self.batch.size == 0 || self.batch.size > MAX_BATCH_SIZE {
            return setting("batch.size", "must be between 1 and 50");
        }
        if self.batch.concurrency == 0 {
            return setting("batch.concurrency", "must be at least 1");
        }
        if self.retry.max_attempts == 0 {
            return setting("retry.max_attempts", "must be at least 1");
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return setting("timeout", "must be more than zero");
        }
        let usage = &self.usage;
        if !(usage.slow_down_at_percent > 0.0
            && usage.slow_down_at_percent < usage.pause_at_percent
            && usage.pause_at_percent <= 100.0)
        {
            return setting(
                "usage",
                "need 0 < slow_down_at_percent < pause_at_percent <= 100",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_accepts_only_v_major_dot_minor() {
        for good in ["v26.0", "v1.0", "v123.45"] {
            assert_eq!(good.parse::<ApiVersion>().unwrap().as_str(), good);
        }
        for bad in [
            "26.0", "v26", "v26.", "v.0", "V26.0", "v26.0.1", "v26.x", "", " v26.0", "v26.0/",
        ] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad} accepted");
        }
        assert_eq!(ApiVersion::default().as_str(), "v26.0");
    }

    #[test]
    fn https_is_accepted_anywhere() {
        let url: BaseUrl = "https://graph.facebook.com".parse().unwrap();
        assert_eq!(url.to_string(), "https://graph.facebook.com/");
        assert!(!url.is_loopback());
        let proxied: BaseUrl = "https://proxy.example/graph".parse().unwrap();
        assert_eq!(proxied.to_string(), "https://proxy.example/graph/");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for good in [
            "http://127.0.0.1:8080",
            "http://127.3.2.1",
            "http://localhost:1234",
            "http://LOCALHOST",
            "http://[::1]:99",
        ] {
            let url: BaseUrl = good.parse().unwrap_or_else(|e| panic!("{good}: {e}"));
            assert!(url.is_loopback(), "{good}");
        }
        for bad in [
            "http://graph.facebook.com",
            "http://10.0.0.1",
            "http://192.168.1.1:80",
            "http://localhost.evil.example",
            "http://128.0.0.1",
            "http://[::2]",
            "http://0.0.0.0",
        ] {
            assert!(
                matches!(bad.parse::<BaseUrl>(), Err(ConfigError::InsecureBaseUrl(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn odd_urls_are_refused_without_echoing_credentials() {
        for bad in ["ftp://x", "not a url", "https://x/?q=1", "https://x/#f"] {
            assert!(bad.parse::<BaseUrl>().is_err(), "{bad} accepted");
        }
        let err = "https://user:hunter2@x".parse::<BaseUrl>().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_url_without_scheme_gets_one_suggested() {
        for (bad, want) in [
            ("graph.facebook.com", "https://graph.facebook.com"),
            (
                "graph.facebook.com:443/x",
                "https://graph.facebook.com:443/x",
            ),
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("localhost:9", "http://localhost:9"),
        ] {
            match bad.parse::<BaseUrl>() {
                Err(ConfigError::MissingScheme { suggestion, .. }) => {
                    assert_eq!(suggestion, want, "{bad}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_url_never_shows_its_query() {
        for bad in [
            "https://x/?access_token=EAAsecret",
            "http://10.0.0.1/?appsecret_proof=EAAsecret",
            "graph.facebook.com?access_token=EAAsecret",
            "ftp://x/#EAAsecret",
        ] {
            let err = bad.parse::<BaseUrl>().unwrap_err();
            assert!(!err.to_string().contains("EAAsecret"), "{err}");
        }
        let err = "http://graph.facebook.com".parse::<BaseUrl>().unwrap_err();
        assert!(
            err.to_string()
                .contains("use https (`https://graph.facebook.com`)"),
            "{err}"
        );
    }

    #[test]
    fn settings_validation() {
        assert!(ClientSettings::default().validate().is_ok());
        let mut settings = ClientSettings::default();
        settings.batch.size = 51;
        assert!(settings.validate().is_err());
        settings.batch.size = 0;
        assert!(settings.validate().is_err());
        let mut settings = ClientSettings::default();
        settings.retry.max_attempts = 0;
        assert!(settings.validate().is_err());
    }
}
