//! The permissions a system-user token can be issued with (graph-api.md §10).

/// Scopes Meta documents as supported for system-user tokens, plus the
/// capability-gated ones and the WhatsApp ones newer docs use.
pub const SYSTEM_USER_SCOPES: &[&str] = &[
    "ads_management",
    "ads_read",
    "attribution_read",
    "business_creative_insights",
    "business_creative_insights_share",
    "business_creative_management",
    "business_data_management",
    "business_management",
    "business_messaging",
    "catalog_management",
    "commerce_account_manage_orders",
    "commerce_account_read_orders",
    "commerce_account_read_reports",
    "commerce_account_read_settings",
    "commerce_manage_accounts",
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
    "whatsapp_business_manage_events",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
];

/// Scopes that exist but cannot be given to system-user tokens, with why.
pub(crate) fn unavailable_scope_reason(scope: &str) -> Option<&'static str> {
    match scope {
        "publish_actions" => {
            Some("`publish_actions` is deprecated (apps created before 2018-04-24 only)")
        }
        "email" | "public_profile" | "user_friends" => {
            Some("this is a Facebook Login permission for people, not for system users")
        }
        _ => None,
    }
}

/// Whether `scope` is on the system-user list.
pub fn is_system_user_scope(scope: &str) -> bool {
    SYSTEM_USER_SCOPES.binary_search(&scope).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique_for_binary_search() {
        assert!(SYSTEM_USER_SCOPES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_system_user_scope("read_insights"));
        assert!(!is_system_user_scope("read_insight"));
    }

    /// The scopes a review flags (graphform-types) are scopes a system
    /// user can have: a typo there would flag nothing.
    #[test]
    fn every_high_privilege_scope_is_a_system_user_scope() {
        for scope in graphform_types::scope::HIGH_PRIVILEGE_SCOPES {
            assert!(is_system_user_scope(scope), "{scope}");
        }
    }
}
