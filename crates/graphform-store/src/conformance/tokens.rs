//! Checks of token records: round trips, updates, listing, refused input
//! and entries that are not token addresses.

use std::future::Future;

use super::{
    NOW, StateDoc, assert_invalid, assert_no_value, at, create, read_existing, sample_record,
    sample_rotated_record, sample_token, system_user, token,
};
use crate::{
    LeaseBreak, LeaseId, PreviousToken, Secret, Store, StoreError, TokenAddress, TokenRecord,
    Versioned,
};

/// A new store holds nothing, and reading it changes nothing.
pub async fn empty_store_reads_as_empty<S: Store>(store: &S) {
    assert!(!store.describe().is_empty(), "describe() says something");
    let token = store
        .read_token(&token("acme/ci/token/read"))
        .await
        .expect("read a missing token");
    assert!(token.is_none(), "a missing token reads as None");
    assert_eq!(
        store.list_tokens().await.expect("list"),
        Vec::<TokenAddress>::new()
    );
    assert!(store.read_state().await.expect("read state").is_none());
    let user = &system_user("acme/ci");
    assert!(
        store
            .read_system_user_state(user)
            .await
            .expect("read a system user's state")
            .is_none()
    );
    assert!(store.read_lease().await.expect("read lease").is_none());
    assert_eq!(
        store
            .break_lease(&LeaseId::random())
            .await
            .expect("break no lease"),
        LeaseBreak::NotHeld
    );
}

/// A record with a previous token and its `revoke_after` reads back equal,
/// with the version the write returned; nothing shows a value.
pub async fn token_round_trip<S: Store>(store: &S) {
    let rotated_address = &token("acme/ci-reporting/token/insights-read");
    let rotated = sample_rotated_record(
        rotated_address,
        "EAAcurrent0001",
        "EAAprevious0001",
        NOW + 86_400,
    );
    let version = create(store, rotated_address, &rotated).await;
    let read = read_existing(store, rotated_address).await;
    assert_eq!(
        read,
        Versioned {
            value: rotated.clone(),
            version: version.clone()
        }
    );
    let previous = read.value.previous.as_ref().expect("previous kept");
    assert_eq!(previous.revoke_after, at(NOW + 86_400));
    assert_eq!(previous.token.value.expose(), "EAAprevious0001");

    let plain_address = &token("acme/ci-reporting/token/ads-write");
    let plain = sample_record(plain_address, "EAAplain0001");
    let plain_version = create(store, plain_address, &plain).await;
    assert_ne!(plain_version, version, "two objects' versions differ");
    let read_plain = read_existing(store, plain_address).await;
    assert_eq!(read_plain.value, plain);
    assert!(read_plain.value.previous.is_none());

    let conflict = store
        .write_token(rotated_address, &rotated, None)
        .await
        .expect_err("create-only on an existing record");
    let shown = format!("{read:?} {read:#?} {read_plain:?} {conflict} {conflict:?}");
    assert_no_value(
        &shown,
        &["EAAcurrent0001", "EAAprevious0001", "EAAplain0001"],
        "Debug and errors",
    );
}

/// Writing with the version read replaces the record, with a new version:
/// a rotation (previous added), then the revocation (previous dropped).
pub async fn token_update_replaces_record<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let first = sample_record(address, "EAAfirst");
    let v1 = create(store, address, &first).await;

    let rotated = TokenRecord {
        current: sample_token(address, "EAAsecond", NOW + 100),
        previous: Some(PreviousToken {
            token: first.current.clone(),
            revoke_after: at(NOW + 3_600),
        }),
    };
    let v2 = store
        .write_token(address, &rotated, Some(&v1))
        .await
        .expect("rotate");
    assert_ne!(v2, v1, "a write changes the version");
    let read = read_existing(store, address).await;
    assert_eq!(
        read,
        Versioned {
            value: rotated.clone(),
            version: v2.clone()
        }
    );

    let revoked = TokenRecord {
        current: rotated.current.clone(),
        previous: None,
    };
    let v3 = store
        .write_token(address, &revoked, Some(&v2))
        .await
        .expect("drop previous");
    assert!(v3 != v1 && v3 != v2, "versions are never reused");
    let read = read_existing(store, address).await;
    assert_eq!(
        read,
        Versioned {
            value: revoked,
            version: v3
        }
    );
}

