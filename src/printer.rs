//! Where output goes: results to stdout (text or one JSON document), progress and status
//! to stderr, only on a terminal and never with `-v`/`-q`.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::OutputFormat;

/// Writes one line (it may hold line breaks) to stderr, made [`terminal_safe`]. A closed
/// stderr (`… 2>&1 | head`) is not an error: the exit code must still say how the command
/// went, so nothing panics here.
pub fn stderr_line(line: std::fmt::Arguments<'_>) {
    let text = line.to_string();
    let _ = writeln!(std::io::stderr().lock(), "{}", terminal_safe(&text));
}

/// `text` with every control character but the line break, and every bidirectional
/// formatting character, written as a `\u{…}` escape. Errors and warnings quote what files
/// and flags hold (an unknown key, a patch path); a hostile file must not be able to send
/// escape sequences to the operator's terminal or reorder what it shows.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            safe.extend(c.escape_unicode());
        } else {
            safe.push(c);
        }
    }
    std::borrow::Cow::Owned(safe)
}

/// Decides what is printed where, from `--output`, `-v` and `-q`.
#[derive(Debug, Clone)]
pub struct Printer {
    format: OutputFormat,
    verbose: u8,
    quiet: bool,
    stderr_is_terminal: bool,
}

/// A command's result: rendered as text or as one JSON document.
#[derive(Debug, Clone)]
pub struct Report {
    /// The human-readable rendering (printed as is, a trailing newline is added if missing).
    pub text: String,
    /// The machine-readable rendering.
    pub json: serde_json::Value,
}

impl Report {
    /// A report with both renderings.
    pub fn new(text: impl Into<String>, json: serde_json::Value) -> Self {
        Report {
            text: text.into(),
            json,
        }
    }
}

impl Printer {
    /// A printer for the given global options.
    pub fn new(format: OutputFormat, verbose: u8, quiet: bool) -> Self {
        Printer {
            format,
            verbose,
            quiet,
            stderr_is_terminal: std::io::stderr().is_terminal(),
        }
    }

    /// The selected output format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Prints a command's result on stdout. A closed stdout (broken pipe) is not an error.
    pub fn result(&self, report: &Report) {
        let mut out = std::io::stdout().lock();
        let rendered = match self.format {
            OutputFormat::Text => {
                let mut text = report.text.clone();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            }
            OutputFormat::Json => {
                let mut text =
                    serde_json::to_string_pretty(&report.json).expect("invariant: serde_json::Value always serializes");
                text.push('\n');
                text
            }
        };
        let _ = out.write_all(rendered.as_bytes());
        let _ = out.flush();
    }

    /// Prints raw bytes on stdout (completion scripts, man pages, generated files).
    pub fn raw(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// Prints a status line on stderr unless `-q` or JSON output was chosen.
    pub fn status(&self, message: impl AsRef<str>) {
        if self.quiet || self.format == OutputFormat::Json {
            return;
        }
        stderr_line(format_args!("{}", message.as_ref()));
    }

    /// Returns true if and only if progress bars should be drawn: stderr is a terminal,
    /// output is text, and neither `-v` nor `-q` was given.
    pub fn shows_progress(&self) -> bool {
        self.stderr_is_terminal && self.format == OutputFormat::Text && self.verbose == 0 && !self.quiet
    }

    /// A byte-count progress bar on stderr, hidden when progress is not shown.
    pub fn bytes_bar(&self, total: Option<u64>, message: impl Into<String>) -> ProgressBar {
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        if !self.shows_progress() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let template = match total {
            Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            None => "{msg} {spinner} {bytes} {bytes_per_sec}",
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("invariant: progress template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn escapes_reach_the_terminal_only_as_text() {
        assert_eq!(terminal_safe("plain `key`\nnext line"), "plain `key`\nnext line");
        assert_eq!(
            terminal_safe("unknown key `x\u{1b}[2J\u{7}` \u{202e}drow\r"),
            "unknown key `x\\u{1b}[2J\\u{7}` \\u{202e}drow\\u{d}"
        );
        assert_eq!(terminal_safe("tab\there"), "tab\\u{9}here");
        assert_eq!(terminal_safe("cp-ö, U+FFFD \u{fffd}"), "cp-ö, U+FFFD \u{fffd}");
    }
}
