//! A wrapper for secrets (API tokens, passwords) that never prints its content.
//!
//! `Debug` and `Display` both render `***`, so a token can sit in structs that are logged
//! or formatted into errors without leaking. Read the value only where it is sent.

use std::fmt;

/// A value that must never appear in output, logs or error messages.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The secret itself; call only where the value is sent to its destination.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_secret() {
        let token = Redacted::new("hunter2-secret-token".to_string());
        assert_eq!(format!("{token}"), "***");
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(format!("{:?}", Some(&token)), "Some(***)");
        assert_eq!(token.expose(), "hunter2-secret-token");
    }
}
