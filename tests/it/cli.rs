//! The command line itself: help, usage errors, completions, man page.

use crate::harness::{repo_root, talos_hcloud_in};

#[test]
fn usage_error_exits_2() {
    let run = talos_hcloud_in(repo_root(), &["no-such-command"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("unrecognized subcommand 'no-such-command'"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn help_lists_exit_codes_and_commands() {
    let run = talos_hcloud_in(repo_root(), &["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("Exit codes: 0 success, 1 operation failed, 2 invalid input"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("completions"), "{}", run.stdout);
}

#[test]
fn completions_for_bash_name_the_binary() {
    let run = talos_hcloud_in(repo_root(), &["completions", "bash"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("_talos__hcloud()"),
        "{}",
        run.stdout.chars().take(400).collect::<String>()
    );
    assert!(run.stdout.contains("completions"));
}

#[test]
fn man_page_is_roff_for_the_binary() {
    let run = talos_hcloud_in(repo_root(), &["man"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        run.stdout.chars().take(200).collect::<String>()
    );
    assert!(run.stdout.contains(".TH talos-hcloud 1"), "man header missing");
}

#[test]
fn token_value_never_appears_in_help() {
    let secret = "tok-0123456789abcdef-secret";
    let run = crate::harness::talos_hcloud_env(repo_root(), &["--help"], &[("HCLOUD_TOKEN", secret)]);
    assert_eq!(run.code, 0);
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
}
