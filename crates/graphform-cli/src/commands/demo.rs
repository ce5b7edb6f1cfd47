//! `graphform demo`: the whole lifecycle on the embedded emulator and a
//! local file store, told as a story.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;

use anyhow::{Context as _, bail};
use graphform_emulator::{Emulator, World};
use graphform_engine::apply::{ApplyContext, ApplyOptions, Approval};
use graphform_engine::observe::{Credentials, observe};
use graphform_engine::{Plan, PlanOptions, plan};
use graphform_graph::{ClientSettings, GraphClient, Secret};
use graphform_spec::Spec;
use graphform_store::{FileStore, generate_identity};
use graphform_types::Timestamp;

use crate::cli::DemoArgs;
use crate::commands::apply::{Lines, summary};
use crate::output::{Hinted, Printer};
use crate::progress::Activity;
use crate::render;
use crate::settings;

/// The demo's policy: it matches the emulator's demo world.
const POLICY: &str = r#"# yaml-language-server: $schema=graphform.schema.json
#
# The policy `graphform demo` applies to the emulator's demo world.
version: 1

store:
  type: file
  path: .graphform/store
  key_env: GRAPHFORM_STORE_KEY

businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_APP_SECRET }
      publisher: { id: "200000000000002", secret_env: PUBLISHER_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - name: insights-read
            app: reporting
            scopes: [ads_read, read_insights]
          - name: ads-write
            app: reporting
            scopes: [ads_management]
      - name: page-publisher
        apps: [publisher]
        tokens:
          - name: posts
            app: publisher
            scopes: [pages_manage_posts, pages_read_engagement]
            expiry: never
            rotate_every: 90d
"#;

/// Marks a directory as the demo's, so a second run may start it afresh.
const MARKER: &str = ".graphform-demo";

const DAY: i64 = 86_400;

pub(crate) fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    prepare(dir)?;
    let policy_path = dir.join("graphform.yaml");
    std::fs::write(&policy_path, POLICY)
        .with_context(|| format!("cannot write `{}`", policy_path.display()))?;
    // The policy's modeline points editors at this copy of the schema.
    std::fs::write(
        dir.join("graphform.schema.json"),
        graphform_spec::json_schema(),
    )
    .context("cannot write the policy's JSON Schema")?;
    let spec = settings::load_policy(&policy_path, printer)?;
    let (identity, _) = generate_identity();
    settings::write_private(&dir.join("store.key"), identity.expose())?;
    let store = FileStore::init(dir.join(".graphform/store"), &identity)
        .context("cannot create the demo store")?;
    let runtime = settings::runtime()?;
    runtime.block_on(story(&spec, &store, dir, printer))?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the demo directory, or empties one left by an earlier demo.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let is_empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
        if !is_demo && !is_empty {
            bail!(Hinted::new(
                format!(
                    "`{}` exists and is not a graphform demo directory",
                    dir.display()
                ),
                "pass another one with --dir",
            ));
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear `{}`", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "created by `graphform demo`; it deletes this directory on its next run\n",
    )
    .with_context(|| format!("cannot write in `{}`", dir.display()))
}

struct Demo<'a> {
    spec: &'a Spec,
    store: &'a FileStore,
    client: GraphClient,
    credentials: Credentials,
    emulator: Emulator,
    printer: &'a Printer,
    step: std::cell::Cell<u32>,
}

