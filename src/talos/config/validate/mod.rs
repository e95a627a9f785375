//! Checking a machine configuration before it leaves the machine: strict decoding against
//! Talos's typed structs ([`decode`]), the semantic checks of Talos's validator
//! (`Validate(mode)`, reference `talos.md` §E.2) with Talos's messages where the
//! reference gives them, talos-hcloud's own checks (tokens, SANs, subnets, the hcloud VIP
//! only on control planes), conflicts between typed documents and their legacy v1alpha1
//! fields, and the 32 KiB Hetzner `user_data` limit when the config is delivered that way.
//!
//! Every finding names the node, the document and the path. The emulated Talos node runs
//! the same checks on configs it receives ([`decode_strict`] then [`validate`]).

pub mod decode;
mod formats;
mod kinds;
mod node;
mod user_data;
mod v1alpha1;

use std::fmt;

use super::documents::ConfigDocuments;
use super::path::Path;
use super::value::Position;
use crate::talos::contract::Contract;

pub use decode::{DecodeError, DecodeErrors, DecodeProblem, decode_strict, decode_strict_named};
pub use node::{ReceivedConfigError, check_config_file, check_received_config, node_validator};
pub use user_data::{HCLOUD_USER_DATA_LIMIT, UserDataEncoding, user_data_bytes};

/// Talos's runtime mode, which changes a few rules (`talosctl validate -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bare metal: an install section is required (before v1.14).
    Metal,
    /// A cloud platform such as Hetzner Cloud (`hcloud`): booted from an installed image.
    Cloud,
    /// Talos in a container: host DNS must be enabled.
    Container,
}

/// What to validate for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// The Talos line the config targets.
    pub contract: Contract,
    /// The runtime mode (`Cloud` for Hetzner Cloud servers).
    pub mode: Mode,
    /// The node the config is for, named in every finding.
    pub node: Option<String>,
    /// The file the config was read from; when set, findings carry `file:line:column`.
    pub source: Option<String>,
    /// Turn warnings about the v1alpha1 document into errors (`talosctl validate --strict`).
    pub strict: bool,
    /// When the config is delivered as Hetzner `user_data`, in which encoding.
    pub user_data: Option<UserDataEncoding>,
}

impl ValidateOptions {
    /// Options for a Hetzner Cloud node of `contract`: cloud mode, no node name, not
    /// strict, no user_data check.
    pub fn new(contract: Contract) -> Self {
        ValidateOptions {
            contract,
            mode: Mode::Cloud,
            node: None,
            source: None,
            strict: false,
            user_data: None,
        }
    }
}

/// One problem (or warning) in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The node the config is for.
    pub node: Option<String>,
    /// The document (`v1alpha1`, `HostnameConfig`, `HCloudVIPConfig/203.0.113.10`).
    pub document: String,
    /// Path inside the document.
    pub path: Path,
    /// `file:line:column` when the config came from a file.
    pub source: Option<(String, Option<Position>)>,
    /// What is wrong.
    pub message: String,
}

/// A finding that does not stop the config from being used.
pub type Warning = Finding;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((file, position)) = &self.source {
            match position {
                Some(p) => write!(f, "{file}:{}:{}: ", p.line, p.column)?,
                None => write!(f, "{file}: ")?,
            }
        }
        if let Some(node) = &self.node {
            write!(f, "{node}: ")?;
        }
        write!(f, "{} document", self.document)?;
        if !self.path.is_root() {
            write!(f, ", {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The errors (and the warnings seen alongside them) that make a config unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.errors, .node))]
pub struct ValidationErrors {
    /// The node the config is for.
    pub node: Option<String>,
    /// The errors.
    pub errors: Vec<Finding>,
    /// Warnings found too.
    pub warnings: Vec<Warning>,
}

fn render(errors: &[Finding], node: &Option<String>) -> String {
    let whose = node
        .as_ref()
        .map(|n| format!("the machine config of {n}"))
        .unwrap_or_else(|| "the machine config".into());
    let header = format!(
        "{} error{} in {whose}:",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    bulleted(header, errors)
}

/// `header`, then each item on its own `  * ` line: how both the validation and the decode
/// errors of a config are listed.
fn bulleted<T: std::fmt::Display>(header: String, items: &[T]) -> String {
    let mut text = header;
    for item in items {
        text.push_str("\n  * ");
        text.push_str(&item.to_string());
    }
    text
}

impl crate::error::Classify for ValidationErrors {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

/// Collects findings for one config.
pub(crate) struct Report<'a> {
    options: &'a ValidateOptions,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl<'a> Report<'a> {
    fn new(options: &'a ValidateOptions) -> Self {
        Report {
            options,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn finding(&self, document: &str, path: &str, position: Option<Position>, message: String) -> Finding {
        self.finding_at(document, Path::parse(path).unwrap_or_default(), position, message)
    }

    fn finding_at(&self, document: &str, path: Path, position: Option<Position>, message: String) -> Finding {
        Finding {
            node: self.options.node.clone(),
            document: document.to_string(),
            path,
            source: self.options.source.clone().map(|file| (file, position)),
            message,
        }
    }

    /// Records an error at `path` (dotted, e.g. `machine.ca.key`) of `document`.
    pub(crate) fn error(&mut self, document: &str, path: &str, position: Option<Position>, message: impl Into<String>) {
        let finding = self.finding(document, path, position, message.into());
        self.errors.push(finding);
    }

    /// Records a warning.
    pub(crate) fn warning(
        &mut self,
        document: &str,
        path: &str,
        position: Option<Position>,
        message: impl Into<String>,
    ) {
        let finding = self.finding(document, path, position, message.into());
        self.warnings.push(finding);
    }

    pub(crate) fn options(&self) -> &ValidateOptions {
        self.options
    }
}

/// Validates a node's final config: strict decoding for the contract's Talos line, then
/// the semantic rules. Returns the warnings when the config is usable.
///
/// # Errors
/// [`ValidationErrors`] with every error (and the warnings) when it is not.
pub fn validate(docs: &ConfigDocuments, options: &ValidateOptions) -> Result<Vec<Warning>, ValidationErrors> {
    let mut report = Report::new(options);
    let source = options.source.as_deref().unwrap_or("<config>");
    for problem in decode::check_documents(source, docs, options.contract) {
        let document = problem.document.clone().unwrap_or_else(|| "config".into());
        let finding = report.finding_at(
            &document,
            problem.path.clone(),
            problem.position,
            problem.problem.to_string(),
        );
        report.errors.push(finding);
    }
    match docs.v1alpha1() {
        Some(document) => {
            let before = report.warnings.len();
            v1alpha1::check(document, &mut report);
            if options.strict {
                let strict: Vec<Finding> = report.warnings.drain(before..).collect();
                for mut warning in strict {
                    warning.message = format!("warning: {}", warning.message);
                    report.errors.push(warning);
                }
            }
        }
        None => report.error(
            "v1alpha1",
            "",
            None,
            "the config has no v1alpha1 document (machine and cluster instructions are required)",
        ),
    }
    kinds::check(docs, &mut report);
    if let Some(encoding) = options.user_data {
        user_data::check(docs, encoding, &mut report);
    }
    if report.errors.is_empty() {
        Ok(report.warnings)
    } else {
        Err(ValidationErrors {
            node: options.node.clone(),
            errors: report.errors,
            warnings: report.warnings,
        })
    }
}
