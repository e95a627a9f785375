//! Short excerpts of what input files hold, for error messages.
//!
//! Errors quote values from files (an unknown key, a name that breaks a rule, a schematic
//! scalar) and show source lines. A value can be a megabyte long, and a file named where a
//! schematic belongs (`talos.schematic: /etc/passwd`) parses as one long scalar: quoting it
//! whole floods the terminal or the CI log and echoes a foreign file. Every such quote goes
//! through [`excerpt`], which keeps the start of the text and marks a cut with `…`. How the
//! excerpt is then escaped or quoted stays with the caller.

use std::borrow::Cow;

/// The most characters of a value quoted in a message (an unknown key, a bad name), before
/// the `…`: enough to recognise any real value.
pub const MAX_QUOTED_CHARS: usize = 64;

/// The most characters of a field path in a message (`machine.sysctls["…"]`): a path
/// holds every key it passes through.
pub const MAX_PATH_CHARS: usize = 160;

/// The most characters of a whole message, a last guard behind the excerpts of its parts.
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// `text` cut to [`MAX_QUOTED_CHARS`] characters plus `…` when it is longer; unchanged
/// (and not copied) otherwise.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    excerpt_to(text, MAX_QUOTED_CHARS)
}

/// `text` cut to `max_chars` characters plus `…` when it is longer; unchanged (and not
/// copied) otherwise.
pub fn excerpt_to(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis_short_text_is_kept() {
        assert!(matches!(
            excerpt("tootcommunity-prod"),
            Cow::Borrowed("tootcommunity-prod")
        ));
        let exact = "a".repeat(MAX_QUOTED_CHARS);
        assert_eq!(excerpt(&exact), exact);
        let long = "b".repeat(1_000_000);
        assert_eq!(excerpt(&long), format!("{}…", "b".repeat(MAX_QUOTED_CHARS)));
        // Cut on a character boundary, counted in characters.
        assert_eq!(excerpt_to("ééééé", 3), "ééé…");
        assert_eq!(excerpt_to("", 3), "");
    }
}
