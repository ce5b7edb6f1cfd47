//! Unit tests of the value rules: URLs, names and environment variable
//! names (API versions are graphform-types'). The rules as a user meets
//! them are tested through fixtures (`tests/fixtures.rs`).

use super::fields::{is_name, suggest_env_name, suggest_name, variable_reference};
use super::settings::check_url;
use crate::secret::is_env_name;

#[test]
fn urls_are_https_or_loopback_http() {
    assert!(check_url("https://graph.facebook.com").is_ok());
    assert!(check_url("http://127.0.0.1:8080").is_ok());
    assert!(check_url("http://[::1]:8080/").is_ok());
    assert!(check_url("http://localhost").is_ok());
    assert!(check_url("http://10.0.0.1").is_err());
    assert!(check_url("http://127.0.0.1.evil.example").is_err());
    assert!(check_url("graph.facebook.com").is_err());
}

#[test]
fn a_refused_url_is_quoted_without_what_may_be_a_credential() {
    let (message, help) = check_url("graph.facebook.com?access_token=EAAsecret").unwrap_err();
    assert_eq!(message, "`graph.facebook.com` has no scheme");
    assert_eq!(help, "write it as `https://graph.facebook.com`");
    for url in [
        "https://graph.facebook.com/?access_token=EAAsecret",
        "https://graph.facebook.com/#EAAsecret",
        "https://me:EAAsecret@graph.facebook.com",
        "https:///?EAAsecret",
    ] {
        let (message, help) = check_url(url).unwrap_err();
        assert!(
            !message.contains("EAAsecret") && !help.contains("EAAsecret"),
            "{url}: {message} ({help})"
        );
    }
}

#[test]
fn names_and_env_names() {
    assert!(is_name("ci-reporting"));
    assert!(is_name("0day"));
    assert!(!is_name("-x"));
    assert!(!is_name("CI"));
    assert_eq!(
        suggest_name("CI_Reporting").as_deref(),
        Some("ci-reporting")
    );
    assert!(is_env_name("ACME_ADMIN_TOKEN"));
    assert!(!is_env_name("1TOKEN"));
    assert_eq!(suggest_env_name("acme-admin-token"), "ACME_ADMIN_TOKEN");
}

#[test]
fn a_shell_reference_names_its_variable() {
    assert_eq!(
        variable_reference("$REPORTING_APP_SECRET"),
        Some("REPORTING_APP_SECRET")
    );
    assert_eq!(variable_reference("${ADMIN_TOKEN}"), Some("ADMIN_TOKEN"));
    for not_one in [
        "REPORTING_APP_SECRET",
        "$",
        "${}",
        "${ADMIN_TOKEN",
        "$1TOKEN",
        "$ADMIN-TOKEN",
        // A secret behind a `$` is still a secret.
        "$EAAB1234567890abcdefghijklmnop",
    ] {
        assert_eq!(variable_reference(not_one), None, "{not_one}");
    }
}
