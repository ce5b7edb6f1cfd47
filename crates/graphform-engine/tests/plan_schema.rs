//! The committed JSON Schemas are the ones the types generate: the plan
//! document and the apply report.

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
        "schemas/{name} is stale; regenerate it with\n  \
         GRAPHFORM_UPDATE_SCHEMA=1 cargo test -p graphform-engine --test plan_schema"
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
