//! Every endpoint, used as graphform uses it, checked against what the
//! emulator then reports.

use graphform_graph::{
    AppCredentials, ClientSettings, Expiry, GraphClient, IssueToken, ListOptions, Secret,
    SystemUserRole, TokenInfo, TokenInvalidReason, UserToken,
};

use crate::support::{
    ADMIN_SYSTEM_USER, ADMIN_TOKEN, BUSINESS, CI_SYSTEM_USER, CLOCK_START, Harness, PUBLISHER_APP,
    REPORTING_APP, admin, create_system_user, publisher, read_ci_reporting, reporting,
};

const SIXTY_DAYS: i64 = 60 * 86_400;

/// What Meta knows of `token`, asked with `app`'s app token.
async fn inspect(client: &GraphClient, app: &AppCredentials, token: &Secret) -> TokenInfo {
    client
        .debug_token(app, token)
        .await
        .expect("debug_token answers")
}

#[tokio::test]
async fn system_users_are_created_read_renamed_and_listed() {
    let h = Harness::start().await;
    let admin = admin();
    let id = create_system_user(&h.client, "ci-deploy", SystemUserRole::Employee)
        .await
        .unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let user = h.client.read_system_user(&admin, &id).await.unwrap();
    assert_eq!(user.id, id);
    assert_eq!(user.name, "ci-deploy");
    assert!(user.created_time.is_some());
    assert_eq!(user.created_by.as_ref().unwrap()["id"], ADMIN_SYSTEM_USER);

    h.client
        .rename_system_user(&admin, BUSINESS, &id, "ci-deploy-renamed")
        .await
        .unwrap();
    let user = h.client.read_system_user(&admin, &id).await.unwrap();
    assert_eq!(user.name, "ci-deploy-renamed");

    let list = h
        .client
        .list_system_users(
            &admin,
            BUSINESS,
            &ListOptions {
                limit: None,
                total_count: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(list.total_count, Some(3));
    assert_eq!(list.pages, 1);
    let summary: Vec<_> = list
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str(), u.role.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                ADMIN_SYSTEM_USER,
                "graphform-admin",
                Some(SystemUserRole::Admin)
            ),
            (
                CI_SYSTEM_USER,
                "ci-reporting",
                Some(SystemUserRole::Employee)
            ),
            (
                id.as_str(),
                "ci-deploy-renamed",
                Some(SystemUserRole::Employee)
            ),
        ]
    );
    h.shutdown().await;
}

