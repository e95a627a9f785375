//! Secrets bundle, PKI and talosconfig: checked against the real openssl CLI, Talos's
//! golden bundle, rustls, and the `secrets` commands.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use talos_hcloud::secure_file::Overwrite;
use talos_hcloud::talos::contract::Contract;
use talos_hcloud::talos::pki::{
    self, CaSpec, CertAndKey, CertificateAuthority, ExtKeyUsage, KeyAlgorithm, KeyUsage, LeafSpec, Pem, SubjectKeyId,
};
use talos_hcloud::talos::secrets::{CaName, GenerateOptions, SecretsBundle, is_token};
use talos_hcloud::talos::talosconfig::Talosconfig;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, ParsedExtension, X509Certificate};

use crate::harness::{Run, mode_of, reference_dir, repo_root, talos_hcloud_in};

fn golden_path() -> PathBuf {
    repo_root().join("tests/fixtures/talos/secrets.yaml")
}

/// One RSA-4096 service-account key for every bundle of this test binary.
pub fn service_account_key() -> Pem {
    static KEY: OnceLock<Pem> = OnceLock::new();
    KEY.get_or_init(|| pki::generate_private_key(KeyAlgorithm::Rsa { bits: 4096 }).expect("RSA key generation"))
        .clone()
}

fn bundle(contract: Contract) -> SecretsBundle {
    SecretsBundle::generate_with(
        contract,
        GenerateOptions {
            now: None,
            service_account_key: Some(service_account_key()),
        },
    )
    .expect("bundle generation")
}

/// Runs the real openssl CLI (scripts/test.sh installs it); never skips.
pub fn openssl(args: &[&str], dir: &Path) -> Run {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl CLI is installed (scripts/test.sh installs it)");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn openssl_ok(args: &[&str], dir: &Path) -> String {
    let run = openssl(args, dir);
    assert_eq!(run.code, 0, "openssl {args:?}: {run:?}");
    run.stdout + &run.stderr
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn der(pem_text: &str) -> Vec<u8> {
    pki::certificate_der(pem_text).unwrap().to_vec()
}

/// (extension OID, critical) in certificate order.
fn extension_layout(der: &[u8]) -> Vec<(String, bool)> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.extensions()
        .iter()
        .map(|ext| (ext.oid.to_id_string(), ext.critical))
        .collect()
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    })
}

#[test]
fn cas_match_talos_section_a2_under_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(Contract::V1_11);
    let expected = [
        (CaName::Etcd, "Subject: O = etcd", "id-ecPublicKey"),
        (CaName::K8s, "Subject: O = kubernetes", "id-ecPublicKey"),
        (CaName::K8sAggregator, "Subject: \n", "id-ecPublicKey"),
        (CaName::Os, "Subject: O = talos", "ED25519"),
    ];
    let mut not_befores = Vec::new();
    for (name, subject, key_type) in expected {
        let pair = bundle.ca_pair(name);
        let crt = write(dir.path(), &format!("{}.crt", name.as_str()), &pair.crt.0);
        let text = openssl_ok(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-text"], dir.path());
        assert!(text.contains("Version: 3 (0x2)"), "{text}");
        assert!(text.contains(subject), "{name:?} subject: {text}");
        assert!(text.contains(&format!("Public Key Algorithm: {key_type}")), "{text}");
        if key_type == "id-ecPublicKey" {
            assert!(text.contains("NIST CURVE: P-256"), "{text}");
            assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"), "{text}");
        }
        assert!(
            text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE\n"),
            "{text}"
        );
        assert!(
            text.contains("X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication\n"
            ),
            "{text}"
        );
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(!text.contains("Authority Key Identifier"), "{text}");
        assert!(!text.contains("pathlen"), "{text}");
        // Self-signed and verifiable as its own root.
        let verified = openssl_ok(
            &["verify", "-CAfile", crt.to_str().unwrap(), crt.to_str().unwrap()],
            dir.path(),
        );
        assert!(verified.contains(": OK"), "{verified}");

        let der = der(&pair.crt.0);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
        let validity = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(validity, 87_600 * 3600);
        let serial = cert.raw_serial();
        assert!(serial.len() <= 17 && serial[0] & 0x80 == 0, "{serial:02x?}");
        assert_eq!(subject_key_id(&cert).unwrap().len(), 20);
        not_befores.push(cert.validity().not_before.timestamp());
    }
    // One bundle clock for all CAs, close to now.
    assert!(not_befores.windows(2).all(|w| w[0] == w[1]), "{not_befores:?}");
    assert!((OffsetDateTime::now_utc().unix_timestamp() - not_befores[0]).abs() < 300);
}

