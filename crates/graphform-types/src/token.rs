//! What a system user and its tokens are, in Meta's terms: [`Role`],
//! [`ExpiryMode`] and the 60-day lifetime.

use std::fmt;
use std::str::FromStr;

use crate::time::Duration;

/// The lifetime Meta gives an expiring system-user token (graph-api.md,
/// "Token lifetimes"), and the span a refresh restarts.
pub const SIXTY_DAYS: Duration = Duration::days(60);

/// How a token expires, as the policy asks and the store records.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum ExpiryMode {
    /// A 60-day token (`set_token_expires_in_60_days=true`).
    #[serde(rename = "60d")]
    SixtyDays,
    /// A never-expiring token.
    #[serde(rename = "never")]
    Never,
}

impl ExpiryMode {
    /// `60d` or `never`, as the policy and the store write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SixtyDays => "60d",
            Self::Never => "never",
        }
    }
}

impl fmt::Display for ExpiryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! roles {
    ($($variant:ident => $name:literal,)*) => {
        /// A system user's role: the `role` enum of
        /// `POST /{business}/system_users` and of what Meta lists. The policy
        /// accepts `ADMIN` and `EMPLOYEE`; Meta may list any of these, and a
        /// role this list does not know is kept as [`Other`](Self::Other).
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Role {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant,
            )*
            /// A role this list does not know (as Meta sent it).
            Other(String),
        }

        impl Role {
            /// The wire name, e.g. `ADMIN`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Other(name) => name,
                }
            }
        }

        impl FromStr for Role {
            type Err = std::convert::Infallible;

            /// Case-insensitive; unknown names become [`Other`](Self::Other).
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $(if text.eq_ignore_ascii_case($name) {
                    return Ok(Self::$variant);
                })*
                Ok(Self::Other(text.to_owned()))
            }
        }
    };
}

roles! {
    Admin => "ADMIN",
    AdsRightsReviewer => "ADS_RIGHTS_REVIEWER",
    Default => "DEFAULT",
    Developer => "DEVELOPER",
    Employee => "EMPLOYEE",
    FinanceAnalyst => "FINANCE_ANALYST",
    FinanceEdit => "FINANCE_EDIT",
    FinanceEditor => "FINANCE_EDITOR",
    FinanceView => "FINANCE_VIEW",
    Manage => "MANAGE",
    PartnerCenterAdmin => "PARTNER_CENTER_ADMIN",
    PartnerCenterAnalyst => "PARTNER_CENTER_ANALYST",
    PartnerCenterEducation => "PARTNER_CENTER_EDUCATION",
    PartnerCenterMarketing => "PARTNER_CENTER_MARKETING",
    PartnerCenterOperations => "PARTNER_CENTER_OPERATIONS",
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_keep_unknown_ones() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!(Role::FinanceEditor.as_str(), "FINANCE_EDITOR");
        let other: Role = "NEW_ROLE".parse().unwrap();
        assert_eq!(other, Role::Other("NEW_ROLE".to_owned()));
        assert_eq!(
            serde_json::to_string(&Role::Employee).unwrap(),
            r#""EMPLOYEE""#
        );
        assert_eq!(
            serde_json::from_str::<Role>(r#""ADMIN""#).unwrap(),
            Role::Admin
        );
    }

    #[test]
    fn expiry_modes_are_written_as_the_policy_writes_them() {
        assert_eq!(
            serde_json::to_string(&ExpiryMode::SixtyDays).unwrap(),
            r#""60d""#
        );
        assert_eq!(
            serde_json::to_string(&ExpiryMode::Never).unwrap(),
            r#""never""#
        );
        assert_eq!(SIXTY_DAYS.as_secs(), 60 * 86_400);
    }
}
