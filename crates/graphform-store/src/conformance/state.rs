//! Checks of the state document: byte for byte, compare-and-set, large.

use super::{assert_conflict, create, sample_record, token};
use crate::{Store, Version};

/// The state document reads back byte for byte, with compare-and-set like
/// tokens, and its versions are independent of the tokens'.
pub async fn state_document_round_trip<S: Store>(store: &S) {
    let first = br#"{"businesses":{"acme":{"id":"100000000000001"}},"journal":[]}"#;
    let v1 = write_and_read_back(store, first, None, "create the state").await;

    let odd = concat!(
        "{\n",
        "  \"name\": \"名前 \\\"quoted\\\" \\\\ \\u0000\",\n",
        "  \"n\": 1.50e3,\n",
        "  \"list\": [ 1 , 2 ]\n",
        "}"
    );
    let v2 = write_and_read_back(
        store,
        odd.as_bytes(),
        Some(&v1),
        "an update, whitespace inside kept",
    )
    .await;

    let result = store.write_state(first, Some(&v1)).await;
    assert_conflict(
        result,
        Some(&v1),
        Some(&v2),
        "state write with a stale version",
    );
    let result = store.write_state(first, None).await;
    assert_conflict(result, None, Some(&v2), "state create-only when it exists");

    // A token write does not move the state's version.
    let address = &token("acme/ci/token/read");
    create(store, address, &sample_record(address, "EAAstate")).await;

    let entries: Vec<String> = (0..4_000)
        .map(|index| format!("{{\"entry\":{index},\"note\":\"journal line {index}\"}}"))
        .collect();
    let large = format!("{{\"journal\":[{}]}}", entries.join(","));
    assert!(large.len() > 100_000);
    write_and_read_back(store, large.as_bytes(), Some(&v2), "a large document").await;
}

/// Writes `document` against `expected` and reads it back, byte for byte,
/// at the version the write returned; that version.
async fn write_and_read_back<S: Store>(
    store: &S,
    document: &[u8],
    expected: Option<&Version>,
    context: &str,
) -> Version {
    let version = store
        .write_state(document, expected)
        .await
        .unwrap_or_else(|error| panic!("{context}: {error}"));
    let read = store
        .read_state()
        .await
        .expect("read the state")
        .expect("the state exists");
    assert!(
        read.value == document,
        "{context}: reads back byte for byte ({} bytes read, {} written)",
        read.value.len(),
        document.len()
    );
    assert_eq!(read.version, version, "{context}: at the version written");
    version
}
