//! The Talos Image Factory: schematics and their IDs, the HTTP client, image streams.
//!
//! [`schematic`] parses a schematic strictly and computes its ID offline, exactly as the
//! factory does (canonical YAML as go-yaml v4 writes it, through the shared
//! [`crate::yaml`], then SHA-256); it has no HTTP and is shared with the simulator. [`client`] talks to a factory (`POST /schematics`,
//! `/versions`, official extensions, HEAD pre-warm) and [`image`] names image URLs and
//! installer references. [`image_stream`] downloads an image in constant memory, hashing
//! the compressed and the decompressed bytes and resuming interrupted downloads with HTTP
//! ranges. Building snapshots from the stream is left to the `image` pipeline; drawing
//! progress to the binary.

pub mod client;
pub mod error;
pub mod image;
pub mod image_stream;
pub mod schematic;

pub use client::{DEFAULT_FACTORY_URL, FactoryClient, OfficialExtension, PushedSchematic, Timeouts};
pub use error::Error;
pub use image::{Arch, Compression};
pub use image_stream::{
    ImageDigest, ImageProgress, NoProgress, RawImageReader, RawSink, SparseFile, StreamOptions, WriteSink,
};
pub use schematic::{Schematic, SchematicId};
