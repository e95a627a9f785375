//! The error of [`super::load`]: the file could not be read, or it was read and found
//! invalid (with every problem as a [`Diagnostic`](super::Diagnostic)).

use std::path::PathBuf;

use crate::error::{Class, Classify};

use super::diagnostic::Diagnostics;

/// Why a cluster description could not be loaded. Both cases are invalid input (exit 2):
/// nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (missing, a folder, no permission).
    #[error("cannot read the cluster description {}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read and breaks the format or its rules; every problem is listed.
    #[error(
        "invalid cluster description {} ({} problem{}):\n\n{diagnostics}",
        path.display(),
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    )]
    Invalid {
        /// The path as given.
        path: PathBuf,
        /// Every problem found, in file order.
        diagnostics: Diagnostics,
    },
}

impl Error {
    /// The problems found, empty when the file could not be read.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Error::Read { .. } => None,
            Error::Invalid { diagnostics, .. } => Some(diagnostics),
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Read { .. } | Error::Invalid { .. } => Class::InvalidInput,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Read { .. } => vec![
                "name the cluster description with -c/--config (default: ./cluster.yaml); docs/cluster-yaml.md describes the format".into(),
            ],
            Error::Invalid { .. } => vec!["docs/cluster-yaml.md describes every key and rule".into()],
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        let diagnostics = self.diagnostics()?;
        serde_json::to_value(diagnostics)
            .ok()
            .map(|list| serde_json::json!({ "diagnostics": list }))
    }
}
