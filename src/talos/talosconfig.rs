//! talosconfig, the Talos client configuration, and the admin client certificate.
//!
//! The file format is talosctl's (reference `talos.md` §C.1), so `talosctl
//! --talosconfig FILE` works with what we write and we can read what talosctl writes.
//! [`Talosconfig::for_cluster`] makes the one context `talos-hcloud` hands out, with a
//! fresh admin certificate from the bundle's OS CA (§C.2), as talosctl does;
//! [`Talosconfig::derived_for_cluster`] makes the same with a certificate derived from the
//! bundle (see [`admin_cert_window`]), so re-rendering a cluster's files gives the same
//! bytes. Files are read and written through [`crate::talos::secret_yaml`] (mode 0600,
//! atomic), as the secrets bundle is. Dialling the endpoints is left to `talos::api`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::talos::pki::{self, Pem};
use crate::talos::secret_yaml::{self, YamlError, parse_yaml};
use crate::talos::secrets::{CaName, SecretsBundle};

/// The admin role carried by the talosconfig certificate.
pub const ADMIN_ROLE: &str = "os:admin";

/// How often the derived admin certificate rotates: every 4380 h (half its validity), so
/// the certificate in use always has at least half a year left.
pub const ADMIN_CERT_ROTATION: std::time::Duration = std::time::Duration::from_secs(4_380 * 3600);

/// The context string of the derived admin key and serial (versioned, so a change of
/// scheme changes every certificate instead of silently reusing keys).
const ADMIN_DERIVATION_CONTEXT: &str = "talos-hcloud talosconfig admin certificate v1";

/// The validity of the derived admin certificate at `now`, for an OS CA valid from
/// `ca_not_before` to `ca_not_after`.
///
/// Time from the CA's NotBefore is cut into consecutive windows of
/// [`ADMIN_CERT_ROTATION`] (4380 h); the certificate starts at the beginning of the window
/// holding `now` (the first window if `now` is earlier) and lasts
/// [`pki::ADMIN_CERT_VALIDITY`] (8760 h, Talos's own), cut at the CA's NotAfter. Every run
/// in the same window gets the same validity, hence (with the derived key and serial) the
/// same certificate; the next window rotates it while the previous one is still valid for
/// half a year.
///
/// # Errors
/// [`Error::AdminCertificate`] when the CA has expired at `now` or its validity is empty.
pub fn admin_cert_window(
    ca_not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), Error> {
    if now >= ca_not_after {
        return Err(Error::AdminCertificate {
            source: pki::Error::InvalidRequest {
                detail: format!("the OS CA expired at {ca_not_after}"),
            },
        });
    }
    let rotation = ADMIN_CERT_ROTATION.as_secs() as i64;
    let elapsed = (now - ca_not_before).whole_seconds().max(0);
    let window = elapsed / rotation;
    let not_before = ca_not_before + time::Duration::seconds(window * rotation);
    let full = not_before + time::Duration::seconds(pki::ADMIN_CERT_VALIDITY.as_secs() as i64);
    let not_after = full.min(ca_not_after);
    if not_after <= not_before {
        return Err(Error::AdminCertificate {
            source: pki::Error::InvalidRequest {
                detail: format!("the OS CA's validity ends ({ca_not_after}) before it starts ({ca_not_before})"),
            },
        });
    }
    Ok((not_before, not_after))
}

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

