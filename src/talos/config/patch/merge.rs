//! Strategic merge of a patch document into a target document, following Talos's
//! reflection merge (`talos@*:pkg/machinery/config/merge/merge.go`, reference §D.4) over
//! our declaration of the Go types:
//!
//! * custom list mergers first: interfaces by `interface` or an exactly equal
//!   `deviceSelector`, vlans by `vlanId`, admission plugins by `name`, config files by
//!   `mountPath` — merge into the match or append;
//! * `merge:"replace"` fields: a present patch value replaces the target (`[]` clears);
//! * plain lists append; maps merge per key; v1.13+ `Args` replace per key;
//! * scalars: a zero value does not override (`""`, `0`) — except behind a pointer from
//!   v1.12 — and booleans always do; `null` never does anything;
//! * free-form values: nested maps merge, lists append, differing types are an error.
//!
//! Zero values and empty collections are inserted as Go would hold them; writing them out
//! or leaving them out (`omitempty`) is the normaliser's job.

use super::{PatchError, PatchWarning};
use crate::talos::config::path::Path;
use crate::talos::config::shape::go_values::parse_duration;
use crate::talos::config::shape::{Field, ListMerge, StructShape, Ty};
use crate::talos::config::validate::decode::PATCH_DIRECTIVE;
use crate::talos::config::value::{Mapping, Node, Position, Resolved, Value};
use crate::talos::contract::Contract;
use crate::yaml::resolve::old_bool;

/// What a merge needs to know besides the two trees.
pub(super) struct Context<'a> {
    /// The target Talos line (pointer zero semantics changed in v1.12).
    pub contract: Contract,
    /// Patch name for errors and warnings.
    pub patch: &'a str,
    /// Target document label for errors.
    pub document: &'a str,
    /// Warnings collected on the way.
    pub warnings: &'a mut Vec<PatchWarning>,
}

impl Context<'_> {
    fn error(&self, path: &Path, node: &Node, reason: String) -> PatchError {
        PatchError::Apply {
            patch: self.patch.to_string(),
            document: self.document.to_string(),
            path: path.clone(),
            position: node.position,
            reason,
        }
    }
}

/// Returns true if and only if a patch document sets anything besides its identity.
pub(super) fn has_content(document: &Node) -> bool {
    document.as_mapping().is_some_and(|map| {
        map.keys()
            .any(|k| !matches!(k, "apiVersion" | "kind" | "name") && k != PATCH_DIRECTIVE)
    })
}

/// Merges the patch document `right` into `left`.
pub(super) fn merge_document(
    left: &mut Node,
    right: &Node,
    shape: &StructShape,
    context: &mut Context<'_>,
) -> Result<(), PatchError> {
    match (left.as_mapping_mut(), right.as_mapping()) {
        (Some(l), Some(r)) => merge_struct(l, r, shape, context, &Path::root()),
        _ => Err(context.error(&Path::root(), right, "both documents must be mappings".into())),
    }
}

fn merge_struct(
    left: &mut Mapping,
    right: &Mapping,
    shape: &StructShape,
    context: &mut Context<'_>,
    path: &Path,
) -> Result<(), PatchError> {
    for entry in right.entries() {
        let key = entry.key.text();
        if key == PATCH_DIRECTIVE {
            continue;
        }
        let at = path.key(key);
        let Some(field) = shape.field(key, context.contract) else {
            return Err(context.error(
                &at,
                &entry.value,
                format!("unknown key {:?}", crate::excerpt::excerpt(key)),
            ));
        };
        merge_field(left, key, &entry.value, field, shape.order(), context, &at)?;
    }
    Ok(())
}

fn merge_field(
    left: &mut Mapping,
    key: &str,
    right: &Node,
    field: &Field,
    order: &[&str],
    context: &mut Context<'_>,
    path: &Path,
) -> Result<(), PatchError> {
    if right.is_null() {
        return Ok(());
    }
    match left.get_mut(key).filter(|l| !l.is_null()) {
        Some(existing) => merge_value(existing, right, &field.ty, field.pointer, field.replace, context, path),
        None => {
            left.insert_ordered(key, right.clone(), order);
            Ok(())
        }
    }
}

