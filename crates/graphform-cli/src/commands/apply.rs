//! `graphform apply`: make the changes of a plan.

use std::collections::BTreeSet;
use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use graphform_engine::apply::{
    ApplyError, ApplyOptions, ApplyReport, Approval, Approver, BoxError, BoxFuture, Outcome,
    Progress,
};
use graphform_engine::{Change, Maintenance, Plan, PlanOptions};
use graphform_store::StoreError;

use crate::cli::{ApplyArgs, Format};
use crate::env;
use crate::output::{Hinted, Printer};
use crate::progress::Activity;
use crate::render;
use crate::settings::{self, READING, World};

pub(crate) fn run(args: &ApplyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let world = World::open(&args.policy.policy, printer)?;
    let saved = args
        .plan
        .as_deref()
        .map(graphform_engine::plan_file::read)
        .transpose()?;
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        max_parallelism: args.max_parallelism.map_or_else(
            || usize::from(args.parallelism).max(ApplyOptions::default().max_parallelism),
            usize::from,
        ),
        failpoint: failpoint()?,
        // With a plan file, apply adds the options the plan was made with.
        plan: PlanOptions {
            invalidate_orphaned: args.invalidate_orphaned,
            revoke_now: args.revoke_now.iter().cloned().collect(),
        },
        only: (!args.only.is_empty()).then(|| args.only.iter().copied().collect()),
        allow_admin_invalidation: args.allow_admin_invalidation,
        ..ApplyOptions::default()
    };
    if !args.auto_approve && saved.is_none() && !std::io::stdin().is_terminal() {
        let policy = settings::policy_argument(&args.policy.policy);
        bail!(Hinted::new(
            "there is no terminal to confirm on",
            format!(
                "pass --auto-approve, or apply a reviewed plan file: `graphform plan{policy} --out plan.json` then `graphform apply{policy} plan.json`"
            ),
        ));
    }
    let ask = Ask { printer };
    let approval = match (&saved, args.auto_approve) {
        (Some(saved), _) => Approval::Saved(saved),
        (None, true) => Approval::Auto,
        (None, false) => Approval::Ask(&ask),
    };
    let context = world.context();
    let progress = Lines {
        printer,
        activity: &world.activity,
        total: AtomicUsize::new(0),
        quiet: args.format == Format::Json,
        to_stdout: false,
        // A reviewed plan file was shown at review; otherwise the plan
        // computed under the lease is what is confirmed, so it is shown.
        show_plan: saved.is_none() && args.format == Format::Text,
    };
    world.activity.reading(READING, &world.client);
    let report = world.runtime.block_on(graphform_engine::apply::apply(
        &context, approval, &options, &progress,
    ));
    world.activity.done();
    let report = report.map_err(explain)?;
    match args.format {
        // The plan shown above says so already.
        Format::Text if report.outcomes.is_empty() && progress.show_plan => {}
        Format::Text if report.outcomes.is_empty() => match (&args.plan, &saved) {
            (Some(file), Some(saved)) if saved.has_changes() => printer.data(&format!(
                "No changes. Everything matches the policy: the changes of {} are made already.\n",
                file.display()
            )),
            _ => printer.data("No changes. Everything matches the policy.\n"),
        },
        Format::Text => printer.data(&summary(&report)),
        Format::Json => {
            printer.data(&report.to_json());
        }
    }
    Ok(exit_code(&report, options.only.as_ref()))
}

/// 0 when every change was made; with `--only`, 2 when every allowed
/// change was made and others are held for review; 1 otherwise.
fn exit_code(report: &ApplyReport, only: Option<&BTreeSet<Maintenance>>) -> ExitCode {
    if report.succeeded() {
        return ExitCode::SUCCESS;
    }
    let held = |change: &Change, outcome: &Outcome| {
        let allowed = change
            .maintenance
            .is_some_and(|kind| only.is_some_and(|only| only.contains(&kind)));
        only.is_some() && !allowed && matches!(outcome, Outcome::Skipped { .. })
    };
    let only_held = report
        .outcomes
        .iter()
        .all(|(change, outcome)| matches!(outcome, Outcome::Done { .. }) || held(change, outcome));
    if only_held {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Why apply did not run, with what to do about it.
fn explain(error: ApplyError) -> anyhow::Error {
    // These say what happened themselves; the printer adds their hint
    // (`ApplyError::hint`).
    let speaks_for_itself = matches!(
        error,
        ApplyError::Store(StoreError::Locked(_))
            | ApplyError::PlanExpired(_)
            | ApplyError::PolicyChanged
            | ApplyError::PlanDiffers(_)
            | ApplyError::AdminInvalidation(_)
            | ApplyError::LeaseLost
    );
    if speaks_for_itself {
        anyhow::Error::new(error)
    } else {
        anyhow::Error::new(error).context("apply did not run")
    }
}

/// Asks on the terminal, after the plan computed under the lease was
/// shown.
struct Ask<'p> {
    printer: &'p Printer,
}

impl Approver for Ask<'_> {
    fn approve<'a>(&'a self, _plan: &'a Plan) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            self.printer
                .message("Apply these changes? Only `yes` is accepted: ");
            // Read off the async runtime: the lease is renewed meanwhile.
            let answer = tokio::task::spawn_blocking(|| {
                let mut answer = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut answer)
                    .map(|_| answer)
            })
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?
            .map_err(|e| format!("cannot read the answer: {e}"))?;
            Ok(answer.trim() == "yes")
        })
    }
}

/// The failpoint hook of the crash tests (`GRAPHFORM_FAILPOINT=n`): say so,
/// then wait to be killed.
fn failpoint() -> anyhow::Result<Option<(u64, graphform_engine::apply::Failpoint)>> {
    let Some(text) = env::value(env::GRAPHFORM_FAILPOINT) else {
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

/// Progress: one line per change on stderr, and on a terminal a bar of
/// changes done.
pub(crate) struct Lines<'p> {
    pub(crate) printer: &'p Printer,
    /// The spinner or bar on a terminal, which the lines go around.
    pub(crate) activity: &'p Activity,
    /// How many changes the plan has (for the bar, shown from the first).
    pub(crate) total: AtomicUsize,
    pub(crate) quiet: bool,
    /// Progress is part of the output (the demo's story), not a message.
    pub(crate) to_stdout: bool,
    /// Print the plan computed under the lease.
    pub(crate) show_plan: bool,
}

impl Lines<'_> {
    /// One progress line. It holds addresses, reasons and errors that can
    /// quote Meta (a system user's name, an error message): escaped, so a
    /// terminal shows them instead of obeying them.
    fn line(&self, text: &str) {
        let text = render::escape_text(text);
        if self.to_stdout {
            self.activity.data(self.printer, &format!("{text}\n"));
        } else {
            self.activity.message(self.printer, &format!("{text}\n"));
        }
    }
}

impl Progress for Lines<'_> {
    fn planned(&self, plan: &Plan) {
        // Reading is over; a question may follow: nothing may draw now.
        self.activity.done();
        self.total.store(plan.changes.len(), Ordering::Relaxed);
        if self.show_plan {
            self.printer
                .data(&render::text(plan, self.printer.stdout()));
        }
    }

    fn started(&self, _change: &Change) {
        // The first change starts the bar (after any question).
        let total = self.total.swap(0, Ordering::Relaxed);
        if total > 0 {
            self.activity.changes(total);
        }
    }

    fn finished(&self, change: &Change, outcome: &Outcome) {
        self.activity.step();
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
                "{symbol} {} {}: FAILED: {}",
                change.action.as_str(),
                change.address,
                graphform_types::Chain(&**error)
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
