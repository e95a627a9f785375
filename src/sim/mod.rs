//! The local emulator of Hetzner Cloud, the Image Factory and Talos nodes.
//!
//! It is part of the product (`talos-hcloud sim`, `--sim`) and the ground every test
//! stands on. It shares wire types with the client side (Talos protobuf messages,
//! schematic types) but never behaviour: nothing here imports `hcloud`, `cluster`, `image`
//! or `ssh`.

pub mod hcloud;
pub mod talos;
