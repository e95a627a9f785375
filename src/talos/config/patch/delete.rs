//! `$patch: delete` (reference `talos.md` §D.5): found in the patch tree before merging,
//! turned into selectors, and applied to the target document.
//!
//! * `key: {$patch: delete}` deletes a struct field or a map key;
//! * a list element `{<k>: <v>, $patch: delete}` deletes the first element of the target
//!   list whose field `<k>` has the text `<v>` (`<k>` is the element's first key other
//!   than `$patch`; Talos compares with Go's `reflect.Value.String()`, so only text fields
//!   can match — a `vlanId` or a `deviceSelector` never does);
//! * a document of `apiVersion`, `kind` (and `name`) with `$patch: delete` deletes it.
//!
//! A delete below a list element is refused (`cannot delete an inner key`), and a delete
//! of something absent fails with `lookup failed`, as in Talos.

use crate::excerpt::{MAX_PATH_CHARS, excerpt, excerpt_to};
use crate::talos::config::path::{Path, Segment};
use crate::talos::config::shape::{StructShape, Ty, ty_at};
use crate::talos::config::validate::decode::PATCH_DIRECTIVE;
use crate::talos::config::value::{Node, Position, Value};
use crate::talos::contract::Contract;

/// One deletion requested by a patch.
#[derive(Debug, Clone)]
pub(super) struct Selector {
    /// The key to delete, or the list whose element is deleted.
    pub path: Path,
    /// Where the directive is in the patch.
    pub position: Option<Position>,
    /// What to delete at `path`.
    pub target: Target,
}

/// What a selector deletes.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// The key at the path.
    Key,
    /// The first element of the list at the path whose `key` field equals `value`.
    Element {
        /// The element field compared.
        key: String,
        /// The value it must have.
        value: Node,
    },
}

fn is_directive(node: &Node) -> bool {
    node.as_mapping().is_some_and(|m| m.contains_key(PATCH_DIRECTIVE))
}

/// Returns true if and only if the document root carries `$patch: delete`.
pub(super) fn is_document_delete(document: &Node) -> bool {
    is_directive(document)
}

type Problem = (Path, Option<Position>, String);

/// The patch without its delete directives, and the selectors they stand for.
pub(super) fn extract(document: &Node) -> Result<(Node, Vec<Selector>), Problem> {
    let mut content = document.clone();
    let mut selectors = Vec::new();
    strip(&mut content, &Path::root(), false, &mut selectors)?;
    Ok((content, selectors))
}

fn non_empty_collection(node: &Node) -> bool {
    match &node.value {
        Value::Mapping(map) => !map.is_empty(),
        Value::Sequence(items) => !items.is_empty(),
        Value::Scalar(_) => false,
    }
}

fn empty_collection(node: &Node) -> bool {
    match &node.value {
        Value::Mapping(map) => map.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        Value::Scalar(_) => false,
    }
}

fn inner_key(path: &Path, position: Option<Position>) -> Problem {
    (
        path.clone(),
        position,
        "cannot delete an inner key: `$patch: delete` below a list element is not supported".into(),
    )
}

