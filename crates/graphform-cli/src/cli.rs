//! The command line's shape: clap types and their help text, no logic.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use graphform_engine::Maintenance;
use graphform_types::TokenAddress;

use crate::env;

/// Declarative Meta Business Manager system users, app installs and access
/// tokens.
///
/// Describe system users, the apps installed for them and their tokens in a
/// YAML policy kept in git. `validate` checks the policy; `plan` shows what
/// must change to make Meta and your token store (an encrypted file, Vault
/// or AWS Secrets Manager) match it, and `--out` saves that plan for
/// review; `show` renders a saved plan; `apply` makes the changes, from a
/// reviewed plan file or after confirmation (`--auto-approve` in
/// pipelines): it creates system users, installs apps, issues, refreshes
/// and rotates tokens, stores each new token first, and revokes a replaced
/// one after its grace period. `demo` and `emulator` do all of it against
/// an emulated Graph API, with no Meta account.
#[derive(Debug, Parser)]
#[command(
    name = "graphform",
    version,
    propagate_version = true,
    after_help = after_help()
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A command's examples, then the environment variables it reads (the
/// whole table of [`env`]: a command that talks to Meta and the store reads
/// nearly all of it).
fn with_environment(examples: &str) -> String {
    format!("{examples}\n\n{}", env::help())
}

