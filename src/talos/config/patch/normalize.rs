//! Writing a config the way Talos writes its typed structs back (go-yaml v3 marshalling):
//! struct fields in Go declaration order, `omitempty` fields left out when zero, map keys
//! sorted in go-yaml's order, and every scalar in its Go type's canonical form — a string
//! field holding `1` or `true` becomes the string `"1"`/`"true"`, a `yes` boolean becomes
//! `true`, `0x10` becomes `16`, a `5m` duration becomes `5m0s`, a file mode `0644`
//! becomes `0o644`.
//!
//! Generated configs are already in this form (a test checks the golden files come out
//! byte for byte), so only patched content changes.

use crate::talos::config::documents::{ConfigDocuments, DocumentId};
use crate::talos::config::shape::go_values::{format_duration, key_order, parse_duration};
use crate::talos::config::shape::{Field, KindLookup, Ty, registry};
use crate::talos::config::value::{Entry, Mapping, Node, Resolved, Scalar, Value};
use crate::talos::contract::Contract;
use crate::yaml::resolve::old_bool;

/// Every document of `docs` in Talos's written form for the line of `contract`. Documents
/// of kinds the line does not register are only stripped of source positions.
pub fn normalize_documents(docs: &ConfigDocuments, contract: Contract) -> ConfigDocuments {
    let normalized: Vec<Node> = docs.iter().map(|doc| normalize_document(doc, contract)).collect();
    ConfigDocuments::from_nodes(normalized).unwrap_or_else(|_| docs.clone())
}

fn normalize_document(document: &Node, contract: Contract) -> Node {
    let shape = match DocumentId::of(document) {
        Ok(DocumentId::V1Alpha1) => Some(registry().v1alpha1.clone()),
        Ok(DocumentId::Typed { api_version, kind, .. }) => match registry().kind(&kind, &api_version, contract) {
            KindLookup::Found(found) => Some(found.root.clone()),
            _ => None,
        },
        Err(_) => None,
    };
    match shape {
        Some(shape) => normalize_value(document, &Ty::Struct(shape), contract),
        None => strip_positions(document.clone()),
    }
}

/// The node with every source position removed (content merged from several sources
/// must not point into one of them).
pub(super) fn strip_positions(mut node: Node) -> Node {
    node.position = None;
    match &mut node.value {
        Value::Mapping(map) => {
            for entry in map.entries_mut() {
                entry.key_position = None;
                let value = std::mem::replace(&mut entry.value, Node::null());
                entry.value = strip_positions(value);
            }
        }
        Value::Sequence(items) => {
            for item in items.iter_mut() {
                let value = std::mem::replace(item, Node::null());
                *item = strip_positions(value);
            }
        }
        Value::Scalar(_) => {}
    }
    node
}

fn plain(text: impl Into<String>) -> Node {
    Node::from(Scalar::plain(text))
}

fn normalize_value(node: &Node, ty: &Ty, contract: Contract) -> Node {
    if node.is_null() {
        return Node::null();
    }
    match (ty, &node.value) {
        (Ty::Struct(shape), Value::Mapping(map)) => {
            let order = shape.order();
            let mut known: Vec<(usize, Entry)> = Vec::new();
            let mut unknown = Vec::new();
            for entry in map.entries() {
                let key = entry.key.text();
                match shape.field(key, contract) {
                    Some(field) => {
                        let value = normalize_value(&entry.value, &field.ty, contract);
                        if omitted(&value, field) {
                            continue;
                        }
                        let rank = order.iter().position(|name| *name == key).unwrap_or(usize::MAX);
                        known.push((rank, entry_of(key, value)));
                    }
                    None => unknown.push(entry_of(key, strip_positions(entry.value.clone()))),
                }
            }
            known.sort_by_key(|(rank, _)| *rank);
            let mut out = Mapping::new();
            for entry in known.into_iter().map(|(_, e)| e).chain(unknown) {
                out.insert_entry(entry);
            }
            Node::mapping(out)
        }
        (Ty::List(item, _), Value::Sequence(items)) => {
            Node::sequence(items.iter().map(|i| normalize_value(i, item, contract)).collect())
        }
        (Ty::Map(value_ty), Value::Mapping(map)) => sorted(map, |value| {
            if value.is_null() && matches!(**value_ty, Ty::String) {
                Node::string("")
            } else {
                normalize_value(value, value_ty, contract)
            }
        }),
        (Ty::Args, Value::Mapping(map)) => sorted(map, |value| match &value.value {
            Value::Sequence(items) => Node::sequence(items.iter().map(string_of).collect()),
            _ => string_of(value),
        }),
        (Ty::Unstructured, _) => normalize_any(node),
        (_, Value::Scalar(scalar)) => normalize_scalar(scalar, ty),
        _ => strip_positions(node.clone()),
    }
}

