//! Problems found in a policy, and their rustc-style rendering.
//!
//! Neither a diagnostic nor its rendering holds a secret: what looks like
//! one is masked in messages as they are built and in every source line
//! as it is shown ([`crate::secret`], issue 10).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use graphform_types::style::{self, Paint};

use crate::secret::{self, redact};

/// How bad a diagnostic is. Only errors make a policy invalid.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy is invalid.
    Error,
    /// The policy is valid, but probably not what was meant.
    Warning,
}

/// A stable, kebab-case identifier for each kind of problem.
///
/// Codes are part of graphform's interface (scripts match on them); add new
/// ones, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file could not be read.
    Io,
    /// The YAML itself is malformed.
    YamlSyntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// A value has the wrong type (a list where a string was expected…).
    InvalidType,
    /// A required field is absent.
    MissingField,
    /// A key that the policy format does not have.
    UnknownKey,
    /// `version` is not a version this graphform understands.
    UnsupportedVersion,
    /// A name breaks `[a-z0-9][a-z0-9-]*`.
    InvalidName,
    /// Two siblings share a name.
    DuplicateName,
    /// Two objects share an address.
    DuplicateAddress,
    /// A Meta ID is not a string of digits.
    InvalidId,
    /// Two objects share a Meta ID.
    DuplicateId,
    /// A duration is not `<n>d`, `<n>h` or `<n>m`.
    InvalidDuration,
    /// Durations that contradict each other (`grace` ≥ `refresh_before`…).
    DurationOrder,
    /// A scope that system-user tokens cannot have.
    UnknownScope,
    /// The same scope listed twice.
    DuplicateScope,
    /// A token with no scopes.
    EmptyScopes,
    /// An app name not declared where it must be.
    UnknownApp,
    /// A token's app is not installed for its system user.
    AppNotInstalled,
    /// A value outside its allowed set (role, store type, expiry…).
    InvalidValue,
    /// A field that does not apply in its context.
    NotApplicable,
    /// An environment-variable name that is not one.
    InvalidEnvName,
    /// A value that looks like a secret written into the policy.
    SecretInPolicy,
    /// Files of one policy directory disagree on a shared setting.
    ConflictingSetting,
    /// A setting that is allowed but risky.
    Risky,
    /// A policy directory with no `*.yaml` or `*.yml` file.
    NoPolicyFiles,
    /// A policy file that holds nothing, or only comments.
    EmptyPolicy,
}

impl Code {
    /// Every code, in documentation order.
    pub const ALL: &[Code] = &[
        Self::Io,
        Self::YamlSyntax,
        Self::DuplicateKey,
        Self::InvalidType,
        Self::MissingField,
        Self::UnknownKey,
        Self::UnsupportedVersion,
        Self::InvalidName,
        Self::DuplicateName,
        Self::DuplicateAddress,
        Self::InvalidId,
        Self::DuplicateId,
        Self::InvalidDuration,
        Self::DurationOrder,
        Self::UnknownScope,
        Self::DuplicateScope,
        Self::EmptyScopes,
        Self::UnknownApp,
        Self::AppNotInstalled,
        Self::InvalidValue,
        Self::NotApplicable,
        Self::InvalidEnvName,
        Self::SecretInPolicy,
        Self::ConflictingSetting,
        Self::Risky,
        Self::NoPolicyFiles,
        Self::EmptyPolicy,
    ];

