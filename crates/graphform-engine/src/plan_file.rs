//! The plan file: a [`Plan`] as versioned JSON (docs/plan-json.md), the
//! review record `graphform plan --out` writes and `apply` and `show` read.
//!
//! - [`to_json`]: the document, safe to print (see [`is_unprintable`]).
//! - [`write()`]: atomically — a reader sees the old file or the whole new
//!   one, never half a plan.
//! - [`read`]: refuses what is not a plan of this graphform's
//!   [`PLAN_FORMAT_VERSION`].

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::{PLAN_FORMAT_VERSION, Plan};

/// Why a plan file could not be written or read. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Reading the file failed.
    #[error("cannot read the plan file `{}`", path.display())]
    Read {
        /// The plan file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// Writing the file failed; whatever was at `path` before is untouched.
    #[error("cannot write the plan file `{}`", path.display())]
    Write {
        /// The plan file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON.
    #[error("`{}` is not a plan file (not JSON)", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// Where the JSON broke.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON has no numeric `format_version`.
    #[error("`{}` is not a plan file (no `format_version`)", path.display())]
    NoVersion {
        /// The file.
        path: PathBuf,
    },
    /// A plan of a format version this graphform does not read.
    #[error(
        "`{}` is a plan of format version {found}; this graphform reads version {supported}",
        path.display()
    )]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// Its `format_version`.
        found: u64,
        /// The one this graphform reads ([`PLAN_FORMAT_VERSION`]).
        supported: u32,
    },
    /// The version is right but the document is not a valid plan.
    #[error("`{}` is not a valid plan file", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        #[source]
        source: serde_json::Error,
    },
}

impl PlanFileError {
    /// What to do about it, where there is something to do.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::WrongVersion { .. } => Some(
                "make the plan again with this graphform: `graphform plan --out FILE`, review it, and apply that",
            ),
            _ => None,
        }
    }
}

/// Writes `plan` to `path` as [`to_json`] does: into a new temporary file
/// beside it, flushed to disk, then renamed over `path` (and the directory
/// flushed). On failure, or a
/// crash at any point, `path` holds what it held before (a crash may leave
/// a `.graphform-plan…` temporary file beside it, never a partial plan at
/// `path`). The file gets the permissions `std::fs::write` would give it.
pub fn write(plan: &Plan, path: &Path) -> Result<(), PlanFileError> {
    write_with(plan, path, |_| Ok(()))
}

/// [`write()`], calling `before_persist` with the complete temporary file's
/// path right before the rename (tests fail there, as a crash would).
fn write_with(
    plan: &Plan,
    path: &Path,
    before_persist: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<(), PlanFileError> {
    let failed = |source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".graphform-plan").suffix(".tmp");
    // Like `std::fs::write`: readable as the umask allows (tempfile's own
    // default is owner-only). A plan holds no secret.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir).map_err(failed)?;
    file.write_all(to_json(plan).as_bytes()).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    before_persist(file.path()).map_err(failed)?;
    file.persist(path).map_err(|error| failed(error.error))?;
    // The rename is durable once the directory is: a plan reported
    // written survives a power loss.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(failed)?;
    Ok(())
}

