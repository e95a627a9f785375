//! RFC 6902 JSON patches (`add`, `remove`, `replace`, `move`, `copy`, `test`) with RFC 6901
//! pointers, applied to the v1alpha1 document (reference `talos.md` §D.6).
//!
//! Talos converts the config to JSON, patches it and converts back, so the patched
//! document must still decode strictly; it is checked here before it replaces the original.

use crate::excerpt::{MAX_PATH_CHARS, excerpt, excerpt_to};
use std::fmt;

use super::PatchError;
use crate::talos::config::documents::ConfigDocuments;
use crate::talos::config::path::Path;
use crate::talos::config::validate::decode::{DecodeErrors, Mode, check_document};
use crate::talos::config::value::{Node, Position, Value};
use crate::talos::contract::Contract;

/// A JSON patch operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOpKind {
    /// Add or replace a member, insert into a list (`-` appends).
    Add,
    /// Remove an existing member or element.
    Remove,
    /// Replace an existing member or element.
    Replace,
    /// Remove at `from`, add at `path`.
    Move,
    /// Copy from `from` to `path`.
    Copy,
    /// Fail unless the value at `path` equals `value`.
    Test,
}

impl fmt::Display for JsonOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonOpKind::Add => "add",
            JsonOpKind::Remove => "remove",
            JsonOpKind::Replace => "replace",
            JsonOpKind::Move => "move",
            JsonOpKind::Copy => "copy",
            JsonOpKind::Test => "test",
        })
    }
}

/// One operation of a JSON patch.
#[derive(Debug, Clone)]
pub struct JsonOp {
    /// The operation.
    pub kind: JsonOpKind,
    /// Target JSON pointer (`/machine/install/disk`).
    pub path: String,
    /// Source pointer of `move` and `copy`.
    pub from: Option<String>,
    /// The value of `add`, `replace` and `test`.
    pub value: Option<Node>,
    /// Where the operation starts in the patch.
    pub position: Option<Position>,
}

type Problem = (Option<Position>, String);

/// The operations of a list node.
pub(super) fn ops_from_node(root: &Node) -> Result<Vec<JsonOp>, Problem> {
    let Some(items) = root.as_sequence() else {
        return Err((root.position, "a JSON patch is a list of operations".into()));
    };
    let mut ops = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = item.position;
        let problem = |reason: String| (at, format!("operation {index}: {reason}"));
        let Some(map) = item.as_mapping() else {
            return Err(problem(format!(
                "expected a mapping such as {{\"op\": \"add\", \"path\": \"/machine/install/disk\", \"value\": \"/dev/sda\"}}, found a {}",
                item.kind_name()
            )));
        };
        let text = |key: &str| map.get(key).and_then(Node::as_str).map(str::to_string);
        let kind = match text("op").as_deref() {
            Some("add") => JsonOpKind::Add,
            Some("remove") => JsonOpKind::Remove,
            Some("replace") => JsonOpKind::Replace,
            Some("move") => JsonOpKind::Move,
            Some("copy") => JsonOpKind::Copy,
            Some("test") => JsonOpKind::Test,
            Some(other) => {
                return Err(problem(format!(
                    "unknown op {:?} (expected add, remove, replace, move, copy or test)",
                    excerpt(other)
                )));
            }
            None => return Err(problem("missing \"op\"".into())),
        };
        let path = text("path").ok_or_else(|| problem(format!("{kind}: missing \"path\"")))?;
        let from = text("from");
        if matches!(kind, JsonOpKind::Move | JsonOpKind::Copy) && from.is_none() {
            return Err(problem(format!("{kind}: missing \"from\"")));
        }
        let value = map.get("value").cloned();
        if matches!(kind, JsonOpKind::Add | JsonOpKind::Replace | JsonOpKind::Test) && value.is_none() {
            return Err(problem(format!("{kind}: missing \"value\"")));
        }
        for pointer in std::iter::once(&path).chain(from.iter()) {
            tokens(pointer).map_err(|reason| problem(format!("{kind}: {reason}")))?;
        }
        ops.push(JsonOp {
            kind,
            path,
            from,
            value,
            position: at,
        });
    }
    Ok(ops)
}

/// Applies `ops` to the v1alpha1 document of `config`.
pub(super) fn apply(
    config: &mut ConfigDocuments,
    patch: &str,
    ops: &[JsonOp],
    contract: Contract,
) -> Result<(), PatchError> {
    let Some(original) = config.v1alpha1() else {
        return Err(PatchError::Apply {
            patch: patch.to_string(),
            document: "v1alpha1".into(),
            path: Path::root(),
            position: ops.first().and_then(|op| op.position),
            reason: "JSON patches apply to the v1alpha1 document, and the config has none".into(),
        });
    };
    let mut document = original.clone();
    for op in ops {
        apply_op(&mut document, op).map_err(|reason| PatchError::Apply {
            patch: patch.to_string(),
            document: "v1alpha1".into(),
            path: Path::from_json_pointer(&op.path).unwrap_or_default(),
            position: op.position,
            reason: format!("{} {}: {reason}", op.kind, excerpt_to(&op.path, MAX_PATH_CHARS)),
        })?;
    }
    let problems = check_document(patch, &document, contract, Mode::Config);
    if !problems.is_empty() {
        return Err(PatchError::Decode {
            patch: patch.to_string(),
            contract,
            errors: DecodeErrors(problems),
        });
    }
    if let Some(slot) = config.v1alpha1_mut() {
        *slot = document;
    }
    Ok(())
}

