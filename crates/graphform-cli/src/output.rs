//! Where output goes: data to stdout, messages and logs to stderr, colour
//! only where wanted. Whether each stream is coloured is decided once,
//! here ([`Colors::decide`]); everything else paints through the
//! [`Paint`] it is handed.

use std::fmt::Write as _;
use std::io::Write as _;

use graphform_engine::plan_file::PlanFileError;
use graphform_types::style::{self, Paint};
use tracing_subscriber::EnvFilter;

use crate::cli::ColorChoice;
use crate::env;

/// Whether stdout and stderr are coloured, decided once from `--color`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Colors {
    stdout: Paint,
    stderr: Paint,
}

impl Colors {
    /// `always` and `never` are obeyed; `auto` asks anstream, per stream:
    /// a terminal whose `TERM` supports colour, unless `NO_COLOR` is set
    /// (not empty) or `CLICOLOR=0`; `CLICOLOR_FORCE` colours even a pipe.
    pub(crate) fn decide(choice: ColorChoice) -> Self {
        let wanted = |auto: anstream::ColorChoice| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => auto != anstream::ColorChoice::Never,
        };
        Self {
            stdout: Paint::new(wanted(anstream::AutoStream::choice(&std::io::stdout()))),
            stderr: Paint::new(wanted(anstream::AutoStream::choice(&std::io::stderr()))),
        }
    }
}

/// Writes graphform's user-facing output.
#[derive(Clone)]
pub(crate) struct Printer {
    colors: Colors,
}

impl Printer {
    pub(crate) fn new(colors: Colors) -> Self {
        Self { colors }
    }

    /// How to paint what goes to stderr.
    pub(crate) fn stderr(&self) -> Paint {
        self.colors.stderr
    }

    /// How to paint what goes to stdout.
    pub(crate) fn stdout(&self) -> Paint {
        self.colors.stdout
    }

    /// Writes data (the command's result) to stdout. A closed pipe is not an
    /// error: the reader has what it wanted.
    #[expect(
        clippy::unused_self,
        reason = "all output goes through the one Printer (style.md §9)"
    )]
    pub(crate) fn data(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Writes a message for people to stderr.
    #[expect(
        clippy::unused_self,
        reason = "all output goes through the one Printer (style.md §9)"
    )]
    pub(crate) fn message(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// Prints a warning for people to stderr.
    pub(crate) fn warning(&self, text: &str) {
        let label = self.stderr().paint(style::WARNING, "warning");
        self.message(&format!("{label}: {text}\n"));
    }

    /// Prints a command's error and its causes, cargo style, and the hint
    /// of the first error in the chain that has one.
    pub(crate) fn error(&self, error: &anyhow::Error) {
        self.message(&error_text(error, self.stderr()));
    }
}

/// How [`Printer::error`] shows an error: `error: …`, a `caused by:` line
/// per cause, and a hint after a blank line.
fn error_text(error: &anyhow::Error, paint: Paint) -> String {
    // Errors can quote Meta (names, error messages): each line is
    // escaped for the terminal; the lines graphform breaks stay lines.
    let shown = |text: String| -> String {
        text.split('\n')
            .map(crate::render::escape_text)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut text = format!(
        "{}{}\n",
        paint.paint(style::ERROR, "error"),
        paint.paint(style::EMPHASIS, &format!(": {}", shown(error.to_string())))
    );
    for cause in error.chain().skip(1) {
        let _ = writeln!(text, "  caused by: {}", shown(cause.to_string()));
    }
    if let Some(hint) = hint_of(error) {
        let _ = writeln!(text, "\n{}: {hint}", paint.paint(style::EMPHASIS, "hint"));
    }
    text
}

/// An error of the command line's own, with what to do about it. The
/// hint is not part of the message: [`Printer::error`] prints it, after a
/// blank line, as it prints every other error's hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Hinted {
    message: String,
    hint: String,
}

impl Hinted {
    pub(crate) fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The hint of the first error in `error`'s chain that knows how to fix
/// itself. The one place that knows which errors carry hints.
fn hint_of(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        if let Some(hinted) = cause.downcast_ref::<Hinted>() {
            return Some(hinted.hint.clone());
        }
        if let Some(error) = cause.downcast_ref::<graphform_engine::apply::ApplyError>() {
            return error.hint();
        }
        if let Some(error) = cause.downcast_ref::<graphform_engine::import::ImportError>() {
            return error.hint();
        }
        if let Some(error) = cause.downcast_ref::<graphform_engine::RevokeNowError>() {
            return Some(error.hint());
        }
        // Errors hold a Graph error boxed, as their source.
        let graph = cause
            .downcast_ref::<graphform_graph::GraphError>()
            .or_else(|| {
                cause
                    .downcast_ref::<Box<graphform_graph::GraphError>>()
                    .map(AsRef::as_ref)
            });
        if let Some(hint) = graph.and_then(crate::settings::network_hint) {
            return Some(hint);
        }
        let hint = if let Some(error) = cause.downcast_ref::<graphform_store::StoreError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<graphform_engine::observe::ObserveError>()
        {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<PlanFileError>() {
            error.hint()
        } else {
            None
        };
        hint.map(ToString::to_string)
    })
}

/// Installs the log subscriber: warnings by default, more with `-v`,
/// `RUST_LOG` overriding both. Logs go to stderr, coloured only when
/// stderr is.
pub(crate) fn init_logging(verbose: u8, colors: Colors) {
    let default = match verbose {
        // The TLS verifier logs each certificate it refuses as an ERROR;
        // graphform's own error says so, with the URL and what to do
        // (its lines still show with -v).
        0 => "warn,rustls_platform_verifier=off",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = env::RUST_LOG
        .value()
        .and_then(|value| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors.stderr.colors())
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn a_hint_follows_the_causes_after_a_blank_line() {
        let error = Err::<(), _>(Hinted::new("there is no terminal", "pass --auto-approve"))
            .context("apply did not run")
            .expect_err("an error");
        assert_eq!(
            error_text(&error, Paint::plain()),
            "error: apply did not run\n  caused by: there is no terminal\n\nhint: pass --auto-approve\n"
        );
    }

    #[test]
    fn an_error_without_a_hint_has_no_hint_line() {
        let error = anyhow::anyhow!("cannot read `x`");
        assert_eq!(
            error_text(&error, Paint::plain()),
            "error: cannot read `x`\n"
        );
        assert_eq!(hint_of(&error), None);
    }

    #[test]
    fn a_store_errors_hint_is_found_through_context() {
        let error = Err::<(), _>(graphform_store::StoreError::Config {
            message: "`GRAPHFORM_STORE_KEY` is not set".to_owned(),
            hint: Some("run `graphform store init`".to_owned()),
        })
        .context("cannot open the store")
        .expect_err("an error");
        assert_eq!(
            hint_of(&error).as_deref(),
            Some("run `graphform store init`")
        );
    }

    #[test]
    fn a_plan_files_hint_is_found() {
        let error = anyhow::Error::new(PlanFileError::WrongVersion {
            path: "plan.json".into(),
            found: 99,
            supported: 1,
        });
        assert!(
            hint_of(&error).is_some_and(|hint| hint.contains("graphform plan --out")),
            "{error:#}"
        );
    }

    #[test]
    fn lines_of_an_error_are_escaped_each() {
        let error = anyhow::anyhow!("name `evil\u{1b}[2J`\nsecond line");
        assert_eq!(
            error_text(&error, Paint::plain()),
            "error: name `evil\\u{1b}[2J`\nsecond line\n"
        );
    }
}
