//! Writing [`Node`] trees as YAML exactly the way go-yaml does: talosctl's machine configs
//! (go-yaml v3, byte-identical to `talosctl gen config`) and the Image Factory's canonical
//! schematics (go-yaml v4 `yaml.Marshal`, whose SHA-256 is the schematic ID).
//!
//! The layout rules are go-yaml's emitter (`emitterc.go`, indent 4, no line wrapping): a
//! nested block inside a mapping is indented to the next multiple of 4; content inside a
//! sequence item starts 2 after its `- `; empty collections are written `{}`/`[]`;
//! documents are joined by `---`. Scalar styles are honoured with the same fallbacks (plain
//! → single quotes → double quotes, block → double quotes) when the characters forbid a
//! style; a value that starts with a byte-order mark is escaped throughout, as Go does.
//!
//! One emitter serves both; [`GoYaml`] says which output to reproduce where they differ:
//!
//! | where | [`GoYaml::V3`] (talosctl, always valid) | [`GoYaml::V4`] (`yaml.Marshal`, exact) |
//! |---|---|---|
//! | block scalar that starts with a line break | indentation indicator | none (go-yaml#755) |
//! | block scalar indentation indicator | the real relative indent (`\|2` under `- k:`) | always `4`, as Go writes it |
//! | U+2028/U+2029 in single-quoted or block scalars | content, written as is | a line break: re-indented after, as Go does |
//! | the mapping key `<<` | double-quoted, so it does not read back as a merge | plain, as Go writes it |
//! | keys over 128 bytes or spanning lines | simple keys (double-quoted when spanning lines) | refused ([`ComplexKey`]) |
//!
//! V3 leaves Go's output only where Go's would not read back as the same value (or not
//! parse), and for complex keys, which no machine config has; nothing Talos generates is
//! affected. Two more differences, in both modes and
//! only for parsed input (Go values never have these styles), both semantically identical:
//! folded (`>`) scalars are written as literal (`|`) blocks, and multi-line single-quoted
//! scalars as literal blocks, because go-yaml's own rendering of those can produce invalid
//! YAML.

use super::resolve::{Resolved, resolve_plain};
use super::value::{Mapping, Node, Scalar, ScalarStyle, Value};

/// Which go-yaml encoder's bytes to reproduce (see the module documentation's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoYaml {
    /// `gopkg.in/yaml.v3` with indent 4, as `talosctl` writes machine configs, except where
    /// its output would not read back as the same value: there the valid equivalent.
    V3,
    /// `go.yaml.in/yaml/v4` `yaml.Marshal`, byte for byte, quirks included: the Image
    /// Factory hashes these bytes for a schematic's ID.
    V4,
}

/// A mapping key go-yaml would write as a complex key (`? key`), which [`GoYaml::V4`]
/// output does not reproduce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the mapping key {key:?} is longer than 128 bytes or spans lines (go-yaml writes such keys in the `? key` form, which is not supported)"
)]
pub struct ComplexKey {
    /// The key's text.
    pub key: String,
}

/// One document in talosctl's form ([`GoYaml::V3`]), without a `---` line.
pub fn emit_document(node: &Node) -> String {
    Emitter::new(GoYaml::V3).document(node)
}

/// Several documents in talosctl's form, joined by `---` lines, as Talos writes
/// multi-document configs.
pub fn emit_stream<'a>(documents: impl IntoIterator<Item = &'a Node>) -> String {
    let mut out = String::new();
    for (i, document) in documents.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&emit_document(document));
    }
    out
}

/// One document as `go_yaml` writes it, without a `---` line.
///
/// # Errors
/// With [`GoYaml::V4`] only: [`ComplexKey`] for a key longer than 128 bytes or spanning
/// lines. [`GoYaml::V3`] never fails.
pub fn emit_document_as(node: &Node, go_yaml: GoYaml) -> Result<String, ComplexKey> {
    if go_yaml == GoYaml::V4 {
        refuse_complex_keys(node)?;
    }
    Ok(Emitter::new(go_yaml).document(node))
}

