//! The product's Hetzner Cloud client: what `image build`, `apply` and `node replace` use
//! to change a project.
//!
//! It wraps the API with what the generated `hcloud` crate leaves to its users
//! (reference/hcloud-api.md: "no built-in retries, rate-limit handling or action polling"):
//! token and endpoint from the environment with the token never printed
//! ([`credentials`]); one shared request budget read from the `RateLimit-*` headers and
//! a request count for the run summary ([`budget`]); bounded, jittered retries of
//! transient failures without ever repeating a create blindly ([`client`]); actions
//! awaited in shared batches ([`actions`]); the talos-hcloud labels and selectors
//! ([`labels`]); typed IDs ([`ids`]); and errors that name the operation ([`error`]).
//! The wire types are the crate's `hcloud::models`; see [`client`] for why the requests
//! are built here. The resources: [`servers`] (with snapshots), [`images`], SSH keys,
//! [`catalog`] (server types, locations, availability), [`pricing`] (the price list) and
//! [`cluster_resources`]
//! (networks, firewalls, placement groups, floating and primary IPs, load balancers), and
//! their in-place changes ([`updates`]: labels, protection, rules, services, targets).
//!
//! It knows nothing about clusters or images: callers (`image`, `cluster`, `node`) decide
//! what to create and pass names and labels in.

pub mod actions;
pub mod budget;
pub mod catalog;
pub mod client;
pub mod cluster_resources;
pub mod credentials;
pub mod error;
pub mod ids;
pub mod images;
pub mod labels;
pub mod pricing;
pub mod servers;
mod ssh_keys;
pub mod teardown;
pub mod updates;

pub use budget::{RateLimit, RequestCount};
pub use catalog::{Availability, ServerTypeInfo};
pub use client::{Client, ClientOptions};
pub use cluster_resources::{Created, PrimaryIp};
pub use credentials::{Credentials, Endpoint, Token};
pub use error::{Error, ErrorCode, RequestError};
pub use ids::{
    ActionId, FirewallId, FloatingIpId, ImageId, LoadBalancerId, NetworkId, PlacementGroupId, PrimaryIpId, ServerId,
    SshKeyId,
};
pub use images::ImageType;
pub use labels::{Labels, Role, Selector};
pub use pricing::Pricing;
pub use servers::{CreateServer, CreatedImage, CreatedServer, RescueEnabled};
pub use teardown::Protected;
pub use updates::Labelled;
