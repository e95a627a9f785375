//! The admin kubeconfig as a document: pointing it at the cluster endpoint, merging it into
//! another kubeconfig (`--merge-kubeconfig`), and reading what a client needs to reach the
//! Kubernetes API with it ([`KubeAccess`]). Files are left to [`super::files`].
//!
//! The document is kept as a generic tree, so keys this module does not know (preferences,
//! extensions, exec users in the file it is merged into) survive a merge unchanged.

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Class, Classify};
use crate::redact::Redacted;

/// Why a kubeconfig cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Not a YAML mapping.
    #[error("the kubeconfig {what} is not a YAML mapping")]
    NotYaml {
        /// Which kubeconfig (`from the Talos API`, a path).
        what: String,
    },
    /// A field is missing or has the wrong type.
    #[error("the kubeconfig has no usable `{field}`")]
    Missing {
        /// The field path.
        field: String,
    },
    /// A `*-data` field is not base64.
    #[error("the kubeconfig's `{field}` is not base64")]
    NotBase64 {
        /// The field path.
        field: String,
    },
    /// A certificate or key does not load.
    #[error("the kubeconfig's `{field}` is not a usable PEM certificate or key")]
    NotPem {
        /// The field path.
        field: String,
    },
    /// The document could not be written as YAML.
    #[error("cannot write the kubeconfig as YAML")]
    Serialize(#[source] serde_saphyr::SerializeError),
}

impl Classify for KubeconfigError {
    fn class(&self) -> Class {
        Class::Failed
    }
}

/// A kubeconfig document.
#[derive(Clone, PartialEq)]
pub struct Kubeconfig {
    doc: Value,
}

impl std::fmt::Debug for Kubeconfig {
    /// Leaves out the document: it holds a client key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("current_context", &self.current_context())
            .finish_non_exhaustive()
    }
}

/// The three lists of a kubeconfig whose entries are keyed by `name`.
const NAMED_LISTS: [&str; 3] = ["clusters", "users", "contexts"];

impl Kubeconfig {
    /// Parses a kubeconfig; `what` names it in errors.
    ///
    /// # Errors
    /// [`KubeconfigError::NotYaml`].
    pub fn parse(bytes: &[u8], what: &str) -> Result<Kubeconfig, KubeconfigError> {
        let not_yaml = || KubeconfigError::NotYaml { what: what.to_string() };
        let doc: Value = serde_saphyr::from_slice(bytes).map_err(|_| not_yaml())?;
        if !doc.is_object() {
            return Err(not_yaml());
        }
        Ok(Kubeconfig { doc })
    }

