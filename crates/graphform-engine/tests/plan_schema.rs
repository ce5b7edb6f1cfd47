//! The committed plan JSON Schema is the one the types generate.

use std::path::Path;

#[test]
fn committed_plan_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/plan.schema.json");
    let generated = graphform_engine::plan_schema();
    if std::env::var_os("GRAPHFORM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/plan.schema.json is stale; regenerate it with\n  \
         GRAPHFORM_UPDATE_SCHEMA=1 cargo test -p graphform-engine --test plan_schema"
    );
}
