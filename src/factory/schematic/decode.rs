//! Reading a schematic's text strictly, as the factory's Go decoder does: unknown fields,
//! duplicate keys, wrong types, out-of-range values and tags are errors located at
//! `origin:line:column`; aliases and merge keys (`<<`) are expanded.

use super::map_order::go_key_order;
use super::{Bootloader, Customization, Error, MetaValue, Overlay, Problem, Schematic, Value};
use crate::excerpt::excerpt;
use crate::yaml::resolve::{normalize_timestamp, old_bool};
use crate::yaml::strict::check_key;
use crate::yaml::{
    self, Mapping, Node, ParseError, ParsedDocument, Path as YamlPath, Position, Resolved, Scalar, Value as YamlValue,
    key_order,
};

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

/// Parses schematic text (see [`Schematic::parse`]).
pub(super) fn parse(text: &str, origin: &str) -> Result<Schematic, Error> {
    let invalid = |at: Position, path: String, problem: Problem| Error::Invalid {
        origin: origin.to_string(),
        at,
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
        if check_key(name, known).is_err() {
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
                                    "must be one of {}; found `{}`",
                                    Bootloader::NAMES.join(", "),
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
    use super::super::tests::id;
    use super::*;

    #[test]
    fn bootloader_auto_is_refused_as_the_factory_refuses_it() {
        let err = Schematic::parse("customization:\n  bootloader: auto\n", "s.yaml").expect_err("auto");
        assert_eq!(
            err.to_string(),
            "s.yaml:2:15: `customization.bootloader` must be one of none, dual-boot, sd-boot, grub; found `auto`"
        );
        let none = Schematic::parse("customization: {bootloader: None}", "s.yaml").expect("none");
        assert_eq!(none.customization.bootloader, Bootloader::Auto);
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
            at: Position { line, column },
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
}
