//! graph-api.md §1 and §9: list, create, rename, read, delete system users.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// Creates `count` system users of Acme with `role`, named `user-0`…
async fn create_acme_users(h: &Harness, count: usize, role: &str) {
    for i in 0..count {
        h.create_system_user(&acme(), ACME, &format!("user-{i}"), role)
            .await;
    }
}

#[tokio::test]
async fn list_returns_id_name_and_base_role() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let reply = acme_admin.get(&system_users(ACME), &[]).await;
    assert_eq!(
        reply.assert_ok()["data"],
        json!([{ "id": ACME_ADMIN_SU, "name": "acme-admin", "role": "ADMIN" }])
    );
    // One page: cursors but no `next`.
    assert!(reply.body["paging"]["cursors"]["after"].is_string());
    assert!(reply.body["paging"].get("next").is_none());
    // A finance role lists as its base role, EMPLOYEE.
    h.create_system_user(&acme(), ACME, "books", "FINANCE_EDITOR")
        .await;
    let reply = acme_admin.get(&system_users(ACME), &[]).await;
    assert_eq!(reply.body["data"][1]["role"], "EMPLOYEE");
    assert_eq!(reply.body["data"][1]["name"], "books");
}

#[tokio::test]
async fn list_paginates_with_cursors_and_next_only_while_more() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    create_acme_users(&h, 4, "EMPLOYEE").await;
    // 5 users (admin + 4), pages of 2.
    let path = system_users(ACME);
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("limit", "2"), ("summary", "total_count")];
        if let Some(cursor) = &after {
            params.push(("after", cursor));
        }
        let reply = acme_admin.get(&path, &params).await;
        let body = reply.assert_ok().clone();
        pages += 1;
        assert_eq!(body["summary"]["total_count"], 5);
        for item in body["data"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        let cursors = &body["paging"]["cursors"];
        assert!(cursors["before"].is_string() && cursors["after"].is_string());
        if pages > 1 {
            assert!(body["paging"]["previous"].is_string(), "{body}");
        } else {
            assert!(body["paging"].get("previous").is_none(), "{body}");
        }
        // Follow `after` only while `next` exists (the Python SDK's rule);
        // the last page still has an `after` cursor.
        match body["paging"].get("next") {
            Some(next) => {
                let next = next.as_str().unwrap();
                assert!(next.starts_with(&h.url(&path)), "{next}");
                assert!(next.contains("limit=2"), "{next}");
                after = Some(cursors["after"].as_str().unwrap().to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        ["acme-admin", "user-0", "user-1", "user-2", "user-3"]
    );

    // `before` goes back.
    let last = acme_admin
        .get(
            &path,
            &[("limit", "2"), ("after", after.as_deref().unwrap())],
        )
        .await;
    let before = last.body["paging"]["cursors"]["before"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = acme_admin
        .get(&path, &[("limit", "2"), ("before", &before)])
        .await;
    let back_names = strings(&back.body["data"], "name");
    assert_eq!(back_names, ["user-1", "user-2"]);

    // A bad cursor and a bad limit are 100.
    for bad in [("after", "garbage"), ("limit", "0")] {
        let reply = acme_admin.get(&path, &[bad]).await;
        reply.assert_error(400, 100, None);
    }
}

/// The query parameters of a page URL.
fn query_of(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn page_urls_carry_the_callers_token_and_proof_and_work_as_they_are() {
    let h = Harness::start().await;
    create_acme_users(&h, 4, "EMPLOYEE").await;
    let path = system_users(ACME);
    let first = h.acme().get(&path, &[("limit", "2")]).await;
    let next = first.assert_ok()["paging"]["next"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = query_of(&next);
    // As Meta's: the caller's own token and proof are in the URL.
    assert_eq!(
        param(&query, "access_token"),
        Some(ACME_ADMIN_TOKEN),
        "{next}"
    );
    assert_eq!(
        param(&query, "appsecret_proof"),
        Some(proof(REPORTING_SECRET, ACME_ADMIN_TOKEN).as_str()),
        "{next}"
    );
    assert_eq!(
        query.iter().filter(|(k, _)| k == "access_token").count(),
        1,
        "{next}"
    );
    // Following `next` verbatim, with nothing added, gives the next page…
    let second = h.get_url(&next).await;
    let names = strings(&second.assert_ok()["data"], "name");
    assert_eq!(names, ["user-1", "user-2"]);
    // … and `previous` verbatim goes back to the first.
    let previous = second.body["paging"]["previous"].as_str().unwrap();
    assert_eq!(
        param(&query_of(previous), "access_token"),
        Some(ACME_ADMIN_TOKEN)
    );
    let back = h.get_url(previous).await;
    assert_eq!(back.assert_ok()["data"][0]["name"], "acme-admin");

    // A token sent in the Authorization header is put in the URL too, and
    // a timestamped proof keeps its `appsecret_time`.
    let time = T0.to_string();
    let timed = timed_proof(REPORTING_SECRET, ACME_ADMIN_TOKEN, T0);
    let params = [
        ("limit", "2"),
        ("appsecret_proof", timed.as_str()),
        ("appsecret_time", time.as_str()),
    ];
    let bearer = format!("Bearer {ACME_ADMIN_TOKEN}");
    let reply = h.get_authorized(&path, &bearer, &params).await;
    let next = reply.assert_ok()["paging"]["next"].as_str().unwrap();
    let query = query_of(next);
    assert_eq!(
        param(&query, "access_token"),
        Some(ACME_ADMIN_TOKEN),
        "{next}"
    );
    assert_eq!(param(&query, "appsecret_proof"), Some(timed.as_str()));
    assert_eq!(param(&query, "appsecret_time"), Some(time.as_str()));
    h.get_url(next).await.assert_ok();
}

#[tokio::test]
async fn single_page_has_no_next_and_summary_is_optional() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let reply = acme_admin
        .get(&system_users(ACME), &[("limit", "10")])
        .await;
    let body = reply.assert_ok();
    assert!(body.get("summary").is_none());
    assert!(body["paging"].get("next").is_none(), "{body}");
    assert!(body["paging"]["cursors"]["after"].is_string());
    let reply = acme_admin
        .get(&system_users(ACME), &[("summary", "true")])
        .await;
    assert_eq!(reply.body["summary"], json!({ "total_count": 1 }));
}

#[tokio::test]
async fn create_returns_a_numeric_string_id_and_validates_params() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let reply = acme_admin
        .post(&system_users(ACME), &[("name", "ci"), ("role", "EMPLOYEE")])
        .await;
    let id = reply.string("id");
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(reply.body, json!({ "id": id }));

    let missing = acme_admin
        .post(&system_users(ACME), &[("role", "EMPLOYEE")])
        .await;
    missing.assert_error_message(400, 100, None, "(#100) The parameter name is required");

    let bad_role = acme_admin
        .post(&system_users(ACME), &[("name", "x"), ("role", "OWNER")])
        .await;
    bad_role.assert_error(400, 100, None);
    assert!(
        bad_role
            .message()
            .contains("ADMIN, ADS_RIGHTS_REVIEWER, DEFAULT"),
        "{}",
        bad_role.message()
    );
}

#[tokio::test]
async fn standard_access_allows_one_system_user_and_one_admin() {
    let h = Harness::start().await;
    let path = system_users(GLOBEX);
    // Globex already has its admin: a second admin is 3965.
    let admin = h
        .caller(&globex())
        .post(&path, &[("name", "admin2"), ("role", "ADMIN")])
        .await;
    admin.assert_error_message(
        400,
        3965,
        None,
        "This Business Manager has reached maximum number of admin system user limit.",
    );
    // One regular system user fits, the second is 3949.
    h.create_system_user(&globex(), GLOBEX, "one", "EMPLOYEE")
        .await;
    let two = h.caller(&globex()).post(&path, &[("name", "two")]).await;
    two.assert_error_message(
        400,
        3949,
        None,
        "This Business Manager has reached maximum number of system user limit.",
    );
}

#[tokio::test]
async fn advanced_access_allows_ten_system_users() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    create_acme_users(&h, 10, "DEVELOPER").await;
    let path = system_users(ACME);
    acme_admin
        .post(&path, &[("name", "u10")])
        .await
        .assert_error(400, 3949, None);
    acme_admin
        .post(&path, &[("name", "a2"), ("role", "ADMIN")])
        .await
        .assert_error(400, 3965, None);
}

#[tokio::test]
async fn business_without_an_app_cannot_create_system_users() {
    let h = Harness::start().await;
    let reply = h
        .caller(&ada())
        .post(
            &system_users(EMPTY),
            &[("name", "first"), ("role", "ADMIN")],
        )
        .await;
    reply.assert_error_message(
        400,
        104_001,
        None,
        "In order to create a system user, an app must be part of this business. Please add an \
         app and then try again.",
    );
    // A real admin can list (empty) system users of that business.
    let list = h.caller(&ada()).get(&system_users(EMPTY), &[]).await;
    assert_eq!(list.assert_ok(), &json!({ "data": [] }));
}

#[tokio::test]
async fn rename_uses_system_user_id() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let id = h
        .create_system_user(&acme(), ACME, "old-name", "EMPLOYEE")
        .await;
    h.rename(&id, "new-name").await;
    let node = acme_admin.get(&node(&id), &[]).await;
    assert_eq!(node.body["name"], "new-name");
    // Renaming is not creating: no limit applies, the count is unchanged.
    let list = acme_admin
        .get(&system_users(ACME), &[("summary", "total_count")])
        .await;
    assert_eq!(list.body["summary"]["total_count"], 2);
    // Another business's system user cannot be renamed from here.
    let other = acme_admin
        .post(
            &system_users(ACME),
            &[("system_user_id", GLOBEX_ADMIN_SU), ("name", "x")],
        )
        .await;
    other.assert_error(400, 100, None);
}

#[tokio::test]
async fn only_admins_of_the_business_manage_system_users() {
    let h = Harness::start().await;
    let employee = h.employee("worker").await;
    let token = h.reporting_token(&employee, "ads_read", true).await;
    let worker = h.reporting(&token);
    worker
        .get(&system_users(ACME), &[])
        .await
        .assert_error(403, 200, None);
    worker
        .post(&system_users(ACME), &[("name", "x")])
        .await
        .assert_error(403, 200, None);
    // Another business is invisible: 100/33.
    h.caller(&globex())
        .get(&system_users(ACME), &[])
        .await
        .assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn read_one_system_user_with_fields() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    assert_eq!(
        reply.assert_ok(),
        &json!({ "id": ACME_ADMIN_SU, "name": "acme-admin" })
    );

    let reply = acme_admin
        .get(&node(ACME_ADMIN_SU), &[("fields", "id,name,created_time")])
        .await;
    assert_eq!(reply.body["created_time"], "2024-01-02T03:04:05+0000");

    let id = h
        .create_system_user(&acme(), ACME, "books", "FINANCE_EDITOR")
        .await;
    let reply = acme_admin
        .get(
            &node(&id),
            &[("fields", "created_by,created_time,finance_permission")],
        )
        .await;
    assert_eq!(
        reply.assert_ok(),
        &json!({
            "created_by": { "id": ACME_ADMIN_SU, "name": "acme-admin" },
            "created_time": "2026-01-01T00:00:00+0000",
            "finance_permission": "Editor",
        })
    );
    // `role` is an edge field, not a node field.
    let role = acme_admin.get(&node(&id), &[("fields", "id,role")]).await;
    role.assert_error_message(
        400,
        100,
        None,
        "(#100) Tried accessing nonexisting field (role) on node type (SystemUser)",
    );
}

#[tokio::test]
async fn unknown_or_invisible_user_id_is_110() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let reply = acme_admin.get("/999999999999999", &[]).await;
    reply.assert_error_message(400, 110, None, "(#110) Invalid user id");
    acme_admin
        .get(&node(GLOBEX_ADMIN_SU), &[])
        .await
        .assert_error(400, 110, None);
}

#[tokio::test]
async fn system_users_cannot_be_deleted() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let id = h
        .create_system_user(&acme(), ACME, "keep", "EMPLOYEE")
        .await;
    let reply = acme_admin.call(Method::DELETE, &node(&id), &[]).await;
    reply.assert_error(400, 100, Some(33));
    assert!(
        reply.message().starts_with("Unsupported delete request."),
        "{}",
        reply.message()
    );
    assert_eq!(reply.body["error"]["type"], "GraphMethodException");
    let node = acme_admin.get(&node(&id), &[]).await;
    node.assert_ok();
}