#[test]
fn cas_have_the_same_layout_as_talos_golden_cas() {
    let golden = SecretsBundle::load(&golden_path()).unwrap();
    let ours = bundle(Contract::V1_13);
    for name in CaName::ALL {
        let golden_der = der(&golden.ca_pair(name).crt.0);
        let our_der = der(&ours.ca_pair(name).crt.0);
        assert_eq!(extension_layout(&our_der), extension_layout(&golden_der), "{name:?}");
        let (_, golden_cert) = X509Certificate::from_der(&golden_der).unwrap();
        let (_, our_cert) = X509Certificate::from_der(&our_der).unwrap();
        assert_eq!(our_cert.subject().as_raw(), golden_cert.subject().as_raw(), "{name:?}");
        assert_eq!(
            our_cert.signature_algorithm, golden_cert.signature_algorithm,
            "{name:?}"
        );
        assert_eq!(
            our_cert.public_key().algorithm.algorithm,
            golden_cert.public_key().algorithm.algorithm
        );
        let length = |c: &X509Certificate<'_>| c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
        assert_eq!(length(&our_cert), length(&golden_cert), "{name:?}");
    }
}

#[test]
fn v1_10_key_ids_are_sha1_of_the_public_key_and_v1_11_random() {
    for (contract, sha1) in [(Contract::V1_10, true), (Contract::V1_11, false)] {
        let bundle = bundle(contract);
        for name in CaName::ALL {
            let der = der(&bundle.ca_pair(name).crt.0);
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            let digest = ring::digest::digest(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &cert.public_key().subject_public_key.data,
            );
            assert_eq!(
                subject_key_id(&cert).unwrap() == digest.as_ref(),
                sha1,
                "{contract} {name:?}"
            );
        }
    }
}

#[test]
fn private_keys_parse_with_openssl_after_the_label_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(Contract::V1_13);
    for name in [CaName::Etcd, CaName::K8s, CaName::K8sAggregator] {
        let key = &bundle.ca_pair(name).key.0;
        assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{key:?}");
        let path = write(dir.path(), "ec.key", key);
        let text = openssl_ok(&["pkey", "-in", path.to_str().unwrap(), "-noout", "-text"], dir.path());
        assert!(
            text.contains("Private-Key: (256 bit)") && text.contains("ASN1 OID: prime256v1"),
            "{text}"
        );
        let checked = openssl_ok(&["ec", "-in", path.to_str().unwrap(), "-check", "-noout"], dir.path());
        assert!(checked.contains("EC Key valid."), "{checked}");
        // The key is the certificate's key.
        let crt = write(dir.path(), "ec.crt", &bundle.ca_pair(name).crt.0);
        let from_key = openssl_ok(&["pkey", "-in", path.to_str().unwrap(), "-pubout"], dir.path());
        let from_cert = openssl_ok(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"], dir.path());
        assert_eq!(from_key, from_cert);
    }

    let os_key = &bundle.certs.os.key.0;
    assert!(os_key.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));
    let raw = write(dir.path(), "os-talos-label.key", os_key);
    assert_ne!(
        openssl(&["pkey", "-in", raw.to_str().unwrap(), "-noout"], dir.path()).code,
        0,
        "openssl unexpectedly reads the Talos label; the fix-up would be unnecessary"
    );
    let fixed = write(dir.path(), "os.key", &pki::standard_key_pem(os_key));
    let text = openssl_ok(&["pkey", "-in", fixed.to_str().unwrap(), "-noout", "-text"], dir.path());
    assert!(text.contains("ED25519 Private-Key:"), "{text}");

    let sa = &bundle.certs.k8sserviceaccount.key.0;
    assert!(sa.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let sa_path = write(dir.path(), "sa.key", sa);
    let checked = openssl_ok(
        &["rsa", "-in", sa_path.to_str().unwrap(), "-check", "-noout"],
        dir.path(),
    );
    assert!(checked.contains("RSA key ok"), "{checked}");
    let text = openssl_ok(
        &["rsa", "-in", sa_path.to_str().unwrap(), "-noout", "-text"],
        dir.path(),
    );
    assert!(text.contains("Private-Key: (4096 bit, 2 primes)"), "{text}");
}

