//! Image Factory schematics: the typed document, its strict parser, its canonical YAML and
//! its ID.
//!
//! The factory parses a schematic into its Go struct (unknown fields rejected), marshals it
//! back with Go's YAML encoder and names it by the SHA-256 of those bytes. This module does
//! the same offline so a schematic's ID is known before any request: the ID depends only on
//! the values, never on formatting, key order or JSON-vs-YAML, but list order matters.
//!
//! Field names, order and omit-if-empty rules follow image-factory `pkg/schematic` and its
//! documented API (`docs/api.md`): `owner`, `overlay {image, name, options}`,
//! `customization {embeddedMachineConfiguration, extraKernelArgs, meta[{key,value}],
//! systemExtensions {officialExtensions}, bootloader, secureboot {enrollKeys,
//! includeWellKnownCertificates}, diskImage {sectorSize}}`. See `docs/factory.md` for the
//! two details that could not be checked against the factory's current source.
//!
//! This file is free of HTTP on purpose: the simulator imports it as a wire type.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{Class, Classify};
use crate::excerpt::{MAX_PATH_CHARS, excerpt, excerpt_to};
use crate::yaml::resolve::{format_float, normalize_timestamp, old_bool};
use crate::yaml::{
    self, Entry, GoYaml, Mapping, Node, ParseError, ParsedDocument, Path as YamlPath, Position, Resolved, Scalar,
    Value as YamlValue, key_order,
};

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
    /// The bootloader; [`Bootloader::Auto`] lets the imager choose.
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

