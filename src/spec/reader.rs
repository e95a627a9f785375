//! Reading a YAML file into a marked tree (saphyr) and walking it with positions: typed
//! getters that record a diagnostic instead of stopping, so one pass finds every unknown
//! key, wrong type and missing value in a file.
//!
//! Scalars are kept unresolved (`early_parse(false)`) so the literal text survives
//! (`1.10` stays `1.10`, as Talos expects for sysctl values) and quoted numbers can be told
//! from plain ones; resolution follows the YAML 1.2 core schema.

use std::path::Path;

use saphyr::{MarkedYaml, Scalar, ScalarStyle, Yaml, YamlData, YamlEmitter};
use saphyr_parser::ScanError;

use super::diagnostic::{Diagnostic, Diagnostics, Span, Spanned};
use crate::excerpt::excerpt;
use crate::yaml::Position;
use crate::yaml::strict::check_key;

/// Parses every document of `text`, keeping positions and literal scalar text, with the
/// nesting cap of [`crate::yaml::strict::load_marked`].
pub(crate) fn load_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, ScanError> {
    crate::yaml::strict::load_marked(text)
}

/// The diagnostic for a YAML syntax error.
pub(crate) fn syntax_diagnostic(file: &Path, text: &str, error: &ScanError) -> Diagnostic {
    let span = Span::at(Position::of_marker(error.marker()), 1);
    Diagnostic::new(file, Some(text), span, None, format!("invalid YAML: {}", error.info()))
}

/// The span of a node: its start, underlined to its end when that is on the same line.
pub(crate) fn node_span(text: &str, node: &MarkedYaml<'_>) -> Span {
    let start = node.span.start;
    let end = node.span.end;
    let at = Position::of_marker(&start);
    let rest = text
        .lines()
        .nth(at.line.max(1) - 1)
        .map(|l| l.chars().skip(at.column - 1));
    let quoted = matches!(
        node.data,
        YamlData::Representation(_, ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted, _)
    );
    // saphyr ends a double-quoted scalar's span after a comment that follows it: measure
    // quoted scalars by their closing quote.
    let width = if let Some(width) = rest.clone().filter(|_| quoted).and_then(quoted_width) {
        width
    } else if end.line() == start.line() && end.index() > start.index() {
        end.index() - start.index()
    } else {
        rest.map(Iterator::count).unwrap_or(1)
    };
    Span::at(at, width.max(1))
}

/// The width of a quoted scalar that starts `rest` and closes on the same line, quotes
/// included; `None` if `rest` does not start with a quote or the scalar goes on.
fn quoted_width(rest: impl Iterator<Item = char>) -> Option<usize> {
    let mut chars = rest.enumerate();
    let (_, quote) = chars.next().filter(|(_, c)| matches!(c, '"' | '\''))?;
    let mut escaped = false;
    let mut chars = chars.peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quote == '"' => escaped = true,
            '\'' if quote == '\'' && chars.peek().is_some_and(|(_, next)| *next == '\'') => {
                chars.next();
            }
            c if c == quote => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// Resolves a scalar node per the YAML core schema; `None` for collections and for values
/// a core tag cannot represent (`!!int abc`).
pub(crate) fn scalar<'a>(node: &MarkedYaml<'a>) -> Option<Scalar<'a>> {
    match &node.data {
        YamlData::Representation(text, style, tag) => {
            Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref())
        }
        YamlData::Value(value) => Some(value.clone()),
        _ => None,
    }
}

/// The literal text of a scalar node as written (without quotes), if it is a scalar.
pub(crate) fn literal<'n>(node: &'n MarkedYaml<'_>) -> Option<&'n str> {
    match &node.data {
        YamlData::Representation(text, _, _) => Some(text.as_ref()),
        YamlData::Value(Scalar::String(text)) => Some(text.as_ref()),
        _ => None,
    }
}

