//! Paths into a value tree: `machine.network.interfaces[0].vip`, for addressing and for
//! error messages.
//!
//! Keys that contain `.`, brackets, quotes or spaces (sysctls, node labels) are written in
//! brackets with double quotes: `machine.sysctls["net.ipv4.ip_forward"]`. RFC 6901 JSON
//! pointers (`/machine/install/disk`, used by JSON6902 patches) convert both ways.

use std::fmt;

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from a document root to a node; the empty path is the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Path {
    segments: Vec<Segment>,
}

/// A path that cannot be parsed or followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text is not a valid path.
    #[error("invalid path {text:?}: {reason}")]
    Syntax {
        /// The text given.
        text: String,
        /// What is wrong, with the expected form.
        reason: String,
    },
    /// A key step met a node that is not a mapping.
    #[error("{} is a {found}, expected a mapping", display_or_root(.path))]
    NotAMapping {
        /// The path of the offending node.
        path: Path,
        /// What was found there.
        found: &'static str,
    },
    /// An index step met a node that is not a sequence.
    #[error("{} is a {found}, expected a sequence", display_or_root(.path))]
    NotASequence {
        /// The path of the offending node.
        path: Path,
        /// What was found there.
        found: &'static str,
    },
    /// An index past the end of a sequence.
    #[error("index {index} is past the end of {} (length {len})", display_or_root(.path))]
    IndexOutOfRange {
        /// The path of the sequence.
        path: Path,
        /// The index asked for.
        index: usize,
        /// The sequence length.
        len: usize,
    },
}

impl crate::error::Classify for PathError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

fn display_or_root(path: &Path) -> String {
    if path.is_root() {
        "the document root".to_string()
    } else {
        path.to_string()
    }
}

impl Path {
    /// The empty path (the document root).
    pub fn root() -> Self {
        Path::default()
    }

    /// A path from its steps.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        Path { segments }
    }

    /// Parses `a.b[0]["c.d"]` (a leading `.` is allowed, as in Talos messages such as
    /// `.machine.ca`).
    ///
    /// # Errors
    /// [`PathError::Syntax`] with the position and the expected form.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let syntax = |reason: String| PathError::Syntax {
            text: text.to_string(),
            reason,
        };
        let chars: Vec<char> = text.chars().collect();
        let mut segments = Vec::new();
        let mut i = 0;
        if chars.first() == Some(&'.') {
            i = 1;
        }
        let mut expect_key = true;
        while i < chars.len() {
            match chars[i] {
                '[' => {
                    i += 1;
                    if chars.get(i) == Some(&'"') {
                        i += 1;
                        let mut key = String::new();
                        loop {
                            match chars.get(i) {
                                None => {
                                    return Err(syntax(
                                        "unterminated quoted key, e.g. [\"net.ipv4.ip_forward\"]".into(),
                                    ));
                                }
                                Some('\\') => {
                                    let Some(&escaped) = chars.get(i + 1) else {
                                        return Err(syntax("dangling backslash in quoted key".into()));
                                    };
                                    key.push(escaped);
                                    i += 2;
                                }
                                Some('"') => {
                                    i += 1;
                                    break;
                                }
                                Some(&c) => {
                                    key.push(c);
                                    i += 1;
                                }
                            }
                        }
                        if chars.get(i) != Some(&']') {
                            return Err(syntax(format!("expected ] at character {}", i + 1)));
                        }
                        i += 1;
                        segments.push(Segment::Key(key));
                    } else {
                        let start = i;
                        while chars.get(i).is_some_and(char::is_ascii_digit) {
                            i += 1;
                        }
                        if chars.get(i) != Some(&']') || i == start {
                            return Err(syntax(format!(
                                "expected an index such as [0] or a quoted key such as [\"a.b\"] at character {}",
                                start
                            )));
                        }
                        let digits: String = chars[start..i].iter().collect();
                        let index = digits
                            .parse()
                            .map_err(|_| syntax(format!("index {digits} is too large")))?;
                        i += 1;
                        segments.push(Segment::Index(index));
                    }
                    expect_key = false;
                }
                '.' => {
                    if expect_key {
                        return Err(syntax(format!("empty key at character {}", i + 1)));
                    }
                    i += 1;
                    expect_key = true;
                    if i == chars.len() {
                        return Err(syntax("path ends with '.'".into()));
                    }
                }
                _ => {
                    if !expect_key {
                        return Err(syntax(format!("expected '.' or '[' at character {}", i + 1)));
                    }
                    let start = i;
                    while i < chars.len() && !matches!(chars[i], '.' | '[') {
                        if matches!(chars[i], ']' | '"') {
                            return Err(syntax(format!("unexpected {:?} at character {}", chars[i], i + 1)));
                        }
                        i += 1;
                    }
                    segments.push(Segment::Key(chars[start..i].iter().collect()));
                    expect_key = false;
                }
            }
        }
        Ok(Path { segments })
    }

    /// Parses an RFC 6901 JSON pointer (`/machine/network/interfaces/0/vip`). Steps made of
    /// digits become indices (a JSON patch decides by the target; a mapping key made of
    /// digits is rare in machine configs).
    ///
    /// # Errors
    /// [`PathError::Syntax`] when the pointer does not start with `/` or has a bad escape.
    pub fn from_json_pointer(pointer: &str) -> Result<Self, PathError> {
        if pointer.is_empty() {
            return Ok(Path::root());
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(PathError::Syntax {
                text: pointer.to_string(),
                reason: "a JSON pointer starts with '/', e.g. /machine/install/disk".into(),
            });
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => {
                            return Err(PathError::Syntax {
                                text: pointer.to_string(),
                                reason: "'~' must be followed by 0 or 1".into(),
                            });
                        }
                    }
                } else {
                    token.push(c);
                }
            }
            let is_index = !token.is_empty()
                && token.chars().all(|c| c.is_ascii_digit())
                && (token == "0" || !token.starts_with('0'));
            match token.parse::<usize>() {
                Ok(index) if is_index => segments.push(Segment::Index(index)),
                _ => segments.push(Segment::Key(token)),
            }
        }
        Ok(Path { segments })
    }

    /// This path as an RFC 6901 JSON pointer.
    pub fn to_json_pointer(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Key(key) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
                Segment::Index(index) => out.push_str(&index.to_string()),
            }
        }
        out
    }

    /// The steps, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Returns true if and only if this is the root path.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The first `len` steps.
    pub fn prefix(&self, len: usize) -> Path {
        Path {
            segments: self.segments[..len.min(self.segments.len())].to_vec(),
        }
    }

    /// The path without its last step (`None` for the root).
    pub fn parent(&self) -> Option<Path> {
        (!self.is_root()).then(|| self.prefix(self.segments.len() - 1))
    }

    /// The last step.
    pub fn last(&self) -> Option<&Segment> {
        self.segments.last()
    }

    /// This path extended by a key.
    pub fn key(&self, key: impl Into<String>) -> Path {
        let mut segments = self.segments.clone();
        segments.push(Segment::Key(key.into()));
        Path { segments }
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Path {
        let mut segments = self.segments.clone();
        segments.push(Segment::Index(index));
        Path { segments }
    }

    /// Appends a step in place.
    pub fn push(&mut self, segment: Segment) {
        self.segments.push(segment);
    }

    /// Removes the last step in place.
    pub fn pop(&mut self) -> Option<Segment> {
        self.segments.pop()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) if is_bare_key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => {
                    f.write_str("[\"")?;
                    for c in key.chars() {
                        if matches!(c, '"' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"]")?;
                }
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Path::parse(s)
    }
}

