//! What a plain scalar means to Go's YAML package, and the inverse: how go-yaml writes a
//! Go string, float or time so that it reads back as itself.
//!
//! Ported from go-yaml's `resolve.go` and `encode.go` (the rules are the same in
//! `gopkg.in/yaml.v3` and `go.yaml.in/yaml/v4`) and checked against Go's own encoder for
//! a table of awkward strings (`emit.rs` tests). Resolution decides what a Talos config's
//! `1` or a schematic's `0xa` is; the string rules decide when a string must be quoted so it
//! does not read back as a number, a boolean or a YAML 1.1 relic.

use super::value::ScalarStyle;

/// The typed value of a scalar under go-yaml's resolution rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// `null`, `~`, empty plain scalar.
    Null,
    /// `true`/`false` in three spellings each (YAML 1.2; `yes`/`on` are strings).
    Bool(bool),
    /// Integers, including `0x`, `0o`, `0b`, legacy `0777` octal and `_` separators.
    Int(i128),
    /// Finite floats, and `.inf`/`.nan` in their YAML spellings.
    Float(f64),
    /// A plain timestamp such as `2024-01-02`; kept as text.
    Timestamp(&'a str),
    /// Anything else, and every quoted or block scalar.
    Str(&'a str),
}

/// Resolves a plain scalar's text as go-yaml does (`resolve("", s)`).
///
/// Go looks past the text only when its first character hints at a non-string (a sign, a
/// digit, `.`, or the first letter of a spelling of null/true/false); numbers that
/// `strconv` rejects (out of range, `1e400`) stay strings.
pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let Some(&first) = text.as_bytes().first() else {
        return Resolved::Null;
    };
    match first {
        // `strconv.ParseFloat`; with a leading `.` only the decimal forms parse.
        b'.' => match finite_float(text) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str(text),
        },
        b'+' | b'-' | b'0'..=b'9' => {
            if is_go_timestamp(text) {
                return Resolved::Timestamp(text);
            }
            let plain: String = text.chars().filter(|c| *c != '_').collect();
            if let Some(i) = parse_go_int(&plain) {
                return Resolved::Int(i);
            }
            match finite_float(&plain) {
                Some(f) => Resolved::Float(f),
                None => Resolved::Str(text),
            }
        }
        _ => Resolved::Str(text),
    }
}

/// The style go-yaml gives a Go `string` (`encode.go` `stringv`): literal block when it
/// contains a newline, double quotes when the plain text would resolve to another type or
/// is a YAML 1.1 boolean or sexagesimal number, plain otherwise (the emitter still switches
/// to quotes when the characters forbid plain style).
pub fn go_string_style(text: &str) -> ScalarStyle {
    if text.contains('\n') {
        ScalarStyle::Literal
    } else if matches!(resolve_plain(text), Resolved::Str(_)) && !is_base60_float(text) && !is_old_bool(text) {
        ScalarStyle::Plain
    } else {
        ScalarStyle::DoubleQuoted
    }
}

/// Returns true if and only if `text` is a YAML 1.1 boolean spelling (`yes`, `off`, …),
/// which go-yaml v3 decodes as a string but still quotes on output, and accepts when the
/// target is a Go `bool`.
pub fn is_old_bool(text: &str) -> bool {
    old_bool(text).is_some()
}

