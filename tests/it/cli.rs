//! The command line itself: help, usage errors, completions, man page.

use crate::harness::{repo_root, talos_hcloud_env, talos_hcloud_env_async, talos_hcloud_in};

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

/// The names under `Commands:` in a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.split("\nCommands:\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// HCLOUD_TOKEN's value reaches no output: not any command's help, not usage or
/// validation errors, not the results and logs (-vvv, text and JSON) of `validate` and
/// `config gen`. `config gen` writes it into the control-plane configs (for the Talos VIP
/// controller), which proves the binary read it.
#[test]
fn token_value_never_appears_in_any_output() {
    let secret = "tok-0123456789abcdef-secret";
    let env = [("HCLOUD_TOKEN", secret)];
    let mut runs = Vec::new();

    // Every command's help, found by walking the `Commands:` lists.
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(command) = pending.pop() {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let run = talos_hcloud_env(repo_root(), &args, &env);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        for sub in subcommands(&run.stdout) {
            let mut next = command.clone();
            next.push(sub);
            pending.push(next);
        }
        runs.push((args.join(" "), run));
    }
    assert!(runs.len() >= 22, "only {} help texts", runs.len());

    // Errors: usage, an invalid cluster description, a missing one.
    for args in [
        &["-vvv", "validate", "--no-such-flag"][..],
        &["-vvv", "--output", "json", "validate", "--no-such-flag"],
        &["-vvv", "-c", "tests/fixtures/invalid/empty-file.yaml", "validate"],
        &[
            "-vvv",
            "-c",
            "tests/fixtures/invalid/empty-file.yaml",
            "--output",
            "json",
            "validate",
        ],
        &["-vvv", "-c", "no-such/cluster.yaml", "validate"],
        &["-vvv", "validate"],
        &["-vvv", "--output", "json", "validate"],
    ] {
        runs.push((args.join(" "), talos_hcloud_env(repo_root(), args, &env)));
    }

    // `config gen` of the reference cluster, which reads the token.
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in [
        "cluster.yaml",
        "schematics/hcloud.yaml",
        "machine-patches/all/kubelet.yaml",
        "machine-patches/all/sysctls.yaml",
        "machine-patches/all/time.yaml",
        "machine-patches/controlplane/metrics.yaml",
        "machine-patches/worker/node-labels.yaml",
    ] {
        let to = dir.path().join(entry);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(repo_root().join(entry), to).expect("copy");
    }
    let local = dir.path().join(".talos-hcloud/tootcommunity-prod");
    talos_hcloud::talos::secrets::SecretsBundle::generate_with(
        talos_hcloud::talos::contract::Contract::V1_11,
        talos_hcloud::talos::secrets::GenerateOptions {
            now: None,
            service_account_key: Some(crate::secrets::service_account_key()),
        },
    )
    .expect("bundle generation")
    .save(
        &local.join("secrets.yaml"),
        talos_hcloud::secure_file::Overwrite::Refuse,
    )
    .expect("bundle saved");
    for output in ["text", "json"] {
        let args = [
            "-vvv",
            "--output",
            output,
            "config",
            "gen",
            "--force",
            "--endpoint",
            "203.0.113.10",
            "--talos-endpoint",
            "198.51.100.11",
        ];
        let run = talos_hcloud_env(dir.path(), &args, &env);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        runs.push((args.join(" "), run));
    }
    let written = std::fs::read_to_string(local.join("configs/cp-1.yaml")).expect("cp-1 config written");
    assert!(written.contains(secret), "config gen did not read HCLOUD_TOKEN");

    let leaks: Vec<String> = runs
        .iter()
        .filter(|(_, run)| run.stdout.contains(secret) || run.stderr.contains(secret))
        .map(|(args, run)| format!("{args}: {run:?}"))
        .collect();
    assert!(leaks.is_empty(), "the token leaked:\n{}", leaks.join("\n"));
}

