//! What a token's scopes let it do, as far as a reviewer must know: which
//! scopes are high-privilege. (Which scopes exist for system users is the
//! policy's business: `graphform_spec::scopes`.)

/// Scopes that let a token spend money, act or speak for the business,
/// administer its assets, or read people's private data: a token that gets
/// one deserves a second look in review (issue 13). Sorted, for
/// [`is_high_privilege`]. Every one is a system-user scope (a test in
/// `graphform-spec` checks it).
///
/// Why each is here:
///
/// - `ads_management`: creates, edits and pays for ads: spends the
///   business's money.
/// - `business_management`: administers the Business Manager itself, its
///   people, system users, assets and their permissions: a token with it
///   can give itself or others more.
/// - `catalog_management`: edits product catalogs: what is sold, and at
///   which price, in ads and shops.
/// - `commerce_account_manage_orders`: acts on shop orders (cancellations,
///   refunds).
/// - `instagram_content_publish`: publishes as the Instagram account.
/// - `instagram_manage_messages`: reads and sends Instagram direct
///   messages: private conversations with people.
/// - `leads_retrieval`: reads lead-form answers: people's names, e-mail
///   addresses and phone numbers.
/// - `pages_manage_metadata`: changes a Page's settings and webhook
///   subscriptions: where the Page's events are sent.
/// - `pages_manage_posts`: publishes, edits and deletes posts as the Page.
/// - `pages_messaging`: reads and sends Messenger conversations as the
///   Page.
/// - `read_page_mailboxes`: reads a Page's inbox: private conversations.
/// - `whatsapp_business_management`: administers WhatsApp Business
///   accounts: phone numbers, message templates, webhooks.
/// - `whatsapp_business_messaging`: sends WhatsApp messages to customers
///   as the business.
pub const HIGH_PRIVILEGE_SCOPES: &[&str] = &[
    "ads_management",
    "business_management",
    "catalog_management",
    "commerce_account_manage_orders",
    "instagram_content_publish",
    "instagram_manage_messages",
    "leads_retrieval",
    "pages_manage_metadata",
    "pages_manage_posts",
    "pages_messaging",
    "read_page_mailboxes",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
];

/// Whether `scope` is one of [`HIGH_PRIVILEGE_SCOPES`].
pub fn is_high_privilege(scope: &str) -> bool {
    HIGH_PRIVILEGE_SCOPES.binary_search(&scope).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_for_binary_search() {
        assert!(
            HIGH_PRIVILEGE_SCOPES
                .windows(2)
                .all(|pair| pair[0] < pair[1])
        );
        assert!(is_high_privilege("business_management"));
        assert!(is_high_privilege("whatsapp_business_messaging"));
        assert!(!is_high_privilege("ads_read"));
        assert!(!is_high_privilege("business_managemen"));
    }
}
