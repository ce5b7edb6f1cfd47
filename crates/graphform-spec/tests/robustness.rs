//! The loader never panics, whatever it is given.

use proptest::prelude::*;

fn load(text: String) -> graphform_spec::Loaded {
    graphform_spec::load_texts(vec![("fuzz.yaml".into(), text)])
}

/// Fragments of valid and broken policies, glued together at random, reach
/// deeper than random bytes do.
const FRAGMENTS: &[&str] = &[
    "version: 1\n",
    "version: x\n",
    "businesses:\n",
    "  - name: acme\n",
    "    id: \"1\"\n",
    "    id: 1\n",
    "    admin: { token_env: A, app: r }\n",
    "    apps:\n",
    "      r: { id: \"2\", secret_env: S }\n",
    "    system_users:\n",
    "      - name: u\n",
    "        apps: [r]\n",
    "        tokens:\n",
    "          - name: t\n",
    "            app: r\n",
    "            scopes: [ads_read]\n",
    "            expiry: never\n",
    "defaults: { grace: 2d, refresh_before: 1d }\n",
    "store: { type: vault }\n",
    "&a [",
    "*a\n",
    "*b\n",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "\t",
    "---\n",
    "? ",
    "!!str ",
    "<<: *a\n",
    "\u{feff}",
    "é",
    "\n",
    "  ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC*") {
        let loaded = load(text);
        prop_assert!(loaded.spec.is_some() || loaded.error_count() > 0);
    }

    #[test]
    fn random_policy_fragments_never_panic(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..40)) {
        let loaded = load(parts.concat());
        prop_assert!(loaded.spec.is_some() || loaded.error_count() > 0);
        for diagnostic in &loaded.diagnostics {
            let rendered = graphform_spec::render(diagnostic, &loaded.sources, true);
            prop_assert!(!rendered.is_empty());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let loaded = load(text);
        prop_assert!(loaded.spec.is_some() || loaded.error_count() > 0);
    }
}