/// Returns true if and only if `key` can be written without brackets.
fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | '\\') || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "machine.network.interfaces[0].vip",
            r#"machine.sysctls["net.ipv4.ip_forward"]"#,
            r#"machine.nodeLabels["node.kubernetes.io/exclude-from-external-load-balancers"]"#,
            "cluster.apiServer.admissionControl[0].configuration.exemptions.namespaces[1]",
            r#"a["with \"quote\""]"#,
            "$patch",
        ] {
            let path = Path::parse(text).expect("valid path");
            assert_eq!(path.to_string(), text);
        }
        assert_eq!(
            Path::parse(".machine.ca").expect("leading dot").segments(),
            [Segment::Key("machine".into()), Segment::Key("ca".into())]
        );
        assert_eq!(Path::root().to_string(), "");
    }

    #[test]
    fn parse_errors_show_the_expected_form() {
        let err = Path::parse("a..b").expect_err("empty key");
        assert_eq!(err.to_string(), "invalid path \"a..b\": empty key at character 3");
        let err = Path::parse("a[x]").expect_err("bad index");
        assert!(err.to_string().contains("expected an index such as [0]"), "{err}");
        assert!(Path::parse("a.").is_err());
        assert!(Path::parse(r#"a["b"#).is_err());
    }

    #[test]
    fn json_pointers_convert_both_ways() {
        let path = Path::from_json_pointer("/machine/network/interfaces/0/vip").expect("valid");
        assert_eq!(path.to_string(), "machine.network.interfaces[0].vip");
        let labels = Path::from_json_pointer("/machine/nodeLabels/a~1b~0c").expect("valid");
        assert_eq!(labels.last(), Some(&Segment::Key("a/b~c".into())));
        assert_eq!(labels.to_json_pointer(), "/machine/nodeLabels/a~1b~0c");
        assert_eq!(
            Path::from_json_pointer("/x/01").expect("valid").last(),
            Some(&Segment::Key("01".into()))
        );
        assert!(Path::from_json_pointer("machine").is_err());
        assert!(Path::from_json_pointer("/a~2").is_err());
    }
}
