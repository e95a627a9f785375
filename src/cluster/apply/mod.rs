//! `apply`: converge the cluster to what cluster.yaml asks for, executing exactly the
//! changes `plan` shows.

mod error;
pub mod servers;

pub use error::ApplyError;
pub use servers::{NodeServer, ServerOptions, create_node_server};
