//! "Did you mean …?" suggestions.

/// The candidate closest to `input`, if it is close enough to be a likely
/// typo: at most one edit for words of up to three characters, otherwise at
/// most two or a third of the word, whichever is more.
pub fn closest<'c>(input: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    close_matches(input, candidates).into_iter().next()
}

/// Every candidate close enough to `input` to be a likely typo (the limit
/// of [`closest`]), closest first (ties in alphabetical order).
pub fn close_matches<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Vec<&'c str> {
    let length = input.chars().count();
    let limit = if length <= 3 { 1 } else { (length / 3).max(2) };
    let mut close: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(input, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    close.sort_unstable();
    close.dedup();
    close.into_iter().map(|(_, candidate)| candidate).collect()
}

/// "did you mean `best`?" for the candidate [`closest`] to `input`.
pub(crate) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(input, candidates).map(|best| format!("did you mean `{best}`?"))
}

/// Each item in backticks, separated by commas: "`a`, `b`".
pub(crate) fn backticked<'i>(items: impl IntoIterator<Item = &'i str>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hint for keys that suggest a secret is being written into the policy.
pub(crate) fn secret_key_hint(key: &str) -> Option<String> {
    let secretish = [
        "token",
        "access_token",
        "secret",
        "app_secret",
        "password",
        "key",
    ];
    secretish.contains(&key).then(|| {
        "secrets never go in the policy: put the value in an environment variable and write \
         that variable's name under `token_env` (admin tokens) or `secret_env` (app secrets)"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let scopes = ["read_insights", "ads_read", "ads_management"];
        assert_eq!(closest("read_insight", scopes), Some("read_insights"));
        assert_eq!(closest("ads_raed", scopes), Some("ads_read"));
        assert_eq!(closest("whatsapp", scopes), None);
    }

    #[test]
    fn lists_every_close_candidate_closest_first() {
        let names = ["spare", "insights-reads", "insights-read"];
        assert_eq!(
            close_matches("insight-read", names),
            ["insights-read", "insights-reads"]
        );
        assert!(close_matches("whatsapp", names).is_empty());
    }
}
