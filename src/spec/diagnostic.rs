//! One problem found in a cluster description, and how it is shown: `file:line:col: field:
//! message`, the source line with a caret underline, the expected form by example and a
//! "did you mean" suggestion (the layout of `just` and `rustc`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::excerpt::{MAX_MESSAGE_CHARS, MAX_PATH_CHARS, excerpt_to};
use crate::yaml::Position;

/// A position in a source file: 1-based line and column (in characters) and the width of
/// the underlined text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Span {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Number of characters to underline (at least 1 when rendered).
    pub width: usize,
}

impl Span {
    /// The first character of a file, used when a problem has no better place (a missing
    /// top-level key).
    pub const START: Span = Span::new(1, 1, 1);

    /// The span of `width` characters from `line`:`column` (both 1-based).
    pub const fn new(line: usize, column: usize, width: usize) -> Span {
        Span { line, column, width }
    }

    /// The span of `width` characters from a parser's `position`; line 0 (where saphyr
    /// places an error in empty input) is shown as line 1.
    pub fn at(position: Position, width: usize) -> Span {
        Span::new(position.line.max(1), position.column, width)
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with its span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One problem in an input file, with everything needed to show it without the file at hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file the problem is in, as the user named it (cluster.yaml, a patch file).
    pub file: PathBuf,
    /// Where in the file.
    #[serde(flatten)]
    pub span: Span,
    /// The field path, e.g. `network.subnet` or `workers[0].type`; `None` for YAML syntax
    /// errors, which have no field yet.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What would be accepted, by example: "a CIDR, e.g. `10.0.1.0/24`".
    pub expected: Option<String>,
    /// A likely intended value: "did you mean `subnet`?".
    pub suggestion: Option<String>,
    /// The text of the source line, for the caret display.
    #[serde(skip)]
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `span` in `file`; `source` is the whole file text, used to capture
    /// the line shown under the message.
    pub fn new(file: &Path, source: Option<&str>, span: Span, field: Option<&str>, message: impl Into<String>) -> Self {
        let source_line = source.and_then(|text| text.lines().nth(span.line.saturating_sub(1)).map(str::to_owned));
        // Field paths hold the keys they pass through; both are cut as a last guard behind
        // the excerpts the checks quote values with.
        let message = message.into();
        Diagnostic {
            file: file.to_path_buf(),
            span,
            field: field.map(|field| excerpt_to(field, MAX_PATH_CHARS).into_owned()),
            message: match excerpt_to(&message, MAX_MESSAGE_CHARS) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(cut) => cut,
            },
            expected: None,
            suggestion: None,
            source_line,
        }
    }

    /// Adds the expected form, by example.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Adds a "did you mean `x`?" suggestion (only the candidate is stored).
    pub fn suggestion(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }
}

