//! Resolved settings: the policy, the Graph client, the store, credentials
//! and the clock, from the policy file, flags and the environment. Every
//! environment variable read here is declared in [`crate::env`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use graphform_engine::observe::Credentials;
use graphform_graph::{
    AnswerFailure, AppCredentials, ClientSettings, ConnectFailure, DEFAULT_BASE_URL, GraphClient,
    GraphError, Secret, UserToken,
};
use graphform_spec::{Loaded, Spec, StoreSettings};
use graphform_store::{
    AnyStore, AwsSecretsManagerConfig, BackendSettings, Store as _, StoreError, VaultSettings,
};
use graphform_types::Timestamp;

use crate::cli::DEFAULT_POLICY;
use crate::env;
use crate::output::{Hinted, Printer};
use crate::progress::Activity;

/// Loads and validates the policy; on errors prints the diagnostics (as
/// `graphform validate` does) and fails. Warnings are printed either way.
/// A policy that is not there, or cannot be read, fails with how to name
/// the policy instead of "invalid" (issue 15).
pub(crate) fn load_policy(path: &Path, printer: &Printer) -> anyhow::Result<Spec> {
    const NAME_THE_POLICY: &str = "name the policy with `--policy PATH` (`-p PATH`) or \
        `GRAPHFORM_POLICY`; without them graphform reads `graphform.yaml` in the current directory";
    // Only "not found" is answered here: any other reason (permissions)
    // is a diagnostic of its own, printed below.
    if let Ok(false) = path.try_exists() {
        return Err(Hinted::new(
            format!(
                "no policy at `{}`: no such file or directory",
                path.display()
            ),
            NAME_THE_POLICY,
        )
        .into());
    }
    let loaded = graphform_spec::load(path);
    print_diagnostics(&loaded, printer);
    match loaded.spec {
        Some(spec) => Ok(spec),
        // It is there (see above): the diagnostics say what is wrong
        // with it, and naming another policy is not the way out.
        None if loaded.unreadable() => {
            Err(anyhow!("cannot load the policy from `{}`", path.display()))
        }
        None => Err(anyhow!(
            "{} is invalid: {} (run `graphform validate {}` for details)",
            path.display(),
            plural(loaded.error_count(), "error"),
            path.display()
        )),
    }
}

/// Prints every diagnostic of a loaded policy to stderr.
pub(crate) fn print_diagnostics(loaded: &Loaded, printer: &Printer) {
    for diagnostic in &loaded.diagnostics {
        printer.message(&graphform_spec::render(
            diagnostic,
            &loaded.sources,
            printer.stderr().colors(),
        ));
        printer.message("\n");
    }
}

/// `1 error`, `2 errors`, `2 businesses`.
pub(crate) fn plural(count: usize, noun: &str) -> String {
    match (count, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "business") => format!("{count} businesses"),
        _ => format!("{count} {noun}s"),
    }
}

/// The Graph client for the policy at `policy`, `GRAPHFORM_GRAPH_URL`
/// overriding `graph.url`. Errors about the URL, then and when a call
/// cannot connect, say where it was set.
pub(crate) fn graph_client(spec: &Spec, policy: &Path) -> anyhow::Result<GraphClient> {
    let variable = env::GRAPHFORM_GRAPH_URL.name;
    let (url, origin) = match env::GRAPHFORM_GRAPH_URL.value() {
        Some(url) => (url, format!("from `{variable}`")),
        None if spec.graph.url == DEFAULT_BASE_URL => (
            spec.graph.url.clone(),
            format!(
                "the default: neither `{variable}` nor `graph.url` in {} sets another",
                policy.display()
            ),
        ),
        None => (
            spec.graph.url.clone(),
            format!("from `graph.url` in {}", policy.display()),
        ),
    };
    let mut settings = ClientSettings::for_base_url(&url)
        .with_context(|| format!("the Graph API URL {origin} cannot be used"))?;
    settings.base_url_origin = Some(origin);
    if let Some(timeout) = request_timeout_override()? {
        settings.request_timeout = timeout;
    }
    settings.api_version = spec
        .graph
        .api_version
        .parse()
        .with_context(|| format!("invalid Graph API version `{}`", spec.graph.api_version))?;
    GraphClient::new(settings).context("cannot build the Graph API client")
}

