//! Image Factory schematics: the typed document, its canonical YAML and its ID.
//!
//! The factory parses a schematic into its Go struct (unknown fields rejected), marshals it
//! back with Go's YAML encoder and names it by the SHA-256 of those bytes. This module does
//! the same offline so a schematic's ID is known before any request: the ID depends only on
//! the values, never on formatting, key order or JSON-vs-YAML, but list order matters.
//! Reading the text strictly is [`decode`]'s job; the order Go writes the keys of untyped
//! maps (overlay options) in is [`map_order`]'s.
//!
//! Field names, order and omit-if-empty rules follow image-factory `pkg/schematic` and its
//! documented API (`docs/api.md`): `owner`, `overlay {image, name, options}`,
//! `customization {embeddedMachineConfiguration, extraKernelArgs, meta[{key,value}],
//! systemExtensions {officialExtensions}, bootloader, secureboot {enrollKeys,
//! includeWellKnownCertificates}, diskImage {sectorSize}}`. See `docs/factory.md` for the
//! two details that could not be checked against the factory's current source.
//!
//! This module is free of HTTP on purpose: the simulator imports it as a wire type.

mod decode;
mod map_order;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{Class, Classify};
use crate::excerpt::{MAX_PATH_CHARS, excerpt, excerpt_to};
use crate::suggest::suggest;
use crate::yaml::resolve::format_float;
use crate::yaml::{self, Entry, GoYaml, Mapping, Node};
use map_order::go_key_order;

/// A schematic: what the Image Factory bakes into an image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schematic {
    /// Enterprise factories set this to the caller's identity; empty otherwise.
    pub owner: String,
    /// Board overlay (single-board computers); empty for cloud images.
    pub overlay: Overlay,
    /// The image customization.
    pub customization: Customization,
}

/// A board overlay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// The overlay image, e.g. `siderolabs/sbc-raspberrypi`.
    pub image: String,
    /// The overlay name, e.g. `rpi_generic`.
    pub name: String,
    /// Free-form options interpreted by the overlay (string keys).
    pub options: Vec<(String, Value)>,
}

/// The Talos image customization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Customization {
    /// Machine configuration documents embedded into the image (YAML text).
    pub embedded_machine_configuration: String,
    /// Extra kernel arguments, in order.
    pub extra_kernel_args: Vec<String>,
    /// Initial META partition values, in order.
    pub meta: Vec<MetaValue>,
    /// System extensions.
    pub system_extensions: SystemExtensions,
    /// The bootloader; [`Bootloader::Auto`] (`none`) lets the imager choose.
    pub bootloader: Bootloader,
    /// SecureBoot options.
    pub secureboot: SecureBoot,
    /// Disk image options.
    pub disk_image: DiskImage,
}

/// One initial META value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaValue {
    /// The META key (0–255; YAML accepts `0xa` and writes `10`).
    pub key: u8,
    /// The value.
    pub value: String,
}

/// System extensions to install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemExtensions {
    /// Official extensions by name, e.g. `siderolabs/qemu-guest-agent`; order matters.
    pub official_extensions: Vec<String>,
}

/// The bootloader choice: Talos `imageropts.BootloaderKind`, an enum whose zero value
/// (`none`) is omitted from the canonical form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bootloader {
    /// Chosen by the imager (`none`, Go's zero value); omitted from the canonical form.
    #[default]
    Auto,
    /// sd-boot for UEFI and GRUB for BIOS.
    DualBoot,
    /// systemd-boot.
    SdBoot,
    /// GRUB.
    Grub,
}

impl Bootloader {
    /// The canonical name, as the factory writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Bootloader::Auto => "none",
            Bootloader::DualBoot => "dual-boot",
            Bootloader::SdBoot => "sd-boot",
            Bootloader::Grub => "grub",
        }
    }

    /// The names the factory's decoder accepts, in Go's order.
    const NAMES: [&'static str; 4] = ["none", "dual-boot", "sd-boot", "grub"];

    /// Reads a name as the factory's decoder does (letter case aside); `auto` is not one:
    /// the factory refuses it.
    fn parse(name: &str) -> Option<Bootloader> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Bootloader::Auto),
            "dual-boot" => Some(Bootloader::DualBoot),
            "sd-boot" => Some(Bootloader::SdBoot),
            "grub" => Some(Bootloader::Grub),
            _ => None,
        }
    }
}

