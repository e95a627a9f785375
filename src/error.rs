//! How a failure is classified for the exit code, shared by every module's error enum, and
//! how its cause chain is read.
//!
//! Each module has its own `thiserror` enum that carries the context it knows. The binary
//! only needs to know which of three classes a failure belongs to; [`Classify`] answers
//! that without the binary matching on every module's variants. Since no `Display` repeats
//! its source (style rule 9), whoever shows a failure walks the chain: [`chain`] is that walk.

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

/// An error of an operation that writes files: it wraps other modules' errors, which
/// classify themselves, or is its own refusal to replace existing files (invalid input,
/// with its own hint). Implementing this classifies the error.
pub trait WrapsOrRefuses {
    /// The wrapped module error; `None` for the refusal.
    fn cause(&self) -> Option<&dyn Classify>;

    /// The hint shown with the refusal: how to replace the files or write elsewhere.
    fn refusal_hint(&self) -> String;
}

impl<T: WrapsOrRefuses> Classify for T {
    fn class(&self) -> Class {
        self.cause().map_or(Class::InvalidInput, Classify::class)
    }

    fn hints(&self) -> Vec<String> {
        match self.cause() {
            Some(cause) => cause.hints(),
            None => vec![self.refusal_hint()],
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        self.cause().and_then(Classify::details)
    }
}

/// The messages of an error and each of its sources, outermost first: what `error: …` and
/// every `caused by: …` line print, or what a one-line rendering joins.
pub fn chain(error: &dyn std::error::Error) -> Vec<String> {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("while creating server tc-prod-cp-1")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("the API answered 409")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn chain_lists_each_message_once_outermost_first() {
        let error = Outer(Middle(std::io::Error::other("uniqueness_error")));
        assert_eq!(
            super::chain(&error),
            [
                "while creating server tc-prod-cp-1",
                "the API answered 409",
                "uniqueness_error"
            ]
        );
    }
}
