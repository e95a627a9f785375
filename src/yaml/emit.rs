//! Writing [`Node`] trees as YAML exactly the way talosctl does (go-yaml v3, indent 4,
//! no line wrapping), so generated configs are byte-identical to `talosctl gen config`.
//!
//! The layout rules are go-yaml v3's emitter (`emitterc.go`): a nested block inside a
//! mapping is indented to the next multiple of 4; content inside a sequence item starts 2
//! after its `- `; empty collections are written `{}`/`[]`; documents are joined by
//! `---`. Scalar styles are honoured with the same fallbacks (plain → single quotes →
//! double quotes, block → double quotes) when the characters forbid a style. Two deliberate
//! differences, both only for parsed input and both semantically identical: folded (`>`)
//! scalars are written as literal (`|`) blocks, and multi-line single-quoted scalars as
//! literal blocks, because go-yaml's own rendering of those can produce invalid YAML.

use super::value::{Mapping, Node, Resolved, Scalar, ScalarStyle, Value, resolve_plain};

/// One document, without a `---` line.
pub fn emit_document(node: &Node) -> String {
    let mut emitter = Emitter { out: String::new() };
    emitter.root(node);
    emitter.out
}

/// Several documents joined by `---` lines, as Talos writes multi-document configs.
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

struct Emitter {
    out: String,
}

/// The next indentation go-yaml uses for a block nested in a mapping at `indent`.
fn nested(indent: usize) -> usize {
    4 * ((indent + 4) / 4)
}

impl Emitter {
    fn root(&mut self, node: &Node) {
        match &node.value {
            Value::Mapping(map) if !map.is_empty() => self.block_mapping(map, 0, false),
            Value::Sequence(items) if !items.is_empty() => self.block_sequence(items, 0, false),
            _ => {
                self.inline_value(node, 4, 0, false);
                self.out.push('\n');
            }
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
            self.scalar(&entry.key, true, indent, indent, false);
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
                    self.out.push('\n');
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
                    self.out.push('\n');
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
        let (style, tag) = effective_style(scalar, simple_key);
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
            ScalarStyle::SingleQuoted => {
                self.out.push('\'');
                self.out.push_str(&text.replace('\'', "''"));
                self.out.push('\'');
            }
            ScalarStyle::DoubleQuoted => self.double_quoted(text),
            ScalarStyle::Literal | ScalarStyle::Folded => self.literal(text, content_indent, parent_indent),
        }
    }

    fn double_quoted(&mut self, text: &str) {
        self.out.push('"');
        for c in text.chars() {
            let escape = !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\';
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
        if text.starts_with([' ', '\n', '\r']) || text.starts_with(['\u{85}', '\u{2028}', '\u{2029}']) {
            self.out.push_str(&(content_indent - parent_indent).to_string());
        }
        let mut trailing = text.chars().rev().take_while(|c| is_break(*c));
        match (trailing.next(), trailing.next()) {
            (None, _) => self.out.push('-'),
            (Some(_), Some(_)) => self.out.push('+'),
            (Some(_), None) if text.chars().count() == 1 => self.out.push('+'),
            (Some(_), None) => {}
        }
        self.out.push('\n');
        let mut at_line_start = true;
        for c in text.chars() {
            // Only `\n` can reach here as a break: `\r` and U+0085 force double quotes, and
            // U+2028/U+2029 are content in YAML 1.2, so they are written as they are.
            if c == '\n' {
                self.out.push('\n');
                at_line_start = true;
            } else {
                if at_line_start {
                    self.pad(content_indent);
                    at_line_start = false;
                }
                self.out.push(c);
            }
        }
        // The caller ends the line; a text ending in a break already did.
        if at_line_start {
            self.out.pop();
        }
    }
}

/// The style actually written and the tag kept, after go-yaml's fallbacks.
fn effective_style(scalar: &Scalar, simple_key: bool) -> (ScalarStyle, Option<&str>) {
    let text = scalar.text();
    let analysis = analyze(text);
    let mut style = scalar.style();
    let mut tag = scalar.tag();
    if style == ScalarStyle::Folded || (style == ScalarStyle::SingleQuoted && analysis.multiline) {
        style = ScalarStyle::Literal;
    }
    match tag {
        // A string tag is implied by quoting; a plain text that would read as another type
        // is quoted instead, as go-yaml does for `!!str`-tagged nodes.
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
}
