//! The Vault token and the store's settings, checked before anything is sent.

use super::{TOKEN, VaultSettings, error_chain};
use crate::{CredentialSource, Secret, StoreError};
use graphform_types::url::{TransportError, check_transport};
use reqwest::header::HeaderValue;
use secrecy::zeroize::Zeroizing;

pub(super) fn token_from_var(
    name: &str,
    value: Result<String, std::env::VarError>,
) -> Result<Secret, StoreError> {
    let source = CredentialSource::env(TOKEN, name);
    match value {
        Ok(value) => {
            let token = Secret::new(value.trim());
            drop(Zeroizing::new(value));
            check_token(&token, &source)?;
            Ok(token)
        }
        Err(std::env::VarError::NotPresent) => Err(StoreError::Config {
            message: format!("the Vault token is missing: `{name}` is not set"),
            hint: Some(format!(
                "set `{name}` to a Vault token whose policy allows graphform's paths \
                 (docs/stores.md), or name another variable in `store.token_env`"
            )),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(malformed_token(&source)),
    }
}

pub(super) fn check_token(token: &Secret, source: &CredentialSource) -> Result<(), StoreError> {
    if token.expose().is_empty() {
        return Err(StoreError::Config {
            message: format!("{source} is empty"),
            hint: Some("set it to a Vault token (e.g. `hvs.…` or `s.…`)".to_owned()),
        });
    }
    if HeaderValue::from_str(token.expose()).is_err()
        || token.expose().chars().any(char::is_whitespace)
    {
        return Err(malformed_token(source));
    }
    Ok(())
}

pub(super) fn malformed_token(source: &CredentialSource) -> StoreError {
    StoreError::Config {
        message: format!("{source} is not a Vault token: it has characters a token cannot have"),
        hint: Some("set it to the token alone, on one line".to_owned()),
    }
}

/// Checks and normalizes the settings: an `http(s)` address without
/// credentials, query or fragment; mount, prefix and namespace made of
/// `[A-Za-z0-9_.-]` segments joined by `/`, surrounding `/` removed.
pub(super) fn normalize_settings(settings: VaultSettings) -> Result<VaultSettings, StoreError> {
    let config = |message: String, hint: &str| StoreError::Config {
        message,
        hint: Some(hint.to_owned()),
    };
    let address = settings.address.trim().to_owned();
    let url = reqwest::Url::parse(&address).map_err(|error| {
        config(
            format!("the Vault address is not a URL ({error})"),
            "write it like `https://vault.example.com:8200`",
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not quoted: it holds credentials.
        return Err(config(
            "the Vault address has credentials in it".to_owned(),
            "remove them: graphform authenticates with the Vault token only",
        ));
    }
    match check_transport(&url) {
        Ok(()) => {}
        Err(TransportError::PlainHttp { host }) => {
            return Err(config(
                format!(
                    "the Vault address {address} is plain http to `{host}`, which is not loopback"
                ),
                TransportError::PlainHttp { host }.hint(),
            ));
        }
        Err(TransportError::Scheme { .. } | TransportError::NoHost) => {
            return Err(config(
                format!("the Vault address {address} is not an http or https URL"),
                "write it like `https://vault.example.com:8200`",
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config(
            format!("the Vault address {address} has a query or fragment"),
            "write it like `https://vault.example.com:8200`",
        ));
    }
    let mount = kv_segments("mount", &settings.mount, false)?;
    let prefix = kv_segments("prefix", &settings.prefix, false)?;
    let namespace = settings
        .namespace
        .map(|namespace| kv_segments("namespace", &namespace, true))
        .transpose()?
        .filter(|namespace| !namespace.is_empty());
    Ok(VaultSettings {
        address,
        mount,
        prefix,
        namespace,
        ca_file: settings.ca_file,
    })
}

pub(super) fn kv_segments(
    what: &str,
    value: &str,
    allow_empty: bool,
) -> Result<String, StoreError> {
    let trimmed = value.trim().trim_matches('/');
    if trimmed.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(StoreError::Config {
                message: format!("the Vault store's {what} is empty"),
                hint: Some(format!("set `store.{what}`, e.g. `graphform`")),
            })
        };
    }
    let good_segment = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if trimmed.split('/').all(good_segment) {
        Ok(trimmed.to_owned())
    } else {
        Err(StoreError::Config {
            message: format!("the Vault store's {what} {value:?} is not a KV path"),
            hint: Some(
                "use segments of letters, digits, `_`, `-` and `.` joined by `/`".to_owned(),
            ),
        })
    }
}

pub(super) fn read_ca_file(
    path: &std::path::Path,
) -> Result<Vec<reqwest::Certificate>, StoreError> {
    let config = |message: String| StoreError::Config {
        message,
        hint: Some("point the store's CA file at a PEM file of CA certificates".to_owned()),
    };
    let pem = std::fs::read(path).map_err(|error| {
        config(format!(
            "cannot read the Vault CA file {}: {error}",
            path.display()
        ))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
        config(format!(
            "the Vault CA file {} is not PEM: {}",
            path.display(),
            error_chain(&error)
        ))
    })?;
    if certificates.is_empty() {
        return Err(config(format!(
            "the Vault CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}