fn merge_value(
    left: &mut Node,
    right: &Node,
    ty: &Ty,
    pointer: bool,
    replace: bool,
    context: &mut Context<'_>,
    path: &Path,
) -> Result<(), PatchError> {
    if right.is_null() {
        return Ok(());
    }
    if left.is_null() {
        *left = right.clone();
        return Ok(());
    }
    if replace {
        if !is_zero(right, ty) {
            *left = right.clone();
        }
        return Ok(());
    }
    match ty {
        Ty::Struct(shape) => match (left.as_mapping_mut(), right.as_mapping()) {
            (Some(l), Some(r)) => merge_struct(l, r, shape, context, path),
            _ => {
                *left = right.clone();
                Ok(())
            }
        },
        Ty::List(item, how) => {
            let Some(additions) = right.as_sequence() else {
                *left = right.clone();
                return Ok(());
            };
            if additions.is_empty() {
                return Ok(());
            }
            let Some(items) = left.as_sequence_mut() else {
                *left = right.clone();
                return Ok(());
            };
            match how {
                ListMerge::Append => {
                    items.extend(additions.iter().cloned());
                    Ok(())
                }
                ListMerge::ByKey(key) => {
                    merge_or_append(items, additions, item, context, path, |items, _, addition, context| {
                        find_by_key(items, addition, key, item, context.contract)
                    })
                }
                ListMerge::Devices => merge_or_append(
                    items,
                    additions,
                    item,
                    context,
                    path,
                    |items, offset, addition, context| find_device(items, addition, context, &path.index(offset)),
                ),
            }
        }
        Ty::Map(value_ty) => {
            let (Some(l), Some(r)) = (left.as_mapping_mut(), right.as_mapping()) else {
                *left = right.clone();
                return Ok(());
            };
            for entry in r.entries() {
                if entry.value.is_null() {
                    continue;
                }
                let key = entry.key.text();
                match l.get_mut(key).filter(|v| !v.is_null()) {
                    Some(existing) => {
                        merge_value(existing, &entry.value, value_ty, false, false, context, &path.key(key))?;
                    }
                    None => {
                        l.insert(key, entry.value.clone());
                    }
                }
            }
            Ok(())
        }
        Ty::Args => {
            let (Some(l), Some(r)) = (left.as_mapping_mut(), right.as_mapping()) else {
                *left = right.clone();
                return Ok(());
            };
            for entry in r.entries().iter().filter(|e| !e.value.is_null()) {
                l.insert(entry.key.text(), entry.value.clone());
            }
            Ok(())
        }
        Ty::Unstructured => merge_any(left, right, path).map_err(|(at, position, reason)| PatchError::Apply {
            patch: context.patch.to_string(),
            document: context.document.to_string(),
            path: at,
            position,
            reason,
        }),
        Ty::Bool | Ty::Base64 | Ty::ByteSize => {
            *left = right.clone();
            Ok(())
        }
        Ty::String | Ty::Int(_) | Ty::Float | Ty::Duration | Ty::FileMode | Ty::IntOrString | Ty::Enum(_) => {
            let zero_wins = pointer && context.contract.at_least(1, 12);
            if !is_zero(right, ty) || zero_wins {
                *left = right.clone();
            }
            Ok(())
        }
    }
}

/// Go's zero value test for a patch value of type `ty`.
fn is_zero(node: &Node, ty: &Ty) -> bool {
    match &node.value {
        Value::Mapping(map) => matches!(ty, Ty::Struct(_)) && map.is_empty(),
        Value::Sequence(_) => false,
        Value::Scalar(scalar) => {
            if scalar.is_null() {
                return true;
            }
            let text = scalar.text();
            match ty {
                Ty::Bool => matches!(scalar.resolve(), Resolved::Bool(false)) || old_bool(text) == Some(false),
                Ty::Int(_) | Ty::FileMode | Ty::Float => match scalar.resolve() {
                    Resolved::Int(i) => i == 0,
                    Resolved::Float(f) => f == 0.0,
                    _ => false,
                },
                Ty::Duration => match scalar.resolve() {
                    Resolved::Int(i) => i == 0,
                    _ => parse_duration(text) == Some(0),
                },
                Ty::Enum(values) => text.is_empty() || values.first() == Some(&text),
                _ => text.is_empty(),
            }
        }
    }
}

/// The key value of a list element as Go would compare it (absent = zero).
fn key_of(element: &Node, key: &str, element_ty: &Ty, contract: Contract) -> String {
    let value = element.get(key).filter(|v| !v.is_null());
    let numeric = match element_ty {
        Ty::Struct(shape) => matches!(shape.field(key, contract).map(|f| &f.ty), Some(Ty::Int(_))),
        _ => false,
    };
    if numeric {
        let number = value
            .and_then(|v| match v.as_scalar()?.resolve() {
                Resolved::Int(i) => Some(i),
                _ => None,
            })
            .unwrap_or(0);
        number.to_string()
    } else {
        value.and_then(Node::as_str).unwrap_or_default().to_string()
    }
}

