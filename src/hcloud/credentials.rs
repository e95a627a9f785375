//! Where the Hetzner API is and how to authenticate: `HCLOUD_TOKEN` and `HCLOUD_ENDPOINT`.
//!
//! The token lives in a [`Token`] whose `Debug` and `Display` print `***`, so it can sit in
//! structs that are logged or formatted into errors; it is read only where the
//! `Authorization` header is built. An endpoint with a password in its URL is shown
//! redacted too.

use std::fmt;

use crate::redact::{Redacted, redacted_url};

use super::error::Error;

/// The official API endpoint, used when `HCLOUD_ENDPOINT` is unset or empty.
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1";

/// A Hetzner Cloud API token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Redacted<String>);

impl Token {
    /// Checks and wraps a token: not empty, and only visible ASCII (it goes into an HTTP
    /// header). The error never contains the token.
    ///
    /// # Errors
    /// [`Error::MissingToken`] when empty, [`Error::InvalidToken`] on other characters.
    pub fn new(token: impl Into<String>) -> Result<Token, Error> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(Error::MissingToken);
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidToken);
        }
        Ok(Token(Redacted::new(trimmed.to_string())))
    }

    /// The token itself, for the `Authorization` header only.
    pub(super) fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The API base URL (with `/v1`, without a trailing slash).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint(url::Url);

impl Endpoint {
    /// Parses an endpoint such as `https://api.hetzner.cloud/v1` or the emulator's
    /// `http://127.0.0.1:PORT/v1`.
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] when it is not an http(s) URL; the message shows the URL
    /// with any password redacted.
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let invalid = |reason: &str| Error::InvalidEndpoint {
            endpoint: redacted_url(text).into_owned(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment"));
        }
        Ok(Endpoint(url))
    }

    /// The URL of `path` (which starts with `/`, e.g. `/servers`) under this endpoint.
    pub(super) fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted_url(self.0.as_str()))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

/// Token and endpoint: what a [`super::Client`] needs to reach the API.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The API token.
    pub token: Token,
    /// The API base URL.
    pub endpoint: Endpoint,
}

impl Credentials {
    /// Reads `HCLOUD_TOKEN` and `HCLOUD_ENDPOINT` from the environment (an empty variable
    /// counts as unset; the endpoint defaults to [`DEFAULT_ENDPOINT`]).
    ///
    /// # Errors
    /// [`Error::MissingToken`], [`Error::InvalidToken`] or [`Error::InvalidEndpoint`].
    pub fn from_env() -> Result<Credentials, Error> {
        Credentials::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`] with the variables coming from `lookup` (tests, or a
    /// config layer that merges flags and environment).
    ///
    /// # Errors
    /// As [`Credentials::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, Error> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let token = Token::new(set("HCLOUD_TOKEN").ok_or(Error::MissingToken)?)?;
        let endpoint = Endpoint::parse(&set("HCLOUD_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()))?;
        Ok(Credentials { token, endpoint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3tT0kenValueThatMustNeverBePrinted0123456789abcdefghijklmnop";

    #[test]
    fn the_token_never_prints() {
        let token = Token::new(SECRET).unwrap();
        assert_eq!(token.to_string(), "***");
        assert_eq!(format!("{token:?}"), "Token(***)");
        let credentials = Credentials {
            token,
            endpoint: Endpoint::parse(DEFAULT_ENDPOINT).unwrap(),
        };
        assert!(!format!("{credentials:?}").contains(SECRET));
        assert!(!format!("{:?}", Token::new(format!("{SECRET}\u{7}"))).contains(SECRET));
    }

    #[test]
    fn environment_is_read_with_empty_meaning_unset() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let c = Credentials::from_lookup(env(&[("HCLOUD_TOKEN", SECRET), ("HCLOUD_ENDPOINT", "")])).unwrap();
        assert_eq!(c.endpoint.to_string(), DEFAULT_ENDPOINT);
        assert_eq!(c.token.expose(), SECRET);
        let c = Credentials::from_lookup(env(&[
            ("HCLOUD_TOKEN", SECRET),
            ("HCLOUD_ENDPOINT", "http://127.0.0.1:8080/v1/"),
        ]))
        .unwrap();
        assert_eq!(c.endpoint.join("/servers"), "http://127.0.0.1:8080/v1/servers");
        assert!(matches!(
            Credentials::from_lookup(env(&[("HCLOUD_TOKEN", "  ")])),
            Err(Error::MissingToken)
        ));
        assert!(matches!(
            Credentials::from_lookup(env(&[("HCLOUD_TOKEN", "a b")])),
            Err(Error::InvalidToken)
        ));
        let error = Credentials::from_lookup(env(&[("HCLOUD_TOKEN", SECRET), ("HCLOUD_ENDPOINT", "ftp://u:pw@x/")]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "HCLOUD_ENDPOINT 'ftp://u:***@x/' is not usable: the scheme must be http or https"
        );
    }
}
