//! `graphform show`: render a saved plan.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use graphform_engine::{PLAN_FORMAT_VERSION, Plan};

use crate::cli::ShowArgs;
use crate::commands::plan::print_plan;
use crate::output::Printer;

pub(crate) fn run(args: &ShowArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let plan = read_plan(&args.file)?;
    print_plan(&plan, args.format, printer);
    Ok(ExitCode::SUCCESS)
}

/// Reads a plan file, refusing versions this graphform does not know.
pub(crate) fn read_plan(path: &std::path::Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan file `{}`", path.display()))?;
    let version: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a plan file (not JSON)", path.display()))?;
    match version
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(PLAN_FORMAT_VERSION) => {}
        Some(v) => bail!(
            "`{}` is a plan of format version {v}; this graphform reads version {PLAN_FORMAT_VERSION}",
            path.display()
        ),
        None => bail!(
            "`{}` is not a plan file (no `format_version`)",
            path.display()
        ),
    }
    serde_json::from_value(version)
        .with_context(|| format!("`{}` is not a valid plan file", path.display()))
}