/// go-yaml's `yaml_emitter_check_simple_key`: a key is written `? key` when it is longer
/// than 128 bytes or spans lines.
fn refuse_complex_keys(node: &Node) -> Result<(), ComplexKey> {
    match &node.value {
        Value::Scalar(_) => Ok(()),
        Value::Sequence(items) => items.iter().try_for_each(refuse_complex_keys),
        Value::Mapping(map) => map.entries().iter().try_for_each(|entry| {
            let key = entry.key.text();
            if key.len() > 128 || key.chars().any(is_break) {
                return Err(ComplexKey { key: key.to_string() });
            }
            refuse_complex_keys(&entry.value)
        }),
    }
}

struct Emitter {
    out: String,
    go_yaml: GoYaml,
}

/// The next indentation go-yaml uses for a block nested in a mapping at `indent`.
fn nested(indent: usize) -> usize {
    4 * ((indent + 4) / 4)
}

impl Emitter {
    fn new(go_yaml: GoYaml) -> Self {
        Emitter {
            out: String::new(),
            go_yaml,
        }
    }

    fn document(mut self, node: &Node) -> String {
        match &node.value {
            Value::Mapping(map) if !map.is_empty() => self.block_mapping(map, 0, false),
            Value::Sequence(items) if !items.is_empty() => self.block_sequence(items, 0, false),
            _ => {
                self.inline_value(node, 4, 0, false);
                self.end_line();
            }
        }
        self.out
    }

    /// Returns true if and only if go-yaml, in this mode, starts a new line at `c` inside a
    /// single-quoted or block scalar. YAML 1.2 (what talos-hcloud and Talos read) has only
    /// `\n`; go-yaml keeps YAML 1.1's U+2028/U+2029 (`\r` and U+0085 are always escaped).
    fn is_line_break(&self, c: char) -> bool {
        match self.go_yaml {
            GoYaml::V3 => c == '\n',
            GoYaml::V4 => is_break(c),
        }
    }

    /// Ends the current line unless a block scalar already did.
    fn end_line(&mut self) {
        if !self.out.chars().next_back().is_some_and(|c| self.is_line_break(c)) {
            self.out.push('\n');
        }
    }

    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    /// A block mapping whose keys sit at column `indent`. With `first_inline`, the first
    /// key continues the current line (after `- `).
    fn block_mapping(&mut self, map: &Mapping, indent: usize, first_inline: bool) {
        for (i, entry) in map.entries().iter().enumerate() {
            if !(i == 0 && first_inline) {
                self.pad(indent);
            }
            self.scalar(&entry.key, true, nested(indent), indent, false);
            self.out.push(':');
            match &entry.value.value {
                Value::Mapping(child) if !child.is_empty() => {
                    self.out.push('\n');
                    self.block_mapping(child, nested(indent), false);
                }
                Value::Sequence(items) if !items.is_empty() => {
                    self.out.push('\n');
                    self.block_sequence(items, nested(indent), false);
                }
                _ => {
                    self.inline_value(&entry.value, nested(indent), indent, true);
                    self.end_line();
                }
            }
        }
    }

