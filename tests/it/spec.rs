//! cluster.yaml: the reference cluster validates, every broken case under
//! `tests/fixtures/invalid/` is rejected with the diagnostics its `# expect:` lines name,
//! and the shipped machine patches only use keys of the Talos v1.11 schema.
//!
//! Most cases are `NAME.diff`: a change to `base.yaml` (a valid description), so a key
//! added to cluster.yaml is added to `base.yaml` alone. A `.diff` holds its `#` header
//! lines, then hunks separated by a blank line; each hunk's ` ` (context) and `-` lines
//! are found once in the base and replaced by its ` ` and `+` lines. The test writes the
//! header and the edited base to `tests/fixtures/invalid/NAME.yaml` in a temporary copy of
//! the folder (with its `patches/` and `schematics/`) and runs `validate` there, so
//! diagnostics name that path as they would in the repository. A `NAME.yaml` (a file that
//! is no edit of the base: empty, a list, deeply nested) is used as it is.
//!
//! `# expect: at="TEXT" field=F contains="text"` names the diagnostic's line by its text
//! (the one line of the file equal to TEXT, `\"` and `\\` escaped), so expectations
//! survive changes to the base; `line=N` gives the number instead, and `file=P` (relative
//! to the folder) a diagnostic in another file. `field=-` means no field (syntax errors).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use talos_hcloud::spec::{self, Architecture, Endpoint, Role, SchematicSource};

use crate::harness::{reference_dir, repo_root, talos_hcloud_in};

/// The folder of the invalid cases, relative to the repository root.
const INVALID: &str = "tests/fixtures/invalid";

/// One `# expect:` line of a case.
#[derive(Debug)]
struct Expectation {
    /// The file the diagnostic is in, relative to the repository root.
    file: String,
    line: usize,
    /// `None` for `field=-` (syntax errors have no field).
    field: Option<String>,
    contains: String,
}

/// Reads a `"…"` value with `\"` and `\\` escapes from the start of `text`; returns it and
/// the rest after the closing quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.strip_prefix('"')?.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &text[index + 2..])),
            other => value.push(other),
        }
    }
    None
}

/// The 1-based number of the one line of `text` equal to `wanted`.
fn line_of(text: &str, wanted: &str, case: &str) -> usize {
    let found: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| *line == wanted)
        .map(|(index, _)| index + 1)
        .collect();
    match found.as_slice() {
        [line] => *line,
        other => panic!("{case}: at={wanted:?} matches lines {other:?}, not exactly one"),
    }
}

/// The expectations of the case written to `relative` (a path under the repository root
/// layout) with `text`.
fn expectations(relative: &str, text: &str) -> Vec<Expectation> {
    let folder = Path::new(relative).parent().expect("case in a folder");
    text.lines()
        .filter_map(|line| line.strip_prefix("# expect: "))
        .map(|spec| {
            let (head, contains) = spec
                .split_once(" contains=\"")
                .unwrap_or_else(|| panic!("{relative}: expectation without contains=: {spec}"));
            let contains = contains
                .strip_suffix('"')
                .expect("contains=\"…\" ends with a quote")
                .to_owned();
            let mut expectation = Expectation {
                file: relative.to_owned(),
                line: 0,
                field: None,
                contains,
            };
            let mut rest = head.trim_start();
            while !rest.is_empty() {
                let (key, after) = rest.split_once('=').expect("key=value");
                let value;
                (value, rest) = if after.starts_with('"') {
                    quoted(after).unwrap_or_else(|| panic!("{relative}: unclosed quote in {spec}"))
                } else {
                    let end = after.find(' ').unwrap_or(after.len());
                    (after[..end].to_owned(), &after[end..])
                };
                rest = rest.trim_start();
                match key {
                    "line" => expectation.line = value.parse().expect("line=N"),
                    "at" => expectation.line = line_of(text, &value, relative),
                    "field" if value != "-" => expectation.field = Some(value),
                    "field" => {}
                    "file" => expectation.file = folder.join(value).display().to_string(),
                    other => panic!("unknown expectation key {other}"),
                }
            }
            assert!(expectation.line > 0, "{relative}: line= or at= missing");
            expectation
        })
        .collect()
}

