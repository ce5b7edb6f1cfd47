//! `graphform import` (issue 14): a token made by hand, as Business
//! Manager makes one (the Graph API calls it makes, sent to the emulator
//! directly), is adopted and managed from then on; a token that is not
//! the address's is refused and nothing is written. No token value is
//! ever printed.

use std::collections::BTreeMap;
use std::path::Path;

use graphform_graph::{
    AppCredentials, ClientSettings, GraphClient, IssueToken, NewSystemUser, Secret, SystemUserRole,
    UserToken,
};

use crate::common::{assert_matches_schema, json_of, run};
use crate::world::{World, fingerprints, row, rows};

const ADDRESS: &str = "acme/ci-reporting/token/insights-read";
const BUSINESS_ID: &str = "100000000000001";
const REPORTING: &str = "200000000000001";
const PUBLISHER: &str = "200000000000002";

/// What a person does in Business Manager, as Graph API calls to the
/// emulator: with the business's admin token and the apps' secrets.
struct ByHand {
    client: GraphClient,
    admin: UserToken,
    reporting: AppCredentials,
    runtime: tokio::runtime::Runtime,
}

impl ByHand {
    fn new(world: &World) -> Self {
        let env: BTreeMap<&str, &str> = world
            .emulator
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let settings = ClientSettings::for_base_url(env["GRAPHFORM_GRAPH_URL"]).expect("a URL");
        let reporting = AppCredentials::new(REPORTING, Secret::new(env["REPORTING_APP_SECRET"]));
        Self {
            client: GraphClient::new(settings).expect("a client"),
            admin: UserToken::new(Secret::new(env["ACME_ADMIN_TOKEN"]), reporting.clone()),
            reporting,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
        }
    }

    /// Creates the system user `name` with `apps` installed; its ID.
    fn system_user(&self, name: &str, apps: &[&str]) -> String {
        self.runtime.block_on(async {
            let request = NewSystemUser {
                name: name.to_owned(),
                role: SystemUserRole::Employee,
            };
            let id = self
                .client
                .create_system_user(&self.admin, BUSINESS_ID, &request)
                .await
                .expect("created");
            for app in apps {
                self.client
                    .install_app(&self.admin, &id, app)
                    .await
                    .expect("installed");
            }
            id
        })
    }

    /// "Generate token": a token of `app` for `system_user_id`.
    fn mint(&self, system_user_id: &str, app: &str, scopes: &[&str], expiring: bool) -> Secret {
        let request = IssueToken {
            app_id: app.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expiring,
        };
        self.runtime
            .block_on(
                self.client
                    .issue_token(&self.admin, system_user_id, &request),
            )
            .expect("issued")
    }

    /// Revokes a token of the reporting app (the token itself calling).
    fn revoke(&self, token: &Secret) {
        let caller = UserToken::new(token.clone(), self.reporting.clone());
        self.runtime
            .block_on(self.client.revoke_token(&caller, token))
            .expect("revoked");
    }

    /// Whether `debug_token` says the reporting app's `token` works.
    fn is_valid(&self, token: &Secret) -> bool {
        let info = self
            .runtime
            .block_on(self.client.debug_token(&self.reporting, token))
            .expect("debug_token answers");
        info.is_valid == Some(true)
    }
}

/// Runs `graphform import ADDRESS --token-env TOKEN` with `TOKEN` holding
/// `token`; its exit code and output, which must not hold any of
/// `secrets` (the imported value and every other one the test made).
fn import(world: &World, address: &str, token: &Secret, secrets: &[&Secret]) -> (i32, String) {
    let mut command = world.command(&["import", address, "--token-env", "TOKEN"]);
    command.env("TOKEN", token.expose());
    let (code, text) = run(&mut command);
    let shown = secrets.iter().chain([&token]);
    for secret in shown.filter(|s| !s.expose().trim().is_empty()) {
        assert!(
            !text.contains(secret.expose()),
            "a token value was printed: {text}"
        );
    }
    (code, text)
}

/// [`import`] with `--format json`: its exit code and document.
fn import_json(
    world: &World,
    address: &str,
    token: &Secret,
    secrets: &[&Secret],
) -> (i32, serde_json::Value) {
    let mut command = world.command(&[
        "import",
        address,
        "--token-env",
        "TOKEN",
        "--format",
        "json",
    ]);
    command.env("TOKEN", token.expose());
    let (code, report) = json_of(&mut command);
    let text = report.to_string();
    for secret in secrets.iter().chain([&token]) {
        assert!(
            !text.contains(secret.expose()),
            "a token value was printed: {text}"
        );
    }
    (code, report)
}

