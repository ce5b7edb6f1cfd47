//! What looks like a secret, and how one is shown: masked.
//!
//! CI logs keep what `graphform validate` prints, so a secret pasted into
//! the policy, where an environment variable's name belongs or anywhere
//! else, must never be printed back (issue 10). [`looks_like_secret`] is
//! the one definition; [`mask`] and [`redact`] show a secret as
//! `EAAB…(redacted, 183 characters)`: enough to find it in the file, not
//! enough to use it.

use std::borrow::Cow;
use std::ops::Range;

/// Where a value was found: a field that names an environment variable is
/// held to a stricter rule than any other text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The whole value of a field that holds an environment variable's
    /// name: `token_env`, `secret_env`, `key_env`…
    EnvName,
    /// A word of any other text: a line of the policy, a message.
    Text,
}

/// How many characters of a secret its masked form keeps.
const KEPT: usize = 4;
/// The shortest Meta access token we recognise (`EAA` and 17 more); real
/// ones are about 180 characters long.
const TOKEN_MIN: usize = 20;
/// The shortest run of hex digits taken for a key: an app secret is 32.
const HEX_MIN: usize = 32;
/// The shortest random-looking word taken for a secret.
const RANDOM_MIN: usize = 24;
/// In an environment-variable field, a value that is not a variable name
/// and is longer than this is taken for a secret.
const ENV_FIELD_MAX: usize = 20;

/// Whether `value` looks like a secret.
///
/// In [`Context::Text`], `value` is a word: a run of ASCII letters, digits
/// and `+ / _ -`. It looks like a secret when it holds
///
/// - a Meta access token: `EAA` followed by letters and digits, 20 or more
///   in all;
/// - 32 or more hex digits, mixing digits and letters (app secrets are 32
///   lowercase hex digits);
/// - 24 or more letters and digits, mixed, that look random: the
///   character class (lowercase, uppercase, digit) changes at least every
///   third character, or every sixth when all letters share one case.
///   Names change rarely: `ACME_ADMIN_TOKEN_2024` twice in 19 letters and
///   digits; a random base62 string about every other character.
///
/// In [`Context::EnvName`], `value` is the whole value of the field, and it
/// also looks like a secret when it is longer than 20 characters and not a
/// valid environment variable name (`[A-Za-z_][A-Za-z0-9_]*`): a
/// passphrase, a URL-safe key, a token with dots. A long name with dashes
/// is caught too; the hint then costs its author a rename, where a missed
/// secret would cost a rotation.
pub fn looks_like_secret(value: &str, context: Context) -> bool {
    match context {
        Context::Text => is_secret_word(value),
        Context::EnvName => {
            (!is_env_name(value) && value.chars().count() > ENV_FIELD_MAX)
                || words(value).any(|range| is_secret_word(&value[range]))
        }
    }
}

/// A secret as it may be shown: its first four characters and its length,
/// `EAAB…(redacted, 183 characters)`.
pub fn mask(secret: &str) -> String {
    let kept: String = secret.chars().take(KEPT).collect();
    format!("{kept}…(redacted, {} characters)", secret.chars().count())
}

/// `text` with every word that looks like a secret ([`Context::Text`])
/// replaced by its [`mask`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let masked = mask_line(text, &[]);
    if masked.spans.is_empty() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(masked.text)
    }
}

/// Whether `value` is a valid environment variable name.
pub(crate) fn is_env_name(value: &str) -> bool {
    let mut bytes = value.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// A line with its secrets masked, and where they were, to move a caret
/// that pointed into the original line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MaskedLine {
    /// The line as it may be shown.
    pub(crate) text: String,
    /// Each masked part: its character range in the original line and its
    /// length in characters once masked; in order, not overlapping.
    spans: Vec<(Range<usize>, usize)>,
}

