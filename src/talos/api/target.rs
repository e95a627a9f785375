//! From a talosconfig context to what the client dials and presents: the endpoints as
//! socket addresses and the [`ClientIdentity`] (reference `talos.md` §C.1, §F.6).
//!
//! The file format belongs to `talos::talosconfig`; this only reads a parsed context.

use std::net::{IpAddr, SocketAddr};

use super::client::{APID_PORT, CallOptions, Credentials, TalosClient};
use super::error::Error;
use super::tls::ClientIdentity;
use crate::error::{Class, Classify};
use crate::redact::Redacted;
use crate::talos::talosconfig::{Context, Talosconfig};

/// Where to connect and as whom, read from one talosconfig context.
#[derive(Debug, Clone)]
pub struct TalosconfigTarget {
    /// The context's name.
    pub context: String,
    /// The apid addresses to dial (`endpoints`, port 50000 where none is written), in the
    /// file's order.
    pub endpoints: Vec<SocketAddr>,
    /// The CA to verify nodes against, the client certificate and its key.
    pub identity: ClientIdentity,
}

/// Why a talosconfig context cannot be used by the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TalosconfigError {
    /// No context was named and the file has no current context.
    #[error("the talosconfig has no current context")]
    NoCurrentContext {
        /// The contexts the file has.
        known: Vec<String>,
    },
    /// The named context is not in the file.
    #[error("the talosconfig has no context `{name}`")]
    UnknownContext {
        /// The name asked for.
        name: String,
        /// The contexts the file has.
        known: Vec<String>,
    },
    /// A credential field is missing or empty.
    #[error("talosconfig context `{context}` has no `{field}`")]
    MissingField {
        /// The context.
        context: String,
        /// `ca`, `crt` or `key`.
        field: &'static str,
    },
    /// The context lists no endpoint.
    #[error("talosconfig context `{context}` has no endpoints")]
    NoEndpoints {
        /// The context.
        context: String,
    },
    /// An endpoint is not `IP`, `IP:PORT` or `[IPv6]:PORT`.
    #[error("talosconfig context `{context}`: endpoint `{endpoint}` is not an IP address (with an optional port)")]
    Endpoint {
        /// The context.
        context: String,
        /// The endpoint as written.
        endpoint: String,
    },
}

impl Classify for TalosconfigError {
    fn class(&self) -> Class {
        Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        match self {
            TalosconfigError::NoCurrentContext { known } | TalosconfigError::UnknownContext { known, .. } => {
                if known.is_empty() {
                    vec!["the file has no contexts at all; is it a talosconfig?".into()]
                } else {
                    vec![format!("contexts in the file: {}", known.join(", "))]
                }
            }
            TalosconfigError::MissingField { .. } => vec![
                "talos-hcloud authenticates with a client certificate; contexts using `auth` (Omni) are not supported"
                    .into(),
            ],
            TalosconfigError::NoEndpoints { .. } => {
                vec!["add the control-plane nodes' public IPs to `endpoints`".into()]
            }
            TalosconfigError::Endpoint { .. } => vec![
                "the client verifies a node by the IP address it dials, so endpoints must be IP addresses, \
                 e.g. 203.0.113.10 or 203.0.113.10:50000"
                    .into(),
            ],
        }
    }
}

impl TalosconfigTarget {
    /// Reads the context named `context`, or the file's current context when `None`.
    ///
    /// # Errors
    ///
    /// [`TalosconfigError`]: no such context, missing credentials, no or unusable endpoints.
    pub fn from_talosconfig(config: &Talosconfig, context: Option<&str>) -> Result<Self, TalosconfigError> {
        let known = || config.contexts.keys().cloned().collect::<Vec<_>>();
        let name = match context {
            Some(name) => name,
            None if config.context.is_empty() => return Err(TalosconfigError::NoCurrentContext { known: known() }),
            None => config.context.as_str(),
        };
        let found = config
            .contexts
            .get(name)
            .ok_or_else(|| TalosconfigError::UnknownContext {
                name: name.to_string(),
                known: known(),
            })?;
        Self::from_context(name, found)
    }

