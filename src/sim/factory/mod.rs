//! The emulated Talos Image Factory.
//!
//! [`disk_image`] generates synthetic Talos disk images (a GPT with a real hcloud image's
//! partitions, metadata naming schematic, version and architecture, seeded noise) and
//! recognises them on a disk ([`inspect`]); emulated machines use it to decide what a
//! disk boots. [`Factory::start`] serves them with schematics, versions and official
//! extensions as the public factory does (routes in `api`, offer in `catalogue`, image
//! cache in `assets`, bodies in `serve`), with deterministic [`FactoryFaults`] and test
//! controls under `/__sim/factory/` (`controls`).

mod api;
mod assets;
mod catalogue;
mod controls;
pub mod disk_image;
mod faults;
mod serve;
pub mod server;

pub use catalogue::default_versions;
pub use disk_image::{ImageInfo, ImageSpec, RawImage, SpecError, inspect, raw_image};
pub use faults::FactoryFaults;
pub use server::{Factory, FactoryConfig, FactoryRequest};
