//! Which Talos release `image rebuild` targets: the version pinned in cluster.yaml, or the
//! newest stable release the Image Factory offers (`--track latest`) or of one release
//! line (`--track 1.11`).
//!
//! Only releases talos-hcloud generates machine configs for are candidates
//! ([`Artifact::MachineConfig`]): a snapshot of a Talos line the product cannot configure is
//! of no use. Pre-releases (`-alpha`, `-beta`, `-rc`) never are.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Class, Classify};
use crate::factory::{self, FactoryClient};
use crate::talos::contract::{Artifact, Contract};
use crate::talos::version::{TalosVersion, parse_numbers};

/// A `--track` value: which releases the scheduled rebuild follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The newest stable release of any supported line.
    Latest,
    /// The newest stable patch of one release line.
    Line(Contract),
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Track::Latest => f.write_str("latest"),
            Track::Line(contract) => contract.fmt(f),
        }
    }
}

impl Serialize for Track {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for Track {
    type Err = Error;

    /// Parses `latest`, or a release line written `1.11` or `v1.11` that talos-hcloud
    /// generates configs for.
    fn from_str(text: &str) -> Result<Track, Error> {
        if text == "latest" {
            return Ok(Track::Latest);
        }
        let line = text.strip_prefix('v').unwrap_or(text);
        let two_numbers = line.split('.').count() == 2;
        let contract = Contract::parse(line)
            .ok()
            .filter(|_| two_numbers)
            .ok_or_else(|| Error::Syntax(text.to_string()))?;
        if !contract.is_supported_for(Artifact::MachineConfig) {
            return Err(Error::UnsupportedLine { line: contract });
        }
        Ok(Track::Line(contract))
    }
}

/// Why no target version could be decided.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--track` text is neither `latest` nor a release line.
    #[error("invalid --track {0:?}: expected `latest` or a release line such as 1.11")]
    Syntax(String),
    /// The release line is one talos-hcloud does not generate configs for.
    #[error(
        "cannot track Talos {line}: talos-hcloud supports the release lines {}",
        supported_lines()
    )]
    UnsupportedLine {
        /// The line asked for.
        line: Contract,
    },
    /// The factory offers no stable release to track.
    #[error("the Image Factory offers no stable Talos release for --track {track} (it lists {offered} versions)")]
    NoRelease {
        /// What was tracked.
        track: Track,
        /// How many versions the factory listed.
        offered: usize,
    },
    /// The factory's version list could not be read.
    #[error("while reading the Image Factory's Talos versions")]
    Factory(#[source] factory::Error),
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Syntax(_) | Error::UnsupportedLine { .. } => Class::InvalidInput,
            Error::NoRelease { .. } => Class::Failed,
            Error::Factory(error) => error.class(),
        }
    }
}

fn supported_lines() -> String {
    Artifact::MachineConfig
        .lines()
        .map(|line| line.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest stable release among `versions` (the factory's `GET /versions` list, any
/// order) that `track` follows, on a line talos-hcloud supports.
///
/// # Errors
/// [`Error::NoRelease`] when none qualifies.
pub fn newest(track: Track, versions: &[String]) -> Result<TalosVersion, Error> {
    versions
        .iter()
        .filter_map(|text| {
            // `parse` accepts only releases (no suffix) on supported lines.
            let version = TalosVersion::parse(text).ok()?;
            let numbers = parse_numbers(text).ok()?;
            Some((numbers, version))
        })
        .filter(|(_, version)| match track {
            Track::Latest => true,
            Track::Line(contract) => version.contract() == contract,
        })
        .max_by_key(|(numbers, _)| *numbers)
        .map(|(_, version)| version)
        .ok_or(Error::NoRelease {
            track,
            offered: versions.len(),
        })
}

/// The release `track` follows today, from `factory`'s version list.
///
/// # Errors
/// [`Error::Factory`] when the list cannot be read, [`Error::NoRelease`] as [`newest`].
pub async fn resolve(factory: &FactoryClient, track: Track) -> Result<TalosVersion, Error> {
    let versions = factory.versions().await.map_err(Error::Factory)?;
    newest(track, &versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_latest_and_release_lines() {
        assert_eq!("latest".parse::<Track>().ok(), Some(Track::Latest));
        assert_eq!("1.11".parse::<Track>().ok(), Some(Track::Line(Contract::V1_11)));
        assert_eq!("v1.12".parse::<Track>().ok(), Some(Track::Line(Contract::V1_12)));
        for bad in ["", "1", "v1.11.3", "1.11.x", "Latest", "1.x", "stable"] {
            let error = bad.parse::<Track>().expect_err(bad);
            assert!(matches!(error, Error::Syntax(_)), "{bad}: {error}");
            assert_eq!(error.class(), Class::InvalidInput);
        }
        let unsupported = "1.14".parse::<Track>().expect_err("configs are not generated for 1.14");
        assert_eq!(
            unsupported.to_string(),
            "cannot track Talos v1.14: talos-hcloud supports the release lines v1.10, v1.11, v1.12, v1.13"
        );
        assert_eq!(Track::Line(Contract::V1_11).to_string(), "v1.11");
    }

    #[test]
    fn picks_the_newest_stable_patch_numerically() {
        let versions = strings(&[
            "v1.10.9",
            "v1.11.2",
            "v1.11.10",
            "v1.11.9",
            "v1.12.0-rc.1",
            "v1.12.0-beta.0",
            "v1.14.0",
            "v1.14.1-alpha.0",
            "v1.9.9",
            "garbage",
        ]);
        let pick = |track: Track| newest(track, &versions).map(|v| v.to_string());
        assert_eq!(pick(Track::Latest).ok().as_deref(), Some("v1.11.10"));
        assert_eq!(pick(Track::Line(Contract::V1_10)).ok().as_deref(), Some("v1.10.9"));
        assert_eq!(pick(Track::Line(Contract::V1_11)).ok().as_deref(), Some("v1.11.10"));
        let none = pick(Track::Line(Contract::V1_12)).expect_err("only pre-releases of 1.12");
        assert_eq!(
            none.to_string(),
            "the Image Factory offers no stable Talos release for --track v1.12 (it lists 10 versions)"
        );
    }
}
