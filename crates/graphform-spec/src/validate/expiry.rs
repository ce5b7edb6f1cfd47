//! Durations and expiry: the `defaults` section, and each token's
//! `expiry`, `refresh_before`, `grace` and `rotate_every` (its own, else the
//! defaults), with the rules that tie them together (a 60-day token is
//! refreshed in time and its predecessor revoked before the next refresh; a
//! never-expiring token is rotated, if at all, on a period longer than
//! `grace`).

use super::Validator;
use super::place::{At, Placed};
use crate::diagnostic::Code;
use crate::raw::{RawDefaults, RawToken};
use crate::spec::{Duration, Expiry, SIXTY_DAYS};
use crate::suggest::did_you_mean;

/// The duration defaults of policy.md.
const DEFAULT_REFRESH_BEFORE: Duration = Duration::days(20);
/// The `grace` of a policy that sets none; also what a token removed from
/// the policy with its whole business keeps.
pub const DEFAULT_GRACE: Duration = Duration::hours(24);

/// The `defaults` section resolved: each value, and where it was written
/// when it was.
pub(super) struct Defaults<'a> {
    expiry: Placed<'a, Option<&'a str>>,
    refresh_before: Placed<'a, Duration>,
    grace: Placed<'a, Duration>,
    rotate_every: Placed<'a, Option<Duration>>,
}

impl Defaults<'_> {
    /// `defaults.grace`, or its default.
    pub(super) fn grace(&self) -> Duration {
        self.grace.value
    }
}

impl Validator {
    pub(super) fn defaults<'a>(&mut self, raw: Option<(&'a RawDefaults, At<'a>)>) -> Defaults<'a> {
        let (defaults, at) = match raw {
            Some((defaults, at)) => (Some(defaults), Some(at)),
            None => (None, None),
        };
        let field = |name: &str| at.map(|at| at.field(name));
        let expiry = defaults.and_then(|d| d.expiry.as_deref());
        if let (Some(expiry), Some(at)) = (expiry, field("expiry")) {
            self.expiry_mode(expiry, at);
        }
        // A duration that is set but invalid is reported, and replaced by
        // the default so its tokens are still checked.
        let mut duration = |name: &str, get: fn(&RawDefaults) -> Option<&String>| {
            let text = defaults.and_then(get);
            let at = text.and(field(name));
            Placed {
                value: text.zip(at).and_then(|(text, at)| self.duration(text, at)),
                at,
            }
        };
        Defaults {
            expiry: Placed {
                value: expiry,
                at: field("expiry"),
            },
            refresh_before: duration("refresh_before", |d| d.refresh_before.as_ref())
                .map(|value| value.unwrap_or(DEFAULT_REFRESH_BEFORE)),
            grace: duration("grace", |d| d.grace.as_ref())
                .map(|value| value.unwrap_or(DEFAULT_GRACE)),
            rotate_every: duration("rotate_every", |d| d.rotate_every.as_ref()),
        }
    }

    /// A token's expiry and grace: its own values, else the defaults, and
    /// the rules that tie them together.
    pub(super) fn token_expiry(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        defaults: &Defaults<'_>,
    ) -> Option<(Expiry, Duration)> {
        let mode_at = at.field("expiry");
        let never = match raw.expiry.as_deref() {
            Some(text) => self.expiry_mode(text, mode_at),
            // An invalid default was reported at `defaults.expiry`.
            None => Some(defaults.expiry.value == Some("never")),
        };
        let refresh_before = self.own_duration(
            at,
            "refresh_before",
            raw.refresh_before.as_ref(),
            defaults.refresh_before,
        );
        let grace = self.own_duration(at, "grace", raw.grace.as_ref(), defaults.grace);
        let rotate_every = match raw.rotate_every.as_ref() {
            Some(text) => Some(self.placed_duration(at, "rotate_every", text)?.map(Some)),
            None => None,
        };
        let (never, refresh_before, grace) = (never?, refresh_before?, grace?);
        if !never {
            return self
                .sixty_day_rules(at, raw, refresh_before, grace)
                .then_some((
                    Expiry::SixtyDays {
                        refresh_before: refresh_before.value,
                    },
                    grace.value,
                ));
        }
        let rotate_every = rotate_every.unwrap_or(defaults.rotate_every);
        if raw.refresh_before.is_some() {
            self.push(
                at.key("refresh_before").warning(Code::NotApplicable, "`refresh_before` has no effect on a never-expiring token")
                    .help("never-expiring tokens are never refreshed; use `rotate_every` to re-issue them on a period"),
            );
        }
        match rotate_every.value {
            None => self.push(
                mode_at.node.map_or(*at, |_| mode_at).warning(Code::Risky, "never-expiring token without `rotate_every`")
                    .label("stays valid until someone revokes it")
                    .help("set `rotate_every` (for example `90d`) so a leaked copy stops working in time"),
            ),
            Some(period) if period <= grace.value => {
                self.push(
                    rotate_every.at.unwrap_or(*at).error(
                        Code::DurationOrder,
                        format!("`rotate_every` ({period}) must be longer than `grace` ({})", grace.value),
                    )
                    .help("otherwise a new rotation starts before the previous token is revoked"),
                );
                return None;
            }
            Some(_) => {}
        }
        Some((
            Expiry::Never {
                rotate_every: rotate_every.value,
            },
            grace.value,
        ))
    }

