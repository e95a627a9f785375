//! TLS for the Talos API client: the rustls configurations of both modes and the connector
//! that hands tonic a TLS stream.
//!
//! apid speaks TLS 1.2+ with ALPN `h2` (reference `talos.md` §F.5). In *configured* mode the
//! client presents the talosconfig's admin certificate (Ed25519, `O=os:admin`) and verifies
//! the server against the OS CA by the IP address it dialled (an IP SAN). In *maintenance*
//! mode the node has an ephemeral self-signed certificate, so nothing can be verified by a
//! CA; the client records the server's public key (SPKI SHA-256) and, when asked, insists
//! it matches a pin taken earlier.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::{ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::redact::Redacted;
use crate::talos::pki;

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER): a pin that survives the
/// certificate being re-issued with the same key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiSha256(pub [u8; 32]);

impl SpkiSha256 {
    /// The pin of a DER certificate, or `None` if it does not parse.
    pub fn of_certificate(der: &[u8]) -> Option<SpkiSha256> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(SpkiSha256(Sha256::digest(cert.tbs_certificate.subject_pki.raw).into()))
    }
}

impl fmt::Display for SpkiSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SpkiSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiSha256({self})")
    }
}

impl FromStr for SpkiSha256 {
    type Err = CredentialsError;

    /// Parses 64 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| CredentialsError::BadPin)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| CredentialsError::BadPin)?;
        Ok(SpkiSha256(array))
    }
}

/// The client side of configured-mode mTLS, as found in a talosconfig context: the OS CA
/// (to verify nodes) and a client certificate with its key (PEM text, not base64).
/// [`super::TalosconfigTarget`] reads one from a parsed talosconfig.
#[derive(Clone)]
pub struct ClientIdentity {
    /// PEM of the CA certificate(s) that signed the nodes' apid certificates.
    pub ca_pem: String,
    /// PEM of the client certificate.
    pub crt_pem: String,
    /// PEM of the client private key; Talos's `ED25519 PRIVATE KEY` label is accepted.
    pub key_pem: Redacted<String>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("crt_pem", &format_args!("{} bytes", self.crt_pem.len()))
            .field("key_pem", &self.key_pem)
            .finish()
    }
}

/// Why credentials for the Talos API could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The PEM material (CA, client certificate or key) is unusable, or rustls refused it;
    /// the variant says which.
    #[error(transparent)]
    Tls(#[from] pki::tls::Error),
    /// A server public-key pin is not 64 hex digits.
    #[error("a server key pin must be 64 hex digits (SHA-256 of the SubjectPublicKeyInfo)")]
    BadPin,
}

/// Raised by the maintenance verifier when the server key differs from the pin.
#[derive(Debug, thiserror::Error)]
#[error("the server public key {seen} differs from the pinned key {pinned}")]
pub struct PinMismatch {
    /// The key the server presented.
    pub seen: SpkiSha256,
    /// The key that was expected.
    pub pinned: SpkiSha256,
}

/// The rustls client configuration for configured mode: verify the node against the OS CA,
/// present the client certificate ([`pki::tls::mtls_client_config`]).
pub(crate) fn configured_config(identity: &ClientIdentity) -> Result<Arc<ClientConfig>, CredentialsError> {
    let config = pki::tls::mtls_client_config(&identity.ca_pem, &identity.crt_pem, identity.key_pem.expose())?;
    Ok(Arc::new(config))
}

