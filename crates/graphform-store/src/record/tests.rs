//! Pins what each backend stores for a token record, byte for byte: these
//! are the formats of stores that exist, which must keep reading.

use std::collections::BTreeSet;

use super::FlatIn;
use crate::{
    ExpiryMode, PreviousToken, Secret, StoredToken, Timestamp, TokenAddress, TokenMetadata,
    TokenRecord,
};

const ADDRESS: &str = "acme/x/token/y";

fn address() -> TokenAddress {
    ADDRESS.parse().unwrap()
}

/// The file backend's plaintext (before `age` encryption), version 7.
const FILE: &str = r#"{"format":1,"address":"acme/x/token/y","version":7,"current":{"value":"EAAcurrent","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"60d","issued_at":1767225600,"expires_at":1772409600,"fingerprint":"sha256:6c7c80c5fb28"}},"previous":{"value":"EAAprevious","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"never","issued_at":1759449600,"expires_at":null,"fingerprint":"sha256:ca7dd0d9293b"},"revoke_after":1767225660}}"#;

/// The vault backend's KV data.
const VAULT: &str = r#"{"format":1,"value":"EAAcurrent","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"60d","issued_at":1767225600,"expires_at":1772409600,"fingerprint":"sha256:6c7c80c5fb28"},"previous":{"value":"EAAprevious","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"never","issued_at":1759449600,"expires_at":null,"fingerprint":"sha256:ca7dd0d9293b"},"revoke_after":1767225660}}"#;

/// The aws-secrets-manager backend's `AWSCURRENT` document.
const AWS: &str = r#"{"format":1,"kind":"token","address":"acme/x/token/y","value":"EAAcurrent","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"60d","issued_at":1767225600,"expires_at":1772409600,"fingerprint":"sha256:6c7c80c5fb28"},"previous":{"value":"EAAprevious","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"never","issued_at":1759449600,"expires_at":null,"fingerprint":"sha256:ca7dd0d9293b"},"revoke_after":1767225660}}"#;

/// Its `AWSPREVIOUS` mirror.
const AWS_PREVIOUS: &str = r#"{"format":1,"kind":"previous","address":"acme/x/token/y","value":"EAAprevious","metadata":{"address":"acme/x/token/y","app_id":"200000000000001","system_user_id":"61550000000001","scopes":["ads_read","read_insights"],"expiry":"never","issued_at":1759449600,"expires_at":null,"fingerprint":"sha256:ca7dd0d9293b"},"revoke_after":1767225660}"#;

fn token(value: &str, expiry: ExpiryMode, issued_at: i64, expires_at: Option<i64>) -> StoredToken {
    let value = Secret::new(value);
    StoredToken {
        metadata: TokenMetadata {
            address: address(),
            app_id: "200000000000001".to_owned(),
            system_user_id: "61550000000001".to_owned(),
            scopes: ["ads_read", "read_insights"]
                .map(str::to_owned)
                .into_iter()
                .collect::<BTreeSet<_>>(),
            expiry,
            issued_at: Timestamp::from_unix(issued_at),
            expires_at: expires_at.map(Timestamp::from_unix),
            fingerprint: value.fingerprint(),
            issued_by: None,
        },
        value,
    }
}

/// A record mid-rotation (the conformance suite's `sample_rotated_record`).
fn rotated() -> TokenRecord {
    TokenRecord {
        current: token(
            "EAAcurrent",
            ExpiryMode::SixtyDays,
            1_767_225_600,
            Some(1_772_409_600),
        ),
        previous: Some(PreviousToken {
            token: token("EAAprevious", ExpiryMode::Never, 1_759_449_600, None),
            revoke_after: Timestamp::from_unix(1_767_225_660),
        }),
    }
}

#[test]
fn the_file_backend_writes_the_pinned_plaintext() {
    let plaintext = crate::file::token_plaintext(&address(), 7, &rotated()).unwrap();
    assert_eq!(std::str::from_utf8(&plaintext).unwrap(), FILE);
}

#[test]
fn the_vault_backend_writes_the_pinned_entry() {
    let entry = serde_json::to_string(&crate::vault::token_entry(&rotated())).unwrap();
    assert_eq!(entry, VAULT);
}

#[test]
fn the_aws_backend_writes_the_pinned_documents() {
    let record = rotated();
    let document = crate::aws::documents::token_document(&address(), &record).unwrap();
    assert_eq!(document.as_str(), AWS);
    let previous = record.previous.as_ref().unwrap();
    let mirror = crate::aws::documents::previous_document(&address(), previous).unwrap();
    assert_eq!(mirror.as_str(), AWS_PREVIOUS);
}

#[test]
fn pinned_records_read_back() {
    #[derive(serde::Deserialize)]
    struct Nested {
        current: super::TokenIn,
        previous: Option<super::PreviousIn>,
    }
    let nested: Nested = serde_json::from_str(FILE).unwrap();
    assert_eq!(nested.current.into_record(nested.previous), rotated());
    for flat in [VAULT, AWS] {
        let read: FlatIn = serde_json::from_str(flat).unwrap();
        assert_eq!(read.into_record(), rotated(), "{flat}");
    }
    let without_previous = VAULT.replace(
        &VAULT[VAULT.find(r#""previous":{"#).unwrap()..VAULT.len() - 1],
        r#""previous":null"#,
    );
    let read: FlatIn = serde_json::from_str(&without_previous).unwrap();
    assert_eq!(read.into_record().previous, None);
}