/// Merges each addition into the existing item `find` picks for it, or appends it; a later
/// addition may match an item appended before it, as in Talos's merge of keyed lists. `find`
/// also gets the addition's offset among the additions, for warnings about it.
fn merge_or_append<'c>(
    items: &mut Vec<Node>,
    additions: &[Node],
    item_ty: &Ty,
    context: &mut Context<'c>,
    path: &Path,
    mut find: impl FnMut(&[Node], usize, &Node, &mut Context<'c>) -> Option<usize>,
) -> Result<(), PatchError> {
    for (offset, addition) in additions.iter().enumerate() {
        match find(items, offset, addition, context) {
            Some(index) => merge_value(
                &mut items[index],
                addition,
                item_ty,
                true,
                false,
                context,
                &path.index(index),
            )?,
            None => items.push(addition.clone()),
        }
    }
    Ok(())
}

/// The item whose `key` equals the addition's, as Go compares them (absent = zero).
fn find_by_key(items: &[Node], addition: &Node, key: &str, item_ty: &Ty, contract: Contract) -> Option<usize> {
    let wanted = key_of(addition, key, item_ty, contract);
    items
        .iter()
        .position(|item| key_of(item, key, item_ty, contract) == wanted)
}

const SELECTOR_TEXT_FIELDS: [&str; 5] = ["busPath", "hardwareAddr", "permanentAddr", "pciID", "driver"];

/// Go's `*a == *b` on `NetworkDeviceSelector`: text fields equal, and `physical` (a
/// `*bool`, compared by address) unset on both.
fn selectors_equal(a: &Node, b: &Node) -> bool {
    let text = |n: &Node, k: &str| n.get(k).and_then(Node::as_str).unwrap_or_default().to_string();
    let physical_set = |n: &Node| n.get("physical").is_some_and(|v| !v.is_null());
    !physical_set(a) && !physical_set(b) && SELECTOR_TEXT_FIELDS.iter().all(|k| text(a, k) == text(b, k))
}

/// The interface an addition at `path` merges into: the same `interface` name, else an
/// equal `deviceSelector`. A selector with `physical` never matches and gets a warning.
fn find_device(items: &[Node], addition: &Node, context: &mut Context<'_>, path: &Path) -> Option<usize> {
    let name = addition
        .get("interface")
        .and_then(Node::as_str)
        .filter(|n| !n.is_empty());
    let selector = addition.get("deviceSelector").filter(|s| s.as_mapping().is_some());
    if let Some(name) = name {
        items
            .iter()
            .position(|item| item.get("interface").and_then(Node::as_str) == Some(name))
    } else if let Some(selector) = selector {
        if selector.get("physical").is_some_and(|v| !v.is_null()) {
            context.warnings.push(PatchWarning::DeviceSelectorNeverMatches {
                patch: context.patch.to_string(),
                path: path.clone(),
            });
        }
        items.iter().position(|item| {
            item.get("deviceSelector")
                .filter(|s| s.as_mapping().is_some())
                .is_some_and(|existing| selectors_equal(existing, selector))
        })
    } else {
        None
    }
}

/// The Go type a free-form value decodes into, for mismatch messages.
fn go_type(node: &Node) -> &'static str {
    match &node.value {
        Value::Mapping(_) => "map[string]interface {}",
        Value::Sequence(_) => "[]interface {}",
        Value::Scalar(scalar) => match scalar.resolve() {
            Resolved::Null => "<nil>",
            Resolved::Bool(_) => "bool",
            Resolved::Int(i) if i > i128::from(i64::MAX) => "uint64",
            Resolved::Int(_) => "int",
            Resolved::Float(_) => "float64",
            Resolved::Timestamp(_) => "time.Time",
            Resolved::Str(_) => "string",
        },
    }
}

/// `map[string]any` merge: maps per key, lists append, scalars as Go values.
fn merge_any(left: &mut Node, right: &Node, path: &Path) -> Result<(), (Path, Option<Position>, String)> {
    let (left_type, right_type) = (go_type(left), go_type(right));
    if left_type != right_type {
        return Err((
            path.clone(),
            right.position,
            format!("merge type mismatch left {left_type} right {right_type}"),
        ));
    }
    match (&mut left.value, &right.value) {
        (Value::Mapping(l), Value::Mapping(r)) => {
            for entry in r.entries() {
                let key = entry.key.text();
                if entry.value.is_null() {
                    continue;
                }
                match l.get_mut(key).filter(|v| !v.is_null()) {
                    Some(existing) => merge_any(existing, &entry.value, &path.key(key))?,
                    None => {
                        l.insert(key, entry.value.clone());
                    }
                }
            }
        }
        (Value::Sequence(l), Value::Sequence(r)) => l.extend(r.iter().cloned()),
        (Value::Scalar(_), Value::Scalar(scalar)) => {
            let zero = match scalar.resolve() {
                Resolved::Bool(_) => false,
                Resolved::Int(i) => i == 0,
                Resolved::Float(f) => f == 0.0,
                Resolved::Null => true,
                Resolved::Str(s) | Resolved::Timestamp(s) => s.is_empty(),
            };
            if !zero {
                *left = right.clone();
            }
        }
        _ => {}
    }
    Ok(())
}
