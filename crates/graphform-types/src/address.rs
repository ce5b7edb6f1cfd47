//! Addresses: the stable names of managed objects (design.md §2).
//!
//! ```text
//! acme/ci-reporting                        a system user   SystemUserAddress
//! acme/ci-reporting/app/reporting          an app install  InstallAddress
//! acme/ci-reporting/token/insights-read    a token         TokenAddress
//! ```
//!
//! Every segment is a policy name, `[a-z0-9][a-z0-9-]*`. Addresses are
//! parsed once, where text enters graphform (a store, a journal, a plan
//! file), and travel parsed: nothing splits them on `/` again. They
//! serialize as their text, so files written before these types existed
//! read the same.
//!
//! Addresses order by business, then system user, then the system user's
//! own address before its installs before its tokens: a plan or a store
//! listing reads as a tree.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// The longest segment an address may have (a store path component).
pub const MAX_SEGMENT_LEN: usize = 64;

/// Why a text is not an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not {expected}: {reason}")]
pub struct AddressError {
    /// The text (never a secret: addresses are names).
    pub text: String,
    /// What was expected, e.g. "a token address (business/system-user/token/name)".
    pub expected: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Whether `name` is a valid address segment: `[a-z0-9][a-z0-9-]*`, at most
/// [`MAX_SEGMENT_LEN`] characters.
pub fn is_name(name: &str) -> bool {
    name_problem(name).is_none()
}

fn name_problem(name: &str) -> Option<String> {
    let first = name.chars().next()?;
    if name.len() > MAX_SEGMENT_LEN {
        return Some(format!(
            "a segment is longer than {MAX_SEGMENT_LEN} characters"
        ));
    }
    if first == '-' {
        return Some(format!("`{name}` starts with `-`"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        .map(|bad| format!("{bad:?} is not allowed (segments are `[a-z0-9-]`, joined by `/`)"))
}

/// A system user: `business/system-user`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemUserAddress {
    business: String,
    name: String,
}

/// An app installed for a system user: `business/system-user/app/app`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstallAddress {
    system_user: SystemUserAddress,
    app: String,
}

/// A token of a system user: `business/system-user/token/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAddress {
    system_user: SystemUserAddress,
    name: String,
}

/// Any address: what a plan's change or notice is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A system user.
    SystemUser(SystemUserAddress),
    /// An app install.
    Install(InstallAddress),
    /// A token.
    Token(TokenAddress),
}

impl SystemUserAddress {
    /// The address of system user `name` of business `business` (both
    /// policy names, already validated).
    pub fn new(business: &str, name: &str) -> Self {
        debug_assert!(is_name(business) && is_name(name), "{business}/{name}");
        Self {
            business: business.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The business's policy name.
    pub fn business(&self) -> &str {
        &self.business
    }

    /// The system user's policy name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of app `app` installed for this system user.
    pub fn install(&self, app: &str) -> InstallAddress {
        debug_assert!(is_name(app), "{app}");
        InstallAddress {
            system_user: self.clone(),
            app: app.to_owned(),
        }
    }

    /// The address of this system user's token `name`.
    pub fn token(&self, name: &str) -> TokenAddress {
        debug_assert!(is_name(name), "{name}");
        TokenAddress {
            system_user: self.clone(),
            name: name.to_owned(),
        }
    }
}

impl InstallAddress {
    /// The system user the app is installed for.
    pub fn system_user(&self) -> &SystemUserAddress {
        &self.system_user
    }

    /// The app's policy name.
    pub fn app(&self) -> &str {
        &self.app
    }
}

impl TokenAddress {
    /// The address of token `token` of system user `system_user` in
    /// `business`.
    pub fn new(business: &str, system_user: &str, token: &str) -> Self {
        SystemUserAddress::new(business, system_user).token(token)
    }

    /// The system user the token belongs to.
    pub fn system_user(&self) -> &SystemUserAddress {
        &self.system_user
    }

    /// The token's policy name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Address {
    /// The system user the address is of (itself for a system user).
    pub fn system_user(&self) -> &SystemUserAddress {
        match self {
            Self::SystemUser(user) => user,
            Self::Install(install) => install.system_user(),
            Self::Token(token) => token.system_user(),
        }
    }

    /// The business's policy name.
    pub fn business(&self) -> &str {
        self.system_user().business()
    }

    /// The token address, if this is one.
    pub fn as_token(&self) -> Option<&TokenAddress> {
        match self {
            Self::Token(token) => Some(token),
            _ => None,
        }
    }

    /// The install address, if this is one.
    pub fn as_install(&self) -> Option<&InstallAddress> {
        match self {
            Self::Install(install) => Some(install),
            _ => None,
        }
    }

    /// The rank of the kind in the address order: the system user itself,
    /// then its installs, then its tokens.
    fn rank(&self) -> (u8, &str) {
        match self {
            Self::SystemUser(_) => (0, ""),
            Self::Install(install) => (1, install.app()),
            Self::Token(token) => (2, token.name()),
        }
    }
}

impl Ord for Address {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.system_user()
            .cmp(other.system_user())
            .then_with(|| self.rank().cmp(&other.rank()))
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl From<&Address> for Address {
    fn from(address: &Address) -> Self {
        address.clone()
    }
}

impl fmt::Display for SystemUserAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.business, self.name)
    }
}

