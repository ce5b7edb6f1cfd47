use serde_json::value::RawValue;

use super::wire::{VersionMetadata, is_tombstone, join_limited};
use super::*;

#[test]
fn rfc3339_formats_utc() {
    let rfc3339 = |seconds| crate::Timestamp::from_unix(seconds).rfc3339().to_string();
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_772_409_600), "2026-03-02T00:00:00Z");
    assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
    assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
}

#[test]
fn versions_are_canonical_positive_integers() {
    let version = kv_version("tokens/a/b", 7);
    assert_eq!(version.0, "tokens/a/b@7");
    assert_eq!(parse_version(&version, "tokens/a/b"), Some(7));
    assert_eq!(parse_version(&version, "tokens/a"), None, "another entry's");
    for bad in [
        "0",
        "7",
        "@7",
        "tokens/a/b@0",
        "tokens/a/b@07",
        "tokens/a/b@-1",
        "tokens/a/b@",
        "tokens/a/b@x",
        "tokens/a/b@1.0",
        "tokens/a/b@ 1",
    ] {
        assert_eq!(
            parse_version(&Version(bad.to_owned()), "tokens/a/b"),
            None,
            "{bad:?}"
        );
    }
}

#[test]
fn settings_are_checked_and_normalized() {
    let settings = VaultSettings {
        mount: "/kv/teams/".to_owned(),
        prefix: "graphform/prod/".to_owned(),
        namespace: Some("/".to_owned()),
        ..VaultSettings::new("https://vault.example.com:8200/")
    };
    let normalized = normalize_settings(settings).unwrap();
    assert_eq!(normalized.mount, "kv/teams");
    assert_eq!(normalized.prefix, "graphform/prod");
    assert_eq!(normalized.namespace, None);

    for (address, mount, prefix) in [
        ("vault.example.com", "secret", "graphform"),
        ("ftp://vault.example.com", "secret", "graphform"),
        ("https://vault.example.com?x=1", "secret", "graphform"),
        ("https://vault.example.com", "", "graphform"),
        ("https://vault.example.com", "secret", "a/../b"),
        ("https://vault.example.com", "secret", "a b"),
        ("https://vault.example.com", "se?cret", "graphform"),
    ] {
        let settings = VaultSettings {
            mount: mount.to_owned(),
            prefix: prefix.to_owned(),
            ..VaultSettings::new(address)
        };
        assert!(
            matches!(normalize_settings(settings), Err(StoreError::Config { .. })),
            "{address} {mount} {prefix}"
        );
    }
}

