//! The command line: option names, `--opt=VALUE` with leading dashes, the
//! auto-setup flags, and a `--help` that names every item's environment
//! variable and default.

use clap::CommandFactory as _;
use clap::Parser as _;

use super::super::items::ItemDefault;
use super::super::{Cli, ITEMS, items};
use super::cli;

/// `--help` text with runs of whitespace collapsed, so wrapping does not
/// matter.
fn help_text(long: bool) -> String {
    let mut command = Cli::command();
    let help = if long {
        command.render_long_help()
    } else {
        command.render_help()
    };
    help.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn help_lists_every_item_with_env_var_and_default() {
    for long in [false, true] {
        let help = help_text(long);
        for item in ITEMS {
            assert!(
                help.contains(&format!("--{} <", item.cli)),
                "--{} missing",
                item.cli
            );
            let env = match item.env_override {
                Some(var) => format!("[env: {var}, {}", item.env),
                None => format!("[env: {}]", item.env),
            };
            assert!(help.contains(&env), "{env} missing from help");
            let default = format!("[default: {}]", item.default_display);
            assert!(
                help.contains(&default),
                "{default} missing for {}",
                item.key
            );
            if let ItemDefault::Literal(value) = item.default
                && !value.is_empty()
            {
                assert_eq!(value, item.default_display);
            }
        }
        for option in [
            "--envfile <PATH>",
            "--config <PATH>",
            "--autosetup",
            "--no-prompt",
        ] {
            assert!(help.contains(option), "{option} missing");
        }
        assert!(help.contains("command line wins over the environment"));
    }
}

#[test]
fn every_item_option_is_collected() {
    let mut args: Vec<String> = Vec::new();
    for (i, item) in ITEMS.iter().enumerate() {
        args.push(format!("--{}=v{i}", item.cli));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let values = cli(&args).item_values();
    let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
    let want: Vec<&str> = ITEMS.iter().map(|item| item.key).collect();
    assert_eq!(keys, want);
    for (i, (_, value)) in values.iter().enumerate() {
        assert_eq!(value, &format!("v{i}"));
    }
}

#[test]
fn values_may_start_with_a_dash() {
    let parsed = cli(&["--secret=-abc=", "--emailpass", "-x", "--piisalt=--y"]);
    assert_eq!(parsed.item(&items::SECRET), Some("-abc="));
    assert_eq!(parsed.item(&items::EMAILPASS), Some("-x"));
    assert_eq!(parsed.item(&items::PIISALT), Some("--y"));
    let parsed = cli(&["--sessionexpiry=-1", "--port", "13431"]);
    assert_eq!(parsed.item(&items::SESSIONEXPIRY), Some("-1"));
    assert_eq!(parsed.item(&items::PORT), Some("13431"));
}

#[test]
fn blank_options_are_not_collected() {
    assert!(cli(&["--port=", "--listen", "  "]).item_values().is_empty());
}

#[test]
fn autosetup_flags() {
    assert!(!cli(&[]).autosetup);
    assert!(cli(&["--autosetup"]).autosetup);
    assert!(cli(&["--autosetup=true"]).autosetup);
    assert!(cli(&["--autosetup=1"]).autosetup);
    assert!(!cli(&["--autosetup=false"]).autosetup);
    let parsed = cli(&["--autosetup", "--no-prompt", "--basedir", "/tmp/x"]);
    assert!(parsed.autosetup && parsed.no_prompt);
    assert_eq!(parsed.item(&items::BASEDIR), Some("/tmp/x"));
    assert!(!parsed.autosetup_interactive());
    assert!(parsed.command.is_none());
}

#[test]
fn unknown_options_and_subcommands_are_rejected() {
    assert!(Cli::try_parse_from(["authnzrv", "--prot=1"]).is_err());
    assert!(Cli::try_parse_from(["authnzrv", "serve"]).is_err());
    assert!(Cli::try_parse_from(["authnzrv", "--port"]).is_err());
}

#[test]
fn clap_debug_asserts() {
    Cli::command().debug_assert();
}

/// `--workers` says what it sizes: the password-hashing (Argon2) threads
/// that /health reports, not a general action pool.
#[test]
fn workers_help_names_the_hashing_threads() {
    let help = help_text(false);
    let start = help.find("--workers <N>").unwrap();
    let text = &help[start..start + 200];
    assert!(text.contains("Password-hashing threads"), "{text}");
    assert!(text.contains("Argon2"), "{text}");
    assert!(text.contains("/health"), "{text}");
}
