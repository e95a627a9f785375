//! talosconfig, the Talos client configuration, and the admin client certificate.
//!
//! The file format is talosctl's (reference `talos.md` §C.1), so `talosctl
//! --talosconfig FILE` works with what we write and we can read what talosctl writes.
//! [`Talosconfig::for_cluster`] makes the one context `talos-hcloud` hands out, with a
//! fresh admin certificate from the bundle's OS CA (§C.2). Files are written through
//! [`crate::secure_file`] (mode 0600, atomic). Dialling the endpoints is left to
//! `talos::api`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::talos::pki::{self, Pem};
use crate::talos::secrets::{CaName, SecretsBundle, YamlError, parse_yaml, to_talos_yaml};

/// The admin role carried by the talosconfig certificate.
pub const ADMIN_ROLE: &str = "os:admin";

/// A talosconfig file: the current context and all contexts by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Talosconfig {
    /// Name of the current context (may be empty).
    #[serde(default)]
    pub context: String,
    /// Contexts by name (written sorted, as Go's map encoding).
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// One context: where to connect and with which credentials.
///
/// Unknown keys written by newer talosctl versions are ignored on load (as talosctl
/// itself does) and therefore not written back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Deprecated single endpoint: moved into `endpoints` on load, never written.
    #[serde(default, skip_serializing)]
    pub target: Option<String>,
    /// apid addresses the client dials (`host` or `host:port`, port 50000 by default).
    /// Always written, `[]` when empty.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Default target nodes (the `node` gRPC metadata). talos-hcloud never sets these: a
    /// default node list makes `talosctl apply-config` without `-n` hit every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// CA certificate(s) the server must chain to (PEM; base64 in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<Pem>,
    /// Client certificate (PEM; base64 in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crt: Option<Pem>,
    /// Client private key (PEM, `ED25519 PRIVATE KEY`; base64 in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Pem>,
    /// Omni-style authentication (not produced by talos-hcloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Cluster name (Omni).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// HTTP(S) proxy for the gRPC dial (talosctl ≥ v1.14).
    #[serde(default, rename = "proxy-url", skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

/// `auth:` of a context (Omni).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// SideroV1 signature authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siderov1: Option<SideroV1Auth>,
}

/// `auth.basic`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// `auth.siderov1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideroV1Auth {
    /// Identity (an e-mail address).
    pub identity: String,
}

/// A failure to make, load or save a talosconfig.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read talosconfig {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a talosconfig.
    #[error("{origin} is not a talosconfig")]
    Parse {
        /// The file, or `input`.
        origin: String,
        /// The parser's error (with line and column).
        #[source]
        source: YamlError,
    },
    /// The bundle's OS CA could not issue the admin certificate.
    #[error("cannot issue the admin certificate from the OS CA")]
    AdminCertificate {
        /// The cause.
        #[source]
        source: pki::Error,
    },
    /// The configuration could not be serialized.
    #[error("cannot serialize the talosconfig")]
    Serialize {
        /// The cause.
        #[source]
        source: serde_saphyr::SerializeError,
    },
    /// The file could not be written (or exists and may not be replaced).
    #[error("cannot write talosconfig {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: secure_file::Error,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Read { .. } | Error::Parse { .. } => Class::InvalidInput,
            Error::AdminCertificate { source } => source.class(),
            Error::Serialize { .. } => Class::Failed,
            Error::Write { source, .. } => source.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Write { source, .. } => source.hints(),
            _ => Vec::new(),
        }
    }
}

