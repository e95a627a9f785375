//! Parsing YAML text (one or many documents) into [`Node`] trees, with positions.
//!
//! Built on `saphyr-parser`'s event stream so scalar styles, tags and positions survive.
//! Like go-yaml's decoder (which Talos and the Image Factory use): duplicate mapping keys
//! are errors, aliases are expanded, merge keys (`<<`) are applied with explicit keys
//! winning. Unlike it, mapping keys must be scalars (Talos configs and schematics only have
//! scalar keys), and tags on collections are reported beside the tree rather than kept in
//! it ([`ParsedDocument::collection_tags`]).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, Span, Tag};

use super::path::{Path, Segment};
use super::value::{Entry, Mapping, Node, Position, Scalar, ScalarStyle, Value};

/// Deepest nesting accepted; deeper input is rejected rather than risking the stack.
pub const MAX_DEPTH: usize = 256;
/// Most nodes alias expansion may produce in one stream ("billion laughs" guard).
const MAX_ALIAS_NODES: usize = 100_000;

/// YAML text that could not be parsed into a tree. Displayed as `line L, column C: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not YAML (the scanner's or parser's message).
    Syntax {
        /// Where the problem was found.
        position: Position,
        /// What the YAML parser reported.
        message: String,
    },
    /// The same key twice in one mapping.
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Where the key stands in its document (the mapping's path, then the key).
        path: Path,
        /// Where it is repeated.
        position: Position,
        /// Where it first appears.
        first: Position,
    },
    /// A sequence or mapping used as a mapping key.
    ComplexKey {
        /// Where the key starts.
        position: Position,
    },
    /// A merge key (`<<`) whose value is not a mapping or a list of mappings.
    BadMerge {
        /// Where the merge value starts.
        position: Position,
    },
    /// An alias to an anchor that was not defined before it.
    UnknownAnchor {
        /// Where the alias is.
        position: Position,
    },
    /// Nesting deeper than the limit, or aliases expanding to too many nodes.
    TooComplex {
        /// Where the limit was hit.
        position: Position,
    },
}

impl ParseError {
    /// Where the problem is.
    pub fn position(&self) -> Position {
        match self {
            ParseError::Syntax { position, .. }
            | ParseError::DuplicateKey { position, .. }
            | ParseError::ComplexKey { position }
            | ParseError::BadMerge { position }
            | ParseError::UnknownAnchor { position }
            | ParseError::TooComplex { position } => *position,
        }
    }

    /// What is wrong, without the position: for callers that show positions their own way
    /// (`file:line:column`).
    pub fn reason(&self) -> String {
        match self {
            ParseError::Syntax { message, .. } => message.clone(),
            ParseError::DuplicateKey { key, first, .. } => {
                format!("mapping key {key:?} already defined at line {}", first.line)
            }
            ParseError::ComplexKey { .. } => "mapping keys must be scalars".into(),
            ParseError::BadMerge { .. } => "merge key << needs a mapping or a list of mappings".into(),
            ParseError::UnknownAnchor { .. } => "unknown anchor".into(),
            ParseError::TooComplex { .. } => "document too deeply nested or too many alias expansions".into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let position = self.position();
        write!(
            f,
            "line {}, column {}: {}",
            position.line,
            position.column,
            self.reason()
        )
    }
}

impl std::error::Error for ParseError {}

impl crate::error::Classify for ParseError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

/// One parsed document of a stream.
#[derive(Debug, Clone)]
pub struct ParsedDocument {
    /// The document's root (an empty document is a null scalar).
    pub root: Node,
    /// Where the document starts (its `---` or first content).
    pub start: Position,
    /// Its index in the stream, from 0.
    pub index: usize,
    /// Explicit tags on its sequences and mappings, in document order; the tree does not
    /// keep them (Talos configs never carry any), so strict readers can refuse them here.
    pub collection_tags: Vec<CollectionTag>,
}

/// An explicit tag on a sequence or mapping (`!!set {a: null}`, `!!seq [a]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionTag {
    /// The tag in short form (`!!set`, `!custom`).
    pub tag: String,
    /// Where the collection starts.
    pub position: Position,
    /// True for a mapping, false for a sequence.
    pub on_mapping: bool,
}

