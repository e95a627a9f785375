//! Checked names: the cluster name (a Hetzner label value), the resource-name prefix, and
//! node, pool and load balancer names (RFC 1123 DNS labels, since they become host names
//! and label values). Each newtype can only hold a valid value.

use std::fmt;

use serde::Serialize;

use super::catalog::MAX_NAME_LENGTH;

/// Why a name was rejected; the text completes "`x` is not a valid …: REASON".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NameError {
    /// What is wrong, in words.
    pub reason: String,
}

impl NameError {
    fn new(reason: impl Into<String>) -> Self {
        NameError { reason: reason.into() }
    }
}

/// Describes the first character of `s` that `allowed` rejects, e.g. "contains `$`".
fn first_bad_char(s: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    s.chars().find(|c| !allowed(*c)).map(|c| match c {
        '\n' | '\r' => "contains a line break".to_owned(),
        ' ' => "contains a space".to_owned(),
        c if c.is_control() => format!("contains the control character {c:?}"),
        c if c.is_ascii() => format!("contains `{c}`"),
        // Debug-quoted with its code point: an invisible or bidi character (U+200B,
        // U+202E) must not be printed raw into the operator's terminal.
        c => format!("contains {c:?} (U+{:04X})", u32::from(c)),
    })
}

fn uppercase_hint(s: &str) -> &'static str {
    if s.chars().any(|c| c.is_ascii_uppercase()) {
        " (only lowercase letters are allowed)"
    } else {
        ""
    }
}

/// Checks an RFC 1123 DNS label in lowercase: 1–63 characters `a-z`, `0-9`, `-`, starting
/// and ending with a letter or digit.
pub fn check_dns_label(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::new("it is empty"));
    }
    let length = s.chars().count();
    if length > MAX_NAME_LENGTH {
        return Err(NameError::new(format!(
            "it is {length} characters long, the limit is {MAX_NAME_LENGTH}"
        )));
    }
    if let Some(bad) = first_bad_char(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(NameError::new(format!("it {bad}{}", uppercase_hint(s))));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(NameError::new("it must start and end with a letter or digit"));
    }
    Ok(())
}

/// Returns true if and only if `s` is a lowercase RFC 1123 DNS label.
pub fn is_dns_label(s: &str) -> bool {
    check_dns_label(s).is_ok()
}

/// Checks a Hetzner label value (reference/hcloud-api.md §6): empty, or 1–63 characters
/// that are alphanumeric at both ends with `-`, `_`, `.` or alphanumerics in between.
pub fn check_label_value(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Ok(());
    }
    let length = s.chars().count();
    if length > MAX_NAME_LENGTH {
        return Err(NameError::new(format!(
            "it is {length} characters long, the limit is {MAX_NAME_LENGTH}"
        )));
    }
    if let Some(bad) = first_bad_char(s, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(NameError::new(format!("it {bad}")));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(s.chars().next()) || !alnum(s.chars().last()) {
        return Err(NameError::new("it must start and end with a letter or digit"));
    }
    Ok(())
}

/// Returns true if and only if `s` is a valid Hetzner label value.
pub fn is_label_value(s: &str) -> bool {
    check_label_value(s).is_ok()
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The cluster name: the value of the `talos-hcloud/cluster` label on every resource,
    /// the Talos cluster name and the folder under `.talos-hcloud/`. A non-empty Hetzner
    /// label value (so also safe as a file name: no `/`, never `.` or `..`).
    ClusterName
);

impl ClusterName {
    /// Checks and wraps a cluster name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::new("it is empty"));
        }
        check_label_value(s)?;
        Ok(ClusterName(s.to_owned()))
    }
}

name_type!(
    /// The prefix of every Hetzner resource name (`tc-prod-` → `tc-prod-cp-1`): lowercase
    /// letters, digits and `-`, starting with a letter or digit; may be empty.
    Prefix
);

impl Prefix {
    /// Checks and wraps a prefix.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if let Some(bad) = first_bad_char(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(NameError::new(format!("it {bad}{}", uppercase_hint(s))));
        }
        if s.starts_with('-') {
            return Err(NameError::new("it must start with a letter or digit"));
        }
        let length = s.chars().count();
        if length >= MAX_NAME_LENGTH {
            return Err(NameError::new(format!(
                "it is {length} characters long, which leaves no room for names within {MAX_NAME_LENGTH}"
            )));
        }
        Ok(Prefix(s.to_owned()))
    }
}

name_type!(
    /// A node name (`cp-1`, `general-3`): a DNS label, unique in the cluster. The server's
    /// host name is the prefix plus this name.
    NodeName
);

impl NodeName {
    /// Checks and wraps a node name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_dns_label(s)?;
        Ok(NodeName(s.to_owned()))
    }
}

name_type!(
    /// A worker pool name (`general`): a DNS label, unique among pools.
    PoolName
);

impl PoolName {
    /// Checks and wraps a pool name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_dns_label(s)?;
        Ok(PoolName(s.to_owned()))
    }
}

name_type!(
    /// A load balancer name (`ingress`): a DNS label, unique among load balancers.
    LoadBalancerName
);

impl LoadBalancerName {
    /// Checks and wraps a load balancer name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_dns_label(s)?;
        Ok(LoadBalancerName(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "cp-1", "general", "0abc", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            ("-a", "it must start and end with a letter or digit"),
            ("a-", "it must start and end with a letter or digit"),
            ("Cp-1", "it contains `C` (only lowercase letters are allowed)"),
            ("cp_1", "it contains `_`"),
            ("cp.1", "it contains `.`"),
            ("cp 1", "it contains a space"),
            ("cp-ö", "it contains 'ö' (U+00F6)"),
            ("cp\u{202e}1", "it contains '\\u{202e}' (U+202E)"),
            ("cp\u{200b}1", "it contains '\\u{200b}' (U+200B)"),
        ] {
            assert_eq!(
                check_dns_label(bad).map_err(|e| e.reason),
                Err(reason.to_owned()),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_dns_label(&"a".repeat(64)).map_err(|e| e.reason),
            Err("it is 64 characters long, the limit is 63".to_owned())
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "tootcommunity-prod", "A.b_c-9", &"x".repeat(63)] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in ["-a", "a.", "_a", "a b", "$(rm -rf /)", "a\nb", "ü", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
        assert_eq!(
            check_label_value("$(rm -rf /)").map_err(|e| e.reason),
            Err("it contains `$`".to_owned())
        );
        assert_eq!(
            check_label_value("prod\nx").map_err(|e| e.reason),
            Err("it contains a line break".to_owned())
        );
    }

    #[test]
    fn cluster_names_are_non_empty_label_values() {
        assert_eq!(
            ClusterName::parse("tootcommunity-prod")
                .map(|n| n.to_string())
                .as_deref(),
            Ok("tootcommunity-prod")
        );
        assert!(ClusterName::parse("").is_err());
        assert!(ClusterName::parse("..").is_err());
        assert!(ClusterName::parse("a/b").is_err());
    }

    #[test]
    fn prefixes() {
        assert!(Prefix::parse("tc-prod-").is_ok());
        assert!(Prefix::parse("").is_ok());
        assert!(Prefix::parse("-x").is_err());
        assert!(Prefix::parse("TC-").is_err());
        assert!(Prefix::parse("tc_prod-").is_err());
        assert!(Prefix::parse(&"p".repeat(63)).is_err());
    }
}
