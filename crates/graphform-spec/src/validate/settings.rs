//! The `graph` and `store` sections: a Graph URL that is https (or http to
//! loopback) and a `vMAJOR.MINOR` API version; a known store type, only the
//! fields that type has, the ones it needs, safe URLs and environment
//! variable names; and the defaults of each.

use super::Validator;
use super::place::At;
use crate::diagnostic::Code;
use crate::raw::{RawGraph, RawStore};
use crate::spec::{DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, GraphSettings, StoreSettings};
use crate::suggest::did_you_mean;
use graphform_types::url::{
    TransportError, api_version_in_path_hint, check_transport, is_api_version, trailing_api_version,
};

/// The store defaults of policy.md.
const DEFAULT_STORE_PATH: &str = ".graphform/store";
const DEFAULT_STORE_KEY_ENV: &str = "GRAPHFORM_STORE_KEY";
const DEFAULT_VAULT_MOUNT: &str = "secret";
const DEFAULT_VAULT_TOKEN_ENV: &str = "VAULT_TOKEN";
const DEFAULT_PREFIX: &str = "graphform";

impl Validator {
    pub(super) fn graph(&mut self, raw: Option<(&RawGraph, At<'_>)>) -> Option<GraphSettings> {
        let (graph, at) = match raw {
            Some((graph, at)) => (graph.clone(), Some(at)),
            None => (RawGraph::default(), None),
        };
        let mut ok = true;
        let url = graph.url.unwrap_or_else(|| DEFAULT_GRAPH_URL.to_owned());
        if let Some(at) = at {
            ok &= self.url(&url, at.field("url")) && self.graph_url_has_no_version(&url, at);
        }
        let api_version = graph
            .api_version
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        if !is_api_version(&api_version) {
            ok = false;
            if let Some(at) = at {
                self.push(
                    at.field("api_version")
                        .error(
                            Code::InvalidValue,
                            format!("invalid Graph API version `{api_version}`"),
                        )
                        .label("expected `vMAJOR.MINOR`")
                        .help(format!("for example `{DEFAULT_API_VERSION}`")),
                );
            }
        }
        ok.then(|| GraphSettings {
            url: url.trim_end_matches('/').to_owned(),
            api_version,
        })
    }

    pub(super) fn store(&mut self, raw: Option<(&RawStore, At<'_>)>) -> Option<StoreSettings> {
        let Some((store, at)) = raw else {
            return Some(StoreSettings::File {
                path: DEFAULT_STORE_PATH.to_owned(),
                key_env: DEFAULT_STORE_KEY_ENV.to_owned(),
            });
        };
        let kinds = ["file", "vault", "aws-secrets-manager"];
        let kind = store.kind.as_deref().unwrap_or("file");
        if !kinds.contains(&kind) {
            self.push(
                at.field("type")
                    .error(Code::InvalidValue, format!("unknown store type `{kind}`"))
                    .label("expected `file`, `vault` or `aws-secrets-manager`")
                    .help(
                        did_you_mean(kind, kinds)
                            .unwrap_or_else(|| "the default is `file`".to_owned()),
                    ),
            );
            return None;
        }
        let mut ok = self.store_fields_apply(store, kind, at);
        // A Vault address or AWS endpoint carries credentials.
        let urls = [
            ("address", &store.address),
            ("endpoint_url", &store.endpoint_url),
        ];
        ok &= self.each_set(at, urls, Self::url);
        let envs = [("key_env", &store.key_env), ("token_env", &store.token_env)];
        ok &= self.each_set(at, envs, Self::env_name);
        // (A file store's `prefix` is reported by `store_fields_apply`.)
        let prefix = match kind {
            "file" => Some(String::new()),
            _ => self.prefix(store.prefix.as_deref(), &at.field("prefix")),
        };
        ok &= prefix.is_some();
        let prefix = prefix.unwrap_or_default();
        let mut required = |name: &str, value: &Option<String>| -> Option<String> {
            if value.is_none() {
                self.push(
                    at.error(
                        Code::MissingField,
                        format!("a `{kind}` store needs `{name}`"),
                    )
                    .help(match name {
                        "address" => "for example `address: https://vault.example.com:8200`",
                        _ => "for example `region: eu-west-1`",
                    }),
                );
            }
            value.clone()
        };
        let settings = match kind {
            "vault" => {
                let address = required("address", &store.address);
                address.map(|address| StoreSettings::Vault {
                    address,
                    mount: store
                        .mount
                        .as_deref()
                        .unwrap_or(DEFAULT_VAULT_MOUNT)
                        .to_owned(),
                    prefix: prefix.clone(),
                    token_env: store
                        .token_env
                        .as_deref()
                        .unwrap_or(DEFAULT_VAULT_TOKEN_ENV)
                        .to_owned(),
                    namespace: store.namespace.clone(),
                    ca_file: store.ca_file.clone(),
                })
            }
            "aws-secrets-manager" => {
                let region = required("region", &store.region);
                region.map(|region| StoreSettings::AwsSecretsManager {
                    region,
                    prefix: prefix.clone(),
                    endpoint_url: store.endpoint_url.clone(),
                })
            }
            _ => Some(StoreSettings::File {
                path: store
                    .path
                    .as_deref()
                    .unwrap_or(DEFAULT_STORE_PATH)
                    .to_owned(),
                key_env: store
                    .key_env
                    .as_deref()
                    .unwrap_or(DEFAULT_STORE_KEY_ENV)
                    .to_owned(),
            }),
        };
        settings.filter(|_| ok)
    }

    /// A Vault path or AWS secret name prefix, written as people write
    /// them (`graphform/`, `/ci/graphform`): the slashes around it are not
    /// part of it, so it is stored without them. `None` (reported) when
    /// nothing but slashes is left.
    fn prefix(&mut self, prefix: Option<&str>, at: &At<'_>) -> Option<String> {
        let Some(written) = prefix else {
            return Some(DEFAULT_PREFIX.to_owned());
        };
        let trimmed = written.trim_matches('/');
        if trimmed.is_empty() {
            self.push(
                at.error(
                    Code::InvalidValue,
                    format!("the prefix `{written}` is empty"),
                )
                .label("expected a name such as `graphform` or `ci/graphform`")
                .help(format!(
                    "remove `prefix` to use the default `{DEFAULT_PREFIX}`, or name one"
                )),
            );
            return None;
        }
        Some(trimmed.to_owned())
    }

    /// Checks each of `fields` (name, value) that is set with `check`;
    /// false when one fails.
    fn each_set<const N: usize>(
        &mut self,
        at: At<'_>,
        fields: [(&str, &Option<String>); N],
        check: fn(&mut Self, &str, At<'_>) -> bool,
    ) -> bool {
        let mut ok = true;
        for (name, value) in fields {
            if let Some(value) = value {
                ok &= check(self, value, at.field(name));
            }
        }
        ok
    }

    /// A URL graphform sends credentials to: https, or http to loopback
    /// only ([`check_url`]).
    /// `graph.url` (a URL [`check_url`] accepted) does not end in an API
    /// version: graphform adds `graph.api_version` to each request.
    fn graph_url_has_no_version(&mut self, url: &str, at: At<'_>) -> bool {
        let Some(version) = url::Url::parse(url)
            .ok()
            .and_then(|parsed| trailing_api_version(&parsed).map(str::to_owned))
        else {
            return true;
        };
        self.push(
            at.field("url")
                .error(
                    Code::InvalidValue,
                    format!("`{url}` ends in the API version `{version}`"),
                )
                .label("expected the Graph API's address, without a version")
                .help(api_version_in_path_hint(&version)),
        );
        false
    }

    fn url(&mut self, url: &str, at: At<'_>) -> bool {
        let Err((message, help)) = check_url(url) else {
            return true;
        };
        self.push(at.error(Code::InvalidValue, message).help(help));
        false
    }

    /// Each store field belongs to some store types only.
    fn store_fields_apply(&mut self, store: &RawStore, kind: &str, at: At<'_>) -> bool {
        let mut ok = true;
        let fields: [(&str, &Option<String>, &[&str]); 10] = [
            ("path", &store.path, &["file"]),
            ("key_env", &store.key_env, &["file"]),
            ("address", &store.address, &["vault"]),
            ("mount", &store.mount, &["vault"]),
            ("token_env", &store.token_env, &["vault"]),
            ("namespace", &store.namespace, &["vault"]),
            ("ca_file", &store.ca_file, &["vault"]),
            ("prefix", &store.prefix, &["vault", "aws-secrets-manager"]),
            ("region", &store.region, &["aws-secrets-manager"]),
            (
                "endpoint_url",
                &store.endpoint_url,
                &["aws-secrets-manager"],
            ),
        ];
        for (name, value, applies) in fields {
            if value.is_some() && !applies.contains(&kind) {
                ok = false;
                let types = applies
                    .iter()
                    .map(|t| format!("`type: {t}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                self.push(
                    at.key(name)
                        .error(
                            Code::NotApplicable,
                            format!("`{name}` does not apply to a `{kind}` store"),
                        )
                        .help(format!(
                            "`{name}` is for {types}; remove it or change `type`"
                        )),
                );
            }
        }
        ok
    }
}

/// `https://` anywhere; `http://` only to loopback (design.md §8): the
/// rule of [`graphform_types::url`], with the policy's wording.
pub(super) fn check_url(url: &str) -> Result<(), (String, String)> {
    // Messages show the URL without its query or user info: either can
    // hold a credential.
    let shown = graphform_types::url::shown(url);
    let not_a_url = || {
        (
            format!("`{shown}` is not a URL"),
            "write it with its scheme, e.g. `https://graph.facebook.com`".to_owned(),
        )
    };
    let no_host = || {
        (
            format!("`{shown}` has no host"),
            "e.g. `https://graph.facebook.com`".to_owned(),
        )
    };
    if !url.contains("://") {
        return Err(match graphform_types::url::with_scheme(url) {
            Some(suggestion) => (
                format!("`{shown}` has no scheme"),
                format!("write it as `{suggestion}`"),
            ),
            None => not_a_url(),
        });
    }
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(url::ParseError::EmptyHost) => return Err(no_host()),
        Err(_) => return Err(not_a_url()),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err((
            "a URL with user info (not shown: it may be a password)".to_owned(),
            "remove the `user:password@`; credentials belong in environment variables, never \
             in a URL"
                .to_owned(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err((
            format!("`{shown}` has a query or fragment (not shown: it may hold a token)"),
            "remove everything from the `?` or `#` on; credentials belong in environment \
             variables, never in a URL"
                .to_owned(),
        ));
    }
    check_transport(&parsed).map_err(|err| match err {
        TransportError::NoHost => no_host(),
        other => (other.to_string(), other.hint().to_owned()),
    })
}
