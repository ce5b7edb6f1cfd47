//! The store's settings (region, prefix, endpoint), checked before anything is sent.

use crate::StoreError;
use graphform_types::url::{TransportError, check_transport, is_loopback_host};

// Settings.

pub(super) fn check_region(region: Option<String>) -> Result<String, StoreError> {
    let Some(region) = region.filter(|region| !region.is_empty()) else {
        return Err(StoreError::Config {
            message: "the aws-secrets-manager store has no region".to_owned(),
            hint: Some(
                "set `store.region` in the policy (e.g. `region: eu-west-1`), or `AWS_REGION`"
                    .to_owned(),
            ),
        });
    };
    let valid = region.len() <= 64
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(region)
    } else {
        Err(StoreError::Config {
            message: format!("{region:?} is not an AWS region"),
            hint: Some("regions look like `eu-west-1` or `us-east-1`".to_owned()),
        })
    }
}

/// The longest name prefix accepted (a bound that keeps every secret name
/// within [`AWS_MAX_NAME_LEN`](super::AWS_MAX_NAME_LEN)).
pub(super) const MAX_PREFIX_LEN: usize = 256;

pub(super) fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=.@-".contains(c))
        });
    if valid {
        Ok(())
    } else {
        Err(StoreError::Config {
            message: format!("{prefix:?} is not a valid secret name prefix"),
            hint: Some(
                "use segments of letters, digits and `_+=.@-` joined by `/`, e.g. `graphform` \
                 or `ci/graphform`"
                    .to_owned(),
            ),
        })
    }
}

/// The endpoint's URL (`scheme://host[:port]/`) and whether it is a
/// loopback address.
pub(super) fn endpoint_url(
    endpoint: Option<&str>,
    region: &str,
) -> Result<(reqwest::Url, bool), StoreError> {
    let text = endpoint.map_or_else(
        || format!("https://secretsmanager.{region}.amazonaws.com"),
        str::to_owned,
    );
    let refuse = |why: &str| StoreError::Config {
        message: format!("the endpoint URL {text:?} {why}"),
        hint: Some(
            "use `https://host[:port]`, or `http://127.0.0.1:PORT` for a local emulator such as \
             moto"
                .to_owned(),
        ),
    };
    let url = reqwest::Url::parse(&text).map_err(|_| refuse("is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("has credentials in it"));
    }
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err(refuse("has a path, query or fragment"));
    }
    match check_transport(&url) {
        Ok(()) => {}
        Err(TransportError::NoHost) => return Err(refuse("has no host")),
        Err(TransportError::PlainHttp { .. }) => {
            return Err(refuse(
                "is plain http to a host that is not loopback: credentials and tokens would \
                 travel unencrypted",
            ));
        }
        Err(TransportError::Scheme { .. }) => return Err(refuse("is neither https nor http")),
    }
    let loopback = url.host_str().is_some_and(is_loopback_host);
    Ok((url, loopback))
}

// ---------------------------------------------------------------------------
