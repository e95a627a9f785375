//! `config gen`: render every node's machine config and the talosconfig of the cluster in
//! cluster.yaml into a folder.
//!
//! Resolves the operator's inputs (cluster.yaml, the secrets bundle, the Kubernetes API
//! endpoint, `HCLOUD_TOKEN`, `--talos-endpoint`), hands them to
//! `talos::config::cluster_files::write_cluster` (render, check targets, write 0600) and
//! prints what it wrote. The endpoint is `--endpoint` when given; otherwise the floating IP
//! or API load balancer `apply` created is looked up live (`cluster::endpoint::find`, one
//! read-only request), which is the only request the command sends.

use std::net::IpAddr;
use std::path::Path;

use serde_json::json;
use talos_hcloud::cluster::endpoint;
use talos_hcloud::secure_file::Overwrite;
use talos_hcloud::spec::{self, Endpoint};
use talos_hcloud::talos::config::cluster_files::{self, ClusterFiles};
use talos_hcloud::talos::config::render::{self, ApiEndpoint};
use talos_hcloud::talos::secrets::{self, SecretsBundle};
use time::OffsetDateTime;

use super::CliError;
use crate::cli::{ConfigCommand, ConfigGenArgs, GlobalArgs};
use crate::printer::{Printer, Report};

/// Runs a `config` subcommand.
pub async fn run(command: ConfigCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match command {
        ConfigCommand::Gen(args) => generate(&args, global, printer).await,
    }
}

async fn generate(args: &ConfigGenArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let endpoint = match &args.endpoint {
        Some(text) => ApiEndpoint::parse(text)?,
        None => live_endpoint(&spec, global).await?,
    };
    let talos_endpoints = talos_endpoints(&args.talos_endpoints, &spec, &endpoint)?;
    let hcloud_token = global.hcloud_token.as_ref();
    // Checked before the bundle is read, so a missing token is reported first.
    let cluster = render::hcloud_cluster(&spec, &endpoint, hcloud_token)?;
    let secrets_path = args.secrets.clone().unwrap_or_else(|| spec.secrets_path());
    let bundle = load_secrets(&secrets_path, &global.config)?;
    let out_dir = args.out.clone().unwrap_or_else(|| spec.configs_dir());

    let written = cluster_files::write_cluster(&ClusterFiles {
        spec: &spec,
        secrets: &bundle,
        cluster: &cluster,
        talos_endpoints: &talos_endpoints,
        dir: &out_dir,
        overwrite: if args.force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        },
        now: OffsetDateTime::now_utc(),
    })?;

    for warning in &written.warnings {
        printer.status(format!("warning: {warning}"));
    }
    let (not_before, not_after) = written.admin_certificate;
    let mut text = format!(
        "wrote machine configs for cluster {} (Talos {}, Kubernetes {}, endpoint {}), mode 0600:\n",
        spec.name,
        spec.talos.version,
        spec.kubernetes.version,
        endpoint.url()
    );
    for node in &written.nodes {
        text.push_str(&format!("  {}  ({})\n", node.path.display(), node.role));
    }
    let endpoints_text = if talos_endpoints.is_empty() {
        "no endpoints: pass --talos-endpoint or use talosctl -e".to_string()
    } else {
        format!("endpoints {}", talos_endpoints.join(", "))
    };
    text.push_str(&format!(
        "  {}  (talosconfig, {endpoints_text}; admin certificate valid until {})\n",
        written.talosconfig.display(),
        date(not_after)
    ));
    text.push_str("the control-plane configs hold the cluster's CA keys: keep them private");
    let document = json!({
        "cluster": spec.name.as_str(),
        "talos_version": spec.talos.version.to_string(),
        "kubernetes_version": spec.kubernetes.version.to_string(),
        "endpoint": endpoint.url(),
        "directory": out_dir,
        "secrets": secrets_path,
        "mode": "0600",
        "nodes": written
            .nodes
            .iter()
            .map(|node| json!({ "name": node.name, "role": node.role.as_str(), "path": node.path }))
            .collect::<Vec<_>>(),
        "talosconfig": {
            "path": written.talosconfig,
            "context": spec.name.as_str(),
            "endpoints": talos_endpoints,
            "admin_certificate": {
                "not_before": rfc3339(not_before),
                "not_after": rfc3339(not_after),
            },
        },
        "warnings": written.warnings,
    });
    printer.result(&Report::new(text, document));
    Ok(())
}