/// `list_tokens` returns every address in [`TokenAddress`]'s order (a
/// tree: a system user's tokens before those of a system user whose name
/// it is a prefix of, which is not the order of the text), including a
/// name next to one it is a prefix of; deleted ones disappear.
pub async fn list_tokens_sorted<S: Store>(store: &S) {
    let addresses = [
        "zeta/su/token/a",
        "acme/ci/token/b",
        "acme/ci/token/a",
        "acme/ci-reporting/token/a",
        "acme/ci/token/a-b",
        "acme/ci2/token/x",
        "acme/c/token/z",
        "0/1/token/7",
        "acme/ci-reporting/token/0",
    ];
    for (index, address) in addresses.iter().enumerate() {
        let address = &token(address);
        let record = sample_record(address, &format!("EAAlist{index}"));
        create(store, address, &record).await;
    }
    let mut sorted: Vec<TokenAddress> = [
        "0/1/token/7",
        "acme/c/token/z",
        "acme/ci/token/a",
        "acme/ci/token/a-b",
        "acme/ci/token/b",
        "acme/ci-reporting/token/0",
        "acme/ci-reporting/token/a",
        "acme/ci2/token/x",
        "zeta/su/token/a",
    ]
    .map(token)
    .into();
    assert_eq!(store.list_tokens().await.expect("list"), sorted);

    for doomed in ["acme/ci/token/a", "0/1/token/7"].map(token) {
        let version = read_existing(store, &doomed).await.version;
        store.delete_token(&doomed, &version).await.expect("delete");
        sorted.retain(|address| *address != doomed);
        assert_eq!(
            store.list_tokens().await.expect("list after delete"),
            sorted
        );
    }
}

/// Records contradicting their address and state documents (the root one
/// and a system user's) that are not JSON are refused, naming what was
/// refused, and nothing is written. (An address outside the syntax cannot
/// be given: a [`TokenAddress`] is parsed.)
pub async fn invalid_input_rejected<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let elsewhere = sample_record(&token("acme/ci/token/other"), "EAAinvalid");
    assert_invalid(
        &store.write_token(address, &elsewhere, None).await,
        "metadata naming another address",
    );
    let mut wrong_fingerprint = sample_record(address, "EAAinvalid");
    wrong_fingerprint.current.metadata.fingerprint = Secret::new("EAAother").fingerprint();
    assert_invalid(
        &store.write_token(address, &wrong_fingerprint, None).await,
        "a fingerprint not the value's",
    );
    let mut previous_elsewhere = sample_rotated_record(address, "EAAinvalid", "EAAinvalid0", NOW);
    if let Some(previous) = &mut previous_elsewhere.previous {
        previous.token.metadata.address = token("acme/ci/token/other");
    }
    assert_invalid(
        &store.write_token(address, &previous_elsewhere, None).await,
        "previous naming another address",
    );
    let mut previous_fingerprint = sample_rotated_record(address, "EAAinvalid", "EAAinvalid0", NOW);
    if let Some(previous) = &mut previous_fingerprint.previous {
        previous.token.metadata.fingerprint = Secret::new("EAAother").fingerprint();
    }
    assert_invalid(
        &store
            .write_token(address, &previous_fingerprint, None)
            .await,
        "previous fingerprint",
    );

    let user = &system_user("acme/ci-reporting");
    for doc in [StateDoc::Root, StateDoc::SystemUser(user)] {
        for document in crate::NOT_STATE_DOCUMENTS {
            let result = doc.write(store, document, None).await;
            let context = format!("{doc:?}: state document {document:?}");
            assert_invalid(&result, &context);
            if let (StateDoc::SystemUser(user), Err(error)) = (doc, &result) {
                let message = error.to_string();
                assert!(
                    message.contains(&user.to_string()),
                    "{context}: the error names the system user: {message}"
                );
            }
        }
    }

    assert_eq!(
        store.list_tokens().await.expect("list"),
        Vec::<TokenAddress>::new(),
        "nothing written"
    );
    assert!(
        store.read_state().await.expect("read state").is_none(),
        "no state written"
    );
    assert!(
        store
            .read_system_user_state(user)
            .await
            .expect("read a system user's state")
            .is_none(),
        "no system user's state written"
    );
}