/// Returns true if and only if the node is a null value (`~`, `null` or nothing at all).
pub(crate) fn is_null(node: &MarkedYaml<'_>) -> bool {
    matches!(scalar(node), Some(Scalar::Null))
}

/// A short description of what a node is, for "found …" messages.
pub(crate) fn describe(node: &MarkedYaml<'_>) -> String {
    match &node.data {
        YamlData::Sequence(_) => "a list".into(),
        YamlData::Mapping(_) => "a mapping".into(),
        YamlData::Tagged(tag, _) => format!("a value tagged `{}`", excerpt(&tag.to_string())),
        YamlData::Alias(_) | YamlData::BadValue => "an unreadable value".into(),
        YamlData::Representation(text, style, _) => match scalar(node) {
            Some(Scalar::Null) => "an empty value".into(),
            Some(Scalar::Boolean(b)) => format!("the boolean `{b}`"),
            Some(Scalar::Integer(i)) => format!("the integer `{i}`"),
            Some(Scalar::FloatingPoint(_)) => format!("the number `{}`", excerpt(text)),
            _ if *style != ScalarStyle::Plain => format!("the quoted string {:?}", excerpt(text)),
            _ => format!("the string {:?}", excerpt(text)),
        },
        YamlData::Value(value) => format!("the value `{}`", excerpt(&format!("{value:?}"))),
    }
}

/// Re-emits a node as a standalone YAML document (comments dropped, values resolved per
/// the core schema). Used to hand an inline block to another module as text.
pub(crate) fn to_yaml_text(node: &MarkedYaml<'_>) -> String {
    let plain = to_plain(node);
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    // Writing into a String cannot fail; an emitter error would only mean a bug in the
    // conversion above, and the caller validates the text again when it parses it.
    if emitter.dump(&plain).is_err() {
        out.clear();
    }
    if out.starts_with("---\n") {
        out.replace_range(..4, "");
    }
    out.push('\n');
    out
}

fn to_plain<'a>(node: &MarkedYaml<'a>) -> Yaml<'a> {
    match &node.data {
        YamlData::Representation(..) | YamlData::Value(_) => scalar(node).map(Yaml::Value).unwrap_or(Yaml::BadValue),
        YamlData::Sequence(items) => Yaml::Sequence(items.iter().map(to_plain).collect()),
        YamlData::Mapping(entries) => {
            let mut mapping = saphyr::Mapping::new();
            for (key, value) in entries {
                mapping.insert(to_plain(key), to_plain(value));
            }
            Yaml::Mapping(mapping)
        }
        YamlData::Tagged(tag, inner) => Yaml::Tagged(tag.clone(), Box::new(to_plain(inner))),
        YamlData::Alias(_) | YamlData::BadValue => Yaml::BadValue,
    }
}

/// A value in the tree together with its field path and positions.
#[derive(Debug, Clone)]
pub(crate) struct Field<'n, 'a> {
    /// The field path, e.g. `workers[0].type`.
    pub path: String,
    /// Where the key (or list item) is: where "missing key" problems of a nested mapping
    /// and "no value" problems point.
    pub key_span: Span,
    /// The value node.
    pub node: &'n MarkedYaml<'a>,
}

/// The known entries of a mapping, after unknown keys were reported.
#[derive(Debug)]
pub(crate) struct Map<'n, 'a> {
    path: String,
    anchor: Span,
    entries: Vec<(String, Span, &'n MarkedYaml<'a>)>,
    /// The known keys that unknown keys of this mapping were reported as likely typos of:
    /// such a key is not reported missing a second time.
    misspelt: Vec<String>,
}

impl<'n, 'a> Map<'n, 'a> {
    fn entry(&self, key: &str) -> Option<(Span, &'n MarkedYaml<'a>)> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, span, node)| (*span, *node))
    }
}

/// Joins a field path and a key: `network` + `subnet` → `network.subnet`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Walks a marked tree of one file and collects diagnostics.
#[derive(Debug)]
pub(crate) struct Reader<'s> {
    file: &'s Path,
    text: &'s str,
    /// Everything found so far.
    pub diagnostics: Diagnostics,
}

