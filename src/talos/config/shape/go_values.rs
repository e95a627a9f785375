//! How Go and go-yaml read and write the values of typed fields: `time.Duration` text and
//! the order go-yaml writes map keys in. Needed so that a patched config is written the
//! way Talos would write it (`5m` comes back as `5m0s`; map keys come out sorted).

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal numbers with a
/// unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `1h30m`, `1.5s`; `0` alone is zero.
/// Returns nanoseconds.
pub fn parse_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (whole, fraction) = rest[..number_len].split_once('.').unwrap_or((&rest[..number_len], ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        total = total.checked_add(whole.checked_mul(unit)?)?;
        if !fraction.is_empty() {
            let digits = fraction.len().min(18) as u32;
            let numerator: i128 = fraction[..digits as usize].parse().ok()?;
            total = total.checked_add(numerator.checked_mul(unit)? / 10i128.checked_pow(digits)?)?;
        }
    }
    if total > i128::from(i64::MAX) {
        return None;
    }
    Some(if negative { -total } else { total })
}

/// Go's `time.Duration.String()`: `168h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
pub fn format_duration(nanos: i128) -> String {
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < NANOS_PER_SECOND {
        let (unit, precision) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        format!("{}{unit}", fraction(u, precision))
    } else {
        let seconds = u / NANOS_PER_SECOND;
        let sub = u % NANOS_PER_SECOND;
        let mut text = format!("{}s", fraction((seconds % 60) * NANOS_PER_SECOND + sub, 9));
        let minutes = seconds / 60;
        if minutes > 0 {
            text = format!("{}m{text}", minutes % 60);
            let hours = minutes / 60;
            if hours > 0 {
                text = format!("{hours}h{text}");
            }
        }
        text
    };
    if negative { format!("-{body}") } else { body }
}

/// `value / 10^precision` with the fraction's trailing zeros (and a bare point) dropped.
fn fraction(value: u128, precision: u32) -> String {
    let divisor = 10u128.pow(precision);
    let whole = value / divisor;
    let part = value % divisor;
    if part == 0 {
        return whole.to_string();
    }
    let digits = format!("{part:0width$}", width = precision as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The order go-yaml writes the string keys of a Go map in (shared with schematics).
pub use crate::yaml::key_order;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let s = 1_000_000_000;
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("30s"), Some(30 * s));
        assert_eq!(parse_duration("1h30m"), Some(5400 * s));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("-2m"), Some(-120 * s));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("2µs"), Some(2_000));
        for bad in ["", "5", "1x", "h", "1.2.3s", "--1s", "1s "] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_format_like_go() {
        let s = 1_000_000_000;
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(168 * 3600 * s), "168h0m0s");
        assert_eq!(format_duration(90 * s), "1m30s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(300_000_000), "300ms");
        assert_eq!(format_duration(1_500_000), "1.5ms");
        assert_eq!(format_duration(1_500), "1.5µs");
        assert_eq!(format_duration(12), "12ns");
        assert_eq!(format_duration(-5 * 60 * s), "-5m0s");
        assert_eq!(format_duration(3600 * s + 1), "1h0m0.000000001s");
    }

    #[test]
    fn map_keys_sort_like_go_yaml() {
        let mut keys = vec![
            "warn-version",
            "audit",
            "enforce",
            "audit-version",
            "net.ipv4.ip_forward",
            "kernel.pid_max",
            "a10",
            "a9",
            "a_b",
            "ab",
        ];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(
            keys,
            [
                "a_b",
                "a9",
                "a10",
                "ab",
                "audit",
                "audit-version",
                "enforce",
                "kernel.pid_max",
                "net.ipv4.ip_forward",
                "warn-version"
            ]
        );
    }
}
