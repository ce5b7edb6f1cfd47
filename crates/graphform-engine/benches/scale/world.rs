//! The generated world, policy and credentials: B businesses, each with
//! one app and an admin system user, U managed system users and T tokens
//! each.

use std::fmt::Write as _;

use graphform_emulator::World;
use graphform_engine::observe::Credentials;
use graphform_graph::{AppCredentials, Secret, UserToken};

/// 2026-01-01 00:00 UTC, the emulator's frozen clock at the start.
pub(crate) const START: i64 = 1_767_225_600;
pub(crate) const DAY: i64 = 24 * 60 * 60;

/// B businesses × U system users × T tokens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub(crate) businesses: usize,
    pub(crate) users: usize,
    pub(crate) tokens: usize,
}

impl Shape {
    pub(crate) fn total(self) -> usize {
        self.businesses * self.users * self.tokens
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let numbers: Vec<usize> = text
            .split('x')
            .map(|part| {
                part.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad size `{text}`"))
            })
            .collect::<Result<_, _>>()?;
        let shape = match numbers[..] {
            [n] if n > 0 && n % 50 == 0 => Self {
                businesses: n / 50,
                users: 5,
                tokens: 10,
            },
            [businesses, users, tokens] => Self {
                businesses,
                users,
                tokens,
            },
            _ => return Err(format!("bad size `{text}`: N, a multiple of 50, or BxUxT")),
        };
        if shape.total() == 0 || shape.users > 10 {
            return Err(format!(
                "bad size `{text}`: the emulator allows 1 to 10 system users per business"
            ));
        }
        Ok(shape)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.businesses, self.users, self.tokens)
    }
}

/// The generated world: per business an app, an admin system user and its
/// token; the managed system users are created by the first apply.
pub(crate) fn world(shape: Shape) -> World {
    let sections: [(&str, &dyn Fn(usize) -> String); 4] = [
        ("businesses", &|b| {
            format!("id: \"{}\", name: b{b:03}", business_id(b))
        }),
        ("apps", &|b| {
            format!(
                "id: \"{}\", name: app{b:03}, business: \"{}\", secret: \"{}\", access_level: advanced",
                app_id(b),
                business_id(b),
                app_secret(b)
            )
        }),
        ("system_users", &|b| {
            format!(
                "id: \"{}\", name: admin, business: \"{}\", role: ADMIN",
                admin_id(b),
                business_id(b)
            )
        }),
        ("admin_tokens", &|b| {
            format!(
                "system_user: \"{}\", app: \"{}\", token: \"{}\"",
                admin_id(b),
                app_id(b),
                admin_token(b)
            )
        }),
    ];
    let mut yaml = format!("clock_start: {START}\nseed: 12\n");
    for (name, entry) in sections {
        let _ = writeln!(yaml, "{name}:");
        for b in 0..shape.businesses {
            let _ = writeln!(yaml, "  - {{ {} }}", entry(b));
        }
    }
    World::from_yaml_str(&yaml).expect("a valid generated world")
}

/// Meta's IDs of business `b`, its app and its admin system user.
fn business_id(b: usize) -> usize {
    100_000_000_000_001 + b
}

fn app_id(b: usize) -> usize {
    200_000_000_000_001 + b
}

fn admin_id(b: usize) -> usize {
    300_000_000_000_001 + b
}

fn app_secret(business: usize) -> String {
    format!("bench-app-secret-{business:06}")
}

fn admin_token(business: usize) -> String {
    format!("EAAbenchadmin{business:06}{}", "x".repeat(32))
}

/// The policy: every system user holds T 60-day tokens of its business's
/// app (refreshed 20 days before they expire, replaced ones revoked a day
/// later).
pub(crate) fn policy(shape: Shape) -> graphform_spec::Spec {
    let mut text = String::from("version: 1\nbusinesses:\n");
    for b in 0..shape.businesses {
        let _ = write!(
            text,
            "  - name: b{b:03}\n    id: \"{}\"\n    admin: {{ token_env: ADMIN_{b}, app: app }}\n\
             \x20   apps:\n      app: {{ id: \"{}\", secret_env: SECRET_{b} }}\n    system_users:\n",
            business_id(b),
            app_id(b)
        );
        for u in 0..shape.users {
            let _ = writeln!(
                text,
                "      - name: u{u:02}\n        apps: [app]\n        tokens:"
            );
            for t in 0..shape.tokens {
                let _ = writeln!(
                    text,
                    "          - {{ name: t{t:03}, app: app, scopes: [ads_read], refresh_before: 20d, grace: 1d }}"
                );
            }
        }
    }
    graphform_spec::load_texts(vec![("policy.yaml".into(), text)])
        .spec
        .expect("a valid generated policy")
}

pub(crate) fn credentials(shape: Shape) -> Credentials {
    let mut credentials = Credentials::default();
    for b in 0..shape.businesses {
        let app = AppCredentials::new(app_id(b).to_string(), Secret::new(app_secret(b)));
        credentials.admins.insert(
            format!("b{b:03}"),
            UserToken::new(Secret::new(admin_token(b)), app.clone()),
        );
        credentials.apps.insert(app.app_id().to_owned(), app);
    }
    credentials
}
