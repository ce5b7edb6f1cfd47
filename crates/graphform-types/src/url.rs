//! The one transport rule for every URL graphform sends a secret to (the
//! Graph API, Vault, AWS): `https` to any host, plain `http` only to a
//! loopback host (the emulator, a local OpenBao or moto).

use std::net::IpAddr;

/// Why a URL breaks the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// `http` to a host that is not loopback.
    #[error("plain http to `{host}` is refused")]
    PlainHttp {
        /// The host.
        host: String,
    },
    /// Neither `https` nor `http`.
    #[error("unsupported URL scheme `{scheme}`")]
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// No host at all.
    #[error("the URL has no host")]
    NoHost,
}

impl TransportError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::PlainHttp { .. } => {
                "tokens and secrets travel on this connection: use https, or http only to a loopback address (127.0.0.1, ::1, localhost)"
            }
            Self::Scheme { .. } => "use https",
            Self::NoHost => "write it with its host, e.g. `https://graph.facebook.com`",
        }
    }
}

/// Checks a parsed URL against the rule.
pub fn check_transport(url: &url::Url) -> Result<(), TransportError> {
    let host = url.host_str().ok_or(TransportError::NoHost)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(TransportError::PlainHttp {
            host: host.to_owned(),
        }),
        other => Err(TransportError::Scheme {
            scheme: other.to_owned(),
        }),
    }
}

/// Whether a URL host (`host_str`: IPv6 in brackets, or bare) is loopback:
/// `localhost`, 127.0.0.0/8, `::1`, or an IPv4-mapped loopback
/// (`::ffff:127.0.0.1`).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// A URL as it may be shown in a message: without its query and fragment
/// (a query can carry `access_token` or `appsecret_proof`), and not at all
/// when it has user info (a credential).
pub fn shown(text: &str) -> String {
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let without_query = &text[..end];
    let authority = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return "<url with user info>".to_owned();
    }
    without_query.to_owned()
}

/// For a URL written without a scheme (`graph.facebook.com`), the URL to
/// write instead: `https://` in front, or `http://` for a loopback host
/// (the emulator's). `None` when `text` has a scheme, or is no URL at all
/// (empty, or with spaces). Shown as [`shown`] shows it.
pub fn with_scheme(text: &str) -> Option<String> {
    if text.contains("://") {
        return None;
    }
    let bare = shown(text);
    let bare = bare.trim();
    if bare.is_empty() || bare.contains(char::is_whitespace) || bare.starts_with('<') {
        return None;
    }
    let host = bare.split(['/', ':']).next().unwrap_or_default();
    let scheme = if is_loopback_host(host) || bare.starts_with('[') {
        "http"
    } else {
        "https"
    };
    Some(format!("{scheme}://{bare}"))
}

/// Whether `text` is a Graph API version as it is written in a request's
/// path and in the policy's `graph.api_version`: `vMAJOR.MINOR`, e.g.
/// `v26.0`.
pub fn is_api_version(text: &str) -> bool {
    let Some((major, minor)) = text.strip_prefix('v').and_then(|rest| rest.split_once('.')) else {
        return false;
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// The API version a Graph API base URL ends in, if it does
/// (`https://graph.facebook.com/v26.0/` → `v26.0`). graphform puts the
/// version into each request's path itself, so such a base URL would
/// have it twice (`/v26.0/v26.0/me`), which Meta refuses as an
/// "unsupported get request": it is refused with [`api_version_in_path_hint`].
pub fn trailing_api_version(url: &url::Url) -> Option<&str> {
    url.path_segments()?
        .rfind(|segment| !segment.is_empty())
        .filter(|segment| is_api_version(segment))
}

/// What to do about a Graph API base URL that ends in `version`.
pub fn api_version_in_path_hint(version: &str) -> String {
    format!(
        "drop `/{version}`: graphform adds the API version to each request itself, from \
         `graph.api_version` in the policy"
    )
}

/// `url` with `https` for its scheme, for the advice on a plain-http URL.
pub fn with_https(url: &str) -> String {
    url.split_once("://").map_or_else(
        || format!("https://{url}"),
        |(_, rest)| format!("https://{rest}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_query_fragment_or_user_info() {
        assert_eq!(
            shown("https://graph.facebook.com/?access_token=EAAsecret#x"),
            "https://graph.facebook.com/"
        );
        assert_eq!(
            shown("https://me:pw@vault.example.com"),
            "<url with user info>"
        );
        assert_eq!(shown("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
    }

    #[test]
    fn a_url_without_scheme_is_given_the_one_it_needs() {
        assert_eq!(
            with_scheme("graph.facebook.com").as_deref(),
            Some("https://graph.facebook.com")
        );
        assert_eq!(
            with_scheme("127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            with_scheme("graph.facebook.com?access_token=EAAsecret").as_deref(),
            Some("https://graph.facebook.com")
        );
        assert_eq!(with_scheme("https://graph.facebook.com"), None);
        assert_eq!(with_scheme("not a url"), None);
        assert_eq!(with_scheme(""), None);
    }

    #[test]
    fn a_trailing_api_version_is_found() {
        let trailing =
            |text: &str| trailing_api_version(&url::Url::parse(text).unwrap()).map(str::to_owned);
        assert_eq!(
            trailing("https://graph.facebook.com/v26.0/").as_deref(),
            Some("v26.0")
        );
        assert_eq!(
            trailing("http://127.0.0.1:8080/v25.0").as_deref(),
            Some("v25.0")
        );
        assert_eq!(
            trailing("https://proxy.example.com/graph/v26.0").as_deref(),
            Some("v26.0")
        );
        for none in [
            "https://graph.facebook.com",
            "https://graph.facebook.com/",
            "https://proxy.example.com/v26.0/graph",
            "https://proxy.example.com/v26",
            "https://proxy.example.com/26.0",
        ] {
            assert_eq!(trailing(none), None, "{none}");
        }
        assert!(is_api_version("v26.0"));
        for not_one in ["26.0", "v26", "v26.0.1", "v.0", "v26.", "V26.0"] {
            assert!(!is_api_version(not_one), "{not_one}");
        }
    }

    fn check(text: &str) -> Result<(), TransportError> {
        check_transport(&url::Url::parse(text).unwrap())
    }

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://graph.facebook.com",
            "https://vault.example.com:8200",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://localhost:1",
            "http://LOCALHOST",
            "http://[::1]:8200",
            "http://[::ffff:127.0.0.1]:9",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, want) in [
            (
                "http://graph.facebook.com",
                "plain http to `graph.facebook.com` is refused",
            ),
            ("http://10.0.0.1", "plain http to `10.0.0.1` is refused"),
            (
                "http://[::ffff:10.0.0.1]",
                "plain http to `[::ffff:a00:1]` is refused",
            ),
            (
                "http://localhost.example.com",
                "plain http to `localhost.example.com` is refused",
            ),
            ("ftp://x", "unsupported URL scheme `ftp`"),
        ] {
            assert_eq!(check(bad).unwrap_err().to_string(), want, "{bad}");
        }
        assert_eq!(
            check_transport(&url::Url::parse("unix:/run/x").unwrap()),
            Err(TransportError::NoHost)
        );
    }
}