#[test]
fn admin_certificate_is_talos_section_c2_and_verifies_as_ssl_client() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(Contract::V1_13);
    let config = Talosconfig::for_cluster(&bundle, "prod", ["203.0.113.10", "203.0.113.11"]).unwrap();
    let context = config.current().unwrap();
    let crt = write(dir.path(), "admin.crt", &context.crt.as_ref().unwrap().0);
    let ca = write(dir.path(), "os.crt", &context.ca.as_ref().unwrap().0);
    assert_eq!(context.ca.as_ref().unwrap(), &bundle.certs.os.crt);
    let key = &context.key.as_ref().unwrap().0;
    assert!(key.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));

    let args = |purpose: &str| {
        vec![
            "verify".to_string(),
            "-CAfile".into(),
            ca.display().to_string(),
            "-purpose".into(),
            purpose.into(),
            crt.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| openssl(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir.path());
    let client = run(args("sslclient"));
    assert_eq!(client.code, 0, "{client:?}");
    assert!(client.stdout.contains("admin.crt: OK"), "{client:?}");
    assert_ne!(
        run(args("sslserver")).code,
        0,
        "the admin certificate must not serve TLS"
    );

    let text = openssl_ok(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-text"], dir.path());
    assert!(text.contains("Subject: O = os:admin\n"), "{text}");
    assert!(text.contains("Issuer: O = talos\n"), "{text}");
    assert!(text.contains("Public Key Algorithm: ED25519"), "{text}");
    assert!(text.contains("Signature Algorithm: ED25519"), "{text}");
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n"),
        "{text}"
    );
    assert!(!text.contains("Basic Constraints"), "{text}");
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");

    let der = der(&context.crt.as_ref().unwrap().0);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let validity = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert_eq!(validity, 8_760 * 3600);
    assert!((OffsetDateTime::now_utc().unix_timestamp() - cert.validity().not_before.timestamp()).abs() < 300);
    assert!(cert.raw_serial().len() <= 17);

    let fixed = write(dir.path(), "admin.key", &pki::standard_key_pem(key));
    let from_key = openssl_ok(&["pkey", "-in", fixed.to_str().unwrap(), "-pubout"], dir.path());
    let from_cert = openssl_ok(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"], dir.path());
    assert_eq!(from_key, from_cert);
}

#[test]
fn server_certificate_verifies_as_ssl_server_with_its_sans() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = SecretsBundle::load(&golden_path()).unwrap();
    let k8s_ca = bundle.ca(CaName::K8s).unwrap();
    let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()];
    let pair = pki::issue_server_cert(
        &k8s_ca,
        "cp-1",
        &ips,
        &["cp-1", "kubernetes"],
        Duration::from_secs(86_400),
    )
    .unwrap();
    assert!(pair.key.0.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    let crt = write(dir.path(), "server.crt", &pair.crt.0);
    let ca = write(dir.path(), "k8s.crt", k8s_ca.cert_pem());
    let verified = openssl_ok(
        &[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.2",
            crt.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(verified.contains("server.crt: OK"), "{verified}");
    let text = openssl_ok(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-text"], dir.path());
    assert!(text.contains("Subject: CN = cp-1\n"), "{text}");
    assert!(text.contains("Issuer: O = kubernetes\n"), "{text}");
    assert!(
        text.contains("DNS:cp-1, DNS:kubernetes, IP Address:127.0.0.2, IP Address:0:0:0:0:0:0:0:1"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n"),
        "{text}"
    );
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"), "{text}");
}

/// One TLS exchange over a real socket: a server with `server` that requires client
/// certificates chained to `client_ca`, and a client trusting `server_ca`.
fn mtls_exchange(
    server: &CertAndKey,
    client_ca: &CertificateAuthority,
    server_ca: &CertificateAuthority,
    client: &CertAndKey,
) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(client_ca.cert_der()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .build()
            .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki::certificates_der(&server.crt.0).unwrap(),
            pki::private_key_der(&server.key.0).unwrap(),
        )
        .unwrap();
    let mut server_roots = rustls::RootCertStore::empty();
    server_roots.add(server_ca.cert_der()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(server_roots)
        .with_client_auth_cert(
            pki::certificates_der(&client.crt.0).unwrap(),
            pki::private_key_der(&client.key.0).unwrap(),
        )
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server_thread = std::thread::spawn(move || -> Result<(), String> {
        let (socket, _) = listener.accept().map_err(|e| e.to_string())?;
        let connection = rustls::ServerConnection::new(Arc::new(server_config)).map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let mut request = [0u8; 4];
        stream.read_exact(&mut request).map_err(|e| e.to_string())?;
        stream.write_all(b"pong").map_err(|e| e.to_string())?;
        stream.conn.send_close_notify();
        stream.flush().map_err(|e| e.to_string())
    });
    let client_result = (|| -> Result<Vec<u8>, String> {
        let socket = TcpStream::connect(address).map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
        let connection = rustls::ClientConnection::new(Arc::new(client_config), name).map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        stream.write_all(b"ping").map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).map_err(|e| e.to_string())?;
        Ok(reply)
    })();
    let server_result = server_thread.join().unwrap();
    match (client_result, server_result) {
        (Ok(reply), Ok(())) => Ok(reply),
        (client, server) => Err(format!("client: {client:?}, server: {server:?}")),
    }
}

#[test]
fn issued_certificates_work_for_mutual_tls_with_rustls() {
    let bundle = bundle(Contract::V1_13);
    let os_ca = bundle.ca(CaName::Os).unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let server = pki::issue_server_cert(&os_ca, "cp-1", &[ip], &[], Duration::from_secs(86_400)).unwrap();
    assert!(server.key.0.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));
    let admin = pki::issue_client_cert(&os_ca, &["os:admin"], pki::ADMIN_CERT_VALIDITY).unwrap();
    assert_eq!(mtls_exchange(&server, &os_ca, &os_ca, &admin).unwrap(), b"pong");

    // A client certificate from another CA is refused.
    let rogue_ca = CertificateAuthority::generate(&CaSpec {
        organization: Some("talos".into()),
        algorithm: KeyAlgorithm::Ed25519,
        not_before: OffsetDateTime::now_utc(),
        validity: pki::CA_VALIDITY,
        subject_key_id: SubjectKeyId::Random,
    })
    .unwrap();
    let rogue = pki::issue_client_cert(&rogue_ca, &["os:admin"], pki::ADMIN_CERT_VALIDITY).unwrap();
    let err = mtls_exchange(&server, &os_ca, &os_ca, &rogue).unwrap_err();
    // Same subject as the real OS CA, so the signature check is what fails.
    assert!(
        err.contains("server: Err(\"invalid peer certificate: BadSignature"),
        "{err}"
    );

    // Test support: a leaf with the wrong extended key usage is refused as a client.
    let server_only = pki::issue(
        &os_ca,
        &LeafSpec {
            organizations: vec!["os:admin".into()],
            key_usage: vec![KeyUsage::DigitalSignature],
            ext_key_usage: vec![ExtKeyUsage::ServerAuth],
            validity: pki::ADMIN_CERT_VALIDITY,
            ..LeafSpec::default()
        },
    )
    .unwrap();
    let err = mtls_exchange(&server, &os_ca, &os_ca, &server_only).unwrap_err();
    assert!(
        err.contains("certificate does not allow extended key usage for client authentication"),
        "{err}"
    );
}

#[test]
fn fixture_bundle_is_the_reference_golden_bundle() {
    let reference = std::fs::read(reference_dir().join("talos-golden/secrets.yaml")).unwrap();
    assert_eq!(std::fs::read(golden_path()).unwrap(), reference);
}

#[test]
fn ecdsa_server_certificates_serve_tls_to_an_os_admin_client() {
    // The emulated Kubernetes API: a serving certificate from the (ECDSA) Kubernetes CA.
    let bundle = SecretsBundle::load(&golden_path()).unwrap();
    let k8s_ca = bundle.ca(CaName::K8s).unwrap();
    let os_ca = bundle.ca(CaName::Os).unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let server = pki::issue_server_cert(&k8s_ca, "kube-apiserver", &[ip], &[], Duration::from_secs(3600)).unwrap();
    let admin = pki::issue_client_cert(&os_ca, &["os:admin"], pki::ADMIN_CERT_VALIDITY).unwrap();
    assert_eq!(mtls_exchange(&server, &os_ca, &k8s_ca, &admin).unwrap(), b"pong");
}

/// Makes a CA with openssl the way kubeadm-era PKI looks, in the given key format.
fn openssl_ca(dir: &Path, key_args: &[&str], key_format: &[&str]) -> (String, String) {
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/O=kubernetes",
        "-keyout",
        "gen.key",
        "-out",
        "ca.crt",
    ];
    args.extend_from_slice(key_args);
    openssl_ok(&args, dir);
    let mut convert = key_format.to_vec();
    convert.extend_from_slice(&["-in", "gen.key", "-out", "ca.key"]);
    openssl_ok(&convert, dir);
    (
        std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
        std::fs::read_to_string(dir.join("ca.key")).unwrap(),
    )
}

#[test]
fn cas_made_by_openssl_load_in_every_key_format_and_issue_verifiable_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[&str], &str, KeyAlgorithm); 4] = [
        (
            &["-newkey", "rsa:2048"],
            &["rsa", "-traditional"],
            "-----BEGIN RSA PRIVATE KEY-----",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            &["-newkey", "rsa:2048"],
            &["pkey"],
            "-----BEGIN PRIVATE KEY-----",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            &["ec"],
            "-----BEGIN EC PRIVATE KEY-----",
            KeyAlgorithm::EcdsaP256,
        ),
        (
            &["-newkey", "ed25519"],
            &["pkey"],
            "-----BEGIN PRIVATE KEY-----",
            KeyAlgorithm::Ed25519,
        ),
    ];
    for (key_args, key_format, label, algorithm) in cases {
        let (crt, key) = openssl_ca(dir.path(), key_args, key_format);
        assert!(key.starts_with(label), "{key}");
        let ca = CertificateAuthority::from_pem(&crt, &key).unwrap();
        assert_eq!(ca.algorithm(), algorithm);
        let ip: IpAddr = "127.0.0.3".parse().unwrap();
        let leaf = pki::issue_server_cert(&ca, "api", &[ip], &[], Duration::from_secs(3600)).unwrap();
        write(dir.path(), "leaf.crt", &leaf.crt.0);
        let verified = openssl_ok(
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-purpose",
                "sslserver",
                "-verify_ip",
                "127.0.0.3",
                "leaf.crt",
            ],
            dir.path(),
        );
        assert!(verified.contains("leaf.crt: OK"), "{algorithm}: {verified}");
        // A bundle may carry such a CA: validation accepts it.
        assert!(pki::check_cert_and_key(&ca.to_cert_and_key()).is_ok());
    }
}