/// The test hook [`env::GRAPHFORM_REQUEST_TIMEOUT_MS`], if set: a
/// request timeout of that many milliseconds.
fn request_timeout_override() -> anyhow::Result<Option<std::time::Duration>> {
    let Some(value) = env::value(env::GRAPHFORM_REQUEST_TIMEOUT_MS) else {
        return Ok(None);
    };
    let millis: u64 = value
        .trim()
        .parse()
        .ok()
        .filter(|millis| *millis > 0)
        .with_context(|| {
            format!(
                "`{}` must be a number of milliseconds above 0",
                env::GRAPHFORM_REQUEST_TIMEOUT_MS
            )
        })?;
    Ok(Some(std::time::Duration::from_millis(millis)))
}

/// What to do when a Graph call could not connect, or connected and got
/// no complete answer, by why: the hint printed after the error.
pub(crate) fn network_hint(error: &GraphError) -> Option<String> {
    let network = "and that no proxy or firewall stands in the way (graphform honours `HTTPS_PROXY` and `NO_PROXY`)";
    if let Some((failure, url)) = error.answer_failure() {
        let what = match failure {
            AnswerFailure::TimedOut { .. } => {
                "something accepts connections at that address but does not answer"
            }
            _ => "the server at that address dropped the connection",
        };
        return Some(if url.is_loopback() {
            format!(
                "{what}: is it the emulator (`graphform emulator`), or another program that took its port? Check the URL's port"
            )
        } else {
            let slow = match failure {
                AnswerFailure::TimedOut { .. } => "; if Meta is only slow, try again later",
                _ => "",
            };
            format!(
                "{what}: is it the Graph API (`https://graph.facebook.com`), or a proxy in front of it? Check the URL, {network}{slow}"
            )
        });
    }
    let (failure, url) = error.connect_failure()?;
    let variable = env::GRAPHFORM_GRAPH_URL.name;
    Some(match failure {
        ConnectFailure::Refused if url.is_loopback() => format!(
            "is the emulator running? `graphform emulator` starts it and prints the `{variable}` to export; otherwise check the URL's port"
        ),
        ConnectFailure::Refused => {
            format!("check the URL's host and port, {network}")
        }
        ConnectFailure::HostNotFound => format!(
            "check the URL's host name (Meta's is `graph.facebook.com`) and this machine's DNS settings, {network}"
        ),
        ConnectFailure::TimedOut => format!("check that the host is reachable from here, {network}"),
        ConnectFailure::UntrustedCertificate => "graphform trusts the system's CA certificates: if the server (or a proxy that intercepts TLS) uses a private CA, add its certificate to the system's store; on Linux, `SSL_CERT_FILE` may instead name a PEM file of all the CA certificates to trust. graphform has no setting of its own for this".to_owned(),
        ConnectFailure::TlsHandshake => "is there an https server at that port? For a plain http server (the emulator), write the URL with `http://`, allowed to a loopback address only".to_owned(),
        _ => format!("check the URL, {network}"),
    })
}

/// Every credential the policy names, read from the environment. All
/// missing variables are reported at once.
pub(crate) fn credentials(spec: &Spec) -> anyhow::Result<Credentials> {
    credentials_from(spec, |name| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .map(Secret::new)
    })
}

/// Every credential the policy names, looked up by variable name.
pub(crate) fn credentials_from(
    spec: &Spec,
    lookup: impl Fn(&str) -> Option<Secret>,
) -> anyhow::Result<Credentials> {
    let mut missing = Vec::new();
    let mut read = |name: &str, what: String| -> Option<Secret> {
        let value = lookup(name);
        if value.is_none() {
            missing.push(format!("  {name}: {what}"));
        }
        value
    };
    let mut credentials = Credentials::default();
    for business in &spec.businesses {
        for (name, app) in &business.apps {
            if let Some(secret) = read(
                &app.secret_env,
                format!(
                    "the secret of app `{name}` ({}) of `{}`",
                    app.id, business.name
                ),
            ) {
                credentials
                    .apps
                    .insert(app.id.clone(), AppCredentials::new(app.id.clone(), secret));
            }
        }
        let admin_app = &business.apps[&business.admin.app];
        let token = read(
            &business.admin.token_env,
            format!("the admin token of `{}`", business.name),
        );
        if let (Some(token), Some(app)) = (token, credentials.apps.get(&admin_app.id)) {
            credentials
                .admins
                .insert(business.name.clone(), UserToken::new(token, app.clone()));
        }
    }
    if missing.is_empty() {
        return Ok(credentials);
    }
    missing.sort();
    missing.dedup();
    bail!(Hinted::new(
        format!("missing environment variables:\n{}", missing.join("\n")),
        "the policy names the variables that hold secrets; export them (against the emulator, `graphform emulator` prints them)",
    ))
}