/// The top-level help's closing: examples of every command, then the
/// environment variables (from [`env`]'s table).
fn after_help() -> String {
    format!(
        "Examples:
  graphform validate                          # check ./graphform.yaml
  graphform validate policies/                # a directory of *.yaml/*.yml files
  graphform plan --out plan.json              # what would change, saved for review
  graphform show plan.json --format markdown  # the saved plan, as a PR comment
  graphform apply plan.json                   # apply exactly the reviewed plan
  graphform apply --auto-approve              # plan and apply at once, in a pipeline
  graphform import ADDRESS --token-env VAR    # manage a token made by hand
  graphform status --fail-within 14d          # where every token stands; 2 if one needs attention
  graphform store init --key-file store.key   # create the encrypted file store
  graphform lock status                       # who holds the apply lock, and its ID
  graphform unlock 3f9c2a7d41b0e865           # break the lock of a killed apply, by its ID
  graphform demo                              # the whole lifecycle, emulated
  graphform emulator                          # a local fake Graph API to try things on
  graphform schema > graphform.schema.json    # for editors
  graphform completions bash                  # tab completion: see `completions --help`
  graphform man --out ~/.local/share/man/man1 # a man page per command

{}

Docs: README.md and docs/ in the graphform repository.",
        env::help()
    )
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG`
    /// overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour output. `auto` colours a terminal whose `TERM`
    /// supports colour; `NO_COLOR` (not empty) or `CLICOLOR=0` turns that
    /// off, `CLICOLOR_FORCE` (not empty) colours even a pipe (anstream's
    /// rules, as for `--help`). Logs on stderr follow stderr's choice.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour a terminal, as `NO_COLOR`, `CLICOLOR` and `CLICOLOR_FORCE`
    /// allow.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a policy and report every problem in it.
    ///
    /// Reads a policy file, or a directory of `*.yaml`/`*.yml` files that together
    /// form one policy, and reports every problem with its file, line and
    /// column, what was expected and a hint. Exits 0 when the policy is
    /// valid (warnings allowed), 1 when it is not.
    #[command(
        after_help = "Examples:\n  graphform validate\n  graphform validate examples/quickstart.yaml\n  graphform validate policies/ --format json | jq '.diagnostics[].code'"
    )]
    Validate(ValidateArgs),
    /// Print the policy's JSON Schema.
    ///
    /// Editors use it for completion and inline docs. The repository ships it
    /// as `schemas/graphform.schema.json`; point a YAML file at it with the
    /// modeline `# yaml-language-server: $schema=<path or URL>`.
    #[command(after_help = "Example:\n  graphform schema > graphform.schema.json")]
    Schema,
    /// Show what must change to make Meta and the store match the policy.
    ///
    /// Reads the live state (system users of each business, the stored
    /// tokens and what `debug_token` says of each) and prints the changes
    /// `apply` would make, each with its reason: system users to create,
    /// apps to install, tokens to issue, refresh, rotate or revoke. It
    /// changes nothing and takes no lock. Tokens appear as fingerprints,
    /// never values.
    #[command(
        after_help = with_environment("Examples:\n  graphform plan\n  graphform plan --format markdown > plan.md     # a pull-request comment\n  graphform plan --out plan.json --detailed-exitcode   # 0 no changes, 2 changes, 1 error, 64 usage\n  graphform show plan.json")
    )]
    Plan(PlanArgs),
    /// Make the changes a plan shows.
    ///
    /// Without a plan file it plans, shows the plan and asks for
    /// confirmation (`--auto-approve` skips the question; with no terminal
    /// and no flag it refuses). With a plan file from `graphform plan --out`
    /// it applies exactly that plan, after checking that the policy and the
    /// live state are still what the plan was made from and that the plan
    /// has not expired. It holds the store's lock while it runs, journals
    /// every Graph mutation, stores each new token before anything else
    /// happens, and revokes a replaced token only after its grace period.
    #[command(
        after_help = with_environment("Examples:\n  graphform apply                         # plan, confirm, apply\n  graphform plan --out plan.json && graphform apply plan.json\n  graphform apply --auto-approve --format json   # in a pipeline\n  graphform apply --auto-approve --only refresh,rotate,revoke-superseded,revoke-removed  # nightly")
    )]
    Apply(ApplyArgs),
    /// Adopt a token made outside graphform, so graphform manages it.
    ///
    /// For a token generated by hand (Business Settings > System users >
    /// Generate token) that consumers already use: instead of letting
    /// `apply` issue a new one, graphform takes this one over and
    /// refreshes, rotates and revokes it from now on, like any token it
    /// issued. ADDRESS must be a token of the policy. The value is read from
    /// the environment variable `--token-env` names, never from the
    /// command line; only its fingerprint is ever shown.
    ///
    /// Before storing it, graphform asks Meta (`debug_token`, with the
    /// app's secret) and refuses, writing nothing, a token that is not
    /// valid, is of another app, or is not the address's system user's.
    /// It stores it with the scopes and expiry Meta reports: where they
    /// differ from the policy it warns, and the next `apply` rotates it. A
    /// token stored at the address before is kept as the previous one and
    /// revoked by an `apply` after the token's grace, as after a rotation.
    /// It holds the store's lock while it runs.
    #[command(
        after_help = with_environment("Examples:\n  read -rs TOKEN && export TOKEN              # paste the token; it is not echoed\n  graphform import acme/ci-reporting/token/insights-read --token-env TOKEN\n  graphform plan                              # the token is managed now\n  graphform import ADDRESS --token-env TOKEN --format json")
    )]
    Import(ImportArgs),
    /// Render a saved plan file.
    #[command(
        after_help = "Examples:\n  graphform show plan.json\n  graphform show plan.json --format markdown"
    )]
    Show(ShowArgs),
    /// Report where every managed token stands, for people and monitoring.
    ///
    /// Lists every token the policy names with its fingerprint, expiry mode,
    /// when it expires, the next refresh or rotation and from when it is
    /// due, a replaced token waiting for its revocation, tokens removed
    /// from the policy and when they are revoked, tokens that are dead or
    /// missing, and the last apply (when, and how it ended).
    ///
    /// It reads only the store and graphform's state documents: no Graph
    /// call, no lock, and nothing is changed. A `file` store encrypts each
    /// record whole, so it needs the store key (`store.key_env`); a `vault`
    /// or `aws-secrets-manager` store needs only a credential that can read
    /// it, and no graphform key. Without `--check`, a token is dead once
    /// its recorded expiry has passed; `--check` also asks Meta
    /// (`debug_token`, batched) about every stored value, with the app
    /// secrets, and reports drift: a token revoked or invalidated outside
    /// graphform, scopes or expiry that differ from the record.
    ///
    /// `--format prometheus` writes OpenMetrics text for `node_exporter`'s
    /// textfile collector or a Pushgateway; `--format html` one
    /// self-contained page with an expiry timeline. See docs/monitoring.md.
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// Manage the token store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Show the apply lock.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Break a stale apply lock, named by its ID.
    ///
    /// `apply` holds a lease in the store while it runs. If an apply was
    /// killed, its lease stays until it expires; `unlock ID` removes it now.
    /// Make sure no apply is running first: `graphform lock status` shows
    /// the holder (host, pid, since when) and the ID. The ID makes sure
    /// the lock removed is the one you looked at: if another run took the
    /// lock since, nothing is removed and the current holder is shown
    /// (exit 1). No lock: says so, exit 0.
    #[command(
        after_help = "Examples:\n  graphform lock status                 # the holder and the lock's ID\n  graphform unlock 3f9c2a7d41b0e865     # remove exactly that lock"
    )]
    Unlock(UnlockArgs),
    /// Watch graphform manage tokens on an emulated Meta business.
    ///
    /// Starts the Graph API emulator in-process, writes a demo policy and
    /// an encrypted file store to a directory, and tells the story: plan,
    /// apply, plan again (nothing to do), 45 days later the 60-day tokens
    /// are refreshed, 25 hours after that the old ones are revoked. No Meta
    /// account and no network are needed.
    #[command(
        after_help = "Examples:\n  graphform demo\n  graphform demo --dir /tmp/graphform-demo"
    )]
    Demo(DemoArgs),
    /// Run the Graph API emulator until stopped.
    ///
    /// A faithful fake of the Graph API endpoints graphform uses, on a
    /// loopback address, for demos and CI with no Meta account: it prints its
    /// base URL, the world it serves and `export` lines for the world's
    /// emulated credentials (not Meta's). Point graphform at it with
    /// `GRAPHFORM_GRAPH_URL`. Its control API (`/_emulator/…`) moves the clock,
    /// injects faults and drift, and shows state and counters: see
    /// docs/emulator.md.
    #[command(
        after_help = "Examples:\n  graphform emulator                          # the demo world on a free port\n  graphform emulator --port 8080 --world world.yaml\n  graphform emulator --portfile /tmp/port &   # scripts: wait for the file\n  curl -s http://127.0.0.1:8080/_emulator/state"
    )]
    Emulator(EmulatorArgs),
    /// Print a shell completion script.
    ///
    /// The script completes graphform's commands, flags and the values of
    /// flags with a fixed set of choices (formats, shells, maintenance
    /// kinds). It is generated from this graphform's command line, as
    /// `--help` is: regenerate it after upgrading graphform. It is printed
    /// to stdout; below is where each shell looks for it.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print graphform's man page, or write one per command.
    ///
    /// Without `--out`, prints graphform(1) to stdout. With `--out DIR`,
    /// writes graphform.1 and a page per subcommand (graphform-plan.1,
    /// graphform-store-init.1, …) into DIR, creating it if need be. Pages
    /// of the same names already there are replaced (they are generated:
    /// regenerating them is the point); other files are left alone. Like
    /// `--help` and the completions, the pages are generated from this
    /// graphform's command line.
    #[command(
        after_help = "Examples:\n  graphform man | man -l -                       # read it now (man-db)\n  graphform man --out ~/.local/share/man/man1    # then: man graphform-plan\n  graphform man --out target/man                 # for a package"
    )]
    Man(ManArgs),
}

