//! First mistakes: policy.
//!
//! The policy file a new user writes by hand: several type errors at once,
//! a directory of `*.yml` files, a tab for indentation, an empty file, a
//! policy that is not where the command looks for it (issue 15).

use super::{quickstart, write};
use crate::common::graphform;

/// A policy with three mistakes: an unquoted business ID (a type error),
/// an unknown scope and a duration in words.
const THREE_MISTAKES: &str = "\
version: 1
businesses:
  - name: acme
    id: 100000000000001
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: \"200000000000001\", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - name: insights-read
            app: reporting
            scopes: [ads_read, read_insight]
            grace: 1 day
";

/// One business of a policy directory, named `name` with the ID `id`.
fn business(name: &str, id: &str) -> String {
    format!(
        "\
version: 1
businesses:
  - name: {name}
    id: \"{id}\"
    admin: {{ token_env: ADMIN_TOKEN, app: reporting }}
    apps:
      reporting: {{ id: \"200000000000001\", secret_env: REPORTING_APP_SECRET }}
"
    )
}

#[test]
fn a_type_error_does_not_hide_the_other_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "graphform.yaml", THREE_MISTAKES);
    transcript!(graphform(dir.path()).arg("validate"));
}

/// [`THREE_MISTAKES`] with those three put right and one other made
/// instead (`from` replaced by `to`), in a temporary directory: the
/// directory and the command that validates it there.
fn with_one_mistake(from: &str, to: &str) -> (tempfile::TempDir, std::process::Command) {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = THREE_MISTAKES
        .replace("id: 100000000000001", "id: \"100000000000001\"")
        .replace("read_insight]", "read_insights]")
        .replace("1 day", "1d");
    assert!(policy.contains(from), "{from}");
    write(dir.path(), "graphform.yaml", &policy.replace(from, to));
    let mut command = graphform(dir.path());
    command.arg("validate");
    (dir, command)
}

#[test]
fn a_list_where_a_mapping_belongs_is_one_error() {
    let (_dir, mut validate) = with_one_mistake(
        "admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }",
        "admin: [ACME_ADMIN_TOKEN, reporting]",
    );
    transcript!(&mut validate);
}

#[test]
fn a_mapping_where_a_string_belongs_is_one_error() {
    let (_dir, mut validate) = with_one_mistake(
        "app: reporting\n            scopes",
        "app:\n              name: reporting\n            scopes",
    );
    transcript!(&mut validate);
}

#[test]
fn a_quoted_version_is_one_error() {
    let (_dir, mut validate) = with_one_mistake("version: 1", "version: \"1\"");
    transcript!(&mut validate);
}

#[test]
fn yml_files_of_a_policy_directory_are_read_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("policy")).expect("mkdir");
    let policy = dir.path().join("policy");
    write(&policy, "acme.yaml", &quickstart());
    write(
        &policy,
        "globex.yml",
        &business("globex", "100000000000002"),
    );
    transcript!(graphform(dir.path()).args(["validate", "policy"]));
}

#[test]
fn a_tab_is_pointed_at_where_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "graphform.yaml",
        "version: 1\nbusinesses:\n  - name: acme\n\tid: \"1\"\n",
    );
    transcript!(graphform(dir.path()).arg("validate"));
}

#[test]
fn a_tab_in_block_indentation_is_pointed_at_where_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "graphform.yaml",
        "version: 1\nbusinesses:\n\t- name: acme\n",
    );
    transcript!(graphform(dir.path()).arg("validate"));
}

#[test]
fn an_empty_policy_says_what_a_policy_starts_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "graphform.yaml",
        "# graphform policy\n# to be written\n",
    );
    transcript!(graphform(dir.path()).arg("validate"));
}

#[test]
fn validate_of_a_missing_file_says_it_cannot_be_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    transcript!(graphform(dir.path()).args(["validate", "nonexist.yaml"]));
}

#[test]
fn plan_without_a_policy_says_how_to_name_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    transcript!(graphform(dir.path()).arg("plan"));
}

#[test]
fn plan_of_a_missing_policy_says_how_to_name_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    transcript!(graphform(dir.path()).args(["plan", "--policy", "nonexist.yaml"]));
}

#[test]
fn a_directory_without_policy_files_says_what_it_should_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("policy")).expect("mkdir");
    write(&dir.path().join("policy"), "README.md", "notes\n");
    transcript!(graphform(dir.path()).args(["validate", "policy"]));
}

#[test]
fn plan_of_a_directory_without_policy_files_says_what_it_should_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("policy")).expect("mkdir");
    transcript!(graphform(dir.path()).args(["plan", "-p", "policy"]));
}

#[test]
fn a_device_reads_as_an_empty_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    transcript!(graphform(dir.path()).args(["validate", "/dev/null"]));
}

#[test]
fn a_path_through_a_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "graphform.yaml",
        &business("acme", "100000000000001"),
    );
    transcript!(graphform(dir.path()).args(["validate", "graphform.yaml/acme.yaml"]));
}

#[test]
fn a_secret_written_as_a_number_is_masked_in_every_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = business("acme", "100000000000001").replace(
        "secret_env: REPORTING_APP_SECRET",
        "secret_env: 12345678901234567890123456789012",
    );
    write(dir.path(), "graphform.yaml", &policy);
    transcript!(graphform(dir.path()).arg("validate"));
}

#[test]
fn a_variable_written_as_a_shell_reference_gets_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = business("acme", "100000000000001")
        .replace(
            "secret_env: REPORTING_APP_SECRET",
            "secret_env: \"$REPORTING_APP_SECRET\"",
        )
        .replace("token_env: ADMIN_TOKEN", "token_env: \"${ADMIN_TOKEN}\"");
    write(dir.path(), "graphform.yaml", &policy);
    transcript!(graphform(dir.path()).arg("validate"));
}

#[test]
fn an_expiry_written_as_a_number_is_given_its_format() {
    let (_dir, mut validate) = with_one_mistake(
        "scopes: [ads_read",
        "expiry: 60\n            scopes: [ads_read",
    );
    transcript!(&mut validate);
}

#[test]
fn an_empty_policy_variable_is_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "graphform.yaml", &quickstart());
    transcript!(
        graphform(dir.path())
            .arg("validate")
            .env("GRAPHFORM_POLICY", "")
    );
}
