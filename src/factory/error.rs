//! The factory module's error: what failed, against which URL, and whether it is the
//! operator's input (exit 2) or an operation that failed (exit 1).

use super::schematic::{self, SchematicId};
use crate::error::{Class, Classify};
use crate::redact::redacted_url;

/// A failure talking to the Image Factory or streaming an image from it.
///
/// Every variant names the URL involved, shown through [`redacted_url`]: the factory takes
/// no credentials and a URL with any is refused, but the refusal itself must not print
/// the password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The schematic file is unreadable or invalid.
    #[error(transparent)]
    Schematic(#[from] schematic::Error),

    /// The factory base URL (or a value placed in a URL) is not usable.
    #[error("invalid Image Factory URL `{}`: {reason}", redacted_url(url))]
    InvalidUrl {
        /// The offending URL or fragment.
        url: String,
        /// Why it is rejected.
        reason: String,
    },

    /// A Talos version string that cannot be part of a factory path.
    #[error("`{version}` is not a Talos version (expected e.g. v1.11.1)")]
    InvalidVersion {
        /// The rejected text.
        version: String,
    },

    /// The request could not be sent or its response not read (connection refused, DNS,
    /// TLS, timeout).
    #[error("request to {} failed", redacted_url(url))]
    Request {
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// No response headers or body data within the configured time.
    #[error("{} did not respond within {seconds} s", redacted_url(url))]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that expired.
        seconds: u64,
    },

    /// The factory answered with an error status.
    #[error("{} answered {status}{}", redacted_url(url), body_suffix(body))]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the (plain-text) error body.
        body: String,
    },

    /// The response is not what the factory API promises.
    #[error("unexpected response from {}: {reason}", redacted_url(url))]
    BadResponse {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The factory computed another ID for the schematic than we did.
    #[error(
        "the factory at {} assigned schematic ID {theirs}, but the schematic hashes to {ours} locally",
        redacted_url(url)
    )]
    IdMismatch {
        /// The factory's schematics endpoint.
        url: String,
        /// Our ID.
        ours: SchematicId,
        /// The factory's ID.
        theirs: String,
    },

    /// The schematic names official extensions that the Talos version does not have.
    #[error("Talos {version} has no official extension {}", missing.join(", "))]
    UnknownExtensions {
        /// The Talos version checked.
        version: String,
        /// The names not found.
        missing: Vec<String>,
        /// For each missing name, the closest available name, if any is close.
        suggestions: Vec<String>,
    },

    /// The downloaded bytes are not valid compressed data.
    #[error("the image from {} is not valid {compression} data", redacted_url(url))]
    Decode {
        /// The URL.
        url: String,
        /// `zstd` or `xz`.
        compression: &'static str,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },

    /// The download kept failing.
    #[error(
        "giving up on {} after {attempts} attempts ({bytes} bytes received)",
        redacted_url(url)
    )]
    RetriesExhausted {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Compressed bytes received so far.
        bytes: u64,
        /// The last failure.
        #[source]
        source: Box<Error>,
    },

    /// The consumer of the image stream stopped reading or failed to write.
    #[error("the receiver of the image stream from {} failed", redacted_url(url))]
    Sink {
        /// The URL.
        url: String,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl Error {
    /// Whether retrying the same request may succeed (transport errors, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Request { .. } | Error::Timeout { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::Schematic(_)
            | Error::InvalidUrl { .. }
            | Error::InvalidVersion { .. }
            | Error::BadResponse { .. }
            | Error::IdMismatch { .. }
            | Error::UnknownExtensions { .. }
            | Error::Decode { .. }
            | Error::RetriesExhausted { .. }
            | Error::Sink { .. } => false,
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Schematic(e) => e.class(),
            Error::InvalidUrl { .. } | Error::InvalidVersion { .. } | Error::UnknownExtensions { .. } => {
                Class::InvalidInput
            }
            Error::Request { .. }
            | Error::Timeout { .. }
            | Error::Status { .. }
            | Error::BadResponse { .. }
            | Error::IdMismatch { .. }
            | Error::Decode { .. }
            | Error::RetriesExhausted { .. }
            | Error::Sink { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Schematic(e) => e.hints(),
            Error::Status { status: 404, .. } => vec![
                "check the Talos version with `talos-hcloud factory versions`, and push the schematic first \
                 (`talos-hcloud schematic push FILE`): the factory only serves images of schematics it knows"
                    .to_string(),
            ],
            Error::Status { status, .. } if *status >= 500 => {
                vec!["the factory failed or is overloaded; retry later".to_string()]
            }
            Error::IdMismatch { .. } => vec![
                "the factory may add fields (an Enterprise factory sets `owner`) or run a newer schematic format; \
                 its ID is the one images are served under"
                    .to_string(),
            ],
            Error::UnknownExtensions {
                version, suggestions, ..
            } => {
                let mut hints: Vec<String> = suggestions.iter().map(|s| format!("did you mean `{s}`?")).collect();
                hints.push(format!("list them with `talos-hcloud factory extensions {version}`"));
                hints
            }
            Error::Request { .. } | Error::Timeout { .. } => {
                vec!["check TALOS_FACTORY_URL / --factory-url and the network".to_string()]
            }
            _ => Vec::new(),
        }
    }
}