fn apply_op(document: &mut Node, op: &JsonOp) -> Result<(), String> {
    let path = tokens(&op.path)?;
    let value = || op.value.clone().unwrap_or_else(Node::null);
    match op.kind {
        JsonOpKind::Add => add(document, &path, value()),
        JsonOpKind::Remove => remove(document, &path).map(drop),
        JsonOpKind::Replace => {
            let target = get_mut(document, &path)?;
            *target = value();
            Ok(())
        }
        JsonOpKind::Move => {
            let from = tokens(op.from.as_deref().unwrap_or_default())?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(format!(
                    "cannot move {} into its own child",
                    op.from.as_deref().unwrap_or_default()
                ));
            }
            let moved = remove(document, &from)?;
            add(document, &path, moved)
        }
        JsonOpKind::Copy => {
            let from = tokens(op.from.as_deref().unwrap_or_default())?;
            let copied = get(document, &from)?.clone();
            add(document, &path, copied)
        }
        JsonOpKind::Test => {
            let actual = get(document, &path)?;
            if actual.yaml_eq(&value()) {
                Ok(())
            } else {
                Err("test failed: the value differs".into())
            }
        }
    }
}

/// The unescaped reference tokens of a JSON pointer.
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "{:?} is not a JSON pointer (it must start with /, e.g. /machine/install/disk)",
            excerpt_to(pointer, MAX_PATH_CHARS)
        ));
    };
    rest.split('/')
        .map(|raw| {
            let mut token = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "{:?}: '~' must be followed by 0 or 1",
                            excerpt_to(pointer, MAX_PATH_CHARS)
                        ));
                    }
                }
            }
            Ok(token)
        })
        .collect()
}

/// The JSON pointer of `tokens` as error messages show it (cut to [`MAX_PATH_CHARS`]).
fn pointer_of(tokens: &[String]) -> String {
    let pointer: String = tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect();
    excerpt_to(&pointer, MAX_PATH_CHARS).into_owned()
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid =
        !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let index: usize = token
        .parse()
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| format!("{:?} is not a list index", excerpt(token)))?;
    let limit = if allow_end { len } else { len.saturating_sub(1) };
    if index > limit || (!allow_end && len == 0) {
        return Err(format!("index {index} is out of range (the list has {len} elements)"));
    }
    Ok(index)
}

fn get<'a>(node: &'a Node, tokens: &[String]) -> Result<&'a Node, String> {
    let mut current = node;
    for (depth, token) in tokens.iter().enumerate() {
        current = match &current.value {
            Value::Mapping(map) => map.get(token),
            Value::Sequence(items) => items.get(index(token, items.len(), false)?),
            Value::Scalar(_) => None,
        }
        .ok_or_else(|| format!("{} does not exist", pointer_of(&tokens[..=depth])))?;
    }
    Ok(current)
}

fn get_mut<'a>(node: &'a mut Node, tokens: &[String]) -> Result<&'a mut Node, String> {
    let mut current = node;
    for (depth, token) in tokens.iter().enumerate() {
        let missing = || format!("{} does not exist", pointer_of(&tokens[..=depth]));
        current = match &mut current.value {
            Value::Mapping(map) => map.get_mut(token).ok_or_else(missing)?,
            Value::Sequence(items) => {
                let i = index(token, items.len(), false)?;
                &mut items[i]
            }
            Value::Scalar(_) => return Err(missing()),
        };
    }
    Ok(current)
}

fn add(document: &mut Node, tokens: &[String], value: Node) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        *document = value;
        return Ok(());
    };
    let parent =
        get_mut(document, parents).map_err(|_| format!("the parent {} does not exist", pointer_of(parents)))?;
    match &mut parent.value {
        Value::Mapping(map) => {
            map.insert(last.as_str(), value);
            Ok(())
        }
        Value::Sequence(items) => {
            let at = index(last, items.len(), true)?;
            items.insert(at, value);
            Ok(())
        }
        Value::Scalar(_) => Err(format!(
            "the parent {} is a scalar, not a mapping or list",
            pointer_of(parents)
        )),
    }
}

fn remove(document: &mut Node, tokens: &[String]) -> Result<Node, String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    let parent = get_mut(document, parents)?;
    match &mut parent.value {
        Value::Mapping(map) => map
            .remove(last)
            .ok_or_else(|| format!("{} does not exist", pointer_of(tokens))),
        Value::Sequence(items) => {
            let at = index(last, items.len(), false)?;
            Ok(items.remove(at))
        }
        Value::Scalar(_) => Err(format!("{} does not exist", pointer_of(tokens))),
    }
}