    /// The code as printed: `error[unknown-scope]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::YamlSyntax => "yaml-syntax",
            Self::DuplicateKey => "duplicate-key",
            Self::InvalidType => "invalid-type",
            Self::MissingField => "missing-field",
            Self::UnknownKey => "unknown-key",
            Self::UnsupportedVersion => "unsupported-version",
            Self::InvalidName => "invalid-name",
            Self::DuplicateName => "duplicate-name",
            Self::DuplicateAddress => "duplicate-address",
            Self::InvalidId => "invalid-id",
            Self::DuplicateId => "duplicate-id",
            Self::InvalidDuration => "invalid-duration",
            Self::DurationOrder => "duration-order",
            Self::UnknownScope => "unknown-scope",
            Self::DuplicateScope => "duplicate-scope",
            Self::EmptyScopes => "empty-scopes",
            Self::UnknownApp => "unknown-app",
            Self::AppNotInstalled => "app-not-installed",
            Self::InvalidValue => "invalid-value",
            Self::NotApplicable => "not-applicable",
            Self::InvalidEnvName => "invalid-env-name",
            Self::SecretInPolicy => "secret-in-policy",
            Self::ConflictingSetting => "conflicting-setting",
            Self::Risky => "risky",
            Self::NoPolicyFiles => "no-policy-files",
            Self::EmptyPolicy => "empty-policy",
        }
    }

    /// One sentence on what the code means, for docs and `--explain`-style
    /// help.
    pub fn description(self) -> &'static str {
        match self {
            Self::Io => "the policy file or directory could not be read",
            Self::YamlSyntax => "the file is not well-formed YAML",
            Self::DuplicateKey => "a mapping has the same key twice; YAML keeps only one of them",
            Self::InvalidType => "a value has the wrong type",
            Self::MissingField => "a required field is missing",
            Self::UnknownKey => "a key that the policy format does not define",
            Self::UnsupportedVersion => "the policy's `version` is not one this graphform reads",
            Self::InvalidName => {
                "names are lowercase letters, digits and `-`, starting with a letter or digit"
            }
            Self::DuplicateName => "two siblings have the same name",
            Self::DuplicateAddress => "two objects have the same address",
            Self::InvalidId => "Meta IDs are strings of digits",
            Self::DuplicateId => "two objects have the same Meta ID",
            Self::InvalidDuration => "durations are `<n>d`, `<n>h` or `<n>m`",
            Self::DurationOrder => "durations that contradict each other",
            Self::UnknownScope => "a permission that system-user tokens cannot be issued with",
            Self::DuplicateScope => "a scope listed twice",
            Self::EmptyScopes => "a token needs at least one scope",
            Self::UnknownApp => "an app name that is not declared in the business's `apps`",
            Self::AppNotInstalled => "a token's app must be in its system user's `apps`",
            Self::InvalidValue => "a value outside the allowed set",
            Self::NotApplicable => "a field that does not apply here",
            Self::InvalidEnvName => "environment variable names are `[A-Za-z_][A-Za-z0-9_]*`",
            Self::SecretInPolicy => {
                "a secret written into the policy instead of an environment variable's name"
            }
            Self::ConflictingSetting => {
                "files of one policy directory disagree on a shared setting"
            }
            Self::Risky => "allowed, but risky",
            Self::NoPolicyFiles => "a policy directory holds no `*.yaml` or `*.yml` file",
            Self::EmptyPolicy => "a policy file holds nothing, or only comments",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code as printed: `unknown-scope`.
impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Every code, in documentation order.
impl schemars::JsonSchema for Code {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Code".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = Self::ALL.iter().map(|code| code.as_str()).collect();
        schemars::json_schema!({
            "description": "A stable, kebab-case identifier of the kind of problem: scripts may match on it; codes are added, never renamed.",
            "type": "string",
            "enum": codes
        })
    }
}

/// Where in a policy file a problem is. Lines and columns are 1-based and
/// count characters, as editors do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// The file, as the user named it (or as found in a policy directory).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How many characters to underline (at least 1 when rendered).
    pub len: usize,
}

/// One problem in a policy: what is wrong, where, what was expected, and a
/// hint.
///
/// The constructors and builders mask anything in the message, label and
/// hint that looks like a secret ([`secret::redact`]), so a diagnostic can
/// be printed or serialized as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// Shown under the underlined text: usually what was expected.
    pub label: Option<String>,
    /// A suggestion: "did you mean `read_insights`?".
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: redacted(message.into()),
            location: None,
            label: None,
            help: None,
        }
    }

    /// A warning.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Sets where the problem is.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets the label under the underlined text.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(redacted(label.into()));
        self
    }

    /// Sets the hint.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(redacted(help.into()));
        self
    }

    /// Whether this diagnostic makes the policy invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `text`, with what looks like a secret masked, without copying text
/// that holds none.
fn redacted(text: String) -> String {
    match redact(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}

/// The text of every file a policy was loaded from, so diagnostics can show
/// the offending line, and where in it values reported as secrets are.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: BTreeMap<PathBuf, String>,
    /// Per file: (1-based line, 0-based character range) of each value
    /// reported as a secret.
    secrets: BTreeMap<PathBuf, Vec<(usize, Range<usize>)>>,
}

