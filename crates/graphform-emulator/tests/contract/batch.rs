//! graph-api.md §8: batch requests.

use serde_json::{Value, json};

use crate::support::*;

async fn batch(h: &Harness, ops: &Value, extra: &[(&str, &str)]) -> Reply {
    let ops = ops.to_string();
    let mut params = vec![("batch", ops.as_str())];
    params.extend_from_slice(extra);
    h.acme().post("", &params).await
}

fn body(item: &Value) -> Value {
    serde_json::from_str(item["body"].as_str().expect("body is a JSON string")).unwrap()
}

#[tokio::test]
async fn batch_answers_in_order_with_string_bodies_and_headers() {
    let h = Harness::start().await;
    let ops = json!([
        { "method": "GET", "relative_url": format!("{ACME_ADMIN_SU}?fields=id,name") },
        { "method": "POST", "relative_url": format!("/v26.0/{ACME}/system_users"), "body": "name=batched&role=EMPLOYEE" },
        { "method": "GET", "relative_url": format!("{ACME}/system_users?summary=total_count") },
    ]);
    let reply = batch(&h, &ops, &[]).await;
    let items = reply.assert_ok().as_array().unwrap().clone();
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
    let mut form = acme().params();
    form.push((
        "batch".into(),
        json!([{ "method": "GET", "relative_url": ACME_ADMIN_SU }]).to_string(),
    ));
    let response = h
        .http
        .post(format!("{}/", h.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(Harness::reply(response).await.assert_ok()[0]["code"], 200);
    h.stop().await;
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
    h.stop().await;
}

#[tokio::test]
async fn fifty_operations_pass_and_fifty_one_are_one_top_level_error() {
    let h = Harness::start().await;
    let op = json!({ "method": "GET", "relative_url": ACME_ADMIN_SU });
    h.control_post("/counters/reset", json!({})).await;
    let fifty = Value::Array(vec![op.clone(); 50]);
    let reply = batch(&h, &fifty, &[]).await;
    assert_eq!(reply.assert_ok().as_array().unwrap().len(), 50);
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
    h.stop().await;
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
    let items = reply.assert_ok().as_array().unwrap().clone();
    let codes: Vec<i64> = items.iter().map(|i| i["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [200, 400, 400, 400, 200]);
    assert_eq!(body(&items[1])["error"]["code"], 110);
    assert_eq!(
        body(&items[2])["error"]["message"],
        "(#100) The parameter name is required"
    );
    assert_eq!(body(&items[3])["error"]["error_subcode"], 33);
    assert!(body(&items[3])["error"]["fbtrace_id"].is_string());
    h.stop().await;
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
    let reply = batch(&h, &ops, &[]).await;
    let items = reply.assert_ok().as_array().unwrap().clone();
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
    h.stop().await;
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
    let items = reply.assert_ok().as_array().unwrap().clone();
    let codes: Vec<i64> = items.iter().map(|i| i["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [400, 400, 400, 400, 200]);
    assert!(
        body(&items[1])["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(create) failed")
    );
    h.stop().await;
}

#[tokio::test]
async fn null_items_are_injected_deterministically_and_not_executed() {
    let h = Harness::start().await;
    let (status, _) = h
        .control_post("/faults", json!({ "batch_null_rate": 0.5, "seed": 7 }))
        .await;
    assert_eq!(status, 200);
    let ops: Vec<Value> = (0..20)
        .map(|i| json!({ "method": "POST", "relative_url": format!("{ACME}/system_users"), "body": format!("name=n{i}&role=EMPLOYEE") }))
        .collect();
    // Acme allows 10 employees: use only 8 creates, then reads.
    let ops: Vec<Value> = ops[..8]
        .iter()
        .cloned()
        .chain((0..12).map(|_| json!({ "method": "GET", "relative_url": ACME_ADMIN_SU })))
        .collect();
    let first = batch(&h, &Value::Array(ops.clone()), &[]).await;
    let pattern: Vec<bool> = first
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(Value::is_null)
        .collect();
    let nulls = pattern.iter().filter(|n| **n).count();
    assert!(nulls > 0 && nulls < 20, "{pattern:?}");
    // Null creates did not happen.
    let created = pattern[..8].iter().filter(|n| !**n).count();
    let list = h
        .acme()
        .get(&system_users(ACME), &[("summary", "total_count")])
        .await;
    assert_eq!(list.body["summary"]["total_count"], 1 + created);
    // Same seed, same pattern.
    h.control_post("/faults", json!({ "batch_null_rate": 0.5, "seed": 7 }))
        .await;
    let reads: Vec<Value> = (0..20)
        .map(|_| json!({ "method": "GET", "relative_url": ACME_ADMIN_SU }))
        .collect();
    let again = batch(&h, &Value::Array(reads.clone()), &[]).await;
    let pattern_again: Vec<bool> = again
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(Value::is_null)
        .collect();
    assert_eq!(pattern, pattern_again);
    // Null items count as API calls; clearing faults stops them.
    h.control_delete("/faults").await;
    let clean = batch(&h, &Value::Array(reads), &[]).await;
    assert!(clean.body.as_array().unwrap().iter().all(|i| !i.is_null()));
    h.stop().await;
}

#[tokio::test]
async fn top_level_token_problems_are_one_error() {
    let h = Harness::start().await;
    let ops = json!([{ "method": "GET", "relative_url": ACME_ADMIN_SU }]).to_string();
    let reply = h
        .post(
            "",
            None,
            &[
                ("batch", &ops),
                ("access_token", ACME_ADMIN_TOKEN),
                ("appsecret_proof", "bad"),
            ],
        )
        .await;
    reply.assert_error_message(
        400,
        100,
        None,
        "Invalid appsecret_proof provided in the API argument",
    );
    let reply = h
        .post("", None, &[("batch", &ops), ("access_token", "EAAnope")])
        .await;
    reply.assert_error(400, 190, None);
    let reply = h.acme().post("", &[("batch", "{not json")]).await;
    reply.assert_error(400, 100, None);
    h.stop().await;
}

#[tokio::test]
async fn timestamped_proof_and_per_operation_tokens() {
    let h = Harness::start().await;
    let time = T0.to_string();
    let timed = proof(REPORTING_SECRET, &format!("{ACME_ADMIN_TOKEN}|{time}"));
    let globex_proof = proof(GLOBEX_SECRET, GLOBEX_ADMIN_TOKEN);
    let ops = json!([
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": format!("{GLOBEX_ADMIN_SU}?access_token={GLOBEX_ADMIN_TOKEN}&appsecret_proof={globex_proof}") },
        { "method": "GET", "relative_url": GLOBEX_ADMIN_SU },
    ])
    .to_string();
    let reply = h
        .post(
            "",
            None,
            &[
                ("batch", &ops),
                ("access_token", ACME_ADMIN_TOKEN),
                ("appsecret_proof", &timed),
                ("appsecret_time", &time),
            ],
        )
        .await;
    let codes: Vec<i64> = reply
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_i64().unwrap())
        .collect();
    // The third op uses Acme's token: Globex's admin is invisible to it.
    assert_eq!(codes, [200, 200, 400]);
    h.stop().await;
}

#[tokio::test]
async fn batch_as_a_json_body() {
    let h = Harness::start().await;
    let mut body = json!({
        "batch": [{ "method": "GET", "relative_url": ACME_ADMIN_SU }],
        "include_headers": false,
    });
    for (key, value) in acme().params() {
        body[key] = json!(value);
    }
    let response = h
        .http
        .post(format!("{}/v26.0", h.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let reply = Harness::reply(response).await;
    assert_eq!(reply.assert_ok()[0]["code"], 200);
    assert!(reply.body[0].get("headers").is_none());
    h.stop().await;
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
    // `batch` posts to `/v26.0/`.
    let reply = batch(&h, &ops, &[]).await;
    let items = reply.assert_ok().as_array().unwrap().clone();
    let next = body(&items[0])["paging"]["next"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        next.starts_with(&format!("{}/v26.0/{ACME}/system_users?", h.base)),
        "{next}"
    );
    assert!(next.contains("access_token="), "{next}");
    // An operation with its own version keeps it.
    let next = body(&items[1])["paging"]["next"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        next.starts_with(&format!("{}/v25.0/{ACME}/system_users?", h.base)),
        "{next}"
    );
    // An unversioned batch leaves unversioned operations unversioned.
    let mut form = acme().params();
    form.push(("batch".into(), ops.to_string()));
    let response = h
        .http
        .post(format!("{}/", h.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let items = Harness::reply(response).await.assert_ok().clone();
    let next = body(&items[0])["paging"]["next"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        next.starts_with(&format!("{}/{ACME}/system_users?", h.base)),
        "{next}"
    );
    h.stop().await;
}