fn entry_of(key: &str, value: Node) -> Entry {
    Entry {
        key: Scalar::string(key),
        key_position: None,
        value,
    }
}

/// A mapping with go-yaml's key order and normalised values.
fn sorted(map: &Mapping, mut value: impl FnMut(&Node) -> Node) -> Node {
    let mut entries: Vec<&Entry> = map.entries().iter().collect();
    entries.sort_by(|a, b| key_order(a.key.text(), b.key.text()));
    let mut out = Mapping::new();
    for entry in entries {
        out.insert_entry(entry_of(entry.key.text(), value(&entry.value)));
    }
    Node::mapping(out)
}

fn string_of(node: &Node) -> Node {
    match node.as_scalar() {
        Some(scalar) if !scalar.is_null() => Node::string(scalar.text()),
        Some(_) => Node::string(""),
        None => strip_positions(node.clone()),
    }
}

fn normalize_scalar(scalar: &Scalar, ty: &Ty) -> Node {
    let text = scalar.text();
    let resolved = scalar.resolve();
    match ty {
        Ty::String | Ty::Enum(_) | Ty::Base64 => Node::string(text),
        Ty::Bool => match resolved {
            Resolved::Bool(b) => Node::bool(b),
            _ => old_bool(text).map(Node::bool).unwrap_or_else(|| Node::string(text)),
        },
        Ty::Int(_) => match resolved {
            Resolved::Int(i) => plain(i.to_string()),
            Resolved::Float(f) if f.fract() == 0.0 => plain((f as i128).to_string()),
            _ => Node::from(scalar.clone()),
        },
        Ty::FileMode => match resolved {
            Resolved::Int(i) => plain(format!("0o{i:o}")),
            _ => Node::from(scalar.clone()),
        },
        Ty::Duration => {
            let nanos = match resolved {
                Resolved::Int(i) => Some(i),
                _ => parse_duration(text),
            };
            nanos
                .map(|n| Node::string(format_duration(n)))
                .unwrap_or_else(|| Node::string(text))
        }
        Ty::IntOrString | Ty::ByteSize => match resolved {
            Resolved::Int(i) => plain(i.to_string()),
            _ => Node::string(text),
        },
        Ty::Float => Node::from(scalar.clone()),
        Ty::Struct(_) | Ty::List(..) | Ty::Map(_) | Ty::Args | Ty::Unstructured => Node::from(scalar.clone()),
    }
}

/// Free-form values as go-yaml writes `map[string]any`: keys sorted, strings as strings,
/// numbers and booleans canonical.
fn normalize_any(node: &Node) -> Node {
    match &node.value {
        Value::Mapping(map) => sorted(map, normalize_any),
        Value::Sequence(items) => Node::sequence(items.iter().map(normalize_any).collect()),
        Value::Scalar(scalar) => match scalar.resolve() {
            Resolved::Null => Node::null(),
            Resolved::Bool(b) => Node::bool(b),
            Resolved::Int(i) => plain(i.to_string()),
            Resolved::Str(text) => Node::string(text),
            Resolved::Float(_) | Resolved::Timestamp(_) => Node::from(scalar.clone()),
        },
    }
}

/// Whether go-yaml leaves the field out: `omitempty` and a zero value (a nil pointer; a
/// non-pointer zero scalar, empty collection or all-zero struct).
fn omitted(value: &Node, field: &Field) -> bool {
    if field.keep_empty {
        return false;
    }
    if value.is_null() {
        return true;
    }
    if field.pointer {
        return false;
    }
    match &value.value {
        Value::Mapping(map) => map.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        Value::Scalar(scalar) => match scalar.resolve() {
            Resolved::Bool(b) => !b,
            Resolved::Int(i) => i == 0,
            Resolved::Float(f) => f == 0.0,
            Resolved::Null => true,
            Resolved::Str(s) | Resolved::Timestamp(s) => {
                s.is_empty() || (matches!(field.ty, Ty::Duration) && s == "0s")
            }
        },
    }
}