secret_yaml::impl_file_errors!(Error);

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
        Ok(Talosconfig::with_admin(bundle, cluster_name, endpoints, admin))
    }

    /// As [`Talosconfig::for_cluster`], but the admin certificate is a pure function of the
    /// bundle, the cluster name and the validity window holding `now`
    /// ([`admin_cert_window`]): its Ed25519 key seed and its serial are HMAC-SHA256 values
    /// keyed with the OS CA's private key over a context naming the scheme, the cluster,
    /// the role and the window ([`pki::CertificateAuthority::derive_secret`]). Re-running
    /// in the same window writes the same bytes, so a diff of generated files shows real
    /// changes only.
    ///
    /// # Errors
    ///
    /// The bundle's OS CA cannot be loaded, is not Ed25519, has expired, or cannot sign.
    pub fn derived_for_cluster<E: std::fmt::Display>(
        bundle: &SecretsBundle,
        cluster_name: &str,
        endpoints: impl IntoIterator<Item = E>,
        now: OffsetDateTime,
    ) -> Result<Talosconfig, Error> {
        let admin_error = |source| Error::AdminCertificate { source };
        let os_ca = bundle.ca(CaName::Os).map_err(admin_error)?;
        let summary = pki::summarize_certificate(&bundle.certs.os.crt.0).map_err(admin_error)?;
        let (not_before, not_after) = admin_cert_window(summary.not_before, summary.not_after, now)?;
        let context = format!(
            "{ADMIN_DERIVATION_CONTEXT}\0cluster={cluster_name}\0role={ADMIN_ROLE}\0not_before={}\0not_after={}",
            not_before.unix_timestamp(),
            not_after.unix_timestamp()
        );
        let seed = os_ca.derive_secret(format!("{context}\0key").as_bytes());
        let serial_bytes = os_ca.derive_secret(format!("{context}\0serial").as_bytes());
        let mut serial = [0u8; 16];
        serial.copy_from_slice(&serial_bytes[..16]);
        let validity = std::time::Duration::try_from(not_after - not_before).map_err(|e| Error::AdminCertificate {
            source: pki::Error::InvalidRequest {
                detail: format!("admin certificate validity: {e}"),
            },
        })?;
        let spec = pki::client_cert_spec(&[ADMIN_ROLE], Some(not_before), validity);
        let admin = pki::issue_derived(
            &os_ca,
            &spec,
            &pki::DerivedLeaf {
                ed25519_seed: seed,
                serial,
            },
        )
        .map_err(admin_error)?;
        Ok(Talosconfig::with_admin(bundle, cluster_name, endpoints, admin))
    }

    fn with_admin<E: std::fmt::Display>(
        bundle: &SecretsBundle,
        cluster_name: &str,
        endpoints: impl IntoIterator<Item = E>,
        admin: pki::CertAndKey,
    ) -> Talosconfig {
        let context = Context {
            endpoints: endpoints.into_iter().map(|e| e.to_string()).collect(),
            ca: Some(bundle.certs.os.crt.clone()),
            crt: Some(admin.crt),
            key: Some(admin.key),
            ..Context::default()
        };
        Talosconfig {
            context: cluster_name.to_string(),
            contexts: BTreeMap::from([(cluster_name.to_string(), context)]),
        }
    }

    /// Loads a talosconfig file.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is not a talosconfig.
    pub fn load(path: &Path) -> Result<Talosconfig, Error> {
        secret_yaml::load(path, Talosconfig::parse)
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
        let parsed: Option<Talosconfig> = parse_yaml(text, origin).map_err(|source| Error::Parse {
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
        secret_yaml::to_yaml(self)
    }

    /// Writes the file with mode 0600, atomically (see [`secure_file::write_private`]).
    ///
    /// # Errors
    ///
    /// The file exists and `overwrite` is [`Overwrite::Refuse`] (nothing changed), or
    /// writing failed.
    pub fn save(&self, path: &Path, overwrite: Overwrite) -> Result<(), Error> {
        secret_yaml::save(self, path, overwrite)
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
    fn admin_windows_are_consecutive_half_years_from_the_ca_start() {
        let start = time::macros::datetime!(2025-01-01 00:00:00 UTC);
        let end = start + time::Duration::hours(87_600);
        let hours = |h: i64| start + time::Duration::hours(h);
        assert_eq!(
            admin_cert_window(start, end, hours(-5)).unwrap(),
            (start, hours(8_760)),
            "before the CA starts: the first window"
        );
        assert_eq!(admin_cert_window(start, end, hours(0)).unwrap(), (start, hours(8_760)));
        assert_eq!(
            admin_cert_window(start, end, hours(4_379)).unwrap(),
            (start, hours(8_760))
        );
        assert_eq!(
            admin_cert_window(start, end, hours(4_380)).unwrap(),
            (hours(4_380), hours(13_140))
        );
        assert_eq!(
            admin_cert_window(start, end, hours(87_599)).unwrap(),
            (hours(83_220), end),
            "cut at the CA's end"
        );
        assert!(admin_cert_window(start, end, end).is_err());
        assert!(
            admin_cert_window(
                start,
                start - time::Duration::hours(1),
                start - time::Duration::hours(2)
            )
            .is_err(),
            "a CA that ends before it starts"
        );
    }

    #[test]
    fn derived_admin_certificate_is_stable_within_a_window_and_rotates_after() {
        let bundle = SecretsBundle::from_yaml(include_str!("../../tests/fixtures/talos/secrets.yaml")).unwrap();
        let summary = pki::summarize_certificate(&bundle.certs.os.crt.0).unwrap();
        let at = |hours: i64| summary.not_before + time::Duration::hours(hours);
        let make = |now| {
            Talosconfig::derived_for_cluster(&bundle, "prod", ["203.0.113.11"], now)
                .unwrap()
                .to_yaml()
                .unwrap()
        };
        let first = make(at(10));
        assert_eq!(first, make(at(10)));
        assert_eq!(first, make(at(4_000)), "same window, same bytes");
        let next = make(at(4_400));
        assert_ne!(first, next, "the next window rotates the certificate");
        let other_cluster = Talosconfig::derived_for_cluster(&bundle, "staging", ["203.0.113.11"], at(10))
            .unwrap()
            .current()
            .unwrap()
            .key
            .clone();
        let config = Talosconfig::from_yaml(&first).unwrap();
        let context = config.current().unwrap();
        assert_ne!(other_cluster, context.key, "keys differ per cluster");
        let crt = context.crt.as_ref().unwrap();
        let admin = pki::summarize_certificate(&crt.0).unwrap();
        assert_eq!(admin.subject, "O=os:admin");
        assert_eq!(admin.not_before, summary.not_before);
        assert_eq!(admin.not_after, at(8_760));
        let key = context.key.as_ref().unwrap();
        assert!(key.0.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));
        pki::check_cert_and_key(&pki::CertAndKey {
            crt: crt.clone(),
            key: key.clone(),
        })
        .unwrap();
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
