//! The emulated Talos Image Factory.
//!
//! [`disk_image`] generates synthetic Talos disk images (a GPT with a real hcloud image's
//! partitions, metadata naming schematic, version and architecture, seeded noise) and
//! recognises them on a disk ([`inspect`]); emulated machines use it to decide what a
//! disk boots. [`server`] serves them, with schematics, versions and official extensions,
//! as the public factory does ([`Factory::start`] with a [`FactoryConfig`]).

pub mod disk_image;
pub mod server;

pub use disk_image::{ImageInfo, ImageSpec, RawImage, SpecError, inspect, raw_image};
pub use server::{Factory, FactoryConfig, FactoryFaults, FactoryRequest, default_versions};
