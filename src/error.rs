//! How a failure is classified for the exit code, shared by every module's error enum.
//!
//! Each module has its own `thiserror` enum that carries the context it knows. The binary
//! only needs to know which of three classes a failure belongs to; [`Classify`] answers
//! that without the binary matching on every module's variants.

/// The class of a failure, which decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The input (files, flags, environment) is invalid and nothing was changed: exit 2.
    InvalidInput,
    /// An operation was attempted and failed: exit 1.
    Failed,
    /// The run was interrupted (Ctrl-C) and cleanup has run: exit 3.
    Interrupted,
}

impl Class {
    /// The process exit code for this class.
    pub fn exit_code(self) -> u8 {
        match self {
            Class::InvalidInput => 2,
            Class::Failed => 1,
            Class::Interrupted => 3,
        }
    }

    /// A stable machine-readable name, used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::InvalidInput => "invalid_input",
            Class::Failed => "failed",
            Class::Interrupted => "interrupted",
        }
    }
}

/// Implemented by every module error so the binary can pick the exit code.
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> Class;

    /// Short suggestions shown as `hint: …` lines after the error chain.
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }

    /// Structured facts for the JSON error document (`"details"`), e.g. the list of
    /// diagnostics of an invalid cluster.yaml.
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
}
