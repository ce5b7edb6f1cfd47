//! One Graph API call, independent of HTTP: method, path, parameters and
//! header token; and its answer. Plain requests and batch operations both
//! become an [`ApiRequest`].

use axum::http::{HeaderMap, Method, header};
use graphform_types::Secret;
use serde_json::Value;

use crate::graph_error::GraphError;
use crate::params::Params;

/// A parsed call.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    /// `v26.0` when the path had a version prefix.
    pub(crate) version: Option<String>,
    /// Path segments after the version, e.g. `["123", "system_users"]`.
    pub(crate) path: Vec<String>,
    pub(crate) params: Params,
    /// A token from `Authorization: Bearer|OAuth …`.
    pub(crate) header_token: Option<Secret>,
}

impl ApiRequest {
    /// Builds a call from a path with an optional query string
    /// (`/v26.0/123/system_users?limit=2`), a body and its content type.
    pub(crate) fn parse(
        method: Method,
        path_and_query: &str,
        body: &[u8],
        content_type: Option<&str>,
        header_token: Option<Secret>,
    ) -> Result<Self, GraphError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let (version, path) = split_path(path);
        let mut params = Params::from_urlencoded(query.as_bytes());
        if !body.is_empty() {
            let is_json = content_type.is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
            });
            if is_json {
                params.merge_json(body)?;
            } else {
                params.merge_urlencoded(body);
            }
        }
        Ok(Self {
            method,
            version,
            path,
            params,
            header_token,
        })
    }

    /// The token the call carries: the `access_token` parameter, else the
    /// `Authorization` header's.
    pub(crate) fn token(&self) -> Option<&str> {
        self.params
            .get("access_token")
            .or_else(|| self.header_token.as_ref().map(Secret::expose))
    }

    /// The path as a string, `/123/system_users`.
    pub(crate) fn path_string(&self) -> String {
        format!("/{}", self.path.join("/"))
    }
}

/// `Authorization: Bearer X` or `Authorization: OAuth X`.
pub(crate) fn header_token(headers: &HeaderMap) -> Option<Secret> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth");
    (known && !token.is_empty()).then(|| Secret::new(token))
}

/// Splits `/v26.0/a/b/` into `(Some("v26.0"), ["a", "b"])`.
fn split_path(path: &str) -> (Option<String>, Vec<String>) {
    let mut segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let version = segments.first().filter(|s| is_version(s)).cloned();
    if version.is_some() {
        segments.remove(0);
    }
    (version, segments)
}

/// `v[0-9]+\.[0-9]+`, as the Python SDK validates it.
pub(crate) fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// The answer to one call.
#[derive(Debug, Clone)]
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// Extra headers (usage headers), lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    /// Code and subcode when the call failed, for logs and counters.
    pub(crate) error: Option<(i64, Option<i64>)>,
}

impl ApiResponse {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body,
            headers: Vec::new(),
            error: None,
        }
    }

    pub(crate) fn error(error: &GraphError, fbtrace_id: &str) -> Self {
        Self {
            status: error.status,
            body: error.body(fbtrace_id),
            headers: Vec::new(),
            error: Some((error.code, error.subcode)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_sdk_pattern() {
        assert!(is_version("v26.0"));
        assert!(is_version("v2.10"));
        assert!(!is_version("v26"));
        assert!(!is_version("26.0"));
        assert!(!is_version("v.1"));
    }

    #[test]
    fn paths_lose_their_version_and_slashes() {
        assert_eq!(
            split_path("/v26.0/123/system_users/"),
            (
                Some("v26.0".to_owned()),
                vec!["123".to_owned(), "system_users".to_owned()]
            )
        );
        assert_eq!(split_path("/"), (None, vec![]));
        assert_eq!(split_path("/v26.0"), (Some("v26.0".to_owned()), vec![]));
    }

    #[test]
    fn body_params_override_query_params() {
        let req = ApiRequest::parse(
            Method::POST,
            "/1/x?name=a&limit=2",
            br#"{"name":"b"}"#,
            Some("application/json; charset=utf-8"),
            None,
        )
        .unwrap();
        assert_eq!(req.params.get("name"), Some("b"));
        assert_eq!(req.params.get("limit"), Some("2"));
    }

    #[test]
    fn authorization_header_schemes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "OAuth EAAx".parse().unwrap());
        assert_eq!(header_token(&headers).unwrap().expose(), "EAAx");
        headers.insert(header::AUTHORIZATION, "bearer EAAy".parse().unwrap());
        assert_eq!(header_token(&headers).unwrap().expose(), "EAAy");
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(header_token(&headers).is_none());
    }
}