impl<'s> Reader<'s> {
    /// A reader for `text`, read from `file`.
    pub fn new(file: &'s Path, text: &'s str) -> Self {
        Reader {
            file,
            text,
            diagnostics: Diagnostics::new(),
        }
    }

    /// A diagnostic at `span`, not yet recorded.
    pub fn diagnostic(&self, span: Span, field: &str, message: impl Into<String>) -> Diagnostic {
        let field = (!field.is_empty()).then_some(field);
        Diagnostic::new(self.file, Some(self.text), span, field, message)
    }

    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The span of a node in this file.
    pub fn span(&self, node: &MarkedYaml<'_>) -> Span {
        node_span(self.text, node)
    }

    /// Where a field's value is, or its key when the value is empty.
    pub fn value_span(&self, field: &Field<'_, '_>) -> Span {
        if is_null(field.node) {
            field.key_span
        } else {
            self.span(field.node)
        }
    }

    fn type_error(&mut self, field: &Field<'_, '_>, expected: &str) {
        let found = describe(field.node);
        let span = self.value_span(field);
        let diagnostic = self
            .diagnostic(
                span,
                &field.path,
                format!("expected {}, found {found}", kind_of(expected)),
            )
            .expected(expected);
        self.push(diagnostic);
    }

    /// Reads a mapping whose keys must be among `allowed`; each other key is reported with
    /// a "did you mean" suggestion. An empty value reads as an empty mapping.
    pub fn mapping<'n, 'a>(&mut self, field: &Field<'n, 'a>, allowed: &[&str]) -> Option<Map<'n, 'a>> {
        let mut map = Map {
            path: field.path.clone(),
            anchor: field.key_span,
            entries: Vec::new(),
            misspelt: Vec::new(),
        };
        let entries = match &field.node.data {
            YamlData::Mapping(entries) => entries,
            _ if is_null(field.node) => return Some(map),
            _ => {
                let example = format!("a mapping with keys {}", list_keys(allowed));
                self.type_error(field, &example);
                return None;
            }
        };
        for (key, value) in entries {
            let key_span = self.span(key);
            let Some(name) = literal(key).filter(|_| !matches!(key.data, YamlData::Tagged(..))) else {
                let diagnostic = self
                    .diagnostic(
                        key_span,
                        &field.path,
                        format!("keys must be plain strings, found {}", describe(key)),
                    )
                    .expected(format!("one of {}", list_keys(allowed)));
                self.push(diagnostic);
                continue;
            };
            if let Err(unknown) = check_key(name, allowed) {
                let where_ = if field.path.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("in `{}`", field.path)
                };
                let suggestion = unknown.suggestion;
                map.misspelt.extend(suggestion.map(str::to_owned));
                let diagnostic = self
                    .diagnostic(
                        key_span,
                        &join(&field.path, name),
                        format!("unknown key `{}` {where_}", excerpt(name)),
                    )
                    .expected(format!("one of {}", list_keys(allowed)))
                    .suggestion(suggestion.map(str::to_owned));
                self.push(diagnostic);
            } else {
                map.entries.push((name.to_owned(), key_span, value));
            }
        }
        Some(map)
    }

    /// Reads a mapping with free-form string keys (sysctls): every entry, in order.
    pub fn free_mapping<'n, 'a>(
        &mut self,
        field: &Field<'n, 'a>,
        example: &str,
    ) -> Option<Vec<(Spanned<String>, Span, &'n MarkedYaml<'a>)>> {
        let entries = match &field.node.data {
            YamlData::Mapping(entries) => entries,
            _ if is_null(field.node) => return Some(Vec::new()),
            _ => {
                self.type_error(field, example);
                return None;
            }
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let key_span = self.span(key);
            match literal(key) {
                Some(name) if !matches!(key.data, YamlData::Tagged(..)) => {
                    out.push((Spanned::new(name.to_owned(), key_span), key_span, value));
                }
                _ => {
                    let diagnostic = self
                        .diagnostic(
                            key_span,
                            &field.path,
                            format!("keys must be plain strings, found {}", describe(key)),
                        )
                        .expected(example);
                    self.push(diagnostic);
                }
            }
        }
        Some(out)
    }

    /// Looks up `key`; a missing key or empty value is reported as such, with the expected
    /// form. A key that is missing because it was misspelt is not reported again: the
    /// unknown-key problem already points at the misspelling, with `key` as its suggestion.
    pub fn required<'n, 'a>(&mut self, map: &Map<'n, 'a>, key: &str, expected: &str) -> Option<Field<'n, 'a>> {
        let path = join(&map.path, key);
        match map.entry(key) {
            None if map.misspelt.iter().any(|k| k == key) => None,
            None => {
                let where_ = if map.path.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("in `{}`", map.path)
                };
                let diagnostic = self
                    .diagnostic(map.anchor, &path, format!("missing required key `{key}` {where_}"))
                    .expected(expected);
                self.push(diagnostic);
                None
            }
            Some((span, node)) if is_null(node) => {
                let diagnostic = self
                    .diagnostic(span, &path, format!("`{key}` has no value"))
                    .expected(expected);
                self.push(diagnostic);
                None
            }
            Some((key_span, node)) => Some(Field { path, key_span, node }),
        }
    }

    /// Looks up an optional `key`; absent and empty both read as `None`.
    pub fn optional<'n, 'a>(&self, map: &Map<'n, 'a>, key: &str) -> Option<Field<'n, 'a>> {
        let (key_span, node) = map.entry(key).filter(|(_, node)| !is_null(node))?;
        Some(Field {
            path: join(&map.path, key),
            key_span,
            node,
        })
    }

    /// Reads any scalar as its literal text (as Talos and Go's YAML decoder do for string
    /// fields); collections are a type error.
    pub fn string(&mut self, field: &Field<'_, '_>, expected: &str) -> Option<Spanned<String>> {
        match (&field.node.data, scalar(field.node)) {
            (YamlData::Representation(..) | YamlData::Value(_), Some(Scalar::Null)) => None,
            (YamlData::Representation(text, _, _), Some(_)) => {
                Some(Spanned::new(text.to_string(), self.span(field.node)))
            }
            (YamlData::Value(Scalar::String(text)), _) => Some(Spanned::new(text.to_string(), self.span(field.node))),
            _ => {
                self.type_error(field, expected);
                None
            }
        }
    }

    /// Reads an integer (a plain scalar; a quoted number is a type error).
    pub fn integer(&mut self, field: &Field<'_, '_>, expected: &str) -> Option<Spanned<i64>> {
        self.typed(field, expected, |value| match value {
            Scalar::Integer(value) => Some(value),
            _ => None,
        })
    }

    /// Reads a boolean (`true` or `false`).
    pub fn boolean(&mut self, field: &Field<'_, '_>, expected: &str) -> Option<Spanned<bool>> {
        self.typed(field, expected, |value| match value {
            Scalar::Boolean(value) => Some(value),
            _ => None,
        })
    }

    /// Reads a core-schema scalar that `pick` accepts; null is absent, anything else a type
    /// error.
    fn typed<T>(
        &mut self,
        field: &Field<'_, '_>,
        expected: &str,
        pick: impl FnOnce(Scalar<'_>) -> Option<T>,
    ) -> Option<Spanned<T>> {
        let value = scalar(field.node);
        if matches!(value, Some(Scalar::Null)) {
            return None;
        }
        let Some(picked) = value.and_then(pick) else {
            self.type_error(field, expected);
            return None;
        };
        Some(Spanned::new(picked, self.span(field.node)))
    }

    /// Reads a list; each item is a field of its own, with its path (`path[i]`) and its span
    /// as the key span. An empty value reads as an empty list.
    pub fn sequence<'n, 'a>(&mut self, field: &Field<'n, 'a>, expected: &str) -> Option<Vec<Field<'n, 'a>>> {
        match &field.node.data {
            YamlData::Sequence(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| Field {
                        path: format!("{}[{index}]", field.path),
                        key_span: self.span(item),
                        node: item,
                    })
                    .collect(),
            ),
            _ if is_null(field.node) => Some(Vec::new()),
            _ => {
                self.type_error(field, expected);
                None
            }
        }
    }

    /// Reads a list of strings.
    pub fn string_list(
        &mut self,
        field: &Field<'_, '_>,
        list_expected: &str,
        expected: &str,
    ) -> Option<Vec<Spanned<String>>> {
        let items = self.sequence(field, list_expected)?;
        let mut out = Vec::new();
        for item in items {
            if is_null(item.node) {
                let diagnostic = self
                    .diagnostic(item.key_span, &item.path, "empty list item")
                    .expected(expected);
                self.push(diagnostic);
                continue;
            }
            if let Some(value) = self.string(&item, expected) {
                out.push(value);
            }
        }
        Some(out)
    }
}