impl fmt::Display for Diagnostic {
    /// Renders the header line, then (when the source line is known) the line and a caret
    /// underline, then `= expected:` and `= help:` notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.span.line, self.span.column)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        let gutter = self.span.line.to_string().len();
        let pad = " ".repeat(gutter);
        if let Some(line) = &self.source_line {
            let (shown, start, width) = line_window(&printable_line(line), self.span);
            write!(f, "\n{pad} |\n{} | {shown}", self.span.line)?;
            write!(f, "\n{pad} | {}{}", " ".repeat(start), "^".repeat(width))?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n{pad} = expected: {expected}")?;
        }
        if let Some(suggestion) = &self.suggestion {
            write!(f, "\n{pad} = help: did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

/// The most characters of a source line shown under a diagnostic; a longer line is cut to
/// a window around the caret, with `…` where text was left out.
pub const MAX_SOURCE_LINE_CHARS: usize = 120;

/// The part of `line` shown under a diagnostic, with the caret's start column and width
/// (in characters, within the shown text). Lines up to [`MAX_SOURCE_LINE_CHARS`] are shown
/// whole. A longer line is cut to that many characters: from its start when the caret is
/// in the first half, else from a quarter window before the caret; each cut is marked with
/// `…` (one character, so the caret stays aligned) and the caret is clipped to the window.
fn line_window(line: &str, span: Span) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let length = chars.len();
    let start = span.column.saturating_sub(1).min(length);
    let width = span.width.max(1).min(length.saturating_sub(start).max(1));
    if length <= MAX_SOURCE_LINE_CHARS {
        return (line.to_owned(), start, width);
    }
    let from = if start <= MAX_SOURCE_LINE_CHARS / 2 {
        0
    } else {
        (start - MAX_SOURCE_LINE_CHARS / 4).min(length - MAX_SOURCE_LINE_CHARS)
    };
    let to = from + MAX_SOURCE_LINE_CHARS;
    let mut shown = String::new();
    let mut caret = start - from;
    if from > 0 {
        shown.push('…');
        caret += 1;
    }
    shown.extend(&chars[from..to]);
    if to < length {
        shown.push('…');
    }
    let width = width.min(to.saturating_sub(start)).max(1);
    (shown, caret, width)
}

/// The source line as it may be shown on a terminal: a tab becomes a space, and control
/// and bidirectional-formatting characters become U+FFFD, one character each so the
/// caret stays aligned. A hostile file must not be able to send escape sequences to the
/// operator's terminal or reorder what it shows.
fn printable_line(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Every problem found in one load, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// An empty collection.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    /// Adds one problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Returns true if and only if no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order they are shown.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Orders problems by file, then position; problems at the same place keep the order
    /// in which they were found. Exact duplicates are dropped.
    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.span.line, a.span.column).cmp(&(&b.file, b.span.line, b.span.column)));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The likely intended word among `candidates` ([`crate::suggest::suggest`]), owned, as
/// [`Diagnostic::suggestion`] stores it.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    crate::suggest::suggest(word, candidates).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_source_line_caret_and_notes() {
        let source = "name: x\nnetwork:\n  subnet: 10.1.0.0/24\n";
        let span = Span::new(3, 11, 11);
        let diagnostic = Diagnostic::new(
            Path::new("cluster.yaml"),
            Some(source),
            span,
            Some("network.subnet"),
            "10.1.0.0/24 is not inside network.cidr 10.0.0.0/16",
        )
        .expected("a CIDR inside network.cidr, e.g. `10.0.1.0/24`")
        .suggestion(Some("10.0.1.0/24".into()));
        assert_eq!(
            diagnostic.to_string(),
            "cluster.yaml:3:11: network.subnet: 10.1.0.0/24 is not inside network.cidr 10.0.0.0/16\n  |\n3 |   subnet: 10.1.0.0/24\n  |           ^^^^^^^^^^^\n  = expected: a CIDR inside network.cidr, e.g. `10.0.1.0/24`\n  = help: did you mean `10.0.1.0/24`?"
        );
    }

    #[test]
    fn control_and_bidi_characters_of_the_source_line_are_not_sent_to_the_terminal() {
        let source = "name: a\u{1b}]0;x\u{7}\u{1b}[2Jb  # \u{202e}kool\tc\n";
        let span = Span::new(1, 7, 13);
        let diagnostic = Diagnostic::new(Path::new("c.yaml"), Some(source), span, Some("name"), "bad");
        assert_eq!(
            diagnostic.to_string(),
            "c.yaml:1:7: name: bad\n  |\n1 | name: a\u{fffd}]0;x\u{fffd}\u{fffd}[2Jb  # \u{fffd}kool c\n  |       ^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn long_source_lines_are_cut_to_a_window_around_the_caret() {
        let value = "v".repeat(1_000);
        let source = format!("name: {value}  # end\n");
        let at = |column: usize, width: usize| {
            Diagnostic::new(
                Path::new("c.yaml"),
                Some(&source),
                Span::new(1, column, width),
                Some("name"),
                "bad",
            )
            .to_string()
        };
        // The caret near the start: the line's start, cut at the end.
        assert_eq!(
            at(7, 1_000),
            format!(
                "c.yaml:1:7: name: bad\n  |\n1 | name: {}…\n  |       {}",
                "v".repeat(114),
                "^".repeat(114)
            )
        );
        // The caret far in: a window from 30 characters before it, cut on both sides.
        assert_eq!(
            at(507, 3),
            format!(
                "c.yaml:1:507: name: bad\n  |\n1 | …{}…\n  | {}^^^",
                "v".repeat(120),
                " ".repeat(31)
            )
        );
        // The caret at the end: the window ends with the line.
        let end = source.trim_end().chars().count();
        let rendered = at(end, 1);
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[2], format!("1 | …{}  # end", "v".repeat(113)));
        assert_eq!(lines[3].find('^'), Some(lines[2].chars().count() - 1));
        assert!(rendered.len() < 400, "{rendered}");
    }

    #[test]
    fn long_fields_and_messages_are_cut() {
        let key = "k".repeat(100_000);
        let diagnostic = Diagnostic::new(
            Path::new("c.yaml"),
            None,
            Span::START,
            Some(&format!("sysctls.{key}")),
            format!("unknown key {key}"),
        );
        assert_eq!(diagnostic.field, Some(format!("sysctls.{}…", "k".repeat(152))));
        assert_eq!(diagnostic.message, format!("unknown key {}…", "k".repeat(988)));
    }

    #[test]
    fn caret_is_clamped_to_the_line() {
        let span = Span::new(1, 40, 9);
        let diagnostic = Diagnostic::new(Path::new("c.yaml"), Some("a: b\n"), span, None, "oops");
        assert!(diagnostic.to_string().ends_with("1 | a: b\n  |     ^"), "{diagnostic}");
    }
}
