//! Schematic IDs and canonical YAML (`schematic id`), and strict parsing with locations.

use talos_hcloud::factory::Schematic;

use crate::harness::{repo_root, talos_hcloud_in};

const HCLOUD_ID: &str = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";
const EMPTY_ID: &str = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
const KERNEL_ARGS_ID: &str = "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c";

fn id_of(text: &str) -> String {
    Schematic::parse(text, "test.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .id()
        .expect("id")
        .to_string()
}

/// Writes `text` to a temporary file and runs `schematic id` on it.
fn cli_id(text: &str, extra: &[&str]) -> crate::harness::Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("schematic.yaml");
    std::fs::write(&file, text).expect("write schematic");
    let file = file.to_string_lossy().into_owned();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["schematic", "id", file.as_str()]);
    talos_hcloud_in(dir.path(), &args)
}

#[test]
fn the_shipped_hcloud_schematic_has_the_published_id() {
    assert_eq!(
        std::fs::read_to_string(repo_root().join("schematics/hcloud.yaml")).expect("schematics/hcloud.yaml"),
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n"
    );
    let run = talos_hcloud_in(repo_root(), &["schematic", "id", "schematics/hcloud.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{HCLOUD_ID}\n"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    let run = talos_hcloud_in(
        repo_root(),
        &["--output", "json", "schematic", "id", "schematics/hcloud.yaml"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        json,
        serde_json::json!({
            "id": HCLOUD_ID,
            "canonical": "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/qemu-guest-agent\n",
        })
    );
}

#[test]
fn formatting_key_order_and_json_do_not_change_the_id() {
    let variants = [
        r#"{"customization": {"systemExtensions": {"officialExtensions": ["siderolabs/qemu-guest-agent"]}}}"#,
        "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/qemu-guest-agent\n",
        "customization: {systemExtensions: {officialExtensions: [siderolabs/qemu-guest-agent]}}",
        "# comment\ncustomization:\n systemExtensions:\n  officialExtensions: ['siderolabs/qemu-guest-agent']  # trailing\n",
        "customization:\n  extraKernelArgs: []\n  meta: []\n  systemExtensions:\n    officialExtensions:\n    - \"siderolabs/qemu-guest-agent\"\n",
        "---\ncustomization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n...\n",
    ];
    for text in variants {
        assert_eq!(id_of(text), HCLOUD_ID, "{text}");
    }
    // Key order: the same fields in another order give the same canonical text.
    let a = "overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}\ncustomization:\n  meta: [{value: foo, key: 10}]\n  extraKernelArgs: [noapic]\n";
    let b = "customization:\n  extraKernelArgs: [noapic]\n  meta: [{key: 0xa, value: foo}]\noverlay: {image: siderolabs/sbc-raspberrypi, name: rpi_generic}\n";
    assert_eq!(id_of(a), id_of(b));

    let run = cli_id(variants[0], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{HCLOUD_ID}\n"));
}

#[test]
fn empty_schematics_have_the_default_id() {
    for text in [
        "",
        "{}",
        "customization: {}",
        "customization:\n",
        "# nothing\n",
        r#"{"customization": {"systemExtensions": {}}}"#,
    ] {
        let run = cli_id(text, &[]);
        assert_eq!(run.code, 0, "{text:?}: {run:?}");
        assert_eq!(run.stdout, format!("{EMPTY_ID}\n"), "{text:?}");
    }
}

#[test]
fn the_reference_kernel_args_example() {
    let run = cli_id("customization:\n  extraKernelArgs:\n    - noapic\n    - nolapic\n", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{KERNEL_ARGS_ID}\n"));
    assert!(KERNEL_ARGS_ID.starts_with("9cba8e32") && KERNEL_ARGS_ID.ends_with("a06c"));
}

#[test]
fn list_order_changes_the_id() {
    let ab = id_of("customization: {systemExtensions: {officialExtensions: [siderolabs/a, siderolabs/b]}}");
    let ba = id_of("customization: {systemExtensions: {officialExtensions: [siderolabs/b, siderolabs/a]}}");
    assert_ne!(ab, ba);
    let args_ab = id_of("customization: {extraKernelArgs: [noapic, nolapic]}");
    let args_ba = id_of("customization: {extraKernelArgs: [nolapic, noapic]}");
    assert_eq!(args_ab, KERNEL_ARGS_ID);
    assert_ne!(args_ab, args_ba);
}

#[test]
fn unknown_fields_are_rejected_with_their_location() {
    let run = cli_id("customisation:\n  extraKernelArgs: [noapic]\n", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.ends_with(
            "schematic.yaml:1:1: unknown field `customisation` in the schematic (known fields: owner, overlay, customization)\n\
             hint: did you mean `customization`?\n"
        ),
        "{}",
        run.stderr
    );

    let run = cli_id(
        "customization:\n  systemExtensions:\n    officialExtension:\n      - siderolabs/qemu-guest-agent\n",
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "schematic.yaml:3:5: unknown field `officialExtension` in `customization.systemExtensions` (known fields: officialExtensions)\n\
             hint: did you mean `officialExtensions`?\n"
        ),
        "{}",
        run.stderr
    );

    let run = cli_id(
        "customization:\n  meta:\n    - key: 1\n      value: x\n      vaule: y\n",
        &["--output", "json"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json error document");
    assert_eq!(json["error"]["class"], "invalid_input");
    let message = json["error"]["message"].as_str().expect("message");
    assert!(
        message.ends_with(
            "schematic.yaml:5:7: unknown field `vaule` in `customization.meta[0]` (known fields: key, value)"
        ),
        "{message}"
    );
}

#[test]
fn invalid_values_are_rejected_with_their_location() {
    let cases = [
        (
            "customization:\n  extraKernelArgs: noapic\n",
            "2:20: `customization.extraKernelArgs` must be a list of strings, e.g. [siderolabs/qemu-guest-agent], found `noapic`",
        ),
        (
            "customization:\n  meta:\n    - key: 256\n      value: x\n",
            "3:12: `customization.meta[0].key` must be between 0 and 255, found 256",
        ),
        (
            "customization:\n  meta:\n    - key: \"1\"\n",
            "3:12: `customization.meta[0].key` must be an integer from 0 to 255, e.g. 0xa, found `1`",
        ),
        (
            "customization:\n  bootloader: lilo\n",
            "2:15: `customization.bootloader` must be one of none, dual-boot, sd-boot, grub; found `lilo`",
        ),
        // The factory's decoder (Talos `imageropts.BootloaderKind`) has no `auto`.
        (
            "customization:\n  bootloader: auto\n",
            "2:15: `customization.bootloader` must be one of none, dual-boot, sd-boot, grub; found `auto`",
        ),
        (
            "customization:\n  secureboot:\n    enrollKeys: always\n",
            "3:17: `customization.secureboot.enrollKeys` must be one of off, manual, if-safe, force; found `always`",
        ),
        (
            "customization:\n  secureboot:\n    includeWellKnownCertificates: maybe\n",
            "3:35: `customization.secureboot.includeWellKnownCertificates` must be true or false, found `maybe`",
        ),
        (
            "customization: {}\ncustomization: {}\n",
            "2:1: `customization` is given twice (first on line 1)",
        ),
        (
            "customization: [a]\n",
            "1:16: `customization` must be a mapping, found a list",
        ),
        ("customization:\n  extraKernelArgs: [noapic\n", "invalid YAML"),
        (
            "a: 1\n---\nb: 2\n",
            "2:1: invalid YAML: a schematic is one YAML document; found a second one",
        ),
    ];
    for (text, expected) in cases {
        let err = Schematic::parse(text, "s.yaml").expect_err(text).to_string();
        assert!(err.starts_with("s.yaml:"), "{err}");
        assert!(err.contains(expected), "{text:?}\n  got: {err}\n want: {expected}");
    }
}

#[test]
fn every_field_round_trips_into_canonical_yaml() {
    // (input, expected canonical YAML): each field's name, order, omission when empty,
    // integer and string rendering, as the factory writes them.
    let cases: &[(&str, &str)] = &[
        ("", "customization: {}\n"),
        (
            "owner: ops@example.com\n",
            "owner: ops@example.com\ncustomization: {}\n",
        ),
        (
            "overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}",
            "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\ncustomization: {}\n",
        ),
        (
            "overlay: {name: rpi, image: x, options: {data: mydata, 10: ten, 9: nine, flag: true, list: [1, 2.50]}}",
            "overlay:\n    image: x\n    name: rpi\n    options:\n        \"9\": nine\n        \"10\": ten\n        data: mydata\n        flag: true\n        list:\n            - 1\n            - 2.5\ncustomization: {}\n",
        ),
        (
            "overlay: {name: rpi}",
            "overlay:\n    image: \"\"\n    name: rpi\ncustomization: {}\n",
        ),
        (
            "customization: {embeddedMachineConfiguration: \"apiVersion: v1alpha1\\nkind: HostnameConfig\\nhostname: node\\n\"}",
            "customization:\n    embeddedMachineConfiguration: |\n        apiVersion: v1alpha1\n        kind: HostnameConfig\n        hostname: node\n",
        ),
        (
            "customization: {extraKernelArgs: [console=ttyS0, 'talos.dashboard.disabled=1', '-x', 'true', '']}",
            "customization:\n    extraKernelArgs:\n        - console=ttyS0\n        - talos.dashboard.disabled=1\n        - -x\n        - \"true\"\n        - \"\"\n",
        ),
        (
            "customization: {meta: [{key: 0xa, value: '{}'}, {key: 0o14, value: 123}]}",
            "customization:\n    meta:\n        - key: 10\n          value: '{}'\n        - key: 12\n          value: \"123\"\n",
        ),
        (
            "customization: {systemExtensions: {officialExtensions: [siderolabs/gvisor, siderolabs/amd-ucode]}}",
            "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/gvisor\n            - siderolabs/amd-ucode\n",
        ),
        (
            "customization: {bootloader: SD-Boot}",
            "customization:\n    bootloader: sd-boot\n",
        ),
        ("customization: {bootloader: none}", "customization: {}\n"),
        (
            "customization: {bootloader: dual-boot}",
            "customization:\n    bootloader: dual-boot\n",
        ),
        (
            "customization: {secureboot: {includeWellKnownCertificates: true, enrollKeys: force}}",
            "customization:\n    secureboot:\n        enrollKeys: force\n        includeWellKnownCertificates: true\n",
        ),
        (
            "customization: {secureboot: {includeWellKnownCertificates: false}}",
            "customization: {}\n",
        ),
        (
            "customization: {diskImage: {sectorSize: 4096}}",
            "customization:\n    diskImage:\n        sectorSize: 4096\n",
        ),
        ("customization: {diskImage: {sectorSize: 0}}", "customization: {}\n"),
        (
            "customization:\n  diskImage: {sectorSize: 512}\n  secureboot: {includeWellKnownCertificates: yes}\n  bootloader: grub\n  systemExtensions: {officialExtensions: [a/b]}\n  meta: [{key: 1, value: v}]\n  extraKernelArgs: [k]\n  embeddedMachineConfiguration: \"x: y\"\noverlay: {image: i, name: n}\nowner: o\n",
            "owner: o\noverlay:\n    image: i\n    name: \"n\"\ncustomization:\n    embeddedMachineConfiguration: 'x: y'\n    extraKernelArgs:\n        - k\n    meta:\n        - key: 1\n          value: v\n    systemExtensions:\n        officialExtensions:\n            - a/b\n    bootloader: grub\n    secureboot:\n        includeWellKnownCertificates: true\n    diskImage:\n        sectorSize: 512\n",
        ),
    ];
    for (input, expected) in cases {
        let schematic = Schematic::parse(input, "case.yaml").unwrap_or_else(|e| panic!("{input}: {e}"));
        let canonical = schematic.canonical_yaml().expect("canonical");
        assert_eq!(&canonical, expected, "input: {input}");
        // The canonical form is a fixed point: parsing it again gives the same bytes.
        let again = Schematic::parse(&canonical, "canonical.yaml").expect("canonical parses");
        assert_eq!(again, schematic, "input: {input}");
        assert_eq!(again.canonical_yaml().expect("canonical"), canonical);
    }
}