/// Parses every document of a YAML stream.
///
/// # Errors
/// [`ParseError`] with the line and column of the first problem.
pub fn parse_stream(text: &str) -> Result<Vec<ParsedDocument>, ParseError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let mut documents = Vec::new();
    let mut doc_start: Option<Position> = None;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| ParseError::Syntax {
            position: Position::of_marker(e.marker()),
            message: e.info().to_string(),
        })?;
        let at = position(&span);
        match event {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                doc_start = Some(at);
                builder.anchors.clear();
            }
            Event::DocumentEnd => {
                let root = builder
                    .root
                    .take()
                    .unwrap_or_else(|| Node::null().with_position(doc_start));
                documents.push(ParsedDocument {
                    root,
                    start: doc_start.unwrap_or(at),
                    index: documents.len(),
                    collection_tags: std::mem::take(&mut builder.collection_tags),
                });
                doc_start = None;
            }
            other => builder.event(other, at)?,
        }
    }
    Ok(documents)
}

/// Parses text that holds exactly one document (empty text is a null document).
///
/// # Errors
/// [`ParseError`] for bad YAML; [`ParseError::Syntax`] when there is more than one document.
pub fn parse_one(text: &str) -> Result<Node, ParseError> {
    let mut documents = parse_stream(text)?;
    match documents.len() {
        0 => Ok(Node::null()),
        1 => Ok(documents.remove(0).root),
        _ => Err(ParseError::Syntax {
            position: documents[1].start,
            message: "expected a single YAML document, found more".into(),
        }),
    }
}

fn position(span: &Span) -> Position {
    Position::of_marker(&span.start)
}

/// A collection being built.
enum Frame {
    Sequence {
        items: Vec<Node>,
        position: Position,
        anchor: usize,
    },
    Mapping {
        mapping: Mapping,
        /// Where each key was first defined, for duplicate-key errors.
        first_seen: HashMap<String, Position>,
        pending_key: Option<(Scalar, Position)>,
        merges: Vec<Node>,
        position: Position,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    alias_budget_used: usize,
    collection_tags: Vec<CollectionTag>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, at: Position) -> Result<(), ParseError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let scalar = Scalar::with_style(text.into_owned(), convert_style(style));
                let scalar = match tag {
                    Some(tag) => scalar.with_tag(short_tag(&tag)),
                    None => scalar,
                };
                let node = Node::new(Value::Scalar(scalar)).with_position(Some(at));
                self.complete(node, anchor)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err(ParseError::UnknownAnchor { position: at });
                };
                self.alias_budget_used += count_nodes(node);
                if self.alias_budget_used > MAX_ALIAS_NODES {
                    return Err(ParseError::TooComplex { position: at });
                }
                let node = node.clone();
                self.complete(node, 0)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_depth(at)?;
                self.note_tag(tag.as_deref(), at, false);
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    position: at,
                    anchor,
                });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                self.check_depth(at)?;
                self.note_tag(tag.as_deref(), at, true);
                self.stack.push(Frame::Mapping {
                    mapping: Mapping::new(),
                    first_seen: HashMap::new(),
                    pending_key: None,
                    merges: Vec::new(),
                    position: at,
                    anchor,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence {
                    items,
                    position,
                    anchor,
                }) => self.complete(Node::sequence(items).with_position(Some(position)), anchor),
                _ => Err(unbalanced(at)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping {
                    mut mapping,
                    merges,
                    position,
                    anchor,
                    ..
                }) => {
                    apply_merges(&mut mapping, merges)?;
                    self.complete(Node::mapping(mapping).with_position(Some(position)), anchor)
                }
                _ => Err(unbalanced(at)),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    fn note_tag(&mut self, tag: Option<&Tag>, position: Position, on_mapping: bool) {
        if let Some(tag) = tag {
            self.collection_tags.push(CollectionTag {
                tag: short_tag(tag),
                position,
                on_mapping,
            });
        }
    }

    /// The path of the innermost collection being built (each open sequence contributes the
    /// index of the item being built, each open mapping the key whose value is).
    fn open_path(&self) -> Path {
        let steps = self.stack.iter().take(self.stack.len().saturating_sub(1));
        Path::from_segments(
            steps
                .filter_map(|frame| match frame {
                    Frame::Sequence { items, .. } => Some(Segment::Index(items.len())),
                    Frame::Mapping { pending_key, .. } => pending_key
                        .as_ref()
                        .map(|(key, _)| Segment::Key(key.text().to_string())),
                })
                .collect(),
        )
    }

    fn check_depth(&self, at: Position) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::TooComplex { position: at });
        }
        Ok(())
    }

    /// A node is finished: record its anchor and hand it to its parent.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), ParseError> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let at = node.position.unwrap_or(Position::new(1, 1));
        let result = match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Sequence { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Mapping {
                mapping,
                first_seen,
                pending_key,
                merges,
                ..
            }) => match pending_key.take() {
                None => match node.value {
                    Value::Scalar(key) => {
                        *pending_key = Some((key, at));
                        Ok(())
                    }
                    _ => Err(ParseError::ComplexKey { position: at }),
                },
                Some((key, key_position)) => {
                    if key.text() == "<<" && key.is_plain() {
                        merges.push(node);
                        return Ok(());
                    }
                    if let Some(first) = first_seen.get(key.text()) {
                        // The path is filled in below, once the stack is no longer borrowed.
                        Err(ParseError::DuplicateKey {
                            key: key.text().to_string(),
                            path: Path::root(),
                            position: key_position,
                            first: *first,
                        })
                    } else {
                        first_seen.insert(key.text().to_string(), key_position);
                        mapping.insert_entry(Entry {
                            key,
                            key_position: Some(key_position),
                            value: node,
                        });
                        Ok(())
                    }
                }
            },
        };
        match result {
            Err(ParseError::DuplicateKey {
                key, position, first, ..
            }) => Err(ParseError::DuplicateKey {
                path: self.open_path().key(key.clone()),
                key,
                position,
                first,
            }),
            other => other,
        }
    }
}

