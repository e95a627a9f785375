//! rustls settings made from PKI material: the crypto provider, trust anchors from PEM, and
//! the mutual-TLS client configuration that calls apid.
//!
//! Shared because two sides dial apid with a client certificate: the Talos API client
//! (`talos::api`) and an emulated control plane forwarding a request to another node
//! (`sim::talos`), as Talos's own apid does. Both must turn the same PEM into the same rustls
//! objects under the wire contract of reference `talos.md` §F.5 (TLS 1.2+, ALPN `h2`, the
//! server checked by CA). Like the rest of `pki` this is crypto plumbing, not behaviour:
//! which certificate a node presents, how it checks its clients, and how the client treats a
//! maintenance node stay with each side.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use super::{certificates_der, private_key_der};

/// Why PEM material could not be made into rustls settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA field holds no usable PEM certificate.
    #[error("the CA is not a PEM certificate")]
    CaCertificate(#[source] super::Error),
    /// A CA certificate was refused as a trust anchor.
    #[error("the CA certificate cannot be used as a trust anchor")]
    BadCaCertificate(#[source] rustls::Error),
    /// The certificate field holds no usable PEM certificate.
    #[error("the client certificate is not a PEM certificate")]
    ClientCertificate(#[source] super::Error),
    /// The key field holds no usable private key.
    #[error("the client key is not a usable PEM private key (PKCS#8, ED25519, EC or RSA)")]
    ClientKey(#[source] super::Error),
    /// rustls refused the certificate and key pair.
    #[error("the client certificate and key do not form a usable pair")]
    BadClientPair(#[source] rustls::Error),
    /// rustls refused the TLS settings (an internal invariant).
    #[error("TLS settings rejected")]
    Settings(#[source] rustls::Error),
}

/// The ring provider; every configuration is built with it explicitly, so no process-wide
/// default is needed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trust anchors from PEM texts, each of which may hold several certificates (a talosconfig
/// `ca`, a config's accepted CAs).
///
/// # Errors
///
/// [`Error::CaCertificate`] for a text without a certificate, [`Error::BadCaCertificate`]
/// for a certificate rustls cannot anchor trust in.
pub fn root_store(pem_texts: &[&str]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for text in pem_texts {
        for cert in certificates_der(text).map_err(Error::CaCertificate)? {
            roots.add(cert).map_err(Error::BadCaCertificate)?;
        }
    }
    Ok(roots)
}

/// The client side of apid's mutual TLS: the server is verified against `ca_pem` (by the
/// name or IP address dialled), `crt_pem` and its key are presented, ALPN is `h2`.
/// `key_pem` may carry any label Talos writes (`ED25519 PRIVATE KEY`, `EC PRIVATE KEY`, …).
///
/// # Errors
///
/// Which of the three PEM inputs is unusable, or that rustls refused the pair.
pub fn mtls_client_config(ca_pem: &str, crt_pem: &str, key_pem: &str) -> Result<ClientConfig, Error> {
    let roots = root_store(&[ca_pem])?;
    let chain = certificates_der(crt_pem).map_err(Error::ClientCertificate)?;
    let key = private_key_der(key_pem).map_err(Error::ClientKey)?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Settings)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(Error::BadClientPair)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Implements the handshake-signature methods of a rustls certificate verifier
/// (`ServerCertVerifier` or `ClientCertVerifier`) with the algorithms in the verifier's
/// `algorithms` field (a [`rustls::crypto::WebPkiSupportedAlgorithms`], taken from
/// [`provider`]).
///
/// Both apid sides check handshake signatures as webpki does; they differ only in how
/// they judge the certificate itself, which each writes out.
macro_rules! verify_signatures_with_provider_algorithms {
    () => {
        $crate::talos::pki::tls::verify_signatures_with_provider_algorithms!(
            verify_tls12_signature,
            verify_tls13_signature
        );

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
    // Each trait method delegates to the `rustls::crypto` function of the same name.
    ($($method:ident),+) => {
        $(
            fn $method(
                &self,
                message: &[u8],
                cert: &rustls::pki_types::CertificateDer<'_>,
                dss: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::$method(message, cert, dss, &self.algorithms)
            }
        )+
    };
}
pub(crate) use verify_signatures_with_provider_algorithms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_store_takes_every_certificate_and_names_a_text_without_one() {
        let text = include_str!("../../../tests/fixtures/talos/secrets.yaml");
        let bundle: crate::talos::secrets::SecretsBundle = serde_saphyr::from_str(text).expect("golden bundle parses");
        let roots = root_store(&[&bundle.certs.os.crt.0, &bundle.certs.k8s.crt.0]).expect("two CA certificates");
        assert_eq!(roots.len(), 2);
        let key_only = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n";
        assert!(matches!(root_store(&[key_only]), Err(Error::CaCertificate(_))));
    }
}