/// The closing of `graphform status --help`.
const STATUS_HELP: &str = "Examples:
  graphform status                                  # a table
  graphform status --check                          # also ask Meta about every token
  graphform status --fail-within 14d                # exit 2 if a token needs attention
  graphform status --format json | jq '.tokens[] | select(.state != \"ok\")'
  graphform status --format prometheus > g.prom.tmp && mv g.prom.tmp g.prom   # textfile collector
  graphform status --format html > status.html      # the expiry timeline, one page

Exit codes: 0 ok; 2 with --fail-within when a managed token expires within
DURATION (expires_at <= now + DURATION), is dead or missing, or a revocation
is more than a day late (the report is printed either way); 1 error; 64 usage.";

/// Where each shell looks for `graphform completions`' script: the closing
/// of its `--help`.
const COMPLETIONS_HELP: &str = "Install (then open a new shell):
  bash        graphform completions bash > ~/.local/share/bash-completion/completions/graphform
              (the bash-completion package loads it; create the directory first), or in
              ~/.bashrc: source <(graphform completions bash)
  zsh         graphform completions zsh > ~/.zfunc/_graphform
              and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath)
              (then: autoload -Uz compinit && compinit, if ~/.zshrc does not already)
  fish        graphform completions fish > ~/.config/fish/completions/graphform.fish
  powershell  graphform completions powershell > \"$(Split-Path $PROFILE)\\graphform.ps1\"
              and in $PROFILE: . \"$(Split-Path $PROFILE)\\graphform.ps1\"
  elvish      in ~/.config/elvish/rc.elv: eval (graphform completions elvish | slurp)";