/// The value of a YAML 1.1 boolean spelling, as go-yaml reads it into a Go `bool`.
pub fn old_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's spellings of infinities and NaN:
/// how go-yaml writes a `float64`.
pub fn format_float(f: f64) -> String {
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
    // Shortest `'g'` switches to `%e` below 1e-4 and from 1e6 on (Go's `eprec = 6`).
    if !(-4..6).contains(&exponent) {
        return scientific_go(sign, &digits, exponent);
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

/// `d.ddde±XX` as Go writes it (at least two exponent digits).
fn scientific_go(sign: &str, digits: &str, exponent: i32) -> String {
    let (head, tail) = digits.split_at(1);
    let mantissa = if tail.is_empty() {
        head.to_string()
    } else {
        format!("{head}.{tail}")
    };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs())
}

/// A plain timestamp as go-yaml writes it back after decoding it into a `time.Time`: RFC
/// 3339 with trailing zeros of the fraction dropped, `Z` for UTC (date-only and zone-less
/// values are UTC). `None` when `text` is not a timestamp.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    if !is_go_timestamp(text) {
        return None;
    }
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
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
        "" | "Z" | "+00:00" | "-00:00" => "Z",
        other => other,
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
    ))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)` (which takes no sign):
/// `0x`/`0o`/`0b` prefixes, a leading `0` means octal.
fn parse_go_int(s: &str) -> Option<i128> {
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
    let magnitude = i128::try_from(u128::from_str_radix(digits, radix).ok()?).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    let fits_i64 = value >= i128::from(i64::MIN) && value <= i128::from(i64::MAX);
    let fits_u64 = !signed && value <= i128::from(u64::MAX);
    (fits_i64 || fits_u64).then_some(value)
}

/// A float go-yaml accepts: `yamlStyleFloat` syntax and finite for `strconv.ParseFloat`
/// (which reports out-of-range values as errors).
fn finite_float(s: &str) -> Option<f64> {
    if !is_yaml_style_float(s) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
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
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// YAML 1.1 sexagesimal numbers (`1:20`), which go-yaml quotes on output:
/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
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
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
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

/// go-yaml's `parseTimestamp`: four digits and `-`, then one of Go's layouts `2006-1-2`,
/// `2006-1-2T15:4:5.999999999Z07:00` (also lowercase `t`; the zone is required there) or
/// `2006-1-2 15:4:5.999999999`, with a valid calendar date.
fn is_go_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let number = |i: &mut usize, max_digits: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max_digits {
            *i += 1;
        }
        (*i > start).then(|| s[start..*i].parse().ok()).flatten()
    };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let Some(month) = number(&mut i, 2) else { return false };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = number(&mut i, 2) else { return false };
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
    let Some(hour) = number(&mut i, 2) else { return false };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(minute) = number(&mut i, 2) else { return false };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(second) = number(&mut i, 2) else { return false };
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if separator == b' ' {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let zone = &b[i + 1..];
            zone.len() == 5 && zone[2] == b':' && [0, 1, 3, 4].iter().all(|&k| zone[k].is_ascii_digit())
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> &'static str {
        match resolve_plain(text) {
            Resolved::Null => "null",
            Resolved::Bool(_) => "bool",
            Resolved::Int(_) => "int",
            Resolved::Float(_) => "float",
            Resolved::Timestamp(_) => "timestamp",
            Resolved::Str(_) => "str",
        }
    }

    #[test]
    fn plain_scalars_resolve_like_go_yaml() {
        let cases: &[(&str, &str)] = &[
            ("", "null"),
            ("~", "null"),
            ("null", "null"),
            ("true", "bool"),
            ("False", "bool"),
            ("yes", "str"),
            ("on", "str"),
            ("1", "int"),
            ("-12", "int"),
            ("0x1F", "int"),
            ("0o17", "int"),
            ("0b101", "int"),
            ("0777", "int"),
            ("1_000", "int"),
            ("08", "float"),
            ("1.5", "float"),
            (".5", "float"),
            ("1e3", "float"),
            ("-.inf", "float"),
            (".nan", "float"),
            ("99999999999999999999", "float"),
            ("2024-01-02", "timestamp"),
            ("2024-1-2T03:04:05Z", "timestamp"),
            ("2001-12-14t21:59:43.10-05:00", "timestamp"),
            ("2024-01-02 03:04:05.5", "timestamp"),
            ("2024-02-29", "timestamp"),
            ("2024-02-30", "str"),
            ("2023-02-29", "str"),
            // Go's `Z07:00` layout needs a zone after a `T` time.
            ("2024-01-02T03:04:05", "str"),
            ("1.2.3", "str"),
            ("10.244.0.0/16", "str"),
            ("v1.28.0", "str"),
            ("0.0.0.0", "str"),
            ("1:20", "str"),
            ("-", "str"),
            ("+", "str"),
            ("<<", "str"),
            // `strconv.ParseFloat` reports these as out of range, so Go keeps the text.
            ("1e400", "str"),
            (".5e999", "str"),
            // `ParseUint` takes no sign.
            ("+18446744073709551615", "float"),
        ];
        for (text, want) in cases {
            assert_eq!(kind(text), *want, "{text:?}");
        }
        assert_eq!(resolve_plain("0x10"), Resolved::Int(16));
        assert_eq!(resolve_plain("0777"), Resolved::Int(511));
    }

    #[test]
    fn numbers_resolve_to_go_values() {
        assert_eq!(resolve_plain("0xa"), Resolved::Int(10));
        assert_eq!(resolve_plain("012"), Resolved::Int(10));
        assert_eq!(resolve_plain("0o12"), Resolved::Int(10));
        assert_eq!(resolve_plain("1_0"), Resolved::Int(10));
        assert_eq!(resolve_plain("-0b11"), Resolved::Int(-3));
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Resolved::Int(18446744073709551615)
        );
        assert_eq!(
            resolve_plain("-18446744073709551615"),
            Resolved::Float(-18446744073709551615.0)
        );
        assert_eq!(resolve_plain("2024-02-29"), Resolved::Timestamp("2024-02-29"));
    }

    #[test]
    fn go_string_style_quotes_what_would_change_type() {
        assert_eq!(go_string_style(""), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("true"), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("1"), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("yes"), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("1:20"), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("2024-01-02"), ScalarStyle::DoubleQuoted);
        assert_eq!(go_string_style("a\nb"), ScalarStyle::Literal);
        assert_eq!(go_string_style("https://base:6443"), ScalarStyle::Plain);
        assert_eq!(go_string_style("v1.28.0"), ScalarStyle::Plain);
        assert_eq!(go_string_style("<<"), ScalarStyle::Plain);
    }

    #[test]
    fn old_booleans_read_into_go_bools() {
        assert_eq!(old_bool("yes"), Some(true));
        assert_eq!(old_bool("OFF"), Some(false));
        assert_eq!(old_bool("true"), None);
        assert!(is_old_bool("N") && !is_old_bool("nope"));
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
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
        ] {
            assert_eq!(format_float(f), want, "{f}");
        }
    }

    #[test]
    fn timestamps_normalize_like_go_time() {
        for (text, want) in [
            ("2024-1-2", Some("2024-01-02T00:00:00Z")),
            ("2024-01-02T03:04:05Z", Some("2024-01-02T03:04:05Z")),
            ("2001-12-14t21:59:43.10-05:00", Some("2001-12-14T21:59:43.1-05:00")),
            ("2024-01-02 03:04:05.500", Some("2024-01-02T03:04:05.5Z")),
            ("2024-01-02T03:04:05+00:00", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02T03:04:05", None),
            ("v1", None),
        ] {
            assert_eq!(normalize_timestamp(text).as_deref(), want, "{text}");
        }
    }
}