/// The directory of the policy (a file's parent, or the directory itself):
/// relative store paths are relative to it.
pub(crate) fn policy_dir(policy: &Path) -> PathBuf {
    if policy.is_dir() {
        policy.to_path_buf()
    } else {
        policy.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// The policy as the user named it, as arguments to paste into a command
/// graphform suggests: ` --policy PATH` (PATH quoted for a POSIX shell
/// when it needs it), or nothing for [`DEFAULT_POLICY`], which every
/// command reads unnamed.
pub(crate) fn policy_argument(policy: &Path) -> String {
    if policy == Path::new(DEFAULT_POLICY) {
        String::new()
    } else {
        format!(" --policy {}", shell_word(policy))
    }
}

/// `path` as one word of a POSIX shell command line: as it is when it has
/// only characters no shell treats specially, else in single quotes.
pub(crate) fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./,:=@%+".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Opens the store the policy names, and prints its warnings (a file
/// store other users can read). Relative paths (the file store's
/// directory, a Vault CA file) are relative to the policy's directory.
pub(crate) fn open_store(
    spec: &Spec,
    policy: &Path,
    printer: &Printer,
) -> anyhow::Result<AnyStore> {
    let (settings, what) = backend_settings(&spec.store, &policy_dir(policy));
    let store = AnyStore::open(settings)
        .map_err(|error| naming_the_policy(error, policy))
        .with_context(|| format!("cannot open the {what}"))?;
    for warning in store.warnings() {
        printer.warning(warning);
    }
    Ok(store)
}

/// The store's hints suggest `graphform store init` and `store rekey` as
/// run on the default policy: with the policy the user named added, so
/// that the suggestion works when pasted.
fn naming_the_policy(error: StoreError, policy: &Path) -> StoreError {
    let argument = policy_argument(policy);
    match error {
        StoreError::Config {
            message,
            hint: Some(hint),
        } if !argument.is_empty() => {
            let hint = ["init", "rekey"].iter().fold(hint, |hint, command| {
                let suggested = format!("`graphform store {command}");
                hint.replace(&suggested, &format!("{suggested}{argument}"))
            });
            StoreError::Config {
                message,
                hint: Some(hint),
            }
        }
        other => other,
    }
}

/// The store crate's settings for the policy's `store:` section, relative
/// paths resolved against `base`, and how to name the store in messages.
fn backend_settings(store: &StoreSettings, base: &Path) -> (BackendSettings, String) {
    match store {
        StoreSettings::File { path, key_env } => {
            let dir = base.join(path);
            let what = format!("file store `{}`", dir.display());
            let key_env = key_env.clone();
            (BackendSettings::File { dir, key_env }, what)
        }
        StoreSettings::Vault {
            address,
            mount,
            prefix,
            token_env,
            namespace,
            ca_file,
        } => {
            let mut settings = VaultSettings::new(address.clone());
            settings.mount.clone_from(mount);
            settings.prefix.clone_from(prefix);
            settings.namespace.clone_from(namespace);
            settings.ca_file = ca_file.as_ref().map(|file| base.join(file));
            let token_env = token_env.clone();
            let what = format!("Vault store at {address}");
            (
                BackendSettings::Vault {
                    settings,
                    token_env,
                },
                what,
            )
        }
        StoreSettings::AwsSecretsManager {
            region,
            prefix,
            endpoint_url,
        } => {
            let config = AwsSecretsManagerConfig {
                region: Some(region.clone()),
                prefix: prefix.clone(),
                endpoint_url: endpoint_url.clone(),
            };
            let what = format!("AWS Secrets Manager store in {region}");
            (BackendSettings::AwsSecretsManager(config), what)
        }
    }
}

/// The clock: the system's, or `GRAPHFORM_NOW` (Unix seconds) for demos and
/// tests against the emulator.
pub(crate) fn now() -> anyhow::Result<Timestamp> {
    if let Some(at) = clock_override()? {
        return Ok(at);
    }
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let seconds = i64::try_from(elapsed.as_secs()).context("the system clock is out of range")?;
    Ok(Timestamp::from_unix(seconds))
}

/// The moments `GRAPHFORM_NOW` may name: from 2010 (the Graph API's
/// first year) to 2200. Anything else is a mistake (`1`, milliseconds),
/// not a clock anyone means to plan with.
const CLOCK_OVERRIDE_RANGE: std::ops::RangeInclusive<i64> = 1_262_304_000..=7_258_118_400;

/// `GRAPHFORM_NOW`, when set: Unix seconds within [`CLOCK_OVERRIDE_RANGE`].
fn clock_override() -> anyhow::Result<Option<Timestamp>> {
    let name = env::GRAPHFORM_NOW.name;
    let Some(text) = env::GRAPHFORM_NOW.value() else {
        return Ok(None);
    };
    let hint = format!(
        "it is the clock for demos and tests against the emulator, in Unix seconds \
         (e.g. `{name}=$(date -d 2027-01-01 +%s)`); unset it to use the system clock"
    );
    let Ok(seconds) = text.trim().parse::<i64>() else {
        bail!(Hinted::new(
            format!("{name} must be Unix seconds, not `{text}`"),
            hint
        ));
    };
    let (earliest, latest) = CLOCK_OVERRIDE_RANGE.into_inner();
    if seconds < earliest {
        bail!(Hinted::new(
            format!(
                "{name}={seconds} is {}, before {}: not a time graphform can plan at",
                Timestamp::from_unix(seconds).utc(),
                Timestamp::from_unix(earliest).date(),
            ),
            hint
        ));
    }
    if seconds > latest {
        let milliseconds = CLOCK_OVERRIDE_RANGE.contains(&(seconds / 1000));
        bail!(Hinted::new(
            format!(
                "{name}={seconds} is after {}: not a time graphform can plan at{}",
                Timestamp::from_unix(latest).date(),
                if milliseconds {
                    format!(" (milliseconds? in seconds it is {})", seconds / 1000)
                } else {
                    String::new()
                }
            ),
            hint
        ));
    }
    Ok(Some(Timestamp::from_unix(seconds)))
}

/// A warning when the clock is `GRAPHFORM_NOW`'s (`overridden`) while
/// graphform talks to a Graph API that is not on this machine (Meta's, in
/// production): tokens would be refreshed, rotated and revoked by another
/// clock than Meta's.
fn clock_override_warning(
    overridden: bool,
    client: &GraphClient,
    now: Timestamp,
) -> Option<String> {
    let base_url = &client.settings().base_url;
    (overridden && !base_url.is_loopback()).then(|| {
        format!(
            "{} is set: planning as if it were {} while talking to {}; it is meant for the \
             emulator only: unset it to plan with the real clock",
            env::GRAPHFORM_NOW.name,
            now.utc(),
            base_url.as_url()
        )
    })
}

/// A current-thread async runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Everything a command that talks to Meta and the store needs, resolved
/// once: the policy, credentials, the client, the store, the clock and a
/// runtime.
pub(crate) struct World {
    pub(crate) spec: Spec,
    pub(crate) credentials: Credentials,
    pub(crate) client: GraphClient,
    pub(crate) store: AnyStore,
    pub(crate) now: Timestamp,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// The progress shown on a terminal while this command works.
    pub(crate) activity: Activity,
}

impl World {
    /// Resolves the settings of the policy at `policy`; prints the store's
    /// warnings.
    pub(crate) fn open(policy: &Path, printer: &Printer) -> anyhow::Result<Self> {
        let spec = load_policy(policy, printer)?;
        let now = now()?;
        let credentials = credentials(&spec)?;
        let client = graph_client(&spec, policy)?;
        // Throttle waits and retries, one line each: a long wait is not
        // a hang (only what happened, how long and the attempt: no ID).
        let activity = Activity::default();
        let (waits, shown) = (printer.clone(), activity.clone());
        client.on_wait(std::sync::Arc::new(move |wait: &graphform_graph::Wait| {
            shown.message(&waits, &format!("{wait}\n"));
        }));
        let store = open_store(&spec, policy, printer)?;
        let overridden = env::GRAPHFORM_NOW.value().is_some();
        if let Some(warning) = clock_override_warning(overridden, &client, now) {
            printer.warning(&warning);
        }
        Ok(Self {
            now,
            runtime: runtime()?,
            activity,
            spec,
            credentials,
            client,
            store,
        })
    }

    /// With what and against what this command runs, for a plan's header.
    pub(crate) fn origin(&self) -> graphform_engine::Origin {
        let settings = self.client.settings();
        graphform_engine::Origin {
            graphform_version: env!("CARGO_PKG_VERSION").to_owned(),
            graph: format!(
                "{}{}",
                settings.base_url.as_url(),
                settings.api_version.as_str()
            ),
            store: self.store.describe(),
        }
    }

    /// What apply and import work with: the policy, the client, the
    /// store, the credentials and the clock.
    pub(crate) fn context(&self) -> graphform_engine::apply::ApplyContext<'_, AnyStore> {
        graphform_engine::apply::ApplyContext {
            spec: &self.spec,
            client: &self.client,
            store: &self.store,
            credentials: &self.credentials,
            now: self.now,
        }
    }

    /// Observes the live state (read-only).
    pub(crate) fn observe(&self) -> anyhow::Result<graphform_engine::State> {
        self.activity.reading(READING, &self.client);
        let state = self.runtime.block_on(graphform_engine::observe::observe(
            &self.spec,
            &self.client,
            &self.store,
            &self.credentials,
        ));
        self.activity.done();
        state.context("cannot read the current state")
    }
}

/// What the spinner says while Meta and the store are read.
pub(crate) const READING: &str = "Reading Meta and the store";

impl World {}

/// Writes `text` and a newline to a new file readable by its owner only
/// (a store key), durably (the file and its directory flushed); refuses
/// to overwrite.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create `{}` (it must not exist yet)", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write `{}`", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    // The file's entry is durable only once its directory is flushed.
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot flush `{}` to disk", parent.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> GraphClient {
        GraphClient::new(ClientSettings::for_base_url(url).expect("a URL")).expect("a client")
    }

    #[test]
    fn the_policy_argument_is_empty_for_the_default_and_quoted_when_a_shell_would_split_it() {
        assert_eq!(policy_argument(Path::new(DEFAULT_POLICY)), "");
        assert_eq!(
            policy_argument(Path::new("examples/quickstart.yaml")),
            " --policy examples/quickstart.yaml"
        );
        assert_eq!(
            policy_argument(Path::new("ops/graphform.yaml")),
            " --policy ops/graphform.yaml"
        );
        assert_eq!(
            policy_argument(Path::new("my policies/it's.yaml")),
            r" --policy 'my policies/it'\''s.yaml'"
        );
        assert_eq!(shell_word(Path::new("$HOME/p.yaml")), "'$HOME/p.yaml'");
    }

    #[test]
    fn store_hints_name_the_policy_only_when_one_was_named() {
        let error = || {
            StoreError::Config {
            message: "the key is missing".to_owned(),
            hint: Some(
                "`graphform store init --key-file store.key` creates it; `graphform store rekey` changes it"
                    .to_owned(),
            ),
        }
        };
        assert_eq!(
            naming_the_policy(error(), Path::new("p.yaml")).hint(),
            Some(
                "`graphform store init --policy p.yaml --key-file store.key` creates it; \
                 `graphform store rekey --policy p.yaml` changes it"
            )
        );
        assert_eq!(
            naming_the_policy(error(), Path::new(DEFAULT_POLICY)).hint(),
            error().hint()
        );
    }

    #[test]
    fn an_overridden_clock_is_warned_of_only_against_a_remote_graph_api() {
        let now = Timestamp::from_unix(1_798_000_000);
        let meta = client("https://graph.facebook.com");
        let warning = clock_override_warning(true, &meta, now).expect("a warning");
        assert!(
            warning.starts_with("GRAPHFORM_NOW is set: planning as if it were 2026-"),
            "{warning}"
        );
        assert!(warning.contains("https://graph.facebook.com/"), "{warning}");
        assert_eq!(clock_override_warning(false, &meta, now), None);
        let emulator = client("http://127.0.0.1:8080");
        assert_eq!(clock_override_warning(true, &emulator, now), None);
    }
}
