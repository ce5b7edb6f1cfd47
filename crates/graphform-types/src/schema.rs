//! The JSON Schema of a document, printed the one way every committed
//! `schemas/*.schema.json` is.

/// The JSON Schema of `T` (draft 2020-12, generated from its type and doc
/// comments), pretty-printed with a trailing newline: the content of its
/// committed `schemas/*.schema.json`.
pub fn json_schema<T: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON Schema serializes to JSON");
    text.push('\n');
    text
}
