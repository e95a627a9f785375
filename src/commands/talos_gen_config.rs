//! `talos gen config NAME ENDPOINT`: talosctl-compatible machine config generation.
//!
//! Resolves the flags into `GenerateOptions` (talosctl's defaults, per version contract),
//! generates each requested machine type, applies the `--config-patch*` patches in
//! talosctl's order (all types, then control plane, then worker; reference `talos.md`
//! §B.1), makes the talosconfig, and writes each file atomically with mode 0600
//! (control-plane configs hold CA keys). Everything is generated and checked before the
//! first file is written.

use std::path::{Path as FsPath, PathBuf};

use serde_json::json;
use talos_hcloud::secure_file::{self, Overwrite};
use talos_hcloud::talos::config::patch::{self, Patch, PatchWarning};
use talos_hcloud::talos::config::{Artifact, Contract, GenerateOptions, MachineType, generate};
use talos_hcloud::talos::secrets::SecretsBundle;
use talos_hcloud::talos::talosconfig::Talosconfig;

use super::CliError;
use crate::cli::{GenConfigArgs, GenOutputType};
use crate::printer::{Printer, Report};

/// One file to produce.
struct Output {
    kind: GenOutputType,
    file_name: &'static str,
    text: String,
}

/// Runs `talos gen config`.
pub fn run(args: GenConfigArgs, printer: &Printer) -> Result<(), CliError> {
    reject_unsupported(&args)?;
    let (options, types) = resolve(&args)?;
    let all_patches = patch::load_flag_patches("--config-patch", &args.config_patch)?;
    let control_plane_patches =
        patch::load_flag_patches("--config-patch-control-plane", &args.config_patch_control_plane)?;
    let worker_patches = patch::load_flag_patches("--config-patch-worker", &args.config_patch_worker)?;
    let secrets = read_secrets(args.with_secrets.as_deref(), options.contract, printer)?;

    let mut outputs = Vec::new();
    let mut warnings: Vec<PatchWarning> = Vec::new();
    for kind in types {
        let text = match kind {
            GenOutputType::Controlplane | GenOutputType::Worker => {
                let (machine_type, own) = if kind == GenOutputType::Controlplane {
                    (MachineType::ControlPlane, &control_plane_patches)
                } else {
                    (MachineType::Worker, &worker_patches)
                };
                let docs = generate(&secrets, &options, machine_type)?;
                let patches: Vec<Patch> = all_patches.iter().chain(own.iter()).cloned().collect();
                if patches.is_empty() {
                    docs.to_yaml()
                } else {
                    let (patched, found) = patch::apply(&docs, &patches, &options.contract)?;
                    warnings.extend(found);
                    patched.to_yaml()
                }
            }
            GenOutputType::Talosconfig => {
                // talosctl writes no endpoints; `talosctl config endpoint` or `-e` adds them.
                Talosconfig::for_cluster(&secrets, &options.cluster_name, Vec::<String>::new())?.to_yaml()?
            }
        };
        outputs.push(Output {
            kind,
            file_name: file_name(kind),
            text,
        });
    }
    for warning in &warnings {
        printer.status(format!("warning: {warning}"));
    }

    if args.output_dir.as_os_str() == "-" {
        let [output] = outputs.as_slice() else {
            return Err(CliError::invalid(
                "-o - (stdout) needs exactly one --output-types value",
            ));
        };
        match printer.format() {
            crate::cli::OutputFormat::Text => printer.raw(output.text.as_bytes()),
            crate::cli::OutputFormat::Json => printer.result(&Report::new(
                output.text.clone(),
                json!({ "type": type_name(output.kind), "config": output.text }),
            )),
        }
        return Ok(());
    }

    let files: Vec<(&Output, PathBuf)> = outputs
        .iter()
        .map(|output| (output, args.output_dir.join(output.file_name)))
        .collect();
    // A directory in the way stops the run before the first file is written, with or
    // without --force.
    for (_, path) in &files {
        secure_file::check_target(path, Overwrite::Replace)?;
    }
    if !args.force
        && let Some((_, existing)) = files.iter().find(|(_, path)| path.symlink_metadata().is_ok())
    {
        return Err(CliError::invalid(format!("{} already exists", existing.display()))
            .hint("pass --force to overwrite it, or choose another folder with -o DIR"));
    }
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    for (output, path) in &files {
        secure_file::write_private(path, output.text.as_bytes(), overwrite)?;
    }

    let mut text = format!(
        "Generated Talos {} configs for cluster {:?} (Kubernetes {}):\n",
        options.contract, options.cluster_name, options.kubernetes_version
    );
    for (_, path) in &files {
        text.push_str(&format!("  {}\n", path.display()));
    }
    let json = json!({
        "cluster_name": options.cluster_name,
        "endpoint": options.endpoint,
        "talos_version_contract": options.contract.to_string(),
        "kubernetes_version": options.kubernetes_version,
        "files": files
            .iter()
            .map(|(output, path)| json!({ "type": type_name(output.kind), "path": path }))
            .collect::<Vec<_>>(),
        "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    printer.result(&Report::new(text, json));
    Ok(())
}

fn file_name(kind: GenOutputType) -> &'static str {
    match kind {
        GenOutputType::Controlplane => "controlplane.yaml",
        GenOutputType::Worker => "worker.yaml",
        GenOutputType::Talosconfig => "talosconfig",
    }
}

fn type_name(kind: GenOutputType) -> &'static str {
    match kind {
        GenOutputType::Controlplane => "controlplane",
        GenOutputType::Worker => "worker",
        GenOutputType::Talosconfig => "talosconfig",
    }
}

