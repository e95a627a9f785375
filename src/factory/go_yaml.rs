//! The two pieces of Go's YAML package (`go.yaml.in/yaml/v4`, which keeps the behaviour of
//! `gopkg.in/yaml.v3` for `Marshal`) that decide a schematic's bytes, and so its ID.
//!
//! * [`resolve_plain`]: what an unquoted scalar means (null, bool, int, float, timestamp or
//!   string). The decoder uses it to read values; the encoder uses it to decide whether a
//!   string must be quoted so it does not read back as something else.
//! * [`emit`]: the block-style emitter with Go's defaults for `yaml.Marshal`: 4-space
//!   indentation, sequences indented under their key, no line wrapping, plain scalars where
//!   allowed, single quotes where plain is not allowed, double quotes for strings that would
//!   resolve to another type or need escapes, literal blocks for multi-line strings.
//!
//! The rules were ported from the Go sources' behaviour and checked against the output of
//! Go's encoder for a table of awkward strings (see the tests at the foot). Where v4 differs
//! from v3.0.1 (block scalars that start with a line break, issue go-yaml#755/#65), v4 is
//! followed. Nothing here knows about schematics.

/// What an unquoted scalar resolves to, following Go's `resolve("", s)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, `Null`, `NULL` or the empty string.
    Null,
    /// `true`/`false` in three spellings each.
    Bool(bool),
    /// An integer (decimal, `0x`, `0o`, `0b`, legacy `0777` octal, `_` separators).
    Int(i128),
    /// A float (including `.inf`, `.nan`).
    Float(f64),
    /// A timestamp such as `2024-01-02`; Go keeps it as a string when the target is untyped.
    Timestamp,
    /// Anything else: a string.
    Str,
}

