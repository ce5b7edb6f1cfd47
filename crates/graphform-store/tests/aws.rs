//! The `aws-secrets-manager` backend against a real moto server
//! (`moto_server` from the project's `.venv`, one per test, on a free
//! loopback port, stopped when the test ends): the whole conformance
//! suite, what consumers see, and the failure paths.
//!
//! The `SigV4` known-answer tests are unit tests of `src/aws/sigv4.rs` (moto
//! does not check signatures); the log capture is in `aws_logs.rs`.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use graphform_store::conformance::{
    self, NOW, create, lease_request, sample_record, sample_rotated_record, sample_token, token,
};
use graphform_store::{
    AWS_MAX_SECRET_BYTES, AwsCredentials, AwsSecretsManagerConfig, AwsSecretsManagerStore,
    LeaseBreak, LeaseId, PreviousToken, Secret, Store, StoreError, TokenAddress, TokenRecord,
};
use graphform_testkit::moto::Moto;
use graphform_testkit::redirect::{CannedServer, RedirectTrap};
use graphform_testkit::store::{assert_redirect_refused, consumer_output, shown};
use serde_json::{Value, json};

static ADDRESS: LazyLock<TokenAddress> =
    LazyLock::new(|| token("acme/ci-reporting/token/insights-read"));

graphform_store::conformance_tests! {
    fixture: moto = Moto::start(),
    store: moto.store("graphform"),
}

/// The whole suite once more on one server, each check under its own
/// prefix: prefixes keep stores apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_server_with_a_prefix_per_check() {
    let moto = Moto::start();
    conformance::run_all_numbered(|index| moto.store(&format!("run/check-{index}"))).await;
    // Every check's secrets are there, under its own prefix, and the
    // default prefix sees none of them.
    assert!(
        moto.store("graphform")
            .list_tokens()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        moto.store("run/check-3").list_tokens().await.unwrap().len(),
        7,
        "list_tokens_sorted leaves 7 of its 9 addresses, and only those"
    );
}

/// A secret under `<prefix>/tokens/` that is not a token address, made
/// past the store (as `aws secretsmanager create-secret` would), is
/// reported by listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_entries_are_reported() {
    let moto = Moto::start();
    let moto = &moto;
    conformance::foreign_entries_are_reported(&moto.store("graphform"), |key| async move {
        let name = format!("graphform/tokens/{key}");
        let (status, answer) = moto.call(
            "CreateSecret",
            &json!({"Name": name, "SecretString": "by hand"}),
        );
        assert_eq!(status, 200, "{answer}");
    })
    .await;
}

// --- What consumers see ----------------------------------------------------

/// The JSON document of `name` at `stage`, read with a plain signed
/// `GetSecretValue` (what `aws secretsmanager get-secret-value` sends).
fn consumer_read(moto: &Moto, name: &str, stage: &str) -> Option<Value> {
    let (status, answer) = moto.get_secret_value(name, stage);
    if answer["__type"] == "ResourceNotFoundException" {
        return None;
    }
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["VersionStages"]
            .as_array()
            .unwrap()
            .contains(&json!(stage)),
        "{answer}"
    );
    Some(serde_json::from_str(answer["SecretString"].as_str().unwrap()).unwrap())
}