/// The rustls client configuration for maintenance mode: no client certificate, no CA
/// verification; the server key is recorded in `seen` and checked against `pin`.
pub(crate) fn maintenance_config(
    pin: Option<SpkiSha256>,
    seen: Arc<Mutex<Option<SpkiSha256>>>,
) -> Result<Arc<ClientConfig>, CredentialsError> {
    let provider = pki::tls::provider();
    let verifier = MaintenanceVerifier {
        pin,
        seen,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(pki::tls::Error::Settings)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any server certificate (maintenance nodes have no verifiable identity) but still
/// checks the handshake signatures, so a recorded or pinned key means something.
#[derive(Debug)]
struct MaintenanceVerifier {
    pin: Option<SpkiSha256>,
    seen: Arc<Mutex<Option<SpkiSha256>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for MaintenanceVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = SpkiSha256::of_certificate(end_entity)
            .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        match self.pin {
            Some(pinned) if pinned != seen => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch { seen, pinned })),
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    pki::tls::verify_signatures_with_provider_algorithms!();
}

/// Why a connection to apid could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectFailure {
    /// TCP connect failed.
    #[error("TCP connection to {addr} failed")]
    Tcp {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// TCP connect did not finish in time.
    #[error("TCP connection to {addr} timed out after {after:?}")]
    TcpTimeout { addr: SocketAddr, after: Duration },
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr} failed")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Opens TCP + TLS to one fixed address, whatever URI tonic asks for; the server name is
/// the IP address, so rustls verifies an IP SAN.
#[derive(Clone)]
pub(crate) struct Connector {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    connect_timeout: Duration,
}

impl Connector {
    /// A connector to `addr` with the given TLS configuration.
    pub(crate) fn new(addr: SocketAddr, config: Arc<ClientConfig>, connect_timeout: Duration) -> Self {
        Connector {
            addr,
            config,
            connect_timeout,
        }
    }
}

type ConnectFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<TokioIo<TlsStream<TcpStream>>, ConnectFailure>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = ConnectFailure;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let Connector {
            addr,
            config,
            connect_timeout,
        } = self.clone();
        Box::pin(async move {
            let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(source)) => return Err(ConnectFailure::Tcp { addr, source }),
                Err(_) => {
                    return Err(ConnectFailure::TcpTimeout {
                        addr,
                        after: connect_timeout,
                    });
                }
            };
            let _ = tcp.set_nodelay(true);
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|source| ConnectFailure::Tls { addr, source })?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// What a TLS failure somewhere in an error chain means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The pinned maintenance key did not match.
    PinMismatch { seen: SpkiSha256, pinned: SpkiSha256 },
    /// We did not trust the server certificate (rustls's reason).
    ServerNotTrusted(String),
    /// The server sent an alert: it refused our client certificate (or had none to ask).
    Alert(String),
}

/// Walks an error chain for a rustls error and says what it means.
pub(crate) fn find_tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        let rustls_error = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        // HTTP/2 (h2) keeps only the text of an I/O error, so an alert that arrives after
        // the handshake (TLS 1.3 client-certificate checks) is recognised by rustls's wording.
        if rustls_error.is_none()
            && let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(alert) = io.to_string().strip_prefix("received fatal alert: ")
        {
            return Some(TlsFailure::Alert(alert.to_string()));
        }
        if let Some(rustls_error) = rustls_error {
            return Some(match rustls_error {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                    match other.0.downcast_ref::<PinMismatch>() {
                        Some(mismatch) => TlsFailure::PinMismatch {
                            seen: mismatch.seen,
                            pinned: mismatch.pinned,
                        },
                        None => TlsFailure::ServerNotTrusted(rustls_error.to_string()),
                    }
                }
                rustls::Error::InvalidCertificate(_) => TlsFailure::ServerNotTrusted(rustls_error.to_string()),
                rustls::Error::AlertReceived(alert) => TlsFailure::Alert(format!("{alert:?}")),
                other => TlsFailure::ServerNotTrusted(other.to_string()),
            });
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_round_trips_through_hex() {
        let pin = SpkiSha256([0xab; 32]);
        let text = pin.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<SpkiSha256>().expect("valid hex"), pin);
        assert!(matches!("abcd".parse::<SpkiSha256>(), Err(CredentialsError::BadPin)));
    }

    #[test]
    fn talos_ed25519_key_label_is_accepted() {
        let text = include_str!("../../../tests/fixtures/talos/secrets.yaml");
        let bundle: crate::talos::secrets::SecretsBundle = serde_saphyr::from_str(text).expect("golden bundle parses");
        let identity = ClientIdentity {
            ca_pem: bundle.certs.os.crt.0.clone(),
            crt_pem: bundle.certs.os.crt.0.clone(),
            key_pem: Redacted::new(bundle.certs.os.key.0.clone()),
        };
        configured_config(&identity).expect("an ED25519 PRIVATE KEY with its certificate is usable");
        let certs = pki::certificates_der(&bundle.certs.os.crt.0).expect("certificate parses");
        assert!(SpkiSha256::of_certificate(&certs[0]).is_some());
        let wrong = ClientIdentity {
            key_pem: Redacted::new("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into()),
            ..identity
        };
        assert!(matches!(
            configured_config(&wrong),
            Err(CredentialsError::Tls(pki::tls::Error::ClientKey(_)))
        ));
    }

    #[test]
    fn identity_debug_hides_the_key() {
        let identity = ClientIdentity {
            ca_pem: "ca".into(),
            crt_pem: "crt".into(),
            key_pem: Redacted::new("-----BEGIN PRIVATE KEY-----secret".into()),
        };
        let debug = format!("{identity:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