#[tokio::test]
async fn token_lifecycle_install_issue_debug_refresh_revoke_invalidate() {
    let h = Harness::start().await;
    let admin = admin();
    let client = h.client.labeled("acme/ci-reporting");

    // Installing is idempotent: twice is fine.
    client
        .install_app(&admin, CI_SYSTEM_USER, PUBLISHER_APP)
        .await
        .unwrap();
    client
        .install_app(&admin, CI_SYSTEM_USER, PUBLISHER_APP)
        .await
        .unwrap();

    let token = client
        .issue_token(
            &admin,
            CI_SYSTEM_USER,
            &IssueToken::new(REPORTING_APP, ["ads_read", "read_insights"]),
        )
        .await
        .unwrap();
    assert!(token.expose().starts_with("EAA"));

    let info = inspect(&client, &reporting(), &token).await;
    assert!(info.is_valid == Some(true));
    assert_eq!(info.app_id.as_deref(), Some(REPORTING_APP));
    assert_eq!(info.application.as_deref(), Some("reporting"));
    assert_eq!(info.token_type.as_deref(), Some("SYSTEM_USER"));
    assert_eq!(info.user_id.as_deref(), Some(CI_SYSTEM_USER));
    assert_eq!(info.scopes, ["ads_read", "read_insights"]);
    assert_eq!(info.granular_scopes.len(), 2);
    assert_eq!(info.issued_at, Some(CLOCK_START));
    assert_eq!(info.expiry(), Some(Expiry::At(CLOCK_START + SIXTY_DAYS)));

    // The new token works for calls of its own, with its own proof.
    let own = UserToken::new(token.clone(), reporting());
    let me = client.read_system_user(&own, CI_SYSTEM_USER).await.unwrap();
    assert_eq!(me.name, "ci-reporting");

    // Refresh: a new 60-day token; the old one keeps working.
    h.advance_clock(10 * 86_400).await;
    let refreshed = client.refresh_token(&reporting(), &token).await.unwrap();
    assert_ne!(refreshed.token, token);
    assert_eq!(refreshed.token_type.as_deref(), Some("bearer"));
    assert_eq!(refreshed.expires_in.map(|d| d.as_secs()), Some(60 * 86_400));
    let new_info = inspect(&client, &reporting(), &refreshed.token).await;
    assert!(new_info.is_valid == Some(true));
    assert_eq!(
        new_info.expiry(),
        Some(Expiry::At(CLOCK_START + 10 * 86_400 + SIXTY_DAYS))
    );
    assert_eq!(new_info.scopes, ["ads_read", "read_insights"]);
    assert!(inspect(&client, &reporting(), &token).await.is_valid == Some(true));

    // Revoke the old one, calling with the replacement (same app).
    let caller = UserToken::new(refreshed.token.clone(), reporting());
    client.revoke_token(&caller, &token).await.unwrap();
    let old_info = inspect(&client, &reporting(), &token).await;
    assert!(old_info.is_valid == Some(false));
    assert!(old_info.scopes.is_empty());
    let error = old_info.error.unwrap();
    assert_eq!(error.code, Some(190));
    assert_eq!(error.reason(), TokenInvalidReason::InvalidToken);

    // Invalidate all: the replacement dies too.
    client
        .invalidate_all_tokens(&admin, CI_SYSTEM_USER)
        .await
        .unwrap();
    let info = inspect(&client, &reporting(), &refreshed.token).await;
    assert!(info.is_valid == Some(false));
    assert_eq!(
        info.error.unwrap().reason(),
        TokenInvalidReason::PasswordChanged
    );

    // The world's admin token is permanent.
    let admin_info = inspect(&client, &reporting(), &Secret::new(ADMIN_TOKEN)).await;
    assert!(admin_info.is_valid == Some(true));
    assert_eq!(admin_info.expiry(), Some(Expiry::Never));
    assert_eq!(admin_info.user_id.as_deref(), Some(ADMIN_SYSTEM_USER));

    let state = h.state().await;
    let text = state.to_string();
    assert!(
        !text.contains(token.expose()),
        "the state shows fingerprints only"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn permanent_tokens_and_tokens_of_another_app() {
    let h = Harness::start().await;
    let admin = admin();
    h.client
        .install_app(&admin, CI_SYSTEM_USER, PUBLISHER_APP)
        .await
        .unwrap();
    let mut request = IssueToken::new(PUBLISHER_APP, ["pages_show_list"]);
    request.expiring = false;
    let token = h
        .client
        .issue_token(&admin, CI_SYSTEM_USER, &request)
        .await
        .unwrap();
    let info = inspect(&h.client, &publisher(), &token).await;
    assert!(info.is_valid == Some(true));
    assert_eq!(info.expiry(), Some(Expiry::Never));
    assert_eq!(info.app_id.as_deref(), Some(PUBLISHER_APP));
    // Calls with it are signed with the publisher app's secret.
    let own = UserToken::new(token, publisher());
    assert_eq!(
        h.client
            .read_system_user(&own, CI_SYSTEM_USER)
            .await
            .unwrap()
            .id,
        CI_SYSTEM_USER
    );
    h.shutdown().await;
}

#[tokio::test]
async fn the_api_version_is_a_setting() {
    let h = Harness::start().await;
    let mut settings = ClientSettings::for_base_url(h.base_url()).unwrap();
    settings.api_version = "v25.0".parse().unwrap();
    let client = GraphClient::new(settings).unwrap();
    let user = read_ci_reporting(&client).await.unwrap();
    assert_eq!(user.name, "ci-reporting");
    assert!("v26".parse::<graphform_graph::ApiVersion>().is_err());
    h.shutdown().await;
}

#[test]
fn plain_http_is_refused_unless_loopback() {
    assert!(ClientSettings::for_base_url("http://graph.facebook.com").is_err());
    assert!(ClientSettings::for_base_url("http://127.0.0.1:1").is_ok());
    assert!(ClientSettings::for_base_url("http://[::1]:1").is_ok());
    assert!(ClientSettings::for_base_url("http://localhost:1").is_ok());
    assert!(ClientSettings::for_base_url("https://graph.facebook.com").is_ok());
}
