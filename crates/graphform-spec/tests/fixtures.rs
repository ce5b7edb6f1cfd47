//! Policy fixtures: every invalid one reports the rule it breaks (and the
//! whole rendered diagnostic output is snapshotted); every valid one loads.

use std::path::{Path, PathBuf};

use graphform_spec::{Loaded, load, render};

/// The fixture's path relative to the crate, so snapshots do not depend on
/// where the checkout is.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("fixtures live in the crate")
        .to_path_buf()
}

fn rendered(loaded: &Loaded) -> String {
    loaded
        .diagnostics
        .iter()
        .map(|d| render(d, &loaded.sources, false))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The codes a fixture says it breaks: its first line is `# expect: a, b`.
fn expected_codes(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let first = text.lines().next().unwrap_or_default();
    let codes = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} must start with `# expect: <code>`", path.display()));
    codes
        .split(',')
        .map(|code| code.trim().to_owned())
        .collect()
}

#[test]
fn invalid_fixtures_report_the_rule_they_break() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let loaded = load(&relative(path));
        assert!(
            loaded.spec.is_none(),
            "{} should be invalid",
            path.display()
        );
        let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code.as_str()).collect();
        for expected in expected_codes(path) {
            assert!(
                codes.contains(&expected.as_str()),
                "{}: expected `{expected}` among {codes:?}",
                path.display()
            );
        }
        for diagnostic in &loaded.diagnostics {
            let location = diagnostic
                .location
                .as_ref()
                .expect("every problem in a file has a location");
            assert!(location.line >= 1 && location.column >= 1);
        }
        insta::assert_snapshot!(rendered(&loaded));
    });
}

#[test]
fn the_invalid_fixtures_cover_at_least_twenty_distinct_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut rules = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        rules.insert(path.file_stem().expect("name").to_owned());
    }
    assert!(rules.len() >= 20, "{} fixtures", rules.len());
}

#[test]
fn valid_fixtures_load() {
    insta::glob!("fixtures/valid/*.yaml", |path| {
        let loaded = load(&relative(path));
        assert_eq!(loaded.error_count(), 0, "{}", rendered(&loaded));
        let spec = loaded.spec.expect("valid");
        insta::assert_debug_snapshot!(spec);
    });
}

#[test]
fn several_problems_are_all_reported_in_one_run() {
    let loaded = load(Path::new("tests/fixtures/invalid/several-problems.yaml"));
    assert!(loaded.error_count() >= 4, "{}", rendered(&loaded));
}

#[test]
fn a_typo_an_unknown_key_and_a_bad_duration_are_three_errors_at_their_places() {
    let text = "\
version: 1
defaults:
  grace: 2 days
businesses:
  - name: acme
    id: \"100000000000001\"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: \"200000000000001\", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokne: x
        tokens:
          - name: insights-read
            app: reporting
            scopes: [ads_read, read_insight]
";
    let loaded = graphform_spec::load_texts(vec![("policy.yaml".into(), text.to_owned())]);
    let found: Vec<(&str, usize, usize, Option<&str>)> = loaded
        .diagnostics
        .iter()
        .map(|d| {
            let location = d.location.as_ref().expect("located");
            (
                d.code.as_str(),
                location.line,
                location.column,
                d.help.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("invalid-duration", 3, 10, Some("write `2d`")),
            ("unknown-key", 13, 9, Some("did you mean `tokens`?")),
            (
                "unknown-scope",
                17,
                32,
                Some("did you mean `read_insights`?")
            ),
        ]
    );
}

#[test]
fn a_directory_merges_businesses() {
    let loaded = load(Path::new("tests/fixtures/dirs/merged"));
    let spec = loaded.spec.expect("valid");
    let names: Vec<&str> = spec.businesses.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["acme", "globex"]);
}

#[test]
fn directory_fixtures_report_conflicts() {
    for (dir, code) in [
        ("conflicting-store", "conflicting-setting"),
        ("duplicate-business", "duplicate-address"),
        ("empty", "no-policy-files"),
    ] {
        let loaded = load(&Path::new("tests/fixtures/dirs").join(dir));
        assert!(loaded.spec.is_none(), "{dir}");
        assert!(
            loaded.diagnostics.iter().any(|d| d.code.as_str() == code),
            "{dir}: {}",
            rendered(&loaded)
        );
        insta::assert_snapshot!(format!("dir-{dir}"), rendered(&loaded));
    }
}

#[test]
fn a_missing_file_is_an_error_with_a_hint() {
    let loaded = load(Path::new("tests/fixtures/does-not-exist.yaml"));
    assert!(loaded.spec.is_none());
    assert_eq!(loaded.diagnostics[0].code.as_str(), "io");
    assert!(loaded.diagnostics[0].help.is_some());
}