fn strip(node: &mut Node, path: &Path, in_element: bool, selectors: &mut Vec<Selector>) -> Result<(), Problem> {
    match &mut node.value {
        Value::Mapping(map) => {
            let mut removed = Vec::new();
            for entry in map.entries_mut() {
                let at = path.key(entry.key.text());
                if is_directive(&entry.value) {
                    if in_element {
                        return Err(inner_key(&at, entry.key_position));
                    }
                    selectors.push(Selector {
                        path: at,
                        position: entry.key_position,
                        target: Target::Key,
                    });
                    removed.push(entry.key.text().to_string());
                    continue;
                }
                let had_content = non_empty_collection(&entry.value);
                strip(&mut entry.value, &at, in_element, selectors)?;
                if had_content && empty_collection(&entry.value) {
                    removed.push(entry.key.text().to_string());
                }
            }
            for key in removed {
                map.remove(&key);
            }
        }
        Value::Sequence(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for (index, mut item) in std::mem::take(items).into_iter().enumerate() {
                if let Some(map) = item.as_mapping().filter(|_| is_directive(&item)) {
                    if in_element {
                        return Err(inner_key(&path.index(index), item.position));
                    }
                    let Some(entry) = map.entries().iter().find(|e| e.key.text() != PATCH_DIRECTIVE) else {
                        return Err((
                            path.index(index),
                            item.position,
                            "a list element `$patch: delete` needs a field to match, e.g. {interface: eth0, $patch: delete}"
                                .into(),
                        ));
                    };
                    selectors.push(Selector {
                        path: path.clone(),
                        position: item.position,
                        target: Target::Element {
                            key: entry.key.text().to_string(),
                            value: entry.value.clone(),
                        },
                    });
                    continue;
                }
                strip(&mut item, &path.index(index), true, selectors)?;
                kept.push(item);
            }
            *items = kept;
        }
        Value::Scalar(_) => {}
    }
    Ok(())
}

/// A path as error messages show it: cut to [`MAX_PATH_CHARS`].
fn shown(path: &Path) -> String {
    excerpt_to(&path.to_string(), MAX_PATH_CHARS).into_owned()
}

/// Applies one selector to the target document.
pub(super) fn apply(
    document: &mut Node,
    selector: &Selector,
    shape: &StructShape,
    contract: Contract,
) -> Result<(), String> {
    let lookup_failed = |what: &str| format!("$patch: delete: lookup failed: {what}");
    match &selector.target {
        Target::Key => {
            let Some((Segment::Key(last), parents)) = selector
                .path
                .segments()
                .split_last()
                .map(|(l, p)| (l.clone(), p.to_vec()))
            else {
                return Err(lookup_failed("not a key"));
            };
            let parent = document
                .get_path_mut(&Path::from_segments(parents))
                .and_then(Node::as_mapping_mut);
            match parent {
                Some(map) if map.get(&last).is_some_and(|v| !v.is_null()) => {
                    map.remove(&last);
                    Ok(())
                }
                _ => Err(lookup_failed(&format!(
                    "{} is not in the config",
                    shown(&selector.path)
                ))),
            }
        }
        Target::Element { key, value } => {
            let element_fields = match ty_at(shape, &selector.path, contract) {
                Some(Ty::List(item, _)) => match item.as_ref() {
                    Ty::Struct(element) => element.clone(),
                    _ => {
                        return Err(lookup_failed(&format!(
                            "{} is not a list of mappings; only elements of such lists can be deleted",
                            shown(&selector.path)
                        )));
                    }
                },
                _ => return Err(lookup_failed(&format!("{} is not a list", shown(&selector.path)))),
            };
            match element_fields.field(key, contract).map(|f| &f.ty) {
                Some(Ty::String | Ty::Enum(_)) => {}
                Some(other) => {
                    return Err(lookup_failed(&format!(
                        "Talos matches list elements by a text field, and {key} is typed {other}; \
                         rewrite the list instead (or match by a text field)"
                    )));
                }
                None => {
                    return Err(lookup_failed(&format!(
                        "the list elements have no field {:?}",
                        excerpt(key)
                    )));
                }
            }
            let Some(wanted) = value.as_scalar().map(|s| s.text().to_string()) else {
                return Err(lookup_failed(&format!(
                    "{} must be a single value to match",
                    excerpt(key)
                )));
            };
            let items = document
                .get_path_mut(&selector.path)
                .and_then(Node::as_sequence_mut)
                .ok_or_else(|| lookup_failed(&format!("{} is not in the config", shown(&selector.path))))?;
            let found = items
                .iter()
                .position(|item| item.get(key).and_then(Node::as_str) == Some(wanted.as_str()))
                .ok_or_else(|| {
                    lookup_failed(&format!(
                        "no element of {} has {} {:?}",
                        shown(&selector.path),
                        excerpt(key),
                        excerpt(&wanted)
                    ))
                })?;
            items.remove(found);
            Ok(())
        }
    }
}