/// No `--endpoint`: the floating IP's or API load balancer's address as it exists live.
///
/// # Errors
/// Exit 2 when there is no token to look it up with, or when it does not exist yet (the
/// hint says to run `apply` first or pass `--endpoint`); the API's failures otherwise.
async fn live_endpoint(spec: &spec::Spec, global: &GlobalArgs) -> Result<ApiEndpoint, CliError> {
    let (what, resource) = match spec.endpoint {
        Endpoint::FloatingIp => ("floating IP", "floating-ip"),
        Endpoint::LoadBalancer => ("API load balancer", "load-balancer"),
    };
    let name = spec.api_endpoint_name();
    if global.hcloud_token.is_none() {
        return Err(CliError::invalid(format!(
            "the Kubernetes API endpoint is needed: pass --endpoint with the {what}'s address, or set HCLOUD_TOKEN to look it up"
        ))
        .hint(format!(
            "the {what} {name} is found by the label talos-hcloud/cluster={} once `talos-hcloud apply` created it",
            spec.name
        )));
    }
    let client = super::hcloud::client(global)?;
    let found = endpoint::find(&client, spec)
        .await
        .map_err(|e| CliError::from(e).context(format!("while looking up the {what} {name}")))?;
    match found.and_then(|found| found.address) {
        Some(address) => Ok(ApiEndpoint::parse(&address)?),
        None => Err(CliError::invalid(format!(
            "the {what} {name} of cluster {} does not exist yet, so the Kubernetes API endpoint is not known",
            spec.name
        ))
        .hint(format!(
            "run `talos-hcloud apply` first (it creates the {what}), or pass --endpoint; \
             `hcloud {resource} list -l talos-hcloud/cluster={}` shows what exists",
            spec.name
        ))),
    }
}

/// Reads the bundle; a missing file says how to make one.
fn load_secrets(path: &Path, config: &Path) -> Result<SecretsBundle, CliError> {
    match SecretsBundle::load(path) {
        Ok(bundle) => Ok(bundle),
        Err(secrets::Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Err(
            CliError::invalid(format!("no secrets bundle at {}", path.display())).hint(format!(
                "create one with `talos-hcloud -c {} secrets gen`, or name an existing one with --secrets FILE",
                config.display()
            )),
        ),
        Err(e) => Err(e.into()),
    }
}

/// Checks `--talos-endpoint` values: addresses or host names with an optional port, never
/// the floating IP.
fn talos_endpoints(values: &[String], spec: &spec::Spec, endpoint: &ApiEndpoint) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for value in values {
        let value = value.trim();
        let host = host_of(value).ok_or_else(|| {
            CliError::invalid(format!(
                "invalid --talos-endpoint {value:?}: expected an address or host name with an optional port, e.g. 198.51.100.11 or 198.51.100.11:50000"
            ))
        })?;
        if spec.endpoint == Endpoint::FloatingIp && endpoint.ip().is_some_and(|vip| host.parse::<IpAddr>() == Ok(vip)) {
            return Err(CliError::invalid(format!(
                "--talos-endpoint {value} is the floating IP: Talos holds it through an etcd election, so it is gone exactly when etcd or the API server is unhealthy"
            ))
            .hint("use the control-plane nodes' public IPs"));
        }
        if !out.iter().any(|e| e == value) {
            out.push(value.to_string());
        }
    }
    Ok(out)
}

/// The host of `host`, `host:port`, `ip`, `[ipv6]:port`; `None` for anything else.
fn host_of(value: &str) -> Option<String> {
    if value.is_empty() || value.contains("://") || value.contains(['/', ' ', '@']) {
        return None;
    }
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    if let Ok(socket) = value.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_string());
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return None;
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    (host.len() <= 253 && host.split('.').all(valid_label)).then(|| host.to_string())
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    at.format(&format).unwrap_or_else(|_| at.to_string())
}
