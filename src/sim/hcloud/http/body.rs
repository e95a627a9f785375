//! Strict request bodies: malformed JSON is 400 `json_error`; unknown, missing or
//! mistyped fields are 422 `invalid_input` naming each field, as the real API does.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::error::ApiError;

/// Parses a body into `T` (whose structs deny unknown fields). An empty body counts as
/// `{}`, which is what clients send for bodiless actions.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::new(400, "json_error", format!("invalid JSON in request body: {e}")))?
    };
    if !value.is_object() {
        return Err(ApiError::invalid_input("request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = error.inner().to_string();
        // The path may already end in the offending field (unknown fields) or name its
        // container (missing fields).
        let join = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.clone()
            } else {
                format!("{path}.{name}")
            }
        };
        if let Some(field) = quoted(&message, "unknown field `") {
            ApiError::invalid_field(&join(&field), "Unknown field.")
        } else if let Some(field) = quoted(&message, "missing field `") {
            ApiError::invalid_field(&join(&field), "Missing data for required field.")
        } else {
            ApiError::invalid_field(
                if path.is_empty() { "body" } else { &path },
                format!("Not a valid value: {message}."),
            )
        }
    })
}

fn quoted(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_body::<Outer>(br#"{"name":"x","bogus":1}"#).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (422, "invalid_input"));
        assert_eq!(e.details["fields"][0]["name"], "bogus");
        let e = parse_body::<Outer>(br#"{"name":"x","inner":{"a":1,"b":2}}"#).unwrap_err();
        assert_eq!(e.details["fields"][0]["name"], "inner.b");
        let e = parse_body::<Outer>(br#"{"inner":{"a":1}}"#).unwrap_err();
        assert_eq!(e.details["fields"][0]["name"], "name");
        let e = parse_body::<Outer>(br#"{"name":5}"#).unwrap_err();
        assert_eq!(e.details["fields"][0]["name"], "name");
        let e = parse_body::<Outer>(b"{not json").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "json_error"));
        assert!(parse_body::<Outer>(br#"{"name":"x"}"#).is_ok());
    }
}