/// Every file of the store that holds tokens or graphform's records
/// (not the lease, which an import takes and releases), with its bytes.
fn records(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let store = dir.join(".graphform/store");
    let mut found = BTreeMap::new();
    let mut pending = vec![store.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path
                .strip_prefix(&store)
                .expect("inside")
                .display()
                .to_string();
            if name.starts_with("tokens/") || name.starts_with("state") {
                found.insert(name, std::fs::read(&path).expect("readable"));
            }
        }
    }
    found
}

/// The fingerprint of the current token of the plan's timeline at
/// [`ADDRESS`].
fn current(world: &World) -> String {
    fingerprints(&world.plan())
        .into_iter()
        .find(|(address, _)| address == ADDRESS)
        .map(|(_, fingerprint)| fingerprint)
        .expect("the token is in the timeline")
}

#[test]
fn a_token_made_by_hand_is_adopted_and_nothing_changes_for_it() {
    let world = World::new();
    let by_hand = ByHand::new(&world);
    let id = by_hand.system_user("ci-reporting", &[REPORTING]);
    let token = by_hand.mint(&id, REPORTING, &["ads_read", "read_insights"], true);

    // The plan adopts the system user by name, and says how to adopt
    // its token rather than issue another.
    let plan = world.plan();
    let adopted: Vec<&str> = plan["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter(|n| n["kind"] == "adopted")
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert_eq!(adopted.len(), 1, "{plan:#}");
    assert!(
        adopted[0].contains(&format!("graphform import {ADDRESS} --token-env VAR")),
        "{plan:#}"
    );
    assert!(
        rows(&plan, "maintenance").contains(&row(ADDRESS, "issue", "")),
        "without an import, apply would issue another: {plan:#}"
    );

    let (code, text) = import(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("Imported {}", token.fingerprint())),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");

    // Managed now: the plan has nothing to do (the token proves the app
    // installed, so no idempotent `install` either), and the system user
    // is in graphform's records (no adoption notice).
    let plan = world.plan();
    assert_eq!(rows(&plan, "maintenance"), [], "{plan:#}");
    assert!(!plan["notices"].to_string().contains("adopted"), "{plan:#}");
    assert_eq!(current(&world), token.fingerprint().to_string());

    // Importing it again changes nothing.
    let before = records(world.dir());
    let (code, text) = import(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("already stores"), "{text}");
    assert_eq!(records(world.dir()), before);
}

#[test]
fn a_token_with_other_scopes_is_imported_with_a_warning_and_rotated_by_the_next_plan() {
    let world = World::new();
    let by_hand = ByHand::new(&world);
    let id = by_hand.system_user("ci-reporting", &[REPORTING]);
    let token = by_hand.mint(&id, REPORTING, &["ads_read"], true);

    let (code, text) = import(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning: acme/ci-reporting/token/insights-read: its scopes differ from the policy's (+read_insights for the policy): it is rotated to match by the next apply, or once the grace of a token it replaced ends"),
        "{text}"
    );
    let plan = world.plan();
    let rotate = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == ADDRESS)
        .expect("a change of the token");
    assert_eq!(rotate["action"], "rotate", "{plan:#}");
    assert_eq!(
        rotate["reason"], "scopes changed: +read_insights",
        "{plan:#}"
    );
    assert_eq!(
        rotate["before"]["fingerprint"],
        token.fingerprint().to_string()
    );
}

#[test]
fn a_token_that_is_not_the_addresss_is_refused_and_nothing_is_written() {
    let world = World::new();
    let by_hand = ByHand::new(&world);
    let id = by_hand.system_user("ci-reporting", &[REPORTING, PUBLISHER]);
    let revoked = by_hand.mint(&id, REPORTING, &["ads_read", "read_insights"], true);
    by_hand.revoke(&revoked);
    let other_app = by_hand.mint(&id, PUBLISHER, &["ads_read"], true);
    // Another system user's token of the right app.
    let other_id = by_hand.system_user("another", &[REPORTING]);
    let other_user = by_hand.mint(&other_id, REPORTING, &["ads_read"], true);
    // The admin token graphform acts with.
    let admin = by_hand.admin.token().clone();
    let secrets = [&revoked, &other_app, &other_user, &admin];
    let before = records(world.dir());

    let (code, text) = import(&world, ADDRESS, &revoked, &secrets);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "Meta says the token is not valid: it was revoked or invalidated outside graphform"
        ),
        "{text}"
    );
    let (code, text) = import(&world, ADDRESS, &other_app, &secrets);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the token is not of app 200000000000001"),
        "{text}"
    );
    let (code, text) = import(&world, ADDRESS, &other_user, &secrets);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "the token belongs to system user {other_id}, not to system user {id} (acme/ci-reporting)"
        )),
        "{text}"
    );
    assert!(
        text.contains("hint: import a token generated for the address's system user"),
        "{text}"
    );
    let (code, text) = import(&world, ADDRESS, &admin, &secrets);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("is the admin token graphform acts with for business `acme`"),
        "{text}"
    );
    assert_eq!(records(world.dir()), before, "nothing was written");

    // A token the policy does not name, or no value: refused before
    // anything is read.
    let (code, text) = import(
        &world,
        "acme/ci-reporting/token/insight-read",
        &other_app,
        &secrets,
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("hint: did you mean `{ADDRESS}`?")),
        "{text}"
    );
    let (code, text) = import(&world, ADDRESS, &Secret::new(" "), &secrets);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("`TOKEN` is not set or is empty"), "{text}");
    assert_eq!(records(world.dir()), before, "nothing was written");
}