fn rotation(
    address: &TokenAddress,
    current: &str,
    previous: &TokenRecord,
    revoke_after: i64,
) -> TokenRecord {
    TokenRecord {
        current: sample_token(address, current, NOW + 100),
        previous: Some(PreviousToken {
            token: previous.current.clone(),
            revoke_after: conformance::at(revoke_after),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_the_current_token_under_awscurrent_and_the_old_one_under_awsprevious() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let name = "graphform/tokens/acme/ci-reporting/token/insights-read";
    assert_eq!(store.token_secret_name(&ADDRESS), name);

    // Issued: AWSCURRENT only.
    let first = sample_record(&ADDRESS, "EAAfirst0001");
    let v1 = store.write_token(&ADDRESS, &first, None).await.unwrap();
    let current = consumer_read(&moto, name, "AWSCURRENT").unwrap();
    assert_eq!(current["value"], "EAAfirst0001");
    assert_eq!(current["kind"], "token");
    assert_eq!(
        current["metadata"]["fingerprint"],
        first.current.metadata.fingerprint.as_str()
    );
    assert_eq!(current["previous"], Value::Null);
    assert_eq!(consumer_read(&moto, name, "AWSPREVIOUS"), None);

    // Rotated: the new token current, the old one previous, with its
    // revoke_after.
    let rotated = rotation(&ADDRESS, "EAAsecond0002", &first, NOW + 3_600);
    let v2 = store
        .write_token(&ADDRESS, &rotated, Some(&v1))
        .await
        .unwrap();
    let current = consumer_read(&moto, name, "AWSCURRENT").unwrap();
    assert_eq!(current["value"], "EAAsecond0002");
    assert_eq!(current["previous"]["value"], "EAAfirst0001");
    assert_eq!(current["previous"]["revoke_after"], NOW + 3_600);
    let previous = consumer_read(&moto, name, "AWSPREVIOUS").unwrap();
    assert_eq!(previous["value"], "EAAfirst0001");

    // A metadata-only update during the rotation window keeps AWSPREVIOUS
    // on the old token (not on the version it replaced, whose value is the
    // current token).
    let mut touched = rotated.clone();
    touched.current.metadata.issued_by = Some("intent-7".to_owned());
    let v3 = store
        .write_token(&ADDRESS, &touched, Some(&v2))
        .await
        .unwrap();
    assert_eq!(
        consumer_read(&moto, name, "AWSCURRENT").unwrap()["value"],
        "EAAsecond0002"
    );
    let previous = consumer_read(&moto, name, "AWSPREVIOUS").unwrap();
    assert_eq!(previous["value"], "EAAfirst0001");
    assert_eq!(previous["kind"], "previous");
    assert_eq!(previous["revoke_after"], NOW + 3_600);

    // Revoked: the previous token is gone from AWSPREVIOUS too.
    let revoked = TokenRecord {
        current: touched.current.clone(),
        previous: None,
    };
    let v4 = store
        .write_token(&ADDRESS, &revoked, Some(&v3))
        .await
        .unwrap();
    assert_eq!(
        consumer_read(&moto, name, "AWSCURRENT").unwrap()["value"],
        "EAAsecond0002"
    );
    assert_eq!(consumer_read(&moto, name, "AWSPREVIOUS"), None);

    // The store's version is the AWSCURRENT VersionId.
    let (_, answer) = moto.get_secret_value(name, "AWSCURRENT");
    assert_eq!(answer["VersionId"], v4.0.as_str());

    // A record created in the middle of a rotation gets its AWSPREVIOUS too.
    let other = &token("acme/ci-reporting/token/ads-write");
    let record = sample_rotated_record(other, "EAAnew0003", "EAAold0003", NOW + 60);
    store.write_token(other, &record, None).await.unwrap();
    let other_name = store.token_secret_name(other);
    assert_eq!(
        consumer_read(&moto, &other_name, "AWSCURRENT").unwrap()["value"],
        "EAAnew0003"
    );
    assert_eq!(
        consumer_read(&moto, &other_name, "AWSPREVIOUS").unwrap()["value"],
        "EAAold0003"
    );
}

/// The same reads through boto3, the AWS SDK for Python that the `aws`
/// CLI is built on, from the `.venv` moto brought along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_sdk_reads_what_the_store_wrote() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let first = sample_record(&ADDRESS, "EAAsdkfirst01");
    let v1 = store.write_token(&ADDRESS, &first, None).await.unwrap();
    let rotated = rotation(&ADDRESS, "EAAsdksecond02", &first, NOW + 3_600);
    store
        .write_token(&ADDRESS, &rotated, Some(&v1))
        .await
        .unwrap();

    let script = r#"
import json, sys, boto3
client = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="AKIDMOTOTEST", aws_secret_access_key="x")
for stage in ("AWSCURRENT", "AWSPREVIOUS"):
    answer = client.get_secret_value(SecretId=sys.argv[2], VersionStage=stage)
    print(stage, json.loads(answer["SecretString"])["value"])
"#;
    let output = consumer_output(
        std::process::Command::new(graphform_testkit::venv_bin("python")).args([
            "-c",
            script,
            &moto.endpoint(),
            &store.token_secret_name(&ADDRESS),
        ]),
    );
    assert_eq!(
        output,
        "AWSCURRENT EAAsdksecond02\nAWSPREVIOUS EAAsdkfirst01\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_is_one_secret_per_token_plus_state_per_system_user_and_lease() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let v1 = create(&store, &ADDRESS, &sample_record(&ADDRESS, "EAAlayout1")).await;
    store
        .write_token(
            &ADDRESS,
            &rotation(
                &ADDRESS,
                "EAAlayout2",
                &sample_record(&ADDRESS, "EAAlayout1"),
                NOW,
            ),
            Some(&v1),
        )
        .await
        .unwrap();
    store.write_state(br#"{"a":1}"#, None).await.unwrap();
    let user = ADDRESS.system_user();
    store
        .write_system_user_state(user, br#"{"id": "6155"}"#, None)
        .await
        .unwrap();
    store
        .acquire_lease(&lease_request("graphform apply", NOW, 300))
        .await
        .unwrap();

    let (status, listing) = moto.call("ListSecrets", &json!({}));
    assert_eq!(status, 200);
    let mut names: Vec<&str> = listing["SecretList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["Name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "graphform/lease",
            "graphform/state",
            "graphform/state/acme/ci-reporting",
            "graphform/tokens/acme/ci-reporting/token/insights-read",
        ]
    );
    let description = |name: &str| {
        listing["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["Name"] == name)
            .and_then(|entry| entry["Description"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        description("graphform/state/acme/ci-reporting"),
        "graphform state document of system user acme/ci-reporting (no secret)"
    );
    assert_eq!(
        store.system_user_state_secret_name(user),
        "graphform/state/acme/ci-reporting"
    );
    let user_state = consumer_read(&moto, "graphform/state/acme/ci-reporting", "AWSCURRENT");
    assert_eq!(
        user_state.unwrap(),
        json!({"format": 1, "kind": "state", "document": {"id": "6155"}})
    );
    assert_eq!(
        store.list_tokens().await.unwrap(),
        std::slice::from_ref(&*ADDRESS),
        "the state secrets are no tokens"
    );
    let state = consumer_read(&moto, "graphform/state", "AWSCURRENT").unwrap();
    assert_eq!(
        state,
        json!({"format": 1, "kind": "state", "document": {"a": 1}})
    );
    let lease = consumer_read(&moto, "graphform/lease", "AWSCURRENT").unwrap();
    assert_eq!(lease["lease"]["holder"], "graphform apply");

    // Two writes, two versions: a rotation needs no extra one.
    let (_, versions) = moto.call(
        "ListSecretVersionIds",
        &json!({"SecretId": store.token_secret_name(&ADDRESS)}),
    );
    let versions = versions["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    for version in versions {
        let stages = version["VersionStages"].as_array().unwrap();
        assert!(
            stages.contains(&json!("AWSCURRENT")) != stages.contains(&json!("AWSPREVIOUS")),
            "{versions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_token_disappears_and_its_name_can_be_reused() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let v1 = create(&store, &ADDRESS, &sample_record(&ADDRESS, "EAAdelete1")).await;
    store.delete_token(&ADDRESS, &v1).await.unwrap();
    let name = store.token_secret_name(&ADDRESS);
    let (_, answer) = moto.call("DescribeSecret", &json!({"SecretId": name}));
    assert_eq!(
        answer["__type"], "ResourceNotFoundException",
        "deleted for good: {answer}"
    );
    let v2 = create(&store, &ADDRESS, &sample_record(&ADDRESS, "EAAdelete1")).await;
    assert_ne!(v1, v2, "the same content again gets a new version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_through_more_than_one_page_and_only_its_prefix() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let other = moto.store("graphform2");
    let addresses: Vec<TokenAddress> = (0..130)
        .map(|index| token(&format!("page/su/token/t{index:03}")))
        .collect();
    for chunk in addresses.chunks(16) {
        conformance::join_all(
            chunk
                .iter()
                .map(|address| async {
                    create(&store, address, &sample_record(address, "EAApage")).await;
                })
                .collect(),
        )
        .await;
    }
    let elsewhere = token("elsewhere/su/token/t");
    create(&other, &elsewhere, &sample_record(&elsewhere, "EAApage")).await;
    store.write_state(b"{}", None).await.unwrap();
    // ListSecrets answers at most 100 per page.
    assert_eq!(store.list_tokens().await.unwrap(), addresses);
    assert_eq!(other.list_tokens().await.unwrap(), [elsewhere]);

    moto.reset();
    assert!(store.list_tokens().await.unwrap().is_empty());
    assert!(store.read_state().await.unwrap().is_none());
}

// --- Failures ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_mid_way_gives_clear_io_errors() {
    let mut moto = Moto::start();
    let store = moto.store("graphform");
    let endpoint = moto.endpoint();
    let record = sample_rotated_record(&ADDRESS, "EAAdown0001", "EAAdown0000", NOW + 60);
    let version = store.write_token(&ADDRESS, &record, None).await.unwrap();
    let lease = store
        .acquire_lease(&lease_request("graphform apply", NOW, 300))
        .await
        .unwrap();
    moto.stop();

    let new = token("acme/new/token/t");
    let started = Instant::now();
    let errors = [
        (
            "GetSecretValue",
            store.read_token(&ADDRESS).await.map(|_| ()),
        ),
        ("ListSecrets", store.list_tokens().await.map(|_| ())),
        (
            "GetSecretValue",
            store
                .write_token(&ADDRESS, &record, Some(&version))
                .await
                .map(|_| ()),
        ),
        (
            "CreateSecret",
            store
                .write_token(&new, &sample_record(&new, "EAAdown0002"), None)
                .await
                .map(|_| ()),
        ),
        (
            "GetSecretValue",
            store.delete_token(&ADDRESS, &version).await,
        ),
        ("GetSecretValue", store.read_state().await.map(|_| ())),
        (
            "CreateSecret",
            store.write_state(b"{}", None).await.map(|_| ()),
        ),
        (
            "CreateSecret",
            store
                .acquire_lease(&lease_request("other", NOW, 300))
                .await
                .map(|_| ()),
        ),
        (
            "GetSecretValue",
            store
                .renew_lease(&lease, conformance::at(NOW + 600))
                .await
                .map(|_| ()),
        ),
        ("GetSecretValue", store.release_lease(&lease).await),
        ("GetSecretValue", store.read_lease().await.map(|_| ())),
        (
            "GetSecretValue",
            store.break_lease(&LeaseId::random()).await.map(|_| ()),
        ),
    ];
    for (action, result) in errors {
        let error = result.expect_err("the server is down");
        let shown = shown(&error);
        assert!(matches!(error, StoreError::Io { .. }), "{shown}");
        assert!(shown.contains(&endpoint), "names the endpoint: {shown}");
        assert!(
            shown.contains(&format!("secretsmanager:{action} on graphform/")),
            "{shown}"
        );
        for value in ["EAAdown0000", "EAAdown0001", "EAAdown0002"] {
            assert!(!shown.contains(value), "{shown}");
        }
    }
    // Three attempts per call, backing off 0.1 s then 0.2 s: bounded.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// A server answering every request with `status` and the AWS error
/// `body`, for errors moto does not produce (it does not enforce IAM).
fn canned_server(status: u16, body: &str) -> CannedServer {
    CannedServer::start(status, "application/x-amz-json-1.1", body)
}

fn store_at(endpoint: &str) -> AwsSecretsManagerStore {
    let config = AwsSecretsManagerConfig {
        region: Some("eu-west-1".to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        ..AwsSecretsManagerConfig::default()
    };
    AwsSecretsManagerStore::new(&config, Moto::credentials()).unwrap()
}

#[tokio::test]
async fn access_denied_names_the_secret_and_the_action() {
    let server = canned_server(
        400,
        r#"{"__type":"AccessDeniedException","Message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: secretsmanager:PutSecretValue"}"#,
    );
    let store = store_at(&server.url());
    match store.read_token(&ADDRESS).await {
        Err(StoreError::Config { message, hint }) => {
            assert!(
                message.contains(
                    "AWS denied secretsmanager:GetSecretValue on secret \
                     graphform/tokens/acme/ci-reporting/token/insights-read (region eu-west-1)"
                ),
                "{message}"
            );
            assert!(message.contains("user/ci is not authorized"), "{message}");
            let hint = hint.unwrap();
            assert!(
                hint.contains("arn:aws:secretsmanager:eu-west-1:ACCOUNT:secret:graphform/*"),
                "{hint}"
            );
            assert!(hint.contains("docs/stores.md"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    match store.list_tokens().await {
        Err(StoreError::Config { message, .. }) => {
            assert!(message.contains("secretsmanager:ListSecrets"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejected_credentials_are_a_configuration_error() {
    let server = canned_server(
        400,
        r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
    );
    match store_at(&server.url()).read_state().await {
        Err(StoreError::Config { message, hint }) => {
            assert!(
                message.contains("AWS rejected the credentials"),
                "{message}"
            );
            assert!(hint.unwrap().contains("AWS_ACCESS_KEY_ID"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let server = canned_server(
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    match store_at(&server.url()).read_lease().await {
        Err(StoreError::Io { operation, source }) => {
            assert!(
                operation.contains("secretsmanager:GetSecretValue on graphform/lease"),
                "{operation}"
            );
            assert_eq!(
                source.to_string(),
                "ThrottlingException (HTTP 400): Rate exceeded"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn oversized_objects_are_refused_before_sending() {
    // Nothing listens there: a request would be an Io error.
    let store = store_at("http://127.0.0.1:9");
    let huge = "E".repeat(AWS_MAX_SECRET_BYTES);
    match store
        .write_token(&ADDRESS, &sample_record(&ADDRESS, &huge), None)
        .await
    {
        Err(StoreError::Invalid { what, reason }) => {
            assert!(what.contains(&ADDRESS.to_string()), "{what}");
            assert!(reason.contains("65536"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A state document that does not compress below the limit either.
    let mut noise = String::from("[");
    let mut seed: u64 = 1;
    while noise.len() < 3 * AWS_MAX_SECRET_BYTES {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        write!(noise, "\"{seed:016x}\",").unwrap();
    }
    noise.push_str("0]");
    match store.write_state(noise.as_bytes(), None).await {
        Err(StoreError::Invalid { what, reason }) => {
            assert_eq!(what, "the state document");
            assert!(reason.contains("compressed"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match store
        .write_system_user_state(ADDRESS.system_user(), noise.as_bytes(), None)
        .await
    {
        Err(StoreError::Invalid { what, reason }) => {
            assert_eq!(what, "the state document of acme/ci-reporting");
            assert!(reason.contains("compressed"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn debug_and_errors_show_no_credential() {
    let config = AwsSecretsManagerConfig {
        region: Some("eu-west-1".to_owned()),
        endpoint_url: Some("http://127.0.0.1:9".to_owned()),
        ..AwsSecretsManagerConfig::default()
    };
    let credentials = AwsCredentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        Some(Secret::new("FwoGZXIvYXdzEXAMPLESESSIONTOKEN")),
    );
    let store = AwsSecretsManagerStore::new(&config, credentials.clone()).unwrap();
    let error = store.read_token(&ADDRESS).await.unwrap_err();
    let shown = format!(
        "{store:?} {store:#?} {} {credentials:?} {error} {error:?}",
        store.describe()
    );
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
        "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("eu-west-1") && shown.contains("http://127.0.0.1:9"),
        "{shown}"
    );
}

/// A redirect (307 and 308 keep the method and body) is never followed:
/// it would resend the token values of a write and the session token to
/// another address. The call fails at once (no retry) with an error
/// naming the status and the endpoint, not the redirect's body.
#[tokio::test]
async fn redirects_are_not_followed() {
    let body = r#"{"__type":"RedirectBodyException","message":"REDIRECT-BODY-MARKER"}"#;
    for status in [307, 308, 301] {
        let trap = RedirectTrap::start(status, body);
        let config = AwsSecretsManagerConfig {
            region: Some("eu-west-1".to_owned()),
            endpoint_url: Some(trap.url()),
            ..AwsSecretsManagerConfig::default()
        };
        let credentials = AwsCredentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            Some(Secret::new("FwoGZXIvYXdzREDIRECTSESSIONTOKEN")),
        );
        let store = AwsSecretsManagerStore::new(&config, credentials).unwrap();
        assert_redirect_refused(
            &store,
            &trap,
            &format!("HTTP {status}"),
            &[
                "REDIRECT-BODY-MARKER",
                "RedirectBodyException",
                "FwoGZXIvYXdzREDIRECTSESSIONTOKEN",
            ],
        )
        .await;
        assert_eq!(
            trap.redirects(),
            2,
            "HTTP {status}: one request per call, no retry"
        );
    }
}

#[test]
fn the_store_and_its_futures_are_send_and_sync() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<AwsSecretsManagerStore>();
    let store = store_at("http://127.0.0.1:9");
    let record = sample_record(&ADDRESS, "EAAsend");
    send(&store.read_token(&ADDRESS));
    send(&store.write_token(&ADDRESS, &record, None));
    send(&store.list_tokens());
    send(&store.acquire_lease(&lease_request("x", NOW, 1)));
}

/// A release that crashed between its tombstone and its `DeleteSecret`
/// leaves the lease secret as a tombstone: no lease. `unlock` leaves it
/// alone: it has no ID to compare, and deleting it by name could delete a
/// lease another apply creates once the releaser's delete finishes. The
/// next claim writes over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_leaves_a_tombstone_alone_and_a_claim_writes_over_it() {
    let moto = Moto::start();
    let store = moto.store("graphform");
    let first = lease_request("graphform apply (job 1)", NOW, 300);
    store.acquire_lease(&first).await.unwrap();
    let name = store.lease_secret_name();
    let (status, answer) = moto.call(
        "PutSecretValue",
        &json!({
            "SecretId": name,
            "SecretString": r#"{"format":1,"kind":"deleted"}"#,
            "VersionStages": ["AWSCURRENT"],
        }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        store.read_lease().await.unwrap(),
        None,
        "a tombstone is no lease"
    );

    assert_eq!(
        store.break_lease(&first.id).await.unwrap(),
        LeaseBreak::NotHeld
    );
    let (_, answer) = moto.call("DescribeSecret", &json!({"SecretId": name}));
    assert_eq!(answer["Name"], name, "unlock deleted nothing: {answer}");

    let second = lease_request("graphform apply (job 2)", NOW, 300);
    store.acquire_lease(&second).await.unwrap();
    assert_eq!(store.read_lease().await.unwrap(), Some(second));
}
