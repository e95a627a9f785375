//! The check a Talos node runs on a machine configuration it receives, for the emulated
//! node's validator plug.
//!
//! Talos decodes every received configuration strictly and validates it before using it;
//! a refusal is `InvalidArgument` with the validator's text (reference `talos.md` §E,
//! §F.4). The emulated node (`sim::talos`) must not import this module (the emulator shares
//! wire types, never logic), so it takes the check as a plain function of the bytes and
//! its Talos release, and whoever starts a node passes [`node_validator`] in.

use super::{DecodeErrors, ValidateOptions, ValidationErrors, Warning, decode_strict, decode_strict_named, validate};
use crate::talos::contract::{Artifact, Contract, ContractError};

/// Why a node refuses a received configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceivedConfigError {
    /// The node's release is outside the Talos lines talos-hcloud knows the rules of.
    #[error("cannot check configs for this node's Talos release")]
    Release(#[source] ContractError),
    /// Strict decoding failed (unknown keys, wrong types, unregistered kinds, …).
    #[error(transparent)]
    Decode(DecodeErrors),
    /// The semantic rules failed.
    #[error(transparent)]
    Invalid(ValidationErrors),
}

impl crate::error::Classify for ReceivedConfigError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

/// Checks `config` as a node running Talos `talos_version` (`v1.11.6`) would before
/// using it: strict decoding, then the semantic rules in cloud mode (a Hetzner Cloud
/// server). Returns the warnings of a usable config.
///
/// # Errors
///
/// [`ReceivedConfigError`]: an unsupported release, a decoding problem, or the rules.
pub fn check_received_config(config: &[u8], talos_version: &str) -> Result<Vec<Warning>, ReceivedConfigError> {
    let contract = Contract::parse_for(talos_version, Artifact::MachineConfig).map_err(ReceivedConfigError::Release)?;
    let documents = decode_strict(config, contract).map_err(ReceivedConfigError::Decode)?;
    validate(&documents, &ValidateOptions::new(contract)).map_err(ReceivedConfigError::Invalid)
}

/// [`check_received_config`] for a config read from `file` (a node's installed config):
/// every problem names the file (`junk.yaml:2:3: …`) rather than `<config>`.
///
/// # Errors
///
/// As [`check_received_config`].
pub fn check_config_file(file: &str, config: &[u8], talos_version: &str) -> Result<Vec<Warning>, ReceivedConfigError> {
    let contract = Contract::parse_for(talos_version, Artifact::MachineConfig).map_err(ReceivedConfigError::Release)?;
    let documents = decode_strict_named(file, config, contract).map_err(ReceivedConfigError::Decode)?;
    let mut options = ValidateOptions::new(contract);
    options.source = Some(file.to_string());
    validate(&documents, &options).map_err(ReceivedConfigError::Invalid)
}

/// [`check_received_config`] in the shape of the emulated node's validator plug
/// (`sim::talos::NodeOptions::new`): the config bytes and the node's Talos release in,
/// the refusal text (the node's `InvalidArgument` message) out.
///
/// ```
/// let check = talos_hcloud::talos::config::validate::node_validator();
/// let refused = check(b"version: v1alpha1\nmachine: {typo: worker}\n", "v1.11.6").unwrap_err();
/// assert!(refused.contains("unknown key \"typo\""), "{refused}");
/// ```
pub fn node_validator() -> impl Fn(&[u8], &str) -> Result<(), String> + Send + Sync + Clone + 'static {
    |config: &[u8], talos_version: &str| {
        check_received_config(config, talos_version)
            .map(|_warnings| ())
            .map_err(|error| message(&error))
    }
}

/// The error and its causes on one line (`a: b`), as a gRPC status message carries them.
fn message(error: &dyn std::error::Error) -> String {
    crate::error::chain(error).join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::config::test_support::golden_files;

    #[test]
    fn golden_configs_pass_and_each_kind_of_mistake_is_refused() {
        let check = node_validator();
        for (name, text) in golden_files() {
            let release = format!("{}.0", name.split('/').next().expect("version folder"));
            check(text.as_bytes(), &release).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let (_, worker) = golden_files()
            .into_iter()
            .find(|(name, _)| name == "v1.11/base-worker.yaml")
            .expect("golden v1.11 worker");

        let typo = worker.replace("    install:\n", "    instal:\n");
        assert_ne!(typo, worker, "the golden worker has an install section");
        let refused = check(typo.as_bytes(), "v1.11.6").unwrap_err();
        assert!(refused.contains("unknown key \"instal\""), "{refused}");
        assert!(refused.contains("did you mean \"install\"?"), "{refused}");

        let wrong_type = worker.replace("    certSANs: []\n", "    certSANs: {a: b}\n");
        assert_ne!(wrong_type, worker, "the golden worker has empty certSANs");
        let refused = check(wrong_type.as_bytes(), "v1.11.6").unwrap_err();
        assert!(refused.contains("certSANs"), "{refused}");

        let refused = check(worker.as_bytes(), "v1.9.5").unwrap_err();
        assert!(
            refused.starts_with("cannot check configs for this node's Talos release: ") && refused.contains("v1.9"),
            "{refused}"
        );
    }
}