impl MaskedLine {
    /// Where character `at` of the original line is in the masked one. A
    /// position inside a masked part moves to its start, or with
    /// `end == true` (the end of a range), to its end.
    pub(crate) fn position(&self, at: usize, end: bool) -> usize {
        let mut shift: isize = 0;
        for (range, masked_len) in &self.spans {
            if at <= range.start {
                break;
            }
            let new_start = range.start.saturating_add_signed(shift);
            if at < range.end {
                return if end {
                    new_start + masked_len
                } else {
                    new_start
                };
            }
            shift += signed(*masked_len) - signed(range.len());
        }
        at.saturating_add_signed(shift)
    }
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

/// Masks every secret-looking word of `line`, and each of the `secrets`
/// character ranges (values reported as secrets: a passphrase need not
/// look like one) as a whole, quotes and spaces around it kept.
pub(crate) fn mask_line(line: &str, secrets: &[Range<usize>]) -> MaskedLine {
    let chars: Vec<char> = line.chars().collect();
    let mut ranges: Vec<Range<usize>> = secrets
        .iter()
        .filter_map(|range| {
            let mut start = range.start.min(chars.len());
            let mut end = range.end.min(chars.len());
            let outside = |c: char| c.is_whitespace() || matches!(c, '"' | '\'');
            while start < end && outside(chars[start]) {
                start += 1;
            }
            while end > start && outside(chars[end - 1]) {
                end -= 1;
            }
            (start < end).then_some(start..end)
        })
        .collect();
    // Words are found over characters, so ranges are character indices.
    let mut start = None;
    for (index, c) in chars.iter().chain(std::iter::once(&' ')).enumerate() {
        match (start, is_word_char(*c)) {
            (None, true) => start = Some(index),
            (Some(begin), false) => {
                let word: String = chars[begin..index].iter().collect();
                if is_secret_word(&word) {
                    ranges.push(begin..index);
                }
                start = None;
            }
            _ => {}
        }
    }
    ranges.sort_by_key(|range| (range.start, std::cmp::Reverse(range.end)));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start < last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut text = String::with_capacity(line.len());
    let mut spans = Vec::with_capacity(merged.len());
    let mut at = 0;
    for range in merged {
        text.extend(&chars[at..range.start]);
        let secret: String = chars[range.clone()].iter().collect();
        let masked = mask(&secret);
        spans.push((range.clone(), masked.chars().count()));
        text.push_str(&masked);
        at = range.end;
    }
    text.extend(&chars[at..]);
    MaskedLine { text, spans }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '_' | '-')
}

/// The byte ranges of the words of `text`.
fn words(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut rest = 0;
    std::iter::from_fn(move || {
        let start = rest + text[rest..].find(is_word_char)?;
        let end = text[start..]
            .find(|c| !is_word_char(c))
            .map_or(text.len(), |len| start + len);
        rest = end;
        Some(start..end)
    })
}

/// The three rules of [`looks_like_secret`] in [`Context::Text`].
fn is_secret_word(word: &str) -> bool {
    let pieces = || word.split(|c: char| !c.is_ascii_alphanumeric());
    let is_token = |piece: &str| piece.starts_with("EAA") && piece.len() >= TOKEN_MIN;
    let alphanumeric: Vec<u8> = word.bytes().filter(u8::is_ascii_alphanumeric).collect();
    pieces().any(is_token) || is_hex_key(&alphanumeric) || looks_random(&alphanumeric)
}

fn is_hex_key(alphanumeric: &[u8]) -> bool {
    alphanumeric.len() >= HEX_MIN
        && alphanumeric.iter().all(u8::is_ascii_hexdigit)
        && alphanumeric.iter().any(u8::is_ascii_digit)
        && alphanumeric.iter().any(u8::is_ascii_alphabetic)
}

