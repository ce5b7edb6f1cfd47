use super::*;

#[test]
fn token_location_nests_segments() {
    let (secret, _) = generate_identity();
    let store = FileStore::with_identity("/srv/store", &secret).unwrap();
    let address = "acme/ci/token/read".parse().unwrap();
    let (dir, name) = store.inner.token_location(&address);
    assert_eq!(dir, Path::new("/srv/store/tokens/acme/ci/token"));
    assert_eq!(name, "read.age");
}

#[test]
fn identity_line_accepts_age_keygen_files() {
    let (secret, recipient) = generate_identity();
    let file = format!(
        "# created: 2026-01-01T00:00:00Z\n# public key: {recipient}\n{}\n",
        secret.expose()
    );
    let line = identity_line(&file, &CredentialSource::given(KEY)).unwrap();
    assert_eq!(line, secret.expose());
    assert!(parse_identity(line, &CredentialSource::given(KEY)).is_ok());
}

#[test]
fn malformed_identities_are_config_errors_that_quote_nothing() {
    let (secret, recipient) = generate_identity();
    let mut truncated = secret.expose().to_owned();
    truncated.pop();
    let two_keys = format!("{}\n{}", secret.expose(), secret.expose());
    // The key's Bech32 data, which no message may contain.
    let key_data = &secret.expose()[IDENTITY_PREFIX.len()..];
    for bad in [
        "",
        "  \n# only a comment\n",
        "hunter2",
        &recipient,
        &truncated,
        &two_keys,
    ] {
        let error = identity_line(bad, &CredentialSource::given(KEY))
            .and_then(|line| parse_identity(line, &CredentialSource::given(KEY)).map(|_| ()))
            .expect_err("a malformed key is refused");
        let shown = format!("{error} {error:?}");
        assert!(
            matches!(error, StoreError::Config { hint: Some(_), .. }),
            "{shown}"
        );
        assert!(!shown.contains(&key_data[..20]), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[test]
fn compare_matches_exact_versions_only() {
    assert!(compare(String::new, None, None).is_ok());
    assert!(compare(String::new, Some(&version(3)), Some(3)).is_ok());
    assert!(matches!(
        compare(|| "x".to_owned(), Some(&version(3)), Some(4)),
        Err(StoreError::Conflict {
            expected: Some(_),
            found: Some(_),
            ..
        })
    ));
    assert!(compare(String::new, None, Some(1)).is_err());
    assert!(compare(String::new, Some(&version(1)), None).is_err());
    assert!(compare(String::new, Some(&Version("03".to_owned())), Some(3)).is_err());
}
