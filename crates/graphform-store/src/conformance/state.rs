//! Checks of the state documents, the root one and each system user's:
//! byte for byte, compare-and-set, large, and independent of each other
//! and of the tokens.

use super::{StateDoc, assert_conflict, create, sample_record, system_user, token};
use crate::{Store, TokenAddress, Version};

/// The state document reads back byte for byte, with compare-and-set like
/// tokens, and its versions are independent of the tokens'.
pub async fn state_document_round_trip<S: Store>(store: &S) {
    round_trip(store, StateDoc::Root).await;
}

/// A system user's state document behaves as the root one does
/// ([`state_document_round_trip`]): absent until written, byte for byte,
/// compare-and-set, large.
pub async fn system_user_state_round_trip<S: Store>(store: &S) {
    round_trip(
        store,
        StateDoc::SystemUser(&system_user("acme/ci-reporting")),
    )
    .await;
}

/// What [`state_document_round_trip`] checks, on `doc`.
async fn round_trip<S: Store>(store: &S, doc: StateDoc<'_>) {
    let missing = doc.read(store).await.expect("read a missing state");
    assert!(missing.is_none(), "{doc:?}: none before it is written");
    let made_up = Version("no-such-version".to_owned());
    let result = doc.write(store, b"{}", Some(&made_up)).await;
    assert_conflict(result, Some(&made_up), None, "an update of a missing state");

    let first = br#"{"businesses":{"acme":{"id":"100000000000001"}},"journal":[]}"#;
    let v1 = write_and_read_back(store, doc, first, None, "create the state").await;

    let odd = concat!(
        "{\n",
        "  \"name\": \"名前 \\\"quoted\\\" \\\\ \\u0000\",\n",
        "  \"n\": 1.50e3,\n",
        "  \"list\": [ 1 , 2 ]\n",
        "}"
    );
    let v2 = write_and_read_back(
        store,
        doc,
        odd.as_bytes(),
        Some(&v1),
        "an update, whitespace inside kept",
    )
    .await;

    let result = doc.write(store, first, Some(&v1)).await;
    assert_conflict(
        result,
        Some(&v1),
        Some(&v2),
        "state write with a stale version",
    );
    let result = doc.write(store, first, None).await;
    assert_conflict(result, None, Some(&v2), "state create-only when it exists");

    // A token write does not move the state's version.
    let address = &token("acme/ci-reporting/token/read");
    create(store, address, &sample_record(address, "EAAstate")).await;

    let entries: Vec<String> = (0..4_000)
        .map(|index| format!("{{\"entry\":{index},\"note\":\"journal line {index}\"}}"))
        .collect();
    let large = format!("{{\"journal\":[{}]}}", entries.join(","));
    assert!(large.len() > 100_000);
    write_and_read_back(store, doc, large.as_bytes(), Some(&v2), "a large document").await;
}

/// The root state document and those of several system users (names that
/// are prefixes of each other, the same name in two businesses, names of
/// the backends' own folders) are separate objects: writing one changes no
/// other's bytes or version, a version of one is never accepted for
/// another, and none of them is listed as a token or reported as a
/// foreign entry.
pub async fn state_documents_are_independent<S: Store>(store: &S) {
    let users = ["acme/ci", "acme/ci-reporting", "other/ci", "tokens/state"].map(system_user);
    let docs: Vec<StateDoc<'_>> = std::iter::once(StateDoc::Root)
        .chain(users.iter().map(StateDoc::SystemUser))
        .collect();
    let mut written = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let document = format!("{{\"document\":{index}}}").into_bytes();
        let version = write_and_read_back(store, *doc, &document, None, "create").await;
        written.push((document, version));
    }
    for (index, (_, version)) in written.iter().enumerate() {
        assert!(
            written[..index].iter().all(|(_, other)| other != version),
            "{:?}: a version of its own",
            docs[index]
        );
    }
    let address = &token("acme/ci/token/read");
    create(store, address, &sample_record(address, "EAAindependent")).await;
    assert_documents(store, &docs, &written, "after a token write").await;

    // Each in turn: its version does not update another, and its own
    // update leaves every other as it was.
    for index in 0..docs.len() {
        let doc = docs[index];
        let next = (index + 1) % docs.len();
        let (_, others_version) = &written[next];
        let result = doc.write(store, b"{}", Some(others_version)).await;
        assert_conflict(
            result,
            Some(others_version),
            Some(&written[index].1),
            &format!("{doc:?} written against the version of {:?}", docs[next]),
        );
        let document = format!("{{\"document\":{index},\"updated\":true}}").into_bytes();
        let version =
            write_and_read_back(store, doc, &document, Some(&written[index].1), "an update").await;
        written[index] = (document, version);
        assert_documents(store, &docs, &written, &format!("after {doc:?} changed")).await;
    }

    assert_eq!(
        store.list_tokens().await.expect("list, no foreign entry"),
        Vec::<TokenAddress>::from([address.clone()]),
        "state documents are not tokens"
    );
}

/// Every one of `docs` reads back as `written` (bytes and version).
async fn assert_documents<S: Store>(
    store: &S,
    docs: &[StateDoc<'_>],
    written: &[(Vec<u8>, Version)],
    context: &str,
) {
    for (doc, (document, version)) in docs.iter().zip(written) {
        let read = doc.read_existing(store).await;
        assert!(
            read.value == *document,
            "{context}: {doc:?} is unchanged ({:?})",
            String::from_utf8_lossy(&read.value)
        );
        assert_eq!(read.version, *version, "{context}: {doc:?}'s version");
    }
}

/// Writes `document` to `doc` against `expected` and reads it back, byte
/// for byte, at the version the write returned; that version.
async fn write_and_read_back<S: Store>(
    store: &S,
    doc: StateDoc<'_>,
    document: &[u8],
    expected: Option<&Version>,
    context: &str,
) -> Version {
    let version = doc
        .write(store, document, expected)
        .await
        .unwrap_or_else(|error| panic!("{doc:?}: {context}: {error}"));
    let read = doc.read_existing(store).await;
    assert!(
        read.value == document,
        "{doc:?}: {context}: reads back byte for byte ({} bytes read, {} written)",
        read.value.len(),
        document.len()
    );
    assert_eq!(
        read.version, version,
        "{doc:?}: {context}: at the version written"
    );
    version
}