/// The bootloader choice. Go models it as an enum whose zero value is omitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bootloader {
    /// Chosen by the imager (`auto`, also spelled `none`); omitted from the canonical form.
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
            Bootloader::Auto => "auto",
            Bootloader::DualBoot => "dual-boot",
            Bootloader::SdBoot => "sd-boot",
            Bootloader::Grub => "grub",
        }
    }

    fn parse(name: &str) -> Option<Bootloader> {
        match name.to_ascii_lowercase().as_str() {
            "auto" | "none" => Some(Bootloader::Auto),
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
    #[error("{origin}:{line}:{column}: {problem}")]
    Invalid {
        /// File name (or `<input>`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
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

impl Classify for Error {
    fn class(&self) -> Class {
        Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Invalid { problem, .. } => match problem.as_ref() {
                Problem::UnknownField { field, expected, .. } => expected
                    .iter()
                    .map(|candidate| (strsim::levenshtein(field, candidate), candidate))
                    .filter(|(distance, _)| *distance <= 3)
                    .min()
                    .map(|(_, candidate)| vec![format!("did you mean `{candidate}`?")])
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

const TOP_FIELDS: &[&str] = &["owner", "overlay", "customization"];
const OVERLAY_FIELDS: &[&str] = &["image", "name", "options"];
const CUSTOMIZATION_FIELDS: &[&str] = &[
    "embeddedMachineConfiguration",
    "extraKernelArgs",
    "meta",
    "systemExtensions",
    "bootloader",
    "secureboot",
    "diskImage",
];
const META_FIELDS: &[&str] = &["key", "value"];
const SYSTEM_EXTENSIONS_FIELDS: &[&str] = &["officialExtensions"];
const SECUREBOOT_FIELDS: &[&str] = &["enrollKeys", "includeWellKnownCertificates"];
const DISK_IMAGE_FIELDS: &[&str] = &["sectorSize"];
const ENROLL_KEYS: &[&str] = &["off", "manual", "if-safe", "force"];

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
        let invalid = |at: Position, path: String, problem: Problem| Error::Invalid {
            origin: origin.to_string(),
            line: at.line,
            column: at.column,
            path,
            problem: Box::new(problem),
        };
        let mut documents = yaml::parse_stream(text).map_err(|e| match &e {
            ParseError::DuplicateKey { key, path, first, .. } => invalid(
                e.position(),
                path.to_string(),
                Problem::DuplicateKey {
                    key: key.clone(),
                    first_line: first.line,
                },
            ),
            _ => invalid(e.position(), String::new(), Problem::Syntax(e.reason())),
        })?;
        if let Some(second) = documents.get(1) {
            let problem = Problem::Syntax("a schematic is one YAML document; found a second one".to_string());
            return Err(invalid(second.start, String::new(), problem));
        }
        let Some(document) = documents.pop() else {
            return Ok(Schematic::default());
        };
        refuse_tags(&document)
            .and_then(|()| decode_schematic(&document.root))
            .map_err(|(at, path, problem)| invalid(at, path, problem))
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

/// Go's `reflect.Kind` ordinal of a decoded value, used to order keys of different kinds.
fn go_kind(value: &Value) -> u8 {
    match value {
        Value::Bool(_) => 1,
        Value::Int(i) if *i > i128::from(i64::MAX) => 11,
        Value::Int(_) => 2,
        Value::Float(_) => 14,
        Value::Null => 20,
        Value::Map(_) => 21,
        Value::Seq(_) => 23,
        Value::Str(_) => 24,
        Value::Timestamp(_) => 25,
    }
}

fn key_float(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Go's `keyList.Less`: numbers by value, then kinds, then a "natural" string order in
/// which runs of digits compare as numbers (`a9` < `a10`).
fn go_key_order(a: &Value, b: &Value) -> Ordering {
    let less = |x: &Value, y: &Value| -> bool {
        if let (Some(xf), Some(yf)) = (key_float(x), key_float(y)) {
            if xf != yf {
                return xf < yf;
            }
            if go_kind(x) != go_kind(y) {
                return go_kind(x) < go_kind(y);
            }
            return match (x, y) {
                (Value::Int(p), Value::Int(q)) => p < q,
                (Value::Float(p), Value::Float(q)) => p < q,
                (Value::Bool(p), Value::Bool(q)) => !p & q,
                _ => false,
            };
        }
        let (Value::Str(xs), Value::Str(ys)) = (x, y) else {
            return go_kind(x) < go_kind(y);
        };
        key_order(xs, ys) == Ordering::Less
    };
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

type DecodeError = (Position, String, Problem);

/// Where a parsed node starts (every parsed node has a position).
fn at(node: &Node) -> Position {
    node.position.unwrap_or(Position::new(1, 1))
}

fn describe(node: &Node) -> String {
    match &node.value {
        YamlValue::Scalar(s) if s.is_null() => "null".to_string(),
        YamlValue::Scalar(s) => format!("`{}`", excerpt(s.text())),
        YamlValue::Sequence(_) => "a list".to_string(),
        YamlValue::Mapping(_) => "a mapping".to_string(),
    }
}

fn wrong(node: &Node, path: &str, expected: &'static str) -> DecodeError {
    (
        at(node),
        path.to_string(),
        Problem::WrongType {
            path: path.to_string(),
            expected,
            found: describe(node),
        },
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Only the core-schema tags that do not change a value's meaning are accepted: `!!str` on
/// scalars and `!!seq`/`!!map` on collections. Anything else would need Go's tag handling
/// to be reproduced exactly, so it is refused with its position.
fn refuse_tags(document: &ParsedDocument) -> Result<(), DecodeError> {
    let unsupported = |tag: &str, at: Position, path: String| {
        let message = format!("the tag `{}` is not supported in a schematic", excerpt(tag));
        Err((at, path, Problem::Syntax(message)))
    };
    for tag in &document.collection_tags {
        let implied = if tag.on_mapping { "!!map" } else { "!!seq" };
        if tag.tag != implied {
            return unsupported(&tag.tag, tag.position, String::new());
        }
    }
    fn scalar_tags(node: &Node, path: &YamlPath, found: &mut Option<(String, Position, String)>) {
        match &node.value {
            YamlValue::Scalar(s) => {
                if let Some(tag) = s.tag().filter(|t| *t != "!!str")
                    && found.is_none()
                {
                    *found = Some((tag.to_string(), at(node), path.to_string()));
                }
            }
            YamlValue::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    scalar_tags(item, &path.index(i), found);
                }
            }
            YamlValue::Mapping(map) => {
                for entry in map.entries() {
                    let path = path.key(entry.key.text());
                    if let Some(tag) = entry.key.tag().filter(|t| *t != "!!str")
                        && found.is_none()
                    {
                        let position = entry.key_position.unwrap_or(Position::new(1, 1));
                        *found = Some((tag.to_string(), position, path.to_string()));
                    }
                    scalar_tags(&entry.value, &path, found);
                }
            }
        }
    }
    let mut found = None;
    scalar_tags(&document.root, &YamlPath::root(), &mut found);
    match found {
        Some((tag, position, path)) => unsupported(&tag, position, path),
        None => Ok(()),
    }
}

/// Walks a struct-like mapping: checks keys against `known` and hands each value to
/// `visit` (the parser already refused duplicate keys). A null node is an empty struct,
/// as in Go.
fn struct_fields<'n>(
    node: &'n Node,
    path: &str,
    known: &'static [&'static str],
    expected: &'static str,
    mut visit: impl FnMut(&str, &'n Node, &str) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    if node.is_null() {
        return Ok(());
    }
    let Some(map) = node.as_mapping() else {
        return Err(wrong(node, if path.is_empty() { "schematic" } else { path }, expected));
    };
    for entry in map.entries() {
        let name = entry.key.text();
        if !known.contains(&name) {
            return Err((
                entry.key_position.unwrap_or(at(node)),
                join(path, name),
                Problem::UnknownField {
                    field: name.to_string(),
                    place: place(path),
                    expected: known.to_vec(),
                },
            ));
        }
        visit(name, &entry.value, &join(path, name))?;
    }
    Ok(())
}

fn place(path: &str) -> String {
    if path.is_empty() {
        "the schematic".to_string()
    } else {
        format!("`{path}`")
    }
}

/// A string field: any scalar's text (Go copies the raw value), null is empty.
fn decode_string(node: &Node, path: &str) -> Result<String, DecodeError> {
    match node.as_scalar() {
        Some(s) if s.is_null() => Ok(String::new()),
        Some(s) => Ok(s.text().to_string()),
        None => Err(wrong(node, path, "a string")),
    }
}

fn decode_string_list(node: &Node, path: &str) -> Result<Vec<String>, DecodeError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let Some(items) = node.as_sequence() else {
        return Err(wrong(
            node,
            path,
            "a list of strings, e.g. [siderolabs/qemu-guest-agent]",
        ));
    };
    // Go skips null items when decoding into a typed slice.
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.is_null())
        .map(|(i, item)| decode_string(item, &format!("{path}[{i}]")))
        .collect()
}

/// An unsigned integer field: a plain integer (decimal, hex, octal, binary) or an integral
/// float, as Go accepts; null is 0.
fn decode_uint(node: &Node, path: &str, max: u64, expected: &'static str) -> Result<u64, DecodeError> {
    if node.is_null() {
        return Ok(0);
    }
    let Some(s) = node.as_scalar() else {
        return Err(wrong(node, path, expected));
    };
    let number = match s.resolve() {
        Resolved::Int(i) => i,
        Resolved::Float(f) if f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64 => f as i128,
        _ => return Err(wrong(node, path, expected)),
    };
    match u64::try_from(number) {
        Ok(n) if n <= max => Ok(n),
        _ => Err((
            at(node),
            path.to_string(),
            Problem::InvalidValue {
                path: path.to_string(),
                reason: format!("must be between 0 and {max}, found {}", s.text()),
            },
        )),
    }
}

/// A bool field: `true`/`false`, or (into a typed bool, as Go allows) YAML 1.1 spellings.
fn decode_bool(node: &Node, path: &str) -> Result<bool, DecodeError> {
    if node.is_null() {
        return Ok(false);
    }
    let Some(s) = node.as_scalar() else {
        return Err(wrong(node, path, "true or false"));
    };
    match s.resolve() {
        Resolved::Bool(b) => Ok(b),
        _ => old_bool(s.text()).ok_or_else(|| wrong(node, path, "true or false")),
    }
}

/// A scalar as Go decodes it into `any`.
fn scalar_value(s: &Scalar) -> Value {
    match s.resolve() {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Int(i),
        Resolved::Float(f) => Value::Float(f),
        Resolved::Timestamp(text) => match normalize_timestamp(text) {
            Some(t) => Value::Timestamp(t),
            None => Value::Str(text.to_string()),
        },
        Resolved::Str(text) => Value::Str(text.to_string()),
    }
}

/// An untyped value, as Go decodes into `any`.
fn decode_value(node: &Node, path: &str) -> Result<Value, DecodeError> {
    match &node.value {
        YamlValue::Scalar(s) => Ok(scalar_value(s)),
        YamlValue::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| decode_value(item, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()
            .map(Value::Seq),
        YamlValue::Mapping(map) => {
            // `1` and `0x1` are different texts but the same Go key.
            let mut out = decode_entries(node, map, path, |key| (scalar_value(key), key.text().to_string()))?;
            // Go keeps maps unordered and writes them sorted; sort now so equal maps
            // compare equal.
            out.sort_by(|a, b| go_key_order(&a.0, &b.0));
            Ok(Value::Map(out))
        }
    }
}

fn decode_schematic(root: &Node) -> Result<Schematic, DecodeError> {
    let mut schematic = Schematic::default();
    struct_fields(
        root,
        "",
        TOP_FIELDS,
        "a mapping with `customization:`",
        |name, value, path| {
            match name {
                "owner" => schematic.owner = decode_string(value, path)?,
                "overlay" => schematic.overlay = decode_overlay(value, path)?,
                _ => schematic.customization = decode_customization(value, path)?,
            }
            Ok(())
        },
    )?;
    Ok(schematic)
}

fn decode_overlay(node: &Node, path: &str) -> Result<Overlay, DecodeError> {
    let mut overlay = Overlay::default();
    struct_fields(
        node,
        path,
        OVERLAY_FIELDS,
        "a mapping with `image:` and `name:`",
        |name, value, path| {
            match name {
                "image" => overlay.image = decode_string(value, path)?,
                "name" => overlay.name = decode_string(value, path)?,
                _ => overlay.options = decode_options(value, path)?,
            }
            Ok(())
        },
    )?;
    Ok(overlay)
}

/// Overlay options: Go's `map[string]any`, so each key is its scalar's text (null is "").
fn decode_options(node: &Node, path: &str) -> Result<Vec<(String, Value)>, DecodeError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let Some(map) = node.as_mapping() else {
        return Err(wrong(node, path, "a mapping"));
    };
    // `~` and `null` are different texts but the same (empty) Go key.
    let mut options = decode_entries(node, map, path, |key| {
        let name = if key.is_null() {
            String::new()
        } else {
            key.text().to_string()
        };
        (name.clone(), name)
    })?;
    options.sort_by(|a, b| key_order(&a.0, &b.0));
    Ok(options)
}

/// A mapping's entries in order, each value decoded as Go's `any`. `go_key` gives an entry's
/// key as Go compares it and the text that names it in paths and messages; a key Go would
/// see twice is [`Problem::DuplicateKey`], pointing at the first one's line.
fn decode_entries<K: PartialEq>(
    node: &Node,
    map: &Mapping,
    path: &str,
    go_key: impl Fn(&Scalar) -> (K, String),
) -> Result<Vec<(K, Value)>, DecodeError> {
    let mut out: Vec<(K, Value)> = Vec::new();
    let mut first_lines: Vec<usize> = Vec::new();
    for entry in map.entries() {
        let key_at = entry.key_position.unwrap_or(at(node));
        let (key, text) = go_key(&entry.key);
        if let Some(first) = out.iter().position(|(existing, _)| *existing == key) {
            return Err((
                key_at,
                join(path, &text),
                Problem::DuplicateKey {
                    key: text,
                    first_line: first_lines[first],
                },
            ));
        }
        let value = decode_value(&entry.value, &join(path, &text))?;
        out.push((key, value));
        first_lines.push(key_at.line);
    }
    Ok(out)
}

fn decode_customization(node: &Node, path: &str) -> Result<Customization, DecodeError> {
    let mut c = Customization::default();
    struct_fields(node, path, CUSTOMIZATION_FIELDS, "a mapping", |name, value, path| {
        match name {
            "embeddedMachineConfiguration" => c.embedded_machine_configuration = decode_string(value, path)?,
            "extraKernelArgs" => c.extra_kernel_args = decode_string_list(value, path)?,
            "meta" => c.meta = decode_meta(value, path)?,
            "systemExtensions" => {
                struct_fields(value, path, SYSTEM_EXTENSIONS_FIELDS, "a mapping", |_, list, path| {
                    c.system_extensions.official_extensions = decode_string_list(list, path)?;
                    Ok(())
                })?;
            }
            "bootloader" => {
                let text = decode_string(value, path)?;
                c.bootloader = if text.is_empty() {
                    Bootloader::Auto
                } else {
                    Bootloader::parse(&text).ok_or_else(|| {
                        (
                            at(value),
                            path.to_string(),
                            Problem::InvalidValue {
                                path: path.to_string(),
                                reason: format!(
                                    "must be one of auto, dual-boot, sd-boot, grub; found `{}`",
                                    excerpt(&text)
                                ),
                            },
                        )
                    })?
                };
            }
            "secureboot" => {
                struct_fields(value, path, SECUREBOOT_FIELDS, "a mapping", |name, v, path| {
                    if name == "enrollKeys" {
                        let text = decode_string(v, path)?;
                        if !text.is_empty() && !ENROLL_KEYS.contains(&text.as_str()) {
                            return Err((
                                at(v),
                                path.to_string(),
                                Problem::InvalidValue {
                                    path: path.to_string(),
                                    reason: format!(
                                        "must be one of off, manual, if-safe, force; found `{}`",
                                        excerpt(&text)
                                    ),
                                },
                            ));
                        }
                        c.secureboot.enroll_keys = text;
                    } else {
                        c.secureboot.include_well_known_certificates = decode_bool(v, path)?;
                    }
                    Ok(())
                })?;
            }
            _ => {
                struct_fields(value, path, DISK_IMAGE_FIELDS, "a mapping", |_, v, path| {
                    c.disk_image.sector_size = decode_uint(v, path, u64::MAX, "a number of bytes, e.g. 4096")?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    })?;
    Ok(c)
}

fn decode_meta(node: &Node, path: &str) -> Result<Vec<MetaValue>, DecodeError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let Some(items) = node.as_sequence() else {
        return Err(wrong(node, path, "a list of {key, value} entries"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate().filter(|(_, item)| !item.is_null()) {
        let item_path = format!("{path}[{i}]");
        let mut meta = MetaValue::default();
        struct_fields(
            item,
            &item_path,
            META_FIELDS,
            "a mapping with `key:` and `value:`",
            |name, v, path| {
                if name == "key" {
                    let key = decode_uint(v, path, 255, "an integer from 0 to 255, e.g. 0xa")?;
                    meta.key = u8::try_from(key).expect("invariant: decode_uint bounded the key to 255");
                } else {
                    meta.value = decode_string(v, path)?;
                }
                Ok(())
            },
        )?;
        out.push(meta);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> String {
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
    fn overlay_options_are_sorted_like_go() {
        let text = r#"{"overlay": {"name": "rpi", "image": "img", "options": {"b": 1, "a10": "x", "a9": "y", "A": "z", "1": "one", "10": "ten", "2": "two", "zz09": 3, "zz9": 1, "zz10": 2, "_": 1}}}"#;
        let yaml = Schematic::parse(text, "t")
            .expect("valid")
            .canonical_yaml()
            .expect("yaml");
        assert_eq!(
            yaml,
            "overlay:\n    image: img\n    name: rpi\n    options:\n        _: 1\n        \"1\": one\n        \"2\": two\n        \"10\": ten\n        A: z\n        a9: \"y\"\n        a10: x\n        b: 1\n        zz9: 1\n        zz09: 3\n        zz10: 2\ncustomization: {}\n"
        );
    }

    #[test]
    fn tags_are_refused_except_those_restating_the_kind() {
        for (text, at, tag) in [
            (
                "customization:\n  extraKernelArgs: [!!binary aGVsbG8=]\n",
                "t:2:21:",
                "!!binary",
            ),
            ("customization: !!set {extraKernelArgs: null}\n", "t:1:16:", "!!set"),
            ("customization:\n  extraKernelArgs: !!map [a]\n", "t:2:20:", "!!map"),
            ("owner: !custom x\n", "t:1:8:", "!custom"),
        ] {
            let err = Schematic::parse(text, "t").expect_err(text).to_string();
            assert!(err.starts_with(at), "{text:?}: {err}");
            assert!(
                err.ends_with(&format!(
                    "invalid YAML: the tag `{tag}` is not supported in a schematic"
                )),
                "{text:?}: {err}"
            );
        }
        let plain = id("customization: {extraKernelArgs: [\"10\"]}");
        assert_eq!(id("customization: !!map {extraKernelArgs: !!seq [!!str 10]}"), plain);
    }

    #[test]
    fn merge_keys_and_aliases_expand_as_go_decodes_them() {
        let merged = "base: &b {extraKernelArgs: [noapic]}\n";
        let err = Schematic::parse(merged, "t").expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `base`"), "{err}");
        let text = "overlay: &o {image: img, name: rpi}\ncustomization:\n  <<: {extraKernelArgs: [a], bootloader: grub}\n  bootloader: sd-boot\n";
        let schematic = Schematic::parse(text, "t").expect("valid");
        assert_eq!(schematic.customization.extra_kernel_args, ["a"]);
        assert_eq!(schematic.customization.bootloader, Bootloader::SdBoot);
        assert_eq!(schematic.overlay.name, "rpi");
    }

    #[test]
    fn duplicate_keys_name_the_field_and_the_first_line() {
        let err = Schematic::parse(
            "customization:\n  meta:\n    - key: 1\n      value: a\n      key: 2\n",
            "t",
        )
        .expect_err("duplicate");
        let Error::Invalid {
            line,
            column,
            path,
            problem,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column, path.as_str()), (5, 7, "customization.meta[0].key"));
        assert_eq!(problem.to_string(), "`key` is given twice (first on line 3)");
        // Different texts, same Go value: still one key of a Go map.
        let err =
            Schematic::parse("overlay: {name: n, image: i, options: {a: {1: x, 0x1: y}}}", "t").expect_err("duplicate");
        assert!(
            err.to_string().ends_with("`0x1` is given twice (first on line 1)"),
            "{err}"
        );
        // Overlay option names are texts, but `~` and `null` are both Go's empty key.
        let err =
            Schematic::parse("overlay: {name: n, image: i, options: {~: x, null: y}}", "t").expect_err("duplicate");
        assert!(
            err.to_string().ends_with("`` is given twice (first on line 1)"),
            "{err}"
        );
    }

    #[test]
    fn plain_timestamps_in_options_are_written_as_go_time() {
        let text = "overlay: {name: n, image: i, options: {a: 2024-1-2, b: 2024-01-02T03:04:05, c: '2024-01-02'}}";
        let yaml = Schematic::parse(text, "t")
            .expect("valid")
            .canonical_yaml()
            .expect("yaml");
        assert_eq!(
            yaml,
            "overlay:\n    image: i\n    name: \"n\"\n    options:\n        a: 2024-01-02T00:00:00Z\n        b: 2024-01-02T03:04:05\n        c: \"2024-01-02\"\ncustomization: {}\n"
        );
    }
}