#[test]
fn an_imported_token_is_refreshed_by_apply_and_its_old_value_revoked_after_the_grace() {
    let world = World::new();
    let by_hand = ByHand::new(&world);
    let id = by_hand.system_user("ci-reporting", &[REPORTING]);
    let token = by_hand.mint(&id, REPORTING, &["ads_read", "read_insights"], true);
    let (code, text) = import(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{text}");
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(rows(&report, "status"), [], "nothing to do: {report:#}");

    // Inside its refresh window (20 days before its expiry in 60).
    world.advance(45 * 86_400);
    let (code, report) = world.apply(&["--only", "refresh"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(rows(&report, "status"), [row(ADDRESS, "refresh", "done")]);
    assert_ne!(current(&world), token.fingerprint().to_string());
    assert!(by_hand.is_valid(&token), "kept working for its grace");

    world.advance(86_400 + 1);
    let (code, report) = world.apply(&["--only", "revoke-superseded"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(rows(&report, "status"), [row(ADDRESS, "revoke", "done")]);
    assert!(!by_hand.is_valid(&token), "revoked after its grace");
}

/// A token stored by apply at [`ADDRESS`], and another of its system user
/// made by hand since.
struct Reissued {
    world: World,
    by_hand: ByHand,
    /// The system user's Meta ID.
    id: String,
    /// The fingerprint of the token apply stored.
    issued: String,
    /// The token made by hand, with the scopes asked for.
    token: Secret,
}

/// Apply issues the token at [`ADDRESS`], then a person makes another
/// for the same system user with `scopes`.
fn reissued(scopes: &[&str]) -> Reissued {
    let world = World::new();
    let by_hand = ByHand::new(&world);
    let id = by_hand.system_user("ci-reporting", &[]);
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    let issued = current(&world);
    let token = by_hand.mint(&id, REPORTING, scopes, true);
    Reissued {
        world,
        by_hand,
        id,
        issued,
        token,
    }
}

#[test]
fn importing_over_a_stored_token_keeps_that_one_as_the_previous_for_its_grace() {
    let Reissued {
        world,
        by_hand,
        id,
        issued,
        token,
    } = reissued(&["ads_read", "read_insights"]);

    let (code, text) = import(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "The token stored there before, {issued}, is kept as the previous one"
        )),
        "{text}"
    );
    assert_eq!(current(&world), token.fingerprint().to_string());

    // Another import now would drop the previous token while it works.
    let third = by_hand.mint(&id, REPORTING, &["ads_read", "read_insights"], true);
    let before = records(world.dir());
    let (code, text) = import(&world, ADDRESS, &third, &[&token]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("still holds the replaced token"), "{text}");
    assert!(text.contains("hint: run `graphform apply`"), "{text}");
    assert_eq!(records(world.dir()), before, "nothing was written");

    // After the grace, apply revokes the token that was replaced.
    world.advance(86_400 + 1);
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "maintenance"),
        [row(ADDRESS, "revoke", "revoke-superseded")]
    );
    assert_eq!(plan["changes"][0]["before"]["fingerprint"], issued);
}

/// `--format json` says what was done: the token replaced and how the
/// imported one differs from the policy, by fingerprint only, in the
/// shape of schemas/import-report.schema.json.
#[test]
fn import_json_reports_the_replaced_token_and_the_differences() {
    let Reissued {
        world,
        issued,
        token,
        ..
    } = reissued(&["ads_read"]);

    let (code, report) = import_json(&world, ADDRESS, &token, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["outcome"], "stored", "{report:#}");
    // Versioned, as every JSON document graphform prints.
    assert_eq!(report["format_version"], 1, "{report:#}");
    assert_eq!(report["fingerprint"], token.fingerprint().to_string());
    assert_eq!(report["replaced"]["fingerprint"], issued, "{report:#}");
    assert_eq!(report["differences"][0]["kind"], "scopes", "{report:#}");

    // The document is the one the schema describes, and the schema can
    // fail.
    let validator = assert_matches_schema("import-report.schema.json", &report);
    let mut broken = report.clone();
    broken["outcome"] = serde_json::json!("adopted");
    assert!(!validator.is_valid(&broken));
}
