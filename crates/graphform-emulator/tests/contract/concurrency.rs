//! The state is safe under concurrent requests.

use std::collections::BTreeSet;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_issued_concurrently_are_distinct_and_valid() {
    const TOKENS: usize = 64;
    let (h, id) = Harness::with_employee("ci").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TOKENS {
        let http = h.http.clone();
        let url = h.url(&access_tokens(&id));
        let scope = if i % 2 == 0 {
            "ads_read"
        } else {
            "ads_read,read_insights"
        };
        let mut form = acme().params();
        form.push(("business_app".into(), REPORTING.into()));
        form.push(("scope".into(), scope.into()));
        form.push(("set_token_expires_in_60_days".into(), "true".into()));
        tasks.spawn(async move {
            let response = http.post(url).form(&form).send().await.unwrap();
            let reply = Harness::reply(response).await;
            reply.string("access_token")
        });
    }
    let tokens: Vec<String> = tasks.join_all().await;
    let distinct: BTreeSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), TOKENS);

    // Every token is valid, checked concurrently too.
    let mut checks = tokio::task::JoinSet::new();
    for token in tokens {
        let http = h.http.clone();
        let url = h.url("/debug_token");
        let app = app_token(REPORTING, REPORTING_SECRET);
        checks.spawn(async move {
            let response = http
                .get(url)
                .query(&[
                    ("input_token", token.as_str()),
                    ("access_token", app.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let reply = Harness::reply(response).await;
            reply.assert_ok()["data"]["is_valid"].as_bool().unwrap()
        });
    }
    assert!(checks.join_all().await.into_iter().all(|valid| valid));
    let state = h.control_get("/state").await;
    // The world's 4 tokens and the 64 new ones.
    assert_eq!(state["tokens"].as_object().unwrap().len(), 4 + TOKENS);
    let counters = h.control_get("/counters").await;
    assert_eq!(
        counters["by_endpoint"]["POST /{system-user-id}/access_tokens"],
        TOKENS
    );
}