impl fmt::Display for InstallAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/app/{}", self.system_user, self.app)
    }
}

impl fmt::Display for TokenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/token/{}", self.system_user, self.name)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SystemUser(address) => address.fmt(f),
            Self::Install(address) => address.fmt(f),
            Self::Token(address) => address.fmt(f),
        }
    }
}

const ANY: &str = "an address (business/system-user, or …/app/name, or …/token/name)";
const SYSTEM_USER: &str = "a system-user address (business/system-user)";
const INSTALL: &str = "an install address (business/system-user/app/name)";
const TOKEN: &str = "a token address (business/system-user/token/name)";

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text, ANY)
    }
}

impl Address {
    /// Parses `text` as any address; errors say `expected` was expected,
    /// and a text of three segments gets the address it most likely
    /// meant, of that kind.
    fn parse(text: &str, expected: &'static str) -> Result<Self, AddressError> {
        let error = |reason: String| AddressError {
            text: text.to_owned(),
            expected,
            reason,
        };
        let segments: Vec<&str> = text.split('/').collect();
        if let Some(problem) = segments.iter().find_map(|segment| {
            if segment.is_empty() {
                Some("it has an empty segment (a leading, trailing or doubled `/`)".to_owned())
            } else {
                name_problem(segment)
            }
        }) {
            return Err(error(problem));
        }
        match segments.as_slice() {
            [business, user] => Ok(Self::SystemUser(SystemUserAddress::new(business, user))),
            [business, user, "app", app] => Ok(Self::Install(
                SystemUserAddress::new(business, user).install(app),
            )),
            [business, user, "token", token] => {
                Ok(Self::Token(TokenAddress::new(business, user, token)))
            }
            [_, _, kind, _] => Err(error(format!(
                "the third segment is `{kind}`; it must be `app` or `token`"
            ))),
            // `acme/ci-reporting/insights-read`: the kind left out.
            [business, user, name] if expected != SYSTEM_USER => {
                let token = format!("`{business}/{user}/token/{name}`");
                let install = format!("`{business}/{user}/app/{name}`");
                let meant = match expected {
                    TOKEN => token,
                    INSTALL => install,
                    _ => format!("{token} (a token) or {install} (an app install)"),
                };
                Err(error(format!(
                    "it has 3 segments, without `token` or `app`; did you mean {meant}?"
                )))
            }
            _ => Err(error(format!(
                "it has {} segments; an address has 2 or 4",
                segments.len()
            ))),
        }
    }
}

/// Parses `text` as one kind of address, or says which kind was expected.
fn parse_kind<T>(
    text: &str,
    expected: &'static str,
    pick: impl FnOnce(Address) -> Option<T>,
) -> Result<T, AddressError> {
    let address = Address::parse(text, expected)?;
    pick(address).ok_or_else(|| AddressError {
        text: text.to_owned(),
        expected,
        reason: "it is another kind of address".to_owned(),
    })
}

