//! `talos gen config NAME ENDPOINT`: talosctl-compatible machine config generation.
//!
//! Resolves the flags into `GenerateOptions` (talosctl's defaults, per version contract),
//! loads the `--config-patch*` patches and the secrets bundle, hands them to
//! `talos::config::gen_files` (generate and patch each requested file, check every
//! target, write 0600) and prints what it made.

use std::path::Path as FsPath;

use serde_json::json;
use talos_hcloud::secure_file::Overwrite;
use talos_hcloud::talos::config::gen_files::{self, FileKind, FlagPatches};
use talos_hcloud::talos::config::patch;
use talos_hcloud::talos::config::{Artifact, Contract, GenerateOptions};
use talos_hcloud::talos::secrets::SecretsBundle;

use super::CliError;
use crate::cli::{GenConfigArgs, GenOutputType};
use crate::printer::{Printer, Report};

/// Runs `talos gen config`.
pub fn run(args: GenConfigArgs, printer: &Printer) -> Result<(), CliError> {
    reject_unsupported(&args)?;
    let (options, kinds) = resolve(&args)?;
    let patches = FlagPatches {
        all: patch::load_flag_patches("--config-patch", &args.config_patch)?,
        control_plane: patch::load_flag_patches("--config-patch-control-plane", &args.config_patch_control_plane)?,
        worker: patch::load_flag_patches("--config-patch-worker", &args.config_patch_worker)?,
    };
    let secrets = read_secrets(args.with_secrets.as_deref(), options.contract, printer)?;

    let generated = gen_files::generate_files(&secrets, &options, &kinds, &patches)?;
    for warning in &generated.warnings {
        printer.status(format!("warning: {warning}"));
    }

    if args.output_dir.as_os_str() == "-" {
        let [file] = generated.files.as_slice() else {
            return Err(CliError::invalid(
                "-o - (stdout) needs exactly one --output-types value",
            ));
        };
        match printer.format() {
            crate::cli::OutputFormat::Text => printer.raw(file.text.as_bytes()),
            crate::cli::OutputFormat::Json => printer.result(&Report::new(
                file.text.clone(),
                json!({ "type": file.kind.as_str(), "config": file.text }),
            )),
        }
        return Ok(());
    }

    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let paths = gen_files::write_files(&generated.files, &args.output_dir, overwrite)?;

    let mut text = format!(
        "Generated Talos {} configs for cluster {:?} (Kubernetes {}):\n",
        options.contract, options.cluster_name, options.kubernetes_version
    );
    for path in &paths {
        text.push_str(&format!("  {}\n", path.display()));
    }
    let json = json!({
        "cluster_name": options.cluster_name,
        "endpoint": options.endpoint,
        "talos_version_contract": options.contract.to_string(),
        "kubernetes_version": options.kubernetes_version,
        "files": generated
            .files
            .iter()
            .zip(&paths)
            .map(|(file, path)| json!({ "type": file.kind.as_str(), "path": path }))
            .collect::<Vec<_>>(),
        "warnings": generated.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    printer.result(&Report::new(text, json));
    Ok(())
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
fn resolve(args: &GenConfigArgs) -> Result<(GenerateOptions, Vec<FileKind>), CliError> {
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

    let mut kinds = Vec::new();
    for output_type in &args.output_types {
        let kind = match output_type {
            GenOutputType::Controlplane => FileKind::ControlPlane,
            GenOutputType::Worker => FileKind::Worker,
            GenOutputType::Talosconfig => FileKind::Talosconfig,
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok((options, kinds))
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
