//! Progress of `apply` while it runs: each node's phase (creating → booting → config
//! delivered → apid ready → etcd member → healthy) and one-off notes (the bootstrap, the
//! health check). The operator watching a 100-node apply sees which node is where and
//! which one is stuck, instead of a silent wait.
//!
//! [`ApplyProgress`] is what `apply` reports to; [`Reporter`] shows it as one indicatif
//! line per node on a terminal, or as timestamped plain lines elsewhere (logs, CI, tests).
//! A plain `Fn(String)` is an [`ApplyProgress`] too: it gets every phase as a line.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Where one node is in `apply`, in the order a new node passes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodePhase {
    /// Its server is being created (or an interrupted run's server finished).
    Creating,
    /// Its server runs; Talos boots into maintenance mode.
    Booting,
    /// Its config was sent; the node installs and reboots into configured mode.
    ConfigDelivered,
    /// A changed config is being rolled out to it.
    Updating,
    /// Its Talos API answers with mutual TLS (configured mode).
    ApidReady,
    /// A control plane: etcd has it as a healthy member.
    EtcdMember,
    /// Every health stage passed with it.
    Healthy,
}

impl NodePhase {
    /// The phase as the progress lines show it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodePhase::Creating => "creating",
            NodePhase::Booting => "booting",
            NodePhase::ConfigDelivered => "config delivered, rebooting",
            NodePhase::Updating => "applying the changed config",
            NodePhase::ApidReady => "apid ready",
            NodePhase::EtcdMember => "etcd member",
            NodePhase::Healthy => "healthy",
        }
    }
}

/// What `apply` reports its progress to.
pub trait ApplyProgress: Send + Sync {
    /// Node `node` entered `phase`.
    fn phase(&self, node: &str, phase: NodePhase);

    /// A line that belongs to no single node (`etcd: bootstrapped on cp-1`).
    fn note(&self, line: String);
}

/// A closure gets a phase as the line `NODE: PHASE`.
impl<F: Fn(String) + Send + Sync> ApplyProgress for F {
    fn phase(&self, node: &str, phase: NodePhase) {
        self(format!("{node}: {}", phase.as_str()));
    }

    fn note(&self, line: String) {
        self(line);
    }
}

/// One spinner line per node on stderr.
struct Bars {
    multi: MultiProgress,
    lines: Mutex<BTreeMap<String, ProgressBar>>,
}

/// Shows `apply`'s progress: indicatif lines on a terminal, plain lines otherwise.
pub struct Reporter {
    /// Where notes (and, without bars, phases) go: it decides whether and where they are
    /// printed (stderr, honouring `--quiet` and JSON output) and makes them terminal-safe.
    sink: Box<dyn Fn(String) + Send + Sync>,
    bars: Option<Bars>,
    phases: Mutex<BTreeMap<String, NodePhase>>,
}

impl Reporter {
    /// Plain lines `HH:MM:SS NODE: PHASE` (UTC), each handed to `sink`.
    pub fn lines(sink: impl Fn(String) + Send + Sync + 'static) -> Reporter {
        Reporter {
            sink: Box::new(sink),
            bars: None,
            phases: Mutex::new(BTreeMap::new()),
        }
    }

    /// One live line per node on stderr (use only when stderr is a terminal and progress
    /// is wanted): `nodes` get theirs in this order, others when first seen. Notes go to
    /// `sink`, printed above the lines.
    pub fn bars(nodes: &[String], sink: impl Fn(String) + Send + Sync + 'static) -> Reporter {
        let mut reporter = Reporter::lines(sink);
        reporter.bars = Some(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            lines: Mutex::new(BTreeMap::new()),
        });
        for node in nodes {
            reporter.bar(node);
        }
        reporter
    }

    /// The phase each node reached last.
    pub fn reached(&self) -> BTreeMap<String, NodePhase> {
        self.phases.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Ends the live lines, leaving each node's last phase on screen.
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            for bar in bars.lines.lock().unwrap_or_else(|e| e.into_inner()).values() {
                bar.finish();
            }
        }
    }

    /// The live line of `node`, added below the others when it has none yet; `None`
    /// without bars.
    fn bar(&self, node: &str) -> Option<ProgressBar> {
        let bars = self.bars.as_ref()?;
        let mut lines = bars.lines.lock().unwrap_or_else(|e| e.into_inner());
        let bar = lines.entry(node.to_string()).or_insert_with(|| {
            let bar = bars.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} ({elapsed})")
                    .expect("invariant: progress template is valid"),
            );
            bar.set_prefix(node.to_string());
            bar.set_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Some(bar.clone())
    }
}

impl ApplyProgress for Reporter {
    fn phase(&self, node: &str, phase: NodePhase) {
        let previous = self
            .phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.to_string(), phase);
        if previous == Some(phase) {
            return;
        }
        match self.bar(node) {
            Some(bar) => {
                bar.set_message(phase.as_str());
                if phase == NodePhase::Healthy {
                    bar.finish();
                }
            }
            None => (self.sink)(stamped(&format!("{node}: {}", phase.as_str()))),
        }
    }

    fn note(&self, line: String) {
        match &self.bars {
            Some(bars) => bars.multi.suspend(|| (self.sink)(line)),
            None => (self.sink)(stamped(&line)),
        }
    }
}

/// `line` behind the current UTC time of day.
fn stamped(line: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:02}:{:02}:{:02} {line}", now.hour(), now.minute(), now.second())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{ApplyProgress, NodePhase, Reporter};

    #[test]
    fn plain_lines_are_stamped_once_per_phase_change() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let reporter = Reporter::lines(move |line| sink.lock().expect("lock").push(line));
        reporter.phase("cp-1", NodePhase::Creating);
        reporter.phase("cp-1", NodePhase::Creating);
        reporter.phase("cp-1", NodePhase::Booting);
        reporter.note("etcd: bootstrapped on cp-1".into());
        let lines = seen.lock().expect("lock").clone();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let bodies: Vec<&str> = lines.iter().map(|l| &l[9..]).collect();
        assert_eq!(
            bodies,
            ["cp-1: creating", "cp-1: booting", "etcd: bootstrapped on cp-1"]
        );
        assert!(
            lines[0].as_bytes()[2] == b':' && lines[0].as_bytes()[8] == b' ',
            "{}",
            lines[0]
        );
        assert_eq!(reporter.reached().get("cp-1"), Some(&NodePhase::Booting));
    }
}
