//! `graphform plan`: observe, plan, render, optionally save.

use std::process::ExitCode;

use graphform_engine::{Plan, PlanOptions, plan};

use crate::cli::{PlanArgs, PlanFormat};
use crate::output::Printer;
use crate::render;
use crate::settings::{self, World};

pub(crate) fn run(args: &PlanArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let policy = &args.policy.policy;
    let world = World::open(policy, printer)?;
    let state = world.observe()?;
    let options = PlanOptions {
        invalidate_orphaned: args.invalidate_orphaned,
        revoke_now: args.revoke_now.iter().cloned().collect(),
    };
    graphform_engine::check_options(&world.spec, &state, &options)?;
    let mut plan = plan(&world.spec, &state, world.now, &options);
    plan.origin = Some(world.origin());
    if let Some(out) = &args.out {
        graphform_engine::plan_file::write(&plan, out)?;
    }
    print_plan(&plan, args.format, printer);
    if let Some(out) = &args.out {
        printer.message(&format!(
            "Saved the plan to {}; apply it with `graphform apply{} {}`.\n",
            out.display(),
            settings::policy_argument(policy),
            settings::shell_word(out)
        ));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a plan to stdout in `format`.
pub(crate) fn print_plan(plan: &Plan, format: PlanFormat, printer: &Printer) {
    let text = match format {
        PlanFormat::Text => render::text(plan, printer.stdout()),
        PlanFormat::Markdown => render::markdown(plan),
        PlanFormat::Json => render::json(plan),
    };
    printer.data(&text);
}
