//! Telling the patch forms apart (reference `talos.md` §D.1): a strategic merge patch is
//! YAML documents Talos can identify (legacy v1alpha1 keys, or `apiVersion` + `kind`); a
//! JSON patch is a list of operations, in JSON or YAML.

use super::json6902::{JsonOp, ops_from_node};
use super::{Patch, PatchBody, PatchError, delete};
use crate::talos::config::documents::DocumentId;
use crate::talos::config::value::{Node, Position};
use crate::yaml::parse::parse_stream;

/// Parses patch text; see [`super::load_patch`].
pub(super) fn parse(name: String, text: &str) -> Result<Patch, PatchError> {
    let load_error = |position: Option<Position>, reason: String| PatchError::Load {
        patch: name.clone(),
        position,
        reason,
    };
    let strategic = strategic(text);
    let documents = match strategic {
        Ok(documents) => {
            return Ok(Patch {
                name,
                body: PatchBody::Strategic(documents),
            });
        }
        Err(problem) => problem,
    };
    let json = json_ops(text);
    match json {
        Ok(ops) => Ok(Patch {
            name,
            body: PatchBody::Json(ops),
        }),
        Err(json_problem) => {
            // Talos reports the JSON-patch problem for text starting with `[`; we also do for
            // any YAML list, which can only have been meant as operations.
            let is_list = parse_stream(text).is_ok_and(|docs| docs.iter().any(|d| d.root.as_sequence().is_some()));
            let (position, reason) = if text.trim_start().starts_with('[') || is_list {
                json_problem
            } else {
                documents
            };
            Err(load_error(position, reason))
        }
    }
}

type Problem = (Option<Position>, String);

/// The documents of a strategic merge patch.
fn strategic(text: &str) -> Result<Vec<Node>, Problem> {
    let parsed = parse_stream(text).map_err(|e| (Some(e.position()), format!("invalid YAML: {e}")))?;
    let mut documents = Vec::new();
    for document in parsed {
        let root = document.root;
        if root.is_null() {
            continue;
        }
        let Some(map) = root.as_mapping() else {
            return Err((
                root.position,
                format!(
                    "expected a mapping (a strategic merge patch) or a list of JSON patch operations, found a {}",
                    root.kind_name()
                ),
            ));
        };
        if delete::is_document_delete(&root) {
            match (map.contains_key("apiVersion"), map.contains_key("kind")) {
                (true, true) => {}
                (false, false) => {
                    return Err((root.position, "can't delete the root of the legacy document".into()));
                }
                _ => {
                    return Err((
                        root.position,
                        "a whole-document `$patch: delete` needs apiVersion and kind both set (and name for named documents)"
                            .into(),
                    ));
                }
            }
        }
        DocumentId::of(&root).map_err(|e| (root.position, e.to_string()))?;
        documents.push(root);
    }
    Ok(documents)
}

/// The operations of a JSON patch written as JSON or as a YAML list.
fn json_ops(text: &str) -> Result<Vec<JsonOp>, Problem> {
    match parse_stream(text) {
        Ok(parsed) => {
            let mut roots = parsed.into_iter().map(|d| d.root).filter(|r| !r.is_null());
            match (roots.next(), roots.next()) {
                (Some(root), None) if root.as_sequence().is_some() => ops_from_node(&root),
                _ => Err((None, "a JSON patch is one list of operations".into())),
            }
        }
        Err(yaml_error) => {
            // Some valid JSON is not valid YAML for every parser; try JSON proper.
            let json: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| (Some(yaml_error.position()), format!("neither YAML nor JSON: {e}")))?;
            ops_from_node(&node_from_json(&json))
        }
    }
}

/// A JSON value as a tree (strings double-quoted so they stay strings).
fn node_from_json(json: &serde_json::Value) -> Node {
    use crate::talos::config::value::{Mapping, Scalar, ScalarStyle};
    match json {
        serde_json::Value::Null => Node::null(),
        serde_json::Value::Bool(b) => Node::bool(*b),
        serde_json::Value::Number(n) => Node::plain(n.to_string()),
        serde_json::Value::String(s) => Node::from(Scalar::with_style(s.as_str(), ScalarStyle::DoubleQuoted)),
        serde_json::Value::Array(items) => Node::sequence(items.iter().map(node_from_json).collect()),
        serde_json::Value::Object(map) => {
            let mut mapping = Mapping::new();
            for (key, value) in map {
                mapping.insert(key.as_str(), node_from_json(value));
            }
            Node::mapping(mapping)
        }
    }
}
