//! The YAML files that hold Talos secret material, the secrets bundle and talosconfig, read
//! and written one way: talosctl's layout (what Go's encoder writes), parse errors that never
//! quote the input, and writes through [`crate::secure_file`] (mode 0600, atomic). What a
//! file holds and how it is checked stays with its module ([`crate::talos::secrets`],
//! [`crate::talos::talosconfig`]), which also names the failures in its own error enum.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::secure_file::{self, Overwrite};

/// The failures of loading and saving, as variants of the file's own module error (whose
/// messages name the kind of file, e.g. "cannot read talosconfig FILE").
pub(crate) trait FileErrors {
    /// The file could not be read.
    fn read(path: PathBuf, source: std::io::Error) -> Self;
    /// The value could not be serialized.
    fn serialize(source: serde_saphyr::SerializeError) -> Self;
    /// The file could not be written (or exists and may not be replaced).
    fn write(path: PathBuf, source: secure_file::Error) -> Self;
}

/// Implements [`FileErrors`] for a module's `Error` enum whose variants are
/// `Read { path, source }`, `Serialize { source }` and `Write { path, source }` — the shape
/// every secret file's error enum shares, written once here.
macro_rules! impl_file_errors {
    ($error:ty) => {
        impl $crate::talos::secret_yaml::FileErrors for $error {
            fn read(path: std::path::PathBuf, source: std::io::Error) -> Self {
                Self::Read { path, source }
            }
            fn serialize(source: serde_saphyr::SerializeError) -> Self {
                Self::Serialize { source }
            }
            fn write(path: std::path::PathBuf, source: $crate::secure_file::Error) -> Self {
                Self::Write { path, source }
            }
        }
    };
}
pub(crate) use impl_file_errors;

/// Reads `path` and hands its text to `parse`, with the path as the origin its errors name.
pub(crate) fn load<T, E: FileErrors>(path: &Path, parse: impl FnOnce(&str, &str) -> Result<T, E>) -> Result<T, E> {
    let text = crate::input_file::read_to_string(path).map_err(|source| E::read(path.to_path_buf(), source))?;
    parse(&text, &path.display().to_string())
}

/// `value` as talosctl writes it (see [`to_talos_yaml`]).
pub(crate) fn to_yaml<E: FileErrors>(value: &impl Serialize) -> Result<String, E> {
    to_talos_yaml(value).map_err(E::serialize)
}

/// Writes `value` as talosctl does to `path` with mode 0600, atomically (see
/// [`secure_file::write_private`]); with [`Overwrite::Refuse`] an existing file is kept.
pub(crate) fn save<E: FileErrors>(value: &impl Serialize, path: &Path, overwrite: Overwrite) -> Result<(), E> {
    let text = to_yaml(value)?;
    secure_file::write_private(path, text.as_bytes(), overwrite).map_err(|source| E::write(path.to_path_buf(), source))
}

/// YAML as Go's encoder writes it: block style, 4-space indentation, sequences indented
/// under their key, no folding of long scalars.
fn to_talos_yaml<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.indent_step = 4;
    options.compact_list_indent = false;
    options.prefer_block_scalars = false;
    // Go's yaml.v3 leaves strings like 10.0.0.2 unquoted; YAML 1.2 rules do too.
    options.yaml_12 = true;
    options.no_lang_directive = true;
    serde_saphyr::to_string_with_options(value, options)
}

/// A YAML (or JSON) syntax or shape error, as `origin:line:column: message` (the project's
/// diagnostic header). Unlike the parser's own rendering it never quotes the input (no
/// source snippet, string values elided), because the input holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    message: String,
}

/// Deserializes YAML or JSON text read from `origin`; errors carry the origin and location
/// but no input text.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_str_with_options(text, options).map_err(|e| YamlError {
        message: located(origin, &e),
    })
}

/// The error's message led by `origin:line:column:` when its place is known, in place of
/// serde's trailing "at line L, column C".
fn located(origin: &str, error: &serde_saphyr::Error) -> String {
    let message = elide_quoted_values(&error.without_snippet().to_string());
    match error.location().filter(|at| at.line() > 0) {
        Some(at) => {
            let (line, column) = (at.line(), at.column());
            let suffix = format!(" at line {line}, column {column}");
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            format!("{origin}:{line}:{column}: {message}")
        }
        None => format!("{origin}: {message}"),
    }
}

/// Replaces the value in serde's `string "…"` phrases (e.g. `invalid type: string
/// "hunter2", expected …`) by an ellipsis.
fn elide_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("string \"") {
        let value_start = start + "string \"".len();
        out.push_str(&rest[..value_start]);
        match rest[value_start..].find('"') {
            Some(end) => {
                out.push('…');
                rest = &rest[value_start + end..];
            }
            None => {
                out.push_str("…\"");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_that_look_like_other_types_survive_a_round_trip() {
        let values: std::collections::BTreeMap<String, String> = [
            "000000.0000000000000000",
            "123456.7890123456789012",
            "1e3",
            "null",
            "~",
            "0x1F",
            "yes",
            "on",
            "true",
            "10.0.0.2",
            "2001:db8::1",
            "-",
            "",
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{i:02}"), v.to_string()))
        .collect();
        let text = to_talos_yaml(&values).unwrap();
        let back: std::collections::BTreeMap<String, String> = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, values, "{text}");
    }

    #[test]
    fn errors_lead_with_the_origin_and_position() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Bundle {
            cluster: String,
        }
        let error = parse_yaml::<Bundle>("cluster: a\nname: \"hunter2\"\n", "cluster.yaml").expect_err("unknown field");
        assert_eq!(
            error.to_string(),
            "cluster.yaml:2:1: unknown field `name`, expected one of cluster"
        );
        let error = parse_yaml::<Bundle>("cluster: [a\n", "s.yaml").expect_err("syntax");
        assert!(error.to_string().starts_with("s.yaml:"), "{error}");
    }

    #[test]
    fn quoted_values_are_elided() {
        assert_eq!(
            elide_quoted_values("invalid type: string \"abc\", expected x"),
            "invalid type: string \"…\", expected x"
        );
        assert_eq!(elide_quoted_values("string \"abc"), "string \"…\"");
    }
}
