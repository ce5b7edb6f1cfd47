//! Every committed JSON Schema (`schemas/`) is the one its type generates:
//! the policy, and each document graphform prints for tools.

use std::path::Path;

/// Compares `schemas/<name>` with `generated`; with
/// `GRAPHFORM_UPDATE_SCHEMA` set, writes it first.
fn check(name: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(name);
    if std::env::var_os("GRAPHFORM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/{name} is stale; regenerate every schema with\n  \
         GRAPHFORM_UPDATE_SCHEMA=1 cargo test -p graphform-engine --test schemas"
    );
}

#[test]
fn committed_policy_schema_is_up_to_date() {
    check("graphform.schema.json", &graphform_spec::json_schema());
}

#[test]
fn committed_validate_report_schema_is_up_to_date() {
    check(
        "validate-report.schema.json",
        &graphform_spec::report::validation_report_schema(),
    );
}

#[test]
fn committed_plan_schema_is_up_to_date() {
    check("plan.schema.json", &graphform_engine::plan_schema());
}

#[test]
fn committed_apply_report_schema_is_up_to_date() {
    check(
        "apply-report.schema.json",
        &graphform_engine::apply::apply_report_schema(),
    );
}

#[test]
fn committed_status_schema_is_up_to_date() {
    check(
        "status.schema.json",
        &graphform_engine::status::status_schema(),
    );
}

#[test]
fn committed_import_report_schema_is_up_to_date() {
    check(
        "import-report.schema.json",
        &graphform_engine::import::import_report_schema(),
    );
}

#[test]
fn committed_lock_status_schema_is_up_to_date() {
    check(
        "lock-status.schema.json",
        &graphform_engine::lock::lock_status_schema(),
    );
}

#[test]
fn every_document_graphform_prints_has_a_format_version() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let mut documents = 0;
    for entry in std::fs::read_dir(&dir).expect("schemas/") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a name").to_string_lossy();
        // The policy is a document people write, versioned by `version`.
        if name == "graphform.schema.json" {
            continue;
        }
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let required = schema["required"].as_array().expect("required fields");
        assert!(
            required.iter().any(|field| field == "format_version"),
            "schemas/{name}: its document has no required `format_version`"
        );
        documents += 1;
    }
    assert!(documents >= 6, "found only {documents} document schemas");
}