async fn story(
    spec: &Spec,
    store: &FileStore,
    dir: &Path,
    printer: &Printer,
) -> anyhow::Result<()> {
    // Today, frozen: time moves only when the story says so, so a day
    // count never slips by a second spent working (60d, not 59d).
    let world = World {
        clock_frozen: Some(true),
        ..World::demo()
    };
    let emulator = Emulator::start(world)
        .await
        .context("cannot start the emulator")?;
    let variables: BTreeMap<String, Secret> =
        emulator.world_summary().env_vars().into_iter().collect();
    let credentials = settings::credentials_from(spec, |name| variables.get(name).cloned())?;
    let client = GraphClient::new(ClientSettings::for_base_url(&emulator.base_url())?)?;
    let demo = Demo {
        spec,
        store,
        client,
        credentials,
        emulator,
        printer,
        step: std::cell::Cell::new(0),
    };

    printer.data(&format!(
        "graphform demo: an emulated Meta business (Acme) at {}, the policy {} and an encrypted file store beside it.\n",
        demo.emulator.base_url(),
        dir.join("graphform.yaml").display()
    ));

    demo.heading("What does the policy need? (graphform plan)");
    let first = demo.plan().await?;
    graphform_engine::plan_file::write(&first, &dir.join("plan.json"))
        .context("cannot save the plan")?;
    demo.heading("Make it so (graphform apply)");
    demo.apply(&first).await?;
    demo.heading("Plan again: nothing to do");
    let _ = demo.plan().await?;

    demo.advance(
        45 * DAY,
        "45 days later: the 60-day tokens are inside their 20-day refresh window",
    );
    let refresh = demo.plan().await?;
    demo.apply(&refresh).await?;
    demo.printer
        .data("The old tokens still work: consumers have 24h (`grace`) to pick up the new ones.\n");

    demo.advance(25 * 60 * 60, "25 hours later: the grace period is over");
    let revoke = demo.plan().await?;
    demo.apply(&revoke).await?;
    demo.heading("Converged");
    let _ = demo.plan().await?;

    printer.data(&format!(
        "\nExplore further:\n  graphform validate {policy}\n  graphform show {plan}                # the first plan, as saved\n  graphform show {plan} --format markdown\n  graphform emulator                              # a long-running emulator of the same world (it prints export lines)\n\nThe store key is in {key} (GRAPHFORM_STORE_KEY); token values live only in {store}, encrypted.\n",
        policy = dir.join("graphform.yaml").display(),
        plan = dir.join("plan.json").display(),
        key = dir.join("store.key").display(),
        store = dir.join(".graphform/store").display(),
    ));
    demo.emulator.shutdown().await;
    Ok(())
}

impl Demo<'_> {
    fn heading(&self, text: &str) {
        let step = self.step.get() + 1;
        self.step.set(step);
        self.printer.data(&format!("\n== {step}. {text}\n\n"));
    }

    fn advance(&self, seconds: i64, text: &str) {
        self.emulator.advance_clock(seconds);
        self.heading(text);
    }

    async fn plan(&self) -> anyhow::Result<Plan> {
        let state = observe(self.spec, &self.client, self.store, &self.credentials)
            .await
            .context("cannot read the current state")?;
        let plan = plan(
            self.spec,
            &state,
            Timestamp::from_unix(self.emulator.now()),
            &PlanOptions::default(),
        );
        self.printer
            .data(&render::text(&plan, self.printer.stdout()));
        Ok(plan)
    }

    /// Applies `plan` as a reviewed plan file is applied: apply plans
    /// again under the lease and goes ahead only if it makes the same
    /// changes.
    async fn apply(&self, plan: &Plan) -> anyhow::Result<()> {
        let context = ApplyContext {
            spec: self.spec,
            client: &self.client,
            store: self.store,
            credentials: &self.credentials,
            now: Timestamp::from_unix(self.emulator.now()),
        };
        let progress = Lines {
            printer: self.printer,
            activity: &Activity::default(),
            total: AtomicUsize::new(0),
            quiet: false,
            to_stdout: true,
            show_plan: false,
        };
        // One change at a time: the story reads in order, the same on
        // every run.
        let options = ApplyOptions {
            parallelism: 1,
            max_parallelism: 1,
            ..ApplyOptions::default()
        };
        let report =
            graphform_engine::apply::apply(&context, Approval::Saved(plan), &options, &progress)
                .await
                .context("apply could not start")?;
        self.printer.data(&summary(&report));
        if !report.succeeded() {
            bail!("the demo's apply failed; see above");
        }
        Ok(())
    }
}