#[test]
fn usage_errors_with_output_json_are_one_error_document_on_stdout() {
    for args in [
        &["--output", "json", "no-such-command"][..],
        &["--output=json", "validate", "--no-such-flag"],
        &["schematic", "id", "--output", "json"],
        &["--output", "json"],
    ] {
        let run = talos_hcloud_in(repo_root(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "{args:?}: {run:?}");
        let document: serde_json::Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {run:?}"));
        assert_eq!(document["ok"], false, "{args:?}: {document}");
        assert_eq!(document["error"]["class"], "invalid_input", "{args:?}: {document}");
        assert_eq!(document["error"]["exit_code"], 2, "{args:?}: {document}");
        let message = document["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.starts_with("error:"),
            "{args:?}: {document}"
        );
    }
    let run = talos_hcloud_in(repo_root(), &["--output", "json", "no-such-command"]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        document["error"]["message"],
        "unrecognized subcommand 'no-such-command'"
    );
    // `--help` and `--version` are results, not errors, whatever the format.
    let run = talos_hcloud_in(repo_root(), &["--output", "json", "--version"]);
    assert_eq!((run.code, run.stdout.trim()), (0, "talos-hcloud 0.1.0"), "{run:?}");
    // An unknown --output value stays clap's text: JSON was not asked for.
    let run = talos_hcloud_in(repo_root(), &["--output", "yaml", "validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.is_empty() && run.stderr.contains("invalid value 'yaml'"),
        "{run:?}"
    );
}

/// `talos-hcloud … 2>&1 | head`: the reader goes away, and the exit code must still be
/// the command's (2 here), not a panic's 101. The error text is far longer than a pipe
/// buffer, so the write meets the closed pipe whatever the timing.
#[test]
fn a_closed_stderr_keeps_the_exit_code() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("temp dir");
    let long_name = "a".repeat(200_000);
    std::fs::write(dir.path().join("cluster.yaml"), format!("name: {long_name}\n")).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
        .arg("validate")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    drop(child.stderr.take());
    let status = child.wait().expect("the binary ends");
    assert_eq!(status.code(), Some(2), "{status:?}");
}

/// Errors quote what files hold (unknown keys, patch paths, source lines); a hostile file
/// must not reach the operator's terminal with escape sequences or bidi overrides.
#[test]
fn errors_never_send_control_or_bidi_characters_from_files_to_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hostile = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}";
    std::fs::write(dir.path().join("cluster.yaml"), format!("name: a\n\"{hostile}\": 1\n")).expect("write");
    std::fs::write(
        dir.path().join("schematic.yaml"),
        format!("customization:\n  \"{hostile}\": 1\n"),
    )
    .expect("write");
    std::fs::write(dir.path().join("patch.yaml"), format!("machine:\n  \"{hostile}\": 1\n")).expect("write");
    for args in [
        &["validate"][..],
        &["schematic", "id", "schematic.yaml"],
        &[
            "talos",
            "gen",
            "config",
            "a",
            "https://a:6443",
            "--config-patch",
            "@patch.yaml",
        ],
    ] {
        let run = talos_hcloud_in(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let raw: Vec<char> = run
            .stderr
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(raw.is_empty(), "{args:?}: raw {raw:?} in {:?}", run.stderr);
        assert!(
            run.stderr.contains("\\u{1b}"),
            "{args:?}: the key is shown escaped: {}",
            run.stderr
        );
    }
}

/// Every command's `--help` teaches with a worked example (style rule 17).
#[test]
fn every_command_help_has_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["completions"],
        &["validate"],
        &["sim"],
        &["sim", "node"],
        &["talos"],
        &["talos", "gen"],
        &["talos", "gen", "config"],
        &["secrets"],
        &["secrets", "gen"],
        &["secrets", "check"],
        &["config"],
        &["config", "gen"],
        &["schematic"],
        &["schematic", "id"],
        &["schematic", "push"],
        &["schematic", "check"],
        &["factory"],
        &["factory", "versions"],
        &["factory", "extensions"],
        &["factory", "download"],
        &["man"],
        &["talos", "version"],
    ];
    let mut missing = Vec::new();
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let run = talos_hcloud_in(repo_root(), &args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let about = run.stdout.split("\nUsage:").next().unwrap_or_default();
        if !about.contains("\nExample") || !about.contains("talos-hcloud ") {
            missing.push(command.join(" "));
        }
    }
    assert!(missing.is_empty(), "--help without an example: {missing:?}");
}

