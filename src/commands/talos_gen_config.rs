//! `talos gen config NAME ENDPOINT`: talosctl-compatible machine config generation.
//!
//! Resolves the flags into `GenerateOptions` (talosctl's defaults, per version contract),
//! generates each requested type and writes it atomically with mode 0600 (control-plane
//! configs hold CA keys). Every check runs before the first file is written.

use std::io::Write as _;
use std::path::{Path as FsPath, PathBuf};

use serde_json::json;
use talos_hcloud::talos::config::{Artifact, Contract, GenerateOptions, MachineType, generate};
use talos_hcloud::talos::secrets::SecretsBundle;

use super::CliError;
use crate::cli::{GenConfigArgs, GenOutputType};
use crate::printer::{Printer, Report};

/// Runs `talos gen config`.
pub fn run(args: GenConfigArgs, printer: &Printer) -> Result<(), CliError> {
    reject_unsupported(&args)?;
    let (options, types) = resolve(&args)?;
    let secrets = read_secrets(args.with_secrets.as_deref())?;

    let mut outputs = Vec::new();
    for machine_type in types {
        let docs = generate(&secrets, &options, machine_type)?;
        outputs.push((machine_type, docs.to_yaml()));
    }

    if args.output_dir.as_os_str() == "-" {
        let [(machine_type, yaml)] = outputs.as_slice() else {
            return Err(CliError::invalid(
                "-o - (stdout) needs exactly one --output-types value",
            ));
        };
        match printer.format() {
            crate::cli::OutputFormat::Text => printer.raw(yaml.as_bytes()),
            crate::cli::OutputFormat::Json => printer.result(&Report::new(
                yaml.clone(),
                json!({ "type": machine_type.as_str(), "config": yaml }),
            )),
        }
        return Ok(());
    }

    let files: Vec<(MachineType, PathBuf, String)> = outputs
        .into_iter()
        .map(|(machine_type, yaml)| {
            let path = args.output_dir.join(format!("{}.yaml", machine_type.as_str()));
            (machine_type, path, yaml)
        })
        .collect();
    if !args.force
        && let Some((_, existing, _)) = files.iter().find(|(_, path, _)| path.exists())
    {
        return Err(CliError::invalid(format!("{} already exists", existing.display()))
            .hint("pass --force to overwrite it, or choose another folder with -o DIR"));
    }
    std::fs::create_dir_all(&args.output_dir).map_err(|e| {
        CliError::failed(e.to_string()).context(format!("while creating {}", args.output_dir.display()))
    })?;
    for (_, path, yaml) in &files {
        write_private(path, yaml.as_bytes(), args.force)
            .map_err(|e| CliError::failed(e.to_string()).context(format!("while writing {}", path.display())))?;
    }

    let mut text = format!(
        "Generated Talos {} configs for cluster {:?} (Kubernetes {}):\n",
        options.contract, options.cluster_name, options.kubernetes_version
    );
    for (_, path, _) in &files {
        text.push_str(&format!("  {}\n", path.display()));
    }
    let json = json!({
        "cluster_name": options.cluster_name,
        "endpoint": options.endpoint,
        "talos_version_contract": options.contract.to_string(),
        "kubernetes_version": options.kubernetes_version,
        "files": files
            .iter()
            .map(|(machine_type, path, _)| json!({ "type": machine_type.as_str(), "path": path }))
            .collect::<Vec<_>>(),
    });
    printer.result(&Report::new(text, json));
    Ok(())
}

/// Flags accepted for compatibility whose behaviour is not available.
fn reject_unsupported(args: &GenConfigArgs) -> Result<(), CliError> {
    if !args.config_patch.is_empty()
        || !args.config_patch_control_plane.is_empty()
        || !args.config_patch_worker.is_empty()
    {
        return Err(CliError::invalid(
            "--config-patch, --config-patch-control-plane and --config-patch-worker are not supported yet",
        )
        .hint("generate without patches and apply them with talosctl machineconfig patch for now"));
    }
    if args.output_types.contains(&GenOutputType::Talosconfig) {
        return Err(CliError::invalid("--output-types talosconfig is not supported yet")
            .hint("use --output-types controlplane,worker"));
    }
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

/// The generation options and machine types the flags ask for.
fn resolve(args: &GenConfigArgs) -> Result<(GenerateOptions, Vec<MachineType>), CliError> {
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
        let machine_type = match output_type {
            GenOutputType::Controlplane => MachineType::ControlPlane,
            GenOutputType::Worker => MachineType::Worker,
            GenOutputType::Talosconfig => continue,
        };
        if !types.contains(&machine_type) {
            types.push(machine_type);
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

fn read_secrets(path: Option<&FsPath>) -> Result<SecretsBundle, CliError> {
    let Some(path) = path else {
        return Err(
            CliError::invalid("a secrets bundle is required: pass --with-secrets FILE").hint(
                "create one with `talosctl gen secrets -o secrets.yaml` (talos-hcloud's own `secrets gen` writes the same format)",
            ),
        );
    };
    let context = || format!("while reading the secrets bundle {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| CliError::invalid(e.to_string()).context(context()))?;
    serde_saphyr::from_str(&text).map_err(|e| CliError::invalid(e.to_string()).context(context()))
}

/// Writes `bytes` to `path` atomically with mode 0600 (a temporary file in the same folder,
/// synced, then renamed over the target; never over an existing file unless `overwrite`).
fn write_private(path: &FsPath, bytes: &[u8], overwrite: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(FsPath::new("."));
    let mut file = tempfile::Builder::new().prefix(".talos-hcloud-").tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    if overwrite {
        file.persist(path).map_err(|e| e.error)?;
    } else {
        file.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}
