//! Cursor pagination across pages.

use std::collections::BTreeSet;

use graphform_graph::{ListOptions, SystemUserRole};

use crate::support::{BUSINESS, Harness, admin, create_system_user};

#[tokio::test]
async fn listing_follows_the_cursor_across_pages() {
    let h = Harness::start().await;
    let admin = admin();
    let mut created = Vec::new();
    // The business's app has advanced access: 10 system users, 1 is there.
    for n in 0..8 {
        let name = format!("user-{n}");
        let id = create_system_user(&h.client, &name, SystemUserRole::Employee).await;
        created.push(id.unwrap());
    }
    h.reset_counters().await;
    let options = ListOptions {
        limit: Some(2),
        total_count: true,
    };
    let list = h
        .client
        .list_system_users(&admin, BUSINESS, &options)
        .await
        .unwrap();
    assert_eq!(list.total_count, Some(10));
    assert_eq!(list.users.len(), 10);
    assert_eq!(list.pages, 5);
    let ids: BTreeSet<_> = list.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids.len(), 10, "no user twice");
    let names: Vec<_> = list.users.iter().skip(2).map(|u| u.name.clone()).collect();
    assert_eq!(
        names,
        (0..8).map(|n| format!("user-{n}")).collect::<Vec<_>>()
    );
    assert_eq!(h.emulator_http_requests().await, 5);
    assert_eq!(h.client.counters().http_requests, 5);

    // Page by page: the last page has no next cursor.
    let first = h
        .client
        .list_system_users_page(&admin, BUSINESS, &options, None)
        .await
        .unwrap();
    assert_eq!(first.data.len(), 2);
    let mut cursor = first.next_cursor;
    let mut pages = 1;
    while let Some(after) = cursor {
        let page = h
            .client
            .list_system_users_page(&admin, BUSINESS, &options, Some(&after))
            .await
            .unwrap();
        pages += 1;
        cursor = page.next_cursor;
    }
    assert_eq!(pages, 5);
    h.shutdown().await;
}