/// Flags accepted for compatibility whose behaviour is not available.
fn reject_unsupported(args: &GenConfigArgs) -> Result<(), CliError> {
    for (flag, value) in [("--with-docs", args.with_docs), ("--with-examples", args.with_examples)] {
        if value == Some(true) {
            return Err(CliError::invalid(format!(
                "{flag}=true is not supported: talos-hcloud never writes comments (Hetzner user_data is limited to 32 KiB)"
            ))
            .hint(format!("drop {flag} or pass {flag}=false")));
        }
    }
    Ok(())
}

/// The generation options and output types the flags ask for (each type once, in the
/// order given).
fn resolve(args: &GenConfigArgs) -> Result<(GenerateOptions, Vec<GenOutputType>), CliError> {
    let talos_version = args.talos_version.as_deref().unwrap_or("");
    let contract = if talos_version.is_empty() {
        Contract::CURRENT
    } else {
        Contract::parse_for(talos_version, Artifact::MachineConfig)?
    };
    let kubernetes_version = args.kubernetes_version.clone().unwrap_or_else(|| {
        contract
            .default_kubernetes_version()
            .expect("invariant: every line configs are generated for has a default Kubernetes version")
            .to_string()
    });
    let mut options = GenerateOptions::new(&args.cluster_name, &args.endpoint, &kubernetes_version, contract);
    options.additional_sans = args.additional_sans.iter().filter(|s| !s.is_empty()).cloned().collect();
    options.dns_domain = args.dns_domain.clone();
    options.install_disk = Some(args.install_disk.clone()).filter(|d| !d.is_empty());
    options.install_image = match &args.install_image {
        Some(image) => Some(image.clone()).filter(|i| !i.is_empty()),
        None => Some(format!(
            "ghcr.io/siderolabs/installer:{}",
            installer_tag(talos_version, contract)
        )),
    };
    for spec in &args.registry_mirrors {
        let Some((host, url)) = spec.split_once('=').filter(|(h, u)| !h.is_empty() && !u.is_empty()) else {
            return Err(CliError::invalid(format!(
                "invalid registry mirror {spec:?}: expected HOST=URL, e.g. docker.io=https://mirror.gcr.io"
            )));
        };
        options.add_registry_mirror(host, url);
    }
    options.kubespan = args.with_kubespan;
    options.endpoint_host()?;

    let mut types = Vec::new();
    for output_type in &args.output_types {
        if !types.contains(output_type) {
            types.push(*output_type);
        }
    }
    Ok((options, types))
}

/// The installer tag: the full version given (`v1.11.3` or `1.11.3`), else the line's newest
/// release.
fn installer_tag(talos_version: &str, contract: Contract) -> String {
    let bare = talos_version.strip_prefix('v').unwrap_or(talos_version);
    if bare.matches('.').count() >= 2 {
        format!("v{bare}")
    } else {
        contract
            .newest_release()
            .expect("invariant: every line configs are generated for has a newest release")
            .to_string()
    }
}

/// The bundle of `--with-secrets`, or (as talosctl does) a new one that is not saved.
fn read_secrets(path: Option<&FsPath>, contract: Contract, printer: &Printer) -> Result<SecretsBundle, CliError> {
    match path {
        Some(path) => Ok(SecretsBundle::load(path)?),
        None => {
            printer.status(format!(
                "generating a new secrets bundle for Talos {contract} (not saved: pass --with-secrets FILE to reuse one)"
            ));
            Ok(SecretsBundle::generate(contract)?)
        }
    }
}
