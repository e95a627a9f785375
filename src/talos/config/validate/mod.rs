//! Checking a machine configuration before it leaves the machine: strict decoding against
//! Talos's typed structs ([`decode`]) and the semantic checks of Talos's validator.

pub mod decode;

pub use decode::{DecodeError, DecodeErrors, DecodeProblem, decode_strict, decode_strict_named};
