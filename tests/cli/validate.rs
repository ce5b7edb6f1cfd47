//! `graphform validate`.

use crate::common::{assert_matches_schema, graphform, json_of, repo_root, run};

#[test]
fn validate_accepts_the_quickstart() {
    graphform_snapshot!(graphform(&repo_root()).args(["validate", "examples/quickstart.yaml"]), @r"
    exit_code: 0
    ----- stdout -----
    examples/quickstart.yaml is valid: 1 business, 1 system user, 1 token
    ----- stderr -----
    ");
}

#[test]
fn validate_reads_graphform_yaml_in_the_current_directory_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo_root().join("examples/quickstart.yaml"),
        dir.path().join("graphform.yaml"),
    )
    .expect("copy");
    graphform_snapshot!(graphform(dir.path()).arg("validate"), @r"
    exit_code: 0
    ----- stdout -----
    graphform.yaml is valid: 1 business, 1 system user, 1 token
    ----- stderr -----
    ");
}

#[test]
fn validate_takes_the_policy_from_the_environment() {
    graphform_snapshot!(
        graphform(&repo_root())
            .arg("validate")
            .env("GRAPHFORM_POLICY", "examples/multi-business")
    );
}

#[test]
fn validate_reports_every_problem_rustc_style_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("graphform.yaml"),
        "\
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
",
    )
    .expect("write");
    graphform_snapshot!(graphform(dir.path()).arg("validate"), @r"
    exit_code: 1
    ----- stdout -----
    ----- stderr -----
    error[invalid-duration]: invalid duration `2 days`
     --> graphform.yaml:3:10
      |
    3 |   grace: 2 days
      |          ^^^^^^ expected `<n>d`, `<n>h` or `<n>m`
      |
      = help: write `2d`

    error[unknown-key]: unknown key `tokne`
      --> graphform.yaml:13:9
       |
    13 |         tokne: x
       |         ^^^^^ not a key of the policy format
       |
       = help: did you mean `tokens`?

    error[unknown-scope]: unknown scope `read_insight`
      --> graphform.yaml:17:32
       |
    17 |             scopes: [ads_read, read_insight]
       |                                ^^^^^^^^^^^^ not a system-user scope
       |
       = help: did you mean `read_insights`?

    error: graphform.yaml is invalid: 3 errors
    ");
}

#[test]
fn validate_json_is_machine_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.yaml"), "version: 1\nbusineses: []\n").expect("write");
    let output = graphform(dir.path())
        .args(["validate", "p.yaml", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 1);
    let diagnostic = &report["diagnostics"][0];
    assert_eq!(diagnostic["code"], "unknown-key");
    assert_eq!(diagnostic["line"], 2);
    assert_eq!(diagnostic["column"], 1);
    assert_eq!(diagnostic["help"], "did you mean `businesses`?");
    assert!(output.stderr.is_empty(), "json mode keeps stderr quiet");

    // The document is the one schemas/validate-report.schema.json
    // describes, and the schema can fail: codes are the documented ones.
    let validator = assert_matches_schema("validate-report.schema.json", &report);
    let mut broken = report.clone();
    broken["diagnostics"][0]["code"] = serde_json::json!("unknown-keys");
    assert!(!validator.is_valid(&broken));

    // A valid policy's report has its counts.
    let (code, report) = json_of(
        graphform(dir.path())
            .arg("validate")
            .arg(repo_root().join("examples/quickstart.yaml"))
            .args(["--format", "json"]),
    );
    assert_eq!((code, &report["valid"]), (0, &true.into()), "{report:#}");
    assert!(report["counts"]["tokens"].as_u64() > Some(0), "{report:#}");
    assert_matches_schema("validate-report.schema.json", &report);
}

#[test]
fn validate_explains_a_missing_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    graphform_snapshot!(graphform(dir.path()).arg("validate"));
}

#[test]
fn validate_never_prints_a_secret_written_into_the_policy() {
    // See issue 10: CI logs keep what `validate` prints, so a secret pasted
    // into the policy is not quoted back, not even as the offending source
    // line, in text or JSON, at any log level.
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "EAAGm0PX4ZCpsBAKZCZBZAZCZBZAXq3ZCZBsecretsecret";
    let policy = std::fs::read_to_string(repo_root().join("examples/quickstart.yaml"))
        .expect("read")
        .replace("ACME_ADMIN_TOKEN", secret);
    std::fs::write(dir.path().join("graphform.yaml"), policy).expect("write");
    let tail = &secret[4..];

    let output = graphform(dir.path())
        .arg("validate")
        .env("RUST_LOG", "trace")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("error[secret-in-policy]"), "{stderr}");
    assert!(
        stderr.contains("token_env: EAAG…(redacted, 47 characters)"),
        "{stderr}"
    );
    assert!(!stderr.contains(tail) && !stdout.contains(tail), "{stderr}");

    let output = graphform(dir.path())
        .args(["validate", "--format", "json"])
        .env("RUST_LOG", "trace")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.contains("\"secret-in-policy\""), "{stdout}");
    assert!(!stderr.contains(tail) && !stdout.contains(tail), "{stdout}");
}

#[test]
fn help_teaches_with_examples() {
    graphform_snapshot!(
        "validate_help",
        graphform(&repo_root()).args(["validate", "--help"])
    );
    graphform_snapshot!("help", graphform(&repo_root()).arg("--help"));
}

#[test]
fn version_is_printed() {
    let (code, text) = run(graphform(&repo_root()).arg("--version"));
    assert_eq!(code, 0);
    assert!(
        text.contains(concat!("graphform ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}
