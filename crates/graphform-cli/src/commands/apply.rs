//! `graphform apply`: make the changes of a plan.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use graphform_engine::apply::{ApplyContext, ApplyOptions, ApplyReport, Outcome, Progress};
use graphform_engine::{Change, Plan, PlanOptions, plan};
use serde::Serialize;

use crate::cli::{ApplyArgs, Format};
use crate::commands::show::read_plan;
use crate::env;
use crate::output::Printer;
use crate::render;
use crate::settings::World;

pub(crate) fn run(args: &ApplyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let world = World::open(&args.policy.policy, printer)?;
    let state = world.observe()?;
    let saved = args.plan.as_deref().map(read_plan).transpose()?;
    let options = PlanOptions {
        invalidate_orphaned: args.invalidate_orphaned
            || saved.as_ref().is_some_and(|p| {
                p.changes
                    .iter()
                    .any(|c| c.action == graphform_engine::Action::Invalidate)
            }),
    };
    let fresh = plan(&world.spec, &state, world.now, &options);
    let plan = if let Some(saved) = saved {
        check_saved(&saved, &fresh, world.now)?;
        saved
    } else {
        if args.format == Format::Text {
            printer.data(&render::text(&fresh, printer.color_stdout()));
        }
        if !fresh.has_changes() && state.document.journal.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if fresh.has_changes() && !args.auto_approve {
            confirm(printer)?;
        }
        fresh
    };
    // An empty plan still runs when an interrupted apply left journal
    // entries: apply settles them.
    if !plan.has_changes() && state.document.journal.is_empty() {
        printer.data("No changes. Everything matches the policy.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let context = ApplyContext {
        spec: &world.spec,
        state: &state,
        client: &world.client,
        store: &world.store,
        credentials: &world.credentials,
        now: world.now,
    };
    let apply_options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        failpoint: failpoint()?,
        ..ApplyOptions::default()
    };
    let progress = Lines {
        printer,
        quiet: args.format == Format::Json,
        to_stdout: false,
    };
    let report = world
        .runtime
        .block_on(graphform_engine::apply::apply(
            &context,
            &plan,
            &apply_options,
            &progress,
        ))
        .context("apply could not start")?;
    match args.format {
        Format::Text => printer.data(&summary(&report)),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&JsonReport::new(&report))?;
            json.push('\n');
            printer.data(&json);
        }
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Refuses a saved plan that no longer describes the world.
fn check_saved(saved: &Plan, fresh: &Plan, now: i64) -> anyhow::Result<()> {
    if let Some(valid_until) = saved.valid_until.filter(|until| now >= *until) {
        bail!(
            "the plan expired at {}: a time-driven decision in it has changed since (a refresh window opened, a grace period ended, a token expired)\nhint: make a new plan with `graphform plan --out FILE`",
            graphform_engine::time::format_time(valid_until)
        );
    }
    if saved.policy_hash != fresh.policy_hash {
        bail!(
            "the policy changed since the plan was made\nhint: make a new plan with `graphform plan --out FILE`"
        );
    }
    if saved.state_hash != fresh.state_hash {
        let key = |c: &Change| {
            (
                c.address.clone(),
                c.action,
                c.before.as_ref().and_then(|b| b.fingerprint.clone()),
            )
        };
        let old: std::collections::BTreeSet<_> = saved.changes.iter().map(key).collect();
        let new: std::collections::BTreeSet<_> = fresh.changes.iter().map(key).collect();
        let mut addresses: Vec<String> = old
            .symmetric_difference(&new)
            .map(|(address, _, _)| address.clone())
            .collect();
        addresses.sort();
        addresses.dedup();
        let list = if addresses.is_empty() {
            "  (the changes are the same, but what they act on changed)".to_owned()
        } else {
            addresses
                .iter()
                .map(|a| format!("  {a}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        bail!(
            "the live state changed since the plan was made; these addresses differ:\n{list}\nhint: make a new plan with `graphform plan --out FILE` and review it"
        );
    }
    Ok(())
}

/// Asks on the terminal; refuses without one.
fn confirm(printer: &Printer) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "there is no terminal to confirm on\nhint: pass --auto-approve, or apply a reviewed plan file: `graphform plan --out plan.json` then `graphform apply plan.json`"
        );
    }
    printer.message("Apply these changes? Only `yes` is accepted: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if answer.trim() != "yes" {
        bail!("apply cancelled; nothing was changed");
    }
    Ok(())
}

