//! "Did you mean …?": the one rule that picks a likely intended word for a misspelt key,
//! kind, location, server type or extension name (as `just`'s `suggestion.rs` does for
//! recipes).
//!
//! The distance is Damerau-Levenshtein (a swapped pair of letters is one edit), compared
//! case-insensitively, and a candidate counts only when it is at most one edit away per
//! five characters of the shorter word (at least one edit). The threshold grows with the
//! words so long names (`siderolabs/qemu-guest-agent`) still get a suggestion for a typo
//! or two, while short Talos keys are not matched to unrelated short keys (`nmae` is not
//! `ca`).

/// The candidate closest to `word`, if it is a likely typo of it.
///
/// A candidate equal to `word` is never suggested (it would not be an error); among equally
/// close candidates the first one wins, so callers list candidates in the order they want
/// ties broken.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| {
            (
                strsim::damerau_levenshtein(&lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= max_distance(&lower, candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The most edits a candidate may be away from the word: one per five characters of the
/// shorter of the two, and at least one.
fn max_distance(word: &str, candidate: &str) -> usize {
    1.max(word.chars().count().min(candidate.chars().count()) / 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_closest_likely_typo() {
        let keys = ["cidr", "subnet", "zone", "pods", "services"];
        assert_eq!(suggest("subnte", keys), Some("subnet"));
        assert_eq!(suggest("servces", keys), Some("services"));
        assert_eq!(suggest("SUBNET", keys), Some("subnet"));
        assert_eq!(suggest("completely-different", keys), None);
        assert_eq!(suggest("zone", ["zone"]), None, "the word itself is not a suggestion");
    }

    #[test]
    fn the_threshold_grows_with_the_words() {
        // Short words: one edit.
        assert_eq!(suggest("nmae", ["ca", "clusterName"]), None);
        assert_eq!(suggest("typo", ["type"]), Some("type"));
        assert_eq!(suggest("tpyo", ["type"]), None);
        // Long words: a typo or two.
        let extensions = ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"];
        assert_eq!(
            suggest("siderolabs/qemu-guest-agnet", extensions),
            Some("siderolabs/qemu-guest-agent")
        );
        assert_eq!(
            suggest("siderolabs/qmu-guest-agnet", extensions),
            Some("siderolabs/qemu-guest-agent")
        );
        assert_eq!(suggest("siderolabs/nope-nope-nope-x", extensions), None);
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        assert_eq!(suggest("cax12", ["cax11", "cax21"]), Some("cax11"));
        assert_eq!(suggest("cax12", ["cax21", "cax11"]), Some("cax21"));
    }
}
