//! Keeping secrets out of output: a wrapper for secrets (API tokens, passwords) that never
//! prints its content, and [`redacted_url`] for URLs that may carry a password.
//!
//! `Debug` and `Display` of [`Redacted`] both render `***`, so a token can sit in structs
//! that are logged or formatted into errors without leaking. Read the value only where it
//! is sent.

use std::borrow::Cow;
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

/// `text` (a URL, or what was meant to be one) with the password of its userinfo replaced
/// by `***`: `http://ops:pw@host/` becomes `http://ops:***@host/`. Every place that shows
/// a URL given by the operator (`--factory-url`, errors, status lines) goes through this,
/// so a password typed into a URL never reaches a terminal, a CI log or a JSON result.
///
/// Works on text that does not parse as a URL too (the error about an invalid URL must not
/// leak either): the userinfo is what lies between `://` and the last `@` before any `?`
/// or `#`. A URL that parses and has no password is returned unchanged.
pub fn redacted_url(text: &str) -> Cow<'_, str> {
    if url::Url::parse(text).is_ok_and(|url| url.password().is_none()) {
        return Cow::Borrowed(text);
    }
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let (head, rest) = text.split_at(scheme_end + 3);
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return Cow::Borrowed(text);
    };
    let Some(colon) = rest[..at].find(':') else {
        return Cow::Borrowed(text);
    };
    Cow::Owned(format!("{head}{}:***{}", &rest[..colon], &rest[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_replaced_parsable_or_not() {
        let cases = [
            ("http://ops:s3cret@127.0.0.1:9/", "http://ops:***@127.0.0.1:9/"),
            (
                "https://ops:s3cret@fac tory/x?a=b@c",
                "https://ops:***@fac tory/x?a=b@c",
            ),
            ("https://ops:p@ss/w@rd@host/", "https://ops:***@host/"),
            ("https://:s3cret@host", "https://:***@host"),
            ("https://factory.talos.dev/", "https://factory.talos.dev/"),
            ("https://ops@host/", "https://ops@host/"),
            ("https://host:8443/a@b", "https://host:8443/a@b"),
            ("not a url at all", "not a url at all"),
        ];
        for (text, shown) in cases {
            assert_eq!(redacted_url(text), shown, "{text}");
        }
    }

    #[test]
    fn never_formats_the_secret() {
        let token = Redacted::new("hunter2-secret-token".to_string());
        assert_eq!(format!("{token}"), "***");
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(format!("{:?}", Some(&token)), "Some(***)");
        assert_eq!(token.expose(), "hunter2-secret-token");
    }
}