/// The failpoint hook of the crash tests (`GRAPHFORM_FAILPOINT=n`): say so,
/// then wait to be killed.
fn failpoint() -> anyhow::Result<Option<(u64, graphform_engine::apply::Failpoint)>> {
    let Ok(text) = std::env::var(env::GRAPHFORM_FAILPOINT) else {
        return Ok(None);
    };
    let at: u64 = text
        .trim()
        .parse()
        .with_context(|| format!("{} must be a number", env::GRAPHFORM_FAILPOINT))?;
    let hook: graphform_engine::apply::Failpoint = Arc::new(|n| {
        use std::io::Write as _;
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "graphform: failpoint {n} reached");
        let _ = stderr.flush();
        loop {
            std::thread::park();
        }
    });
    Ok(Some((at, hook)))
}

/// Progress: one line per change on stderr.
pub(crate) struct Lines<'p> {
    pub(crate) printer: &'p Printer,
    pub(crate) quiet: bool,
    /// Progress is part of the output (the demo's story), not a message.
    pub(crate) to_stdout: bool,
}

impl Lines<'_> {
    fn line(&self, text: &str) {
        if self.to_stdout {
            self.printer.data(&format!("{text}\n"));
        } else {
            self.printer.message(&format!("{text}\n"));
        }
    }
}

impl Progress for Lines<'_> {
    fn started(&self, _change: &Change) {}

    fn finished(&self, change: &Change, outcome: &Outcome) {
        if self.quiet {
            return;
        }
        let symbol = render::symbol(change.action);
        let line = match outcome {
            Outcome::Done {
                token: Some(fingerprint),
                ..
            } => format!(
                "{symbol} {} {}: done ({fingerprint})",
                change.action.as_str(),
                change.address
            ),
            Outcome::Done { id: Some(id), .. } => format!(
                "{symbol} {} {}: done (ID {id})",
                change.action.as_str(),
                change.address
            ),
            Outcome::Done { .. } => format!(
                "{symbol} {} {}: done",
                change.action.as_str(),
                change.address
            ),
            Outcome::Failed { error } => format!(
                "{symbol} {} {}: FAILED: {error}",
                change.action.as_str(),
                change.address
            ),
            Outcome::Skipped { reason } => format!(
                "{symbol} {} {}: skipped: {reason}",
                change.action.as_str(),
                change.address
            ),
        };
        self.line(&line);
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            self.line(&format!("note: {message}"));
        }
    }
}

pub(crate) fn summary(report: &ApplyReport) -> String {
    let done = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Done { .. }))
        .count();
    let failed = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
        .count();
    let skipped = report.outcomes.len() - done - failed;
    if failed == 0 && skipped == 0 {
        format!(
            "Apply complete: {done} change{} made.\n",
            if done == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Apply incomplete: {done} made, {failed} failed, {skipped} not attempted. The store is consistent; \
             run `graphform plan` to see what is left.\n"
        )
    }
}

/// `apply --format json`.
#[derive(Serialize)]
struct JsonReport<'r> {
    format_version: u32,
    succeeded: bool,
    changes: Vec<JsonOutcome<'r>>,
}

#[derive(Serialize)]
struct JsonOutcome<'r> {
    address: &'r str,
    action: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'r str>,
}

impl<'r> JsonReport<'r> {
    fn new(report: &'r ApplyReport) -> Self {
        Self {
            format_version: 1,
            succeeded: report.succeeded(),
            changes: report
                .outcomes
                .iter()
                .map(|(change, outcome)| {
                    let (status, token, id, error) = match outcome {
                        Outcome::Done { token, id } => (
                            "done",
                            token.as_ref().map(ToString::to_string),
                            id.as_deref(),
                            None,
                        ),
                        Outcome::Failed { error } => ("failed", None, None, Some(error.as_str())),
                        Outcome::Skipped { reason } => {
                            ("skipped", None, None, Some(reason.as_str()))
                        }
                    };
                    JsonOutcome {
                        address: &change.address,
                        action: change.action.as_str(),
                        status,
                        token,
                        id,
                        error,
                    }
                })
                .collect(),
        }
    }
}
