//! The building blocks of strict decoding that the three hand-written decoders share
//! (cluster.yaml in [`crate::spec`], schematics in [`crate::factory::schematic`], Talos
//! configs in [`crate::talos::config::validate`]): one nesting cap, enforced before any
//! recursive loader runs, and one unknown-key rule with its "did you mean". Duplicate keys
//! are refused by both parsers ([`super::parse`] for the go-yaml tree, saphyr's loader for
//! the marked tree); positions are 1-based lines and columns in both. What the keys and
//! values mean stays with each decoder.

use saphyr::MarkedYaml;
use saphyr::YamlLoader;
use saphyr_parser::{Event, Parser, ScanError};

pub use super::parse::MAX_DEPTH;
use crate::suggest::suggest;

/// A key that the mapping it is in does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownKey<'k> {
    /// The allowed key it is most likely a typo of ([`crate::suggest`]).
    pub suggestion: Option<&'k str>,
}

/// Checks `key` against the keys a mapping allows.
///
/// # Errors
///
/// [`UnknownKey`], with a suggestion, when `key` is not among `known`.
pub fn check_key<'k>(key: &str, known: &[&'k str]) -> Result<(), UnknownKey<'k>> {
    if known.contains(&key) {
        Ok(())
    } else {
        Err(UnknownKey {
            suggestion: suggest(key, known.iter().copied()),
        })
    }
}

/// Parses every document of `text` into saphyr's marked tree, keeping positions and the
/// literal text of scalars (`early_parse(false)`: `1.10` stays `1.10`).
///
/// # Errors
///
/// The scanner's error; nesting deeper than [`MAX_DEPTH`] is one too, found before the
/// loader (which recurses once per level) could overflow the stack.
pub(crate) fn load_marked(text: &str) -> Result<Vec<MarkedYaml<'_>>, ScanError> {
    check_depth(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    parser.load(&mut loader, true)?;
    if let Some(error) = loader.error() {
        return Err(error.clone());
    }
    Ok(loader.into_documents())
}

/// Walks the event stream (no recursion, no tree) and fails at the first collection that
/// opens deeper than [`MAX_DEPTH`]; syntax errors come back as the loader would report them.
fn check_depth(text: &str) -> Result<(), ScanError> {
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ScanError::new(
                        span.start,
                        format!("the document is nested more than {MAX_DEPTH} levels deep"),
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_come_with_the_likely_intended_one() {
        let known = ["name", "prefix", "location"];
        assert_eq!(check_key("prefix", &known), Ok(()));
        assert_eq!(
            check_key("locaton", &known),
            Err(UnknownKey {
                suggestion: Some("location")
            })
        );
        assert_eq!(check_key("sysctls", &known), Err(UnknownKey { suggestion: None }));
    }

    #[test]
    fn nesting_is_limited_before_the_recursive_loader_runs() {
        let max = MAX_DEPTH;
        let nested = |levels: usize| format!("{}x\n", "- ".repeat(levels));
        let deepest = nested(max);
        let docs = load_marked(&deepest).expect("the deepest accepted nesting loads");
        assert_eq!(docs.len(), 1);
        let error = load_marked(&nested(max + 1)).expect_err("one level deeper is refused");
        assert_eq!(
            error.info(),
            format!("the document is nested more than {max} levels deep")
        );
        assert_eq!((error.marker().line(), error.marker().col()), (1, 2 * max));
        // Far deeper than the stack allows for saphyr's recursion: still an error.
        assert!(load_marked(&nested(100_000)).is_err());
        // Syntax errors still come back as the loader reports them.
        let error = load_marked("a: [1, 2\n").expect_err("unclosed flow sequence");
        assert!(!error.info().contains("nested"), "{}", error.info());
    }
}
