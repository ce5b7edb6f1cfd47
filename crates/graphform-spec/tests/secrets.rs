//! A secret pasted into the policy is never printed back, whether it sits
//! where an environment variable's name belongs or anywhere else on a line
//! that a diagnostic quotes. See issue 10.

use graphform_spec::{Code, Loaded, load_texts, render};

/// A Meta token as Meta issues them: `EAA` and ~180 base62 characters.
const TOKEN: &str = "EAABKcBEKanD0F0rPZkcHFuep88VxcA3iMwyAs0RqDlRtQxiDX3pCNycLapim86tIxX5puQJCBEePLu2Gk1oApccFt0MQeI72fjyK8x6Mjh9XXgCkZm8wBACpRrjNHl3hrDtkQP80lXlEXwuBoaITcv5upfqCzLky63FR5pVH6rHEMFekFRD5zi";
/// An app secret: 32 lowercase hex digits.
const APP_SECRET: &str = "dbcf5e3d10e21b243ef4edea8eda47a1";
/// A store key that looks like base64.
const STORE_KEY: &str = "z9doL3FLlfnKu9sUZySx/ky2AmN725AIUo+aA20Wzi";
/// A passphrase: it looks like words, but no environment variable is
/// named so; on its line, the bad app ID's diagnostic must mask it too.
const PASSPHRASE: &str = "correct-horse-battery-staple";
/// Another token, in a comment on a line with an unrelated error.
const OLD_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCZBZAZCZBZAXq3ZCZBoldoldold";

const SECRETS: [&str; 5] = [TOKEN, APP_SECRET, STORE_KEY, PASSPHRASE, OLD_TOKEN];

fn policy() -> String {
    format!(
        "\
version: 1
defaults:
  grace: 2 days  # the old token was {OLD_TOKEN}
store:
  type: file
  key_env: {STORE_KEY}
businesses:
  - name: acme
    id: \"100000000000001\"
    admin:
      token_env: {TOKEN}
      app: reporting
    apps:
      reporting: {{ id: \"200000000000001\", secret_env: {APP_SECRET} }}
      publisher: {{ id: \"20000000000000x\", secret_env: \"{PASSPHRASE}\" }}
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokne: {TOKEN}
        tokens:
          - name: insights-read
            app: reporting
            scopes: [ads_read, read_insights]
"
    )
}

fn load() -> Loaded {
    load_texts(vec![("graphform.yaml".into(), policy())])
}

/// Fails when `shown` holds any part of a secret beyond the first four
/// characters that its masked form keeps.
fn assert_no_secret(shown: &str) {
    for secret in SECRETS {
        let tail: String = secret.chars().skip(4).take(10).collect();
        assert!(
            !shown.contains(&tail),
            "`{tail}` of a secret is printed:\n{shown}"
        );
    }
}

#[test]
fn diagnostics_hold_no_secret_for_json_output() {
    let loaded = load();
    assert!(loaded.spec.is_none());
    for diagnostic in &loaded.diagnostics {
        assert_no_secret(&diagnostic.message);
        assert_no_secret(diagnostic.label.as_deref().unwrap_or_default());
        assert_no_secret(diagnostic.help.as_deref().unwrap_or_default());
    }
}

#[test]
fn rendered_diagnostics_mask_secrets_in_messages_and_source_lines() {
    let loaded = load();
    let mut all = String::new();
    for color in [false, true] {
        for diagnostic in &loaded.diagnostics {
            let rendered = render(diagnostic, &loaded.sources, color);
            assert_no_secret(&rendered);
            if !color {
                all.push_str(&rendered);
                all.push('\n');
            }
        }
    }
    insta::assert_snapshot!(all);
}

#[test]
fn a_secret_where_a_variable_name_belongs_is_named_masked_with_a_hint() {
    let loaded = load();
    let secrets: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::SecretInPolicy)
        .collect();
    // token_env, key_env and both secret_env.
    assert_eq!(secrets.len(), 4, "{:#?}", loaded.diagnostics);
    let token = secrets
        .iter()
        .find(|d| d.message.contains("EAAB"))
        .expect("the admin token is reported");
    assert!(
        token.message.contains("`EAAB…(redacted, 183 characters)`"),
        "{}",
        token.message
    );
    for diagnostic in &secrets {
        assert_eq!(
            diagnostic.help.as_deref(),
            Some(
                "this looks like a secret, not an environment variable name: put the value in an \
                 environment variable and write its name here; treat the value as leaked and rotate it"
            )
        );
    }
}
