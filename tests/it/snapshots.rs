//! Whole texts that are a contract, snapshot-tested with insta (as uv and just do): every
//! command's `--help`, and some error outputs (exit code, stdout and stderr together).
//!
//! After an intended change: `cargo insta review`, or `INSTA_UPDATE=always cargo test
//! --test it snapshots::` and read the diff under `tests/it/snapshots/`.

use std::path::Path;

use crate::harness::{Run, repo_root, talos_hcloud_env};

/// Runs the binary with a fixed help width and no colour, whatever the caller's terminal.
fn run(dir: &Path, args: &[&str]) -> Run {
    talos_hcloud_env(dir, args, &[("COLUMNS", "100"), ("NO_COLOR", "1")])
}

/// Exit code, stdout and stderr as one text, `dir` replaced by `[TEMP]`.
fn transcript(run: &Run, dir: &Path) -> String {
    let text = format!(
        "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        run.code, run.stdout, run.stderr
    );
    text.replace(&dir.display().to_string(), "[TEMP]")
}

/// The subcommand names listed under `Commands:` in a help text (`help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.split("\nCommands:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .map(|section| {
            section
                .lines()
                // A name starts at the second column; wrapped descriptions are indented further.
                .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
                .filter_map(|line| line.split_whitespace().next())
                .filter(|name| *name != "help")
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every command's `--help`, found by walking the `Commands:` lists from the top, so a new
/// command gets a snapshot (and a review) without editing this test.
#[test]
fn help_of_every_command() {
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = run(repo_root(), &args);
        assert_eq!((help.code, help.stderr.as_str()), (0, ""), "{args:?}");
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", path.join("_"))
        };
        insta::assert_snapshot!(name, help.stdout);
        seen += 1;
        for sub in subcommands(&help.stdout) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    // The top level, 8 commands and their subcommands: a broken `Commands:` parser would
    // silently test only the top page.
    assert!(seen >= 20, "only {seen} help pages found");
}

/// A usage error is clap's text on stderr with exit 2; with `--output json` it is one error
/// document on stdout whose every key is present (`details` is `{}`).
#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    insta::assert_snapshot!(
        "usage_error_text",
        transcript(&run(dir.path(), &["no-such-command"]), dir.path())
    );
    insta::assert_snapshot!(
        "usage_error_json",
        transcript(
            &run(dir.path(), &["--output", "json", "validate", "--no-such-flag"]),
            dir.path()
        )
    );
}

/// Errors of the commands themselves: what is missing and how to get it (hints), in text
/// and in JSON.
#[test]
fn command_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    let cases: [(&str, &[&str]); 5] = [
        ("validate_no_cluster_yaml", &["validate"]),
        ("secrets_check_missing_file", &["secrets", "check", "missing.yaml"]),
        (
            "talos_version_missing_talosconfig",
            &["talos", "version", "--talosconfig", "missing", "--nodes", "127.0.0.1"],
        ),
        ("config_gen_without_endpoint", &["-c", "cluster.yaml", "config", "gen"]),
        (
            "config_gen_without_endpoint_json",
            &["--output", "json", "-c", "cluster.yaml", "config", "gen"],
        ),
    ];
    // The reference cluster, so `config gen` gets as far as the missing endpoint.
    for entry in ["cluster.yaml", "schematics", "machine-patches"] {
        copy_tree(&repo_root().join(entry), &path.join(entry));
    }
    for (name, args) in cases {
        let dir = if name.starts_with("config_gen") {
            path.to_path_buf()
        } else {
            path.join("empty")
        };
        std::fs::create_dir_all(&dir).expect("mkdir");
        let output = run(&dir, args);
        assert_eq!(output.code, 2, "{name}: {output:?}");
        insta::assert_snapshot!(name, transcript(&output, &dir));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}
