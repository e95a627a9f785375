//! YAML as go-yaml reads and writes it: an ordered tree that keeps what typed decoding
//! loses, a parser with positions, an emitter that reproduces go-yaml's bytes, and paths.
//!
//! Talos machine configs ([`crate::talos::config`]) and Image Factory schematics
//! ([`crate::factory::schematic`]) are both produced by Go programs whose output talos-hcloud
//! must match byte for byte (generated configs equal `talosctl gen config`; a schematic's ID
//! is the SHA-256 of Go's `yaml.Marshal`), and both are read strictly with `file:line:column`
//! errors. One model serves both: [`value`] (the tree: mapping order, scalar text, style and
//! tags, positions), [`resolve`] (what a plain scalar means to Go, and how Go writes its
//! strings, floats and times), [`parse`] (text to tree on `saphyr-parser`), [`emit`] (tree
//! to text, in go-yaml v3's or v4's exact form: [`GoYaml`]), [`key_order`](mod@key_order) (the order Go
//! writes map keys in), [`path`] (`machine.network.interfaces[0]`, JSON pointers) and
//! [`strict`] (what the strict decoders share: the nesting cap and the unknown-key rule). What
//! the values mean — Talos's fields, a schematic's — is left to the callers. The emulator ([`crate::sim`]) may use this module too: it is a
//! shared wire-format helper like the schematic types, with no client behaviour in it.

pub mod emit;
pub mod key_order;
pub mod parse;
pub mod path;
pub mod resolve;
pub mod strict;
pub mod value;

pub use emit::{ComplexKey, GoYaml, emit_document, emit_document_as, emit_stream};
pub use key_order::key_order;
pub use parse::{ParseError, ParsedDocument, parse_one, parse_stream};
pub use path::{Path, PathError, Segment};
pub use value::{Entry, Mapping, Node, Position, Resolved, Scalar, ScalarStyle, Value};