/// `graphform completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `graphform man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write graphform.1 and one page per subcommand into this directory
    /// instead of printing graphform.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `graphform demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the demo's policy, store and plan. A directory left
    /// by an earlier demo is started afresh; any other must be empty.
    #[arg(long, default_value = "graphform-demo")]
    pub dir: PathBuf,
}

/// `graphform emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The port on 127.0.0.1 to listen on; 0 takes a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A world file (YAML or JSON): businesses, apps, system users, admin
    /// tokens, clock. Without it, the demo world.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Write the chosen port to this file once listening, after the
    /// `export` lines are printed: scripts wait for the file.
    #[arg(long, value_name = "FILE")]
    pub portfile: Option<PathBuf>,
}

/// The policy every command reads when none is named.
pub(crate) const DEFAULT_POLICY: &str = "graphform.yaml";

/// Where the policy is.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The policy: a YAML file or a directory of `*.yaml`/`*.yml` files.
    #[arg(long, short = 'p', env = env::GRAPHFORM_POLICY.name, default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
}

/// `graphform plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Also write the plan to this file (JSON, no secrets) for `apply` or
    /// `show`, e.g. as a CI artifact.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes, 0 when there are none, 1 on error
    /// (64 for a command line graphform cannot run: never 2).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Invalidate all tokens of each system user for which an apply
    /// may have issued a token nobody stored (it got no verified outcome
    /// for the call: interrupted, or Meta's answer was lost), and re-issue the
    /// managed ones (the plan warns when this applies).
    #[arg(long)]
    pub invalidate_orphaned: bool,
    /// Revoke this token, removed from the policy, now rather than after
    /// its grace: for a token that leaked. Repeat for several. Without it
    /// a removed token keeps working for `defaults.grace` after the apply
    /// that retires it, so its consumers can move off it.
    #[arg(long, value_name = "ADDRESS")]
    pub revoke_now: Vec<TokenAddress>,
}

/// `graphform apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan file written by `graphform plan --out`; without it, apply
    /// plans first.
    pub plan: Option<PathBuf>,
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format of the final report: `json` is the apply report of
    /// docs/apply-json.md (schemas/apply-report.schema.json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How many system users to work on at once to start with.
    ///
    /// Apply paces itself on Meta's rate-limit headers: while usage is
    /// below 50 % (or not reported yet) each system user done lets one more
    /// run at once, up to `--max-parallelism`; from 75 % the number is
    /// halved, down to 1. Work in progress is never interrupted.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// The most system users to work on at once, however low the usage
    /// [default: 32, or `--parallelism` when higher].
    ///
    /// Set it to the value of `--parallelism` to never go above that, e.g.
    /// when other tools share the app's rate limit.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_parallelism: Option<u16>,
    /// Invalidate all tokens of each system user for which an apply
    /// may have issued a token nobody stored (it got no verified outcome
    /// for the call: interrupted, or Meta's answer was lost), and re-issue the
    /// managed ones.
    #[arg(long)]
    pub invalidate_orphaned: bool,
    /// Allow an invalidation that kills the admin token graphform acts
    /// with (when the policy manages the admin system user): every later
    /// run fails until a new admin token is set. Prefer acting with
    /// another admin credential.
    #[arg(long)]
    pub allow_admin_invalidation: bool,
    /// Revoke this token, removed from the policy, now rather than after
    /// its grace: for a token that leaked. Repeat for several. Without it
    /// a removed token keeps working for `defaults.grace` after the apply
    /// that retires it, so its consumers can move off it.
    #[arg(long, value_name = "ADDRESS")]
    pub revoke_now: Vec<TokenAddress>,
    /// Unattended maintenance: make only the time-driven changes of these
    /// kinds (comma-separated) and skip everything a person must review
    /// (creates, installs, new tokens, scope or app changes, removals,
    /// invalidations), listing what was skipped.
    ///
    /// For a nightly job: `apply --auto-approve --only
    /// refresh,rotate,revoke-superseded,revoke-removed`. Exits 2 when
    /// every allowed change was made and others are held for review.
    /// Refuses a plan file (a reviewed plan is applied whole).
    #[arg(
        long,
        value_name = "KINDS",
        value_delimiter = ',',
        conflicts_with = "plan",
        value_parser = PossibleValuesParser::new(Maintenance::ALL.map(Maintenance::as_str))
            .map(|kind| kind.parse::<Maintenance>().expect("one of the possible values")),
    )]
    pub only: Vec<Maintenance>,
}