#[test]
fn golden_bundle_loads_with_its_known_cas() {
    let bundle = SecretsBundle::load(&golden_path()).unwrap();
    assert_eq!(bundle.cluster.id, "0raF93qnkMvF-FZNuvyGozXNdLiT2FOWSlyBaW4PR-w=");
    assert!(is_token(&bundle.secrets.bootstraptoken) && is_token(&bundle.trustdinfo.token));
    let summaries = bundle.ca_summaries().unwrap();
    let subjects: Vec<(&str, &str, &str)> = summaries
        .iter()
        .map(|(name, s)| (name.as_str(), s.subject.as_str(), s.key_algorithm.as_str()))
        .collect();
    assert_eq!(
        subjects,
        [
            ("etcd", "O=etcd", "ECDSA P-256"),
            ("k8s", "O=kubernetes", "ECDSA P-256"),
            ("k8saggregator", "", "ECDSA P-256"),
            ("os", "O=talos", "Ed25519"),
        ]
    );
    assert_eq!(
        pki::private_key_algorithm(&bundle.certs.k8sserviceaccount.key.0).unwrap(),
        KeyAlgorithm::EcdsaP256
    );
    // Fingerprints agree with openssl's.
    let dir = tempfile::tempdir().unwrap();
    let crt = write(dir.path(), "etcd.crt", &bundle.certs.etcd.crt.0);
    let openssl_fp = openssl_ok(
        &[
            "x509",
            "-in",
            crt.to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        dir.path(),
    );
    assert_eq!(
        openssl_fp.trim(),
        format!("sha256 Fingerprint={}", summaries[0].1.sha256_fingerprint)
    );
}

#[test]
fn our_bundle_round_trips_through_yaml_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(Contract::V1_14);
    let text = bundle.to_yaml().unwrap();
    assert_eq!(SecretsBundle::from_yaml(&text).unwrap(), bundle);
    assert!(text.starts_with("cluster:\n    id: "), "{text}");
    assert!(
        text.contains("\ncerts:\n    etcd:\n        crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"),
        "{text}"
    );
    assert!(!text.contains("aescbcencryptionsecret"));

    let path = dir.path().join("nested/secrets.yaml");
    bundle.save(&path, Overwrite::Refuse).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(SecretsBundle::load(&path).unwrap(), bundle);
    let err = bundle.save(&path, Overwrite::Refuse).unwrap_err();
    assert!(err.to_string().starts_with("cannot write secrets bundle"), "{err}");
}

