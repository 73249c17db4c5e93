//! The item table is the single source of the item reference in
//! `docs/CONFIG.md` (a stale file fails here), and `authnz.example.toml`
//! shows every item with its default. Each item's default parses as its
//! kind. The only process variable read is `AUTHNZ_UPDATE_DOCS`: set to 1,
//! the test rewrites the generated part of `docs/CONFIG.md` instead of
//! failing (`cargo xtask docs` does that).

use std::path::Path;

use super::super::items::{self, DOCS_BEGIN, DOCS_END, ITEMS, ItemDefault, Kind};
use super::super::values::{ItemValue, parse_kind};
use super::super::{Config, Environment};
use super::{base_env, cli};

const CONFIG_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CONFIG.md");
const EXAMPLE_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/authnz.example.toml");

/// `doc` with the text between the markers replaced by the generated
/// reference; `None` when a marker is missing.
fn with_generated_reference(doc: &str) -> Option<String> {
    let begin = doc.find(DOCS_BEGIN)? + DOCS_BEGIN.len();
    let end = doc[begin..].find(DOCS_END)? + begin;
    Some(format!(
        "{}\n\n{}\n{}",
        &doc[..begin],
        items::reference_markdown(),
        &doc[end..]
    ))
}

#[test]
fn config_md_item_reference_is_current() {
    let doc = std::fs::read_to_string(CONFIG_MD).unwrap();
    let want = with_generated_reference(&doc)
        .unwrap_or_else(|| panic!("docs/CONFIG.md lacks the lines {DOCS_BEGIN} / {DOCS_END}"));
    if want == doc {
        return;
    }
    if std::env::var("AUTHNZ_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(CONFIG_MD, &want).unwrap();
        return;
    }
    panic!(
        "docs/CONFIG.md is stale: its item reference differs from the item table \
         (authnz-server/src/config/items.rs). Regenerate it with `cargo xtask docs`."
    );
}

#[test]
fn generated_reference_names_every_item() {
    let reference = items::reference_markdown();
    for item in ITEMS {
        assert!(reference.contains(&format!("### `{}`\n", item.key)));
        assert!(reference.contains(&format!("`--{} {}`", item.cli, item.value_name)));
        assert!(reference.contains(&format!("`{}`", item.env)));
        assert!(reference.contains(&item.help.replace('<', "\\<")));
    }
}

#[test]
fn every_literal_default_parses_as_its_kind() {
    for item in ITEMS {
        let ItemDefault::Literal(text) = item.default else {
            continue;
        };
        if text.is_empty() {
            // An empty default means unset (`emailpass`).
            assert_eq!(item.kind, Kind::Password, "{}", item.key);
            continue;
        }
        let value = parse_kind(item.kind, text)
            .unwrap_or_else(|e| panic!("{}: default {text:?}: {e}", item.key));
        let fits = matches!(
            (item.kind, &value),
            (Kind::Bool, ItemValue::Bool(_))
                | (Kind::Int { .. }, ItemValue::Int(_))
                | (
                    Kind::Seconds { .. } | Kind::Millis { .. },
                    ItemValue::Duration(_)
                )
                | (Kind::Choice(_), ItemValue::Choice(_))
                | (Kind::HostList, ItemValue::Hosts(_))
                | (
                    Kind::Text | Kind::ListenAddress | Kind::Url(_),
                    ItemValue::Text(_)
                )
        );
        assert!(fits, "{}: {value:?} does not fit {:?}", item.key, item.kind);
    }
}

/// After loading, every item with a default has a value of its kind that
/// the typed getters return.
#[test]
fn loaded_values_are_readable_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(&cli(&[]), &base_env(dir.path())).unwrap();
    for item in ITEMS {
        let values = &config.values;
        let readable = match item.kind {
            Kind::Bool => values.flag(item).is_some(),
            Kind::Int { .. } => values.int(item).is_some(),
            Kind::Seconds { .. } | Kind::Millis { .. } => values.duration(item).is_some(),
            Kind::ExistingFile | Kind::Dir => values.path(item).is_some(),
            Kind::DatabaseUrl | Kind::HostList => values.get(item).is_some(),
            _ => values.text(item).is_some(),
        };
        let expected = match item.default {
            ItemDefault::Literal(text) => !text.is_empty(),
            ItemDefault::Required => true,
            ItemDefault::OsUser
            | ItemDefault::CurrentDir
            | ItemDefault::BundledPolicy
            | ItemDefault::Unset => values.get(item).is_some(),
        };
        assert_eq!(readable, expected, "{}", item.key);
    }
    assert_eq!(
        config.values.duration(&items::HEADERTIMEOUT),
        Some(config.http_limits.header_timeout)
    );
}

#[test]
fn example_toml_shows_every_item_with_its_default() {
    let text = std::fs::read_to_string(EXAMPLE_TOML).unwrap();
    for item in ITEMS {
        let set = text.lines().any(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            line.starts_with(&format!("{} = ", item.key))
        });
        assert!(set, "authnz.example.toml lacks `{} = ...`", item.key);
        assert!(
            text.contains(item.env),
            "authnz.example.toml does not name {}",
            item.env
        );
    }
    // The values that are not commented out are the built-in defaults: the
    // file loads to the same configuration as no file at all.
    let dir = tempfile::tempdir().unwrap();
    let env: Environment = base_env(dir.path());
    let without = Config::load(&cli(&[]), &env).unwrap();
    let with = Config::load(&cli(&["--config", EXAMPLE_TOML]), &env).unwrap();
    assert_eq!(with.config_file.as_deref(), Some(Path::new(EXAMPLE_TOML)));
    let debug = |c: &Config| {
        let mut c = c.clone();
        c.config_file = None;
        let values: Vec<String> = ITEMS
            .iter()
            .map(|item| format!("{:?}", c.values.get(item)))
            .collect();
        format!("{c:?} {values:?}")
    };
    assert_eq!(debug(&with), debug(&without));
}
