//! Reading the admin kubeconfig (what Talos's `Kubeconfig` call hands out, or `kubectl`'s
//! file) into what the Kubernetes client dials: the server URL, the cluster CA and the
//! client certificate with its key.
//!
//! Only inline credentials (`*-data` fields, base64 PEM) are read: that is what Talos writes.
//! File references, tokens and exec plugins are refused by name rather than ignored, so a
//! kubeconfig the client cannot use fails before any request.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::redact::Redacted;

/// Why a kubeconfig cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The text is not a kubeconfig (YAML shape).
    #[error("the kubeconfig is not valid YAML of the expected shape")]
    Parse(#[source] serde_saphyr::Error),
    /// No context was chosen and `current-context` is empty.
    #[error("the kubeconfig has no current-context")]
    NoCurrentContext,
    /// A name the kubeconfig refers to is missing.
    #[error("the kubeconfig has no {kind} named {name:?}")]
    Missing {
        /// `context`, `cluster` or `user`.
        kind: &'static str,
        /// The name looked for.
        name: String,
    },
    /// A field the client needs is absent or unusable.
    #[error("the kubeconfig's {field} is {problem}")]
    Field {
        /// The field (`users[admin].client-key-data`).
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The connection facts of one kubeconfig context.
#[derive(Clone)]
pub struct KubeTarget {
    /// The context's name.
    pub context: String,
    /// The API server URL (`https://HOST:6443`).
    pub server: url::Url,
    /// PEM of the cluster CA.
    pub ca_pem: String,
    /// PEM of the client certificate.
    pub crt_pem: String,
    /// PEM of the client key.
    pub key_pem: Redacted<String>,
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("context", &self.context)
            .field("server", &self.server.as_str())
            .field("key_pem", &self.key_pem)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawKubeconfig {
    #[serde(default)]
    clusters: Vec<Named<RawCluster>>,
    #[serde(default)]
    users: Vec<Named<RawUser>>,
    #[serde(default)]
    contexts: Vec<Named<RawContext>>,
    #[serde(default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    #[serde(default)]
    server: String,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    certificate_authority: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    exec: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: String,
    user: String,
}

impl KubeTarget {
    /// Reads `context` of a kubeconfig (its `current-context` when `None`).
    ///
    /// # Errors
    ///
    /// See [`KubeconfigError`].
    pub fn from_kubeconfig(bytes: &[u8], context: Option<&str>) -> Result<KubeTarget, KubeconfigError> {
        let raw: RawKubeconfig = serde_saphyr::from_slice(bytes).map_err(KubeconfigError::Parse)?;
        let context_name = match context {
            Some(name) => name.to_string(),
            None if raw.current_context.is_empty() => return Err(KubeconfigError::NoCurrentContext),
            None => raw.current_context.clone(),
        };
        let context = find(&raw.contexts, "context", &context_name)?;
        let cluster = find(&raw.clusters, "cluster", &context.cluster)?;
        let user = find(&raw.users, "user", &context.user)?;
        let field = |section: &str, name: &str, key: &str, problem: &'static str| KubeconfigError::Field {
            field: format!("{section}[{name}].{key}"),
            problem,
        };
        let server = url::Url::parse(&cluster.server)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host().is_some())
            .ok_or_else(|| field("clusters", &context.cluster, "server", "not an https:// URL"))?;
        let unsupported = "not supported by talos-hcloud (use inline *-data fields)";
        if cluster.certificate_authority.is_some() && cluster.certificate_authority_data.is_none() {
            return Err(field(
                "clusters",
                &context.cluster,
                "certificate-authority",
                unsupported,
            ));
        }
        if user.token.is_some() || user.exec.is_some() || user.client_certificate.is_some() {
            return Err(field("users", &context.user, "credential", unsupported));
        }
        let decode = |value: &Option<String>, section: &str, name: &str, key: &str| {
            let text = value.as_deref().ok_or_else(|| field(section, name, key, "missing"))?;
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| field(section, name, key, "not base64 of PEM text"))
        };
        Ok(KubeTarget {
            context: context_name.clone(),
            server,
            ca_pem: decode(
                &cluster.certificate_authority_data,
                "clusters",
                &context.cluster,
                "certificate-authority-data",
            )?,
            crt_pem: decode(
                &user.client_certificate_data,
                "users",
                &context.user,
                "client-certificate-data",
            )?,
            key_pem: Redacted::new(decode(
                &user.client_key_data,
                "users",
                &context.user,
                "client-key-data",
            )?),
        })
    }
}

fn find<'a, T>(entries: &'a [Named<T>], kind: &'static str, name: &str) -> Result<&'a T, KubeconfigError> {
    entries
        .iter()
        .find(|e| e.name == name)
        .map(|e| &e.value)
        .ok_or_else(|| KubeconfigError::Missing {
            kind,
            name: name.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

    fn kubeconfig(user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://base:6443\n    certificate-authority-data: {PEM}\nusers:\n- name: admin@c\n  user:\n{user}\ncontexts:\n- name: admin@c\n  context:\n    cluster: c\n    user: admin@c\n    namespace: default\ncurrent-context: admin@c\n"
        )
    }

    #[test]
    fn reads_the_current_context_and_decodes_the_pem() {
        let text = kubeconfig(&format!(
            "    client-certificate-data: {PEM}\n    client-key-data: {PEM}"
        ));
        let target = KubeTarget::from_kubeconfig(text.as_bytes(), None).expect("usable");
        assert_eq!(target.server.as_str(), "https://base:6443/");
        assert!(target.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(target.context, "admin@c");
        assert!(!format!("{target:?}").contains("BEGIN"), "no PEM in Debug");
    }

    #[test]
    fn tokens_missing_names_and_keys_are_named() {
        let token = kubeconfig("    token: abc");
        let error = KubeTarget::from_kubeconfig(token.as_bytes(), None).expect_err("token");
        assert_eq!(
            error.to_string(),
            "the kubeconfig's users[admin@c].credential is not supported by talos-hcloud (use inline *-data fields)"
        );
        let no_key = kubeconfig(&format!("    client-certificate-data: {PEM}"));
        let error = KubeTarget::from_kubeconfig(no_key.as_bytes(), None).expect_err("no key");
        assert_eq!(
            error.to_string(),
            "the kubeconfig's users[admin@c].client-key-data is missing"
        );
        let error = KubeTarget::from_kubeconfig(no_key.as_bytes(), Some("other")).expect_err("no context");
        assert_eq!(error.to_string(), "the kubeconfig has no context named \"other\"");
    }
}