    /// A kubeconfig without entries (what `~/.kube/config` is before the first merge).
    pub fn empty() -> Kubeconfig {
        Kubeconfig {
            doc: serde_json::json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [],
                "users": [],
                "contexts": [],
                "current-context": "",
                "preferences": {},
            }),
        }
    }

    /// The document as YAML.
    ///
    /// # Errors
    /// [`KubeconfigError::Serialize`].
    pub fn to_yaml(&self) -> Result<Redacted<String>, KubeconfigError> {
        serde_saphyr::to_string(&self.doc)
            .map(Redacted::new)
            .map_err(KubeconfigError::Serialize)
    }

    /// The current context's name, if set.
    pub fn current_context(&self) -> Option<&str> {
        self.doc["current-context"].as_str().filter(|s| !s.is_empty())
    }

    /// The entry `name` of list `list`.
    fn entry(&self, list: &str, name: &str) -> Option<&Value> {
        self.doc[list]
            .as_array()?
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
    }

    /// The names of the current context's cluster and user.
    fn current(&self) -> Result<(String, String), KubeconfigError> {
        let missing = |field: &str| KubeconfigError::Missing { field: field.into() };
        let context_name = self.current_context().ok_or_else(|| missing("current-context"))?;
        let context = self
            .entry("contexts", context_name)
            .ok_or_else(|| missing(&format!("contexts[{context_name}]")))?;
        let cluster = context["context"]["cluster"]
            .as_str()
            .ok_or_else(|| missing(&format!("contexts[{context_name}].context.cluster")))?;
        let user = context["context"]["user"]
            .as_str()
            .ok_or_else(|| missing(&format!("contexts[{context_name}].context.user")))?;
        Ok((cluster.to_string(), user.to_string()))
    }

    /// Points the current context's cluster at `server` (`https://HOST:PORT`).
    ///
    /// # Errors
    /// [`KubeconfigError::Missing`] without a current context and its cluster.
    pub fn set_server(&mut self, server: &str) -> Result<(), KubeconfigError> {
        let (cluster, _) = self.current()?;
        let entry = self.doc["clusters"]
            .as_array_mut()
            .and_then(|list| list.iter_mut().find(|e| e["name"].as_str() == Some(cluster.as_str())))
            .ok_or_else(|| KubeconfigError::Missing {
                field: format!("clusters[{cluster}]"),
            })?;
        entry["cluster"]["server"] = Value::String(server.to_string());
        Ok(())
    }

    /// What a client needs to reach the current context's API server.
    ///
    /// # Errors
    /// [`KubeconfigError`] for a missing or undecodable server, CA or client certificate.
    pub fn access(&self) -> Result<KubeAccess, KubeconfigError> {
        let (cluster, user) = self.current()?;
        let field = |list: &str, name: &str, section: &str, key: &str| -> Result<&str, KubeconfigError> {
            self.entry(list, name)
                .and_then(|e| e[section][key].as_str())
                .ok_or_else(|| KubeconfigError::Missing {
                    field: format!("{list}[{name}].{section}.{key}"),
                })
        };
        let data = |list: &str, name: &str, section: &str, key: &str| -> Result<Vec<u8>, KubeconfigError> {
            base64::engine::general_purpose::STANDARD
                .decode(field(list, name, section, key)?)
                .map_err(|_| KubeconfigError::NotBase64 {
                    field: format!("{list}[{name}].{section}.{key}"),
                })
        };
        let unusable = |field: String| KubeconfigError::NotPem { field };
        let mut identity_pem = data("users", &user, "user", "client-certificate-data")?;
        identity_pem.push(b'\n');
        identity_pem.extend(data("users", &user, "user", "client-key-data")?);
        let identity_pem = Redacted::new(identity_pem);
        let ca_pem = data("clusters", &cluster, "cluster", "certificate-authority-data")?;
        Ok(KubeAccess {
            server: field("clusters", &cluster, "cluster", "server")?
                .trim_end_matches('/')
                .to_string(),
            ca: reqwest::Certificate::from_pem(&ca_pem)
                .map_err(|_| unusable(format!("clusters[{cluster}].cluster.certificate-authority-data")))?,
            identity: reqwest::Identity::from_pem(identity_pem.expose())
                .map_err(|_| unusable(format!("users[{user}].user.client-key-data")))?,
        })
    }

    /// Adds this kubeconfig's clusters, users and contexts to `base`, replacing entries of
    /// the same name and keeping every other entry and key of `base`; `base`'s current
    /// context becomes this one's.
    pub fn merge_into(&self, base: &mut Kubeconfig) {
        for list in NAMED_LISTS {
            let ours = self.doc[list].as_array().cloned().unwrap_or_default();
            if !base.doc[list].is_array() {
                base.doc[list] = Value::Array(Vec::new());
            }
            if let Some(theirs) = base.doc[list].as_array_mut() {
                for entry in ours {
                    match theirs.iter_mut().find(|e| e["name"] == entry["name"]) {
                        Some(existing) => *existing = entry,
                        None => theirs.push(entry),
                    }
                }
            }
        }
        if let Some(current) = self.current_context() {
            base.doc["current-context"] = Value::String(current.to_string());
        }
    }
}

/// How to reach a cluster's Kubernetes API: the server, the CA that verifies it and the
/// client certificate and key (loaded, so `Debug` shows no key).
#[derive(Debug, Clone)]
pub struct KubeAccess {
    server: String,
    ca: reqwest::Certificate,
    identity: reqwest::Identity,
}

impl KubeAccess {
    /// The API server URL (`https://HOST:PORT`, no trailing slash).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// An HTTPS client that trusts only the cluster CA and presents the client certificate.
    ///
    /// # Errors
    /// The TLS setup failed (in words).
    pub fn http_client(&self, timeout: std::time::Duration) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.ca.clone())
            .identity(self.identity.clone())
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))
    }
}