/// The golden bundle as a YAML tree, for making broken or differently spelled variants.
fn golden_tree() -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(golden_path()).unwrap()).unwrap()
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn broken_bundles_report_every_problem_in_talos_words() {
    let mut tree = golden_tree();
    let os_crt = tree["certs"]["os"]["crt"].clone();
    tree["cluster"].as_object_mut().unwrap().remove("secret");
    tree["secrets"]
        .as_object_mut()
        .unwrap()
        .remove("secretboxencryptionsecret");
    tree.as_object_mut().unwrap().remove("trustdinfo");
    tree["certs"]["etcd"]["crt"] = base64("not a PEM block").into();
    tree["certs"].as_object_mut().unwrap().remove("k8saggregator");
    tree["certs"]["os"]["key"] = os_crt;
    let err = SecretsBundle::from_yaml(&tree.to_string()).unwrap_err();
    assert_eq!(
        err.problems(),
        [
            "cluster.secret is required",
            "one of [secrets.secretboxencryptionsecret, secrets.aescbcencryptionsecret] is required",
            "trustdinfo is required",
            "certs.etcd is invalid: failed to parse PEM block",
            "certs.k8saggregator is required",
            "certs.os is invalid: unsupported key type: \"CERTIFICATE\"",
        ]
    );
    assert!(
        err.to_string()
            .starts_with("secrets bundle input is invalid: cluster.secret is required; one of"),
        "{err}"
    );
}