/// For each kind of address: it converts into [`Address`] (owned or
/// borrowed), and parses from text of that kind only.
macro_rules! address_kind {
    ($($ty:ident => $variant:ident, $expected:expr;)*) => {$(
        impl From<$ty> for Address {
            fn from(address: $ty) -> Self {
                Self::$variant(address)
            }
        }

        impl From<&$ty> for Address {
            fn from(address: &$ty) -> Self {
                Self::$variant(address.clone())
            }
        }

        impl FromStr for $ty {
            type Err = AddressError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_kind(text, $expected, |address| match address {
                    Address::$variant(kind) => Some(kind),
                    _ => None,
                })
            }
        }
    )*};
}

address_kind! {
    SystemUserAddress => SystemUser, SYSTEM_USER;
    InstallAddress => Install, INSTALL;
    TokenAddress => Token, TOKEN;
}

/// Serde and JSON Schema as the address's text, for each address type.
macro_rules! text_serde {
    ($($ty:ident),*) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Cow::<'de, str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string" })
            }
        }
    )*};
}

text_serde!(Address, SystemUserAddress, InstallAddress, TokenAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_kind() {
        for text in [
            "acme/ci-reporting",
            "acme/ci-reporting/app/reporting",
            "acme/ci-reporting/token/insights-read",
        ] {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
            assert_eq!(address.business(), "acme");
            assert_eq!(address.system_user().name(), "ci-reporting");
        }
        let token: TokenAddress = "acme/su/token/t1".parse().unwrap();
        assert_eq!(token.name(), "t1");
        assert_eq!(token.system_user().to_string(), "acme/su");
        let install: InstallAddress = "acme/su/app/reporting".parse().unwrap();
        assert_eq!(install.app(), "reporting");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "acme",
            "acme/",
            "/acme/su",
            "acme//su",
            "acme/su/token",
            "acme/su/tokens/x",
            "acme/su/token/x/y",
            "acme/../su",
            "Acme/su",
            "acme/-su",
            "acme/s u",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        let long = format!("acme/{}", "a".repeat(MAX_SEGMENT_LEN + 1));
        assert!(long.parse::<Address>().is_err());
        let err = "acme/su/app/x".parse::<TokenAddress>().unwrap_err();
        assert!(err.to_string().contains("a token address"), "{err}");
        assert!("acme/su/token/x".parse::<SystemUserAddress>().is_err());
    }

    #[test]
    fn three_segments_are_given_the_address_they_meant() {
        let reason = |result: Result<(), AddressError>| result.unwrap_err().reason;
        assert_eq!(
            reason("acme/ci/insights-read".parse::<TokenAddress>().map(drop)),
            "it has 3 segments, without `token` or `app`; did you mean \
             `acme/ci/token/insights-read`?"
        );
        assert_eq!(
            reason("acme/ci/reporting".parse::<InstallAddress>().map(drop)),
            "it has 3 segments, without `token` or `app`; did you mean `acme/ci/app/reporting`?"
        );
        assert_eq!(
            reason("acme/ci/x".parse::<Address>().map(drop)),
            "it has 3 segments, without `token` or `app`; did you mean `acme/ci/token/x` (a \
             token) or `acme/ci/app/x` (an app install)?"
        );
        assert_eq!(
            reason("acme/ci/x".parse::<SystemUserAddress>().map(drop)),
            "it has 3 segments; an address has 2 or 4"
        );
    }

    #[test]
    fn orders_as_a_tree() {
        let mut addresses: Vec<Address> = [
            "acme/a/token/x",
            "acme/a-b/token/y",
            "acme/a/app/z",
            "acme/a",
            "acme/a-b",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        addresses.sort();
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "acme/a",
                "acme/a/app/z",
                "acme/a/token/x",
                "acme/a-b",
                "acme/a-b/token/y"
            ]
        );
    }

    #[test]
    fn serializes_as_text() {
        let token = TokenAddress::new("acme", "su", "t");
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(json, r#""acme/su/token/t""#);
        let back: TokenAddress = serde_json::from_str(&json).unwrap();
        assert_eq!(back, token);
        assert!(serde_json::from_str::<TokenAddress>(r#""acme/su""#).is_err());
        let any: Address = serde_json::from_str(r#""acme/su/app/x""#).unwrap();
        assert!(any.as_install().is_some());
    }
}