    /// The rules of 60-day tokens; false when one is broken.
    fn sixty_day_rules(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        refresh_before: Placed<'_, Duration>,
        grace: Placed<'_, Duration>,
    ) -> bool {
        if raw.rotate_every.is_some() {
            self.push(
                at.key("rotate_every").error(Code::NotApplicable, "`rotate_every` applies only to never-expiring tokens")
                    .help("60-day tokens are refreshed before they expire; remove `rotate_every`, or set `expiry: never`"),
            );
            return false;
        }
        if refresh_before.value >= SIXTY_DAYS || refresh_before.value == Duration::days(0) {
            self.push(
                refresh_before.at.unwrap_or(*at).error(
                    Code::DurationOrder,
                    format!(
                        "`refresh_before` is {}, but must be between 1m and 60d",
                        refresh_before.value
                    ),
                )
                .label("a 60-day token could never be refreshed in time")
                .help(format!(
                    "the default is {DEFAULT_REFRESH_BEFORE}: refresh when less than 20 days remain"
                )),
            );
            return false;
        }
        if grace.value >= refresh_before.value {
            self.push(
                grace.at.or(refresh_before.at).unwrap_or(*at).error(
                    Code::DurationOrder,
                    format!("`grace` ({}) must be shorter than `refresh_before` ({})", grace.value, refresh_before.value),
                )
                .label("the old token would outlive the refresh window")
                .help("a refreshed token's predecessor is revoked after `grace`; keep it well inside `refresh_before`"),
            );
            return false;
        }
        true
    }

    /// A token's own duration when it sets one (`None` if that is invalid),
    /// else the default.
    fn own_duration<'a>(
        &mut self,
        at: &At<'a>,
        name: &str,
        value: Option<&String>,
        default: Placed<'a, Duration>,
    ) -> Option<Placed<'a, Duration>> {
        match value {
            None => Some(default),
            Some(text) => self.placed_duration(at, name, text),
        }
    }

    /// The duration `text` of the field `name` at `at`, with its place.
    fn placed_duration<'a>(
        &mut self,
        at: &At<'a>,
        name: &str,
        text: &str,
    ) -> Option<Placed<'a, Duration>> {
        let field = at.field(name);
        self.duration(text, field).map(|value| Placed {
            value,
            at: Some(field),
        })
    }

    fn expiry_mode(&mut self, text: &str, at: At<'_>) -> Option<bool> {
        match text {
            "60d" => Some(false),
            "never" => Some(true),
            other => {
                let help = if Duration::parse_policy(other).is_some() {
                    "Meta issues 60-day or never-expiring system-user tokens only".to_owned()
                } else {
                    did_you_mean(other, ["60d", "never"]).unwrap_or_else(|| EXPIRY_HELP.to_owned())
                };
                self.push(
                    at.error(Code::InvalidValue, format!("unknown expiry `{other}`"))
                        .label("expected `60d` or `never`")
                        .help(help),
                );
                None
            }
        }
    }

    fn duration(&mut self, text: &str, at: At<'_>) -> Option<Duration> {
        let parsed = Duration::parse_policy(text);
        if parsed.is_none() {
            self.push(
                at.error(Code::InvalidDuration, format!("invalid duration `{text}`"))
                    .label("expected `<n>d`, `<n>h` or `<n>m`")
                    .help(duration_hint(text)),
            );
        }
        parsed
    }
}

/// What an expiry is, for someone who wrote another one.
const EXPIRY_HELP: &str = "use `60d` (the default) or `never`";

/// How to write the value of `field` for someone who wrote `text`, a
/// number or a boolean, when `field` is one of this module's (`expiry: 60`,
/// `grace: 24`): the type error's hint, in place of quoting the value,
/// which would only make it an invalid expiry or duration.
pub(crate) fn scalar_hint(field: &str, text: &str) -> Option<String> {
    match field {
        "expiry" => Some(EXPIRY_HELP.to_owned()),
        "refresh_before" | "grace" | "rotate_every" => Some(duration_hint(text)),
        _ => None,
    }
}

fn duration_hint(text: &str) -> String {
    let trimmed = text.trim();
    let long_units = [
        ("days", 'd'),
        ("day", 'd'),
        ("hours", 'h'),
        ("hour", 'h'),
        ("minutes", 'm'),
        ("minute", 'm'),
        ("mins", 'm'),
        ("min", 'm'),
    ];
    for (word, unit) in long_units {
        if let Some(number) = trimmed.strip_suffix(word) {
            let number = number.trim();
            if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) {
                return format!("write `{number}{unit}`");
            }
        }
    }
    for suffix in ["weeks", "week", "w"] {
        if let Some(Ok(weeks)) = trimmed
            .strip_suffix(suffix)
            .map(|number| number.trim().parse::<u64>())
        {
            return format!("weeks are not a unit: write `{}d`", weeks.saturating_mul(7));
        }
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return format!("add a unit: `{trimmed}d`, `{trimmed}h` or `{trimmed}m`");
    }
    "for example `20d`, `36h` or `90m`".to_owned()
}