    /// Reads one context (named `name` in messages).
    ///
    /// # Errors
    ///
    /// As [`TalosconfigTarget::from_talosconfig`], without the lookup.
    pub fn from_context(name: &str, context: &Context) -> Result<Self, TalosconfigError> {
        let field = |value: &Option<crate::talos::pki::Pem>, field: &'static str| {
            value
                .as_ref()
                .map(|pem| pem.as_str().to_string())
                .filter(|text| !text.trim().is_empty())
                .ok_or_else(|| TalosconfigError::MissingField {
                    context: name.to_string(),
                    field,
                })
        };
        let identity = ClientIdentity {
            ca_pem: field(&context.ca, "ca")?,
            crt_pem: field(&context.crt, "crt")?,
            key_pem: Redacted::new(field(&context.key, "key")?),
        };
        if context.endpoints.is_empty() {
            return Err(TalosconfigError::NoEndpoints {
                context: name.to_string(),
            });
        }
        let endpoints = context
            .endpoints
            .iter()
            .map(|endpoint| {
                parse_endpoint(endpoint).ok_or_else(|| TalosconfigError::Endpoint {
                    context: name.to_string(),
                    endpoint: endpoint.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TalosconfigTarget {
            context: name.to_string(),
            endpoints,
            identity,
        })
    }

    /// A configured-mode client of each endpoint, in order (callers try them in turn, as
    /// talosctl's round-robin does across calls).
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the PEM material is unusable.
    pub fn clients(&self, options: CallOptions) -> Result<Vec<TalosClient>, Error> {
        let credentials = Credentials::Configured(self.identity.clone());
        self.endpoints
            .iter()
            .map(|endpoint| TalosClient::new(*endpoint, &credentials, options))
            .collect()
    }
}

/// `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`; port 50000 when absent (talosctl's rule).
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let host = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, APID_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn endpoints_take_port_50000_unless_given() {
        let cases = [
            ("203.0.113.10", Some("203.0.113.10:50000")),
            ("203.0.113.10:50001", Some("203.0.113.10:50001")),
            (" 10.0.0.2 ", Some("10.0.0.2:50000")),
            ("::1", Some("[::1]:50000")),
            ("[2001:db8::1]", Some("[2001:db8::1]:50000")),
            ("[2001:db8::1]:6000", Some("[2001:db8::1]:6000")),
            ("cp.example.com", None),
            ("cp.example.com:50000", None),
            ("203.0.113.10:port", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_endpoint(text).map(|addr| addr.to_string()).as_deref(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn each_unusable_context_names_what_is_wrong() {
        let full = Context {
            endpoints: vec!["10.0.0.2".into()],
            ca: Some(crate::talos::pki::Pem("CA".into())),
            crt: Some(crate::talos::pki::Pem("CRT".into())),
            key: Some(crate::talos::pki::Pem("KEY".into())),
            ..Context::default()
        };
        let config = |current: &str, context: Context| Talosconfig {
            context: current.into(),
            contexts: BTreeMap::from([("prod".to_string(), context)]),
        };

        let target = TalosconfigTarget::from_talosconfig(&config("prod", full.clone()), None).unwrap();
        assert_eq!(target.endpoints, ["10.0.0.2:50000".parse::<SocketAddr>().unwrap()]);
        assert_eq!(
            (
                target.identity.ca_pem.as_str(),
                target.identity.key_pem.expose().as_str()
            ),
            ("CA", "KEY")
        );

        let err = TalosconfigTarget::from_talosconfig(&config("", full.clone()), None).unwrap_err();
        assert_eq!(err.to_string(), "the talosconfig has no current context");
        assert_eq!(err.hints(), ["contexts in the file: prod"]);
        let err = TalosconfigTarget::from_talosconfig(&config("prod", full.clone()), Some("dev")).unwrap_err();
        assert_eq!(err.to_string(), "the talosconfig has no context `dev`");

        let no_key = Context {
            key: Some(crate::talos::pki::Pem(String::new())),
            ..full.clone()
        };
        let err = TalosconfigTarget::from_context("prod", &no_key).unwrap_err();
        assert_eq!(err.to_string(), "talosconfig context `prod` has no `key`");

        let no_endpoints = Context {
            endpoints: Vec::new(),
            ..full.clone()
        };
        let err = TalosconfigTarget::from_context("prod", &no_endpoints).unwrap_err();
        assert_eq!(err.to_string(), "talosconfig context `prod` has no endpoints");

        let by_name = Context {
            endpoints: vec!["10.0.0.2".into(), "cp.example.com".into()],
            ..full
        };
        let err = TalosconfigTarget::from_context("prod", &by_name).unwrap_err();
        assert_eq!(
            err.to_string(),
            "talosconfig context `prod`: endpoint `cp.example.com` is not an IP address (with an optional port)"
        );
    }
}