/// `graphform import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The token's address in the policy:
    /// `business/system-user/token/name`.
    pub address: TokenAddress,
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The environment variable that holds the token's value.
    #[arg(long, value_name = "VAR")]
    pub token_env: String,
    /// Output format: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `graphform show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file written by `graphform plan --out`.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// `graphform status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format: `text` for people, `json` for tools
    /// (docs/monitoring.md), `prometheus` (OpenMetrics text), `html` (one
    /// self-contained page).
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
    /// Also ask Meta (`debug_token`) about every stored token and report
    /// drift; needs the policy's app secrets and admin tokens in the
    /// environment, as `plan` does.
    #[arg(long)]
    pub check: bool,
    /// Exit 2 when a managed token expires within DURATION (`14d`, `36h`,
    /// `90m`, as the policy writes durations), is dead or missing, or a
    /// revocation is more than a day late.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub fail_within: Option<graphform_types::Duration>,
}

/// A duration as the policy writes it.
fn parse_duration(text: &str) -> Result<graphform_types::Duration, InvalidDuration> {
    graphform_types::Duration::parse_policy(text).ok_or(InvalidDuration)
}

/// A command-line duration that is not one the policy would take.
#[derive(Debug, thiserror::Error)]
#[error("a duration is a whole number and `d`, `h` or `m`: `14d`, `36h`, `90m`")]
pub(crate) struct InvalidDuration;

/// `graphform status` output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// For people: a table.
    Text,
    /// For tools: the versioned status document.
    Json,
    /// OpenMetrics text exposition, for Prometheus.
    Prometheus,
    /// One self-contained HTML page with an expiry timeline.
    Html,
}

/// Plan output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For terminals and logs.
    Text,
    /// For pull-request comments.
    Markdown,
    /// For tools: the versioned plan document (docs/plan-json.md).
    Json,
}

/// `graphform lock …`.
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Show who holds the apply lock, and its ID.
    ///
    /// Prints the holder of the lease `apply` holds while it runs (its
    /// description, pid, host, when it was taken and when it expires),
    /// the lock's ID (what `graphform unlock ID` needs), and whether it
    /// has expired and may be taken over by the next apply (its expiry
    /// plus a margin for clock skew between hosts). Exits 0 whether the
    /// store is locked or not; `--format json` is for scripts.
    #[command(
        after_help = "Examples:\n  graphform lock status\n  graphform lock status --format json | jq -r '.lease.id // empty'\n  graphform unlock \"$(graphform lock status --format json | jq -r .lease.id)\"   # when its holder is gone"
    )]
    Status(LockStatusArgs),
}

