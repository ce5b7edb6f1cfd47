//! graphform's one palette, on `anstyle` (the style crate clap already
//! uses). Renderers paint with these styles through [`Paint`]; whether
//! colour is wanted at all (`--color`, `NO_COLOR`, a terminal or not) is
//! decided once, by the CLI's output layer, which hands renderers a
//! [`Paint`] that paints or one that leaves text plain.

use anstyle::{AnsiColor, Style};

/// The word `error` and what failed.
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
/// The word `warning`.
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
/// Gutters, arrows and `hint`/`note` labels of a diagnostic.
pub const NOTE: Style = AnsiColor::Blue.on_default().bold();
/// Headings and the message of an error.
pub const EMPHASIS: Style = Style::new().bold();
/// What is there for context: unchanged values, timelines.
pub const DIM: Style = Style::new().dimmed();
/// Something is created, installed or issued.
pub const ADD: Style = AnsiColor::Green.on_default();
/// Something is refreshed in place.
pub const CHANGE: Style = AnsiColor::Yellow.on_default();
/// Something is replaced (a rotation).
pub const REPLACE: Style = AnsiColor::Magenta.on_default();
/// Something is revoked, forgotten or invalidated.
pub const REMOVE: Style = AnsiColor::Red.on_default();

/// Paints text with a style, or leaves it plain when colour is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    color: bool,
}

impl Paint {
    /// A painter that colours when `color` is true.
    #[must_use]
    pub const fn new(color: bool) -> Self {
        Self { color }
    }

    /// A painter that never colours.
    #[must_use]
    pub const fn plain() -> Self {
        Self { color: false }
    }

    /// Whether this painter colours.
    #[must_use]
    pub const fn colors(self) -> bool {
        self.color
    }

    /// `text` in `style`, followed by a reset; `text` itself when plain.
    #[must_use]
    pub fn paint(self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_carries_no_escape_codes() {
        assert_eq!(Paint::plain().paint(ERROR, "error"), "error");
        assert_eq!(Paint::new(false).paint(ADD, "+"), "+");
    }

    #[test]
    fn painted_text_is_wrapped_in_the_style_and_a_reset() {
        let painted = Paint::new(true).paint(ERROR, "error");
        assert!(painted.starts_with('\u{1b}'), "{painted:?}");
        assert!(painted.contains("error"), "{painted:?}");
        assert!(painted.ends_with("\u{1b}[0m"), "{painted:?}");
        assert_ne!(
            Paint::new(true).paint(ADD, "x"),
            Paint::new(true).paint(REMOVE, "x")
        );
    }
}
