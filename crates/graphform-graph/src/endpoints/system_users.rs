//! System users (graph-api.md §1): list a business's (cursor pagination,
//! `summary=total_count`), create, rename, read one, read many (batched).

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::UserToken;
use crate::batch::BatchGet;
use crate::client::GraphClient;
use crate::error::{ErrorKind, GraphError};
use crate::redact::Redactor;
use crate::retry::Repeat;
use crate::transport::{Auth, Endpoint};
use crate::wire;

/// A system user's role (the `role` enum of `POST /{business}/system_users`):
/// graphform's one [`Role`](graphform_types::Role), under the name this
/// client has always used.
pub use graphform_types::Role as SystemUserRole;

/// An entry of `GET /{business}/system_users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SystemUserEntry {
    /// The app-scoped system-user ID (use it in API calls).
    #[serde(deserialize_with = "wire::string_or_number")]
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The role (only on this edge, not on the node).
    #[serde(default)]
    pub role: Option<SystemUserRole>,
}

/// A system user read by `GET /{system-user}` (fields of the node; `role`
/// is not one of them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SystemUser {
    /// The ID.
    #[serde(deserialize_with = "wire::string_or_number")]
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// `created_time`, as Meta writes it (e.g. `2024-01-02T03:04:05+0000`).
    #[serde(default)]
    pub created_time: Option<String>,
    /// `created_by`, the creating user, as Meta sent it.
    #[serde(default)]
    pub created_by: Option<Value>,
    /// `finance_permission`, e.g. `Editor`.
    #[serde(default)]
    pub finance_permission: Option<String>,
    /// `ip_permission`, e.g. `Reviewer`.
    #[serde(default)]
    pub ip_permission: Option<String>,
}

/// The fields asked for when reading a system user.
const SYSTEM_USER_FIELDS: &str = "id,name,created_time,created_by,finance_permission,ip_permission";

/// How to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Page size (`limit`); `None` lets Meta choose.
    pub limit: Option<u32>,
    /// Ask for `summary=total_count`.
    pub total_count: bool,
}

/// One page of a cursor-paginated edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// The cursor of the next page, present only when Meta says there is
    /// one (`paging.next`; an `after` cursor alone is also on the last
    /// page).
    pub next_cursor: Option<String>,
    /// `summary.total_count`, when asked for.
    pub total_count: Option<u64>,
}

/// Every system user of a business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUserList {
    /// All entries, in Meta's order.
    pub users: Vec<SystemUserEntry>,
    /// `summary.total_count` from the first page, when asked for.
    pub total_count: Option<u64>,
    /// Pages read.
    pub pages: u32,
}

/// `POST /{business}/system_users` to create one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSystemUser {
    /// The name.
    pub name: String,
    /// The role (`ADMIN` or `EMPLOYEE` in practice).
    pub role: SystemUserRole,
}

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    paging: Option<RawPaging>,
    #[serde(default)]
    summary: Option<RawSummary>,
}