/// Reads the plan file at `path`, refusing what is not JSON, has no
/// `format_version`, is of another format version, or is not a plan.
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let document: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| PlanFileError::NotJson {
            path: path.to_path_buf(),
            source,
        })?;
    match document
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(found) if found == u64::from(PLAN_FORMAT_VERSION) => {}
        Some(found) => {
            return Err(PlanFileError::WrongVersion {
                path: path.to_path_buf(),
                found,
                supported: PLAN_FORMAT_VERSION,
            });
        }
        None => {
            return Err(PlanFileError::NoVersion {
                path: path.to_path_buf(),
            });
        }
    }
    serde_json::from_value(document).map_err(|source| PlanFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether a character would act on a terminal or hide text instead of
/// being shown: control characters (C0, newline and tab included; DEL; C1
/// such as U+009B, a one-character CSI), bidi controls (U+202E and
/// friends), zero-width and invisible characters, line and paragraph
/// separators, and tag characters. The plan file writes them as `\uXXXX`;
/// renderers show them escaped.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// The plan as versioned, pretty-printed JSON (docs/plan-json.md), with a
/// trailing newline: what [`write()`] writes and `plan --format json` prints.
///
/// `serde_json` escapes C0 control characters; the rest of
/// [`is_unprintable`] (DEL, C1, bidi controls…) is written as `\uXXXX` too,
/// so the JSON is safe to print, and every string reads back unchanged.
/// Outside strings the pretty printer writes only spaces and newlines, so
/// every other unprintable character of its output is inside a string,
/// where an escape means the same character.
pub fn to_json(plan: &Plan) -> String {
    safe_json(plan)
}

/// Any of graphform's documents (a plan, a status) as pretty-printed
/// JSON safe to print, with a trailing newline: every character of
/// [`is_unprintable`] inside a string is written as `\uXXXX` (see
/// [`to_json`]).
pub fn safe_json<T: serde::Serialize>(document: &T) -> String {
    let json = serde_json::to_string_pretty(document)
        .expect("graphform's documents are plain data, which serializes to JSON");
    let mut text = String::with_capacity(json.len() + 1);
    for c in json.chars() {
        if c != '\n' && is_unprintable(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(text, "\\u{unit:04x}");
            }
        } else {
            text.push(c);
        }
    }
    text.push('\n');
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use graphform_types::Timestamp;

    use super::*;

    /// A small plan with one change and a string the JSON must escape.
    pub(crate) fn plan() -> Plan {
        let json = serde_json::json!({
            "format_version": PLAN_FORMAT_VERSION,
            "created_at": 1_795_305_600,
            "valid_until": 1_795_564_800,
            "policy_hash": "sha256:11",
            "state_hash": "sha256:22",
            "changes": [{
                "address": "acme/ci-reporting",
                "action": "create",
                "reason": "no system user named `ci-reporting`\u{202e}\u{e0041}\n",
            }],
            "notices": [],
            "timeline": [],
        });
        let plan: Plan = serde_json::from_value(json).expect("a plan");
        assert_eq!(plan.created_at, Timestamp::from_unix(1_795_305_600));
        plan
    }

    /// The text of the file at `path`.
    fn contents(path: impl AsRef<Path>) -> String {
        std::fs::read_to_string(path).expect("readable")
    }

    /// Every file in `dir`, by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("readable")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_written_plan_reads_back_equal_and_holds_the_json_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        let plan = plan();
        write(&plan, &path).expect("written");
        let bytes = contents(&path);
        assert_eq!(bytes, to_json(&plan));
        // Escaped as JSON does: bidi and tag characters too, as UTF-16.
        assert!(
            bytes.contains(r#"`ci-reporting`\u202e\udb40\udc41\n""#),
            "{bytes}"
        );
        assert_eq!(read(&path).expect("a plan"), plan);
        // Writing again replaces it, and leaves no temporary file behind.
        write(&plan, &path).expect("rewritten");
        assert_eq!(names(dir.path()), ["plan.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_plan_file_is_not_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        write(&plan(), &path).expect("written");
        std::fs::write(dir.path().join("reference"), "x").expect("written");
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .expect("metadata")
                .permissions()
                .mode()
        };
        assert_eq!(mode("plan.json"), mode("reference"));
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        std::fs::write(&path, "the reviewed plan").expect("written");
        let plan = plan();
        let result = write_with(&plan, &path, |temporary| {
            // Complete and on disk beside the plan file, which is untouched.
            assert_eq!(temporary.parent(), Some(dir.path()));
            assert_eq!(contents(temporary), to_json(&plan));
            assert_eq!(contents(&path), "the reviewed plan");
            Err(io::Error::other("killed"))
        });
        let error = result.expect_err("the write failed");
        assert_eq!(
            error.to_string(),
            format!("cannot write the plan file `{}`", path.display())
        );
        assert_eq!(contents(&path), "the reviewed plan");
        assert_eq!(names(dir.path()), ["plan.json"]);
    }

    #[test]
    fn a_failed_rename_leaves_what_was_there() {
        // A non-empty directory cannot be replaced by a file.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        std::fs::create_dir(&path).expect("created");
        std::fs::write(path.join("kept"), "kept").expect("written");
        let error = write(&plan(), &path).expect_err("refused");
        assert!(matches!(error, PlanFileError::Write { .. }), "{error:?}");
        assert_eq!(contents(path.join("kept")), "kept");
        assert_eq!(names(dir.path()), ["plan.json"]);
    }

    #[test]
    fn another_format_version_is_refused_with_a_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{\"format_version\": 99}").expect("written");
        let error = read(&path).expect_err("refused");
        assert!(
            matches!(
                error,
                PlanFileError::WrongVersion {
                    found: 99,
                    supported: PLAN_FORMAT_VERSION,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "`{}` is a plan of format version 99; this graphform reads version 1",
                path.display()
            )
        );
        assert!(
            error
                .hint()
                .is_some_and(|hint| hint.contains("graphform plan --out"))
        );
    }

    #[test]
    fn what_is_not_a_plan_is_refused_and_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("not JSON", "plan: yes\n"),
            ("no `format_version`", "{\"format_version\": \"1\"}"),
            ("not a valid plan file", "{\"format_version\": 1}"),
        ];
        for (said, content) in cases {
            let path = dir.path().join("x.json");
            std::fs::write(&path, content).expect("written");
            let error = read(&path).expect_err("refused");
            assert!(error.to_string().contains(said), "{said}: {error}");
            assert_eq!(error.hint(), None);
        }
        let missing = read(&dir.path().join("missing.json")).expect_err("refused");
        assert!(matches!(missing, PlanFileError::Read { .. }), "{missing:?}");
    }
}