/// `base` with the edits of a `.diff` case applied, after the case's header lines.
fn apply_edits(base: &str, diff: &str, case: &str) -> String {
    let header: Vec<&str> = diff.lines().take_while(|l| l.starts_with('#')).collect();
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    let body: Vec<&str> = diff.lines().skip(header.len()).collect();
    for hunk in body.split(|line| line.is_empty()) {
        let mut old = Vec::new();
        let mut new = Vec::new();
        for line in hunk {
            let (mark, text) = line.split_at(1);
            match mark {
                " " => {
                    old.push(text);
                    new.push(text);
                }
                "-" => old.push(text),
                "+" => new.push(text),
                _ => panic!("{case}: a hunk line starts with {mark:?}, not ` `, `-` or `+`"),
            }
        }
        let at: Vec<usize> = (0..=lines.len().saturating_sub(old.len()))
            .filter(|&i| lines[i..].iter().zip(&old).all(|(a, b)| a == b) && lines.len() - i >= old.len())
            .collect();
        let [at] = at.as_slice() else {
            panic!("{case}: the hunk {hunk:?} matches the base at lines {at:?}, not exactly once");
        };
        lines.splice(*at..*at + old.len(), new.iter().map(|l| (*l).to_owned()));
    }
    let mut text = header.join("\n");
    text.push('\n');
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Copies `from` into `to`, folders included.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("readable folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A temporary copy of the invalid-cases folder with every case written out as
/// `NAME.yaml`, at the same path relative to the temporary root as in the repository.
struct Cases {
    root: tempfile::TempDir,
    /// Each case: its path relative to `root` and its text.
    written: Vec<(String, String)>,
}

impl Cases {
    fn write() -> Cases {
        let root = tempfile::tempdir().expect("temp dir");
        let source = repo_root().join(INVALID);
        let folder = root.path().join(INVALID);
        copy_tree(&source, &folder);
        let base = fs::read_to_string(source.join("base.yaml")).expect("base.yaml");
        let mut written = Vec::new();
        let mut entries: Vec<PathBuf> = fs::read_dir(&source)
            .expect("case folder")
            .map(|e| e.expect("case entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let (stem, text) = if let Some(stem) = name.strip_suffix(".diff") {
                let diff = fs::read_to_string(&path).expect("case readable");
                (stem, apply_edits(&base, &diff, name))
            } else if let Some(stem) = name.strip_suffix(".yaml")
                && stem != "base"
            {
                (stem, fs::read_to_string(&path).expect("case readable"))
            } else {
                continue;
            };
            let relative = format!("{INVALID}/{stem}.yaml");
            fs::write(root.path().join(&relative), &text).expect("write case");
            written.push((relative, text));
        }
        Cases { root, written }
    }

    fn dir(&self) -> &Path {
        self.root.path()
    }

    /// The text of case `name`.
    fn text(&self, name: &str) -> &str {
        let relative = format!("{INVALID}/{name}.yaml");
        self.written
            .iter()
            .find(|(r, _)| *r == relative)
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("no case {name}"))
    }
}

/// The diagnostic header lines of a text-mode stderr: `path:line:col: …`.
fn headers<'a>(stderr: &'a str, file: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with(&format!("{file}:"))
                && l[file.len() + 1..]
                    .split(':')
                    .next()
                    .is_some_and(|n| n.parse::<usize>().is_ok())
        })
        .collect()
}