impl Talosconfig {
    /// The talosconfig for a cluster: one context named `cluster_name` (also the current
    /// context), with `endpoints`, the OS CA as `ca`, and a fresh admin certificate
    /// (Ed25519, `O=os:admin`, KeyUsage digitalSignature, ExtKeyUsage clientAuth only, 365
    /// days from now) signed by the bundle's OS CA. No `nodes` are set.
    ///
    /// `endpoints` must be the control-plane nodes' public IPs, never the floating IP (or
    /// any VIP): the VIP is held through an etcd election and disappears exactly when etcd
    /// or the API server is unhealthy, which is when the Talos API is needed most (Talos
    /// documentation; reference `talos.md` §G.2, hcloud-talos #94).
    ///
    /// # Errors
    ///
    /// The bundle's OS CA cannot be loaded or cannot sign.
    pub fn for_cluster<E: std::fmt::Display>(
        bundle: &SecretsBundle,
        cluster_name: &str,
        endpoints: impl IntoIterator<Item = E>,
    ) -> Result<Talosconfig, Error> {
        let os_ca = bundle
            .ca(CaName::Os)
            .map_err(|source| Error::AdminCertificate { source })?;
        let admin = pki::issue_client_cert(&os_ca, &[ADMIN_ROLE], pki::ADMIN_CERT_VALIDITY)
            .map_err(|source| Error::AdminCertificate { source })?;
        let context = Context {
            endpoints: endpoints.into_iter().map(|e| e.to_string()).collect(),
            ca: Some(bundle.certs.os.crt.clone()),
            crt: Some(admin.crt),
            key: Some(admin.key),
            ..Context::default()
        };
        Ok(Talosconfig {
            context: cluster_name.to_string(),
            contexts: BTreeMap::from([(cluster_name.to_string(), context)]),
        })
    }

    /// Loads a talosconfig file.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is not a talosconfig.
    pub fn load(path: &Path) -> Result<Talosconfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Talosconfig::parse(&text, &path.display().to_string())
    }

    /// Parses a talosconfig; a deprecated `target` is moved into `endpoints`, as talosctl
    /// does.
    ///
    /// # Errors
    ///
    /// The text is not a talosconfig.
    pub fn from_yaml(text: &str) -> Result<Talosconfig, Error> {
        Talosconfig::parse(text, "input")
    }

    fn parse(text: &str, origin: &str) -> Result<Talosconfig, Error> {
        let parsed: Option<Talosconfig> = parse_yaml(text).map_err(|source| Error::Parse {
            origin: origin.to_string(),
            source,
        })?;
        let mut config = parsed.unwrap_or(Talosconfig {
            context: String::new(),
            contexts: BTreeMap::new(),
        });
        for context in config.contexts.values_mut() {
            if let Some(target) = context.target.take().filter(|t| !t.is_empty()) {
                context.endpoints.push(target);
            }
        }
        Ok(config)
    }

    /// The file as talosctl writes it (4-space indentation, base64 PEM fields).
    ///
    /// # Errors
    ///
    /// Serialization failed (not expected).
    pub fn to_yaml(&self) -> Result<String, Error> {
        to_talos_yaml(self).map_err(|source| Error::Serialize { source })
    }

    /// Writes the file with mode 0600, atomically (see [`secure_file::write_private`]).
    ///
    /// # Errors
    ///
    /// The file exists and `overwrite` is [`Overwrite::Refuse`] (nothing changed), or
    /// writing failed.
    pub fn save(&self, path: &Path, overwrite: Overwrite) -> Result<(), Error> {
        let text = self.to_yaml()?;
        secure_file::write_private(path, text.as_bytes(), overwrite).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The current context, if `context` names one.
    pub fn current(&self) -> Option<&Context> {
        self.contexts.get(&self.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_moves_into_endpoints_and_unknown_keys_are_ignored() {
        let text = "context: a\ncontexts:\n    a:\n        target: 10.0.0.1\n        endpoints:\n            - 10.0.0.2\n        future-key: x\n";
        let config = Talosconfig::from_yaml(text).unwrap();
        let context = config.current().unwrap();
        assert_eq!(context.endpoints, ["10.0.0.2", "10.0.0.1"]);
        assert_eq!(
            config.to_yaml().unwrap(),
            "context: a\ncontexts:\n    a:\n        endpoints:\n            - 10.0.0.2\n            - 10.0.0.1\n"
        );
    }

    #[test]
    fn empty_endpoints_are_written_and_empty_options_omitted() {
        let config = Talosconfig {
            context: "c".into(),
            contexts: BTreeMap::from([("c".to_string(), Context::default())]),
        };
        assert_eq!(
            config.to_yaml().unwrap(),
            "context: c\ncontexts:\n    c:\n        endpoints: []\n"
        );
        assert_eq!(Talosconfig::from_yaml(&config.to_yaml().unwrap()).unwrap(), config);
    }

    #[test]
    fn basic_auth_password_stays_out_of_debug() {
        let auth = BasicAuth {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