/// The key [`foreign_entries_are_reported`] plants: an install's address,
/// where only token addresses belong.
pub const FOREIGN_KEY: &str = "acme/ci-reporting/app/reporting";

/// An entry where the backend keeps its tokens whose key is not a token
/// address (planted by `plant`, given [`FOREIGN_KEY`], the way a person or
/// another tool would: outside the [`Store`] API) makes `list_tokens` fail
/// with [`StoreError::ForeignEntry`] naming it, with a hint: it is never
/// skipped in silence. Tokens are still read and written by address.
///
/// Not in [`run_all`](super::run_all): planting is particular to each backend, so each
/// backend's tests call this with their own `plant`.
pub async fn foreign_entries_are_reported<S: Store, F: Future<Output = ()>>(
    store: &S,
    plant: impl FnOnce(&'static str) -> F,
) {
    let address = &token("acme/ci-reporting/token/insights-read");
    let record = sample_record(address, "EAAforeign1");
    let version = create(store, address, &record).await;
    plant(FOREIGN_KEY).await;

    let error = store
        .list_tokens()
        .await
        .expect_err("a foreign entry is reported");
    match &error {
        StoreError::ForeignEntry {
            key,
            location,
            reason,
        } => {
            assert_eq!(key, FOREIGN_KEY, "ForeignEntry names the key");
            assert!(!location.is_empty() && !reason.is_empty(), "{error:?}");
        }
        other => panic!("expected StoreError::ForeignEntry, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(FOREIGN_KEY), "{message}");
    assert!(
        error
            .hint()
            .is_some_and(|hint| hint.contains("business/system-user/token/name")),
        "{:?}",
        error.hint()
    );
    assert_no_value(
        &format!("{message} {error:?}"),
        &["EAAforeign1"],
        "ForeignEntry",
    );

    let read = read_existing(store, address).await;
    assert_eq!(
        read,
        Versioned {
            value: record,
            version
        }
    );
    store
        .write_token(
            address,
            &sample_record(address, "EAAforeign2"),
            Some(&read.version),
        )
        .await
        .expect("and written");
}

/// Long tokens, tokens with every printable ASCII character (quotes,
/// backslashes, slashes, braces), control characters and non-ASCII text,
/// and many scopes survive the round trip.
pub async fn large_and_odd_values<S: Store>(store: &S) {
    let long: String = "EAA"
        .chars()
        .chain((0..4_093).map(|index| {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            char::from(alphabet[index % alphabet.len()])
        }))
        .collect();
    assert_eq!(long.len(), 4_096);
    let printable: String = (0x20_u8..=0x7e).map(char::from).collect();
    let odd_values = [
        long.clone(),
        printable.clone(),
        format!("{printable}{printable}"),
        "line one\nline two\ttab\r\u{7f}".to_owned(),
        "ünïcödé 🔑 トークン".to_owned(),
        "x".to_owned(),
    ];
    for (index, value) in odd_values.iter().enumerate() {
        let address = &token(&format!("odd/values/token/v{index}"));
        let mut record = sample_rotated_record(address, value, &printable, NOW + 60);
        record.current.metadata.scopes = (0..60).map(|scope| format!("scope_{scope:02}")).collect();
        record.current.metadata.app_id = "9".repeat(40);
        let version = create(store, address, &record).await;
        let read = read_existing(store, address).await;
        assert!(read.value == record, "value {index} reads back equal");
        assert_eq!(read.version, version);
        assert_eq!(read.value.current.value.expose(), value.as_str());
    }
    assert_eq!(
        store.list_tokens().await.expect("list").len(),
        odd_values.len()
    );
}
