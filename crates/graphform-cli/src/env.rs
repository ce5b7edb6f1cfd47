//! Every environment variable graphform reads, in one place: the code reads
//! the constants below, and the top-level `--help` lists them from the same
//! table ([`DOCUMENTED`]), with the secrets the policy names.

use std::fmt::Write as _;

/// An environment variable, and what graphform reads it for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Var {
    /// Its name.
    pub(crate) name: &'static str,
    /// What it does, in a few words, for `--help`.
    pub(crate) about: &'static str,
}

/// Declares each variable as a constant named as the variable, and
/// [`DOCUMENTED`], the list of all of them, so none can be left out of
/// `--help`.
macro_rules! variables {
    ($($(#[$doc:meta])* $vis:vis $name:ident: $about:literal;)*) => {
        $(
            $(#[$doc])*
            $vis const $name: Var = Var {
                name: stringify!($name),
                about: $about,
            };
        )*
        /// The variables `--help` lists, in its order.
        pub(crate) const DOCUMENTED: &[Var] = &[$($name),*];
    };
}

variables! {
    /// The policy path when `--policy` is not given (a file or a
    /// directory).
    pub(crate) GRAPHFORM_POLICY: "the policy when --policy is not given";
    /// Overrides the policy's `graph.url` (e.g. to point at the emulator).
    pub(crate) GRAPHFORM_GRAPH_URL: "the Graph API to talk to instead of the policy's graph.url";
    /// Log filter, e.g. `graphform=debug` (tracing-subscriber's
    /// `EnvFilter`).
    pub(crate) RUST_LOG: "the log filter (overrides -v), e.g. graphform_engine=debug";
    /// Colour, read by anstream for `--color auto` (see `output::Colors`).
    NO_COLOR: "not empty: no colour (see --color)";
    /// Colour, read by anstream for `--color auto`.
    CLICOLOR: "0: no colour (see --color)";
    /// Colour, read by anstream for `--color auto`.
    CLICOLOR_FORCE: "not empty: colour even a pipe (see --color)";
    /// The clock graphform plans with, as Unix seconds. For demos and
    /// tests against the emulator, whose clock can be moved; never set it
    /// in production.
    pub(crate) GRAPHFORM_NOW: "the clock as Unix seconds, for the emulator only";
}

impl Var {
    /// Its value, when set to something: see [`value`].
    pub(crate) fn value(self) -> Option<String> {
        value(self.name)
    }
}

/// The value of the variable `name`, or `None` when it is unset or empty:
/// an empty variable (a CI variable defined but left blank) means "not
/// set", as it does to most tools. Every variable graphform reads itself
/// is read here; one that is not text is taken as unset.
pub(crate) fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `command` with every variable clap reads for it (`GRAPHFORM_POLICY`)
/// read as [`value`] reads one: empty is unset, where clap would take ""
/// for the argument ("a value is required").
pub(crate) fn empty_is_unset(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.is_empty());
            if empty { arg.env(None) } else { arg }
        })
        .mut_subcommands(empty_is_unset)
}

/// Test hook: `apply` stops (prints and waits to be killed) right before
/// its n-th mutation. Used by the crash tests; never set it otherwise, so
/// `--help` does not offer it.
pub(crate) const GRAPHFORM_FAILPOINT: &str = "GRAPHFORM_FAILPOINT";

/// Test hook: the Graph client's request timeout in milliseconds (30 s
/// otherwise), so that the transcripts of a server that never answers
/// run in a moment. Never set it otherwise, so `--help` does not offer it.
pub(crate) const GRAPHFORM_REQUEST_TIMEOUT_MS: &str = "GRAPHFORM_REQUEST_TIMEOUT_MS";

/// The secrets `plan` and `apply` read from variables the policy names:
/// the policy's key that names each, and what it holds.
fn policy_named() -> [(&'static str, String); 4] {
    [
        ("admin.token_env", "each business's admin token".to_owned()),
        ("apps.*.secret_env", "each app's secret".to_owned()),
        (
            "store.key_env",
            format!(
                "the file store's key (default {})",
                graphform_store::DEFAULT_KEY_ENV
            ),
        ),
        (
            "store.token_env",
            format!(
                "the Vault store's token (default {})",
                graphform_store::DEFAULT_VAULT_TOKEN_ENV
            ),
        ),
    ]
}

/// The credentials the AWS Secrets Manager store reads (the store crate
/// reads them, as the AWS SDKs do).
pub(crate) const AWS_CREDENTIALS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The environment sections of the top-level `--help`, from the table
/// above.
pub(crate) fn help() -> String {
    let rows = |rows: &[(&str, String)]| -> String {
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for (name, about) in rows {
            let _ = writeln!(text, "  {name:<width$}  {about}");
        }
        text
    };
    let documented: Vec<(&str, String)> = DOCUMENTED
        .iter()
        .map(|var| (var.name, var.about.to_owned()))
        .collect();
    format!(
        "Environment:\n{}\nSecrets, from the variables the policy names:\n{}  {}\n      the aws-secrets-manager store's credentials",
        rows(&documented),
        rows(&policy_named()),
        AWS_CREDENTIALS.join(", "),
    )
}