fn looks_random(alphanumeric: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum Class {
        Lower,
        Upper,
        Digit,
    }
    let class = |byte: &u8| {
        if byte.is_ascii_lowercase() {
            Class::Lower
        } else if byte.is_ascii_uppercase() {
            Class::Upper
        } else {
            Class::Digit
        }
    };
    if alphanumeric.len() < RANDOM_MIN
        || !alphanumeric.iter().any(u8::is_ascii_digit)
        || !alphanumeric.iter().any(u8::is_ascii_alphabetic)
    {
        return false;
    }
    let changes = alphanumeric
        .windows(2)
        .filter(|pair| class(&pair[0]) != class(&pair[1]))
        .count();
    let mixed_case = alphanumeric.iter().any(u8::is_ascii_lowercase)
        && alphanumeric.iter().any(u8::is_ascii_uppercase);
    // In one case, only digits make changes, and names have few digit
    // groups: `graphform-admin-2024`.
    let every = if mixed_case { 3 } else { 6 };
    changes * every >= alphanumeric.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "EAABKcBEKanD0F0rPZkcHFuep88VxcA3iMwyAs0RqDlRtQxiDX3pCNycLapim86tIxX5puQJCBEePLu2Gk1oApccFt0MQeI72fjyK8x6Mjh9XXgCkZm8wBACpRrjNHl3hrDtkQP80lXlEXwuBoaITcv5upfqCzLky63FR5pVH6rHEMFekFRD5zi";

    fn text(value: &str) -> bool {
        looks_like_secret(value, Context::Text)
    }

    /// Asserts that, in `context`, each of `secrets` looks like a secret
    /// and none of `others` does.
    fn judges(context: Context, secrets: &[&str], others: &[&str]) {
        for secret in secrets {
            assert!(looks_like_secret(secret, context), "missed {secret}");
        }
        for other in others {
            assert!(
                !looks_like_secret(other, context),
                "{other} taken for a secret"
            );
        }
    }

    #[test]
    fn meta_tokens_are_secrets() {
        judges(
            Context::Text,
            &[
                TOKEN,
                "EAAGm0PX4ZCpsBAKZCZBZA",
                // Even glued to a name, as in a pasted `export` line.
                "ACME_TOKEN-EAAGm0PX4ZCpsBAKZCZBZA",
            ],
            // A name that happens to start with EAA is not.
            &["EAAS_ADMIN_TOKEN", "EAAB1234"],
        );
    }

    #[test]
    fn long_hex_is_a_secret() {
        judges(
            Context::Text,
            &[
                "dbcf5e3d10e21b243ef4edea8eda47a1",
                "DBCF5E3D10E21B243EF4EDEA8EDA47A1",
            ],
            &[
                "dbcf5e3d10e21b24", // too short to tell
                // Meta IDs are digits, and short.
                "100000000000001",
                "10000000000000120000000000000013",
            ],
        );
    }

    #[test]
    fn long_random_words_are_secrets() {
        judges(
            Context::Text,
            &[
                "z9doL3FLlfnKu9sUZySx/ky2AmN725AIUo+aA20Wzi",
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "AGE-SECRET-KEY-1QQPQ8Y0V5ZRD7S5V9PJX3KV8QZ9N6JXW8L2G4T7H5R3F0D2S6A9C4E",
                "k3j9x2m8q7w4e1r6t5y0u3i8o2p7a9s4",
            ],
            &[],
        );
    }

    #[test]
    fn names_words_and_paths_are_not_secrets() {
        judges(
            Context::Text,
            &[],
            &[
                "REPORTING_APP_SECRET",
                "ACME_ADMIN_TOKEN_2024_PRODUCTION",
                "graphform-admin-2024-01-15-rotation",
                "pages_manage_engagement",
                "examples/multi-business/acme",
                "MyServiceName2024ProductionToken",
                "sha256",
                "v25",
                "",
            ],
        );
    }

    /// Random strings of the usual alphabets are caught, nearly always
    /// from 24 characters on (the 24-character ones missed have no digit).
    #[test]
    fn random_strings_are_caught() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(bound).unwrap()).unwrap()
        };
        let base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let base36 = "abcdefghijklmnopqrstuvwxyz0123456789";
        for (alphabet, length, at_least) in [
            (base62, 24, 970),
            (base62, 40, 995),
            (base36, 32, 980),
            (base36, 40, 990),
        ] {
            let caught = (0..1000)
                .filter(|_| {
                    let word: String = (0..length)
                        .map(|_| char::from(alphabet.as_bytes()[next(alphabet.len())]))
                        .collect();
                    text(&word)
                })
                .count();
            assert!(
                caught >= at_least,
                "{caught}/1000 of length {length} over {alphabet}"
            );
        }
    }

    #[test]
    fn in_an_env_field_a_long_non_name_is_a_secret() {
        judges(
            Context::EnvName,
            &[
                TOKEN,
                "correct-horse-battery-staple",
                "hvs.CAESIJ3kx8mQ2vR7tY9wB4nL6pZ",
                "3f2c9a1e-7b4d-4e8f-9a6c-2d1b5e7f8a9c",
            ],
            // Names, and short mistakes that `invalid-env-name` explains.
            &[
                "ACME_ADMIN_TOKEN",
                "publisher-app-secret",
                "MY_VERY_LONG_ENVIRONMENT_VARIABLE_NAME_2",
            ],
        );
    }

    #[test]
    fn masks_keep_four_characters_and_the_length() {
        assert_eq!(mask(TOKEN), "EAAB…(redacted, 183 characters)");
        assert!(!text(&mask(TOKEN)), "masking twice changes nothing");
        assert_eq!(
            redact("token_env: dbcf5e3d10e21b243ef4edea8eda47a1 # app"),
            "token_env: dbcf…(redacted, 32 characters) # app"
        );
        assert!(matches!(
            redact("scopes: [ads_read]"),
            Cow::Borrowed("scopes: [ads_read]")
        ));
    }

    #[test]
    fn masked_lines_move_carets_with_the_text() {
        let line = r#"  a: "correct horse", b: EAAGm0PX4ZCpsBAKZCZBZA, c: x"#;
        let forced = 5..20; // `"correct horse"`, quotes included
        let masked = mask_line(line, &[forced]);
        assert_eq!(
            masked.text,
            r#"  a: "corr…(redacted, 13 characters)", b: EAAG…(redacted, 22 characters), c: x"#
        );
        let c = line.find("c:").unwrap();
        assert_eq!(masked.text[masked.text.find("c:").unwrap()..], line[c..]);
        // Chars before the first mask stay; positions inside a mask snap to
        // its ends; after it, they shift.
        assert_eq!(masked.position(2, false), 2);
        assert_eq!(masked.position(8, false), 6);
        assert_eq!(masked.position(8, true), 6 + 30);
        let c_chars = line[..c].chars().count();
        let masked_c_chars = masked.text[..masked.text.find("c:").unwrap()]
            .chars()
            .count();
        assert_eq!(masked.position(c_chars, false), masked_c_chars);
        // A span that runs on over the closing quote and a space.
        assert_eq!(
            mask_line(r#"k: "abcdef ghi" }"#, std::slice::from_ref(&(3..16))).text,
            r#"k: "abcd…(redacted, 10 characters)" }"#
        );
    }
}
