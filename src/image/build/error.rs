//! Why a build failed: one variant per failing step, each naming what it was doing.

use crate::error::{Class, Classify};
use crate::spec::Architecture;

/// A failed or interrupted `image build`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is unusable (caught before any call).
    #[error("{field}: {reason}")]
    Input {
        /// The field or flag.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The factory does not offer this Talos version.
    #[error("the Image Factory does not offer Talos {version}")]
    UnknownVersion {
        /// The version asked for.
        version: String,
        /// The closest offered version, if one is close.
        suggestion: Option<String>,
        /// The newest offered versions.
        newest: Vec<String>,
    },
    /// A factory call failed.
    #[error("while {doing}")]
    Factory {
        /// What was being done (`checking the image of arm64`).
        doing: String,
        /// The cause.
        #[source]
        source: Box<crate::factory::Error>,
    },
    /// No candidate server type is sold in any candidate location.
    #[error("no builder for {arch} can be ordered: none of {tried} is available")]
    NoPlacement {
        /// The architecture.
        arch: Architecture,
        /// The candidates checked.
        tried: String,
    },
    /// A Hetzner call failed.
    #[error("while {doing}")]
    Hcloud {
        /// What was being done (`creating server talos-hcloud-builder-arm64-1a2b3c4d`).
        doing: String,
        /// The cause.
        #[source]
        source: Box<crate::hcloud::Error>,
    },
    /// Every placement answered with a capacity error.
    #[error("no capacity for a {arch} builder: tried {tried}")]
    Capacity {
        /// The architecture.
        arch: Architecture,
        /// The placements tried, in order.
        tried: String,
        /// The last capacity error.
        #[source]
        source: Box<crate::hcloud::Error>,
    },
    /// The SSH connection to the rescue system failed.
    #[error("while {doing} on {server}")]
    Ssh {
        /// The builder server's name.
        server: String,
        /// What was being done.
        doing: String,
        /// The cause.
        #[source]
        source: Box<crate::ssh::Error>,
    },
    /// The write script failed on the builder (download, decompressor, disk).
    #[error("writing the image on {server} failed ({status}): {stderr}")]
    Write {
        /// The builder server's name.
        server: String,
        /// How the script ended.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// The local download of `--via local` failed.
    #[error("while streaming the image to {server}")]
    Stream {
        /// The builder server's name.
        server: String,
        /// The cause.
        #[source]
        source: Box<crate::factory::Error>,
    },
    /// What is on the disk is not what was streamed.
    #[error("verification of the image on {server} failed: {reason}")]
    Verify {
        /// The builder server's name.
        server: String,
        /// What differs.
        reason: String,
    },
    /// A wait ran out of time.
    #[error("{what} after {waited_s:.0} s")]
    Timeout {
        /// What was awaited and the last state seen.
        what: String,
        /// Seconds waited.
        waited_s: f64,
    },
    /// A temporary SSH key could not be generated.
    #[error("cannot generate the builder's SSH key")]
    Key(#[source] Box<crate::ssh::Error>),
    /// One architecture's build failed.
    #[error("building the {arch} snapshot failed")]
    Arch {
        /// The architecture.
        arch: Architecture,
        /// The cause.
        #[source]
        source: Box<Error>,
    },
    /// SIGINT or SIGTERM stopped the build.
    #[error("interrupted; {}", describe_left(.left))]
    Interrupted {
        /// Temporary resources deleted after the signal.
        cleaned: Vec<String>,
        /// Temporary resources that could not be deleted (or were left by a second signal).
        left: Vec<String>,
    },
}

fn describe_left(left: &[String]) -> String {
    if left.is_empty() {
        "every temporary resource was deleted".to_string()
    } else {
        format!("left behind: {}", left.join(", "))
    }
}

impl Error {
    /// `source` of a Hetzner call, with what was being done.
    pub(super) fn hcloud(doing: impl Into<String>) -> impl FnOnce(crate::hcloud::Error) -> Error {
        let doing = doing.into();
        move |source| Error::Hcloud {
            doing,
            source: Box::new(source),
        }
    }

    /// `source` of a factory call, with what was being done.
    pub(super) fn factory(doing: impl Into<String>) -> impl FnOnce(crate::factory::Error) -> Error {
        let doing = doing.into();
        move |source| Error::Factory {
            doing,
            source: Box::new(source),
        }
    }

    /// `source` of an SSH operation on builder `server`, with what was being done.
    pub(super) fn ssh(server: &str, doing: &str) -> impl FnOnce(crate::ssh::Error) -> Error {
        let (server, doing) = (server.to_string(), doing.to_string());
        move |source| Error::Ssh {
            server,
            doing,
            source: Box::new(source),
        }
    }

    /// `source` of SSH key handling.
    pub(super) fn key(source: crate::ssh::Error) -> Error {
        Error::Key(Box::new(source))
    }

    /// Returns true if and only if this is (or wraps) an interruption.
    pub fn is_interrupted(&self) -> bool {
        match self {
            Error::Interrupted { .. } => true,
            Error::Arch { source, .. } => source.is_interrupted(),
            _ => false,
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Input { .. } | Error::UnknownVersion { .. } | Error::NoPlacement { .. } => Class::InvalidInput,
            Error::Factory { source, .. } => match source.as_ref() {
                crate::factory::Error::Status { status: 404, .. } => Class::InvalidInput,
                other => other.class(),
            },
            Error::Hcloud { source, .. } => source.class(),
            Error::Arch { source, .. } => source.class(),
            Error::Interrupted { .. } => Class::Interrupted,
            Error::Capacity { .. }
            | Error::Ssh { .. }
            | Error::Write { .. }
            | Error::Stream { .. }
            | Error::Verify { .. }
            | Error::Timeout { .. }
            | Error::Key(_) => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::UnknownVersion { suggestion, newest, .. } => {
                let mut hints: Vec<String> = suggestion.iter().map(|s| format!("did you mean `{s}`?")).collect();
                if !newest.is_empty() {
                    hints.push(format!("the newest offered: {}", newest.join(", ")));
                }
                hints
            }
            Error::Factory { source, .. } => source.hints(),
            Error::Hcloud { source, .. } => source.hints(),
            Error::Arch { source, .. } => source.hints(),
            Error::NoPlacement { .. } | Error::Capacity { .. } => {
                vec!["add fallbacks: --location fsn1,nbg1,hel1 and --server-type cax11,cax21,cx23,cx33".into()]
            }
            Error::Interrupted { left, .. } if !left.is_empty() => {
                vec![
                    "the next `talos-hcloud image build` deletes them once they are older than the grace period".into(),
                ]
            }
            Error::Verify { .. } | Error::Write { .. } => {
                vec!["no snapshot was taken; run the build again (a corrupted or cut download is not kept)".into()]
            }
            _ => Vec::new(),
        }
    }
}
