//! The evidence of a replacement: a timestamped entry for every check and step, handed to
//! the caller's reporter as it happens and kept for the result (text and JSON alike).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::steps::Step;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A check passed.
    Passed,
    /// A check failed (the run stops).
    Failed,
    /// A step started.
    Started,
    /// A step finished.
    Done,
    /// A step was found already done (an earlier run, or nothing to do).
    Skipped,
    /// Something worth knowing that changes nothing.
    Note,
}

impl Outcome {
    /// The word shown in the text log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "ok",
            Outcome::Failed => "FAILED",
            Outcome::Started => "start",
            Outcome::Done => "done",
            Outcome::Skipped => "skip",
            Outcome::Note => "note",
        }
    }
}

/// One line of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The step it belongs to.
    pub step: Step,
    /// What happened.
    pub outcome: Outcome,
    /// In words.
    pub detail: String,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:<14} {:<5} {}",
            self.at,
            self.step.as_str(),
            self.outcome.as_str(),
            self.detail
        )
    }
}

/// Receives every entry as it is recorded (the command prints them).
pub type Reporter<'a> = &'a mut (dyn FnMut(&Entry) + Send);

/// The entries of one run, reported as they are added.
pub struct Evidence<'a> {
    entries: Vec<Entry>,
    reporter: Reporter<'a>,
}

impl<'a> Evidence<'a> {
    /// An empty log reporting to `reporter`.
    pub fn new(reporter: Reporter<'a>) -> Evidence<'a> {
        Evidence {
            entries: Vec::new(),
            reporter,
        }
    }

    /// Records and reports an entry.
    pub fn record(&mut self, step: Step, outcome: Outcome, detail: impl Into<String>) {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_else(|_| String::from("unknown"));
        let entry = Entry {
            at,
            step,
            outcome,
            detail: detail.into(),
        };
        (self.reporter)(&entry);
        self.entries.push(entry);
    }

    /// The entries so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries, giving up the log.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}
