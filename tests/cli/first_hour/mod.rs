//! The first hour: what a new user sees after each of the first mistakes
//! people make (issue 15), as transcripts — exit code, stdout and stderr,
//! paths and ports filtered — so each message stays one that says where,
//! what was expected and what to do.
//!
//! One submodule per area: the policy file (`policy`), reaching the Graph
//! API (`graph`), and setting up the store and the environment (`setup`).
//! Each transcript is a `.snap` file in `tests/cli/snapshots/`, named
//! `cli__first_hour__<area>__<test>.snap`.

/// [`graphform_snapshot!`] with [`transcripts`]' settings.
macro_rules! transcript {
    ($($snapshot:tt)*) => {{
        let _in_snapshots = super::transcripts().bind_to_scope();
        graphform_snapshot!($($snapshot)*);
    }};
}

mod graph;
mod policy;
mod setup;

use std::path::Path;

use crate::common::repo_root;

/// The snapshot settings of every transcript: the `.snap` files go to
/// `tests/cli/snapshots/` with the other areas' and the CLI's, rather than
/// beside each submodule.
pub(crate) fn transcripts() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings
}

/// The quickstart policy: a valid starting point each mistake is made in.
pub(crate) fn quickstart() -> String {
    std::fs::read_to_string(repo_root().join("examples/quickstart.yaml")).expect("quickstart")
}

/// Writes `text` to `dir/name`.
pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}