/// SecureBoot options (only used by SecureBoot assets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecureBoot {
    /// systemd-boot key enrollment: `off`, `manual`, `if-safe` or `force`; empty = default.
    pub enroll_keys: String,
    /// Include well-known UEFI certificates in the auto-enrollment database.
    pub include_well_known_certificates: bool,
}

/// Disk image options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskImage {
    /// Sector size in bytes; 0 = default (512).
    pub sector_size: u64,
}

/// An untyped YAML value (overlay options), as Go decodes it into `any`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A plain timestamp, normalised as Go writes a `time.Time` (RFC 3339, e.g.
    /// `2024-01-01T00:00:00Z`).
    Timestamp(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping; keys may be any scalar.
    Map(Vec<(Value, Value)>),
}

/// The Image Factory ID of a schematic: 64 lower-case hex digits (SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchematicId(String);

impl SchematicId {
    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 32 hex digits: what fits a Hetzner label value (max 63 characters).
    pub fn short(&self) -> &str {
        &self.0[..32]
    }

    fn from_digest(digest: &[u8]) -> SchematicId {
        SchematicId(hex::encode(digest))
    }
}

impl fmt::Display for SchematicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not a schematic ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a schematic ID (expected 64 lower-case hex digits)", excerpt(.0))]
pub struct InvalidSchematicId(pub String);

impl FromStr for SchematicId {
    type Err = InvalidSchematicId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(SchematicId(s.to_string()))
        } else {
            Err(InvalidSchematicId(s.to_string()))
        }
    }
}

impl serde::Serialize for SchematicId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SchematicId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a schematic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read schematic {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid schematic.
    #[error("{origin}:{at}: {problem}")]
    Invalid {
        /// File name (or `<input>`).
        origin: String,
        /// Where the problem is.
        at: yaml::Position,
        /// Dotted path of the offending field, e.g. `customization.meta[0].key`.
        path: String,
        /// What is wrong.
        problem: Box<Problem>,
    },
    /// The values cannot be written in the factory's canonical form.
    #[error("schematic cannot be written in the Image Factory's canonical form: {reason}")]
    Unsupported {
        /// What Go would write in a form that is not reproduced.
        reason: String,
    },
}

/// What is wrong with a schematic's text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// Not YAML (or JSON).
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// A key the factory does not know.
    #[error("unknown field `{}` in {place} (known fields: {})", excerpt(field), expected.join(", "))]
    UnknownField {
        /// The unknown key.
        field: String,
        /// Where it was found (`the schematic` or a dotted path).
        place: String,
        /// The keys allowed there.
        expected: Vec<&'static str>,
    },
    /// A key given twice.
    #[error("`{}` is given twice (first on line {first_line})", excerpt(key))]
    DuplicateKey {
        /// The key.
        key: String,
        /// Where it first appeared.
        first_line: usize,
    },
    /// A value of the wrong shape.
    #[error("`{}` must be {expected}, found {found}", excerpt_to(path, MAX_PATH_CHARS))]
    WrongType {
        /// The field.
        path: String,
        /// What is expected, by example.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A value outside the allowed set or range.
    #[error("`{}` {reason}", excerpt_to(path, MAX_PATH_CHARS))]
    InvalidValue {
        /// The field.
        path: String,
        /// What is wrong, by example.
        reason: String,
    },
}