impl Sources {
    /// Remembers a file's text.
    pub fn insert(&mut self, file: PathBuf, text: String) {
        self.files.insert(file, text);
    }

    /// A file's text, if it was loaded. It is the file as read, secrets
    /// included: print it with [`render`], which masks them.
    pub fn get(&self, file: &Path) -> Option<&str> {
        self.files.get(file).map(String::as_str)
    }

    /// Remembers that the value at `location` is a secret: [`render`] masks
    /// it in every line it shows, even if it does not look like one.
    pub(crate) fn mark_secret(&mut self, location: &Location) {
        self.secrets
            .entry(location.file.clone())
            .or_default()
            .push((location.line, value_range(location)));
    }

    /// The character ranges of the secrets marked on `line` of `file`.
    fn secrets_on(&self, file: &Path, line: usize) -> Vec<Range<usize>> {
        self.secrets
            .get(file)
            .into_iter()
            .flatten()
            .filter(|(on, _)| *on == line)
            .map(|(_, range)| range.clone())
            .collect()
    }
}

/// The 0-based character range a location underlines.
fn value_range(location: &Location) -> Range<usize> {
    let start = location.column.saturating_sub(1);
    start..start + location.len.max(1)
}

/// Renders a diagnostic the way rustc and cargo do, with anything that
/// looks like a secret masked (the quoted line included):
///
/// ```text
/// error[unknown-scope]: unknown scope `read_insight`
///   --> graphform.yaml:14:32
///    |
/// 14 |         scopes: [ads_read, read_insight]
///    |                            ^^^^^^^^^^^^ not a system-user scope
///    |
///    = help: did you mean `read_insights`?
/// ```
pub fn render(diagnostic: &Diagnostic, sources: &Sources, color: bool) -> String {
    let paint = Paint::new(color);
    let (kind, kind_style) = match diagnostic.severity {
        Severity::Error => ("error", style::ERROR),
        Severity::Warning => ("warning", style::WARNING),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        paint.paint(kind_style, &format!("{kind}[{}]", diagnostic.code)),
        paint.paint(
            style::EMPHASIS,
            &format!(": {}", redact(&diagnostic.message))
        ),
    );
    let line_text = diagnostic.location.as_ref().and_then(|location| {
        let text = sources.get(&location.file)?;
        text.lines().nth(location.line.checked_sub(1)?)
    });
    let gutter = diagnostic
        .location
        .as_ref()
        .map_or(1, |location| location.line.to_string().len());
    let pad = " ".repeat(gutter);
    let bar = paint.paint(style::NOTE, "|");
    if let Some(location) = &diagnostic.location {
        let _ = writeln!(
            out,
            "{pad}{} {}:{}:{}",
            paint.paint(style::NOTE, "-->"),
            location.file.display(),
            location.line,
            location.column,
        );
        if let Some(line_text) = line_text {
            let mut secrets = sources.secrets_on(&location.file, location.line);
            if diagnostic.code == Code::SecretInPolicy {
                secrets.push(value_range(location));
            }
            let shown = secret::mask_line(line_text.trim_end(), &secrets);
            let _ = writeln!(out, "{pad} {bar}");
            let number = paint.paint(style::NOTE, &format!("{} |", location.line));
            let _ = writeln!(out, "{number} {}", shown.text);
            let underlined = value_range(location);
            let start = shown.position(underlined.start, false);
            let end = shown.position(underlined.end, true);
            let available = shown.text.chars().count().saturating_sub(start);
            let len = end.saturating_sub(start).clamp(1, available.max(1));
            let caret = format!("{}{}", " ".repeat(start), "^".repeat(len));
            let label = diagnostic
                .label
                .as_deref()
                .map(|label| format!(" {}", redact(label)))
                .unwrap_or_default();
            let marked = paint.paint(kind_style, &format!("{caret}{label}"));
            let _ = writeln!(out, "{pad} {bar} {marked}");
        }
    }
    if let Some(help) = &diagnostic.help {
        if diagnostic.location.is_some() && line_text.is_some() {
            let _ = writeln!(out, "{pad} {bar}");
        }
        let label = paint.paint(style::NOTE, "= help");
        let _ = writeln!(out, "{pad} {label}: {}", redact(help));
    } else if diagnostic.location.is_none()
        && let Some(label) = &diagnostic.label
    {
        let _ = writeln!(out, "{pad} = note: {}", redact(label));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy whose line 14 holds a misspelt scope: two-digit line
    /// numbers widen the gutter.
    fn sources() -> Sources {
        let mut text = "version: 1\n".to_owned();
        for _ in 2..14 {
            text.push_str("# …\n");
        }
        text.push_str("        scopes: [ads_read, read_insight]\n");
        let mut sources = Sources::default();
        sources.insert("policy.yaml".into(), text);
        sources
    }

    /// One diagnostic of each layout `render` has: the same problem, with
    /// or without each part.
    fn layouts() -> [(&'static str, Diagnostic); 4] {
        let in_file = |file: &str| Location {
            file: file.into(),
            line: 14,
            column: 28,
            len: 12,
        };
        let full = Diagnostic::error(Code::UnknownScope, "unknown scope `read_insight`")
            .at(in_file("policy.yaml"))
            .label("not a system-user scope")
            .help("did you mean `read_insights`?");
        let warning_without_hint = Diagnostic {
            severity: Severity::Warning,
            help: None,
            ..full.clone()
        };
        let line_not_loaded = full.clone().at(in_file("other.yaml"));
        let no_location = Diagnostic {
            location: None,
            help: None,
            ..full.clone()
        };
        [
            ("quoted_line", full),
            ("warning_without_hint", warning_without_hint),
            ("line_not_loaded", line_not_loaded),
            ("no_location", no_location),
        ]
    }

    #[test]
    fn plain_rendering_lays_out_like_rustc() {
        let sources = sources();
        for (name, diagnostic) in layouts() {
            let plain = render(&diagnostic, &sources, false);
            assert!(!plain.contains('\u{1b}'), "{plain:?}");
            insta::assert_snapshot!(name, plain);
        }
    }

    /// Colour only wraps parts of the plain text in the shared palette's
    /// styles: without them, the coloured text is the plain one.
    #[test]
    fn colour_paints_parts_with_the_palette_and_changes_nothing_else() {
        let sources = sources();
        let paint = Paint::new(true);
        let mut codes: Vec<String> = [style::ERROR, style::WARNING, style::NOTE, style::EMPHASIS]
            .iter()
            .flat_map(|s| [s.render().to_string(), s.render_reset().to_string()])
            .collect();
        // Longest first, so no code is removed piecemeal.
        codes.sort_by_key(|code| std::cmp::Reverse(code.len()));
        for (name, diagnostic) in layouts() {
            let colored = render(&diagnostic, &sources, true);
            let stripped = codes
                .iter()
                .fold(colored.clone(), |text, code| text.replace(code, ""));
            assert_eq!(stripped, render(&diagnostic, &sources, false), "{name}");
            let (kind, style) = match diagnostic.severity {
                Severity::Error => ("error", style::ERROR),
                Severity::Warning => ("warning", style::WARNING),
            };
            let header = format!("{kind}[{}]", diagnostic.code);
            assert!(
                colored.starts_with(&paint.paint(style, &header)),
                "{name}: {colored:?}"
            );
            let message = format!(": {}", diagnostic.message);
            assert!(
                colored.contains(&paint.paint(style::EMPHASIS, &message)),
                "{name}: {colored:?}"
            );
            if diagnostic.location.is_some() {
                assert!(
                    colored.contains(&paint.paint(style::NOTE, "-->")),
                    "{name}: {colored:?}"
                );
            }
            if diagnostic.help.is_some() {
                assert!(
                    colored.contains(&paint.paint(style::NOTE, "= help")),
                    "{name}: {colored:?}"
                );
            }
        }
        let quoted = render(&layouts()[0].1, &sources, true);
        for part in [
            "|",
            "14 |",
            "                           ^^^^^^^^^^^^ not a system-user scope",
        ] {
            let style = if part.contains('^') {
                style::ERROR
            } else {
                style::NOTE
            };
            assert!(
                quoted.contains(&paint.paint(style, part)),
                "{part}: {quoted:?}"
            );
        }
    }
}
