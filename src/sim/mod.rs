//! The local emulator of Hetzner Cloud, the Image Factory and Talos nodes.
//!
//! It is part of the product (`talos-hcloud sim`, `sim node`) and the ground every test
//! stands on. It shares wire types with the client side (Talos protobuf messages,
//! schematic types) but never behaviour: nothing here imports `hcloud`, `cluster`, `image`
//! or `ssh`.
//!
//! [`Sim`] is a running emulator (start it with a [`SimConfig`]); [`hcloud`] is the
//! emulated Hetzner Cloud API; [`SimControl`] drives its test controls over HTTP;
//! [`talos`] holds emulated Talos nodes. The emulated Image Factory and machines (disks,
//! rescue SSH, servers booting Talos) come next and will hang off [`Sim`]'s server events.

pub mod clock;
mod control;
mod emulator;
pub mod factory;
pub mod hcloud;
pub mod listen;
pub mod machine;
pub mod rescue;
pub mod talos;
pub mod traffic;

pub use control::SimControl;
pub use emulator::{Error, Sim, SimConfig};
pub use hcloud::faults::FaultSpec;
pub use hcloud::request_log::RequestRecord;
pub use hcloud::state::SimEvent;
