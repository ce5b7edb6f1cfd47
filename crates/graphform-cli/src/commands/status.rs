//! `graphform status`: read the status from the store (and, with
//! `--check`, `debug_token`), render it, and with `--fail-within` exit 2
//! when something needs attention.

use std::process::ExitCode;

use anyhow::Context as _;
use graphform_engine::status::{Check, read_status};
use graphform_graph::GraphClient;

use crate::cli::{StatusArgs, StatusFormat};
use crate::output::Printer;
use crate::render;
use crate::settings;

pub(crate) fn run(args: &StatusArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let policy = &args.policy.policy;
    let spec = settings::load_policy(policy, printer)?;
    let now = settings::now()?;
    let store = settings::open_store(&spec, policy, printer)?;
    // Only `--check` talks to Meta, and only it needs Meta's credentials.
    let meta = if args.check {
        Some((
            settings::graph_client(&spec, policy)?,
            settings::credentials(&spec)?,
        ))
    } else {
        None
    };
    let check = meta
        .as_ref()
        .map(|(client, credentials)| Check::<GraphClient> {
            client,
            credentials,
        });
    let status = settings::runtime()?
        .block_on(read_status(&spec, &store, check, now))
        .context("cannot read the status")?;
    let text = match args.format {
        StatusFormat::Text => render::status::text(&status, printer.stdout()),
        StatusFormat::Json => render::status::json(&status),
        StatusFormat::Prometheus => render::status::prometheus(&status),
        StatusFormat::Html => render::status::html(&status),
    };
    printer.data(&text);
    let Some(within) = args.fail_within else {
        return Ok(ExitCode::SUCCESS);
    };
    let problems = status.problems(within);
    if problems.is_empty() && status.credentials.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        printer.warning(&render::escape_text(&problem.describe()));
    }
    for warning in &status.credentials {
        printer.warning(&render::escape_text(&format!(
            "business {}: {}",
            warning.business, warning.message
        )));
    }
    Ok(ExitCode::from(2))
}