#[derive(Deserialize)]
struct RawPaging {
    #[serde(default)]
    cursors: Option<RawCursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct RawCursors {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct RawSummary {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    total_count: Option<i64>,
}

impl<T> RawPage<T> {
    fn into_page(self) -> Page<T> {
        let next_cursor = self.paging.and_then(|paging| {
            let next = paging.next?;
            paging
                .cursors
                .and_then(|cursors| cursors.after)
                // Fall back to the cursor inside the `next` URL.
                .or_else(|| {
                    reqwest::Url::parse(&next).ok().and_then(|url| {
                        url.query_pairs()
                            .find(|(key, _)| key == "after")
                            .map(|(_, value)| value.into_owned())
                    })
                })
        });
        Page {
            data: self.data,
            next_cursor,
            total_count: self
                .summary
                .and_then(|summary| summary.total_count)
                .and_then(|count| u64::try_from(count).ok()),
        }
    }
}

#[derive(Deserialize)]
struct Created {
    #[serde(deserialize_with = "wire::string_or_number")]
    id: String,
}

const LIST_SYSTEM_USERS: Endpoint =
    Endpoint::new(Method::GET, "/{business}/system_users", Repeat::Safe);
/// A repeat could create a second system user.
const CREATE_SYSTEM_USER: Endpoint =
    Endpoint::new(Method::POST, "/{business}/system_users", Repeat::Unsafe);
/// Renaming twice is harmless.
const RENAME_SYSTEM_USER: Endpoint =
    Endpoint::new(Method::POST, "/{business}/system_users", Repeat::Safe);
const READ_SYSTEM_USER: Endpoint = Endpoint::new(Method::GET, "/{system-user}", Repeat::Safe);

/// Pages followed at most by [`GraphClient::list_system_users`]: a guard
/// against a cursor loop.
const MAX_PAGES: u32 = 10_000;

impl GraphClient {
    /// `GET /{business}/system_users`: one page, after `cursor`.
    pub async fn list_system_users_page(
        &self,
        token: &UserToken,
        business_id: &str,
        options: &ListOptions,
        cursor: Option<&str>,
    ) -> Result<Page<SystemUserEntry>, GraphError> {
        let path = [business_id, "system_users"];
        let mut call = self
            .request(&LIST_SYSTEM_USERS, business_id, &path)
            .auth(Auth::User(token.clone()));
        if let Some(limit) = options.limit {
            call = call.param("limit", limit.to_string());
        }
        if options.total_count {
            call = call.param("summary", "total_count");
        }
        if let Some(cursor) = cursor {
            call = call.param("after", cursor);
        }
        let page: RawPage<SystemUserEntry> = self.transport.call(&call).await?;
        Ok(page.into_page())
    }

    /// `GET /{business}/system_users`, following the cursor through every
    /// page.
    pub async fn list_system_users(
        &self,
        token: &UserToken,
        business_id: &str,
        options: &ListOptions,
    ) -> Result<SystemUserList, GraphError> {
        let mut list = SystemUserList {
            users: Vec::new(),
            total_count: None,
            pages: 0,
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list_system_users_page(token, business_id, options, cursor.as_deref())
                .await?;
            list.pages += 1;
            if list.pages == 1 {
                list.total_count = page.total_count;
            }
            list.users.extend(page.data);
            match page.next_cursor {
                Some(next)
                    if cursor.as_deref() == Some(next.as_str()) || list.pages >= MAX_PAGES =>
                {
                    return Err(GraphError::new(
                        LIST_SYSTEM_USERS.operation(self.target(business_id)),
                        ErrorKind::InvalidResponse {
                            status: 200,
                            detail: format!("pagination does not end (page {})", list.pages),
                        },
                        1,
                    ));
                }
                Some(next) => cursor = Some(next),
                None => return Ok(list),
            }
        }
    }

    /// `POST /{business}/system_users` with `name` and `role`; returns the
    /// new app-scoped system-user ID.
    ///
    /// Not repeated unless the request provably failed: a repeat could
    /// create a second system user (see the crate README).
    pub async fn create_system_user(
        &self,
        token: &UserToken,
        business_id: &str,
        request: &NewSystemUser,
    ) -> Result<String, GraphError> {
        let path = [business_id, "system_users"];
        let label = format!("{business_id}/{}", request.name);
        let call = self
            .request(&CREATE_SYSTEM_USER, &label, &path)
            .param("name", request.name.clone())
            .param("role", request.role.as_str())
            .auth(Auth::User(token.clone()));
        let created: Created = self.transport.call(&call).await?;
        Ok(created.id)
    }

    /// `POST /{business}/system_users` with `system_user_id` and the new
    /// `name`.
    pub async fn rename_system_user(
        &self,
        token: &UserToken,
        business_id: &str,
        system_user_id: &str,
        name: &str,
    ) -> Result<(), GraphError> {
        let path = [business_id, "system_users"];
        let call = self
            .request(&RENAME_SYSTEM_USER, system_user_id, &path)
            .param("system_user_id", system_user_id)
            .param("name", name)
            .auth(Auth::User(token.clone()));
        // The answer is not documented: as for a creation (`{"id": …}`,
        // naming the same user) or the usual `{"success": true}`.
        let answer = self.transport.execute(&call).await?;
        let renamed = crate::transport::success_answer(&answer.body) == Some(true)
            || serde_json::from_slice::<Created>(&answer.body)
                .is_ok_and(|created| created.id == system_user_id);
        if renamed {
            return Ok(());
        }
        let reason = format!(
            "http {} with a body that is neither the created-style nor the success answer",
            answer.status
        );
        let kind = ErrorKind::OutcomeUnknown {
            reason,
            source: None,
        };
        Err(call.error(kind, answer.attempts))
    }

    /// `GET /{system-user}`.
    pub async fn read_system_user(
        &self,
        token: &UserToken,
        system_user_id: &str,
    ) -> Result<SystemUser, GraphError> {
        let call = self
            .request(&READ_SYSTEM_USER, system_user_id, &[system_user_id])
            .param("fields", SYSTEM_USER_FIELDS)
            .auth(Auth::User(token.clone()));
        self.transport.call(&call).await
    }

    /// `GET /{system-user}` for each ID, in batches; one result per ID, in
    /// order. Errors name the ID (the client's label does not apply to a
    /// list).
    pub async fn read_system_users(
        &self,
        token: &UserToken,
        system_user_ids: &[String],
    ) -> Vec<Result<SystemUser, GraphError>> {
        let items = system_user_ids
            .iter()
            .map(|id| {
                BatchGet::new(
                    READ_SYSTEM_USER.operation(id.clone()),
                    &[id.as_str()],
                    &[("fields", SYSTEM_USER_FIELDS)],
                    Redactor::default(),
                )
            })
            .collect();
        self.transport
            .batch_get(&Auth::User(token.clone()), items)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_tolerate_unknown_names() {
        for name in [
            "ADMIN",
            "ADS_RIGHTS_REVIEWER",
            "DEFAULT",
            "DEVELOPER",
            "EMPLOYEE",
            "FINANCE_ANALYST",
            "FINANCE_EDIT",
            "FINANCE_EDITOR",
            "FINANCE_VIEW",
            "MANAGE",
            "PARTNER_CENTER_ADMIN",
            "PARTNER_CENTER_ANALYST",
            "PARTNER_CENTER_EDUCATION",
            "PARTNER_CENTER_MARKETING",
            "PARTNER_CENTER_OPERATIONS",
        ] {
            let role: SystemUserRole = name.parse().unwrap();
            assert!(!matches!(role, SystemUserRole::Other(_)), "{name}");
            assert_eq!(role.as_str(), name);
        }
        assert_eq!(
            "admin".parse::<SystemUserRole>().unwrap(),
            SystemUserRole::Admin
        );
        let role: SystemUserRole = serde_json::from_str("\"NEW_ROLE\"").unwrap();
        assert_eq!(role, SystemUserRole::Other("NEW_ROLE".into()));
        assert_eq!(
            serde_json::to_string(&SystemUserRole::Employee).unwrap(),
            "\"EMPLOYEE\""
        );
    }

    #[test]
    fn pages_follow_next_not_the_bare_cursor() {
        let page: RawPage<SystemUserEntry> = serde_json::from_str(
            r#"{"data":[{"id":"1","name":"Reporting server","role":"ADMIN","extra":1}],
               "paging":{"cursors":{"before":"b","after":"a"},"next":"https://x/?after=a"},
               "summary":{"total_count":3}}"#,
        )
        .unwrap();
        let page = page.into_page();
        assert_eq!(page.next_cursor.as_deref(), Some("a"));
        assert_eq!(page.total_count, Some(3));
        assert_eq!(page.data[0].role, Some(SystemUserRole::Admin));
        let last: RawPage<SystemUserEntry> =
            serde_json::from_str(r#"{"data":[],"paging":{"cursors":{"before":"b","after":"a"}}}"#)
                .unwrap();
        assert_eq!(last.into_page().next_cursor, None);
        let from_url: RawPage<SystemUserEntry> = serde_json::from_str(
            r#"{"data":[],"paging":{"next":"https://x/v26.0/1/system_users?limit=2&after=QVFI"}}"#,
        )
        .unwrap();
        assert_eq!(from_url.into_page().next_cursor.as_deref(), Some("QVFI"));
    }

    #[test]
    fn system_user_reads_leniently() {
        let user: SystemUser = serde_json::from_str(
            r#"{"id":1000081799813,"name":"n","created_time":"2024-01-02T03:04:05+0000","x":[]}"#,
        )
        .unwrap();
        assert_eq!(user.id, "1000081799813");
        assert_eq!(
            user.created_time.as_deref(),
            Some("2024-01-02T03:04:05+0000")
        );
    }
}