/// The noun part of an expected form: "a port, e.g. `443`" → "a port", for "expected …, found …".
fn kind_of(expected: &str) -> &str {
    expected.split(", e.g.").next().unwrap_or(expected)
}

fn list_keys(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root<'a>(docs: &'a [MarkedYaml<'a>]) -> Field<'a, 'a> {
        Field {
            path: String::new(),
            key_span: Span::START,
            node: &docs[0],
        }
    }

    #[test]
    fn unknown_keys_are_all_reported_with_suggestions() {
        let text = "nmae: a\nprefix: b\nlocaton: c\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("c.yaml"), text);
        let map = reader
            .mapping(&root(&docs), &["name", "prefix", "location"])
            .expect("a mapping");
        assert!(reader.optional(&map, "prefix").is_some());
        let found: Vec<_> = reader
            .diagnostics
            .iter()
            .map(|d| (d.span.line, d.field.clone(), d.suggestion.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                (1, Some("nmae".into()), Some("name".into())),
                (3, Some("locaton".into()), Some("location".into()))
            ]
        );
    }

    #[test]
    fn a_misspelt_required_key_is_reported_once_where_it_was_written() {
        let text = "name: a\nlocaton: fsn1\nprefix: b\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("cluster.yaml"), text);
        let map = reader
            .mapping(&root(&docs), &["name", "prefix", "location"])
            .expect("a mapping");
        assert!(
            reader
                .required(&map, "location", "a Hetzner location, e.g. `fsn1`")
                .is_none()
        );
        assert!(reader.required(&map, "prefix", "a prefix").is_some());
        assert_eq!(
            reader.diagnostics.to_string(),
            "cluster.yaml:2:1: locaton: unknown key `locaton` at the top level\n  |\n2 | locaton: fsn1\n  | ^^^^^^^\n  = expected: one of `name`, `prefix`, `location`\n  = help: did you mean `location`?"
        );
        // Without a likely misspelling the missing key is reported at the mapping.
        let text = "name: a\nplace: fsn1\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("cluster.yaml"), text);
        let map = reader.mapping(&root(&docs), &["name", "location"]).expect("a mapping");
        assert!(
            reader
                .required(&map, "location", "a Hetzner location, e.g. `fsn1`")
                .is_none()
        );
        assert_eq!(
            reader.diagnostics.to_string(),
            "cluster.yaml:2:1: place: unknown key `place` at the top level\n  |\n2 | place: fsn1\n  | ^^^^^\n  = expected: one of `name`, `location`\n\ncluster.yaml:1:1: location: missing required key `location` at the top level\n  |\n1 | name: a\n  | ^\n  = expected: a Hetzner location, e.g. `fsn1`"
        );
    }

    #[test]
    fn scalars_keep_their_literal_text() {
        let text = "a: 1.10\nb: '80'\nc: 80\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("c.yaml"), text);
        let map = reader.mapping(&root(&docs), &["a", "b", "c"]).expect("a mapping");
        let a = reader.required(&map, "a", "x").expect("present");
        assert_eq!(a.path, "a");
        let a = reader.string(&a, "x");
        assert_eq!(a.map(|s| s.value).as_deref(), Some("1.10"));
        let b = reader.required(&map, "b", "x").expect("present");
        assert_eq!(reader.integer(&b, "a port, e.g. `80`"), None);
        let c = reader.required(&map, "c", "x").expect("present");
        assert_eq!(reader.integer(&c, "x").map(|s| s.value), Some(80));
        assert_eq!(reader.diagnostics.len(), 1);
        let message = &reader.diagnostics.iter().next().expect("one").message;
        assert_eq!(message, "expected a port, found the quoted string \"80\"");
    }

    #[test]
    fn spans_point_at_values() {
        let text = "network:\n  subnet: 10.1.0.0/24\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("c.yaml"), text);
        let map = reader.mapping(&root(&docs), &["network"]).expect("a mapping");
        let network = reader.required(&map, "network", "x").expect("present");
        let key_span = network.key_span;
        assert_eq!((key_span.line, key_span.column, key_span.width), (1, 1, 7));
        let network = reader.mapping(&network, &["subnet"]).expect("a mapping");
        let subnet = reader.required(&network, "subnet", "x").expect("present");
        assert_eq!(subnet.path, "network.subnet");
        let span = reader.span(subnet.node);
        assert_eq!((span.line, span.column, span.width), (2, 11, 11));
    }

    #[test]
    fn value_spans_stop_before_a_trailing_comment() {
        let text = "count: \"3\"   # three control planes, one per location, as Hetzner advises\nname: plain value  # note\nprefix: 'q'\n";
        let docs = load_documents(text).expect("valid YAML");
        let mut reader = Reader::new(Path::new("cluster.yaml"), text);
        let map = reader
            .mapping(&root(&docs), &["count", "name", "prefix"])
            .expect("a mapping");
        let spans: Vec<(usize, usize, usize)> = ["count", "name", "prefix"]
            .iter()
            .map(|key| {
                let field = reader.required(&map, key, "x").expect("present");
                let span = reader.span(field.node);
                (span.line, span.column, span.width)
            })
            .collect();
        assert_eq!(spans, [(1, 8, 3), (2, 7, 11), (3, 9, 3)]);
        let count = reader.required(&map, "count", "x").expect("present");
        assert_eq!(reader.integer(&count, "a number, e.g. `3`"), None);
        assert_eq!(
            reader.diagnostics.to_string(),
            "cluster.yaml:1:8: count: expected a number, found the quoted string \"3\"\n  |\n1 | count: \"3\"   # three control planes, one per location, as Hetzner advises\n  |        ^^^\n  = expected: a number, e.g. `3`"
        );
    }

    #[test]
    fn inline_blocks_re_emit_as_yaml() {
        let text = "schematic:\n  customization:\n    systemExtensions:\n      officialExtensions:\n        - siderolabs/qemu-guest-agent # comment\n";
        let docs = load_documents(text).expect("valid YAML");
        let yaml = to_yaml_text(&docs[0]);
        assert_eq!(
            yaml,
            "schematic:\n  customization:\n    systemExtensions:\n      officialExtensions:\n        - siderolabs/qemu-guest-agent\n"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let text = "name: a\nnetwork: [10.0.0.0/16\nprefix: b\n";
        let error = load_documents(text).expect_err("invalid YAML");
        let diagnostic = syntax_diagnostic(Path::new("c.yaml"), text, &error);
        assert!(diagnostic.message.starts_with("invalid YAML"), "{diagnostic}");
        assert!(diagnostic.span.line >= 2, "{diagnostic}");
    }
}