/// `export TALOS_HCLOUD_CONFIG=` in a runbook means "not set": the default cluster.yaml is
/// used, as without the variable (clap alone took the empty text and failed with "a value
/// is required for '--config'").
#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let unset = talos_hcloud_in(repo_root(), &["validate"]);
    assert_eq!(unset.code, 0, "{unset:?}");
    let empty = talos_hcloud_env(repo_root(), &["validate"], &[("TALOS_HCLOUD_CONFIG", "")]);
    assert_eq!(empty.code, 0, "{empty:?}");
    assert_eq!(empty.stdout, unset.stdout);
    // A set value still wins over the default, and -c over the variable.
    let named = talos_hcloud_env(repo_root(), &["validate"], &[("TALOS_HCLOUD_CONFIG", "no-such.yaml")]);
    assert_eq!(named.code, 2, "{named:?}");
    assert!(named.stderr.contains("no-such.yaml"), "{}", named.stderr);
    let flag = talos_hcloud_env(
        repo_root(),
        &["-c", "cluster.yaml", "validate"],
        &[("TALOS_HCLOUD_CONFIG", "no-such.yaml")],
    );
    assert_eq!(flag.code, 0, "{flag:?}");
}

/// Every local input file goes through one reader with one size cap (16 MiB) that refuses
/// what is not a regular file, so `-c /dev/zero validate`, `schematic id /dev/zero` and
/// `secrets check /dev/urandom` cannot read until memory runs out. Each case ends at once
/// with exit 2 and a short error that says what is wrong.
#[test]
fn input_files_are_capped_and_must_be_regular_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.yaml");
    // Sparse: 16 MiB and one byte without writing them.
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(16 * 1024 * 1024 + 1))
        .expect("big file");
    std::fs::create_dir(dir.path().join("folder.yaml")).expect("mkdir");
    let cluster = std::fs::read_to_string(repo_root().join("cluster.yaml")).expect("cluster.yaml");
    for (name, replaced) in [
        (
            "schematic-zero.yaml",
            cluster.replace("schematics/hcloud.yaml", "/dev/zero"),
        ),
        (
            "schematic-big.yaml",
            cluster.replace("schematics/hcloud.yaml", "big.yaml"),
        ),
        (
            "patch-big.yaml",
            cluster.replace("[machine-patches/all/*.yaml]", "[big.yaml]"),
        ),
    ] {
        assert_ne!(replaced, cluster, "{name}: the reference cluster.yaml changed");
        std::fs::write(dir.path().join(name), replaced).expect("write");
    }
    std::fs::create_dir_all(dir.path().join("machine-patches")).expect("mkdir");
    for folder in ["controlplane", "worker"] {
        let from = repo_root().join("machine-patches").join(folder);
        let to = dir.path().join("machine-patches").join(folder);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("patches") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let not_regular = "is a character device, not a regular file";
    let too_large = "is larger than 16 MiB, the limit for input files";
    let gen_config = ["talos", "gen", "config", "a", "https://a:6443", "-o", "out"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-c", "/dev/zero", "validate"], not_regular),
        (vec!["-c", "big.yaml", "validate"], too_large),
        (
            vec!["-c", "folder.yaml", "validate"],
            "is a directory, not a regular file",
        ),
        (vec!["-c", "schematic-zero.yaml", "validate"], not_regular),
        (vec!["-c", "schematic-big.yaml", "validate"], too_large),
        (vec!["-c", "patch-big.yaml", "validate"], too_large),
        (vec!["schematic", "id", "/dev/zero"], not_regular),
        (vec!["schematic", "id", "big.yaml"], too_large),
        (vec!["secrets", "check", "/dev/urandom"], not_regular),
        (vec!["secrets", "check", "big.yaml"], too_large),
        (
            [&gen_config[..], &["--with-secrets", "/dev/zero"]].concat(),
            not_regular,
        ),
        (
            [&gen_config[..], &["--config-patch", "@/dev/zero"]].concat(),
            not_regular,
        ),
        ([&gen_config[..], &["--config-patch", "@big.yaml"]].concat(), too_large),
        (
            vec!["sim", "node", "--address", "127.0.0.1", "--machine-config", "/dev/zero"],
            not_regular,
        ),
        (
            vec!["sim", "node", "--address", "127.0.0.1", "--user-data", "big.yaml"],
            too_large,
        ),
    ];
    for (args, expected) in cases {
        let run = talos_hcloud_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.len() < 2_000,
            "{args:?}: {} bytes of stderr",
            run.stderr.len()
        );
        assert!(!dir.path().join("out").exists(), "{args:?}: nothing may be written");
    }
}

