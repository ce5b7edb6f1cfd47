use std::collections::HashMap;
use std::ffi::OsString;

use super::documents::{Current, StateDocIn, state_document};
use super::protocol::{Nonce, request_token};
use super::store::{current_is_tombstone, unpack_state};
use super::*;
use crate::Store as _;
use serde_json::json;

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), OsString::from(value)))
        .collect();
    move |name| vars.get(name).cloned()
}

fn config(endpoint: Option<&str>) -> AwsSecretsManagerConfig {
    AwsSecretsManagerConfig {
        region: Some("eu-west-1".to_owned()),
        prefix: DEFAULT_AWS_PREFIX.to_owned(),
        endpoint_url: endpoint.map(str::to_owned),
    }
}

fn credentials() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", Secret::new("wJalrXUtnFEMI/K7MDENG"), None)
}

#[test]
fn missing_credentials_are_named() {
    let message = |vars: &[(&str, &str)]| match AwsCredentials::from_lookup(lookup(vars)) {
        Err(StoreError::Config { message, hint }) => {
            assert!(hint.unwrap().contains("AWS_SESSION_TOKEN"));
            message
        }
        other => panic!("{other:?}"),
    };
    let both = message(&[]);
    assert!(
        both.contains("`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are not set"),
        "{both}"
    );
    let one = message(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", ""),
    ]);
    assert!(one.contains("`AWS_SECRET_ACCESS_KEY` is not set"), "{one}");
    assert!(!one.contains("AKIDEXAMPLE"), "{one}");
    let credentials = AwsCredentials::from_lookup(lookup(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
        ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE"),
    ]))
    .unwrap();
    let shown = format!("{credentials:?}");
    for secret in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzEXAMPLE"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn the_region_is_required_and_checked() {
    let mut no_region = config(None);
    no_region.region = None;
    match AwsSecretsManagerStore::new(&no_region, credentials()) {
        Err(StoreError::Config { message, hint }) => {
            assert!(message.contains("no region"), "{message}");
            assert!(hint.unwrap().contains("store.region"));
        }
        other => panic!("{other:?}"),
    }
    for bad in ["EU-WEST-1", "eu west", "eu-west-1.evil.com/", "-x"] {
        let mut config = config(None);
        config.region = Some(bad.to_owned());
        assert!(
            matches!(
                AwsSecretsManagerStore::new(&config, credentials()),
                Err(StoreError::Config { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn endpoints_are_https_or_loopback_http() {
    let store = AwsSecretsManagerStore::new(&config(None), credentials()).unwrap();
    assert_eq!(
        store.endpoint(),
        "https://secretsmanager.eu-west-1.amazonaws.com"
    );
    for good in [
        "http://127.0.0.1:5000",
        "http://127.0.0.1:5000/",
        "http://localhost:4566",
        "http://[::1]:4566",
        "https://vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com",
    ] {
        let store = AwsSecretsManagerStore::new(&config(Some(good)), credentials());
        assert!(store.is_ok(), "{good}: {store:?}");
    }
    for bad in [
        "http://10.0.0.1:5000",
        "http://example.com",
        "ftp://127.0.0.1",
        "https://user:pw@example.com",
        "https://example.com/path",
        "https://example.com/?q=1",
        "not a url",
    ] {
        match AwsSecretsManagerStore::new(&config(Some(bad)), credentials()) {
            Err(StoreError::Config { message, .. }) => {
                assert!(message.contains(bad), "{message}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn prefixes_are_secret_name_segments() {
    for good in ["graphform", "ci/graphform", "a_b+c=d.e@f-g"] {
        assert!(check_prefix(good).is_ok(), "{good}");
    }
    for bad in ["", "/graphform", "graphform/", "a//b", "a b", "a*", "ü"] {
        assert!(check_prefix(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_follow_the_layout() {
    let store = AwsSecretsManagerStore::new(&config(None), credentials()).unwrap();
    assert_eq!(
        store.token_secret_name(&"acme/ci/token/read".parse().unwrap()),
        "graphform/tokens/acme/ci/token/read"
    );
    assert_eq!(store.state_secret_name(), "graphform/state");
    assert_eq!(
        store.system_user_state_secret_name(&SystemUserAddress::new("acme", "ci-reporting")),
        "graphform/state/acme/ci-reporting"
    );
    assert_eq!(store.lease_secret_name(), "graphform/lease");
    let shown = format!("{store:?} {}", store.describe());
    assert!(
        !shown.contains("AKIDEXAMPLE") && !shown.contains("wJalr"),
        "{shown}"
    );
}

/// The longest prefix with the longest names still makes secret names
/// Secrets Manager accepts.
#[test]
fn the_longest_names_fit() {
    let longest = "n".repeat(MAX_SEGMENT_LEN);
    let config = AwsSecretsManagerConfig {
        prefix: "p".repeat(MAX_PREFIX_LEN),
        ..config(None)
    };
    let store = AwsSecretsManagerStore::new(&config, credentials()).unwrap();
    let user = SystemUserAddress::new(&longest, &longest);
    let names = [
        store.token_secret_name(&user.token(&longest)),
        store.system_user_state_secret_name(&user),
    ];
    for name in names {
        assert!(name.len() <= AWS_MAX_NAME_LEN, "{} bytes", name.len());
    }
}

#[test]
fn request_tokens_are_uuid_shaped_and_distinct() {
    let nonce = Nonce::new();
    let token = request_token("graphform/state", None, "{}", &nonce);
    assert_eq!(token.len(), 36);
    assert_eq!(&token[14..15], "4");
    assert_eq!(token, request_token("graphform/state", None, "{}", &nonce));
    assert_ne!(
        token,
        request_token("graphform/state", Some("v1"), "{}", &nonce)
    );
    assert_ne!(token, request_token("graphform/state", None, "[]", &nonce));
    assert_ne!(
        token,
        request_token("graphform/state", None, "{}", &Nonce::new())
    );
}

#[test]
fn large_state_documents_are_compressed_and_read_back() {
    let entries: Vec<String> = (0..6_000)
        .map(|index| format!("{{\"entry\":{index}}}"))
        .collect();
    let large = format!("{{\"journal\":[{}]}}", entries.join(","));
    assert!(large.len() > AWS_MAX_SECRET_BYTES);
    let text = state_document(large.as_bytes(), "the state document").unwrap();
    assert!(text.len() <= AWS_MAX_SECRET_BYTES);
    let current = Current {
        id: "v".to_owned(),
        text,
    };
    let document: StateDocIn = current.parse("state", "state").unwrap();
    assert_eq!(
        unpack_state(&document.gzip_base64.unwrap(), "state").unwrap(),
        large.as_bytes()
    );
    let small = state_document(b"{\"a\": [1, 2]}", "the state document").unwrap();
    assert_eq!(
        *small,
        r#"{"format":1,"kind":"state","document":{"a": [1, 2]}}"#
    );
}

#[test]
fn tombstones_are_recognized_in_listings() {
    let entry = json!({"SecretVersionsToStages": {
        "a": ["AWSPREVIOUS"],
        "b": ["GRAPHFORM_DELETED", "AWSCURRENT"],
    }});
    assert!(current_is_tombstone(&entry));
    let entry = json!({"SecretVersionsToStages": {
        "a": ["GRAPHFORM_DELETED"],
        "b": ["GRAPHFORM_PENDING", "AWSCURRENT"],
    }});
    assert!(!current_is_tombstone(&entry));
}