#[test]
fn bad_base64_garbage_certificates_and_foreign_keys_are_named() {
    let mut tree = golden_tree();
    let etcd_key = tree["certs"]["etcd"]["key"].clone();
    tree["secrets"]["aescbcencryptionsecret"] = base64("x").into();
    tree["certs"]["k8s"]["crt"] = "%%% not base64 %%%".into();
    tree["certs"]["etcd"]["crt"] = base64("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n").into();
    tree["certs"]["k8saggregator"]["key"] = etcd_key;
    tree["certs"]["k8sserviceaccount"]["key"] = "".into();
    tree["certs"]["os"]["key"] = "******".into();
    let err = SecretsBundle::from_yaml(&tree.to_string()).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert_eq!(
        problems[0],
        "only one of [secrets.secretboxencryptionsecret, secrets.aescbcencryptionsecret] is allowed"
    );
    assert!(
        problems[1].starts_with("certs.etcd is invalid: failed to parse certificate: "),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("certs.k8s is invalid: crt: not standard base64 of a PEM block"),
        "{problems:#?}"
    );
    assert_eq!(
        problems[3],
        "certs.k8saggregator is invalid: the private key does not match the certificate"
    );
    assert_eq!(problems[4], "certs.os is invalid: key is redacted (******)");
    assert_eq!(problems[5], "certs.k8sserviceaccount.key is invalid: key is required");
}

#[test]
fn unknown_keys_are_parse_errors_with_a_location() {
    let text = std::fs::read_to_string(golden_path())
        .unwrap()
        .replace("trustdinfo:", "trustinfo:");
    let err = SecretsBundle::from_yaml(&text).unwrap_err();
    assert_eq!(err.to_string(), "input is not a secrets bundle");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.starts_with("input:8:1: unknown field `trustinfo`, expected one of "),
        "{cause}"
    );
    assert!(!cause.contains("inn7ol"), "no snippet of the (secret) input: {cause}");
}

#[test]
fn terraform_and_go_json_forms_load_to_the_same_bundle() {
    let golden = SecretsBundle::load(&golden_path()).unwrap();
    let tree = golden_tree();
    let pair = |name: &str, crt: &str| serde_json::json!({ crt: tree["certs"][name]["crt"], "key": tree["certs"][name]["key"] });
    // The Terraform provider's machine_secrets (e.g. yamlencode or `terraform output -json`).
    let terraform = serde_json::json!({
        "cluster": { "id": tree["cluster"]["id"], "secret": tree["cluster"]["secret"] },
        "secrets": {
            "bootstrap_token": tree["secrets"]["bootstraptoken"],
            "secretbox_encryption_secret": tree["secrets"]["secretboxencryptionsecret"],
            "aescbc_encryption_secret": "",
        },
        "trustdinfo": { "token": tree["trustdinfo"]["token"] },
        "certs": {
            "etcd": pair("etcd", "cert"),
            "k8s": pair("k8s", "cert"),
            "k8s_aggregator": pair("k8saggregator", "cert"),
            "k8s_serviceaccount": { "key": tree["certs"]["k8sserviceaccount"]["key"] },
            "os": pair("os", "cert"),
        },
    });
    assert_eq!(SecretsBundle::from_yaml(&terraform.to_string()).unwrap(), golden);
    let as_yaml = serde_saphyr::to_string(&terraform).unwrap();
    assert_eq!(SecretsBundle::from_yaml(&as_yaml).unwrap(), golden);

    let go_pair =
        |name: &str| serde_json::json!({ "Crt": tree["certs"][name]["crt"], "Key": tree["certs"][name]["key"] });
    let go_json = serde_json::json!({
        "Cluster": { "Id": tree["cluster"]["id"], "Secret": tree["cluster"]["secret"] },
        "Secrets": {
            "BootstrapToken": tree["secrets"]["bootstraptoken"],
            "SecretboxEncryptionSecret": tree["secrets"]["secretboxencryptionsecret"],
        },
        "TrustdInfo": { "Token": tree["trustdinfo"]["token"] },
        "Certs": {
            "Etcd": go_pair("etcd"),
            "K8s": go_pair("k8s"),
            "K8sAggregator": go_pair("k8saggregator"),
            "K8sServiceAccount": { "Key": tree["certs"]["k8sserviceaccount"]["key"] },
            "OS": go_pair("os"),
        },
    });
    assert_eq!(SecretsBundle::from_yaml(&go_json.to_string()).unwrap(), golden);
}

#[test]
fn talosconfig_is_written_like_talosctl_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = SecretsBundle::load(&golden_path()).unwrap();
    let endpoints: Vec<IpAddr> = vec!["203.0.113.10".parse().unwrap(), "203.0.113.11".parse().unwrap()];
    let config = Talosconfig::for_cluster(&bundle, "base", &endpoints).unwrap();
    let text = config.to_yaml().unwrap();
    let context = config.current().unwrap();
    let expected = format!(
        "context: base\ncontexts:\n    base:\n        endpoints:\n            - 203.0.113.10\n            - 203.0.113.11\n        ca: {}\n        crt: {}\n        key: {}\n",
        bundle.certs.os.crt.to_base64(),
        context.crt.as_ref().unwrap().to_base64(),
        context.key.as_ref().unwrap().to_base64(),
    );
    assert_eq!(text, expected);

    let path = dir.path().join("talosconfig");
    config.save(&path, Overwrite::Refuse).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(Talosconfig::load(&path).unwrap(), config);
    assert!(config.save(&path, Overwrite::Refuse).is_err());
    let renewed = Talosconfig::for_cluster(&bundle, "base", &endpoints).unwrap();
    renewed.save(&path, Overwrite::Replace).unwrap();
    assert_eq!(Talosconfig::load(&path).unwrap(), renewed);
    assert_ne!(renewed, config, "a renewed talosconfig carries a new admin certificate");
}