    /// A block sequence whose `-` sit at column `indent`.
    fn block_sequence(&mut self, items: &[Node], indent: usize, first_inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if !(i == 0 && first_inline) {
                self.pad(indent);
            }
            self.out.push('-');
            match &item.value {
                Value::Mapping(map) if !map.is_empty() => {
                    self.out.push(' ');
                    self.block_mapping(map, indent + 2, true);
                }
                Value::Sequence(inner) if !inner.is_empty() => {
                    self.out.push(' ');
                    self.block_sequence(inner, indent + 2, true);
                }
                _ => {
                    self.inline_value(item, indent + 2, indent, true);
                    self.end_line();
                }
            }
        }
    }

    /// A scalar or empty collection on the current line (block scalars continue below).
    fn inline_value(&mut self, node: &Node, content_indent: usize, parent_indent: usize, space: bool) {
        match &node.value {
            Value::Mapping(_) => self.out.push_str(if space { " {}" } else { "{}" }),
            Value::Sequence(_) => self.out.push_str(if space { " []" } else { "[]" }),
            Value::Scalar(scalar) => self.scalar(scalar, false, content_indent, parent_indent, space),
        }
    }

    fn scalar(&mut self, scalar: &Scalar, simple_key: bool, content_indent: usize, parent_indent: usize, space: bool) {
        let (style, tag) = self.effective_style(scalar, simple_key);
        let text = scalar.text();
        if let Some(tag) = tag {
            if space {
                self.out.push(' ');
            }
            self.out.push_str(tag);
            if text.is_empty() && style == ScalarStyle::Plain {
                return;
            }
            self.out.push(' ');
        } else if space && !(text.is_empty() && style == ScalarStyle::Plain) {
            self.out.push(' ');
        }
        match style {
            ScalarStyle::Plain => self.out.push_str(text),
            ScalarStyle::SingleQuoted => self.single_quoted(text, content_indent),
            ScalarStyle::DoubleQuoted => self.double_quoted(text),
            ScalarStyle::Literal | ScalarStyle::Folded => self.literal(text, content_indent, parent_indent),
        }
    }

    /// go-yaml's single-quoted writer: a line break is doubled (one alone would fold to a
    /// space) and the text after it re-indented.
    fn single_quoted(&mut self, text: &str, indent: usize) {
        self.out.push('\'');
        let mut breaks = false;
        for c in text.chars() {
            if c == ' ' {
                self.out.push(c);
            } else if self.is_line_break(c) {
                if !breaks && c == '\n' {
                    self.out.push('\n');
                }
                self.out.push(c);
                breaks = true;
            } else {
                if breaks {
                    self.pad(indent);
                }
                if c == '\'' {
                    self.out.push('\'');
                }
                self.out.push(c);
                breaks = false;
            }
        }
        self.out.push('\'');
    }

    fn double_quoted(&mut self, text: &str) {
        self.out.push('"');
        // Go tests for a byte-order mark at the start of the *whole* value at every
        // character (`is_bom` ignores its index), so such a value is escaped throughout.
        let starts_with_bom = text.starts_with('\u{FEFF}');
        for c in text.chars() {
            let escape = starts_with_bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\';
            if !escape {
                self.out.push(c);
                continue;
            }
            self.out.push('\\');
            match c {
                '\0' => self.out.push('0'),
                '\x07' => self.out.push('a'),
                '\x08' => self.out.push('b'),
                '\t' => self.out.push('t'),
                '\n' => self.out.push('n'),
                '\x0b' => self.out.push('v'),
                '\x0c' => self.out.push('f'),
                '\r' => self.out.push('r'),
                '\x1b' => self.out.push('e'),
                '"' => self.out.push('"'),
                '\\' => self.out.push('\\'),
                '\u{85}' => self.out.push('N'),
                '\u{A0}' => self.out.push('_'),
                '\u{2028}' => self.out.push('L'),
                '\u{2029}' => self.out.push('P'),
                other => {
                    let code = u32::from(other);
                    if code <= 0xFF {
                        self.out.push_str(&format!("x{code:02X}"));
                    } else if code <= 0xFFFF {
                        self.out.push_str(&format!("u{code:04X}"));
                    } else {
                        self.out.push_str(&format!("U{code:08X}"));
                    }
                }
            }
        }
        self.out.push('"');
    }

    /// A literal block: header with indentation and chomping indicators, then the lines at
    /// `content_indent` (empty lines stay empty).
    fn literal(&mut self, text: &str, content_indent: usize, parent_indent: usize) {
        self.out.push('|');
        match self.go_yaml {
            GoYaml::V3 if text.starts_with([' ', '\n']) => {
                self.out.push_str(&(content_indent - parent_indent).to_string());
            }
            GoYaml::V4 if text.starts_with(' ') => self.out.push('4'),
            _ => {}
        }
        let mut trailing = text.chars().rev().take_while(|c| self.is_line_break(*c));
        match (trailing.next(), trailing.next()) {
            (None, _) => self.out.push('-'),
            (Some(_), Some(_)) => self.out.push('+'),
            (Some(_), None) if text.chars().count() == 1 => self.out.push('+'),
            (Some(_), None) => {}
        }
        self.out.push('\n');
        let mut at_line_start = true;
        for c in text.chars() {
            if self.is_line_break(c) {
                self.out.push(c);
                at_line_start = true;
            } else {
                if at_line_start {
                    self.pad(content_indent);
                    at_line_start = false;
                }
                self.out.push(c);
            }
        }
    }

    /// The style actually written and the tag kept, after go-yaml's fallbacks.
    fn effective_style<'s>(&self, scalar: &'s Scalar, simple_key: bool) -> (ScalarStyle, Option<&'s str>) {
        let text = scalar.text();
        let analysis = analyze(text);
        let mut style = scalar.style();
        let mut tag = scalar.tag();
        let spans_lines = text.chars().any(|c| self.is_line_break(c));
        if style == ScalarStyle::Folded || (style == ScalarStyle::SingleQuoted && spans_lines) {
            style = ScalarStyle::Literal;
        }
        match tag {
            // A string tag is implied by quoting; a plain text that would read as another
            // type is quoted instead, as go-yaml does for `!!str`-tagged nodes.
            Some("!!str") => {
                tag = None;
                if style == ScalarStyle::Plain && !matches!(resolve_plain(text), Resolved::Str(_)) {
                    style = ScalarStyle::DoubleQuoted;
                }
            }
            Some(core @ ("!!int" | "!!bool" | "!!float" | "!!null" | "!!timestamp")) if style == ScalarStyle::Plain => {
                let implied = match resolve_plain(text) {
                    Resolved::Null => "!!null",
                    Resolved::Bool(_) => "!!bool",
                    Resolved::Int(_) => "!!int",
                    Resolved::Float(_) => "!!float",
                    Resolved::Timestamp(_) => "!!timestamp",
                    Resolved::Str(_) => "",
                };
                if implied == core {
                    tag = None;
                }
            }
            _ => {}
        }
        if style == ScalarStyle::Plain && (!analysis.block_plain_allowed || (text.is_empty() && simple_key)) {
            style = ScalarStyle::SingleQuoted;
        }
        if style == ScalarStyle::Plain && simple_key && text == "<<" && tag.is_none() && self.go_yaml == GoYaml::V3 {
            style = ScalarStyle::DoubleQuoted;
        }
        if simple_key && analysis.multiline {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::SingleQuoted && !analysis.single_quoted_allowed {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Literal && (!analysis.block_allowed || simple_key) {
            style = ScalarStyle::DoubleQuoted;
        }
        (style, tag)
    }
}

/// What libyaml's `yaml_emitter_analyze_scalar` decides for block context.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(text: &str) -> Analysis {
    if text.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let last = chars.len() - 1;
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i == last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c) || c == '\0';
    }
    let mut analysis = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        analysis.block_plain_allowed = false;
    }
    if trailing_space {
        analysis.block_allowed = false;
    }
    if break_space || space_break || tabs || special {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || special {
        analysis.block_allowed = false;
    }
    if line_breaks || block_indicators {
        analysis.block_plain_allowed = false;
    }
    analysis
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable` (tab and 4-byte UTF-8 characters are not).
fn is_printable(c: char) -> bool {
    c == '\n'
        || ('\u{20}'..='\u{7E}').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse::{parse_one, parse_stream};

    fn emit_str(node: &Node) -> String {
        emit_document(node)
    }

    #[test]
    fn layout_matches_go_yaml_v3_indentation() {
        let text = "\
a:
    b: 1
    list:
        - x
        - name: PodSecurity
          configuration:
            apiVersion: v1
            nested:
                - deep
        - - inner
          - second
    empty: {}
    none: []
    quoted: \"\"
";
        let root = parse_one(text).expect("valid");
        assert_eq!(emit_str(&root), text);
    }

    #[test]
    fn strings_are_quoted_like_go_yaml() {
        let map = Mapping::new()
            .with("empty", "")
            .with("bool", "true")
            .with("number", "1")
            .with("old-bool", "on")
            .with("colon", "a: b")
            .with("hash", "a #b")
            .with("lead", " x")
            .with("dash", "- x")
            .with("tab", "a\tb")
            .with("quote", "it's")
            .with("star", "*x")
            .with("url", "https://base:6443")
            .with("1", "key that reads as int");
        let out = emit_str(&Node::mapping(map));
        assert_eq!(
            out,
            "\
empty: \"\"
bool: \"true\"
number: \"1\"
old-bool: \"on\"
colon: 'a: b'
hash: 'a #b'
lead: ' x'
dash: '- x'
tab: \"a\\tb\"
quote: it's
star: '*x'
url: https://base:6443
\"1\": key that reads as int
"
        );
    }

    #[test]
    fn multi_line_strings_become_literal_blocks() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let map = Mapping::new()
            .with("cert", pem)
            .with("nonl", "a\nb")
            .with("two", "a\n\n")
            .with("lead", "\n x\n")
            .with("trailing-space", "a \nb")
            .with("list", Node::sequence(vec![Node::string("x\ny\n")]));
        let out = emit_str(&Node::mapping(map.clone()));
        assert_eq!(
            out,
            "\
cert: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
nonl: |-
    a
    b
two: |+
    a

lead: |4

     x
trailing-space: \"a \\nb\"
list:
    - |
      x
      y
"
        );
        let back = parse_one(&out).expect("emitted YAML parses");
        assert!(back.yaml_eq(&Node::mapping(map)), "{out}");
    }

    #[test]
    fn special_characters_are_escaped() {
        let map = Mapping::new().with("s", "a\u{7}b\u{FEFF}c\u{1F600}\r");
        let out = emit_str(&Node::mapping(map.clone()));
        assert_eq!(out, "s: \"a\\ab\\uFEFFc\\U0001F600\\r\"\n");
        assert!(parse_one(&out).expect("parses").yaml_eq(&Node::mapping(map)));
    }

    #[test]
    fn parsed_styles_are_kept_and_tags_written() {
        let text = "a: 'x'\nb: \"y\"\nc: !!str 1\nd: !custom z\ne: !!int 3\nf:\n";
        let root = parse_one(text).expect("valid");
        assert_eq!(emit_str(&root), "a: 'x'\nb: \"y\"\nc: \"1\"\nd: !custom z\ne: 3\nf:\n");
    }

    #[test]
    fn folded_and_multiline_single_quoted_become_literal() {
        let text = "a: >\n  one\n  two\nb: 'x\n\n  y'\n";
        let root = parse_one(text).expect("valid");
        let out = emit_str(&root);
        assert_eq!(out, "a: |\n    one two\nb: |-\n    x\n    y\n");
        assert!(parse_one(&out).expect("parses").yaml_eq(&root));
    }

    #[test]
    fn streams_join_documents_with_separators() {
        let docs = parse_stream("a: 1\n---\nb: {}\n---\n[]\n").expect("valid");
        let out = emit_stream(docs.iter().map(|d| &d.root));
        assert_eq!(out, "a: 1\n---\nb: {}\n---\n[]\n");
    }

    #[test]
    fn mapping_in_sequence_in_mapping_in_sequence_round_trips() {
        let text = "\
- a:
    - b: 1
      c:
        d: |
            text
        e:
            - |
              in seq
";
        let root = parse_one(text).expect("valid");
        let out = emit_str(&root);
        assert_eq!(out, text);
        assert!(parse_one(&out).expect("parses").yaml_eq(&root));
    }

    /// Random trees with awkward strings must read back as the same values.
    #[test]
    fn random_trees_survive_emit_and_parse() {
        use rand::{Rng, SeedableRng};

        const PIECES: &[&str] = &[
            "a",
            "key",
            " ",
            "  ",
            ":",
            ": ",
            "#",
            " #",
            "-",
            "- ",
            "?",
            "'",
            "\"",
            "\\",
            "\n",
            "\n\n",
            "\t",
            "{",
            "}",
            "[",
            "]",
            ",",
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "~",
            "null",
            "true",
            "1",
            "0x1F",
            "1.5",
            "---",
            "...",
            "é",
            "→",
            "\u{1F600}",
            "\u{7}",
            "\r",
            "\u{85}",
            "\u{FEFF}",
            "2024-01-02",
            "1:20",
            "on",
            "<<",
            "=",
            "\u{2028}",
        ];

        fn random_text(rng: &mut rand_chacha::ChaCha8Rng) -> String {
            let len = rng.random_range(0..5);
            (0..len).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
        }

        fn random_node(rng: &mut rand_chacha::ChaCha8Rng, depth: usize) -> Node {
            let choice = if depth > 3 { 0 } else { rng.random_range(0..4) };
            match choice {
                0 => match rng.random_range(0..3) {
                    0 => Node::string(random_text(rng)),
                    1 => Node::int(rng.random_range(-5..5)),
                    _ => Node::bool(rng.random()),
                },
                1 => Node::sequence(
                    (0..rng.random_range(0..4))
                        .map(|_| random_node(rng, depth + 1))
                        .collect(),
                ),
                _ => {
                    let mut map = Mapping::new();
                    for _ in 0..rng.random_range(0..4) {
                        map.insert(random_text(rng), random_node(rng, depth + 1));
                    }
                    Node::mapping(map)
                }
            }
        }

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20_260_821);
        for case in 0..3000 {
            let node = random_node(&mut rng, 0);
            let text = emit_str(&node);
            let back = parse_one(&text).unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
            assert!(back.yaml_eq(&node), "case {case} changed:\n{text}\n{node:?}\n{back:?}");
            assert_eq!(emit_str(&back), text, "case {case}: emitting is not stable");
        }
    }

    #[test]
    fn block_scalar_indentation_indicator_is_relative_to_the_parent() {
        let map = Mapping::new().with(
            "k",
            Node::sequence(vec![Node::mapping(Mapping::new().with("v", " x\n"))]),
        );
        let out = emit_str(&Node::mapping(map.clone()));
        assert_eq!(out, "k:\n    - v: |2\n         x\n");
        assert!(parse_one(&out).expect("parses").yaml_eq(&Node::mapping(map)), "{out}");
    }

    fn kernel_args(args: &[&str], go_yaml: GoYaml) -> String {
        let root = Node::mapping(Mapping::new().with(
            "customization",
            Mapping::new().with("extraKernelArgs", Node::strings(args.iter().copied())),
        ));
        emit_document_as(&root, go_yaml).expect("no complex keys")
    }

    /// Each pair: a string and the line Go's encoder (yaml.v3 3.0.1, same emitter rules as
    /// v4 for single-line scalars) writes for it as a sequence item.
    const GO_QUOTING: &[(&str, &str)] = &[
        ("console=ttyS0,115200", "console=ttyS0,115200"),
        ("-", "'-'"),
        ("- x", "'- x'"),
        ("a: b", "'a: b'"),
        ("a:b", "a:b"),
        ("#x", "'#x'"),
        ("a #b", "'a #b'"),
        ("a#b", "a#b"),
        ("true", "\"true\""),
        ("TRUE", "\"TRUE\""),
        ("yes", "\"yes\""),
        ("Off", "\"Off\""),
        ("y", "\"y\""),
        ("null", "\"null\""),
        ("~", "\"~\""),
        ("", "\"\""),
        ("123", "\"123\""),
        ("-5", "\"-5\""),
        ("+5", "\"+5\""),
        ("0x1f", "\"0x1f\""),
        ("0o17", "\"0o17\""),
        ("017", "\"017\""),
        ("0b101", "\"0b101\""),
        ("1e3", "\"1e3\""),
        ("1.5", "\"1.5\""),
        (".5", "\".5\""),
        ("1.", "\"1.\""),
        ("1_000", "\"1_000\""),
        ("2024-01-02", "\"2024-01-02\""),
        ("2024-1-2", "\"2024-1-2\""),
        ("12:30", "\"12:30\""),
        ("1:20:30", "\"1:20:30\""),
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("tab\there", "\"tab\\there\""),
        ("café", "café"),
        ("emoji 😀", "\"emoji \\U0001F600\""),
        ("quote'inside", "quote'inside"),
        ("'start", "'''start'"),
        ("\"start", "'\"start'"),
        ("@at", "'@at'"),
        ("`tick", "'`tick'"),
        ("%pct", "'%pct'"),
        ("!bang", "'!bang'"),
        ("&amp", "'&amp'"),
        ("*star", "'*star'"),
        ("|pipe", "'|pipe'"),
        ("> gt", "'> gt'"),
        ("[x]", "'[x]'"),
        ("{x}", "'{x}'"),
        ("x,y", "x,y"),
        ("?q", "?q"),
        ("? q", "'? q'"),
        (":colon", ":colon"),
        ("x:", "'x:'"),
        ("\u{7}bell", "\"\\abell\""),
        ("---", "'---'"),
        ("...", "'...'"),
        ("--x", "--x"),
        (".inf", "\".inf\""),
        ("-.inf", "\"-.inf\""),
        ("<<", "<<"),
        ("a\\b", "a\\b"),
        ("x\u{a0}y", "x\u{a0}y"),
        ("\u{feff}bom", "\"\\uFEFF\\x62\\x6F\\x6D\""),
        ("a\"b", "a\"b"),
        ("[", "'['"),
        ("a]", "a]"),
        ("0.", "\"0.\""),
        ("1e", "1e"),
        ("e3", "e3"),
        ("0x", "0x"),
        ("-0b11", "\"-0b11\""),
        ("0_1", "\"0_1\""),
        ("_1", "_1"),
        ("1_", "\"1_\""),
        ("0xG", "0xG"),
        ("09", "\"09\""),
        ("08.5", "\"08.5\""),
        ("+.5", "\"+.5\""),
        ("+", "+"),
        ("1 2", "1 2"),
        ("  ", "'  '"),
        ("\t", "\"\\t\""),
    ];

    #[test]
    fn strings_are_quoted_like_go_in_both_modes() {
        for go_yaml in [GoYaml::V3, GoYaml::V4] {
            for (input, expected) in GO_QUOTING {
                let got = kernel_args(&[input], go_yaml);
                let want = format!("customization:\n    extraKernelArgs:\n        - {expected}\n");
                assert_eq!(got, want, "{go_yaml:?}, input {input:?}");
            }
        }
    }

    #[test]
    fn unicode_line_separator_in_single_quotes() {
        // Go writes the separator raw, then re-indents the rest of the value.
        assert_eq!(
            kernel_args(&["line\u{2028}sep"], GoYaml::V4),
            "customization:\n    extraKernelArgs:\n        - 'line\u{2028}          sep'\n"
        );
        // V3 keeps the value: in YAML 1.2 the separator is content.
        let v3 = kernel_args(&["line\u{2028}sep"], GoYaml::V3);
        assert_eq!(
            v3,
            "customization:\n    extraKernelArgs:\n        - 'line\u{2028}sep'\n"
        );
        let back = parse_one(&v3).expect("parses");
        let path = crate::yaml::Path::parse("customization.extraKernelArgs[0]").expect("path");
        assert_eq!(back.get_path(&path).and_then(Node::as_str), Some("line\u{2028}sep"));
    }

    #[test]
    fn multi_line_strings_use_literal_blocks_as_go_v4_writes_them() {
        // The arguments, and the items Go v4 writes for them under `extraKernelArgs:`.
        let cases: [(&[&str], &str); 5] = [
            (
                &["a\nb", "c\n"],
                "- |-\n          a\n          b\n        - |\n          c\n",
            ),
            // A trailing space before a line break forbids block style: double quotes.
            (&["a \nb\n"], "- \"a \\nb\\n\"\n"),
            // Two trailing breaks keep them (`|+`); a leading space needs an indentation
            // hint, which Go writes as its indent (4) even under a sequence item.
            (&["a\n\n"], "- |+\n          a\n\n"),
            (&[" a\n"], "- |4\n           a\n"),
            // v4 (go-yaml #755): a leading line break is kept, with no indentation hint.
            (&["\nabc\n"], "- |\n\n          abc\n"),
        ];
        for (args, items) in cases {
            assert_eq!(
                kernel_args(args, GoYaml::V4),
                format!("customization:\n    extraKernelArgs:\n        {items}"),
                "{args:?}"
            );
        }
        // V3 writes the real relative indentation, so the blocks read back.
        let v3 = kernel_args(&[" a\n", "\nabc\n"], GoYaml::V3);
        assert_eq!(
            v3,
            "customization:\n    extraKernelArgs:\n        - |2\n           a\n        - |2\n\n          abc\n"
        );
        let back = parse_one(&v3).expect("parses");
        let path = crate::yaml::Path::parse("customization.extraKernelArgs").expect("path");
        let args = back.get_path(&path).and_then(Node::as_sequence).expect("list");
        assert_eq!(
            args.iter().map(Node::as_str).collect::<Vec<_>>(),
            [Some(" a\n"), Some("\nabc\n")]
        );
    }

    #[test]
    fn a_literal_block_ending_in_a_line_separator_ends_the_line_as_go_does() {
        let root = Node::mapping(Mapping::new().with("a", "x\ny\u{2028}").with("b", "z"));
        assert_eq!(
            emit_document_as(&root, GoYaml::V4).expect("emits"),
            "a: |\n    x\n    y\u{2028}b: z\n"
        );
        let v3 = emit_document(&root);
        assert_eq!(v3, "a: |-\n    x\n    y\u{2028}\nb: z\n");
        assert!(parse_one(&v3).expect("parses").yaml_eq(&root), "{v3}");
    }

    #[test]
    fn go_values_are_written_like_go_marshal() {
        use crate::yaml::resolve::format_float;

        let options = Mapping::new().with("1", "one").with(
            "a",
            Node::sequence(vec![
                Node::int(1),
                Node::plain(format_float(2.5)),
                Node::bool(true),
                Node::null(),
                Node::mapping(Mapping::new().with("j", Node::sequence(vec![]))),
                Node::sequence(vec![Node::int(1), Node::sequence(vec![Node::int(2)])]),
            ]),
        );
        let root = Node::mapping(Mapping::new().with("options", options.with("n", Mapping::new())));
        let want = "options:\n    \"1\": one\n    a:\n        - 1\n        - 2.5\n        - true\n        - null\n        - j: []\n        - - 1\n          - - 2\n    \"n\": {}\n";
        assert_eq!(emit_document_as(&root, GoYaml::V4).expect("emits"), want);
        assert_eq!(emit_document(&root), want);
    }

    #[test]
    fn merge_key_and_complex_keys_differ_by_mode() {
        let root = Node::mapping(Mapping::new().with("<<", "<<"));
        assert_eq!(emit_document_as(&root, GoYaml::V4).expect("emits"), "<<: <<\n");
        let v3 = emit_document(&root);
        assert_eq!(v3, "\"<<\": <<\n");
        assert!(parse_one(&v3).expect("parses").yaml_eq(&root));

        for key in ["a\nb".to_string(), "k".repeat(129)] {
            let root = Node::mapping(Mapping::new().with(key.as_str(), "v"));
            let nested = Node::sequence(vec![Node::mapping(Mapping::new().with("x", root.clone()))]);
            let err = emit_document_as(&nested, GoYaml::V4).expect_err("complex key");
            assert_eq!(err.key, key);
            let v3 = emit_document(&root);
            assert!(parse_one(&v3).expect("parses").yaml_eq(&root), "{v3}");
        }
        let fits = Node::mapping(Mapping::new().with("k".repeat(128), "v"));
        assert!(emit_document_as(&fits, GoYaml::V4).is_ok());
    }
}
