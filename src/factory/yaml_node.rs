//! A small YAML node tree with source positions, built from `saphyr-parser` events.
//!
//! The schematic decoder needs what a typed serde decoder hides: the raw text of every
//! scalar and whether it was quoted (Go's yaml package resolves `0xa`, `yes` or `1_000`
//! differently depending on the target type and the quoting), and the line and column of
//! every node for error messages. Aliases are expanded by copying the anchored node, with
//! a budget so a crafted file cannot explode memory.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Where a node starts in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Mark {
    fn from_span(span: &Span) -> Mark {
        Mark {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A scalar as written in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's value after unquoting/unfolding.
    pub value: String,
    /// Plain (unquoted) scalars are resolved to null/bool/int/float; others are strings.
    pub plain: bool,
    /// An explicit `!!str` tag forces a string.
    pub tagged_str: bool,
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in source order (duplicates are kept; the decoder rejects them).
    Mapping(Vec<(Node, Node)>),
}

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub mark: Mark,
    /// The content.
    pub kind: NodeKind,
}

/// A syntax problem found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the problem was found.
    pub mark: Mark,
    /// What is wrong.
    pub message: String,
}

/// What the source holds.
#[derive(Debug)]
pub enum Document {
    /// No document at all (empty file, comments only).
    Empty,
    /// Exactly one document.
    Node(Node),
}

/// Upper bound on the number of nodes created by alias expansion.
const ALIAS_BUDGET: usize = 10_000;

/// Parses `text` into at most one document; a second document is an error.
pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            mark: Mark {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        builder.event(event, &span)?;
    }
    Ok(match builder.document {
        Some(node) => Document::Node(node),
        None => Document::Empty,
    })
}

enum Open {
    Sequence(Mark, usize, Vec<Node>),
    Mapping(Mark, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: std::collections::HashMap<usize, Node>,
    document: Option<Node>,
    documents_seen: usize,
    alias_nodes: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), SyntaxError> {
        let mark = Mark::from_span(span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(_) => {
                self.documents_seen += 1;
                if self.documents_seen > 1 {
                    return Err(SyntaxError {
                        mark,
                        message: "a schematic is one YAML document; found a second one".to_string(),
                    });
                }
                Ok(())
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tagged_str = is_str_tag(tag.as_ref());
                check_tag(tag.as_ref(), mark, "scalar")?;
                let node = Node {
                    mark,
                    kind: NodeKind::Scalar(Scalar {
                        value: value.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain) && !tagged_str,
                        tagged_str,
                    }),
                };
                self.push(node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_ref(), mark, "sequence")?;
                self.stack.push(Open::Sequence(mark, anchor, Vec::new()));
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_ref(), mark, "mapping")?;
                self.stack.push(Open::Mapping(mark, anchor, Vec::new(), None));
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Sequence(start, anchor, items)) => self.push(
                    Node {
                        mark: start,
                        kind: NodeKind::Sequence(items),
                    },
                    anchor,
                ),
                _ => Err(SyntaxError {
                    mark,
                    message: "unbalanced sequence end".to_string(),
                }),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Mapping(start, anchor, entries, None)) => self.push(
                    Node {
                        mark: start,
                        kind: NodeKind::Mapping(entries),
                    },
                    anchor,
                ),
                _ => Err(SyntaxError {
                    mark,
                    message: "unbalanced mapping end".to_string(),
                }),
            },
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError {
                        mark,
                        message: "alias to an unknown anchor".to_string(),
                    });
                };
                self.alias_nodes += count_nodes(&node);
                if self.alias_nodes > ALIAS_BUDGET {
                    return Err(SyntaxError {
                        mark,
                        message: format!("aliases expand to more than {ALIAS_BUDGET} nodes"),
                    });
                }
                self.push(node, 0)
            }
        }
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.document = Some(node);
            }
            Some(Open::Sequence(_, _, items)) => items.push(node),
            Some(Open::Mapping(_, _, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Sequence(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Mapping(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

fn is_str_tag(tag: Option<&Cow<'_, Tag>>) -> bool {
    tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str")
}

/// Only the core-schema tags that do not change a value's meaning are accepted: `!!str` on
/// scalars and `!!seq`/`!!map` on collections. Anything else would need Go's tag handling
/// to be reproduced exactly, so it is rejected with its position.
fn check_tag(tag: Option<&Cow<'_, Tag>>, mark: Mark, what: &str) -> Result<(), SyntaxError> {
    let Some(tag) = tag else { return Ok(()) };
    let allowed = tag.is_yaml_core_schema()
        && match what {
            "scalar" => tag.suffix == "str",
            "sequence" => tag.suffix == "seq",
            _ => tag.suffix == "map",
        };
    if allowed {
        Ok(())
    } else {
        Err(SyntaxError {
            mark,
            message: format!("the tag `{tag}` is not supported in a schematic"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        match parse(text).expect("parses") {
            Document::Node(node) => node,
            Document::Empty => panic!("expected a document"),
        }
    }

    #[test]
    fn records_positions_and_plainness() {
        let node = root("a:\n  - 'x'\n  - y\n");
        let NodeKind::Mapping(entries) = node.kind else {
            panic!("mapping")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.mark, Mark { line: 1, column: 1 });
        let NodeKind::Sequence(items) = &value.kind else {
            panic!("sequence")
        };
        assert_eq!(items[0].mark, Mark { line: 2, column: 5 });
        assert!(matches!(&items[0].kind, NodeKind::Scalar(s) if !s.plain && s.value == "x"));
        assert!(matches!(&items[1].kind, NodeKind::Scalar(s) if s.plain && s.value == "y"));
    }

    #[test]
    fn empty_input_is_no_document() {
        assert!(matches!(parse("").expect("parses"), Document::Empty));
        assert!(matches!(parse("# only a comment\n").expect("parses"), Document::Empty));
    }

    #[test]
    fn second_document_is_rejected() {
        let err = parse("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!(err.mark.line, 2);
    }

    #[test]
    fn aliases_are_expanded() {
        let node = root("a: &x [1, 2]\nb: *x\n");
        let NodeKind::Mapping(entries) = node.kind else {
            panic!("mapping")
        };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
    }

    #[test]
    fn unknown_tags_are_rejected() {
        let err = parse("a: !!binary aGVsbG8=\n").expect_err("binary tag");
        assert!(
            err.message.contains("!!binary") || err.message.contains("binary"),
            "{}",
            err.message
        );
        assert!(matches!(parse("a: !!str 10\n").expect("str tag"), Document::Node(_)));
    }
}