/// Errors quote values and show source lines, but never at full length, so a 1 MB `name:`
/// cannot flood stderr and `talos.schematic: /etc/passwd` does not print that file as the
/// "found" value. Quoted values end in `…` after 64 characters, source lines
/// are cut to a window around the caret, and only the start of a foreign file is shown.
#[test]
fn huge_values_and_foreign_files_are_quoted_in_short_excerpts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let huge = "a".repeat(1_000_000);
    let cut = format!("{}…", "a".repeat(64));
    // A foreign file shaped like /etc/passwd: one long YAML scalar over many lines.
    let foreign: String = (0..300)
        .map(|i| format!("user{i}:x:{i}:{i}:User number {i}:/home/user{i}:/bin/sh\n"))
        .collect();
    std::fs::write(dir.path().join("passwd"), &foreign).expect("write");
    let cluster = std::fs::read_to_string(repo_root().join("cluster.yaml")).expect("cluster.yaml");
    // Explicit keys (`? key`): YAML limits implicit keys to 1024 characters.
    let files = [
        ("name.yaml", format!("name: {huge}\n")),
        (
            "key.yaml",
            cluster.replace("location: fsn1", &format!("? {huge}\n: 1\nlocation: fsn1")),
        ),
        (
            "sysctl.yaml",
            cluster.replace("sysctls: {}", &format!("sysctls:\n  ? net.{huge}!\n  : \"1\"")),
        ),
        ("foreign.yaml", cluster.replace("schematics/hcloud.yaml", "passwd")),
        ("schematic.yaml", format!("customization:\n  ? {huge}\n  : 1\n")),
        ("patch.yaml", format!("machine:\n  kubelet:\n    ? {huge}\n    : 1\n")),
        (
            "patch-value.yaml",
            format!("machine:\n  kubelet:\n    disableManifestsDirectory: {huge}\n"),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    std::fs::create_dir_all(dir.path().join("schematics")).expect("mkdir");
    std::fs::copy(
        repo_root().join("schematics/hcloud.yaml"),
        dir.path().join("schematics/hcloud.yaml"),
    )
    .expect("copy");
    for folder in ["all", "controlplane", "worker"] {
        let to = dir.path().join("machine-patches").join(folder);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(repo_root().join("machine-patches").join(folder)).expect("patches") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let gen_config = [
        "talos",
        "gen",
        "config",
        "a",
        "https://a:6443",
        "-o",
        "out",
        "--config-patch",
    ];
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["-c", "name.yaml", "validate"],
            format!("name: `{cut}` is not a valid cluster name"),
        ),
        (
            vec!["-c", "key.yaml", "validate"],
            format!("unknown key `{cut}` at the top level"),
        ),
        (vec!["-c", "sysctl.yaml", "validate"], "is not a sysctl name".to_owned()),
        (
            vec!["-c", "foreign.yaml", "validate"],
            "found `user0:x:0:0:User number 0:/home/user0:/bin/sh user1:x:1:1:User n…`".to_owned(),
        ),
        (
            vec!["schematic", "id", "passwd"],
            "found `user0:x:0:0:User number 0:/home/user0:/bin/sh user1:x:1:1:User n…`".to_owned(),
        ),
        (
            vec!["schematic", "id", "schematic.yaml"],
            format!("unknown field `{cut}`"),
        ),
        (
            [&gen_config[..], &["@patch.yaml"]].concat(),
            format!("unknown key \"{cut}\""),
        ),
        (
            [&gen_config[..], &["@patch-value.yaml"]].concat(),
            format!("\"{cut}\" is not a valid boolean"),
        ),
        (
            vec!["--output", "json", "-c", "name.yaml", "validate"],
            format!("`{cut}` is not a valid cluster name"),
        ),
    ];
    for (args, expected) in cases {
        let run = talos_hcloud_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", &run.stderr[..run.stderr.len().min(2000)]);
        let output = format!("{}{}", run.stdout, run.stderr);
        assert!(
            output.len() < 6_000,
            "{args:?}: {} bytes of output: {}",
            output.len(),
            &output[..output.len().min(3000)]
        );
        assert!(output.contains(&expected), "{args:?}: {output}");
        assert!(
            !output.contains("user2:"),
            "{args:?}: the foreign file is echoed: {output}"
        );
        assert!(!output.contains(&"a".repeat(200)), "{args:?}: {output}");
    }
}

