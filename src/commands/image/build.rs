//! `image build`: resolve the request from cluster.yaml and flags, run the library's
//! build with signal handling and progress, print one report per architecture.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar};
use serde_json::json;
use talos_hcloud::factory::{Compression, FactoryClient, Schematic};
use talos_hcloud::image::build::{self, ArchBuild, BuildOptions, BuildProgress, BuildRequest, Outcome, Phase, Via};
use talos_hcloud::spec::{self, Architecture, TalosVersion};

use super::CliError;
use crate::cli::{GlobalArgs, ImageBuildArgs};
use crate::printer::{Printer, Report};

/// Runs `image build`.
pub async fn run(args: ImageBuildArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let request = request(&args, global)?;
    let client = super::super::hcloud::client(global)?;
    let factory = FactoryClient::new(&global.factory_url)?;
    let (options, progress) = build_options(printer, &request.architectures)?;
    let outcome = build::build(&client, &factory, &request, &options).await;
    progress.finish();
    let reports = outcome?;
    printer.result(&Report::new(text(&reports), json!(reports)));
    Ok(())
}

/// Build options for a command: progress bars for `archs` (finish them when the build
/// ends) and SIGINT/SIGTERM delivered to the build's cleanup.
pub(crate) fn build_options(
    printer: &Printer,
    archs: &[Architecture],
) -> Result<(BuildOptions, Arc<Progress>), CliError> {
    let interrupt = crate::commands::signals()?;
    let progress = Arc::new(Progress::new(printer, archs));
    let options = BuildOptions {
        progress: Arc::clone(&progress) as Arc<dyn BuildProgress>,
        interrupt,
        ..BuildOptions::default()
    };
    Ok((options, progress))
}

/// The build request: cluster.yaml's values (read only when a flag leaves one open),
/// overridden by the flags.
fn request(args: &ImageBuildArgs, global: &GlobalArgs) -> Result<BuildRequest, CliError> {
    let needs_spec = args.schematic.is_none() || args.talos_version.is_none() || args.arch.is_empty();
    let spec = if needs_spec {
        Some(spec::load(&global.config)?)
    } else {
        None
    };
    let schematic = match (&args.schematic, &spec) {
        (Some(path), _) => Schematic::load(path)?,
        (None, Some(spec)) => spec.talos.schematic.parsed.clone(),
        (None, None) => return Err(CliError::invalid("--schematic is required without cluster.yaml")),
    };
    let version = match (&args.talos_version, &spec) {
        (Some(text), _) => {
            TalosVersion::parse_tag(text).map_err(|e| CliError::invalid(format!("--talos-version: {e}")))?
        }
        (None, Some(spec)) => spec.talos.version.clone(),
        (None, None) => return Err(CliError::invalid("--talos-version is required without cluster.yaml")),
    };
    let archs: Vec<Architecture> = if args.arch.is_empty() {
        spec.as_ref().map(|s| s.architectures().to_vec()).unwrap_or_default()
    } else {
        args.arch
            .iter()
            .map(|name| {
                Architecture::from_name(name.trim())
                    .ok_or_else(|| CliError::invalid(format!("--arch: `{name}` is not amd64 or arm64")))
            })
            .collect::<Result<_, _>>()?
    };
    let mut request = BuildRequest::new(schematic, version, &archs)?;
    if let Some(spec) = &spec {
        request = request.for_cluster(spec);
    }
    if !args.location.is_empty() {
        request.locations = args.location.iter().map(|l| l.trim().to_string()).collect();
    }
    request.server_types = args.server_type.iter().map(|t| t.trim().to_string()).collect();
    request.via = args
        .via
        .parse::<Via>()
        .map_err(|e| CliError::invalid(format!("--via: {e}")))?;
    request.compression = args
        .compression
        .parse::<Compression>()
        .map_err(|e| CliError::invalid(format!("--compression: {e}")))?;
    request.force = args.force;
    Ok(request)
}

/// The result as text: one line per architecture.
fn text(reports: &[ArchBuild]) -> String {
    reports
        .iter()
        .map(|r| match r.outcome {
            Outcome::Present => format!(
                "{}  image {}  already present (Talos {}, schematic {})",
                r.arch,
                r.image_id,
                r.version,
                short(&r.schematic)
            ),
            Outcome::Built => {
                let replaced = if r.replaced.is_empty() {
                    String::new()
                } else {
                    let ids: Vec<String> = r.replaced.iter().map(ToString::to_string).collect();
                    format!(", replaced {}", ids.join(", "))
                };
                format!(
                    "{}  image {}  built (Talos {}, schematic {}, {} bytes verified, sha256 {}, {:.1} s{replaced})",
                    r.arch,
                    r.image_id,
                    r.version,
                    short(&r.schematic),
                    r.bytes,
                    short(&r.sha256),
                    r.duration_s
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// Progress: one bar per architecture with its phase and bytes on a terminal, plain
/// status lines otherwise.
pub(crate) struct Progress {
    printer: Printer,
    bars: BTreeMap<Architecture, ProgressBar>,
    phases: Mutex<BTreeMap<Architecture, Phase>>,
    _multi: Option<MultiProgress>,
}

impl Progress {
    fn new(printer: &Printer, archs: &[Architecture]) -> Progress {
        let multi = printer.shows_progress().then(MultiProgress::new);
        let bars = archs
            .iter()
            .map(|&arch| {
                let bar = printer.bytes_bar(None, format!("{arch}: preflight"));
                let bar = match &multi {
                    Some(multi) => multi.add(bar),
                    None => bar,
                };
                (arch, bar)
            })
            .collect();
        Progress {
            printer: printer.clone(),
            bars,
            phases: Mutex::new(BTreeMap::new()),
            _multi: multi,
        }
    }

    /// Clears the bars.
    pub(crate) fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, message: String) {
        if self.printer.shows_progress() {
            if let Some(bar) = self.bars.values().next() {
                bar.println(message);
            }
        } else {
            self.printer.status(message);
        }
    }
}

impl BuildProgress for Progress {
    fn phase(&self, arch: Architecture, phase: Phase) {
        let mut phases = talos_hcloud::lock::lock(&self.phases);
        if phases.insert(arch, phase) == Some(phase) {
            return;
        }
        drop(phases);
        if let Some(bar) = self.bars.get(&arch) {
            bar.set_message(format!("{arch}: {}", phase.as_str()));
        }
        if !self.printer.shows_progress() {
            self.printer.status(format!("{arch}: {}", phase.as_str()));
        }
    }

    fn bytes(&self, arch: Architecture, done: u64, total: Option<u64>) {
        if let Some(bar) = self.bars.get(&arch) {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    }

    fn note(&self, arch: Option<Architecture>, message: &str) {
        match arch {
            Some(arch) => self.line(format!("{arch}: {message}")),
            None => self.line(message.to_string()),
        }
    }
}
