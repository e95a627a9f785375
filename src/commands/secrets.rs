//! `secrets gen` and `secrets check`: make a new secrets bundle, or vet one brought along.

use serde_json::json;
use talos_hcloud::secure_file::{self, Overwrite};
use talos_hcloud::spec;
use talos_hcloud::talos::contract::{Artifact, Contract};
use talos_hcloud::talos::pki::{CertificateSummary, private_key_algorithm};
use talos_hcloud::talos::secrets::{self, CaName, SecretsBundle};
use time::OffsetDateTime;

use super::CliError;
use crate::cli::{GlobalArgs, SecretsArgs, SecretsCheckArgs, SecretsCommand, SecretsGenArgs};
use crate::printer::{Printer, Report};

/// A CA expiring within this many days is reported as a warning by `secrets check`.
const EXPIRY_WARNING_DAYS: i64 = 90;

/// Runs `secrets gen` or `secrets check`.
pub fn run(args: SecretsArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match args.command {
        SecretsCommand::Gen(gen_args) => generate(&gen_args, global, printer),
        SecretsCommand::Check(check_args) => check(&check_args, printer),
    }
}

fn generate(args: &SecretsGenArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    // With -o the bundle needs no cluster description; without it the path and the
    // default version come from cluster.yaml.
    let (out, cluster_contract) = match &args.out {
        Some(out) => (out.clone(), None),
        None => {
            let spec = spec::load(&global.config).map_err(|e| match e {
                spec::Error::Read { .. } => CliError::from(e).hint(
                    "or write the bundle to a file of your choice without a cluster description: secrets gen -o FILE",
                ),
                _ => CliError::from(e),
            })?;
            (spec.secrets_path(), Some(spec.talos.version.contract()))
        }
    };
    // cluster.yaml's version was checked when the spec loaded (every line it accepts
    // has secrets bundles); a --talos-version given here is checked now.
    let contract = match (&args.talos_version, cluster_contract) {
        (Some(text), _) => Contract::parse_for(text, Artifact::SecretsBundle)?,
        (None, Some(contract)) => contract,
        (None, None) => Contract::CURRENT,
    };
    if out.as_os_str() == "-" {
        return generate_to_stdout(contract, printer);
    }
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    // Fail before spending seconds on key generation; the write checks again anyway.
    let existed = secure_file::check_target(&out, overwrite).map_err(|source| secrets::Error::Write {
        path: out.clone(),
        source,
    })?;

    printer.status(format!(
        "generating secrets for Talos {contract} (the RSA-4096 key takes a few seconds)"
    ));
    let bundle = SecretsBundle::generate(contract)?;
    bundle.save(&out, overwrite)?;

    let summaries = ca_summaries(&bundle)?;
    let path = out.display().to_string();
    let text = format!(
        "wrote secrets bundle {path} (Talos {contract}, mode 0600)\n\
         keep it safe and backed up: it holds the cluster's CAs and cannot be re-created"
    );
    let document = json!({
        "path": path,
        "talos_version": contract.to_string(),
        "mode": "0600",
        "replaced": existed,
        "cas": summaries.iter().map(|(name, summary)| ca_json(*name, summary)).collect::<Vec<_>>(),
    });
    printer.result(&Report::new(text, document));
    Ok(())
}

/// `secrets gen -o -`: the bundle on stdout, as `talosctl gen secrets -o -` writes it (for
/// a secret store fed by a pipe); with `--output json` inside the result document.
fn generate_to_stdout(contract: Contract, printer: &Printer) -> Result<(), CliError> {
    printer.status(format!(
        "generating secrets for Talos {contract} (the RSA-4096 key takes a few seconds); the bundle goes to stdout"
    ));
    let bundle = SecretsBundle::generate(contract)?;
    let yaml = bundle.to_yaml()?;
    let summaries = ca_summaries(&bundle)?;
    let document = json!({
        "path": "-",
        "talos_version": contract.to_string(),
        "bundle": yaml,
        "cas": summaries.iter().map(|(name, summary)| ca_json(*name, summary)).collect::<Vec<_>>(),
    });
    printer.result(&Report::new(yaml, document));
    Ok(())
}

fn check(args: &SecretsCheckArgs, printer: &Printer) -> Result<(), CliError> {
    let bundle = SecretsBundle::load(&args.file)?;
    let summaries = ca_summaries(&bundle)?;
    let service_account = private_key_algorithm(&bundle.certs.k8sserviceaccount.key.0)
        .map_err(|e| CliError::failed(e.to_string()).context("reading the service-account key"))?;
    let encryption = if bundle.secrets.secretboxencryptionsecret.is_some() {
        "secretbox"
    } else {
        "aescbc"
    };
    let path = args.file.display().to_string();

    let mut warnings = Vec::new();
    if let Ok(Some(mode)) = secure_file::loose_permissions(&args.file) {
        warnings.push(format!(
            "{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
        ));
    }
    let now = OffsetDateTime::now_utc();
    for (name, summary) in &summaries {
        let days_left = (summary.not_after - now).whole_days();
        if summary.not_after <= now {
            warnings.push(format!(
                "certs.{} expired on {}",
                name.as_str(),
                date(summary.not_after)
            ));
        } else if days_left < EXPIRY_WARNING_DAYS {
            warnings.push(format!(
                "certs.{} expires on {} (in {days_left} days)",
                name.as_str(),
                date(summary.not_after)
            ));
        }
        if !summary.is_ca {
            warnings.push(format!(
                "certs.{} is not marked as a CA (BasicConstraints)",
                name.as_str()
            ));
        }
    }

    let mut text = format!("{path}: valid secrets bundle\n");
    for (name, summary) in &summaries {
        let subject = if summary.subject.is_empty() {
            "(empty subject)"
        } else {
            summary.subject.as_str()
        };
        text.push_str(&format!(
            "  {:<14} {:<16} {:<12} valid {} to {}  SHA256 {}\n",
            name.as_str(),
            subject,
            summary.key_algorithm,
            date(summary.not_before),
            date(summary.not_after),
            summary.sha256_fingerprint
        ));
    }
    text.push_str(&format!("  service-account key: {service_account}\n"));
    text.push_str(&format!("  encryption secret:   {encryption}\n"));
    for warning in &warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    let document = json!({
        "path": path,
        "valid": true,
        "cas": summaries.iter().map(|(name, summary)| ca_json(*name, summary)).collect::<Vec<_>>(),
        "service_account_key": service_account.to_string(),
        "encryption": encryption,
        "warnings": warnings,
    });
    printer.result(&Report::new(text, document));
    Ok(())
}

fn ca_summaries(bundle: &SecretsBundle) -> Result<Vec<(CaName, CertificateSummary)>, CliError> {
    bundle
        .ca_summaries()
        .map_err(|e| CliError::failed(e.to_string()).context("summarising the bundle's CAs"))
}

fn ca_json(name: CaName, summary: &CertificateSummary) -> serde_json::Value {
    let mut value = json!({ "name": name.as_str() });
    if let (Some(object), serde_json::Value::Object(fields)) = (
        value.as_object_mut(),
        serde_json::to_value(summary).expect("invariant: a certificate summary serializes to JSON"),
    ) {
        object.extend(fields);
    }
    value
}

fn date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    at.format(&format).unwrap_or_else(|_| at.to_string())
}
