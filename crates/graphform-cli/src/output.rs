//! Where output goes: data to stdout, messages and logs to stderr, colour
//! only where wanted.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use tracing_subscriber::EnvFilter;

use crate::cli::ColorChoice;
use crate::env;

/// Writes graphform's user-facing output.
pub(crate) struct Printer {
    color_stderr: bool,
    color_stdout: bool,
}

impl Printer {
    pub(crate) fn new(choice: ColorChoice) -> Self {
        let wanted = |is_terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && std::env::var_os(env::NO_COLOR).is_none(),
        };
        Self {
            color_stderr: wanted(std::io::stderr().is_terminal()),
            color_stdout: wanted(std::io::stdout().is_terminal()),
        }
    }

    /// Whether stderr output may be coloured.
    pub(crate) fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Whether stdout output may be coloured.
    pub(crate) fn color_stdout(&self) -> bool {
        self.color_stdout
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
        let (yellow, reset) = if self.color_stderr {
            ("\x1b[1;33m", "\x1b[0m")
        } else {
            ("", "")
        };
        self.message(&format!("{yellow}warning{reset}: {text}\n"));
    }

    /// Prints a command's error and its causes, cargo style.
    pub(crate) fn error(&self, error: &anyhow::Error) {
        let (red, bold, reset) = if self.color_stderr {
            ("\x1b[1;31m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        // Errors can quote Meta (names, error messages): each line is
        // escaped for the terminal; the lines graphform breaks stay lines.
        let shown = |text: String| -> String {
            text.split('\n')
                .map(crate::render::escape_text)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut text = format!(
            "{red}error{reset}{bold}: {}{reset}\n",
            shown(error.to_string())
        );
        for cause in error.chain().skip(1) {
            let _ = writeln!(text, "  caused by: {}", shown(cause.to_string()));
        }
        // A store's configuration error knows how to fix itself.
        let hint = error.chain().find_map(|cause| {
            cause
                .downcast_ref::<graphform_store::StoreError>()
                .and_then(graphform_store::StoreError::hint)
        });
        if let Some(hint) = hint {
            let _ = writeln!(text, "\n{bold}hint{reset}: {hint}");
        }
        self.message(&text);
    }
}

/// Installs the log subscriber: warnings by default, more with `-v`,
/// `RUST_LOG` overriding both. Logs go to stderr.
pub(crate) fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var(env::RUST_LOG)
        .ok()
        .and_then(|value| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
