//! The Talos Image Factory: schematics and their IDs, the HTTP client, image streams.
//!
//! [`schematic`] parses a schematic strictly and computes its ID offline, exactly as the
//! factory does (canonical YAML through Go's encoder rules, then SHA-256); it has no HTTP
//! and is shared with the simulator. [`client`] talks to a factory (`POST /schematics`,
//! `/versions`, official extensions) and [`image`] names image URLs and installer
//! references. [`image_stream`] downloads an image in constant memory, hashing the
//! compressed and the decompressed bytes, resuming interrupted downloads with HTTP ranges.
//! Building snapshots from the stream is left to `image`; printing progress to the binary.

pub mod schematic;

mod go_yaml;
mod yaml_node;

pub use schematic::{Schematic, SchematicId};
