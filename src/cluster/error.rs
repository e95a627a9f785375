//! Why a cluster could not be planned.

use crate::error::{Class, Classify};

/// A failure of `cluster`: reading the live state, or a desired state that cannot exist.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The live state could not be read.
    #[error("while reading the live state of cluster {cluster}")]
    ReadLive {
        /// The cluster name.
        cluster: String,
        /// The API failure.
        #[source]
        source: Box<crate::hcloud::Error>,
    },
    /// The price list could not be read.
    #[error("while reading the price list")]
    ReadPricing(#[source] Box<crate::hcloud::Error>),
    /// The secrets bundle exists but cannot be read.
    #[error("while reading the secrets bundle")]
    Secrets(#[source] Box<crate::talos::secrets::Error>),
    /// The live endpoint address is not usable as the Kubernetes API endpoint.
    #[error("while reading the cluster endpoint")]
    Endpoint(#[source] Box<crate::talos::config::render::EndpointError>),
    /// The machine configs cannot be rendered.
    #[error("while rendering the machine configs")]
    Render(#[source] Box<crate::talos::config::render::RenderError>),
    /// The node subnet has no free address left for a node.
    #[error("network.subnet {subnet} has no free address left for node {node}")]
    SubnetFull {
        /// The subnet.
        subnet: String,
        /// The node that got none.
        node: String,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::ReadLive { source, .. } | Error::ReadPricing(source) => source.class(),
            Error::Secrets(source) => source.class(),
            Error::Endpoint(_) => Class::Failed,
            Error::Render(source) => source.class(),
            Error::SubnetFull { .. } => Class::InvalidInput,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::ReadLive { source, .. } | Error::ReadPricing(source) => source.hints(),
            Error::Secrets(source) => source.hints(),
            Error::Render(source) => source.hints(),
            Error::Endpoint(_) => Vec::new(),
            Error::SubnetFull { .. } => vec!["choose a larger network.subnet, or fewer nodes".into()],
        }
    }
}
