//! graph-api.md §8: batch requests.

use serde_json::{Value, json};

use crate::support::*;

async fn batch(h: &Harness, ops: &Value, extra: &[(&str, &str)]) -> Reply {
    let ops = ops.to_string();
    let mut params = vec![("batch", ops.as_str())];
    params.extend_from_slice(extra);
    h.acme().post("", &params).await
}

/// A batch posted as Acme's admin to the root URL, with no version.
async fn unversioned_batch(h: &Harness, ops: &Value) -> Reply {
    let mut form = acme().params();
    form.push(("batch".into(), ops.to_string()));
    Harness::send(h.http.post(format!("{}/", h.base)).form(&form)).await
}

/// The items of a successful batch answer.
#[track_caller]
fn items(reply: &Reply) -> Vec<Value> {
    reply.assert_ok().as_array().unwrap().clone()
}

fn body(item: &Value) -> Value {
    serde_json::from_str(item["body"].as_str().expect("body is a JSON string")).unwrap()
}

/// The `paging.next` URL in an item's body.
fn next_page(item: &Value) -> String {
    body(item)["paging"]["next"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn batch_answers_in_order_with_string_bodies_and_headers() {
    let h = Harness::start().await;
    let ops = json!([
        { "method": "GET", "relative_url": format!("{ACME_ADMIN_SU}?fields=id,name") },
        { "method": "POST", "relative_url": format!("/v26.0/{ACME}/system_users"), "body": "name=batched&role=EMPLOYEE" },
        { "method": "GET", "relative_url": format!("{ACME}/system_users?summary=total_count") },
    ]);
    let items = items(&batch(&h, &ops, &[]).await);
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(item["code"], 200);
        let headers = item["headers"].as_array().unwrap();
        assert!(
            headers
                .iter()
                .all(|h| h["name"].is_string() && h["value"].is_string())
        );
        assert!(headers.iter().any(|h| h["name"] == "Content-Type"));
    }
    assert_eq!(
        body(&items[0]),
        json!({ "id": ACME_ADMIN_SU, "name": "acme-admin" })
    );
    assert!(body(&items[1])["id"].is_string());
    assert_eq!(body(&items[2])["summary"]["total_count"], 2);
    // The batch is also accepted at the unversioned root.
    let ops = json!([{ "method": "GET", "relative_url": ACME_ADMIN_SU }]);
    let reply = unversioned_batch(&h, &ops).await;
    assert_eq!(reply.assert_ok()[0]["code"], 200);
}

#[tokio::test]
async fn include_headers_false_omits_headers() {
    let h = Harness::start().await;
    let ops = json!([{ "method": "GET", "relative_url": ACME_ADMIN_SU }]);
    let reply = batch(&h, &ops, &[("include_headers", "false")]).await;
    let item = &reply.assert_ok()[0];
    assert_eq!(
        item.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["body", "code"]
    );
}

#[tokio::test]
async fn fifty_operations_pass_and_fifty_one_are_one_top_level_error() {
    let h = Harness::start().await;
    let op = json!({ "method": "GET", "relative_url": ACME_ADMIN_SU });
    h.control_post("/counters/reset", json!({})).await;
    let fifty = Value::Array(vec![op.clone(); 50]);
    assert_eq!(items(&batch(&h, &fifty, &[]).await).len(), 50);
    let counters = h.control_get("/counters").await;
    assert_eq!(counters["http_requests"], 1);
    assert_eq!(counters["api_calls"], 50);
    assert_eq!(counters["batch_requests"], 1);
    assert_eq!(counters["by_endpoint"]["GET /{id}"], 50);

    let fifty_one = Value::Array(vec![op; 51]);
    let reply = batch(&h, &fifty_one, &[]).await;
    reply.assert_error_message(
        400,
        100,
        None,
        "Too many requests in batch message. Maximum batch size is 50",
    );
}

#[tokio::test]
async fn per_item_errors_leave_the_others_alone() {
    let h = Harness::start().await;
    let ops = json!([
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": "999999999999999" },
        { "method": "POST", "relative_url": format!("{ACME}/system_users"), "body": "role=EMPLOYEE" },
        { "method": "DELETE", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
    ]);
    let reply = batch(&h, &ops, &[]).await;
    assert_eq!(batch_codes(reply.assert_ok()), [200, 400, 400, 400, 200]);
    let errors: Vec<Value> = items(&reply)
        .iter()
        .map(|i| body(i)["error"].clone())
        .collect();
    assert_eq!(errors[1]["code"], 110);
    assert_eq!(
        errors[2]["message"],
        "(#100) The parameter name is required"
    );
    assert_eq!(errors[3]["error_subcode"], 33);
    assert!(errors[3]["fbtrace_id"].is_string());
}

#[tokio::test]
async fn references_and_dependencies() {
    let h = Harness::start().await;
    let ops = json!([
        { "method": "POST", "name": "create", "relative_url": format!("{ACME}/system_users"), "body": "name=ref-user" },
        { "method": "POST", "name": "install", "depends_on": "create",
          "relative_url": "{result=create:$.id}/applications", "body": format!("business_app={REPORTING}") },
        { "method": "POST", "depends_on": "install", "relative_url": "{result=create:$.id}/access_tokens",
          "body": format!("business_app={REPORTING}&scope=ads_read&set_token_expires_in_60_days=true") },
        { "method": "GET", "relative_url": format!("{ACME}/system_users?fields=id,name") , "name": "list",
          "omit_response_on_success": false },
        { "method": "GET", "relative_url": "?ids={result=list:$.data.*.id}" },
    ]);
    let items = items(&batch(&h, &ops, &[]).await);
    // Named operations that others reference are omitted (null) by default.
    assert_eq!(items[0], Value::Null);
    assert_eq!(items[1], Value::Null);
    let token = body(&items[2])["access_token"].as_str().unwrap().to_owned();
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(data["is_valid"], true);
    // omit_response_on_success=false keeps a referenced response.
    assert_eq!(items[3]["code"], 200);
    assert_eq!(body(&items[3])["data"].as_array().unwrap().len(), 2);
    // `?ids=` is not an endpoint the emulator serves: an item error.
    assert_eq!(items[4]["code"], 400);
}

#[tokio::test]
async fn operations_depending_on_a_failure_fail_too() {
    let h = Harness::start().await;
    let ops = json!([
        { "method": "POST", "name": "create", "relative_url": format!("{ACME}/system_users"), "body": "role=EMPLOYEE" },
        { "method": "POST", "relative_url": "{result=create:$.id}/applications", "body": format!("business_app={REPORTING}") },
        { "method": "GET", "depends_on": "create", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": "{result=nobody:$.id}" },
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
    ]);
    let reply = batch(&h, &ops, &[]).await;
    assert_eq!(batch_codes(reply.assert_ok()), [400, 400, 400, 400, 200]);
    let message = body(&items(&reply)[1])["error"]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("(create) failed"),
        "{message}"
    );
}

#[tokio::test]
async fn null_items_are_injected_deterministically_and_not_executed() {
    let h = Harness::start().await;
    let faults = json!({ "batch_null_rate": 0.5, "seed": 7 });
    h.control_post_ok("/faults", faults.clone()).await;
    let read = json!({ "method": "GET", "relative_url": ACME_ADMIN_SU });
    // Acme allows 10 employees: use only 8 creates, then reads.
    let ops: Vec<Value> = (0..8)
        .map(|i| json!({ "method": "POST", "relative_url": format!("{ACME}/system_users"), "body": format!("name=n{i}&role=EMPLOYEE") }))
        .chain(vec![read.clone(); 12])
        .collect();
    let nulls = |items: Vec<Value>| -> Vec<bool> { items.iter().map(Value::is_null).collect() };
    let pattern = nulls(items(&batch(&h, &Value::Array(ops), &[]).await));
    let count = pattern.iter().filter(|n| **n).count();
    assert!(count > 0 && count < 20, "{pattern:?}");
    // Null creates did not happen.
    let created = pattern[..8].iter().filter(|n| !**n).count();
    let list = h
        .acme()
        .get(&system_users(ACME), &[("summary", "total_count")])
        .await;
    assert_eq!(list.body["summary"]["total_count"], 1 + created);
    // Same seed, same pattern.
    h.control_post("/faults", faults).await;
    let reads = Value::Array(vec![read; 20]);
    let again = batch(&h, &reads, &[]).await;
    assert_eq!(pattern, nulls(again.body.as_array().unwrap().clone()));
    // Null items count as API calls; clearing faults stops them.
    h.control_delete("/faults").await;
    let clean = batch(&h, &reads, &[]).await;
    assert!(clean.body.as_array().unwrap().iter().all(|i| !i.is_null()));
}

#[tokio::test]
async fn top_level_token_problems_are_one_error() {
    let h = Harness::start().await;
    let ops = json!([{ "method": "GET", "relative_url": ACME_ADMIN_SU }]).to_string();
    let bad_proof = [
        ("batch", ops.as_str()),
        ("access_token", ACME_ADMIN_TOKEN),
        ("appsecret_proof", "bad"),
    ];
    let reply = h.anonymous().post("", &bad_proof).await;
    reply.assert_error_message(400, 100, None, INVALID_PROOF);
    let unknown_token = [("batch", ops.as_str()), ("access_token", "EAAnope")];
    let reply = h.anonymous().post("", &unknown_token).await;
    reply.assert_error(400, 190, None);
    let reply = h.acme().post("", &[("batch", "{not json")]).await;
    reply.assert_error(400, 100, None);
}

#[tokio::test]
async fn timestamped_proof_and_per_operation_tokens() {
    let h = Harness::start().await;
    let time = T0.to_string();
    let timed = timed_proof(REPORTING_SECRET, ACME_ADMIN_TOKEN, T0);
    let globex_proof = proof(GLOBEX_SECRET, GLOBEX_ADMIN_TOKEN);
    let ops = json!([
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": format!("{GLOBEX_ADMIN_SU}?access_token={GLOBEX_ADMIN_TOKEN}&appsecret_proof={globex_proof}") },
        { "method": "GET", "relative_url": GLOBEX_ADMIN_SU },
    ])
    .to_string();
    let params = [
        ("batch", ops.as_str()),
        ("access_token", ACME_ADMIN_TOKEN),
        ("appsecret_proof", timed.as_str()),
        ("appsecret_time", time.as_str()),
    ];
    let reply = h.anonymous().post("", &params).await;
    // The third op uses Acme's token: Globex's admin is invisible to it.
    assert_eq!(batch_codes(reply.assert_ok()), [200, 200, 400]);
}

#[tokio::test]
async fn batch_as_a_json_body() {
    let h = Harness::start().await;
    let body = json!({
        "batch": [{ "method": "GET", "relative_url": ACME_ADMIN_SU }],
        "include_headers": false,
    });
    let reply = h.acme().post_json("", body).await;
    assert_eq!(reply.assert_ok()[0]["code"], 200);
    assert!(reply.body[0].get("headers").is_none());
}

#[tokio::test]
async fn batch_operations_inherit_the_batch_version() {
    let h = Harness::start().await;
    h.create_system_user(&acme(), ACME, "second", "EMPLOYEE")
        .await;
    let ops = json!([
        { "method": "GET", "relative_url": format!("{ACME}/system_users?limit=1") },
        { "method": "GET", "relative_url": format!("/v25.0/{ACME}/system_users?limit=1") },
    ]);
    let list = |version: &str| format!("{}{version}/{ACME}/system_users?", h.base);
    // `batch` posts to `/v26.0/`.
    let items = items(&batch(&h, &ops, &[]).await);
    let next = next_page(&items[0]);
    assert!(next.starts_with(&list("/v26.0")), "{next}");
    assert!(next.contains("access_token="), "{next}");
    // An operation with its own version keeps it.
    let next = next_page(&items[1]);
    assert!(next.starts_with(&list("/v25.0")), "{next}");
    // An unversioned batch leaves unversioned operations unversioned.
    let reply = unversioned_batch(&h, &ops).await;
    let next = next_page(&reply.assert_ok()[0]);
    assert!(next.starts_with(&list("")), "{next}");
}