/// `man --all DIR` writes the page of every command the main page refers to
/// (`talos-hcloud-validate(1)`, …), so none of those references dangles.
#[test]
fn man_all_writes_every_page_the_main_page_lists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pages = dir.path().join("man1");
    let run = talos_hcloud_in(dir.path(), &["--output", "json", "man", "--all", "man1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let listed = document["pages"].as_array().expect("pages").len();
    let mut written: Vec<String> = std::fs::read_dir(&pages)
        .expect("the folder was created")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(listed, written.len(), "{written:?}");
    for page in [
        "talos-hcloud.1",
        "talos-hcloud-validate.1",
        "talos-hcloud-secrets-gen.1",
        "talos-hcloud-talos-gen-config.1",
        "talos-hcloud-talos-version.1",
        "talos-hcloud-man.1",
    ] {
        assert!(
            written.iter().any(|name| name == page),
            "{page} missing from {written:?}"
        );
    }
    // Every page the main page refers to exists.
    let main = std::fs::read_to_string(pages.join("talos-hcloud.1")).expect("main page");
    let referenced: Vec<&str> = main
        .split("talos\\-hcloud\\-")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .collect();
    assert!(referenced.len() >= 8, "{referenced:?}");
    for name in referenced {
        let file = format!("talos-hcloud-{}.1", name.replace("\\-", "-"));
        assert!(
            written.contains(&file),
            "{file} is referenced but not written: {written:?}"
        );
    }
    let section = std::fs::read_to_string(pages.join("talos-hcloud-secrets-gen.1")).expect("page");
    assert!(section.contains(".TH talos-hcloud-secrets-gen 1"), "{section}");
}

/// With `--output json` every error document has all its keys, `details` included (`{}`
/// when the error carries none), as the README promises.
#[test]
fn json_errors_always_carry_details() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(dir.path(), &["--output", "json", "secrets", "check", "missing.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let keys: Vec<&String> = document["error"].as_object().expect("error object").keys().collect();
    assert_eq!(keys, ["class", "exit_code", "message", "causes", "hints", "details"]);
    assert_eq!(document["error"]["details"], serde_json::json!({}));
}

/// `talos version` makes a real mutual-TLS call with a talosconfig file: the node answers
/// the admin certificate, and a talosconfig of another cluster's CA is refused (exit 1).
#[tokio::test]
async fn talos_version_asks_a_node_over_mutual_tls() {
    use talos_hcloud::sim::talos::ClusterRegistry;
    use talos_hcloud::talos::talosconfig::Talosconfig;

    let registry = ClusterRegistry::new();
    let mut options = crate::talos_nodes::node_options("v1.13.9", &registry);
    options.installed_config = Some(crate::talos_golden::golden("v1.13", "controlplane").into_bytes());
    let node = crate::talos_nodes::start(options).await;
    let address = node.address().to_string();

    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/talos/secrets.yaml")).expect("golden bundle");
    let golden: talos_hcloud::talos::secrets::SecretsBundle =
        serde_saphyr::from_str(&text).expect("golden bundle parses");
    let talosconfig = Talosconfig::for_cluster(&golden, "base", [address.as_str()]).expect("talosconfig");
    std::fs::write(dir.path().join("talosconfig"), talosconfig.to_yaml().expect("yaml")).expect("write");
    let stranger =
        talos_hcloud::talos::secrets::SecretsBundle::generate(talos_hcloud::talos::contract::Contract::CURRENT)
            .expect("another cluster's bundle");
    let foreign = Talosconfig::for_cluster(&stranger, "other", [address.as_str()]).expect("talosconfig");
    std::fs::write(dir.path().join("foreign"), foreign.to_yaml().expect("yaml")).expect("write");

    let path = dir.path();
    let ok = talos_hcloud_env_async(
        path,
        &["talos", "version", "--talosconfig", "talosconfig", "--nodes", &address],
        &[],
    )
    .await;
    let json = talos_hcloud_env_async(
        path,
        &["--output", "json", "talos", "version", "--talosconfig", "talosconfig"],
        &[],
    )
    .await;
    let refused = talos_hcloud_env_async(path, &["talos", "version", "--talosconfig", "foreign"], &[]).await;

    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stdout.starts_with(&format!("{address}: Talos v1.13.9 (")),
        "{}",
        ok.stdout
    );
    assert_eq!(ok.stdout.lines().count(), 1, "{}", ok.stdout);
    assert_eq!(json.code, 0, "{json:?}");
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(document["context"], "base");
    assert_eq!(document["nodes"][0]["node"], address.as_str());
    assert_eq!(document["nodes"][0]["tag"], "v1.13.9");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.starts_with("error: "), "{}", refused.stderr);
    node.stop().await;
}