/// Applies `<<` merges: keys already present win, earlier merged mappings win over later.
fn apply_merges(mapping: &mut Mapping, merges: Vec<Node>) -> Result<(), ParseError> {
    for merge in merges {
        let at = merge.position.unwrap_or(Position::new(1, 1));
        let sources: Vec<Node> = match merge.value {
            Value::Mapping(_) => vec![merge],
            Value::Sequence(items) => items,
            Value::Scalar(_) => return Err(ParseError::BadMerge { position: at }),
        };
        for source in sources {
            let Value::Mapping(source) = source.value else {
                return Err(ParseError::BadMerge { position: at });
            };
            for entry in source.entries() {
                if !mapping.contains_key(entry.key.text()) {
                    mapping.insert_entry(entry.clone());
                }
            }
        }
    }
    Ok(())
}

fn unbalanced(at: Position) -> ParseError {
    ParseError::Syntax {
        position: at,
        message: "unbalanced collection end".into(),
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Sequence(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Mapping(map) => 1 + map.entries().iter().map(|e| 1 + count_nodes(&e.value)).sum::<usize>(),
    }
}

fn convert_style(style: SaphyrStyle) -> ScalarStyle {
    match style {
        SaphyrStyle::Plain => ScalarStyle::Plain,
        SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
        SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
        SaphyrStyle::Literal => ScalarStyle::Literal,
        SaphyrStyle::Folded => ScalarStyle::Folded,
    }
}

/// `tag:yaml.org,2002:str` → `!!str`; local tags keep their `!`; verbatim tags become `!<…>`.
fn short_tag(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        format!("!<{}>", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::path::Path;
    use crate::yaml::value::Resolved;

    #[test]
    fn parses_styles_positions_and_multiple_documents() {
        let text = "a: 1\nb: \"1\"\nc: |\n  x\n  y\n---\nkind: HostnameConfig\n";
        let docs = parse_stream(text).expect("valid YAML");
        assert_eq!(docs.len(), 2);
        let a = docs[0].root.get("a").expect("a");
        assert_eq!(a.as_scalar().map(Scalar::resolve), Some(Resolved::Int(1)));
        assert_eq!(a.position, Some(Position::new(1, 4)));
        let b = docs[0].root.get("b").and_then(Node::as_scalar).expect("b");
        assert_eq!((b.text(), b.style()), ("1", ScalarStyle::DoubleQuoted));
        let c = docs[0].root.get("c").and_then(Node::as_scalar).expect("c");
        assert_eq!((c.text(), c.style()), ("x\ny\n", ScalarStyle::Literal));
        assert_eq!(docs[1].start.line, 6);
        assert_eq!(
            docs[1]
                .root
                .as_mapping()
                .and_then(|m| m.entry("kind"))
                .and_then(|e| e.key_position),
            Some(Position::new(7, 1))
        );
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_lines() {
        let err = parse_stream("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "line 3, column 1: mapping key \"a\" already defined at line 1"
        );
    }

    #[test]
    fn syntax_errors_carry_positions() {
        let err = parse_stream("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert!(matches!(err, ParseError::Syntax { .. }), "{err:?}");
        assert!(err.position().line >= 1);
    }

    #[test]
    fn aliases_expand_and_merge_keys_apply_with_explicit_keys_winning() {
        let text = "base: &b\n  x: 1\n  y: 2\nderived:\n  y: 3\n  <<: *b\nlist: *b\n";
        let root = parse_one(text).expect("valid");
        let derived = root.get("derived").and_then(Node::as_mapping).expect("derived");
        assert_eq!(derived.keys().collect::<Vec<_>>(), ["y", "x"]);
        assert_eq!(derived.get("y").and_then(Node::as_i64), Some(3));
        assert!(root.get("list").expect("list").yaml_eq(root.get("base").expect("base")));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(matches!(parse_stream(&bomb), Err(ParseError::TooComplex { .. })));
        let deep: String = (0..=MAX_DEPTH)
            .map(|level| format!("{}a:\n", " ".repeat(level)))
            .collect();
        assert!(matches!(parse_stream(&deep), Err(ParseError::TooComplex { .. })));
        let shallow: String = (0..MAX_DEPTH - 1)
            .map(|level| format!("{}a:\n", " ".repeat(level)))
            .collect();
        assert!(parse_stream(&shallow).is_ok());
    }

    #[test]
    fn tags_are_kept_in_short_form() {
        let root = parse_one("a: !!str 1\nb: !custom x\n").expect("valid");
        let a = root
            .get_path(&Path::parse("a").expect("path"))
            .and_then(Node::as_scalar)
            .expect("a");
        assert_eq!((a.tag(), a.resolve()), (Some("!!str"), Resolved::Str("1")));
        assert_eq!(
            root.get("b").and_then(Node::as_scalar).and_then(Scalar::tag),
            Some("!custom")
        );
    }

    #[test]
    fn empty_documents_are_null() {
        let docs = parse_stream("---\n---\na: 1\n").expect("valid");
        assert_eq!(docs.len(), 2);
        assert!(docs[0].root.is_null());
        assert!(parse_stream("").expect("empty").is_empty());
        assert!(parse_one("").expect("empty").is_null());
        assert!(parse_one("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn duplicate_keys_name_their_path() {
        let err = parse_stream("a:\n  - x: 1\n  - y: 1\n    y: 2\n").expect_err("duplicate");
        let ParseError::DuplicateKey {
            path, position, first, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(path.to_string(), "a[1].y");
        assert_eq!((*position, first.line), (Position::new(4, 5), 3));
        assert_eq!(err.reason(), "mapping key \"y\" already defined at line 3");
        // Keys are compared by text, as go-yaml does: `1` and `"1"` are the same key.
        let err = parse_one("m:\n  1: a\n  \"1\": b\n").expect_err("duplicate");
        assert!(
            matches!(&err, ParseError::DuplicateKey { path, .. } if path.to_string() == "m.1"),
            "{err:?}"
        );
    }

    #[test]
    fn collection_tags_are_listed_beside_the_tree() {
        let docs = parse_stream("a: !!set {x: null}\nb: !!seq [1]\nc: !!str s\n---\nd: 1\n").expect("valid");
        let tags: Vec<_> = docs[0]
            .collection_tags
            .iter()
            .map(|t| (t.tag.as_str(), t.position.line, t.on_mapping))
            .collect();
        assert_eq!(tags, [("!!set", 1, true), ("!!seq", 2, false)]);
        assert!(docs[1].collection_tags.is_empty());
        // The tree itself is untouched by them.
        assert!(
            docs[0]
                .root
                .get("a")
                .and_then(Node::as_mapping)
                .is_some_and(|m| m.contains_key("x"))
        );
    }

    #[test]
    fn positions_are_one_based_for_keys_and_items() {
        let root = parse_one("a:\n  - 'x'\n  - y\n").expect("valid");
        let entry = root.as_mapping().and_then(|m| m.entry("a")).expect("a");
        assert_eq!(entry.key_position, Some(Position::new(1, 1)));
        let items = entry.value.as_sequence().expect("sequence");
        assert_eq!(items[0].position, Some(Position::new(2, 5)));
        assert_eq!(items[0].as_scalar().map(Scalar::style), Some(ScalarStyle::SingleQuoted));
        assert_eq!(items[1].as_scalar().map(Scalar::style), Some(ScalarStyle::Plain));
        // Comments only: no document at all.
        assert!(parse_stream("# only a comment\n").expect("valid").is_empty());
    }
}
