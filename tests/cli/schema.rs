//! `graphform schema`.

use crate::common::{graphform, repo_root};

#[test]
fn schema_prints_the_committed_schema() {
    let output = graphform(&repo_root())
        .arg("schema")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let committed =
        std::fs::read(repo_root().join("schemas/graphform.schema.json")).expect("committed schema");
    assert_eq!(
        output.stdout, committed,
        "regenerate with: cargo run -- schema > schemas/graphform.schema.json"
    );
}
