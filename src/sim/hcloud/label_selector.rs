//! Labels and label selectors with the Hetzner (Kubernetes-like) rules.
//!
//! Selector grammar: comma-separated terms, all of which must hold: `k=v`, `k==v`, `k!=v`,
//! `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. As in Kubernetes, `!=` and `notin` match
//! resources that lack the key (reference `hcloud-api.md` §6).

use std::collections::BTreeMap;

/// Labels as the API stores them.
pub type Labels = BTreeMap<String, String>;

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

impl Selector {
    /// Parses a selector; the error says what is wrong, for `invalid_input` details.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut terms = Vec::new();
        for raw in split_terms(text)? {
            let term = raw.trim();
            if term.is_empty() {
                return Err(format!("empty term in label selector '{text}'"));
            }
            terms.push(parse_term(term)?);
        }
        Ok(Selector { terms })
    }

    /// Returns true if and only if every term holds for `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Equals(k, v) => labels.get(k) == Some(v),
            Term::NotEquals(k, v) => labels.get(k) != Some(v),
            Term::In(k, vs) => labels.get(k).is_some_and(|have| vs.contains(have)),
            Term::NotIn(k, vs) => labels.get(k).is_none_or(|have| !vs.contains(have)),
            Term::Exists(k) => labels.contains_key(k),
            Term::Absent(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ')' in label selector '{text}'"));
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in label selector '{text}'"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_term(term: &str) -> Result<Term, String> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Term::Absent(key.to_string()));
    }
    if let Some(at) = term.find("!=") {
        let (key, value) = (term[..at].trim(), term[at + 2..].trim());
        check_key(key)?;
        check_value(value)?;
        return Ok(Term::NotEquals(key.to_string(), value.to_string()));
    }
    if let Some(at) = term.find('=') {
        let key = term[..at].trim();
        let value = term[at + 1..].strip_prefix('=').unwrap_or(&term[at + 1..]).trim();
        check_key(key)?;
        check_value(value)?;
        return Ok(Term::Equals(key.to_string(), value.to_string()));
    }
    if let Some(open) = term.find('(') {
        let head: Vec<&str> = term[..open].split_whitespace().collect();
        let Some(body) = term[open + 1..].trim_end().strip_suffix(')') else {
            return Err(format!("expected ')' at the end of '{term}'"));
        };
        let [key, op] = head[..] else {
            return Err(format!("expected 'KEY in (…)' or 'KEY notin (…)', got '{term}'"));
        };
        check_key(key)?;
        let values: Vec<String> = body.split(',').map(|v| v.trim().to_string()).collect();
        for value in &values {
            check_value(value)?;
        }
        return match op {
            "in" => Ok(Term::In(key.to_string(), values)),
            "notin" => Ok(Term::NotIn(key.to_string(), values)),
            other => Err(format!("unknown operator '{other}' in '{term}' (expected in or notin)")),
        };
    }
    check_key(term)?;
    Ok(Term::Exists(term.to_string()))
}

fn check_key(key: &str) -> Result<(), String> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(format!("invalid label key '{key}'"))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if valid_value(value) {
        Ok(())
    } else {
        Err(format!("invalid label value '{value}'"))
    }
}

/// A name or value part: 1–63 characters, alphanumeric at both ends, `-_.` inside.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Returns true if and only if `key` is a valid label key: `[prefix/]name`, the prefix a
/// DNS name.
pub fn valid_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => valid_dns_name(prefix) && valid_name(name),
        None => valid_name(key),
    }
}

/// Returns true if and only if `name` is a DNS name (RFC 1123): at most 253 characters of
/// dot-separated parts, each 1–63 letters, digits and `-`, alphanumeric at both ends.
/// Label key prefixes follow it, and so do server names (hostnames).
pub fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// Returns true if and only if `value` is a valid label value (empty allowed).
pub fn valid_value(value: &str) -> bool {
    value.is_empty() || valid_name(value)
}

/// Checks labels of a create or update request; the messages name each bad label.
pub fn validate_labels(labels: &Labels) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for (key, value) in labels {
        if !valid_key(key) {
            problems.push(format!("invalid label key '{key}'"));
        } else if key.starts_with("hetzner.cloud/") {
            problems.push(format!("label key '{key}' uses the reserved prefix hetzner.cloud/"));
        }
        if !valid_value(value) {
            problems.push(format!("invalid label value '{value}' for key '{key}'"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_operator() {
        let l = labels(&[("env", "prod"), ("talos-hcloud/role", "controlplane")]);
        let yes = [
            "env=prod",
            "env==prod",
            "env!=dev",
            "type!=database",
            "env in (prod, staging)",
            "env notin (dev)",
            "type notin (x)",
            "env",
            "!type",
            "env=prod,talos-hcloud/role=controlplane",
            "talos-hcloud/role in (controlplane,worker),env",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(&l), "{s} should match");
        }
        let no = [
            "env=dev",
            "env!=prod",
            "env in (dev)",
            "env notin (prod)",
            "type",
            "!env",
            "env=prod,type",
        ];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(&l), "{s} should not match");
        }
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for s in [
            "",
            "env=",
            "=x",
            "env in (a",
            "env in a)",
            "env within (a)",
            "a,,b",
            "-bad=x",
            "k=v!",
        ] {
            if s == "env=" {
                // an empty value is a valid equality on the empty string
                assert!(Selector::parse(s).is_ok());
                continue;
            }
            assert!(Selector::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn label_rules() {
        assert!(validate_labels(&labels(&[("talos-hcloud/cluster", "prod"), ("a", "")])).is_ok());
        assert!(validate_labels(&labels(&[("hetzner.cloud/x", "y")])).is_err());
        assert!(validate_labels(&labels(&[("-x", "y")])).is_err());
        assert!(validate_labels(&labels(&[("x", "bad value")])).is_err());
        assert!(validate_labels(&labels(&[(&"a".repeat(64), "y")])).is_err());
    }

    #[test]
    fn dns_names() {
        for ok in ["a", "tc-prod-cp-1", "node.example.com", "x1"] {
            assert!(valid_dns_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a..b", &"a".repeat(64)] {
            assert!(!valid_dns_name(bad), "{bad}");
        }
    }
}