/// Resolves an unquoted scalar the way Go's yaml package does.
pub fn resolve_plain(s: &str) -> Resolved {
    let Some(first) = s.chars().next() else {
        return Resolved::Null;
    };
    let hint = match first {
        '+' | '-' => 'S',
        '0'..='9' => 'D',
        'y' | 'Y' | 'n' | 'N' | 't' | 'T' | 'f' | 'F' | 'o' | 'O' | '~' => 'M',
        '.' => '.',
        _ => return Resolved::Str,
    };
    if let Some(known) = resolve_map(s) {
        return known;
    }
    match hint {
        '.' => {
            if is_dot_float(s)
                && let Ok(f) = s.parse::<f64>()
                && f.is_finite()
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        'D' | 'S' => {
            if is_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

fn resolve_map(s: &str) -> Option<Resolved> {
    Some(match s {
        "true" | "True" | "TRUE" => Resolved::Bool(true),
        "false" | "False" | "FALSE" => Resolved::Bool(false),
        "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)` for values
/// above `i64::MAX`: optional sign, `0x`/`0o`/`0b` prefixes, a leading `0` means octal.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, signed, rest) = match s.as_bytes().first()? {
        b'+' => (false, true, &s[1..]),
        b'-' => (true, true, &s[1..]),
        _ => (false, false, s),
    };
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0o").or_else(|| rest.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = rest.strip_prefix("0b").or_else(|| rest.strip_prefix("0B")) {
        (2, d)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    let value = if negative {
        -(i128::try_from(magnitude).ok()?)
    } else {
        i128::try_from(magnitude).ok()?
    };
    let fits_i64 = value >= i128::from(i64::MIN) && value <= i128::from(i64::MAX);
    let fits_u64 = !signed && value >= 0 && value <= i128::from(u64::MAX);
    (fits_i64 || fits_u64).then_some(value)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A scalar starting with `.` that Go's `ParseFloat` accepts: `.5`, `.5e3`.
fn is_dot_float(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('.') else { return false };
    !rest.is_empty() && rest.as_bytes()[0].is_ascii_digit() && is_yaml_style_float(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: YAML 1.1 sexagesimal numbers, which
/// Go quotes on output for the sake of 1.1 readers.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// YAML 1.1 booleans that Go quotes on output.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
    )
}

/// Go's `parseTimestamp`: `YYYY-M-D`, optionally followed by `T`/`t`/space and `h:m:s`
/// with optional fraction and (for `T`/`t`) an optional `Z` or `±hh:mm` zone.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max_digits: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max_digits {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let Some(month) = num(&mut i, 2) else { return false };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else { return false };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let separator = b[i];
    if !matches!(separator, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    let Some(hour) = num(&mut i, 2) else { return false };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(minute) = num(&mut i, 2) else { return false };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(second) = num(&mut i, 2) else { return false };
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == b.len() {
        return true;
    }
    if separator == b' ' {
        return false;
    }
    match b[i] {
        b'Z' => i + 1 == b.len(),
        b'+' | b'-' => {
            let zone = &b[i + 1..];
            zone.len() == 5
                && zone[0].is_ascii_digit()
                && zone[1].is_ascii_digit()
                && zone[2] == b':'
                && zone[3].is_ascii_digit()
                && zone[4].is_ascii_digit()
        }
        _ => false,
    }
}

/// A timestamp as Go re-writes it after decoding into `time.Time`: RFC 3339 with
/// nanoseconds trimmed, `Z` for UTC (date-only and zone-less values are UTC).
pub fn normalize_timestamp(s: &str) -> Option<String> {
    if !is_timestamp(s) {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = parts.next()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let Some(rest) = rest else {
        return Some(format!("{year}-{month:02}-{day:02}T00:00:00Z"));
    };
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, f.trim_end_matches('0')),
        None => (clock, ""),
    };
    let mut hms = hms.split(':');
    let hour: u32 = hms.next()?.parse().ok()?;
    let minute: u32 = hms.next()?.parse().ok()?;
    let second: u32 = hms.next()?.parse().ok()?;
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{}", &fraction[..fraction.len().min(9)])
    };
    let zone = match zone {
        "" | "Z" | "+00:00" | "-00:00" => "Z".to_string(),
        other => other.to_string(),
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
    ))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// Whether Go's encoder writes the string `s` unquoted (it would not read back as another
/// type, and is not a YAML 1.1 bool or sexagesimal number).
fn can_use_plain(s: &str) -> bool {
    resolve_plain(s) == Resolved::Str && !(is_base60_float(s) || is_old_bool(s))
}

/// A value to emit, already in Go's field order (struct fields) or key order (maps).
#[derive(Debug, Clone, PartialEq)]
pub enum Emit {
    /// A block mapping (`{}` when empty).
    Map(Vec<(Emit, Emit)>),
    /// A block sequence (`[]` when empty).
    Seq(Vec<Emit>),
    /// A string, quoted only if needed.
    Str(String),
    /// An integer, decimal.
    Int(i128),
    /// A float, formatted like Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
    Float(f64),
    /// `true`/`false`.
    Bool(bool),
    /// `null`.
    Null,
    /// Text written as is, unquoted (a timestamp).
    Plain(String),
}

/// A value that Go would emit in a form this emitter does not reproduce.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Renders one YAML document exactly as Go's `yaml.Marshal` would.
pub fn emit(root: &Emit) -> Result<String, Unsupported> {
    let mut emitter = Emitter {
        out: String::new(),
        column: 0,
        indention: true,
        whitespace: true,
    };
    emitter.node(root, -1, Context::Root)?;
    emitter.write_indent(-1);
    Ok(emitter.out)
}

const BEST_INDENT: isize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    MappingValue,
    SequenceItem,
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

struct Emitter {
    out: String,
    column: usize,
    indention: bool,
    whitespace: bool,
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Emitter {
    /// The indentation of a child node, given the current indentation and where the child
    /// sits (Go's `increaseIndentCompact` without compact sequences).
    fn child_indent(indent: isize, flow: bool, context: Context) -> isize {
        if indent < 0 {
            if flow { BEST_INDENT } else { 0 }
        } else if context == Context::SequenceItem {
            indent + 2
        } else {
            BEST_INDENT * ((indent + BEST_INDENT) / BEST_INDENT)
        }
    }

    fn node(&mut self, node: &Emit, indent: isize, context: Context) -> Result<(), Unsupported> {
        match node {
            Emit::Map(entries) if entries.is_empty() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Emit::Seq(items) if items.is_empty() => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Emit::Map(entries) => {
                let inner = Self::child_indent(indent, false, context);
                for (key, value) in entries {
                    self.write_indent(inner);
                    self.key(key, inner)?;
                    self.write_indicator(":", false, false, false);
                    self.node(value, inner, Context::MappingValue)?;
                }
            }
            Emit::Seq(items) => {
                let inner = Self::child_indent(indent, false, context);
                for item in items {
                    self.write_indent(inner);
                    self.write_indicator("-", true, false, true);
                    self.node(item, inner, Context::SequenceItem)?;
                }
            }
            scalar => {
                let (text, style) = scalar_text(scalar);
                let inner = Self::child_indent(indent, true, context);
                self.scalar(&text, style, inner, false);
            }
        }
        Ok(())
    }

    fn key(&mut self, key: &Emit, indent: isize) -> Result<(), Unsupported> {
        match key {
            Emit::Map(_) | Emit::Seq(_) => Err(Unsupported("mapping keys must be scalars".to_string())),
            scalar => {
                let (text, style) = scalar_text(scalar);
                // Go writes a key that is multi-line or longer than 128 bytes as a complex
                // key (`? …`); no schematic needs one, so refuse instead of guessing.
                if text.len() > 128 || text.chars().any(is_break) {
                    return Err(Unsupported(format!(
                        "the mapping key {text:?} is longer than 128 bytes or spans lines"
                    )));
                }
                let inner = Self::child_indent(indent, true, Context::Key);
                self.scalar(&text, style, inner, true);
                Ok(())
            }
        }
    }

    fn scalar(&mut self, text: &str, requested: Style, indent: isize, simple_key: bool) {
        let analysis = analyze(text);
        let mut style = requested;
        if simple_key && analysis.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain && (!analysis.block_plain_allowed || (text.is_empty() && simple_key)) {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal && (!analysis.block_allowed || simple_key) {
            style = Style::DoubleQuoted;
        }
        match style {
            Style::Plain => self.write_plain(text),
            Style::SingleQuoted => self.write_single_quoted(text, indent),
            Style::DoubleQuoted => self.write_double_quoted(text),
            Style::Literal => self.write_literal(text, indent),
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_indent(&mut self, indent: isize) {
        let indent = usize::try_from(indent).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_plain(&mut self, text: &str) {
        if !text.is_empty() && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        if !text.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, indent: isize) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in text.chars() {
            if c == ' ' {
                self.put(c);
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, text: &str) {
        self.write_indicator("\"", true, false, false);
        // Go checks for a byte-order mark at the start of the *whole* value on every
        // character, so a value that starts with one is escaped throughout.
        let starts_with_bom = text.starts_with('\u{feff}');
        for c in text.chars() {
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let v = u32::from(c);
                let short = match v {
                    0x00 => Some('0'),
                    0x07 => Some('a'),
                    0x08 => Some('b'),
                    0x09 => Some('t'),
                    0x0A => Some('n'),
                    0x0B => Some('v'),
                    0x0C => Some('f'),
                    0x0D => Some('r'),
                    0x1B => Some('e'),
                    0x22 => Some('"'),
                    0x5C => Some('\\'),
                    0x85 => Some('N'),
                    0xA0 => Some('_'),
                    0x2028 => Some('L'),
                    0x2029 => Some('P'),
                    _ => None,
                };
                match short {
                    Some(s) => self.put(s),
                    None => {
                        let escaped = if v <= 0xFF {
                            format!("x{v:02X}")
                        } else if v <= 0xFFFF {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        for e in escaped.chars() {
                            self.put(e);
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, text: &str, indent: isize) {
        self.write_indicator("|", true, false, false);
        if text.starts_with(' ') {
            let hint = char::from_digit(BEST_INDENT.unsigned_abs() as u32, 10).unwrap_or('4');
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        let chars: Vec<char> = text.chars().collect();
        let chomp = match chars.as_slice() {
            [] => Some('-'),
            [.., last] if !is_break(*last) => Some('-'),
            [_] => Some('+'),
            [.., before, _] if is_break(*before) => Some('+'),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(&chomp.to_string(), false, false, false);
        }
        self.put_break();
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// The text and requested style of a scalar, as Go's encoder produces them.
fn scalar_text(node: &Emit) -> (String, Style) {
    match node {
        Emit::Str(s) => {
            let style = if s.contains('\n') {
                Style::Literal
            } else if can_use_plain(s) {
                Style::Plain
            } else {
                Style::DoubleQuoted
            };
            (s.clone(), style)
        }
        Emit::Int(i) => (i.to_string(), Style::Plain),
        Emit::Float(f) => (go_format_float(*f), Style::Plain),
        Emit::Bool(b) => (b.to_string(), Style::Plain),
        Emit::Plain(text) => (text.clone(), Style::Plain),
        Emit::Null | Emit::Map(_) | Emit::Seq(_) => ("null".to_string(), Style::Plain),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's names for infinities and NaN.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest mode.
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exponent) {
        let (head, tail) = digits.split_at(1);
        let mantissa = if tail.is_empty() {
            head.to_string()
        } else {
            format!("{head}.{tail}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs());
    }
    let point = exponent + 1;
    let text = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (int_part, frac) = digits.split_at(point as usize);
        format!("{int_part}.{frac}")
    };
    format!("{sign}{text}")
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let v = u32::from(c);
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

fn is_blank(c: Option<&char>) -> bool {
    matches!(c, Some(' ' | '\t'))
}

/// Go's `analyzeScalar`, reduced to block context (flow level 0).
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
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= chars.len() || is_blank(chars.get(i + 1));
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
            tab_characters = true;
        } else if !is_printable(c) {
            special_characters = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
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
    if break_space {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        analysis.block_allowed = false;
    }
    if line_breaks || block_indicators {
        analysis.block_plain_allowed = false;
    }
    analysis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(args: &[&str]) -> String {
        let root = Emit::Map(vec![(
            Emit::Str("customization".into()),
            Emit::Map(vec![(
                Emit::Str("extraKernelArgs".into()),
                Emit::Seq(args.iter().map(|a| Emit::Str((*a).to_string())).collect()),
            )]),
        )]);
        emit(&root).expect("emits")
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
    fn strings_are_quoted_like_go() {
        for (input, expected) in GO_QUOTING {
            let got = doc(&[input]);
            let want = format!("customization:\n    extraKernelArgs:\n        - {expected}\n");
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn unicode_line_separator_in_single_quotes_matches_go() {
        // Go writes the separator raw, then re-indents the rest of the value.
        let got = doc(&["line\u{2028}sep"]);
        assert_eq!(
            got,
            "customization:\n    extraKernelArgs:\n        - 'line\u{2028}          sep'\n"
        );
    }

    #[test]
    fn multi_line_strings_use_literal_blocks() {
        let got = doc(&["a\nb", "c\n"]);
        assert_eq!(
            got,
            "customization:\n    extraKernelArgs:\n        - |-\n          a\n          b\n        - |\n          c\n"
        );
        // A trailing space before a line break forbids block style: double quotes.
        assert_eq!(
            doc(&["a \nb\n"]),
            "customization:\n    extraKernelArgs:\n        - \"a \\nb\\n\"\n"
        );
        // Two trailing breaks keep them (`|+`); a leading space needs an indentation hint.
        assert_eq!(
            doc(&["a\n\n"]),
            "customization:\n    extraKernelArgs:\n        - |+\n          a\n\n"
        );
        assert_eq!(
            doc(&[" a\n"]),
            "customization:\n    extraKernelArgs:\n        - |4\n           a\n"
        );
        // v4 (go-yaml #755): a leading line break is kept, with no indentation hint.
        assert_eq!(
            doc(&["\nabc\n"]),
            "customization:\n    extraKernelArgs:\n        - |\n\n          abc\n"
        );
    }

    #[test]
    fn generic_values_match_go() {
        let root = Emit::Map(vec![(
            Emit::Str("options".into()),
            Emit::Map(vec![
                (Emit::Str("1".into()), Emit::Str("one".into())),
                (
                    Emit::Str("a".into()),
                    Emit::Seq(vec![
                        Emit::Int(1),
                        Emit::Float(2.5),
                        Emit::Bool(true),
                        Emit::Null,
                        Emit::Map(vec![(Emit::Str("j".into()), Emit::Seq(vec![]))]),
                        Emit::Seq(vec![Emit::Int(1), Emit::Seq(vec![Emit::Int(2)])]),
                    ]),
                ),
                (Emit::Str("n".into()), Emit::Map(vec![])),
            ]),
        )]);
        let want = "options:\n    \"1\": one\n    a:\n        - 1\n        - 2.5\n        - true\n        - null\n        - j: []\n        - - 1\n          - - 2\n    \"n\": {}\n";
        assert_eq!(emit(&root).expect("emits"), want);
    }

    #[test]
    fn floats_format_like_go() {
        for (f, want) in [
            (1e20, "1e+20"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (3.0, "3"),
            (2.5, "2.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
        ] {
            assert_eq!(go_format_float(f), want, "{f}");
        }
    }

    #[test]
    fn resolves_like_go() {
        assert_eq!(resolve_plain("0xa"), Resolved::Int(10));
        assert_eq!(resolve_plain("012"), Resolved::Int(10));
        assert_eq!(resolve_plain("0o12"), Resolved::Int(10));
        assert_eq!(resolve_plain("1_0"), Resolved::Int(10));
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Resolved::Int(18446744073709551615)
        );
        assert_eq!(
            resolve_plain("-18446744073709551615"),
            Resolved::Float(-18446744073709551615.0)
        );
        assert_eq!(resolve_plain("yes"), Resolved::Str);
        assert_eq!(resolve_plain("2024-02-30"), Resolved::Str);
        assert_eq!(resolve_plain("2024-02-29"), Resolved::Timestamp);
        assert_eq!(resolve_plain("2001-12-14t21:59:43.10-05:00"), Resolved::Timestamp);
        assert_eq!(resolve_plain("1e400"), Resolved::Str);
    }
}
