//! The values that recur across the policy: required fields, names
//! (`[a-z0-9][a-z0-9-]*`), Meta IDs (strings of digits), environment
//! variable names (never a secret pasted in their place), references to a
//! business's apps and entries listed twice; with the suggestions their
//! diagnostics offer.

use std::collections::BTreeMap;

use super::Validator;
use super::place::At;
use crate::diagnostic::Code;
use crate::secret::{Context, is_env_name, looks_like_secret, mask};
use crate::suggest::{backticked, did_you_mean};

/// A required field: its key, and what to write there (the hint when it
/// is missing).
pub(super) struct Required {
    key: &'static str,
    hint: &'static str,
}

impl Required {
    pub(super) const fn new(key: &'static str, hint: &'static str) -> Self {
        Self { key, hint }
    }
}

/// A kind of entry that has a name (business, system user, token): what
/// messages call it, and its required `name` field.
pub(super) struct Named {
    what: &'static str,
    name: Required,
}

impl Named {
    pub(super) const fn new(what: &'static str, hint: &'static str) -> Self {
        Self {
            what,
            name: Required::new("name", hint),
        }
    }
}

impl Validator {
    /// A required field, which must also pass `check` (given the value
    /// and its place): reports it when absent, and `check` reports it when
    /// invalid. The value only when it is present and valid.
    pub(super) fn required<'v>(
        &mut self,
        at: &At<'_>,
        field: &Required,
        value: Option<&'v String>,
        check: impl FnOnce(&mut Self, &'v str, At<'_>) -> bool,
    ) -> Option<&'v String> {
        let Required { key, hint } = field;
        let Some(value) = value else {
            self.push(
                at.error(Code::MissingField, format!("missing `{key}`"))
                    .help(format!("add `{key}`: {hint}")),
            );
            return None;
        };
        check(self, value, at.field(key)).then_some(value)
    }

    /// The required, valid `name` of an entry of kind `named`.
    pub(super) fn entry_name<'v>(
        &mut self,
        at: &At<'_>,
        value: Option<&'v String>,
        named: &Named,
    ) -> Option<&'v String> {
        self.required(at, &named.name, value, |v, name, at| {
            v.name(name, at, named.what)
        })
    }

    /// A list of named entries (system users, tokens): each checked by
    /// `check`, and each name used once in the list; a repeat is an error,
    /// "… names are unique within `within`". `names_of` gives an entry's
    /// name and its `renamed_from` (see [`Self::renames`]). The checked
    /// entries, or `None` when one failed (every entry is checked either
    /// way).
    pub(super) fn named_entries<'r, R, T>(
        &mut self,
        list_at: At<'_>,
        entries: Option<&'r [R]>,
        names_of: impl Fn(&'r R) -> (Option<&'r String>, Option<&'r String>),
        (named, within): (&Named, &str),
        mut check: impl FnMut(&mut Self, &At<'_>, &'r R) -> Option<T>,
    ) -> Option<Vec<T>> {
        let what = named.what;
        let mut ok = true;
        let mut lines: BTreeMap<&str, usize> = BTreeMap::new();
        let mut checked = Vec::new();
        for (index, entry) in entries.into_iter().flatten().enumerate() {
            let at = list_at.item(index);
            if let Some(name) = names_of(entry).0
                && let Some(line) = lines.insert(name, at.line())
            {
                ok = false;
                self.push(
                    at.field("name")
                        .error(
                            Code::DuplicateName,
                            format!("{what} `{name}` is listed twice"),
                        )
                        .help(format!(
                            "the first is on line {line}; {what} names are unique within {within}"
                        )),
                );
                continue;
            }
            match check(self, &at, entry) {
                Some(entry) => checked.push(entry),
                None => ok = false,
            }
        }
        let renames = entries
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(index, entry)| Some((list_at.item(index), names_of(entry).1?)));
        let renames_ok = self.renames(renames, &lines, what);
        (ok && renames_ok).then_some(checked)
    }

    /// The `renamed_from` of entries of one list (`names`: the list's
    /// names): each a valid name, none the name of an entry still listed
    /// (that one would lose its record), none named twice.
    fn renames<'r>(
        &mut self,
        renames: impl Iterator<Item = (At<'r>, &'r String)>,
        names: &BTreeMap<&str, usize>,
        what: &str,
    ) -> bool {
        let mut ok = true;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (at, old) in renames {
            let field = at.field("renamed_from");
            if !self.name(old, field, what) {
                ok = false;
            } else if let Some(line) = names.get(old.as_str()) {
                ok = false;
                self.push(
                    field
                        .error(
                            Code::InvalidValue,
                            format!("`renamed_from: {old}` names a {what} the policy still lists"),
                        )
                        .label("still listed")
                        .help(format!(
                            "the {what} on line {line} is `{old}`: a rename moves that {what}'s records here, so it cannot stay; remove one of them, or `renamed_from`"
                        )),
                );
            } else if let Some(line) = seen.insert(old, field.line()) {
                ok = false;
                self.push(
                    field
                        .error(
                            Code::DuplicateName,
                            format!("two {what}s are renamed from `{old}`"),
                        )
                        .help(format!(
                            "the other is on line {line}; one {what} becomes one other"
                        )),
                );
            }
        }
        ok
    }

    /// A value listed twice in a list where repeats are harmless: a warning.
    pub(super) fn repeated_entry(&mut self, at: At<'_>, code: Code, what: &str, value: &str) {
        self.push(
            at.warning(code, format!("{what} `{value}` is listed twice"))
                .help("remove the repeated entry"),
        );
    }

    pub(super) fn name(&mut self, name: &str, at: At<'_>, what: &str) -> bool {
        if is_name(name) {
            return true;
        }
        let help = match suggest_name(name) {
            Some(suggestion) => format!("names match `[a-z0-9][a-z0-9-]*`: try `{suggestion}`"),
            None => "names match `[a-z0-9][a-z0-9-]*`".to_owned(),
        };
        self.push(
            at.error(Code::InvalidName, format!("invalid {what} name `{name}`"))
                .label("expected lowercase letters, digits and `-`")
                .help(help),
        );
        false
    }

    pub(super) fn id(&mut self, id: &str, at: At<'_>) -> bool {
        if !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit()) {
            return true;
        }
        self.push(
            at.error(Code::InvalidId, format!("invalid Meta ID `{id}`"))
                .label("expected a string of digits")
                .help("copy the numeric ID from Business Manager, e.g. \"100000000000001\""),
        );
        false
    }

    pub(super) fn app_ref(&mut self, app: &str, at: At<'_>, app_names: &[&str]) -> bool {
        if app_names.contains(&app) {
            return true;
        }
        let help = did_you_mean(app, app_names.iter().copied()).unwrap_or_else(|| {
            if app_names.is_empty() {
                "declare it under the business's `apps`".to_owned()
            } else {
                format!(
                    "the business's apps are {}",
                    backticked(app_names.iter().copied())
                )
            }
        });
        self.push(
            at.error(Code::UnknownApp, format!("unknown app `{app}`"))
                .label("not in the business's `apps`")
                .help(help),
        );
        false
    }

    pub(super) fn env_name(&mut self, value: &str, at: At<'_>) -> bool {
        // `$NAME` or `${NAME}`: a shell's reference to the variable, not
        // a secret, whatever its length.
        if let Some(name) = variable_reference(value) {
            self.push(
                at.error(
                    Code::InvalidEnvName,
                    format!("`{value}` is a reference to a variable, not its name"),
                )
                .label("graphform reads the variable itself")
                .help(format!("write the variable's name without `$`: `{name}`")),
            );
            return false;
        }
        // Never quote the value itself: CI logs keep what validate prints
        // (issue 10).
        if looks_like_secret(value, Context::EnvName) {
            self.push(
                at.error(
                    Code::SecretInPolicy,
                    format!("`{}` is not an environment variable name", mask(value)),
                )
                .label("never write secrets in the policy")
                .help(
                    "this looks like a secret, not an environment variable name: put the value in an \
                     environment variable and write its name here; treat the value as leaked and rotate it",
                ),
            );
            return false;
        }
        if is_env_name(value) {
            return true;
        }
        self.push(
            at.error(
                Code::InvalidEnvName,
                format!("`{value}` is not an environment variable name"),
            )
            .label("expected letters, digits and `_`, not starting with a digit")
            .help(format!("for example `{}`", suggest_env_name(value))),
        );
        false
    }
}

pub(super) fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// A valid name close to an invalid one: `CI_Reporting` → `ci-reporting`.
pub(super) fn suggest_name(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            '_' | ' ' | '.' => '-',
            c => c,
        })
        .collect();
    let trimmed = mapped.trim_start_matches('-').to_owned();
    (is_name(&trimmed) && trimmed != name).then_some(trimmed)
}

/// The variable `value` refers to when it is a shell reference to one,
/// `$NAME` or `${NAME}` (`NAME` a valid name that does not itself look
/// like a secret).
pub(super) fn variable_reference(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('$')?;
    let name = rest
        .strip_prefix('{')
        .map_or(Some(rest), |braced| braced.strip_suffix('}'))?;
    (is_env_name(name) && !looks_like_secret(name, Context::EnvName)).then_some(name)
}

pub(super) fn suggest_env_name(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if mapped.starts_with(|c: char| c.is_ascii_digit()) || mapped.is_empty() {
        format!("_{mapped}")
    } else {
        mapped
    }
}
