//! Progress on a terminal (issue 14): a spinner while `plan` and `apply`
//! read Meta and the store (with how many Graph requests went out), and a
//! bar of changes done while `apply` works. Drawn on stderr only when
//! stderr is a terminal; a pipe or a CI log gets nothing but the lines
//! graphform prints anyway. indicatif draws and hides it (why it, not a
//! hand-written `\r` loop: terminal width, redraw rate and the not-a-TTY
//! case are solved there).
//!
//! Lines printed while it shows (a throttle wait, a change done) go
//! through [`Activity::println`], which lifts the bar, prints and draws it
//! again, so the two never interleave.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use graphform_graph::GraphClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Printer;

/// How often the spinner redraws and rereads the request count.
const TICK: Duration = Duration::from_millis(120);

/// The status line on stderr, shared by whoever prints while it shows.
#[derive(Clone, Default)]
pub(crate) struct Activity {
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Activity {
    /// Shows a spinner with `message` and the Graph requests `client` has
    /// sent, until [`done`](Self::done). Nothing on a non-terminal.
    pub(crate) fn reading(&self, message: &str, client: &GraphClient) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if bar.is_hidden() {
            return;
        }
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(TICK);
        let counting = bar.clone();
        let client = client.clone();
        let message = message.to_owned();
        std::thread::spawn(move || {
            while !counting.is_finished() {
                let sent = client.counters().http_requests;
                counting.set_message(format!("{message}: {sent} Graph requests"));
                std::thread::sleep(TICK);
            }
        });
        self.replace(Some(bar));
    }

    /// Shows a bar of `total` changes, advanced by [`step`](Self::step).
    pub(crate) fn changes(&self, total: usize) {
        let bar = ProgressBar::with_draw_target(
            Some(u64::try_from(total).unwrap_or(u64::MAX)),
            ProgressDrawTarget::stderr(),
        );
        if bar.is_hidden() || total == 0 {
            return;
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} changes ({elapsed}, about {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(TICK);
        self.replace(Some(bar));
    }

    /// One change more is done.
    pub(crate) fn step(&self) {
        if let Some(bar) = self.current() {
            bar.inc(1);
        }
    }

    /// Removes what shows.
    pub(crate) fn done(&self) {
        self.replace(None);
    }

    /// Prints `text` to stderr through `printer`, lifting the bar if one
    /// shows.
    pub(crate) fn message(&self, printer: &Printer, text: &str) {
        match self.current() {
            Some(bar) => bar.suspend(|| printer.message(text)),
            None => printer.message(text),
        }
    }

    /// Prints `text` to stdout through `printer`, lifting the bar if one
    /// shows.
    pub(crate) fn data(&self, printer: &Printer, text: &str) {
        match self.current() {
            Some(bar) => bar.suspend(|| printer.data(text)),
            None => printer.data(text),
        }
    }

    fn current(&self) -> Option<ProgressBar> {
        self.bar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, bar: Option<ProgressBar>) {
        let old = std::mem::replace(
            &mut *self.bar.lock().unwrap_or_else(PoisonError::into_inner),
            bar,
        );
        if let Some(old) = old {
            old.finish_and_clear();
        }
    }
}