/// The base of the `.diff` cases is valid, so each case fails for its own edit only.
#[test]
fn base_of_the_invalid_cases_validates() {
    let run = talos_hcloud_in(repo_root(), &["-c", &format!("{INVALID}/base.yaml"), "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A hunk must match the base exactly once: an edit that matches nowhere is an error, not
/// a silently unchanged base.
#[test]
fn case_edits_apply_exactly_once() {
    let base = "a: 1\nb: 2\n";
    assert_eq!(
        apply_edits(base, "# x\n-a: 1\n+a: 3\n\n b: 2\n+c: 4\n", "t"),
        "# x\na: 3\nb: 2\nc: 4\n"
    );
    let missing = std::panic::catch_unwind(|| apply_edits(base, "# x\n-a: 9\n+a: 3\n", "t"));
    assert!(missing.is_err());
    let text = "# expect: at=\"a: \\\"q\\\"\" field=a contains=\"x\"\na: \"q\"\n";
    let expected = expectations("tests/fixtures/invalid/t.yaml", text);
    assert_eq!((expected[0].line, expected[0].field.as_deref()), (2, Some("a")));
}

#[test]
fn every_invalid_fixture_is_rejected_with_its_diagnostics() {
    let cases = Cases::write();
    assert!(cases.written.len() >= 30, "only {} cases", cases.written.len());
    let mut failures = Vec::new();
    for (relative, text) in &cases.written {
        let relative = relative.as_str();
        let expected = expectations(relative, text);
        if expected.is_empty() {
            failures.push(format!("{relative}: no `# expect:` line"));
            continue;
        }

        // Text: exit 2, nothing on stdout, every expected diagnostic on stderr.
        let run = talos_hcloud_in(cases.dir(), &["-c", relative, "validate"]);
        if run.code != 2 || !run.stdout.is_empty() {
            failures.push(format!("{relative}: exit {} stdout {:?}", run.code, run.stdout));
        }
        if !run
            .stderr
            .starts_with(&format!("error: invalid cluster description {relative} ("))
        {
            failures.push(format!(
                "{relative}: stderr does not start with the summary:\n{}",
                run.stderr
            ));
        }
        let mut all_headers = Vec::new();
        for file in expected.iter().map(|e| e.file.as_str()).chain([relative]) {
            for header in headers(&run.stderr, file) {
                if !all_headers.contains(&header) {
                    all_headers.push(header);
                }
            }
        }
        if all_headers.len() != expected.len() {
            failures.push(format!(
                "{relative}: {} diagnostics, expected {}:\n{}",
                all_headers.len(),
                expected.len(),
                run.stderr
            ));
        }
        for e in &expected {
            let prefix = format!("{}:{}:", e.file, e.line);
            let found = all_headers.iter().any(|h| {
                let rest = &h[prefix.len().min(h.len())..];
                let after_column = rest.split_once(": ").map(|(_, r)| r).unwrap_or_default();
                h.starts_with(&prefix)
                    && match &e.field {
                        Some(field) => after_column.starts_with(&format!("{field}: ")),
                        None => true,
                    }
                    && h.contains(&e.contains)
            });
            if !found {
                failures.push(format!(
                    "{relative}: no diagnostic `{prefix}` field {:?} containing {:?}:\n{}",
                    e.field, e.contains, run.stderr
                ));
            }
        }

        // JSON: one error document on stdout with the same diagnostics as data.
        let run = talos_hcloud_in(cases.dir(), &["-c", relative, "--output", "json", "validate"]);
        let document: Value = match serde_json::from_str(&run.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{relative}: JSON stdout does not parse ({e}): {:?}",
                    run.stdout
                ));
                continue;
            }
        };
        let diagnostics = document["error"]["details"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if run.code != 2 || document["ok"] != false || document["error"]["class"] != "invalid_input" {
            failures.push(format!("{relative}: JSON exit {} document {document}", run.code));
        }
        if diagnostics.len() != expected.len() {
            failures.push(format!(
                "{relative}: JSON has {} diagnostics, expected {}",
                diagnostics.len(),
                expected.len()
            ));
        }
        for e in &expected {
            let found = diagnostics.iter().any(|d| {
                d["file"] == e.file.as_str()
                    && d["line"] == e.line
                    && d["column"].as_u64().is_some_and(|c| c >= 1)
                    && match &e.field {
                        Some(field) => d["field"] == field.as_str(),
                        None => d["field"].is_null(),
                    }
                    && d["message"].as_str().is_some_and(|m| m.contains(&e.contains))
            });
            if !found {
                failures.push(format!(
                    "{relative}: JSON lacks {e:?}: {}",
                    Value::Array(diagnostics.clone())
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let cases = Cases::write();
    let file = "tests/fixtures/invalid/three-problems.yaml";
    let run = talos_hcloud_in(cases.dir(), &["-c", file, "validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: invalid cluster description tests/fixtures/invalid/three-problems.yaml (3 problems):\n\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(headers(&run.stderr, file).len(), 3, "{}", run.stderr);
    // In file order, each with its source line, caret and did-you-mean.
    let text = cases.text("three-problems");
    let location_line = line_of(text, "location: fsn2", file);
    let subnet_line = line_of(text, "  subnet: 10.9.1.0/24", file);
    let key_line = line_of(text, "sysctl:", file);
    let location = run
        .stderr
        .find(&format!("{file}:{location_line}:11: location: unknown location `fsn2`"))
        .expect("location first");
    let subnet = run
        .stderr
        .find(&format!("{file}:{subnet_line}:"))
        .expect("subnet second");
    let key = run
        .stderr
        .find(&format!(
            "{file}:{key_line}:1: sysctl: unknown key `sysctl` at the top level"
        ))
        .expect("key third");
    assert!(location < subnet && subnet < key, "{}", run.stderr);
    let gutter = " ".repeat(location_line.to_string().len());
    assert!(
        run.stderr.contains(&format!(
            "\n{location_line} | location: fsn2\n{gutter} |           ^^^^\n"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("= help: did you mean `fsn1`?"), "{}", run.stderr);
    assert!(run.stderr.contains("= help: did you mean `sysctls`?"), "{}", run.stderr);
}

#[test]
fn did_you_mean_and_expected_by_example() {
    let cases = Cases::write();
    let run = talos_hcloud_in(
        cases.dir(),
        &["-c", "tests/fixtures/invalid/unknown-server-type.yaml", "validate"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("   = expected: a Hetzner server type, e.g. `cax11` (arm64) or `cx23` (amd64)\n   = help: did you mean `cax11`?"),
        "{}",
        run.stderr
    );
    let run = talos_hcloud_in(
        cases.dir(),
        &["-c", "tests/fixtures/invalid/subnet-host-bits.yaml", "validate"],
    );
    assert!(run.stderr.contains("did you mean `10.0.1.0/24`?"), "{}", run.stderr);
}

#[test]
fn reference_cluster_validates_with_a_summary() {
    let run = talos_hcloud_in(repo_root(), &["validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let expected = "\
valid           cluster.yaml
cluster         tootcommunity-prod (resources named tc-prod-…)
location        fsn1 (Falkenstein), network zone eu-central
talos           v1.11.6 for arm64, schematic schematics/hcloud.yaml (ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515)
kubernetes      v1.34.1
network         10.0.0.0/16, subnet 10.0.1.0/24, pods 10.0.16.0/20, services 10.0.8.0/21
endpoint        floating-ip (tc-prod-api)
admin access    203.0.113.7/32
control plane   3 × cax11 (arm64): cp-1, cp-2, cp-3
worker pools    general: 3 × cax41 (arm64): general-1, general-2, general-3
load balancers  ingress: lb11 in fsn1 → pool general, 80→80, 443→443 (proxy protocol)
patches         all: 3 files, controlplane: 1 file, worker: 1 file
sysctls         0
";
    assert_eq!(run.stdout, expected);
}

#[test]
fn reference_cluster_as_json() {
    let run = talos_hcloud_in(repo_root(), &["--output", "json", "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["ok"], true);
    assert_eq!(document["config"], "cluster.yaml");
    let cluster = &document["cluster"];
    assert_eq!(cluster["name"], "tootcommunity-prod");
    assert_eq!(cluster["prefix"], "tc-prod-");
    assert_eq!(cluster["location"], "fsn1");
    assert_eq!(cluster["endpoint"], "floating-ip");
    assert_eq!(cluster["talos"]["version"], "v1.11.6");
    assert_eq!(cluster["talos"]["architectures"], serde_json::json!(["arm64"]));
    assert_eq!(
        cluster["talos"]["schematic"]["source"],
        serde_json::json!({"kind": "file", "path": "schematics/hcloud.yaml"})
    );
    assert_eq!(cluster["kubernetes"]["version"], "v1.34.1");
    assert_eq!(
        cluster["network"],
        serde_json::json!({"cidr": "10.0.0.0/16", "subnet": "10.0.1.0/24", "zone": "eu-central", "pods": "10.0.16.0/20", "services": "10.0.8.0/21"})
    );
    assert_eq!(
        cluster["firewall"]["admin_cidrs"],
        serde_json::json!(["203.0.113.7/32"])
    );
    let cp = &cluster["controlplane"];
    assert_eq!(cp["role"], "controlplane");
    assert_eq!(cp["type"], "cax11");
    assert_eq!(
        cp["nodes"][0],
        serde_json::json!({"name": "cp-1", "role": "controlplane", "pool": null, "type": "cax11", "architecture": "arm64", "location": "fsn1", "ip": null})
    );
    assert_eq!(cluster["workers"][0]["pool"], "general");
    assert_eq!(cluster["workers"][0]["nodes"][2]["name"], "general-3");
    assert_eq!(
        cluster["load_balancers"][0],
        serde_json::json!({"name": "ingress", "type": "lb11", "location": "fsn1", "target_pool": "general", "services": [
            {"listen": 80, "target": 80, "proxy_protocol": false},
            {"listen": 443, "target": 443, "proxy_protocol": true}
        ]})
    );
    assert_eq!(
        cluster["patches"]["all"],
        serde_json::json!([
            "machine-patches/all/kubelet.yaml",
            "machine-patches/all/sysctls.yaml",
            "machine-patches/all/time.yaml"
        ])
    );
    assert_eq!(cluster["sysctls"], serde_json::json!({}));
    let resources = document["resources"].as_array().expect("resources");
    let names: Vec<&str> = resources.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "tc-prod-network",
            "tc-prod-controlplane",
            "tc-prod-worker",
            "tc-prod-controlplane",
            "tc-prod-pool-general",
            "tc-prod-api",
            "tc-prod-cp-1",
            "tc-prod-cp-2",
            "tc-prod-cp-3",
            "tc-prod-general-1",
            "tc-prod-general-2",
            "tc-prod-general-3",
            "tc-prod-ingress"
        ]
    );
    assert_eq!(resources[5]["kind"], "floating_ip");
}

#[test]
fn missing_or_unreadable_config_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(dir.path(), &["-c", "nope/cluster.yaml", "validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .starts_with("error: cannot read the cluster description nope/cluster.yaml\n  caused by: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: name the cluster description with -c/--config"),
        "{}",
        run.stderr
    );
    // The default is ./cluster.yaml.
    let run = talos_hcloud_in(dir.path(), &["validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cluster.yaml"), "{}", run.stderr);
    // A folder is not a file.
    let run = talos_hcloud_in(dir.path(), &["-c", ".", "validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    // JSON: the error document names the path too.
    let run = talos_hcloud_in(dir.path(), &["-c", "nope/cluster.yaml", "--output", "json", "validate"]);
    assert_eq!(run.code, 2, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON error document");
    assert_eq!(
        document["error"]["message"],
        "cannot read the cluster description nope/cluster.yaml"
    );
}

/// `validate` loads each patch file as `config gen` will and checks it for the cluster's
/// Talos line, so a patch that passes `validate` does not fail `config gen` on load.
#[test]
fn patch_files_that_are_no_patch_for_the_talos_line_fail_validate() {
    let cases = [
        (
            "hostname\n",
            "machine-patches/all/zz.yaml:1:1: not a valid patch: expected a mapping",
        ),
        (
            "machine:\n  kubelet:\n    extraArgs: [1, 2]\n",
            "machine-patches/all/zz.yaml:3:16: v1alpha1 document, machine.kubelet.extraArgs: expected a mapping",
        ),
        (
            "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n",
            "HostnameConfig needs Talos v1.12 or later; this config is for Talos v1.11",
        ),
    ];
    for (patch, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in [
            "cluster.yaml",
            "schematics/hcloud.yaml",
            "machine-patches/all/kubelet.yaml",
            "machine-patches/controlplane/metrics.yaml",
            "machine-patches/worker/node-labels.yaml",
        ] {
            let to = dir.path().join(entry);
            fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            fs::copy(repo_root().join(entry), to).expect("copy");
        }
        fs::create_dir_all(dir.path().join("machine-patches/all")).expect("mkdir");
        fs::write(dir.path().join("machine-patches/all/zz.yaml"), patch).expect("write patch");
        let run = talos_hcloud_in(dir.path(), &["validate"]);
        assert_eq!(run.code, 2, "{patch:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{patch:?}: {run:?}");
        assert!(
            run.stderr.starts_with("error: cannot load a machine-config patch\n"),
            "{patch:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(expected), "{patch:?}: {}", run.stderr);
        let run = talos_hcloud_in(dir.path(), &["--output", "json", "validate"]);
        assert_eq!(run.code, 2, "{patch:?}: {run:?}");
        let document: Value = serde_json::from_str(&run.stdout).expect("one JSON error document");
        assert_eq!(document["error"]["class"], "invalid_input", "{document}");
        // A well-formed patch in the same place validates.
        fs::write(
            dir.path().join("machine-patches/all/zz.yaml"),
            "machine:\n  kubelet:\n    extraArgs:\n      v: \"2\"\n",
        )
        .expect("write patch");
        let run = talos_hcloud_in(dir.path(), &["validate"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    // Run from elsewhere: the schematic and the patch globs are found next to cluster.yaml.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = repo_root().join("cluster.yaml");
    let config = config.to_str().expect("UTF-8 path");
    let run = talos_hcloud_in(dir.path(), &["-c", config, "--output", "json", "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let first = document["cluster"]["patches"]["all"][0].as_str().expect("a patch path");
    assert_eq!(Path::new(first), repo_root().join("machine-patches/all/kubelet.yaml"));
}

#[test]
fn library_load_gives_typed_values_and_derived_names() {
    let spec = spec::load(&repo_root().join("cluster.yaml")).expect("reference cluster loads");
    assert_eq!(spec.name.as_str(), "tootcommunity-prod");
    assert_eq!(spec.endpoint, Endpoint::FloatingIp);
    assert_eq!(spec.architectures(), &[Architecture::Arm64]);
    assert!(!spec.talos.architectures_explicit);
    assert_eq!(spec.talos.version.release_line(), "v1.11");
    assert_eq!(spec.kubernetes.version.bare(), "1.34.1");
    assert_eq!(spec.network.gateway().to_string(), "10.0.0.1");
    match &spec.talos.schematic.source {
        SchematicSource::File(path) => assert!(path.ends_with("schematics/hcloud.yaml")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        spec.talos.schematic.yaml,
        fs::read_to_string(repo_root().join("schematics/hcloud.yaml")).expect("schematic")
    );
    let nodes: Vec<(String, Role, Option<String>, &str)> = spec
        .nodes()
        .map(|n| {
            (
                spec.server_name(n),
                n.role,
                n.pool.as_ref().map(|p| p.to_string()),
                n.server_type.name(),
            )
        })
        .collect();
    assert_eq!(nodes.len(), 6);
    assert_eq!(nodes[0], ("tc-prod-cp-1".into(), Role::ControlPlane, None, "cax11"));
    assert_eq!(
        nodes[5],
        (
            "tc-prod-general-3".into(),
            Role::Worker,
            Some("general".into()),
            "cax41"
        )
    );
    let worker = spec.node("general-2").expect("a worker");
    let labels = spec.server_labels(worker);
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        [
            ("talos-hcloud/cluster".to_owned(), "tootcommunity-prod".to_owned()),
            ("talos-hcloud/node".to_owned(), "general-2".to_owned()),
            ("talos-hcloud/pool".to_owned(), "general".to_owned()),
            ("talos-hcloud/role".to_owned(), "worker".to_owned()),
        ]
    );
    let cp_labels = spec.server_labels(spec.node("cp-1").expect("cp-1"));
    assert!(!cp_labels.contains_key("talos-hcloud/pool"));
    assert_eq!(spec.placement_group_name(&spec.controlplane), "tc-prod-controlplane");
    assert_eq!(
        spec.pool_selector("general"),
        "talos-hcloud/cluster=tootcommunity-prod,talos-hcloud/role=worker,talos-hcloud/pool=general"
    );
    assert_eq!(
        spec.role_selector(Role::ControlPlane),
        "talos-hcloud/cluster=tootcommunity-prod,talos-hcloud/role=controlplane"
    );
    let worker_patches: Vec<_> = spec
        .patches
        .for_role(Role::Worker)
        .map(|p| p.file_name().map(|f| f.to_owned()))
        .collect();
    assert_eq!(worker_patches.len(), 4);
}

/// Writes `cluster.yaml` with `body` into a fresh folder and loads it.
fn load_text(body: &str) -> (tempfile::TempDir, Result<spec::Spec, spec::Error>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cluster.yaml");
    fs::write(&path, body).expect("write cluster.yaml");
    let result = spec::load(&path);
    (dir, result)
}

const MINIMAL: &str = "\
name: t
prefix: t-
location: nbg1
talos:
  version: v1.12.0
  schematic:
    customization:
      extraKernelArgs: [net.ifnames=0]
kubernetes: { version: v1.34.1 }
network: { cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }
firewall: { admin_cidrs: ['0.0.0.0/0', '2001:db8::/32'] }
controlplane:
  type: cx23
  count: 1
";

#[test]
fn defaults_and_inline_schematic() {
    let (_dir, result) = load_text(MINIMAL);
    let spec = result.expect("minimal description loads");
    assert_eq!(spec.endpoint, Endpoint::FloatingIp);
    assert_eq!(spec.network.zone.as_str(), "eu-central");
    assert_eq!(spec.network.pods.to_string(), "10.244.0.0/16");
    assert_eq!(spec.network.services.to_string(), "10.96.0.0/12");
    assert_eq!(spec.architectures(), &[Architecture::Amd64]);
    assert_eq!(spec.talos.schematic.source, SchematicSource::Inline);
    assert_eq!(
        spec.talos.schematic.yaml,
        "customization:\n  extraKernelArgs:\n    - net.ifnames=0\n"
    );
    assert_eq!(spec.controlplane.nodes[0].name.as_str(), "cp-1");
    assert_eq!(spec.controlplane.nodes[0].location.name(), "nbg1");
    assert!(spec.workers.is_empty() && spec.load_balancers.is_empty());
    assert!(spec.patches.all.is_empty() && spec.sysctls.is_empty());
    assert_eq!(spec.firewall.admin_cidrs.len(), 2);
}

#[test]
fn sysctl_values_keep_their_literal_text() {
    let body = format!(
        "{MINIMAL}sysctls:\n  net.ipv4.tcp_tw_reuse: 1\n  vm.overcommit_ratio: 1.10\n  net.ipv4.ip_forward: true\n  net.ipv4.ip_local_port_range: \"1024 65535\"\n"
    );
    let (_dir, result) = load_text(&body);
    let spec = result.expect("loads");
    let sysctls: Vec<(&str, &str)> = spec.sysctls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        sysctls,
        [
            ("net.ipv4.ip_forward", "true"),
            ("net.ipv4.ip_local_port_range", "1024 65535"),
            ("net.ipv4.tcp_tw_reuse", "1"),
            ("vm.overcommit_ratio", "1.10"),
        ]
    );
}

#[test]
fn per_node_location_ip_and_explicit_architectures() {
    let body = MINIMAL.replace(
        "  type: cx23\n  count: 1\n",
        "  type: cx23\n  nodes:\n    - { name: cp-a, location: hel1, ip: 10.0.1.10 }\n    - cp-b\n    - { name: cp-c, ip: 10.0.1.12 }\nworkers:\n  - { pool: arm, type: cax21, location: fsn1, nodes: [arm-1] }\n",
    )
    .replace("  version: v1.12.0\n", "  version: v1.12.0\n  architectures: [arm64, amd64]\n");
    let (_dir, result) = load_text(&body);
    let spec = result.expect("loads");
    let a = spec.node("cp-a").expect("cp-a");
    assert_eq!(
        (a.location.name(), a.ip.map(|ip| ip.to_string())),
        ("hel1", Some("10.0.1.10".into()))
    );
    assert_eq!(spec.node("cp-b").expect("cp-b").location.name(), "nbg1");
    assert_eq!(spec.node("arm-1").expect("arm-1").location.name(), "fsn1");
    assert_eq!(spec.node("arm-1").expect("arm-1").architecture, Architecture::Arm64);
    assert_eq!(spec.architectures(), &[Architecture::Amd64, Architecture::Arm64]);
    assert!(spec.talos.architectures_explicit);
}

#[test]
fn load_balancer_endpoint_reserves_an_address() {
    // A /29 holds 5 usable addresses: 3 nodes + the API load balancer fit, + 2 more do not.
    let body = MINIMAL
        .replace("subnet: 10.0.1.0/24", "subnet: 10.0.1.0/29")
        .replace("count: 1", "count: 3")
        .replace("firewall:", "endpoint: load-balancer\nfirewall:");
    let (_dir, result) = load_text(&body);
    let spec = result.expect("4 addresses fit in a /29");
    assert_eq!(spec.endpoint, Endpoint::LoadBalancer);
    let body = body.replace("count: 3", "count: 5");
    let (_dir, result) = load_text(&body);
    let error = result.expect_err("6 addresses do not fit");
    let diagnostics = error.diagnostics().expect("invalid, not unreadable");
    assert_eq!(diagnostics.len(), 1);
    let first = diagnostics.iter().next().expect("one");
    assert_eq!(first.field.as_deref(), Some("network.subnet"));
    assert!(
        first.message.contains("room for 5 addresses, but the cluster needs 6"),
        "{first}"
    );
}

#[test]
fn schematic_file_is_the_shared_one() {
    let text = fs::read_to_string(repo_root().join("schematics/hcloud.yaml")).expect("schematic");
    assert_eq!(
        text,
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n"
    );
}

/// The Talos v1.11 config schema rooted at the v1alpha1 document, so a patch (a partial
/// v1alpha1 document) is checked key by key: every object there has
/// `additionalProperties: false`.
fn v1alpha1_validator() -> jsonschema::Validator {
    let path = reference_dir().join("talos-schema/v1.11.config.schema.json");
    let mut schema: Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("v1.11 schema")).expect("schema JSON");
    let root = schema.as_object_mut().expect("schema object");
    root.remove("oneOf");
    root.insert("$ref".into(), Value::from("#/$defs/v1alpha1.Config"));
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn patch_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let value: Value = serde_saphyr::from_str(text).expect("patch parses as YAML");
    validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn machine_patches_use_only_v1_11_schema_keys() {
    let validator = v1alpha1_validator();
    let mut checked = 0;
    for scope in ["all", "controlplane", "worker"] {
        let dir = repo_root().join("machine-patches").join(scope);
        for entry in fs::read_dir(&dir).expect("patch folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = fs::read_to_string(&path).expect("patch readable");
            let errors = patch_errors(&validator, &text);
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
    // The check can fail: a misspelled key, and a number where Talos wants a string.
    assert!(!patch_errors(&validator, "machine:\n  sysctl:\n    vm.swappiness: \"10\"\n").is_empty());
    assert!(!patch_errors(&validator, "machine:\n  sysctls:\n    vm.swappiness: 10\n").is_empty());
    assert!(!patch_errors(&validator, "cluster:\n  etcd:\n    extraArg: {}\n").is_empty());
}

#[test]
fn sysctl_patch_holds_the_tuning_values() {
    let text = fs::read_to_string(repo_root().join("machine-patches/all/sysctls.yaml")).expect("patch");
    let value: Value = serde_saphyr::from_str(&text).expect("YAML");
    assert_eq!(
        value["machine"]["sysctls"],
        serde_json::json!({
            "fs.file-max": "500000",
            "kernel.pid_max": "4194303",
            "net.core.netdev_max_backlog": "4096",
            "net.core.somaxconn": "32768",
            "net.ipv4.ip_local_port_range": "1024 65535",
            "net.ipv4.tcp_fin_timeout": "15",
            "net.ipv4.tcp_tw_reuse": "1",
            "vm.max_map_count": "262144",
            "vm.swappiness": "10"
        })
    );
}