impl Problem {
    /// For an unknown field, the known one it is most likely a typo of.
    pub fn suggestion(&self) -> Option<&'static str> {
        match self {
            Problem::UnknownField { field, expected, .. } => suggest(field, expected.iter().copied()),
            _ => None,
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Invalid { problem, .. } => problem
                .suggestion()
                .map(|candidate| vec![format!("did you mean `{candidate}`?")])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

impl Schematic {
    /// The schematic with one official extension list and nothing else.
    pub fn with_official_extensions(extensions: impl IntoIterator<Item = impl Into<String>>) -> Schematic {
        Schematic {
            customization: Customization {
                system_extensions: SystemExtensions {
                    official_extensions: extensions.into_iter().map(Into::into).collect(),
                },
                ..Customization::default()
            },
            ..Schematic::default()
        }
    }

    /// Reads and parses a schematic file.
    ///
    /// # Errors
    /// [`Error::Read`] if the file cannot be read, [`Error::Invalid`] (naming
    /// `file:line:column` and the field) if it is not a valid schematic.
    pub fn load(path: &Path) -> Result<Schematic, Error> {
        let text = crate::input_file::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Schematic::parse(&text, &path.display().to_string())
    }

    /// Parses schematic text (YAML, or JSON as a subset of YAML) strictly: unknown fields,
    /// duplicate keys, wrong types, out-of-range values and tags are errors located at
    /// `origin:line:column`. An empty document is the empty schematic. Aliases and merge
    /// keys (`<<`) are expanded, as Go's decoder does.
    pub fn parse(text: &str, origin: &str) -> Result<Schematic, Error> {
        decode::parse(text, origin)
    }

    /// The canonical YAML the factory hashes: Go's `yaml.Marshal` of the schematic struct
    /// (go-yaml v4, [`GoYaml::V4`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`], only for overlay options that Go would write as complex keys
    /// (keys that span lines or are longer than 128 bytes, or collections as keys).
    pub fn canonical_yaml(&self) -> Result<String, Error> {
        yaml::emit_document_as(&self.to_node()?, GoYaml::V4).map_err(|e| Error::Unsupported { reason: e.to_string() })
    }

    /// The schematic's Image Factory ID: SHA-256 of [`Schematic::canonical_yaml`].
    ///
    /// # Errors
    /// As [`Schematic::canonical_yaml`].
    pub fn id(&self) -> Result<SchematicId, Error> {
        Ok(SchematicId::from_digest(&Sha256::digest(
            self.canonical_yaml()?.as_bytes(),
        )))
    }

    /// The official extensions, in order.
    pub fn official_extensions(&self) -> &[String] {
        &self.customization.system_extensions.official_extensions
    }

    /// The schematic as the Go struct's YAML tree: fields in Go's order, empty ones
    /// omitted (`omitempty`).
    fn to_node(&self) -> Result<Node, Error> {
        let mut top = Mapping::new();
        if !self.owner.is_empty() {
            top.insert("owner", &self.owner);
        }
        let overlay = &self.overlay;
        if !(overlay.image.is_empty() && overlay.name.is_empty() && overlay.options.is_empty()) {
            let mut fields = Mapping::new().with("image", &overlay.image).with("name", &overlay.name);
            if !overlay.options.is_empty() {
                let entries = overlay
                    .options
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                    .collect::<Vec<_>>();
                fields.insert("options", value_to_node(&Value::Map(entries))?);
            }
            top.insert("overlay", fields);
        }
        let c = &self.customization;
        let mut fields = Mapping::new();
        if !c.embedded_machine_configuration.is_empty() {
            fields.insert("embeddedMachineConfiguration", &c.embedded_machine_configuration);
        }
        if !c.extra_kernel_args.is_empty() {
            fields.insert("extraKernelArgs", Node::strings(&c.extra_kernel_args));
        }
        if !c.meta.is_empty() {
            let items = c
                .meta
                .iter()
                .map(|m| Node::mapping(Mapping::new().with("key", i64::from(m.key)).with("value", &m.value)))
                .collect::<Vec<_>>();
            fields.insert("meta", items);
        }
        if !c.system_extensions.official_extensions.is_empty() {
            let extensions = Node::strings(&c.system_extensions.official_extensions);
            fields.insert(
                "systemExtensions",
                Mapping::new().with("officialExtensions", extensions),
            );
        }
        if c.bootloader != Bootloader::Auto {
            fields.insert("bootloader", c.bootloader.as_str());
        }
        let mut secureboot = Mapping::new();
        if !c.secureboot.enroll_keys.is_empty() {
            secureboot.insert("enrollKeys", &c.secureboot.enroll_keys);
        }
        if c.secureboot.include_well_known_certificates {
            secureboot.insert("includeWellKnownCertificates", true);
        }
        if !secureboot.is_empty() {
            fields.insert("secureboot", secureboot);
        }
        if c.disk_image.sector_size != 0 {
            let size = Node::plain(c.disk_image.sector_size.to_string());
            fields.insert("diskImage", Mapping::new().with("sectorSize", size));
        }
        top.insert("customization", fields);
        Ok(Node::mapping(top))
    }
}

/// Converts an untyped value, sorting map keys the way Go's encoder does.
fn value_to_node(value: &Value) -> Result<Node, Error> {
    Ok(match value {
        Value::Null => Node::null(),
        Value::Bool(b) => Node::bool(*b),
        Value::Int(i) => Node::plain(i.to_string()),
        Value::Float(f) => Node::plain(format_float(*f)),
        Value::Str(s) => Node::string(s.as_str()),
        Value::Timestamp(t) => Node::plain(t.as_str()),
        Value::Seq(items) => Node::sequence(items.iter().map(value_to_node).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            let mut sorted: Vec<&(Value, Value)> = entries.iter().collect();
            sorted.sort_by(|a, b| go_key_order(&a.0, &b.0));
            let mut map = Mapping::new();
            for (key, value) in sorted {
                let Some(key) = value_to_node(key)?.as_scalar().cloned() else {
                    return Err(Error::Unsupported {
                        reason: "overlay option keys must be scalars".to_string(),
                    });
                };
                // Pushed, not inserted: `1` and `"1"` are different keys of a Go map.
                map.entries_mut().push(Entry {
                    key,
                    key_position: None,
                    value: value_to_node(value)?,
                });
            }
            Node::mapping(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical YAML of schematic text (shared with the key order's tests).
    pub(super) fn canonical(text: &str) -> String {
        Schematic::parse(text, "t")
            .expect("valid")
            .canonical_yaml()
            .expect("yaml")
    }

    /// The ID of schematic text (shared with the decoder's tests).
    pub(super) fn id(text: &str) -> String {
        Schematic::parse(text, "t.yaml")
            .expect("valid")
            .id()
            .expect("id")
            .to_string()
    }

    #[test]
    fn ids_of_the_factory_test_cases() {
        let empty = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        assert_eq!(id(""), empty);
        assert_eq!(id("{}"), empty);
        assert_eq!(id("customization: {}"), empty);
        assert_eq!(id(r#"customization: {"extraKernelArgs": []}"#), empty);
        assert_eq!(
            id(r#"{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}"#),
            "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"
        );
        assert_eq!(
            id(
                r#"{"customization": {"meta": [{"key": 10, "value": "foo"}], "extraKernelArgs": [], "systemExtensions": {}}}"#
            ),
            "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"
        );
        assert_eq!(
            id("customization:\n  meta:\n    - key: 0xa\n      value: foo\n"),
            "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"
        );
        assert_eq!(
            id(r#"{"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"},"customization":{}}"#),
            "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"
        );
        assert_eq!(
            id(r#"{"customization":{"secureboot": {"includeWellKnownCertificates": true}}}"#),
            "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6"
        );
    }

    #[test]
    fn schematic_id_newtype_checks_its_text() {
        assert!(
            "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
                .parse::<SchematicId>()
                .is_ok()
        );
        assert!(
            "CE4C980550DD2AB1B17BBF2B08801C7EB59418EAFE8F279833297925D67C7515"
                .parse::<SchematicId>()
                .is_err()
        );
        assert!("ce4c98".parse::<SchematicId>().is_err());
        let id: SchematicId = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
            .parse()
            .expect("valid");
        assert_eq!(id.short(), "ce4c980550dd2ab1b17bbf2b08801c7e");
    }

    #[test]
    fn plain_timestamps_in_options_are_written_as_go_time() {
        let text = "overlay: {name: n, image: i, options: {a: 2024-1-2, b: 2024-01-02T03:04:05, c: '2024-01-02'}}";
        assert_eq!(
            canonical(text),
            "overlay:\n    image: i\n    name: \"n\"\n    options:\n        a: 2024-01-02T00:00:00Z\n        b: 2024-01-02T03:04:05\n        c: \"2024-01-02\"\ncustomization: {}\n"
        );
    }
}
