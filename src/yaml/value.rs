//! The ordered YAML value tree that machine configs and schematics are read into.
//!
//! Talos and the Image Factory decode YAML into Go structs and write it back with go-yaml.
//! We keep the YAML itself instead, because three things must survive that a typed model
//! would lose: mapping order (so output matches Go's field order byte for byte), the literal
//! text and style of scalars (a sysctl `1` stays the text `1`; reference `talos.md` §D.7:
//! every string field accepts any scalar; a schematic's `0xa` is an integer only where it
//! is unquoted), and source positions (errors name `file:line:column`).
//!
//! Scalars resolve their type the way go-yaml does ([`Scalar::resolve`], rules in
//! [`super::resolve`]), which is what YAML-equality ([`Node::yaml_eq`]) compares and what
//! the emitter uses to decide quoting.

use std::fmt;

use super::path::{Path, PathError, Segment};
pub use super::resolve::Resolved;
use super::resolve::{go_string_style, resolve_plain};

/// A place in a source text: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number, starting at 1, counted in characters.
    pub column: usize,
}

impl Position {
    /// A position from 1-based line and column.
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }

    /// Where a saphyr marker points (saphyr counts columns from 0), so that both parsers'
    /// trees and errors report places the same way.
    pub fn of_marker(marker: &saphyr_parser::Marker) -> Self {
        Position::new(marker.line(), marker.col() + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// How a scalar is (or was) written. The emitter honours it where YAML allows and falls
/// back the way go-yaml does (plain → single-quoted → double-quoted) where it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// Unquoted; the type is resolved from the text (`1` is an int, `true` a bool).
    Plain,
    /// `'text'`; always a string.
    SingleQuoted,
    /// `"text"`; always a string.
    DoubleQuoted,
    /// `|` block; always a string.
    Literal,
    /// `>` block; always a string (written back as a literal block, same value).
    Folded,
}

/// A scalar: its text exactly as decoded, the style it was written in and an explicit tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scalar {
    text: String,
    style: ScalarStyle,
    tag: Option<String>,
}

impl Scalar {
    /// A string scalar styled as go-yaml writes a Go `string`: plain when that reads
    /// back as the same string, double-quoted when plain text would read as another type
    /// (`"true"`, `"1"`, `""`), a literal block when it spans lines.
    pub fn string(text: impl Into<String>) -> Self {
        let text = text.into();
        let style = go_string_style(&text);
        Scalar { text, style, tag: None }
    }

    /// A plain scalar with exactly this text (numbers, booleans, or text that is meant to be
    /// resolved like the YAML it came from).
    pub fn plain(text: impl Into<String>) -> Self {
        Scalar {
            text: text.into(),
            style: ScalarStyle::Plain,
            tag: None,
        }
    }

    /// A scalar with an explicit style.
    pub fn with_style(text: impl Into<String>, style: ScalarStyle) -> Self {
        Scalar {
            text: text.into(),
            style,
            tag: None,
        }
    }

    /// The null scalar (written `null`).
    pub fn null() -> Self {
        Scalar::plain("null")
    }

    /// Adds an explicit tag, in short form (`!!str`, `!custom`).
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// The decoded text (escapes processed, block indentation removed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The style the scalar is written in.
    pub fn style(&self) -> ScalarStyle {
        self.style
    }

    /// The explicit tag, short form (`!!str`), if the source had one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Returns true if and only if the scalar is a plain scalar without a tag, i.e. its type
    /// comes from its text.
    pub fn is_plain(&self) -> bool {
        self.style == ScalarStyle::Plain && self.tag.is_none()
    }