#[test]
fn the_address_is_https_or_loopback_http() {
    // Issue 11: the one transport rule, as the policy, the Graph client and
    // the AWS store apply it. The Vault token travels on this connection.
    for good in [
        "https://vault.example.com:8200",
        "http://127.0.0.1:8200",
        "http://localhost:8200",
        "http://[::1]:8200",
        "http://[::ffff:127.0.0.1]:8200",
    ] {
        assert!(
            normalize_settings(VaultSettings::new(good)).is_ok(),
            "{good}"
        );
    }
    for bad in ["http://vault.example.com:8200", "http://10.0.0.1:8200"] {
        match normalize_settings(VaultSettings::new(bad)) {
            Err(StoreError::Config { message, hint }) => {
                assert!(message.contains("plain http"), "{message}");
                assert!(hint.is_some_and(|h| h.contains("https")), "{bad}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn credentials_in_the_address_are_refused_unquoted() {
    let settings = VaultSettings::new("https://user:hunter2@vault.example.com");
    let error = normalize_settings(settings).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("credentials"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn tokens_from_the_environment_are_checked_without_quoting_them() {
    let missing = token_from_var("GF_VAULT", Err(std::env::VarError::NotPresent));
    match missing {
        Err(StoreError::Config {
            message,
            hint: Some(hint),
        }) => {
            assert!(message.contains("`GF_VAULT` is not set"), "{message}");
            assert!(hint.contains("store.token_env"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        token_from_var("GF_VAULT", Ok("  \n".to_owned())),
        Err(StoreError::Config { .. })
    ));
    let error = token_from_var("GF_VAULT", Ok("hvs.abc def".to_owned())).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("hvs.abc"));
    let error = token_from_var("GF_VAULT", Ok("hvs.abc\u{7}".to_owned())).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("hvs.abc"));
    let token = token_from_var("GF_VAULT", Ok("hvs.secret-token\n".to_owned())).unwrap();
    assert_eq!(token.expose(), "hvs.secret-token");
}

#[test]
fn custom_metadata_fits_vault_limits_and_holds_no_value() {
    let address: crate::TokenAddress = "a/b/token/c".parse().unwrap();
    let mut record = crate::TokenRecord {
        current: crate::StoredToken {
            value: Secret::new("EAAsecretvalue"),
            metadata: crate::TokenMetadata {
                address: address.clone(),
                app_id: "1".to_owned(),
                system_user_id: String::new(),
                scopes: (0..80).map(|index| format!("scope_{index:02}")).collect(),
                expiry: crate::ExpiryMode::Never,
                issued_at: crate::Timestamp::from_unix(1_767_225_600),
                expires_at: None,
                fingerprint: Secret::new("EAAsecretvalue").fingerprint(),
                issued_by: Some("intent-1".to_owned()),
            },
        },
        previous: None,
    };
    record.current.metadata.app_id = "9".repeat(600);
    let mirror = custom_metadata_for(&address, 3, &record);
    assert!(
        !mirror.contains_key("system_user_id"),
        "empty values left out"
    );
    for (key, value) in &mirror {
        assert!(!value.is_empty() && value.len() <= 512, "{key}: {value}");
        assert!(!value.contains("EAAsecretvalue"), "{key}");
    }
    let scopes = &mirror["scopes"];
    assert!(scopes.starts_with("scope_00,scope_01,"), "{scopes}");
    assert!(scopes.ends_with(" more)"), "{scopes}");
    assert_eq!(mirror["expires_at"], "never");
    assert_eq!(mirror["issued_at"], "2026-01-01T00:00:00Z");
    assert_eq!(mirror["version"], "3");
}

#[test]
fn join_limited_keeps_short_lists_whole() {
    let scopes = ["ads_read", "read_insights"].map(str::to_owned).into();
    assert_eq!(join_limited(&scopes), "ads_read,read_insights");
    assert_eq!(join_limited(&std::collections::BTreeSet::new()), "");
}

#[test]
fn server_text_is_redacted_and_squashed() {
    let text = "1 error occurred:\n\t* bad value EAAsecret here\n\n";
    assert_eq!(
        squash(&redact(text, &["EAAsecret", "x"])),
        "1 error occurred: * bad value [redacted] here"
    );
    let long = "y".repeat(1_000);
    assert!(squash(&long).len() <= SERVER_MESSAGE_MAX + '…'.len_utf8());
}

#[test]
fn only_graphform_s_own_deleted_tombstone_reads_as_absent() {
    let deleted = |custom: &str, destroyed: bool| {
        serde_json::from_str::<VersionMetadata>(&format!(
            r#"{{"version":4,"destroyed":{destroyed},"deletion_time":"2026-01-01T00:00:00Z",
                "custom_metadata":{custom}}}"#
        ))
        .unwrap()
        .classify_deleted()
    };
    assert!(matches!(
        deleted(r#"{"deleted":"true","version":"4"}"#, false),
        Read::Entry(Entry::Absent { version: Some(4) })
    ));
    for custom in [
        "null",
        r#"{"version":"4"}"#,
        r#"{"deleted":"true","version":"3"}"#,
        r#"{"deleted":"false","version":"4"}"#,
    ] {
        assert!(
            matches!(
                deleted(custom, false),
                Read::DeletedElsewhere {
                    version: 4,
                    destroyed: false
                }
            ),
            "{custom}"
        );
    }
    assert!(matches!(
        deleted("null", true),
        Read::DeletedElsewhere {
            version: 4,
            destroyed: true
        }
    ));
}

#[test]
fn tombstones_are_recognized() {
    let tombstone = RawValue::from_string(r#"{"format":1,"deleted":true}"#.to_owned()).unwrap();
    assert!(is_tombstone(&tombstone));
    let live = RawValue::from_string(r#"{"format":1,"value":"x"}"#.to_owned()).unwrap();
    assert!(!is_tombstone(&live));
}