#[test]
fn cli_gen_writes_0600_and_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let run = talos_hcloud_in(dir.path(), &["secrets", "gen", "-o", "state/secrets.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "wrote secrets bundle state/secrets.yaml (Talos v1.13, mode 0600)\n\
         keep it safe and backed up: it holds the cluster's CAs and cannot be re-created\n"
    );
    let path = dir.path().join("state/secrets.yaml");
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&dir.path().join("state")), 0o700);
    let first = std::fs::read(&path).unwrap();
    let bundle = SecretsBundle::load(&path).unwrap();
    assert!(
        bundle
            .certs
            .k8sserviceaccount
            .key
            .0
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );

    let again = talos_hcloud_in(dir.path(), &["secrets", "gen", "-o", "state/secrets.yaml"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stdout.is_empty());
    assert!(
        again.stderr.contains(
            "error: cannot write secrets bundle state/secrets.yaml\n  caused by: refusing to overwrite existing file state/secrets.yaml (use --force to replace it)\n"
        ),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "the file must be unchanged byte for byte"
    );
    assert_eq!(std::fs::read_dir(dir.path().join("state")).unwrap().count(), 1);

    let forced = talos_hcloud_in(
        dir.path(),
        &[
            "secrets",
            "gen",
            "-o",
            "state/secrets.yaml",
            "--force",
            "--talos-version",
            "v1.10.4",
        ],
    );
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(
        forced
            .stdout
            .starts_with("wrote secrets bundle state/secrets.yaml (Talos v1.10, mode 0600)")
    );
    let second = std::fs::read(&path).unwrap();
    assert_ne!(second, first);
    assert_eq!(mode_of(&path), 0o600);
    assert_ne!(SecretsBundle::load(&path).unwrap().certs.os, bundle.certs.os);
}