    /// The scalar's typed value under go-yaml's rules: quoted and block scalars are
    /// strings; plain scalars resolve by their text; core tags (`!!str`, `!!int`, …) force
    /// their type where the text allows it.
    pub fn resolve(&self) -> Resolved<'_> {
        match self.tag.as_deref() {
            Some("!!str") | Some("!!binary") => return Resolved::Str(&self.text),
            Some("!!null") => return Resolved::Null,
            Some("!!bool") | Some("!!int") | Some("!!float") | Some("!!timestamp") => {
                return resolve_plain(&self.text);
            }
            Some(_) => return Resolved::Str(&self.text),
            None => {}
        }
        if self.style == ScalarStyle::Plain {
            resolve_plain(&self.text)
        } else {
            Resolved::Str(&self.text)
        }
    }

    /// Returns true if and only if the scalar resolves to null.
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Resolved::Null)
    }

    /// Semantic equality: same resolved type and value.
    pub fn yaml_eq(&self, other: &Scalar) -> bool {
        match (self.resolve(), other.resolve()) {
            (Resolved::Float(a), Resolved::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One node of the tree: a value and, when it was parsed, where it started.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the node starts in its source (`None` for generated nodes).
    pub position: Option<Position>,
}

/// The three YAML node kinds. Aliases are expanded and merge keys (`<<`) applied at parse.
#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence, in order.
    Sequence(Vec<Node>),
    /// A mapping, in insertion order.
    Mapping(Mapping),
}

/// A mapping entry: a scalar key (with its own position) and its value.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key. Keys are compared by text (`1` and `"1"` are the same key, as for the
    /// string-keyed maps of Talos configs).
    pub key: Scalar,
    /// Where the key starts in its source.
    pub key_position: Option<Position>,
    /// The value.
    pub value: Node,
}

/// A mapping that keeps insertion order and has unique keys.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    entries: Vec<Entry>,
}

impl Mapping {
    /// An empty mapping.
    pub fn new() -> Self {
        Mapping::default()
    }

    /// Builder form of [`Mapping::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Node>) -> Self {
        self.insert(key, value);
        self
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if and only if the mapping has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key.text == key).map(|e| &e.value)
    }

    /// The value under `key`, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries
            .iter_mut()
            .find(|e| e.key.text == key)
            .map(|e| &mut e.value)
    }

    /// The entry under `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.text == key)
    }

    /// Index of `key` in insertion order.
    pub fn position_of(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.key.text == key)
    }

    /// Returns true if and only if `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position_of(key).is_some()
    }

    /// Sets `key` to `value`: replaces the value in place (keeping the key's position in
    /// the order) or appends a new entry. Returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Node>) -> Option<Node> {
        self.insert_entry(Entry {
            key: Scalar::string(key),
            key_position: None,
            value: value.into(),
        })
    }

    /// Like [`Mapping::insert`] with a full entry (key style and position kept).
    pub fn insert_entry(&mut self, entry: Entry) -> Option<Node> {
        match self.position_of(&entry.key.text) {
            Some(index) => Some(std::mem::replace(&mut self.entries[index].value, entry.value)),
            None => {
                self.entries.push(entry);
                None
            }
        }
    }

    /// Sets `key` to `value`, placing a new key where a Go struct with fields in `order`
    /// would write it: after the last present key that comes before it in `order`, before
    /// the first present key that comes after it. Keys unknown to `order` go last. An
    /// existing key is replaced in place. Returns the previous value.
    pub fn insert_ordered(&mut self, key: impl Into<String>, value: impl Into<Node>, order: &[&str]) -> Option<Node> {
        let key = key.into();
        let value = value.into();
        if let Some(index) = self.position_of(&key) {
            return Some(std::mem::replace(&mut self.entries[index].value, value));
        }
        let entry = Entry {
            key: Scalar::string(key.clone()),
            key_position: None,
            value,
        };
        let Some(rank) = order.iter().position(|k| *k == key) else {
            self.entries.push(entry);
            return None;
        };
        let at = self
            .entries
            .iter()
            .position(|e| {
                order
                    .iter()
                    .position(|k| *k == e.key.text)
                    .is_some_and(|other| other > rank)
            })
            .unwrap_or(self.entries.len());
        self.entries.insert(at, entry);
        None
    }

    /// Removes `key`, keeping the order of the rest. Returns the removed value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let index = self.position_of(key)?;
        Some(self.entries.remove(index).value)
    }

    /// The entries in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries in order, mutable (keys may be renamed; keep them unique).
    pub fn entries_mut(&mut self) -> &mut Vec<Entry> {
        &mut self.entries
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|e| (e.key.text.as_str(), &e.value))
    }

    /// `(key, value)` pairs in order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Node)> {
        self.entries.iter_mut().map(|e| (e.key.text.as_str(), &mut e.value))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.text.as_str())
    }

    /// Semantic equality: same key set, YAML-equal values, order ignored.
    pub fn yaml_eq(&self, other: &Mapping) -> bool {
        self.len() == other.len()
            && self
                .entries
                .iter()
                .all(|e| other.get(&e.key.text).is_some_and(|v| e.value.yaml_eq(v)))
    }
}

