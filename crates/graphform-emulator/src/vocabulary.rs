//! The fixed vocabularies of graph-api.md: system-user roles (§1) and the
//! scopes a system-user token may carry (§10).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A system-user role, as accepted by `POST /{business-id}/system_users`
/// (graph-api.md §1, CONFIRMED enum).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[expect(
    missing_docs,
    reason = "the variants are Meta's enum values, listed in graph-api.md §1"
)]
pub enum Role {
    Admin,
    AdsRightsReviewer,
    Default,
    Developer,
    #[default]
    Employee,
    FinanceAnalyst,
    FinanceEdit,
    FinanceEditor,
    FinanceView,
    Manage,
    PartnerCenterAdmin,
    PartnerCenterAnalyst,
    PartnerCenterEducation,
    PartnerCenterMarketing,
    PartnerCenterOperations,
}

impl Role {
    /// Every role, in Meta's (alphabetical) order.
    pub const ALL: [Role; 15] = [
        Role::Admin,
        Role::AdsRightsReviewer,
        Role::Default,
        Role::Developer,
        Role::Employee,
        Role::FinanceAnalyst,
        Role::FinanceEdit,
        Role::FinanceEditor,
        Role::FinanceView,
        Role::Manage,
        Role::PartnerCenterAdmin,
        Role::PartnerCenterAnalyst,
        Role::PartnerCenterEducation,
        Role::PartnerCenterMarketing,
        Role::PartnerCenterOperations,
    ];

    /// The wire form, e.g. `ADMIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::AdsRightsReviewer => "ADS_RIGHTS_REVIEWER",
            Role::Default => "DEFAULT",
            Role::Developer => "DEVELOPER",
            Role::Employee => "EMPLOYEE",
            Role::FinanceAnalyst => "FINANCE_ANALYST",
            Role::FinanceEdit => "FINANCE_EDIT",
            Role::FinanceEditor => "FINANCE_EDITOR",
            Role::FinanceView => "FINANCE_VIEW",
            Role::Manage => "MANAGE",
            Role::PartnerCenterAdmin => "PARTNER_CENTER_ADMIN",
            Role::PartnerCenterAnalyst => "PARTNER_CENTER_ANALYST",
            Role::PartnerCenterEducation => "PARTNER_CENTER_EDUCATION",
            Role::PartnerCenterMarketing => "PARTNER_CENTER_MARKETING",
            Role::PartnerCenterOperations => "PARTNER_CENTER_OPERATIONS",
        }
    }

    /// Parses the wire form (exact, upper case).
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Whether this is the admin role (counted against the admin limit).
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// The `role` edge field of `GET /{business-id}/system_users`, which
    /// "only contains base roles including Admin and Employee".
    pub(crate) fn base_role(self) -> &'static str {
        if self.is_admin() { "ADMIN" } else { "EMPLOYEE" }
    }

    /// The node's `finance_permission` field, when the role grants one.
    pub(crate) fn finance_permission(self) -> Option<&'static str> {
        match self {
            Role::FinanceEdit | Role::FinanceEditor => Some("Editor"),
            Role::FinanceAnalyst | Role::FinanceView => Some("Analyst"),
            _ => None,
        }
    }

    /// The node's `ip_permission` field, when the role grants one.
    pub(crate) fn ip_permission(self) -> Option<&'static str> {
        (self == Role::AdsRightsReviewer).then_some("Reviewer")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a system-user token may be issued with: the CONFIRMED list of
/// graph-api.md §10, plus the two INFERRED WhatsApp scopes it mentions.
/// Deprecated (`publish_actions`) and capability-gated scopes are refused
/// with 3962, since the emulator models no app capabilities.
/// `tests/vocabulary.rs` states how this list differs from the policy's.
pub const SYSTEM_USER_SCOPES: [&str; 37] = [
    "ads_management",
    "ads_read",
    "attribution_read",
    "business_management",
    "catalog_management",
    "commerce_account_manage_orders",
    "commerce_account_read_orders",
    "commerce_account_read_settings",
    "instagram_basic",
    "instagram_branded_content_ads_brand",
    "instagram_branded_content_brand",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",
    "instagram_manage_messages",
    "instagram_shopping_tag_products",
    "leads_retrieval",
    "page_events",
    "pages_manage_ads",
    "pages_manage_cta",
    "pages_manage_engagement",
    "pages_manage_instant_articles",
    "pages_manage_metadata",
    "pages_manage_posts",
    "pages_messaging",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_show_list",
    "private_computation_access",
    "publish_video",
    "read_audience_network_insights",
    "read_insights",
    "read_page_mailboxes",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "whatsapp_business_manage_events",
    "business_messaging",
];

/// Whether `scope` may be granted to a system-user token.
pub fn is_system_user_scope(scope: &str) -> bool {
    SYSTEM_USER_SCOPES.contains(&scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_wire_form() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn base_role_is_admin_or_employee() {
        assert_eq!(Role::Admin.base_role(), "ADMIN");
        assert_eq!(Role::FinanceEditor.base_role(), "EMPLOYEE");
        assert_eq!(Role::FinanceEditor.finance_permission(), Some("Editor"));
        assert_eq!(Role::AdsRightsReviewer.ip_permission(), Some("Reviewer"));
    }
}