#[test]
fn cli_gen_json_shows_fingerprints_and_no_private_material() {
    let dir = tempfile::tempdir().unwrap();
    let run = talos_hcloud_in(
        dir.path(),
        &[
            "--output",
            "json",
            "secrets",
            "gen",
            "-o",
            "secrets.yaml",
            "--talos-version",
            "v1.14",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["path"], "secrets.yaml");
    assert_eq!(document["talos_version"], "v1.14");
    assert_eq!(document["replaced"], false);
    let bundle = SecretsBundle::load(&dir.path().join("secrets.yaml")).unwrap();
    let cas = document["cas"].as_array().unwrap();
    let names: Vec<&str> = cas.iter().map(|ca| ca["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["etcd", "k8s", "k8saggregator", "os"]);
    for (ca, name) in cas.iter().zip(CaName::ALL) {
        let fingerprint = pki::fingerprint_sha256(&der(&bundle.ca_pair(name).crt.0));
        assert_eq!(ca["sha256_fingerprint"], fingerprint.as_str());
    }
    let secrets = [
        bundle.cluster.secret.clone(),
        bundle.cluster.id.clone(),
        bundle.secrets.bootstraptoken.clone(),
        bundle.trustdinfo.token.clone(),
        bundle.secrets.secretboxencryptionsecret.clone().unwrap(),
        bundle.certs.os.key.to_base64(),
        bundle.certs.etcd.key.to_base64(),
        bundle.certs.k8sserviceaccount.key.to_base64(),
    ];
    assert!(!run.stdout.contains("PRIVATE KEY"));
    for secret in secrets {
        assert!(!run.stdout.contains(&secret), "leaked {secret}");
    }
    for name in CaName::ALL {
        let key = &bundle.ca_pair(name).key.0;
        let body: String = key.lines().nth(1).unwrap().to_string();
        assert!(!run.stdout.contains(&body), "leaked key material of {name:?}");
    }
}

#[test]
fn cli_gen_rejects_unsupported_versions() {
    let dir = tempfile::tempdir().unwrap();
    let run = talos_hcloud_in(
        dir.path(),
        &["secrets", "gen", "-o", "s.yaml", "--talos-version", "v1.9"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: Talos v1.9 is not supported: talos-hcloud generates secrets bundles for Talos v1.10 to v1.14\n\
         hint: pass the Talos version the cluster runs, e.g. --talos-version v1.11\n"
    );
    let run = talos_hcloud_in(
        dir.path(),
        &["secrets", "gen", "-o", "s.yaml", "--talos-version", "latest"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("invalid Talos version \"latest\""),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("s.yaml").exists());
}

#[test]
fn cli_check_reports_cas_and_warns_about_open_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.yaml");
    std::fs::copy(golden_path(), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = talos_hcloud_in(dir.path(), &["secrets", "check", "secrets.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("secrets.yaml: valid secrets bundle\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "  etcd           O=etcd           ECDSA P-256  valid 2023-10-12 10:46:09Z to 2033-10-09 10:46:09Z  SHA256 "
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  k8saggregator  (empty subject)  ECDSA P-256"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  os             O=talos          Ed25519"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  service-account key: ECDSA P-256\n  encryption secret:   secretbox\n")
    );
    assert!(
        run.stdout
            .contains("warning: secrets.yaml is readable by others (mode 0644); run: chmod 600 secrets.yaml\n"),
        "{}",
        run.stdout
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = talos_hcloud_in(dir.path(), &["--output", "json", "secrets", "check", "secrets.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["valid"], true);
    assert_eq!(document["warnings"], serde_json::json!([]));
    assert_eq!(document["cas"][3]["subject"], "O=talos");
    assert_eq!(document["cas"][3]["not_after"], "2033-10-09T10:46:09Z");
    assert!(!run.stdout.contains("PRIVATE KEY"));
}

#[test]
fn cli_check_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(golden_path()).unwrap();
    let broken: String = text
        .lines()
        .filter(|line| !line.starts_with("    secret:") && !line.contains("bootstraptoken"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(dir.path().join("broken.yaml"), broken).unwrap();
    let run = talos_hcloud_in(dir.path(), &["secrets", "check", "broken.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr,
        "error: secrets bundle broken.yaml is invalid: cluster.secret is required; secrets.bootstraptoken is required\n"
    );
    let missing = talos_hcloud_in(dir.path(), &["secrets", "check", "nope.yaml"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .starts_with("error: cannot read secrets bundle nope.yaml\n  caused by: "),
        "{}",
        missing.stderr
    );
}

/// `secrets gen -o -` is talosctl's stdout form: the bundle on stdout, no file named `-`.
#[test]
fn secrets_gen_to_stdout_writes_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(dir.path(), &["secrets", "gen", "-o", "-", "--talos-version", "v1.11"]);
    assert_eq!(run.code, 0, "{run:?}");
    let bundle = SecretsBundle::from_yaml(&run.stdout).expect("stdout is a bundle");
    assert!(is_token(&bundle.trustdinfo.token), "{}", bundle.trustdinfo.token);
    assert!(!dir.path().join("-").exists(), "no file named `-`");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing written"
    );

    let run = talos_hcloud_in(dir.path(), &["--output", "json", "secrets", "gen", "-o", "-"]);
    assert_eq!(run.code, 0, "{run:?}");
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let yaml = document["bundle"].as_str().expect("the bundle as YAML");
    SecretsBundle::from_yaml(yaml).expect("the JSON's bundle loads");
    assert_eq!(document["path"], "-");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing written"
    );
}

/// `secrets gen -o DIR` names the real problem, with or without --force (it said "refusing to
/// overwrite existing file", and with --force failed with the OS's "Is a directory"), before
/// spending seconds on key generation, and leaves the directory alone.
#[test]
fn cli_gen_into_a_directory_says_it_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/keep"), "x").unwrap();
    for force in [false, true] {
        let mut args = vec!["secrets", "gen", "-o", "state"];
        if force {
            args.push("--force");
        }
        let run = talos_hcloud_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert_eq!(
            run.stderr,
            "error: cannot write secrets bundle state\n  caused by: state is a directory, not a file\n\
             hint: name a file to write, not a directory (a new file inside it will do)\n",
            "{args:?}"
        );
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["keep"], "{args:?}");
    }
}

/// `secrets gen --force` over a symlink replaces the link itself with a private regular
/// file and leaves the file it pointed to alone (a write through a link could land
/// anywhere); `--help` says so.
#[test]
fn cli_gen_force_replaces_a_symlink_not_its_target() {
    let help = talos_hcloud_in(repo_root(), &["secrets", "gen", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    let flat = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("A symlink is itself replaced by a regular file; the file it points to is left as it was"),
        "{}",
        help.stdout
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("elsewhere.yaml"), "old\n").unwrap();
    std::os::unix::fs::symlink("elsewhere.yaml", dir.path().join("secrets.yaml")).unwrap();
    let run = talos_hcloud_in(dir.path(), &["secrets", "gen", "-o", "secrets.yaml", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    let link = dir.path().join("secrets.yaml");
    assert!(link.symlink_metadata().unwrap().file_type().is_file());
    assert_eq!(mode_of(&link), 0o600);
    SecretsBundle::load(&link).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("elsewhere.yaml")).unwrap(),
        "old\n"
    );
}
