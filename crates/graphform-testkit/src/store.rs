//! What the tests of every store backend share (the wrapper that sees every
//! token write before it happens is [`crate::counting::Counting`]): one run of operations
//! that makes a backend log all it logs ([`exercise`], [`LOG_LINES`]), and
//! how an error is shown and checked ([`shown`], [`assert_shows_none`],
//! [`assert_redirect_refused`]).

use graphform_store::conformance::{
    NOW, at, lease_request, sample_record, sample_rotated_record, token,
};
use graphform_store::{Lease, Store, StoreError, TokenAddress};

use crate::logs::Capture;
use crate::redirect::RedirectTrap;

/// The address [`exercise`] writes mid-rotation, reads and deletes.
pub const ADDRESS: &str = "acme/ci-reporting/token/insights-read";

/// What every backend logs over [`exercise`] (besides the fingerprints of
/// the values written).
pub const LOG_LINES: &[&str] = &[
    "token written",
    "token deleted",
    "state document written",
    "lease acquired",
    "taking over an expired lease",
    "taking over the lease of a holder that is gone",
    "lease renewed",
    "lease released",
    "lease broken",
    ADDRESS,
];

/// What `capture` must hold after [`exercise`] with `current` and
/// `previous`: [`LOG_LINES`] and both values' fingerprints, and neither
/// value.
///
/// # Panics
///
/// When it does not.
pub fn assert_exercise_logged(capture: &Capture, current: &str, previous: &str) {
    capture.assert_contains(LOG_LINES);
    capture.assert_contains(&[
        graphform_store::Secret::new(current).fingerprint().as_str(),
        graphform_store::Secret::new(previous)
            .fingerprint()
            .as_str(),
    ]);
    capture.assert_free_of(&[current, previous]);
}

/// Every kind of store operation, for a test that looks through what a
/// backend logs: a token written mid-rotation (`current`, `previous`) at
/// [`ADDRESS`], written again (a conflict), another token written with
/// `current`, read, listed and deleted; the state document written and
/// read; a lease acquired, taken over once expired, renewed by its new
/// holder (and refused to the old one), released, acquired again, taken
/// over from a holder that is gone, and broken. Returns the other token's
/// address, which stays.
///
/// # Panics
///
/// When an operation does not do what it should.
pub async fn exercise<S: Store>(store: &S, current: &str, previous: &str) -> TokenAddress {
    let address = token(ADDRESS);
    let rotated = sample_rotated_record(&address, current, previous, NOW + 60);
    let version = store
        .write_token(&address, &rotated, None)
        .await
        .expect("write a token");
    let conflict = store.write_token(&address, &rotated, None).await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict { .. })),
        "{conflict:?}"
    );
    let other = token("acme/x/token/y");
    store
        .write_token(&other, &sample_record(&other, current), None)
        .await
        .expect("write another token");
    store.read_token(&address).await.expect("read a token");
    store.list_tokens().await.expect("list the tokens");
    store
        .delete_token(&address, &version)
        .await
        .expect("delete a token");
    store
        .write_state(b"{}", None)
        .await
        .expect("write the state");
    store.read_state().await.expect("read the state");

    let first = acquire(store, "first", NOW, 1).await;
    // An expired lease taken over is logged with its old holder.
    let second = acquire(store, "second", NOW + 200, 1).await;
    let lost = store.renew_lease(&first, at(NOW + 210)).await;
    assert!(matches!(lost, Err(StoreError::LeaseLost)), "{lost:?}");
    let second = store
        .renew_lease(&second, at(NOW + 230))
        .await
        .expect("renew the lease");
    store
        .release_lease(&second)
        .await
        .expect("release the lease");
    let third = acquire(store, "third", NOW + 240, 1).await;
    // So is a lease taken over from a holder that is gone.
    let fourth = store
        .take_over_lease(&third.info, &lease_request("fourth", NOW + 250, 60))
        .await
        .expect("take over the lease");
    store
        .break_lease(&fourth.info.id)
        .await
        .expect("break the lease");
    other
}

/// Runs `work` to its end on a current-thread runtime of its own, with
/// `capture`'s subscriber as this thread's default: the whole of a log
/// test's run.
///
/// # Panics
///
/// When no runtime can be built.
pub fn run_captured<F: Future>(capture: &Capture, work: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    capture.scoped(|| runtime.block_on(work))
}

/// Runs `command` (a consumer's: the `bao` CLI, a boto3 script) and
/// returns its standard output.
///
/// # Panics
///
/// When it cannot be run, or fails (with its standard error).
pub fn consumer_output(command: &mut std::process::Command) -> String {
    let output = command.output().expect("run the command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn acquire<S: Store>(store: &S, holder: &str, now: i64, seconds: i64) -> Lease {
    store
        .acquire_lease(&lease_request(holder, now, seconds))
        .await
        .unwrap_or_else(|error| panic!("{holder} acquires the lease: {error}"))
}

/// An error as a person or a log could see it: its message, its causes,
/// its hint and its `Debug` form.
pub fn shown(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    if let Some(hint) = error.hint() {
        text = format!("{text} [hint: {hint}]");
    }
    format!("{text} {error:?}")
}

/// `text` must contain none of `secrets`.
///
/// # Panics
///
/// When it contains one.
pub fn assert_shows_none(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "a secret is shown: {text}");
    }
}

/// A write and a read through `store`, whose server is `trap`: each fails
/// with an I/O error that says `answered` (e.g. `answered 307`), names a
/// redirect and the trap's address, and shows none of `hidden` nor the
/// value written; the redirect was not followed.
///
/// # Panics
///
/// When any of that is not so.
pub async fn assert_redirect_refused<S: Store>(
    store: &S,
    trap: &RedirectTrap,
    answered: &str,
    hidden: &[&str],
) {
    let address = token(ADDRESS);
    let value = "EAAredirectVALUE1";
    let results = [
        store
            .write_token(&address, &sample_record(&address, value), None)
            .await
            .map(|_| ()),
        store.read_token(&address).await.map(|_| ()),
    ];
    for result in results {
        let error = result.expect_err("a redirect is an error");
        let text = shown(&error);
        assert!(matches!(error, StoreError::Io { .. }), "{text}");
        assert!(text.contains(answered), "{text}");
        assert!(text.contains("redirect"), "{text}");
        assert!(text.contains(&trap.url()), "names the server: {text}");
        assert_shows_none(&text, hidden);
        assert_shows_none(&text, &[value]);
    }
    assert!(
        !trap.target_contacted(),
        "{answered}: the redirect was followed"
    );
}
