//! `graphform import`: adopt a token made outside graphform (the engine's
//! `import` does the work; this reads the value and reports).

use std::env::VarError;
use std::process::ExitCode;

use anyhow::bail;
use graphform_engine::Change;
use graphform_engine::apply::{Outcome, Progress};
use graphform_engine::import::{ImportOutcome, Imported};
use graphform_graph::Secret;

use crate::cli::{Format, ImportArgs};
use crate::output::{Hinted, Printer};
use crate::render;
use crate::settings::World;

pub(crate) fn run(args: &ImportArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let value = token_value(&args.token_env)?;
    let world = World::open(&args.policy.policy, printer)?;
    let context = world.context();
    let progress = Notes {
        printer,
        quiet: args.format == Format::Json,
    };
    let imported = world.runtime.block_on(graphform_engine::import::import(
        &context,
        &args.address,
        &value,
        &progress,
    ))?;
    match args.format {
        Format::Text => {
            for difference in &imported.differences {
                printer.warning(&render::escape_text(&format!(
                    "{}: {difference}",
                    imported.address
                )));
            }
            printer.data(&text(&imported));
        }
        Format::Json => printer.data(&graphform_engine::plan_file::safe_json(&imported)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The token to import, from the variable `name`: never from the command
/// line, where it would be in the shell's history and the process list.
fn token_value(name: &str) -> anyhow::Result<Secret> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
        Ok(_) | Err(VarError::NotPresent) => bail!(Hinted::new(
            format!("`{name}` is not set or is empty: it must hold the token to import"),
            format!(
                "put the token in `{name}` without echoing it: `read -rs {name} && export {name}`, then paste it"
            ),
        )),
        Err(VarError::NotUnicode(_)) => bail!("`{name}` does not hold a token: it is not text"),
    }
}

/// What was done, for people.
fn text(imported: &Imported) -> String {
    let Imported {
        address,
        fingerprint,
        ..
    } = imported;
    let expires = imported
        .expires_at
        .map_or_else(|| "never expires".to_owned(), |at| format!("expires {at}"));
    let scopes = imported
        .scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![match imported.outcome {
        ImportOutcome::AlreadyStored => {
            format!("{address} already stores {fingerprint}: nothing to do.")
        }
        ImportOutcome::Stored => format!(
            "Imported {fingerprint} as the current token of {address} (system user {}, app {}).",
            imported.system_user_id, imported.app_id
        ),
    }];
    lines.push(format!(
        "  It {expires}; scopes: {}.",
        if scopes.is_empty() { "none" } else { &scopes }
    ));
    if let Some(replaced) = &imported.replaced {
        lines.push(format!(
            "  The token stored there before, {}, is kept as the previous one: an apply after {} revokes it.",
            replaced.fingerprint, replaced.revoke_after
        ));
    }
    if imported.outcome == ImportOutcome::Stored {
        lines.push(
            "graphform manages it from now on; `graphform plan` shows what happens next."
                .to_owned(),
        );
    }
    // Scopes and IDs are Meta's words: escaped, line by line.
    let mut text = String::new();
    for line in &lines {
        text.push_str(&render::escape_text(line));
        text.push('\n');
    }
    text
}

/// What the engine tells while importing: only notes about the lock (a
/// stale one taken over), on stderr; an import makes no plan changes.
struct Notes<'p> {
    printer: &'p Printer,
    quiet: bool,
}

impl Progress for Notes<'_> {
    fn started(&self, _change: &Change) {}

    fn finished(&self, _change: &Change, _outcome: &Outcome) {}

    fn note(&self, message: &str) {
        if !self.quiet {
            let message = render::escape_text(message);
            self.printer.message(&format!("note: {message}\n"));
        }
    }
}