impl Node {
    /// A node without source position.
    pub fn new(value: Value) -> Self {
        Node { value, position: None }
    }

    /// The null node.
    pub fn null() -> Self {
        Node::new(Value::Scalar(Scalar::null()))
    }

    /// A string node styled as go-yaml writes a Go `string` (see [`Scalar::string`]).
    pub fn string(text: impl Into<String>) -> Self {
        Node::new(Value::Scalar(Scalar::string(text)))
    }

    /// A plain scalar node with exactly this text.
    pub fn plain(text: impl Into<String>) -> Self {
        Node::new(Value::Scalar(Scalar::plain(text)))
    }

    /// A boolean node.
    pub fn bool(value: bool) -> Self {
        Node::plain(if value { "true" } else { "false" })
    }

    /// An integer node.
    pub fn int(value: i64) -> Self {
        Node::plain(value.to_string())
    }

    /// A mapping node.
    pub fn mapping(mapping: Mapping) -> Self {
        Node::new(Value::Mapping(mapping))
    }

    /// A sequence node.
    pub fn sequence(items: Vec<Node>) -> Self {
        Node::new(Value::Sequence(items))
    }

    /// A sequence of string nodes.
    pub fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        Node::sequence(items.into_iter().map(Node::string).collect())
    }

    /// Sets the source position.
    pub fn with_position(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is one.
    pub fn as_mapping(&self) -> Option<&Mapping> {
        match &self.value {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, mutable, if this is one.
    pub fn as_mapping_mut(&mut self) -> Option<&mut Mapping> {
        match &mut self.value {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, if this is one.
    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// The sequence, mutable, if this is one.
    pub fn as_sequence_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a non-null scalar, whatever its resolved type: how Talos reads a scalar
    /// into a Go `string` field (`1`, `"1"` and `true` all give their text).
    pub fn as_str(&self) -> Option<&str> {
        let scalar = self.as_scalar()?;
        (!scalar.is_null()).then_some(scalar.text())
    }

    /// The value of a scalar that resolves to a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_scalar()?.resolve() {
            Resolved::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value of a scalar that resolves to an integer fitting `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self.as_scalar()?.resolve() {
            Resolved::Int(i) => i64::try_from(i).ok(),
            _ => None,
        }
    }

    /// Returns true if and only if this is a scalar resolving to null (absent for Talos).
    pub fn is_null(&self) -> bool {
        self.as_scalar().is_some_and(Scalar::is_null)
    }

    /// What kind of node this is, for error messages: `mapping`, `sequence` or `scalar`.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Scalar(_) => "scalar",
            Value::Sequence(_) => "sequence",
            Value::Mapping(_) => "mapping",
        }
    }

    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?.get(key)
    }

    /// The list under `key`; empty when there is none (absent, null or not a sequence).
    pub fn items(&self, key: &str) -> &[Node] {
        self.get(key).and_then(Node::as_sequence).unwrap_or_default()
    }

    /// The value under `key` when this node is a mapping, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_mapping_mut()?.get_mut(key)
    }

    /// The node at `path`, if every step exists.
    pub fn get_path(&self, path: &Path) -> Option<&Node> {
        let mut node = self;
        for segment in path.segments() {
            node = match segment {
                Segment::Key(key) => node.get(key)?,
                Segment::Index(index) => node.as_sequence()?.get(*index)?,
            };
        }
        Some(node)
    }

    /// The node at `path`, mutable, if every step exists.
    pub fn get_path_mut(&mut self, path: &Path) -> Option<&mut Node> {
        let mut node = self;
        for segment in path.segments() {
            node = match segment {
                Segment::Key(key) => node.get_mut(key)?,
                Segment::Index(index) => node.as_sequence_mut()?.get_mut(*index)?,
            };
        }
        Some(node)
    }

    /// Sets the node at `path`, creating missing mappings on the way (a null on the way
    /// counts as missing). An index equal to the sequence length appends. Returns the
    /// replaced node.
    ///
    /// # Errors
    /// [`PathError`] when a step crosses a node of the wrong kind or an index is past the
    /// end of a sequence; the error names the deepest path that was reached.
    pub fn set_path(&mut self, path: &Path, value: Node) -> Result<Option<Node>, PathError> {
        let segments = path.segments();
        let Some((last, parents)) = segments.split_last() else {
            return Ok(Some(std::mem::replace(self, value)));
        };
        let mut node = self;
        for (depth, segment) in parents.iter().enumerate() {
            let next_is_index = matches!(segments[depth + 1], Segment::Index(_));
            node = step_or_create(node, segment, next_is_index, path, depth)?;
        }
        if node.is_null() {
            node.value = match last {
                Segment::Key(_) => Value::Mapping(Mapping::new()),
                Segment::Index(_) => Value::Sequence(Vec::new()),
            };
        }
        let at = || path.prefix(parents.len());
        match (last, &mut node.value) {
            (Segment::Key(key), Value::Mapping(map)) => Ok(map.insert(key.clone(), value)),
            (Segment::Index(index), Value::Sequence(items)) => {
                if *index < items.len() {
                    Ok(Some(std::mem::replace(&mut items[*index], value)))
                } else if *index == items.len() {
                    items.push(value);
                    Ok(None)
                } else {
                    Err(PathError::IndexOutOfRange {
                        path: at(),
                        index: *index,
                        len: items.len(),
                    })
                }
            }
            (Segment::Key(_), _) => Err(PathError::NotAMapping {
                path: at(),
                found: node.kind_name(),
            }),
            (Segment::Index(_), _) => Err(PathError::NotASequence {
                path: at(),
                found: node.kind_name(),
            }),
        }
    }

    /// Removes the node at `path`. Returns it, or `None` when nothing was there.
    pub fn remove_path(&mut self, path: &Path) -> Option<Node> {
        let (last, parents) = path.segments().split_last()?;
        let parent = self.get_path_mut(&Path::from_segments(parents.to_vec()))?;
        match (last, &mut parent.value) {
            (Segment::Key(key), Value::Mapping(map)) => map.remove(key),
            (Segment::Index(index), Value::Sequence(items)) if *index < items.len() => Some(items.remove(*index)),
            _ => None,
        }
    }

    /// Semantic equality: mapping order ignored, scalars compared by resolved type and
    /// value (`0x10` equals `16`, `"1"` does not equal `1`), positions ignored.
    pub fn yaml_eq(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Scalar(a), Value::Scalar(b)) => a.yaml_eq(b),
            (Value::Mapping(a), Value::Mapping(b)) => a.yaml_eq(b),
            (Value::Sequence(a), Value::Sequence(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.yaml_eq(y))
            }
            _ => false,
        }
    }

    /// This node as one YAML document in talosctl's style (see `emit`).
    pub fn to_yaml(&self) -> String {
        super::emit::emit_document(self)
    }
}

/// One step of `set_path`: descend into `segment`, creating the container when missing.
fn step_or_create<'a>(
    node: &'a mut Node,
    segment: &Segment,
    next_is_index: bool,
    path: &Path,
    depth: usize,
) -> Result<&'a mut Node, PathError> {
    let empty = || {
        if next_is_index {
            Node::sequence(Vec::new())
        } else {
            Node::mapping(Mapping::new())
        }
    };
    if node.is_null() {
        node.value = match segment {
            Segment::Key(_) => Value::Mapping(Mapping::new()),
            Segment::Index(_) => Value::Sequence(Vec::new()),
        };
    }
    let found = node.kind_name();
    match (segment, &mut node.value) {
        (Segment::Key(key), Value::Mapping(map)) => {
            let index = match map.position_of(key) {
                Some(index) => index,
                None => {
                    map.insert(key.clone(), empty());
                    map.len() - 1
                }
            };
            let child = &mut map.entries[index].value;
            if child.is_null() {
                *child = empty();
            }
            Ok(child)
        }
        (Segment::Index(index), Value::Sequence(items)) => {
            if *index == items.len() {
                items.push(empty());
            }
            let len = items.len();
            let child = items.get_mut(*index).ok_or(PathError::IndexOutOfRange {
                path: path.prefix(depth),
                index: *index,
                len,
            })?;
            if child.is_null() {
                *child = empty();
            }
            Ok(child)
        }
        (Segment::Key(_), _) => Err(PathError::NotAMapping {
            path: path.prefix(depth),
            found,
        }),
        (Segment::Index(_), _) => Err(PathError::NotASequence {
            path: path.prefix(depth),
            found,
        }),
    }
}

/// Exact structural equality (same order, text, style and tags); positions are ignored.
impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Scalar(a), Value::Scalar(b)) => a == b,
            (Value::Sequence(a), Value::Sequence(b)) => a == b,
            (Value::Mapping(a), Value::Mapping(b)) => a == b,
            _ => false,
        }
    }
}

/// Exact structural equality in order; positions are ignored.
impl PartialEq for Mapping {
    fn eq(&self, other: &Mapping) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.key == b.key && a.value == b.value)
    }
}

impl From<Scalar> for Node {
    fn from(scalar: Scalar) -> Self {
        Node::new(Value::Scalar(scalar))
    }
}

impl From<Mapping> for Node {
    fn from(mapping: Mapping) -> Self {
        Node::mapping(mapping)
    }
}

impl From<Vec<Node>> for Node {
    fn from(items: Vec<Node>) -> Self {
        Node::sequence(items)
    }
}

impl From<&str> for Node {
    fn from(text: &str) -> Self {
        Node::string(text)
    }
}

impl From<String> for Node {
    fn from(text: String) -> Self {
        Node::string(text)
    }
}

impl From<&String> for Node {
    fn from(text: &String) -> Self {
        Node::string(text.as_str())
    }
}

impl From<bool> for Node {
    fn from(value: bool) -> Self {
        Node::bool(value)
    }
}

impl From<i64> for Node {
    fn from(value: i64) -> Self {
        Node::int(value)
    }
}

impl From<u16> for Node {
    fn from(value: u16) -> Self {
        Node::int(i64::from(value))
    }
}

impl From<u32> for Node {
    fn from(value: u32) -> Self {
        Node::int(i64::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_scalars_are_strings_and_tags_force_types() {
        let quoted = Scalar::with_style("1", ScalarStyle::DoubleQuoted);
        assert_eq!(quoted.resolve(), Resolved::Str("1"));
        assert!(!quoted.yaml_eq(&Scalar::plain("1")));
        assert!(Scalar::plain("0x10").yaml_eq(&Scalar::plain("16")));
        assert_eq!(Scalar::plain("1").with_tag("!!str").resolve(), Resolved::Str("1"));
        assert!(Scalar::string("1").yaml_eq(&quoted));
    }

    #[test]
    fn as_str_reads_any_non_null_scalar_as_text() {
        assert_eq!(Node::plain("1").as_str(), Some("1"));
        assert_eq!(Node::plain("true").as_str(), Some("true"));
        assert_eq!(Node::string("x").as_str(), Some("x"));
        assert_eq!(Node::null().as_str(), None);
        assert_eq!(Node::plain("0x10").as_i64(), Some(16));
        assert_eq!(Node::plain("true").as_bool(), Some(true));
        assert_eq!(Node::string("true").as_bool(), None);
    }

    #[test]
    fn insert_keeps_order_and_replaces_in_place() {
        let mut map = Mapping::new().with("a", 1i64).with("b", 2i64);
        assert!(map.insert("a", 3i64).is_some());
        map.insert("c", 4i64);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.get("a").and_then(Node::as_i64), Some(3));
        assert!(map.remove("b").is_some());
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "c"]);
    }

    #[test]
    fn insert_ordered_follows_struct_order() {
        let order = ["disk", "diskSelector", "image", "wipe", "grubUseUKICmdline"];
        let mut install = Mapping::new().with("wipe", false).with("grubUseUKICmdline", true);
        install.insert_ordered("image", "ghcr.io/x:v1", &order);
        install.insert_ordered("disk", "/dev/sda", &order);
        install.insert_ordered("extra", "z", &order);
        assert_eq!(
            install.keys().collect::<Vec<_>>(),
            ["disk", "image", "wipe", "grubUseUKICmdline", "extra"]
        );
    }

    #[test]
    fn yaml_eq_ignores_mapping_order_but_not_sequence_order() {
        let a = Node::mapping(Mapping::new().with("x", 1i64).with("y", Node::strings(["a", "b"])));
        let b = Node::mapping(Mapping::new().with("y", Node::strings(["a", "b"])).with("x", 1i64));
        let c = Node::mapping(Mapping::new().with("y", Node::strings(["b", "a"])).with("x", 1i64));
        assert!(a.yaml_eq(&b));
        assert!(!a.yaml_eq(&c));
        assert_ne!(a, b, "structural equality keeps order");
    }

    #[test]
    fn set_path_creates_and_remove_path_deletes() {
        let mut root = Node::mapping(Mapping::new().with("machine", Node::null()));
        let path = Path::parse("machine.network.interfaces[0].vip.ip").expect("valid path");
        assert!(root.set_path(&path, Node::string("1.2.3.4")).expect("set").is_none());
        assert_eq!(root.get_path(&path).and_then(Node::as_str), Some("1.2.3.4"));
        let sysctl = Path::parse(r#"machine.sysctls["net.ipv4.ip_forward"]"#).expect("valid path");
        root.set_path(&sysctl, Node::plain("1")).expect("set");
        assert_eq!(
            root.get_path(&Path::parse("machine.sysctls").expect("valid"))
                .and_then(Node::as_mapping)
                .map(|m| m.keys().collect::<Vec<_>>()),
            Some(vec!["net.ipv4.ip_forward"])
        );
        assert_eq!(
            root.remove_path(&sysctl)
                .and_then(|n| n.as_str().map(str::to_owned))
                .as_deref(),
            Some("1")
        );
        assert!(root.remove_path(&sysctl).is_none());

        let err = root
            .set_path(
                &Path::parse("machine.network.interfaces.x").expect("valid"),
                Node::null(),
            )
            .expect_err("a sequence is not a mapping");
        assert_eq!(
            err.to_string(),
            "machine.network.interfaces is a sequence, expected a mapping"
        );
        let err = root
            .set_path(
                &Path::parse("machine.network.interfaces[5]").expect("valid"),
                Node::null(),
            )
            .expect_err("past the end");
        assert_eq!(
            err.to_string(),
            "index 5 is past the end of machine.network.interfaces (length 1)"
        );
    }
}