/// `graphform lock status`.
#[derive(Debug, Args)]
pub struct LockStatusArgs {
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `graphform unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The ID of the lock to remove, as `graphform lock status` (or the
    /// error of a refused apply) shows it.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `graphform store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create the file store and its encryption key.
    ///
    /// Creates the store directory the policy names (0700). Its encryption
    /// key is an age identity held in the environment variable the policy
    /// names (`store.key_env`, default `GRAPHFORM_STORE_KEY`). When that
    /// variable is set, its key is used; otherwise a new key is written to
    /// `--key-file` (0600): load it into the variable, and keep it in your
    /// secret manager: without it the store cannot be read.
    ///
    /// It checks the directory before it writes anything: an existing
    /// store is refused (change its key with `store rekey`; with the
    /// store's own key in the variable, nothing is done), and so is a
    /// directory that holds anything else or cannot be written. An
    /// existing `--key-file` is never overwritten.
    #[command(
        after_help = "Examples:\n  graphform store init --key-file ~/.config/graphform/store.key\n  export GRAPHFORM_STORE_KEY=\"$(cat ~/.config/graphform/store.key)\"\n  GRAPHFORM_STORE_KEY=... graphform store init"
    )]
    Init(StoreInitArgs),
    /// Re-encrypt the file store under a new key.
    ///
    /// Writes a new key to `--key-file` (0600, which must not exist), then
    /// re-encrypts every token of the store for it, holding the apply
    /// lock. Atomic: the re-encrypted store is built beside the old one and
    /// the two directories are swapped in one step, so at every moment
    /// the store reads completely with the old key or with the new one,
    /// and the new key is on disk before the store switches to it. A copy
    /// left by an interrupted rekey is removed by the next one. Afterwards
    /// only the new key reads the store: load it into the key variable
    /// and replace the old one wherever it is kept. Vault and AWS Secrets
    /// Manager stores are encrypted by their servers: rotate their keys
    /// there.
    #[command(
        after_help = "Examples:\n  graphform store rekey --key-file ~/.config/graphform/store.key.new\n  export GRAPHFORM_STORE_KEY=\"$(cat ~/.config/graphform/store.key.new)\"\n  graphform plan                         # reads the store with the new key"
    )]
    Rekey(StoreRekeyArgs),
}

/// `graphform store rekey`.
#[derive(Debug, Args)]
pub struct StoreRekeyArgs {
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Write the new key here (0600); the file must not exist.
    #[arg(long, value_name = "NEW_FILE")]
    pub key_file: PathBuf,
}

/// `graphform store init`.
#[derive(Debug, Args)]
pub struct StoreInitArgs {
    /// Where the policy is.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Write a newly generated key here (when the key variable is unset).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// `graphform validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The policy: a YAML file or a directory of `*.yaml`/`*.yml` files.
    #[arg(env = env::GRAPHFORM_POLICY.name, default_value = "graphform.yaml")]
    pub path: PathBuf,
    /// Output format: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For tools: one JSON document on stdout.
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_help_lists_every_variable_of_the_env_table() {
        let mut command = Cli::command();
        // The top-level help, and that of each command that talks to Meta
        // and the store.
        for help in
            ["", "plan", "apply", "import"].map(|name| match command.find_subcommand_mut(name) {
                Some(sub) => sub.render_long_help().to_string(),
                None => command.render_long_help().to_string(),
            })
        {
            lists_every_variable(&help);
        }
    }

    fn lists_every_variable(help: &str) {
        let names = env::DOCUMENTED
            .iter()
            .map(|var| var.name)
            .chain(env::AWS_CREDENTIALS)
            .chain([
                graphform_store::DEFAULT_KEY_ENV,
                graphform_store::DEFAULT_VAULT_TOKEN_ENV,
            ]);
        for name in names {
            assert!(help.contains(name), "--help does not mention {name}");
        }
        assert_eq!(env::GRAPHFORM_NOW.name, "GRAPHFORM_NOW");
        for hook in [env::GRAPHFORM_FAILPOINT, env::GRAPHFORM_REQUEST_TIMEOUT_MS] {
            assert!(!help.contains(hook), "a test hook is not offered: {hook}");
        }
    }

    /// Every variable the CLI reads by a literal name is read in `env.rs`'s
    /// terms: no other file names one.
    #[test]
    fn no_file_but_env_rs_names_a_variable() {
        let mut pending = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut files = 0;
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("src/env.rs") {
                    continue;
                }
                files += 1;
                let source = std::fs::read_to_string(&path).expect("readable");
                for call in ["env::var(\"", "env::var_os(\"", "env = \""] {
                    assert!(
                        !source.contains(call),
                        "{} reads a variable by a literal name: declare it in env.rs",
                        path.display()
                    );
                }
            }
        }
        assert!(files > 10, "{files}");
    }
}
