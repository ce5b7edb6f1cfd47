//! Every policy in `examples/` (files and directories) is valid, and the
//! committed JSON Schema is the one the types generate.

use std::path::{Path, PathBuf};

use graphform_spec::{load, render};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_is_valid_and_has_a_schema_modeline() {
    let examples = repo_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let path = entry.expect("entry").path();
        let is_policy = path.is_dir() || path.extension().is_some_and(|e| e == "yaml");
        if !is_policy {
            continue;
        }
        let loaded = load(&path);
        let rendered: String = loaded
            .diagnostics
            .iter()
            .map(|d| render(d, &loaded.sources, false))
            .collect();
        assert!(
            loaded.spec.is_some(),
            "{} is invalid:\n{rendered}",
            path.display()
        );
        assert_eq!(
            loaded.warning_count(),
            0,
            "{} has warnings:\n{rendered}",
            path.display()
        );
        for file in &loaded.files {
            let text = std::fs::read_to_string(file).expect("readable");
            assert!(
                text.starts_with("# yaml-language-server: $schema="),
                "{} must start with the yaml-language-server modeline",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected a quickstart, a directory and one example per feature; found {checked}"
    );
}

#[test]
fn schema_describes_the_fields() {
    let schema: serde_json::Value =
        serde_json::from_str(&graphform_spec::json_schema()).expect("JSON");
    let token = &schema["$defs"]["RawToken"];
    assert_eq!(
        token["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    assert!(
        token["properties"]["scopes"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Permissions"))
    );
    let required: Vec<&str> = token["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        required.contains(&"scopes") && required.contains(&"name") && required.contains(&"app"),
        "{required:?}"
    );
}

#[test]
fn docs_explain_every_diagnostic_code() {
    let docs = std::fs::read_to_string(repo_root().join("docs/policy.md")).expect("docs/policy.md");
    for code in graphform_spec::Code::ALL {
        let row = format!("| `{code}` | {} |", code.description());
        assert!(docs.contains(&row), "docs/policy.md lacks the row:\n{row}");
    }
}
